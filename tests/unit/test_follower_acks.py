"""What followers say they applied, read as input, with literal times."""

from __future__ import annotations

import json

import pytest

from controller.followers.acks import (
    Ack,
    Awaiting,
    BadAck,
    followers_applied,
    parse_ack,
    parse_acks,
    required,
    shown,
)

T = 1_700_000_000.0


def ack(name: str, version: int, at: float = T, confirmed: bool = True,
        heartbeat: float | None = None, epoch: int = 3) -> Ack:
    return Ack(name, version, epoch, at, confirmed, at if heartbeat is None else heartbeat)


def test_an_ack_reads_back_as_written() -> None:
    a = ack("haproxy-1:42", 7, T + 0.25)
    assert parse_ack(a.follower, a.encode()) == a


@pytest.mark.parametrize("name, value", [
    ("a", "not json"),
    ("a", "[1]"),
    ("a", json.dumps({"version": 1, "epoch": 1, "at": T, "confirmed": True})),
    ("a", json.dumps({"version": -1, "epoch": 1, "at": T, "confirmed": True, "heartbeat": T})),
    ("a", json.dumps({"version": 1.5, "epoch": 1, "at": T, "confirmed": True, "heartbeat": T})),
    ("a", json.dumps({"version": True, "epoch": 1, "at": T, "confirmed": True,
                      "heartbeat": T})),
    ("a", json.dumps({"version": 1, "epoch": 1, "at": T, "confirmed": "yes",
                      "heartbeat": T})),
    ("a", '{"version": 1, "epoch": 1, "at": NaN, "confirmed": true, "heartbeat": 1}'),
    ("a", '{"version": 1, "epoch": 1, "at": 1e400, "confirmed": true, "heartbeat": 1}'),
    ("a", "[" * 100_000),
    ("bad name\n", ack("x", 1).encode()),
    ("", ack("x", 1).encode()),
])
def test_what_no_follower_writes_is_refused(name: str, value: str) -> None:
    with pytest.raises(BadAck):
        parse_ack(name, value)


def test_garbage_fields_are_counted_and_the_rest_kept() -> None:
    good = ack("h1", 4)
    acks, refused = parse_acks({"h1": good.encode(), "h2": "garbage", "h 3": good.encode()})
    assert acks == [good]
    assert len(refused) == 2


def test_lag_from_the_route_write_to_the_apply_and_to_now_while_behind() -> None:
    route = (5, T)
    now = T + 3.0
    caught_up, behind = shown([ack("a", 5, T + 0.04, heartbeat=T + 2.5),
                               ack("b", 4, T - 100, heartbeat=T + 2.5)], route, now)
    assert (caught_up.behind, caught_up.stale, caught_up.lag) == (False, False,
                                                                  pytest.approx(0.04))
    assert caught_up.well
    assert (behind.behind, behind.lag) == (True, pytest.approx(3.0))
    assert not behind.well


def test_a_heartbeat_older_than_the_budget_is_stale_and_an_hour_old_one_is_gone() -> None:
    a = ack("a", 5, T, heartbeat=T)
    assert not shown([a], (5, T), T + 10.0)[0].stale
    assert shown([a], (5, T), T + 10.1)[0].stale
    assert shown([a], (5, T), T + 3600.0) != []
    assert shown([a], (5, T), T + 3600.1) == []


def test_a_follower_clock_ahead_or_no_route_gives_no_negative_lag() -> None:
    assert shown([ack("a", 5, T - 1)], (5, T), T)[0].lag == 0.0
    assert shown([ack("a", 5)], None, T)[0].lag is None


def test_required_is_the_configured_list_or_every_follower_seen_in_the_last_minute() -> None:
    acks = [ack("a", 1, heartbeat=T), ack("b", 1, heartbeat=T - 61)]
    assert required(acks, None, T) == {"a"}
    assert required(acks, ["b", "c"], T) == {"b", "c"}


def test_followers_applied_names_who_did_not() -> None:
    acks = [ack("a", 6, T + 0.1, heartbeat=T + 1), ack("b", 5, heartbeat=T + 1),
            ack("c", 6, T + 0.2, confirmed=False, heartbeat=T + 1),
            ack("d", 6, T + 0.1, heartbeat=T - 20)]
    assert followers_applied(acks, 6, T + 2, 10.0, ["a"]) == (True, ())
    assert followers_applied(acks, 6, T + 2, 10.0, ["a", "b", "c", "d", "e"]) == (
        False, ("b", "c", "d", "e"))
    assert followers_applied([], 6, T, 10.0, []) == (True, ())


def test_a_route_change_settles_when_every_follower_applied_it_or_at_the_deadline() -> None:
    waiting = Awaiting(version=6, route_at=T)
    a_done = ack("a", 6, T + 0.05, heartbeat=T + 0.05)
    b_old = ack("b", 5, T - 50, heartbeat=T + 0.05)
    assert waiting.settled([a_done, b_old], {"a", "b"}, T + 1) is None
    done = waiting.settled([a_done, ack("b", 6, T + 0.2, heartbeat=T + 0.2)], {"a", "b"},
                           T + 1)
    assert done is not None and done.lagging == ()
    assert done.took == {"a": pytest.approx(0.05), "b": pytest.approx(0.2)}
    late = waiting.settled([a_done, b_old], {"a", "b"}, T + 30)
    assert late is not None and late.lagging == ("b",) and set(late.took) == {"a"}
    assert "not applied after 30s by b" in late.message()
