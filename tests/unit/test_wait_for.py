"""sandbox.wait_for: "not answering yet" is waited out; a mistake fails at once."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable

import pytest
import redis.exceptions

from controller.devtools.sandbox import SandboxError, wait_for


def answers_after(failures: int, error: Callable[[], Exception]) -> Callable[[], str]:
    calls = 0

    def predicate() -> str:
        nonlocal calls
        calls += 1
        if calls <= failures:
            raise error()
        return "up"

    return predicate


@pytest.mark.parametrize("error", [
    lambda: ConnectionRefusedError(111, "Connection refused"),
    lambda: TimeoutError("timed out"),
    lambda: http.client.RemoteDisconnected("closed without a response"),
    lambda: json.JSONDecodeError("Expecting value", '{"half', 6),
    lambda: redis.exceptions.ConnectionError("Error 111 connecting"),
    lambda: redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"),
    lambda: SandboxError("not up"),
])
def test_not_answering_yet_is_waited_out(error: Callable[[], Exception]) -> None:
    assert wait_for(answers_after(3, error), 5, "a server", interval=0) == "up"


@pytest.mark.parametrize("error", [
    lambda: KeyError("primray"),
    lambda: AttributeError("'Controller' object has no attribute 'stauts'"),
    lambda: TypeError("'NoneType' object is not subscriptable"),
    lambda: AssertionError("a check inside the predicate"),
    lambda: ValueError("invalid literal for int() with base 10: ''"),
])
def test_a_mistake_in_the_predicate_fails_at_once(error: Callable[[], Exception]) -> None:
    calls: list[None] = []

    def mistaken() -> bool:
        calls.append(None)
        raise error()

    with pytest.raises(type(error())):
        wait_for(mistaken, 30, "a server")
    assert len(calls) == 1  # not tried again, so no time spent towards the 30 s


def test_a_timeout_names_what_and_the_last_error() -> None:
    def refused() -> bool:
        raise ConnectionRefusedError(111, "Connection refused")

    with pytest.raises(SandboxError) as raised:
        wait_for(refused, 0.05, "web a")
    assert str(raised.value) == ("timed out after 0.05s waiting for web a (last error: "
                                 "ConnectionRefusedError: [Errno 111] Connection refused)")
    with pytest.raises(SandboxError) as raised:
        wait_for(lambda: False, 0.05, "web a")
    assert str(raised.value) == "timed out after 0.05s waiting for web a"
