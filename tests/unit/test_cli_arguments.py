"""failoverctl's arguments: each bad one (or the environment variable standing in for it)
is refused before any request, in one line naming it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.cli import main
from controller.cli.arguments import build


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("duration", ["", " ", "0", "-5m", "1d1d", "30s1h", "1_000", "nan"])
def test_pause_for_must_be_a_duration(capsys: pytest.CaptureFixture[str],
                                      duration: str) -> None:
    err = refused(capsys, "pause", "web", "--for", duration)
    assert err.startswith("failoverctl pause: argument --for: "), err


@pytest.mark.parametrize("timeout", ["-1", "nan", "inf", "0", "-0.0", "1e3", "1_0", "7200"])
def test_timeout_must_be_seconds_above_zero(capsys: pytest.CaptureFixture[str],
                                            timeout: str) -> None:
    err = refused(capsys, "status", "--timeout", timeout)
    assert "argument --timeout: " in err and "seconds above 0" in err, err


def test_timeouts_parse_as_seconds() -> None:
    assert build().parse_args(["status", "--timeout", "0.5"]).timeout == 0.5
    assert build().parse_args(["status", "--timeout", "2m"]).timeout == 120
    assert build().parse_args(["pause", "web", "--for", "1h30m"]).duration == 5400


@pytest.mark.parametrize("url", ["ftp://h:1", "h:8080", "http://", "http://h:99999",
                                 "http://h/?q=1", "javascript:x"])
def test_api_must_be_http_or_https(capsys: pytest.CaptureFixture[str], url: str) -> None:
    err = refused(capsys, "status", "--api", url)
    assert "argument --api: " in err and "(--api or FAILOVER_API_URL)" in err, err


def test_the_environment_stands_in_for_api_and_token(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAILOVER_API_URL", "https://api.example:8443/")
    monkeypatch.setenv("FAILOVER_API_TOKEN", "")
    args = build().parse_args(["status"])
    assert (args.api, args.token) == ("https://api.example:8443/", None)
    monkeypatch.setenv("FAILOVER_API_URL", "ftp://api.example")
    assert "FAILOVER_API_URL" in refused(capsys, "status")
    monkeypatch.setenv("FAILOVER_API_URL", "http://h")
    monkeypatch.setenv("FAILOVER_API_TOKEN", "s3cret\n")
    assert "--token or FAILOVER_API_TOKEN" in refused(capsys, "status")


@pytest.mark.parametrize("argv", [("switchover", "web", "--to", ""), ("switchover", "web",
                                  "--at", ""), ("switchover", "", "--to", "web-b"),
                                  ("cancel", "web", " "), ("history", "web", "--count", "0"),
                                  ("explain", "web\x00")])
def test_empty_names_and_times_are_refused_not_dropped(
        capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]) -> None:
    refused(capsys, *argv)


def test_help_names_each_environment_variable(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("status", "history", "explain", "switchover", "cancel", "pause", "resume"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        for name in ("--api URL", "$FAILOVER_API_URL", "--token TOKEN", "$FAILOVER_API_TOKEN",
                     "--cacert FILE", "$FAILOVER_API_CACERT", "--timeout SECONDS"):
            assert name in text, (command, name)


@pytest.mark.parametrize("argv", [("status", "--timeout"), ("pause", "web", "--for"),
                                  ("history", "web", "--count"), ("status", "--api"),
                                  ("switchover", "web", "--at"), ("switchover", "web", "--to"),
                                  ("status", "--token"), ("cancel", "web")])
@given(value=st.text(max_size=40))
def test_any_value_is_taken_or_refused_in_one_line(argv: tuple[str, ...], value: str) -> None:
    try:
        build().parse_args([*argv, value])
    except SystemExit as exited:
        assert exited.code == 2


def test_agent_alone_shows_its_proxies(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agent"]) == 2
    assert "failoverctl agent" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "said"), [
    (("switchover", "web", "--at", "-5m"), "argument --at: '-5m' is in the past"),
    (("pause", "web", "--for", "-5m"), "argument --for: '-5m': a duration is above 0"),
    (("status", "--timeout", "-1"), "argument --timeout: '-1' is not a number of seconds")])
def test_a_negative_value_gets_its_own_message_not_expected_one_argument(
        capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], said: str) -> None:
    err = refused(capsys, *argv)
    assert said in err and "expected one argument" not in err, err


def test_an_option_after_a_value_taking_option_is_still_an_option() -> None:
    args = build().parse_args(["switchover", "web", "--at", "+5m", "--wait"])
    assert args.wait and args.at
    with pytest.raises(SystemExit):
        build().parse_args(["switchover", "web", "--at", "--wait"])


@pytest.mark.parametrize("name", ["", "a b", "_x", "x;y", "x\ny", "a" * 101])
def test_an_agent_name_must_be_a_follower_name(capsys: pytest.CaptureFixture[str],
                                               name: str) -> None:
    err = refused(capsys, "agent", "haproxy", "--redis", "redis://127.0.0.1:1/0", "--haproxy",
                  "/run/haproxy.sock", "--backend", "web=web", "--name", name)
    assert "argument --name: " in err and "is not a follower name" in err, err


def test_an_agent_name_and_heartbeat_parse() -> None:
    args = build().parse_args(["agent", "haproxy", "--redis", "redis://127.0.0.1:1/0",
                               "--haproxy", "/run/haproxy.sock", "--backend", "web=web",
                               "--name", "haproxy-1:7", "--heartbeat", "0.5"])
    assert (args.name, args.heartbeat) == ("haproxy-1:7", 0.5)
    assert build().parse_args(["agent", "haproxy", "--redis", "r", "--haproxy", "h",
                               "--backend", "web=web"]).name is None
