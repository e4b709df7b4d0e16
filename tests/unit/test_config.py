"""Config errors name their key path; env overrides and secret files work; nothing partial."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from config import ConfigError, load_config

GOOD = {
    "cluster": "prod",
    "zookeeper": {"hosts": "127.0.0.1:2181"},
    "redis": {"url": "redis://127.0.0.1:6379/0"},
    "api": {"listen": "127.0.0.1:8080"},
    "services": [{
        "name": "web",
        "members": [
            {"name": "web-a", "address": "127.0.0.1:8001",
             "probe": {"kind": "http", "url": "http://127.0.0.1:8001/healthz"},
             "fence": {"kind": "exec", "argv": ["/bin/true", "{member}", "{epoch}"]}},
            {"name": "web-b", "address": "127.0.0.1:8002",
             "probe": {"kind": "tcp", "host": "127.0.0.1", "port": 8002}},
        ],
    }],
}


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def problems(tmp_path: Path, data: object, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, data), env=env or {})
    return caught.value.problems


def test_good_config_loads_with_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), env={})
    policy = config.services[0].policy
    assert (policy.interval, policy.fall, policy.rise) == (0.5, 3, 2)
    assert config.services[0].members[1].probe.kind == "tcp"


def test_every_problem_is_reported_with_its_key_path(tmp_path: Path) -> None:
    bad = yaml.safe_load(yaml.safe_dump(GOOD))
    service = bad["services"][0]
    service["policy"] = {"interval": 0.1, "fast_interval": 0.2, "timeout": 1.0,
                         "degraded_latency": 1.0, "cooldown": -1}
    service["members"][1]["name"] = "web-a"
    service["members"][0]["address"] = "nohostport"
    service["members"][0]["probe"]["url"] = "ftp://x"
    service["members"][1]["probe"] = {"kind": "smtp"}
    service["members"][0]["fence"]["argv"] = ["/bin/f", "{host}"]
    service["typo"] = 1
    bad["zookeeper"]["session_timeout"] = 0
    found = "\n".join(problems(tmp_path, bad))
    for expected in [
        "services[0].members: duplicate member name(s): web-a",
        "services[0].policy: fast_interval (0.2) must not exceed interval (0.1)",
        "services[0].policy: degraded_latency (1.0) must be below timeout (1.0)",
        "services[0].policy.cooldown:",
        "services[0].members[0].address: expected host:port",
        "services[0].members[0].probe.url: expected an http:// or https:// URL",
        "services[0].members[1].probe: unknown kind 'smtp'",
        "services[0].members[0].fence.argv[1]: unknown template variable {host}",
        "services[0].typo: unknown key",
        "zookeeper.session_timeout:",
    ]:
        assert expected in found


def test_a_service_needs_two_members(tmp_path: Path) -> None:
    bad = yaml.safe_load(yaml.safe_dump(GOOD))
    bad["services"][0]["members"].pop()
    assert any(p.startswith("services[0].members:") for p in problems(tmp_path, bad))


def test_zero_durations_are_refused(tmp_path: Path) -> None:
    bad = yaml.safe_load(yaml.safe_dump(GOOD))
    bad["services"][0]["policy"] = {"interval": 0, "fast_interval": 0}
    found = problems(tmp_path, bad)
    assert any(p.startswith("services[0].policy.interval:") for p in found)


def test_unreadable_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml", env={})
    assert "not valid YAML" in problems(tmp_path, "services: [\n")[0]
    assert "top level must be a mapping" in problems(tmp_path, "- 1\n")[0]


def test_environment_overrides_and_expansion(tmp_path: Path) -> None:
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    data["node_id"] = "${POD_NAME}"
    env = {"FAILOVER_API__LISTEN": "127.0.0.1:9090", "POD_NAME": "pod-1",
           "FAILOVER_SERVICES__0__POLICY__FALL": "5",
           "FAILOVER_ZOOKEEPER__SESSION_TIMEOUT": "3.5"}
    config = load_config(write(tmp_path, data), env=env)
    assert config.api.listen == "127.0.0.1:9090"
    assert config.node_id == "pod-1"
    assert config.services[0].policy.fall == 5
    assert config.zookeeper.session_timeout == 3.5


def test_missing_environment_variable_is_located(tmp_path: Path) -> None:
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    data["node_id"] = "${NOPE}"
    assert problems(tmp_path, data) == ["node_id: environment variable NOPE is not set"]


def test_secrets_from_files(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cret\n")
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    data["api"]["token_file"] = str(tmp_path / "token")
    config = load_config(write(tmp_path, data), env={})
    assert config.api.token is not None and config.api.token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(config)
    data["api"]["token_file"] = str(tmp_path / "absent")
    assert problems(tmp_path, data)[0].startswith("api.token_file: cannot read")


def test_sentinel_needs_master(tmp_path: Path) -> None:
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    data["redis"] = {"url": None, "sentinels": ["127.0.0.1:26379"]}
    assert problems(tmp_path, data) == [
        "redis: sentinels needs master (the name Sentinel monitors)"]


def test_named_api_tokens_from_files_and_tls_pairing(tmp_path: Path) -> None:
    alice = tmp_path / "alice"
    alice.write_text("s3cret-alice\n")
    data = {**GOOD, "api": {"listen": "127.0.0.1:8080", "token": "plain",
                            "tokens": [{"name": "alice", "token_file": str(alice)}]}}
    config = load_config(write(tmp_path, data), env={})
    assert config.api.named_tokens() == {"alice": "s3cret-alice", "operator": "plain"}
    bad = {**GOOD, "api": {"tls_cert_file": "/x.pem",
                           "tokens": [{"name": "bob"}, {"name": "eve", "token_file": "/nope"}]}}
    found = problems(tmp_path, bad)
    assert any(p.startswith("api.tokens[1].token_file: cannot read '/nope'") for p in found)
    dup = {**GOOD, "api": {"tls_cert_file": "/x.pem", "tokens": [{"name": "bob"}]}}
    found = problems(tmp_path, dup)
    assert "api.tokens[0]: token or token_file is required" in found
    assert "api: tls_cert_file and tls_key_file go together" in found


def test_readiness_evacuation_and_windows_are_checked_with_their_key_paths(
        tmp_path: Path) -> None:
    service = GOOD["services"][0]  # type: ignore[index]
    members = [dict(m) for m in service["members"]]
    members[0]["readiness"] = [
        {"name": "raid", "kind": "exec", "argv": ["mdadm", "--detail", "--test", "/dev/md0"]},
        {"name": "raid", "kind": "http", "url": "http://127.0.0.1:9/raid"},
        {"name": "disk", "kind": "exec", "argv": ["sh", "-c", "{oops}"], "interval": 0},
    ]
    bad = {**GOOD, "services": [{**service, "members": members, "evacuate_on": ["smart"],
                                 "windows": ["Sun 02:00-04:00", "daily 01:00-02:00 UTC"]}]}
    found = problems(tmp_path, bad)
    assert "services[0].members[0].readiness: duplicate readiness check name(s): raid" in found
    assert any(p.startswith("services[0].members[0].readiness[2].argv[2]: unknown template "
                            "variable {oops}") for p in found)
    assert "services[0].members[0].readiness[2].interval: Input should be greater than 0" \
        in found
    assert any(p.startswith("services[0].windows: not a window: 'Sun 02:00-04:00'")
               for p in found)
    members[0]["readiness"] = members[0]["readiness"][:1]
    good = {**GOOD, "services": [{**service, "members": members, "evacuate_on": ["raid"],
                                  "windows": ["daily 01:00-02:00 UTC"]}]}
    assert load_config(write(tmp_path, good), env={}).services[0].evacuate_on == ["raid"]
    unknown = {**good, "services": [{**good["services"][0], "evacuate_on": ["smart"]}]}
    assert problems(tmp_path, unknown) == [
        "services[0]: evacuate_on names no readiness check of any member: smart"]
