"""What a hook's detail may show of a URL; what environment an exec hook gets, and what
its config may add."""

from __future__ import annotations

import asyncio

import pytest

from config import ConfigError, parse_config
from config.models import ExecActionConfig, HttpActionConfig
from config.redaction import redact_url, redact_urls, scrub, templated_parameters, url_secrets
from controller.adapters.hooks import ActionResult, ActionRunner
from controller.devtools.processes import free_port
from probes.process import DEFAULT_PATH
from probes.process import minimal_environment as hook_environment
from tests.unit.test_config import GOOD


@pytest.mark.parametrize(("url", "shown"), [
    ("http://admin:pa55@host/promote?key=k3y", "http://***@host/promote?key=***"),
    ("https://host:8443/fence?epoch=7&token=abc&token=def",
     "https://host:8443/fence?epoch=***&token=***&token=***"),
    ("http://user@host", "http://***@host"),
    ("http://host/promote", "http://host/promote"),
    ("http://host/p?s3cret", "http://host/p?***"),  # a bare value may be the secret itself
    ("http://host/p?a=&&b", "http://host/p?a=***&&***"),
    ("http://host/p#frag=x", "http://host/p#***"),
    ("http://u:p/ss@host/x?k=v", "http://***@host/x?k=***"),  # "/" in a password
    ("http://u:p%40ss@[::1]:80/x", "http://***@[::1]:80/x"),
    ("/promote?key=k3y", "/promote?key=***"),
    ("not a url", "not a url"),
    ("", ""),
])
def test_redact_url_hides_user_info_query_values_and_fragment(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert redact_url(shown) == shown  # redacting twice changes nothing


def test_redact_urls_finds_every_url_in_a_detail_and_keeps_the_sentence() -> None:
    detail = ("POST http://admin:pa55@10.0.0.1:9000/promote?key=k3y: status 500 see "
              "'https://ops:hunter2@wiki/runbook?id=4'. or (ftp://a:b@c/d), no /promote?key=k3y.")
    assert redact_urls(detail) == (
        "POST http://***@10.0.0.1:9000/promote?key=***: status 500 see "
        "'https://***@wiki/runbook?id=***'. or (ftp://***@c/d), no /promote?key=***.")
    plain = "/usr/local/bin/fence exited 0 fenced web-a at epoch 7 (3/3 done), why? because"
    assert redact_urls(plain) == plain


def test_a_hook_urls_literal_secrets_are_scrubbed_in_whatever_form_an_answer_quotes_them(
        ) -> None:
    url = "http://admin:pa%2F55@{address}/promote?key=k3y&epoch={epoch}&force=1&t=a%20b"
    assert url_secrets(url) == {"pa%2F55", "pa/55", "k3y", "a%20b", "a b"}
    answer = '{"key": "k3y", "epoch": "7", "force": "1", "t": "a b"} auth pa/55 ok'
    assert scrub(answer, url_secrets(url)) == (
        '{"key": "***", "epoch": "7", "force": "1", "t": "***"} auth *** ok')
    assert url_secrets("http://host/promote") == frozenset()


def test_hook_environment_passes_only_the_harmless_variables_and_adds_the_configs() -> None:
    daemon = {"PATH": "/opt/bin:/usr/bin", "HOME": "/var/lib/failover", "LANG": "C.UTF-8",
              "LC_ALL": "C.UTF-8", "FAILOVER_API__TOKEN": "t0ken",
              "FAILOVER_REDIS__PASSWORD": "r3dis", "REDISCLI_AUTH": "r3dis", "USER": "failover"}
    assert hook_environment(daemon, {}) == {
        "PATH": "/opt/bin:/usr/bin", "HOME": "/var/lib/failover", "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8"}
    assert hook_environment({}, {"FENCE_TOKEN": "f", "PATH": "/fence/bin"}) == {
        "PATH": "/fence/bin", "FENCE_TOKEN": "f"}  # what the config adds wins
    assert hook_environment({"TERM": "xterm"}, {}) == {"PATH": DEFAULT_PATH}


def _with_fence_env(env: object) -> dict[str, object]:
    service = GOOD["services"][0]  # type: ignore[index]
    fence = {**service["members"][0]["fence"], "env": env}
    members = [{**service["members"][0], "fence": fence}, service["members"][1]]
    return {**GOOD, "services": [{**service, "members": members}]}


def test_an_exec_hooks_env_is_checked_and_may_take_a_secret_from_the_environment() -> None:
    config = parse_config(_with_fence_env({"FENCE_TOKEN": "${FENCE_TOKEN}"}),
                          {"FENCE_TOKEN": "f3nce"})
    fence = config.services[0].members[0].fence
    assert isinstance(fence, ExecActionConfig) and fence.env == {"FENCE_TOKEN": "f3nce"}
    with pytest.raises(ConfigError) as caught:
        parse_config(_with_fence_env({"1X": "a", "OK": "a\0b"}), {})
    assert caught.value.problems == [
        "services[0].members[0].fence.env: '1X' is not a variable name (letters, digits and _, "
        "not starting with a digit)"]
    with pytest.raises(ConfigError) as caught:
        parse_config(_with_fence_env({"OK": "a\0b"}), {})
    assert caught.value.problems == [
        "services[0].members[0].fence.env: OK: a value cannot hold a NUL byte"]


def test_the_fencing_token_is_shown_in_a_hook_urls_detail_and_secrets_are_not() -> None:
    url = ("http://127.0.0.1:{port}/fence?epoch={epoch}&seq={seq}&key=k3y&m=x{member}"
           .replace("{port}", str(free_port())))
    assert templated_parameters(url) == {"epoch", "seq"}
    action = HttpActionConfig.model_validate({"kind": "http", "url": url, "timeout": 2})
    variables = {"service": "web", "member": "web-a", "address": "127.0.0.1:1", "epoch": "7",
                 "seq": "3", "previous": ""}
    result = asyncio.run(_run_once(action, variables))  # nothing listens: refused
    assert not result.ok
    assert "/fence?epoch=7&seq=3&key=***&m=***:" in result.detail, result.detail
    assert "k3y" not in result.detail and "web-a" not in result.detail


async def _run_once(action: HttpActionConfig, variables: dict[str, str]) -> ActionResult:
    runner = ActionRunner("test")
    try:
        return await runner.run(action, variables)
    finally:
        await runner.close()
