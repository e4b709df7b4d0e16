"""Environment overrides stay text unless a key expects otherwise; ``${...}`` expands like a
shell or is refused; secrets, cross-key rules and every problem in one pass (issue 13)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from config import load_config
from tests.unit.test_config import GOOD, problems, write


def good() -> dict[str, Any]:
    return copy.deepcopy(GOOD)


@pytest.mark.parametrize("secret", ["s3cret #1", "null", "12345", "true", "[a, b]", "{x: 1}",
                                    "~", "'quoted'", "0x1F"])
def test_an_overridden_secret_stays_exactly_the_text_given(tmp_path: Path, secret: str) -> None:
    config = load_config(write(tmp_path, GOOD), env={"FAILOVER_API__TOKEN": secret})
    assert config.api.token is not None and config.api.token.get_secret_value() == secret


def test_overrides_of_numbers_and_booleans_are_read_strictly(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    config = load_config(path, env={"FAILOVER_SERVICES__0__POLICY__FALL": "5",
                                    "FAILOVER_SERVICES__0__POLICY__TIMEOUT": "0.75",
                                    "FAILOVER_API__READ_AUTH": "true",
                                    "FAILOVER_SERVICES__0__POLICY__AUTO_FAILOVER": "dry-run",
                                    "FAILOVER_SERVICES__0__POLICY__QUORUM": "2",
                                    "FAILOVER_CLUSTER": "12345"})
    policy = config.services[0].policy
    assert (policy.fall, policy.timeout, policy.auto_failover, policy.quorum) == (
        5, 0.75, "dry-run", 2)
    assert config.api.read_auth is True and config.cluster == "12345"
    assert problems(tmp_path, GOOD, {"FAILOVER_SERVICES__0__POLICY__FALL": "5.0",
                                     "FAILOVER_SERVICES__0__POLICY__RISE": "0x10",
                                     "FAILOVER_SERVICES__0__POLICY__TIMEOUT": ".inf",
                                     "FAILOVER_API__READ_AUTH": "yes"}) == [
        "FAILOVER_API__READ_AUTH: api.read_auth: expected true or false",
        "FAILOVER_SERVICES__0__POLICY__FALL: services[0].policy.fall: expected a whole number "
        "from 1 to 100",
        "FAILOVER_SERVICES__0__POLICY__RISE: services[0].policy.rise: expected a whole number "
        "from 1 to 100",
        "FAILOVER_SERVICES__0__POLICY__TIMEOUT: services[0].policy.timeout: expected a number "
        "from 0.01 to 600 seconds"]


def test_overrides_of_lists_and_blocks_are_read_as_yaml(tmp_path: Path) -> None:
    (tmp_path / "alice").write_text("alice-token\n")
    env = {"FAILOVER_API__TOKENS": f'[{{"name": "alice", "token_file": "{tmp_path}/alice"}}]',
           "FAILOVER_REDIS__SENTINELS": "[127.0.0.1:26379, 127.0.0.2:26379]",
           "FAILOVER_REDIS__MASTER": "routing",
           "FAILOVER_SERVICES__0__MEMBERS__0__PROBE__EXPECT_STATUS": "[200, 204]"}
    config = load_config(write(tmp_path, GOOD), env=env)
    assert config.api.named_tokens() == {"alice": "alice-token"}
    assert config.redis.sentinels == ["127.0.0.1:26379", "127.0.0.2:26379"]
    probe = config.services[0].members[0].probe
    assert probe.kind == "http" and probe.expect_status == [200, 204]
    assert problems(tmp_path, GOOD, {"FAILOVER_API__TOKENS": "[a, a: b"})[0].startswith(
        "FAILOVER_API__TOKENS:1:")


def test_expansion_follows_the_shell_and_refuses_other_forms(tmp_path: Path) -> None:
    data = good()
    data["node_id"] = "${POD:-fallback}"
    data["cluster"] = "${CLUSTER}"
    assert load_config(write(tmp_path, data), env={"POD": "", "CLUSTER": "c1"}).node_id == \
        "fallback"
    assert load_config(write(tmp_path, data), env={"POD": "p", "CLUSTER": "c1"}).node_id == "p"
    data["node_id"] = "${POD:?must be set}"
    data["cluster"] = "x${OPEN"
    data["api"]["token"] = "${A:-${B}}"
    assert problems(tmp_path, data, {"POD": "p"}) == [
        "api.token: unsupported '${A:-${B}': only ${NAME} and ${NAME:-default} are expanded",
        "cluster: unsupported '${OPEN': only ${NAME} and ${NAME:-default} are expanded",
        "node_id: unsupported '${POD:?must be set}': only ${NAME} and ${NAME:-default} are "
        "expanded"]


@pytest.mark.parametrize(("token", "said"), [
    ("", "must not be empty or only whitespace"),
    ("   ", "must not be empty or only whitespace"),
    ("line one\nline two", "must be one line of printable ASCII"),
    (" padded", "must not start or end with whitespace"),
    ("bell\x07", "must be one line of printable ASCII"),
])
def test_unusable_tokens_are_refused_inline_and_from_files(
        tmp_path: Path, token: str, said: str) -> None:
    data = good()
    data["api"]["tokens"] = [{"name": "alice", "token": token}]
    [found] = problems(tmp_path, data)
    assert found.startswith(f"api.tokens[0].token: a token {said}")
    assert token.strip() == "" or token.strip() not in found  # never echoed
    (tmp_path / "token").write_text(f"{token}\n")
    data = good()
    data["api"]["token_file"] = str(tmp_path / "token")
    if token.strip() == token.strip(" ") and token.strip() and not token.startswith(" "):
        [found] = problems(tmp_path, data)
        assert found.startswith(f"api.token_file: '{tmp_path / 'token'}': a token {said}")


def test_a_named_token_called_operator_cannot_shadow_the_unnamed_one(tmp_path: Path) -> None:
    data = good()
    data["api"].update(token="unnamed-token", tokens=[{"name": "operator", "token": "other"}])
    assert problems(tmp_path, data) == [
        "api.tokens[0].name: 'operator' is the name of the unnamed api.token already; choose "
        "another name"]
    del data["api"]["token"]
    assert load_config(write(tmp_path, data), env={}).api.named_tokens() == {
        "operator": "other"}


def test_zookeeper_auth_needs_both_halves(tmp_path: Path) -> None:
    data = good()
    data["zookeeper"]["username"] = "failover"
    assert problems(tmp_path, data) == [
        "zookeeper.username: is set without a password (password or password_file): "
        "ZooKeeper would run without authentication"]
    del data["zookeeper"]["username"]
    data["zookeeper"]["password"] = "zk-secret"
    assert problems(tmp_path, data) == ["zookeeper.password: is set without a username"]
    (tmp_path / "zk").write_text("zk-secret\n")
    data["zookeeper"] = {"username": "failover", "password_file": str(tmp_path / "zk")}
    config = load_config(write(tmp_path, data), env={})
    assert config.zookeeper.password is not None


def test_two_members_with_one_address_are_refused(tmp_path: Path) -> None:
    data = good()
    data["services"][0]["members"][1]["address"] = "127.0.0.1:8001"
    assert problems(tmp_path, data) == [
        "services[0].members[1].address: 127.0.0.1:8001 is also members[0]'s address"]


def test_check_config_reports_every_problem_in_one_pass_in_user_words(tmp_path: Path) -> None:
    """The issue's sequence: after fixing four problems, three more used to appear."""
    data = good()
    service = data["services"][0]
    service["policy"] = {"quorum": "most", "fall": 0}
    service["evacuate_on"] = ["smart"]
    service["windows"] = ["daily 01:00-02:00 UTC", "Sun 02:00", "Mon 25:00-01:00 UTC"]
    service["members"][0]["address"] = "nohostport"
    data["redis"] = {"url": "http://redis:6379"}
    data["api"]["tokens"] = [{"name": "bob", "token": "t1"}, {"name": "bob", "token": "t2"},
                             {"name": "eve", "token": "t3", "roel": "viewer"}]
    data["services"].append(5)
    found = problems(tmp_path, data)
    assert found == [
        "api.tokens: duplicate token name(s): bob",
        "api.tokens[2].roel: unknown key",
        "redis.url: must be redis://, rediss:// or unix://, got 'http://redis:6379'",
        "services[0].evacuate_on[0]: no member has a readiness check named 'smart'",
        "services[0].members[0].address: expected host:port (or [ipv6]:port), got 'nohostport'",
        "services[0].policy.fall: must be from 1 to 100",
        "services[0].policy.quorum: expected 'majority' or a whole number from 1 to 1000",
        "services[0].windows[1]: not a window: 'Sun 02:00' (e.g. 'Sun 02:00-04:00 UTC', "
        "'Mon-Fri 01:00-05:00 UTC', 'daily 23:00-01:00 +01:00')",
        "services[0].windows[2]: 'Mon 25:00-01:00 UTC': 25:00 is not a time of day",
        "services[1]: expected a block of keys (key: value)"]
    text = "\n".join(found)
    for internal in ("constrained-int", "literal[", "instance of", "ServiceConfig",
                     "Input should", "Value error"):
        assert internal not in text


