"""What environment an exec hook gets, and what its config may add."""

from __future__ import annotations

import pytest

from config import ConfigError, parse_config
from config.models import ExecActionConfig
from controller.adapters.hooks import DEFAULT_PATH, hook_environment
from tests.unit.test_config import GOOD


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
