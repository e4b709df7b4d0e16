"""Hostile and careless inputs to the loader: each gets one clear line, never a traceback.

Regression tests of issue 13's "Config and environment" findings: bytes that are not UTF-8,
numbers beyond range, infinite or absurd durations, booleans for numbers, duplicate keys, an
alias bomb, files that are not files, and environment values that must stay text.
"""

from __future__ import annotations

import concurrent.futures
import copy
import os
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import ConfigError, load_config
from controller.cli import main
from tests.unit.test_config import CLI_VARIABLES, GOOD, problems, write


def good() -> dict[str, Any]:
    return copy.deepcopy(GOOD)


def test_a_config_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"cluster: prod\nnode_id: \xff\xfe\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.problems == [
        f"{path}: cannot read config file: not UTF-8 text (byte 0xff on line 2)"]


def test_a_token_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    (tmp_path / "token").write_bytes(b"\xc3\x28secret\n")
    data = good()
    data["api"]["token_file"] = str(tmp_path / "token")
    assert problems(tmp_path, data) == [
        f"api.token_file: cannot read '{tmp_path / 'token'}': not UTF-8 text (byte 0xc3 on "
        "line 1)"]


def test_numbers_beyond_range_are_refused_at_their_key(tmp_path: Path) -> None:
    text = yaml.safe_dump(GOOD).replace("name: web-a\n", "name: web-a\n    priority: "
                                        + "7" * 5001 + "\n", 1)
    text = text.replace("name: web\n", "name: web\n  policy: {fall: 1" + "0" * 400 + "}\n")
    found = problems(tmp_path, text)
    assert found == ["services[0].members[0].priority: a number of 5001 characters is far "
                     "too large",
                     "services[0].policy.fall: a number of 401 characters is far too large"]
    data = good()
    data["services"][0]["members"][0]["priority"] = 10**12
    data["services"][0]["policy"] = {"rise": 10**25, "quorum": 10**20}
    assert problems(tmp_path, data) == [
        "services[0].members[0].priority: must be from -1e+06 to 1e+06",
        "services[0].policy.quorum: expected 'majority' or a whole number from 1 to 1000",
        "services[0].policy.rise: must be from 1 to 100"]


DURATIONS = [
    ("zookeeper", "request_timeout"), ("redis", "socket_timeout"),
    ("services", 0, "policy", "timeout"), ("services", 0, "policy", "ready_timeout"),
    ("services", 0, "policy", "verify_window"), ("services", 0, "policy", "interval"),
    ("services", 0, "members", 0, "fence", "timeout"),
]


def _set(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> str:
    node: Any = data
    for part in path[:-1]:
        node = node.setdefault(part, {}) if isinstance(node, dict) else node[part]
    node[path[-1]] = value
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "1e9", "-1", "1e-9"])
def test_every_duration_refuses_infinite_absurd_and_tiny_values(
        tmp_path: Path, value: str) -> None:
    for path in DURATIONS:
        data = good()
        key = _set(data, path, "VALUE")
        found = problems(tmp_path, yaml.safe_dump(data).replace("VALUE", value))
        assert [p for p in found if p.startswith(f"{key}: must be from ")] != [], (key, found)


def test_a_probe_timeout_far_beyond_its_interval_is_refused(tmp_path: Path) -> None:
    data = good()
    data["services"][0]["policy"] = {"interval": 0.5, "timeout": 100, "degraded_latency": 0.5}
    assert problems(tmp_path, data) == [
        "services[0].policy: timeout 100 must not exceed 10 x interval (5)"]
    data["services"][0]["policy"] = {}
    data["services"][0]["members"][0]["readiness"] = [
        {"name": "raid", "kind": "tcp", "host": "h", "port": 1, "interval": 1, "timeout": 11}]
    assert problems(tmp_path, data) == [
        "services[0].members[0].readiness[0].timeout: 11 must not exceed 10 x interval (10)"]


def test_booleans_are_not_numbers_and_numbers_are_not_booleans(tmp_path: Path) -> None:
    data = good()
    data["services"][0]["policy"] = {"fall": True, "timeout": True, "quorum": False,
                                     "auto_failover": 1}
    data["api"]["read_auth"] = 1
    data["services"][0]["members"][0]["priority"] = 2.5
    assert problems(tmp_path, data) == [
        "api.read_auth: expected true or false",
        "services[0].members[0].priority: expected a whole number from -1000000 to 1000000",
        "services[0].policy.auto_failover: expected true, false or 'dry-run'",
        "services[0].policy.fall: expected a whole number from 1 to 100",
        "services[0].policy.quorum: expected 'majority' or a whole number from 1 to 1000",
        "services[0].policy.timeout: expected a number from 0.01 to 600 seconds"]


def test_duplicate_keys_are_refused_with_their_lines(tmp_path: Path) -> None:
    text = ("api:\n  token: s3cret\n  read_auth: true\n"
            + yaml.safe_dump({k: v for k, v in GOOD.items() if k != "api"})
            + "api:\n  listen: 127.0.0.1:8080\n")
    lines = text.splitlines()
    second = lines.index("api:", 1) + 1
    assert problems(tmp_path, text) == [f"api: key given twice (lines 1 and {second})"]
    nested = yaml.safe_dump(GOOD).replace("name: web-b\n", "name: web-b\n    name: web-c\n")
    [found] = problems(tmp_path, nested)
    assert found.startswith("services[0].members[1].name: key given twice (lines ")