def test_the_override_origin_still_prefixes_refusals(tmp_path: Path) -> None:
    assert problems(tmp_path, GOOD, {"FAILOVER_API__TOKEN": ""}) == [
        "FAILOVER_API__TOKEN: api.token: a token must not be empty or only whitespace"]


def test_seq_goes_to_both_hooks_of_a_member_or_to_neither(tmp_path: Path) -> None:
    data = good()
    member = data["services"][0]["members"][0]
    member["fence"] = {"kind": "exec", "argv": ["/bin/fence", "{epoch}", "{seq}"]}
    member["promote"] = {"kind": "http", "url": "http://127.0.0.1:9000/promote?epoch={epoch}"}
    assert problems(tmp_path, data) == [
        "services[0].members[0].promote: passes no {seq} while fence does: pass {epoch} and "
        "{seq} to both hooks, or {seq} to neither"]
    member["promote"]["url"] += "&seq={seq}"
    load_config(write(tmp_path, data), env={})
    member["fence"]["argv"] = ["/bin/fence", "{epoch}"]
    member["promote"]["headers"] = {"X-Seq": "{seq}"}
    assert problems(tmp_path, data) == [
        "services[0].members[0].fence: passes no {seq} while promote does: pass {epoch} and "
        "{seq} to both hooks, or {seq} to neither"]
