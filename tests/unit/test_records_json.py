"""What the core writes to ZooKeeper and shows through the API reads back as it was, and
anything else is refused: the decision, the pause, the requests' bounds, the answers' dicts."""

from __future__ import annotations

import pytest

from controller.core.decide import Action, Check, Decision, Reason
from controller.core.errors import ErrorKind, RequestError
from controller.core.evacuate import EvacReason, Evacuation
from controller.core.records import Decided, Pause, RecordError
from controller.core.switchover import Phase, Switchover
from controller.core.timespec import pause_length, schedule_at

DECIDED = Decided(primary="b", address="127.0.0.1:8081", epoch=4, version=9,
                  reason="failover", updated_at=12.5, unfenced=("a", "c"),
                  last_recovery_end=12.0)


def test_a_decision_and_a_pause_read_back_as_written_and_garbage_is_refused() -> None:
    assert Decided.from_json(DECIDED.to_json()) == DECIDED
    assert Decided.from_json(b'{"primary": "a", "address": "x:1", "epoch": 1, "version": 1, '
                             b'"reason": "initial", "updated_at": 1.0}').unfenced == ()
    for pause in (Pause("operator:alice", 10.0, 70.0), Pause("operator:bob", 10.0)):
        assert Pause.from_json(pause.to_json()) == pause
    for raw, kind in ((b"{", "decision"), (b'{"primary": "a"}', "decision")):
        with pytest.raises(RecordError, match=f"not a {kind} record: b'"):
            Decided.from_json(raw)
    for raw in (b"[", b'{"by": "x"}'):
        with pytest.raises(RecordError, match="not a pause record: b'"):
            Pause.from_json(raw)


def test_schedules_and_pauses_are_bounded() -> None:
    now = 1_000_000.0
    assert schedule_at("+15m", now) == now + 900
    assert schedule_at(now + 60, now) == now + 60
    assert schedule_at(now - 5, now) == now - 5  # a slow request: still now
    assert schedule_at(now + 90 * 86400, now) == now + 90 * 86400
    for bad in (now - 5.5, now + 90 * 86400 + 1, float("nan")):
        with pytest.raises(ValueError, match="is not between now and 90 days ahead"):
            schedule_at(bad, now)
    with pytest.raises(ValueError, match="is out of range"):
        schedule_at(10**400, now)
    assert pause_length("1h") == 3600.0 and pause_length(30 * 86400) == 30 * 86400
    assert pause_length(0.5) == 0.5
    for bad_length in (0, -1, 30 * 86400 + 1, float("nan")):
        with pytest.raises(ValueError, match=r"^must be above 0 and at most 30 days$"):
            pause_length(bad_length)


def test_answers_as_the_api_shows_them() -> None:
    decision = Decision(Action.WAIT, Reason.COOLDOWN, "b", ("c",), 70.0, {"primary": "a"})
    assert decision.as_dict() == {"action": "wait", "reason": "cooldown", "target": "b",
                                  "fallbacks": ["c"], "wake_at": 70.0,
                                  "evidence": {"primary": "a"}}
    check = Check("cooldown", False, Reason.COOLDOWN, {"cooldown_until": 70.0}, 70.0)
    assert check.as_dict() == {"check": "cooldown", "ok": False, "reason": "cooldown",
                               "until": 70.0, "evidence": {"cooldown_until": 70.0}}
    assert Check("mode", True).as_dict()["reason"] is None
    evacuation = Evacuation(EvacReason.EVACUATE, "b", None, {"primary": "a"})
    assert evacuation.as_dict() == {"reason": "evacuate", "act": True, "target": "b",
                                    "wake_at": None, "evidence": {"primary": "a"}}
    record = Switchover(id="0001", service="web", requested_by="operator:alice",
                        requested_at=1.0, phase=Phase.DONE, unfenced=("a",))
    shown = record.as_dict()
    assert (shown["id"], shown["phase"], shown["unfenced"]) == ("0001", "done", ["a"])
    error = RequestError(ErrorKind.REFUSED, "busy", {"pending": "0001"})
    assert (str(error), error.kind, error.error, error.detail) == (
        "busy", ErrorKind.REFUSED, "busy", {"pending": "0001"})