BOMB = "\n".join(["a: &a [x, x, x, x, x, x, x, x, x]"] + [
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]" for a, b in zip("abcdefgh", "bcdefghi",
                                                               strict=True)])


def test_an_alias_bomb_is_refused_fast_in_little_memory(tmp_path: Path) -> None:
    assert len(BOMB) < 400
    # Timed without tracemalloc, which slows it several times over. Refused after 100 000
    # values it takes about 0.13 s; expanding its 387 million would take minutes at that
    # pace: 10 s leaves a wide margin on both sides.
    started = time.monotonic()
    problems(tmp_path, BOMB)
    assert time.monotonic() - started < 10.0
    tracemalloc.start()
    try:
        found = problems(tmp_path, BOMB)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 * 1024  # about 2 MB measured
    [line] = found
    assert "values with aliases expanded; refused (an alias bomb?)" in line


def test_aliases_and_merge_keys_of_a_real_config_still_work(tmp_path: Path) -> None:
    text = yaml.safe_dump(GOOD) + "x-policy: &fast {interval: 0.2, fall: 2}\n"
    text = text.replace("name: web\n", "name: web\n  policy: {<<: *fast, fall: 4}\n")
    text = text.replace("x-policy: &fast", "policy_defaults: &fast")
    moved = "policy_defaults: &fast {interval: 0.2, fall: 2}\n"
    text = moved + text.replace(moved, "")
    found = problems(tmp_path, text)
    assert found == ["policy_defaults: unknown key"]  # anchors work; the key itself is not one


def test_yaml_errors_name_the_file_and_line(tmp_path: Path) -> None:
    [found] = problems(tmp_path, "cluster: prod\nservices: [\n  - x\n")
    assert found.startswith(f"{tmp_path / 'config.yaml'}:3:")
    assert "<unicode string>" not in found and "not valid YAML" in found
    tagged = yaml.safe_dump({**GOOD, "cluster": "TAG"}).replace("TAG", "!!python/name:os.system")
    assert problems(tmp_path, tagged) == [
        "cluster: line 3: unsupported YAML tag !!python/name:os.system; write plain values"]


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "directory", "huge"])
def test_a_token_file_that_is_no_regular_file_is_refused_without_hanging(
        tmp_path: Path, kind: str) -> None:
    target = tmp_path / "token"
    if kind == "dev-zero":
        target = Path("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(target)  # no writer: opening it for reading the usual way blocks forever
    elif kind == "directory":
        target.mkdir()
    else:
        target.write_bytes(b"x" * (1024 * 1024))
    data = good()
    data["api"]["token_file"] = str(target)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        [found] = pool.submit(problems, tmp_path, data).result(timeout=10)
    said = {"dev-zero": "not a regular file (a character device)",
            "fifo": "not a regular file (a FIFO)",
            "directory": "not a regular file (a directory)",
            "huge": "1048576 bytes; at most 65536 are read"}[kind]
    assert found == f"api.token_file: cannot read '{target}': {said}"


def test_cli_variables_do_not_break_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in CLI_VARIABLES.items():
        monkeypatch.setenv(name, value)
    data = good()
    data["services"][0]["policy"] = {"fall": 0}  # refused, so `run` stops before starting
    assert main(["run", "-c", str(write(tmp_path, data))]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "services[0].policy.fall: must be from 1 to 100", "not started: fix the config above"]


def test_a_refused_value_takes_no_part_in_the_rules_between_keys(tmp_path: Path) -> None:
    data = good()
    data["services"][0]["policy"] = {"interval": 1e-9, "timeout": 100}
    assert problems(tmp_path, data) == [
        "services[0].policy.interval: must be from 0.01 to 3600 seconds"]


def test_odd_keys_are_quoted_in_the_path_and_sorted_without_error(tmp_path: Path) -> None:
    text = yaml.safe_dump(GOOD) + '"": 1\n"a b": 2\n"x²": 3\n'
    assert problems(tmp_path, text) == [
        "['']: unknown key", "['a b']: unknown key", "['x²']: unknown key"]


def test_a_refused_kind_is_reported_once(tmp_path: Path) -> None:
    text = yaml.safe_dump(GOOD).replace("kind: tcp", "kind: !!binary dGNw")
    line = text[: text.index("!!binary")].count("\n") + 1
    assert problems(tmp_path, text) == [
        f"services[0].members[1].probe.kind: line {line}: unsupported YAML tag !!binary; "
        "write plain values"]


def test_a_refused_url_is_quoted_without_its_secrets(tmp_path: Path) -> None:
    data = good()
    data["redis"] = {"url": "http://user:s3cretpw@127.0.0.1:6379/0?password=k3y"}
    data["services"][0]["members"][0]["probe"] = {
        "kind": "http", "url": "http://u:hookpw@127.0.0.1:abc/x?token=t0k3n"}
    found = problems(tmp_path, data)
    assert found == [
        "redis.url: must be redis://, rediss:// or unix://, got "
        "'http://***@127.0.0.1:6379/0?password=***'",
        "services[0].members[0].probe.url: bad port in 'http://***@127.0.0.1:abc/x?token=***'"]
    assert not any(secret in line for line in found
                   for secret in ("s3cretpw", "k3y", "hookpw", "t0k3n"))
