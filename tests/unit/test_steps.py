"""One Step type for failover and switchover steps, and its JSON."""

from __future__ import annotations

import pytest

from controller.core.steps import Step, as_dicts, passes_failed_fence
from controller.core.switchover import Phase, Switchover


def test_a_step_is_written_with_the_fields_that_are_set_and_read_back() -> None:
    fence = Step(step="fence", member="web-a", ok=False, ms=2.5, detail="refused")
    assert fence.as_dict() == {"step": "fence", "member": "web-a", "ok": False, "ms": 2.5,
                               "detail": "refused"}
    assert Step.from_dict(fence.as_dict()) == fence
    assert as_dicts([Step("verify_epoch", ms=0.4)]) == [{"step": "verify_epoch", "ms": 0.4}]


def test_a_stored_switchover_step_reads_back_whatever_its_nulls_and_extra_keys() -> None:
    stored = {"step": "committing", "member": "b", "ok": True, "ms": None, "detail": "x",
              "epoch": 7, "at": 12.5, "later": "ignored"}
    assert Step.from_dict(stored) == Step("committing", "b", True, None, "x", 7, 12.5)


def test_a_switchover_record_keeps_its_steps_through_json() -> None:
    record = Switchover(id="sw-1", service="web", requested_by="operator:alice",
                        requested_at=1.0, phase=Phase.DONE,
                        steps=(Step("fencing", "a", True, 1.0, "", 7, 2.0),
                               Step("committing", "b", True, None, "route -> b", 7, 3.0)))
    assert Switchover.from_json(record.to_json()) == record
    timed = record.with_last_step(4.5, "route -> b; ZooKeeper 3 ms")
    assert timed.steps[-1] == Step("committing", "b", True, 4.5, "route -> b; ZooKeeper 3 ms",
                                   7, 3.0)
    assert record.with_last_step(None).steps[-1].detail == "route -> b"


@pytest.mark.parametrize("raw", [{}, {"step": 3}, {"member": "a"}])
def test_what_is_not_a_step_is_refused(raw: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"^not a step: "):
        Step.from_dict(raw)


def test_a_failed_fence_is_passed_only_when_the_member_is_silent_or_forced() -> None:
    assert passes_failed_fence(still_answers=False)
    assert not passes_failed_fence(still_answers=True)
    assert passes_failed_fence(still_answers=True, forced=True)
