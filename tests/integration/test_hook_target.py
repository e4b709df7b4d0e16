"""The toy member as a hook target should behave (README, "Hook targets check the fencing
token too"): it refuses a lower (epoch, seq) than it accepted, a slow hook does not undo a
newer one that was applied while it waited, and a restart remembers the pair."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request

import pytest

from controller.devtools.members import Web
from controller.devtools.sandbox import Sandbox, wait_for

pytestmark = pytest.mark.integration


def send(web: Web, call: str, epoch: int, seq: int) -> int:
    request = urllib.request.Request(f"{web.url}/{call}?epoch={epoch}&seq={seq}", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return refused.code


def writes(web: Web) -> int:
    """A write's status: 503 while the member is fenced, 200 while it acts as primary."""
    try:
        with urllib.request.urlopen(urllib.request.Request(web.url + "/", data=b"x"),
                                    timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return refused.code


def test_a_lower_pair_is_refused_and_remembered_across_a_restart(sandbox: Sandbox) -> None:
    web = sandbox.web("a")
    assert send(web, "promote", 3, 7) == 200
    assert send(web, "fence", 3, 6) == 409  # the same leader's earlier hook, crossed
    assert send(web, "fence", 2, 99) == 409  # a deposed leader's
    assert writes(web) == 200
    web.restart()
    assert send(web, "fence", 3, 6) == 409
    assert send(web, "fence", 4, 1) == 200  # the next leader's first hook
    assert writes(web) == 503


def test_a_slow_promote_does_not_undo_the_fence_that_followed_it(sandbox: Sandbox) -> None:
    """The crossing the simulation found: the leader's promote times out while the member
    is slow to apply it, the leader fences the member, and then the promote completes."""
    web = sandbox.web("b")
    assert send(web, "fence", 5, 1) == 200
    web.control(hook_delay=1.0)
    slow: list[int] = []
    promote = threading.Thread(target=lambda: slow.append(send(web, "promote", 5, 2)))
    promote.start()
    wait_for(lambda: len(web.calls("promote")) == 1, 5, "the promote to arrive")
    web.control(hook_delay=0.0)
    assert send(web, "fence", 5, 3) == 200
    promote.join(10)
    assert slow == [409]  # superseded: it was not applied
    assert writes(web) == 503  # still fenced
