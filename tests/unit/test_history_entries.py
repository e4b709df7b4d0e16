"""History entries through Redis's strings and back: each field's JSON type survives, older
entries (every value a string) read the same, and a wrong field is refused at the writer."""

from __future__ import annotations

import json

import pytest

from controller.core.history import FailedAttempts, decode, encode
from controller.daemon.leadership import Predecessor, predecessor


def test_every_kind_reads_back_as_its_json_type() -> None:
    fields = {"event": "switchover_failed", "at": 1767225600.125, "epoch": 7, "node": "c1",
              "by": "operator:alice", "primary": "web-a", "source": "web-a",
              "target": "web-b", "reason": "verification_failed", "rolled_back": True,
              "force": False, "message": "web-b degraded: status 500",
              "steps": [{"step": "fencing", "ms": 1.5}],
              "evidence": {"members": {"web-b": {"health": "healthy"}}}}
    stored = encode(fields)
    assert all(isinstance(v, str) for v in stored.values())
    assert decode(stored) == fields


def test_text_that_looks_like_json_stays_text() -> None:
    # A member or request named like a number or a boolean is still a string.
    fields = {"member": "42", "request": "true", "message": "{not an object}"}
    assert decode(encode(fields)) == fields


def test_none_is_left_out() -> None:
    assert encode({"event": "paused", "until": None, "epoch": None}) == {"event": "paused"}


def test_detail_is_an_object_not_a_string_holding_json() -> None:
    detail = {"origin": "failover", "trigger": "auto", "steps": [{"step": "commit", "ms": 2.0}]}
    assert decode(encode({"detail": detail}))["detail"] == detail


def test_entries_written_as_strings_still_read() -> None:
    # As the Lua script writes route_changed, and as history was written before types.
    old = {"event": "route_changed", "primary": "web-b", "previous": "", "epoch": "3",
           "version": "2", "at": "1767225600.125", "reason": "failover",
           "detail": json.dumps({"trigger": "auto"}), "force": "true",
           "rolled_back": "false", "scheduled_for": "", "why": "fence_failed", "to": "web-b",
           "steps": "[]"}
    assert decode(old) == {
        "event": "route_changed", "primary": "web-b", "previous": None, "epoch": 3,
        "version": 2, "at": 1767225600.125, "reason": "failover",
        "detail": {"trigger": "auto"}, "force": True, "rolled_back": False,
        "scheduled_for": None, "why": "fence_failed", "to": "web-b", "steps": []}


def test_an_unparsable_value_is_answered_as_the_string_it_is() -> None:
    old = {"epoch": "seven", "force": "yes", "detail": "fence hook: status 500",
           "someday": "a field nobody knows"}
    assert decode(old) == old


@pytest.mark.parametrize(("fields", "said"), [
    ({"to": "web-b"}, "history field 'to' is not one of history's fields"),
    ({"epoch": "7"}, "history field 'epoch' holds str, not number"),
    ({"force": "true"}, "history field 'force' holds str, not bool"),
    ({"attempts": True}, "history field 'attempts' holds bool, not number"),
    ({"member": 1}, "history field 'member' holds int, not text"),
])
def test_the_writer_refuses_a_field_of_the_wrong_name_or_kind(
        fields: dict[str, object], said: str) -> None:
    with pytest.raises(ValueError, match=said):
        encode(fields)


def test_a_failing_late_fence_is_reported_first_then_at_most_once_per_interval() -> None:
    tally, reported = FailedAttempts(), []
    for now in (100.0, 105.0, 110.0, 399.0, 400.0, 405.0, 700.0):
        tally, report = tally.failed(now, every=300.0)
        if report:
            reported.append((now, tally.count))
    assert reported == [(100.0, 1), (400.0, 5), (700.0, 7)]


def test_the_predecessor_is_the_newest_epoch_seen_below_ours() -> None:
    ours = {"epoch": 5, "node": "c2"}
    before = {"epoch": 4, "node": "c1"}
    # The watch may already show our own epoch: the one before it is the predecessor.
    assert predecessor((ours, before), 5) == Predecessor("c1", 4)
    assert predecessor((before, {}), 5) == Predecessor("c1", 4)
    # A replica that saw epoch 2 only: the epoch says that some were missed.
    assert predecessor(({"epoch": 2, "node": "c0"}, {}), 5) == Predecessor("c0", 2)
    assert predecessor(({}, {}), 1) == Predecessor(None, None)


def test_a_strangers_entry_decodes_to_json_values_only() -> None:
    """NaN and Infinity are not JSON, and nesting deeper than the parser goes is no crash:
    each such value is answered as the text it is."""
    nested = "[" * 100_000
    entry = decode({"epoch": "NaN", "at": "-Infinity", "detail": nested,
                    "decision": '{"x": NaN}'})
    assert entry == {"epoch": "NaN", "at": "-Infinity", "detail": nested,
                     "decision": '{"x": NaN}'}


def test_fields_after_a_none_and_odd_values_in_stored_entries() -> None:
    assert encode({"until": None, "event": "paused", "epoch": 3}) == {"event": "paused",
                                                                        "epoch": "3"}
    # A number field that holds something else stays the text it was; an unknown field
    # (written by a newer version) is text, whatever it looks like.
    assert decode({"epoch": "[1]", "newer_field": "42"}) == {"epoch": "[1]",
                                                             "newer_field": "42"}
