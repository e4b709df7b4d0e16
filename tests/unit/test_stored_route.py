"""What the leader makes of the route it finds in Redis: literal values, no stores."""

from __future__ import annotations

import pytest

from controller.core.stored_route import Answer, Forgery, Judged, judge, unconfigured, whole

OURS, DECIDED = 7, 3  # our epoch, our decision's version


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e5", "+3", "3.0", " 3", "-1", "",
                                  "0x10", "٣", "99999999999999999", str(2**53 + 1)])
def test_an_epoch_or_version_no_leader_writes_is_repaired_without_asking(text: str) -> None:
    for epoch, version in ((text, "3"), ("7", text)):
        assert judge(epoch, version, True, OURS, DECIDED) == \
            Judged(Answer.REPAIR, Forgery.NOT_A_WHOLE_NUMBER)
    assert whole(text) is None


def test_other_fields_no_controller_writes_are_repaired() -> None:
    assert judge("7", "3", False, OURS, DECIDED) == Judged(Answer.REPAIR, Forgery.NOT_A_ROUTE)


def test_our_epoch_or_an_older_one_is_the_usual_case() -> None:
    for epoch in ("0", "6", "7"):
        assert judge(epoch, "3", True, OURS, DECIDED) == Judged(Answer.KEEP)


def test_a_newer_epoch_is_judged_by_what_zookeeper_handed_out() -> None:
    assert judge("8", "3", True, OURS, DECIDED) == Judged(Answer.ASK_ZOOKEEPER)
    # A real newer leader: ZooKeeper handed out epoch 8 (or more) since ours.
    assert judge("8", "3", True, OURS, DECIDED, newest=8) == Judged(Answer.STEP_DOWN)
    assert judge("8", "9", True, OURS, DECIDED, newest=9) == Judged(Answer.STEP_DOWN)
    # No leader ever held it.
    assert judge("99999999999999", "3", True, OURS, DECIDED, newest=7) == \
        Judged(Answer.REPAIR, Forgery.ABOVE_NEWEST_EPOCH)


def test_an_impossible_epoch_with_a_newer_version_is_an_alarm_not_a_repair() -> None:
    """What Redis holds after ZooKeeper lost its data and counts epochs from 1 again: its
    route may be the truth the rebuilt decision lacks, so it is not overwritten."""
    assert judge("12", "5", True, 1, DECIDED, newest=1) == \
        Judged(Answer.ALARM, Forgery.ABOVE_NEWEST_EPOCH)


def test_a_decision_is_published_only_for_a_configured_member_at_its_address() -> None:
    members = {"web-a": "10.0.0.1:80", "web-b": "10.0.0.2:80"}
    assert unconfigured("web-b", "10.0.0.2:80", members) is None
    assert unconfigured("not-a-member", "203.0.113.66:80", members) is Forgery.NOT_A_MEMBER
    assert unconfigured("web-b", "203.0.113.66:80", members) is \
        Forgery.NOT_THE_MEMBERS_ADDRESS
