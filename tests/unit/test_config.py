"""Config errors name their key path; env overrides and secret files work; nothing partial."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from config import (
    Config,
    ConfigError,
    ignored_env_names,
    load_config,
    node_identity,
    parse_config,
)
from config.digest import config_digest
from controller.cli import main
from tests.kubelet import KUBERNETES_SERVICE, service_links

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
        "services[0].policy: degraded_latency (1) must be below timeout (1)",
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


def test_an_empty_node_id_means_the_default(tmp_path: Path) -> None:
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    data["node_id"] = "${HOSTNAME:-}"  # HOSTNAME not exported, as under systemd or cron
    config = load_config(write(tmp_path, data), env={})
    assert config.node_id is None
    assert node_identity(config).endswith(f":{os.getpid()}")


def test_secrets_from_files(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cret\n")
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    data["api"]["token_file"] = str(tmp_path / "token")
    config = load_config(write(tmp_path, data), env={})
    assert config.api.token is not None and config.api.token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(config)
    data["api"]["token_file"] = str(tmp_path / "absent")
    assert problems(tmp_path, data)[0].startswith("api.token_file: cannot read")


def test_sentinel_password_from_a_file(tmp_path: Path) -> None:
    """Every secret the config takes has a file form (the chart mounts them all)."""
    (tmp_path / "sentinel").write_text("s3ntinel\n")
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    data["redis"] = {"url": None, "sentinels": ["127.0.0.1:26379"], "master": "m",
                     "sentinel_password_file": str(tmp_path / "sentinel")}
    config = load_config(write(tmp_path, data), env={})
    secret = config.redis.sentinel_password
    assert secret is not None and secret.get_secret_value() == "s3ntinel"
    data["redis"]["sentinel_password"] = "inline"
    assert problems(tmp_path, data) == [
        "redis.sentinel_password_file: set sentinel_password or sentinel_password_file, "
        "not both"]


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
    assert "services[0].members[0].readiness[2].interval: must be from 0.1 to 86400 seconds" \
        in found
    assert any(p.startswith("services[0].windows[0]: not a window: 'Sun 02:00-04:00'")
               for p in found)
    members[0]["readiness"] = members[0]["readiness"][:1]
    good = {**GOOD, "services": [{**service, "members": members, "evacuate_on": ["raid"],
                                  "windows": ["daily 01:00-02:00 UTC"]}]}
    assert load_config(write(tmp_path, good), env={}).services[0].evacuate_on == ["raid"]
    unknown = {**good, "services": [{**good["services"][0], "evacuate_on": ["smart"]}]}
    assert problems(tmp_path, unknown) == [
        "services[0].evacuate_on[0]: no member has a readiness check named 'smart'"]


# What Kubernetes injects into a pod of `helm install failover charts/failover-controller`
# (the README's release name) in a namespace that also runs a Redis Service `failover-redis`.
SERVICE_LINKS = {
    **KUBERNETES_SERVICE,
    **service_links("failover-failover-controller", "10.96.12.7", [("http", 8080, "TCP")]),
    **service_links("failover-redis", "10.96.40.2", [("tcp-redis", 6379, "TCP")]),
}
CLI_VARIABLES = {"FAILOVER_API_URL": "http://failover-failover-controller:8080",
                 "FAILOVER_API_TOKEN": "t0ken", "FAILOVER_API_CACERT": "/etc/ssl/ca.pem"}


def test_kubernetes_service_links_and_cli_variables_are_not_overrides(tmp_path: Path) -> None:
    assert "FAILOVER_FAILOVER_CONTROLLER_PORT_8080_TCP_ADDR" in SERVICE_LINKS
    assert "FAILOVER_REDIS_SERVICE_PORT_TCP_REDIS" in SERVICE_LINKS
    env = {**SERVICE_LINKS, **CLI_VARIABLES,
           # a Service named failover-api: one underscore after the section, so no override
           **service_links("failover-api", "10.96.1.1", [(None, 80, "TCP")]),
           # failover--x: the part after FAILOVER_ starts with "_", no section at all
           **service_links("failover--x", "10.96.1.2", [(None, 81, "UDP")]),
           "FAILOVER_API__LISTEN": "127.0.0.1:9090", "FAILOVER_NODE_ID": "pod-7"}
    path = write(tmp_path, GOOD)
    config = load_config(path, env=env)
    assert config == load_config(path, env={
        "FAILOVER_API__LISTEN": "127.0.0.1:9090", "FAILOVER_NODE_ID": "pod-7"})
    assert (config.api.listen, config.node_id) == ("127.0.0.1:9090", "pod-7")
    ignored = ignored_env_names(env)
    assert "FAILOVER_API_SERVICE_HOST" in ignored and "FAILOVER__X_PORT_81_UDP" in ignored
    assert not set(ignored) & {*CLI_VARIABLES, "FAILOVER_API__LISTEN", "FAILOVER_NODE_ID"}
    assert ignored == sorted(set(env) - set(KUBERNETES_SERVICE) - set(CLI_VARIABLES)
                             - {"FAILOVER_API__LISTEN", "FAILOVER_NODE_ID"})


def test_top_level_keys_are_overridden_by_their_exact_name(tmp_path: Path) -> None:
    env = {"FAILOVER_NODE_ID": "pod-1", "FAILOVER_LOG_LEVEL": "debug",
           "FAILOVER_CLUSTER": "staging"}
    config = load_config(write(tmp_path, GOOD), env=env)
    assert (config.node_id, config.log_level, config.cluster) == ("pod-1", "debug", "staging")
    assert ignored_env_names(env) == []


def test_an_override_naming_an_unknown_key_is_located(tmp_path: Path) -> None:
    assert problems(tmp_path, GOOD, {"FAILOVER_API__LISTNE": "x"}) == [
        "FAILOVER_API__LISTNE: api.listne: unknown key"]
    assert problems(tmp_path, GOOD, {"FAILOVER_APII__LISTEN": "x"}) == [
        "FAILOVER_APII__LISTEN: apii: unknown key"]
    assert problems(tmp_path, GOOD, {"FAILOVER_SERVICES__0__POLICY__FAL": "5"}) == [
        "FAILOVER_SERVICES__0__POLICY__FAL: services[0].policy.fal: unknown key"]
    [bad_listen] = problems(tmp_path, GOOD, {"FAILOVER_API__LISTEN": "nohostport"})
    assert bad_listen.startswith("FAILOVER_API__LISTEN: api.listen: expected host:port")
    [unreadable] = problems(tmp_path, GOOD, {"FAILOVER_API__TOKEN_FILE": "/nope"})
    assert unreadable.startswith("FAILOVER_API__TOKEN_FILE: api.token_file: cannot read '/nope'")
    assert problems(tmp_path, GOOD, {"FAILOVER_API____LISTEN": "x"}) == [
        "FAILOVER_API____LISTEN: malformed override (empty key between '__')"]
    # The one Service name whose links have the override shape: failover-<section>--...
    links = service_links("failover-api--x", "10.96.1.3", [(None, 80, "TCP")])
    found = problems(tmp_path, GOOD, links)
    assert "FAILOVER_API__X_SERVICE_HOST: api.x_service_host: unknown key (a Kubernetes " \
           "service link? Services named failover-<section>--* need enableServiceLinks: " \
           "false)" in found
    # Nothing else of a broken environment is applied: one bad override refuses them all.
    assert problems(tmp_path, GOOD, {"FAILOVER_API__LISTNE": "x", **SERVICE_LINKS,
                                     "FAILOVER_NODE_ID": "pod-1"}) == [
        "FAILOVER_API__LISTNE: api.listne: unknown key"]


def test_check_config_notes_ignored_variables_on_stderr_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, GOOD)
    for name in [n for n in os.environ if n.startswith("FAILOVER_")]:
        monkeypatch.delenv(name)
    for name, value in {**SERVICE_LINKS, **CLI_VARIABLES}.items():
        monkeypatch.setenv(name, value)
    assert main(["check-config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == f"{path}: ok (1 services, 2 members)\n"
    [note] = err.splitlines()
    assert note.startswith("note: not config overrides, ignored: FAILOVER_FAILOVER_CONTROLLER_")
    assert "FAILOVER_REDIS_PORT_6379_TCP_ADDR" in note and "FAILOVER_API_URL" not in note
    for name in SERVICE_LINKS:
        monkeypatch.delenv(name)
    assert main(["check-config", str(path)]) == 0
    assert capsys.readouterr().err == ""


# Names Kubernetes may give a Service (DNS-1035 labels) that start with "failover-".
SERVICE_NAMES = st.from_regex(r"\Afailover-[a-z0-9-]{0,40}[a-z0-9]\Z")
BASELINE = parse_config(yaml.safe_load(yaml.safe_dump(GOOD)), {})


@given(names=st.dictionaries(st.from_regex(r"\AFAILOVER_[A-Za-z0-9_]{0,30}\Z"),
                             st.text(max_size=30), max_size=8),
       services=st.lists(SERVICE_NAMES, max_size=3))
def test_variables_not_of_the_override_shape_never_change_the_config(
        names: dict[str, str], services: list[str]) -> None:
    # The documented rule, restated: <SECTION>__ (a letter first) or a top-level key's name.
    env = {name: value for name, value in names.items()
           if not ("__" in (rest := name[len("FAILOVER_"):]) and rest[:1].isalpha())
           and rest.lower() not in Config.model_fields}
    for service in services:
        rest = service[len("failover-"):]
        if not (rest[0].isalpha() and "--" in rest):  # failover-<section>--x: see above
            env.update(service_links(service, "10.96.0.9", [("http", 8080, "TCP")]))
    assert parse_config(yaml.safe_load(yaml.safe_dump(GOOD)), env) == BASELINE
    assert set(ignored_env_names(env)) == set(env) - set(CLI_VARIABLES)


def test_the_config_digest_covers_what_decides_not_what_differs_per_replica(
        tmp_path: Path) -> None:
    base = load_config(write(tmp_path, GOOD), env={})
    digest = config_digest(base)
    assert len(digest) == 12 and int(digest, 16) >= 0
    other_replica = {**GOOD, "node_id": "elsewhere", "api": {**GOOD.get("api", {}),
                                                             "listen": "127.0.0.1:9999"}}
    assert config_digest(load_config(write(tmp_path, other_replica), env={})) == digest
    services = [dict(GOOD["services"][0])]
    services[0]["policy"] = {**services[0].get("policy", {}), "fall": 7}
    changed = {**GOOD, "services": services}
    assert config_digest(load_config(write(tmp_path, changed), env={})) != digest


def test_a_member_address_host_is_an_ip_or_a_dns_name(tmp_path: Path) -> None:
    """Nothing that could end a command (``;``, ``$(``, backquotes, ``|``, spaces) gets in
    through a member's address: the agent and hooks put it on command lines."""
    for address in ["x;shutdown$(id)|`id`:80", "a b:80", "1.2.3:80", "-web:80", "web/x:80"]:
        bad = yaml.safe_load(yaml.safe_dump(GOOD))
        bad["services"][0]["members"][0]["address"] = address
        found = problems(tmp_path, bad)
        assert any(p.startswith("services[0].members[0].address:") for p in found), address
    for address in ["web-a.svc.cluster.local:8080", "web_a:80", "10.0.0.1:80", "[::1]:80"]:
        good = yaml.safe_load(yaml.safe_dump(GOOD))
        good["services"][0]["members"][0]["address"] = address
        assert load_config(write(tmp_path, good), env={}).services[0].members[0].address \
            == address


def test_an_exec_probe_or_check_takes_env_as_a_hook_does(tmp_path: Path) -> None:
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    member = data["services"][0]["members"][1]
    member["probe"] = {"kind": "exec", "argv": ["/bin/check"], "env": {"PGPASSFILE": "/p"}}
    member["readiness"] = [{"name": "raid", "kind": "exec", "argv": ["/bin/raid"],
                            "env": {"RAID": "md0"}}]
    config = load_config(write(tmp_path, data), env={})
    probe = config.services[0].members[1].probe
    assert probe.kind == "exec" and probe.env == {"PGPASSFILE": "/p"}
    member["probe"]["env"] = {"1BAD": "x"}
    assert any(p.startswith("services[0].members[1].probe.env:")
               for p in problems(tmp_path, data))


def test_a_secret_file_anyone_may_write_is_refused_even_through_a_symlink(
        tmp_path: Path) -> None:
    """Whoever can write the token file chooses the operators' token. A Kubernetes Secret
    (mode 0644 behind a symlink) is fine."""
    secret = tmp_path / "..data" / "token"
    secret.parent.mkdir()
    secret.write_text("a-long-enough-token\n")
    link = tmp_path / "token"
    link.symlink_to(secret)
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    data["api"] = {"listen": "127.0.0.1:8080", "token_file": str(link)}
    secret.chmod(0o644)
    assert load_config(write(tmp_path, data), env={}).api.token is not None
    secret.chmod(0o666)
    found = problems(tmp_path, data)
    assert any(p.startswith("api.token_file:") and "anyone" in p for p in found), found


def test_zookeeper_without_auth_beyond_this_machine_is_warned_of_loudly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for name in [n for n in os.environ if n.startswith("FAILOVER_")]:
        monkeypatch.delenv(name)
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    data["zookeeper"] = {"hosts": "zk1.example.net:2181,127.0.0.1:2181/failover"}
    path = write(tmp_path, data)
    assert main(["check-config", str(path)]) == 0  # a warning, not a refusal
    out, err = capsys.readouterr()
    assert out.endswith(": ok (1 services, 2 members)\n")
    [warning] = err.splitlines()
    assert warning.startswith("WARNING: zookeeper: no username")
    assert "zk1.example.net:2181" in warning
    # On this machine only (a sandbox), or with digest auth: nothing to say.
    for zookeeper in ({"hosts": "127.0.0.1:2181,[::1]:2182,localhost:2183"},
                      {**data["zookeeper"], "username": "failover", "password": "pw-long"}):
        data["zookeeper"] = zookeeper
        assert main(["check-config", str(write(tmp_path, data))]) == 0
        assert capsys.readouterr().err == ""


def test_followers_are_follower_names_each_named_once(tmp_path: Path) -> None:
    service = GOOD["services"][0]  # type: ignore[index]
    good = {**GOOD, "services": [{**service, "followers": ["haproxy-1", "app-7:4121"]}]}
    assert load_config(write(tmp_path, good), env={}).services[0].followers == [
        "haproxy-1", "app-7:4121"]
    assert load_config(write(tmp_path, GOOD), env={}).services[0].followers is None
    bad = {**GOOD, "services": [{**service, "followers": ["a b", "h1", "h1"]}]}
    found = problems(tmp_path, bad)
    assert any(p.startswith("services[0].followers[0]: 'a b' is not a follower name")
               for p in found), found
    empty = {**GOOD, "services": [{**service, "followers": []}]}
    assert any(p.startswith("services[0].followers") for p in problems(tmp_path, empty))
    twice = {**GOOD, "services": [{**service, "followers": ["h1", "h1"]}]}
    assert problems(tmp_path, twice) == ["services[0].followers: named more than once: h1"]
