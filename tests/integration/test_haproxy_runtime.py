"""The agent's Runtime API client against a real HAProxy: several commands in one call."""

from __future__ import annotations

import pytest

from controller.devtools.sandbox import Sandbox
from controller.followers.haproxy_agent import HaproxyError, HaproxyRuntime

pytestmark = pytest.mark.integration


async def test_commands_in_one_call_all_run_and_a_refused_one_is_an_error(
        sandbox: Sandbox) -> None:
    # Nothing listens on these: HAProxy starts them up, with no checks configured.
    proxy = sandbox.haproxy("web", {"web-a": "127.0.0.1:9", "web-b": "127.0.0.1:10"})
    runtime = HaproxyRuntime(str(proxy.socket))
    await runtime.commands(["set server web/web-b state maint",
                            "set server web/web-a state ready"])
    assert proxy.serving("web") == {"web-a"}

    # The first answers with text of its own ("IP changed from ..."): the refusal after it
    # is found all the same.
    with pytest.raises(HaproxyError, match="nope"):
        await runtime.commands(["set server web/web-b addr 127.0.0.1 port 11",
                                "set server web/web-b state ready",
                                "set server web/nope state maint"])
    # The ones before the refused command ran: each is idempotent, the read-back repairs.
    assert proxy.serving("web") == {"web-a", "web-b"}
