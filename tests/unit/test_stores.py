"""What a replica says of its stores: since when one is out, and whether it can act."""

from __future__ import annotations

from controller.core.stores import (
    Blocker,
    Link,
    Store,
    Stores,
    acting,
    redis_link,
    session_link,
    stores_check,
)


def test_an_outage_is_dated_from_its_first_report_across_session_states() -> None:
    zk = session_link(Link(Store.ZOOKEEPER), "CONNECTING", 0.0)
    assert (zk.ok, zk.out_since, zk.last_ok) == (False, 0.0, None)
    zk = session_link(zk, "CONNECTED", 1.0)
    assert (zk.ok, zk.state, zk.out_for(5.0)) == (True, "connected", 0.0)
    zk = session_link(zk, "SUSPENDED", 10.0)
    zk = session_link(zk, "LOST", 16.0)
    # One outage: SUSPENDED then LOST; the state's own date moves, the outage's does not.
    assert (zk.state, zk.since, zk.out_since, zk.last_ok) == ("lost", 16.0, 10.0, 10.0)
    assert zk.out_for(33.0) == 23.0
    assert zk.as_dict(33.0)["error"] == "session lost"
    zk = session_link(zk, "CONNECTED", 34.0)
    assert (zk.ok, zk.out_since, zk.out_for(34.0), zk.error) == (True, None, 0.0, None)


def test_an_unchanged_state_keeps_its_dates() -> None:
    redis = redis_link(Link(Store.REDIS), False, "refused", 3.0)
    redis = redis_link(redis, False, "timeout", 4.0)
    assert (redis.since, redis.out_since, redis.error) == (3.0, 3.0, "timeout")
    redis = redis_link(redis, True, None, 5.0)
    redis = redis_link(redis, True, None, 6.0)
    assert (redis.since, redis.as_dict(9.0)["last_ok"]) == (5.0, 9.0)


def test_a_leader_cut_off_from_a_store_cannot_act() -> None:
    up = Stores(session_link(Link(Store.ZOOKEEPER), "CONNECTED", 0.0),
                redis_link(Link(Store.REDIS), True, None, 0.0))
    assert acting(up, holds_epoch=True, in_office=True).as_dict() == {
        "can_act": True, "why_not": []}
    assert acting(up, holds_epoch=False, in_office=False).blockers == (Blocker.NOT_LEADER,)
    assert acting(up, holds_epoch=True, in_office=False).blockers == (Blocker.TAKING_OFFICE,)
    suspended = Stores(session_link(up.zookeeper, "SUSPENDED", 1.0),
                       redis_link(up.redis, False, "refused", 1.0))
    assert acting(suspended, holds_epoch=True, in_office=True).blockers == (
        Blocker.ZOOKEEPER_OUT, Blocker.REDIS_OUT)


def test_explain_names_the_store_that_is_out() -> None:
    up = Stores(session_link(Link(Store.ZOOKEEPER), "CONNECTED", 0.0),
                redis_link(Link(Store.REDIS), True, None, 0.0))
    assert stores_check(up, 1.0).as_dict()["ok"] is True
    redis_out = Stores(up.zookeeper, redis_link(up.redis, False, "refused", 2.0))
    check = stores_check(redis_out, 4.5).as_dict()
    assert (check["check"], check["ok"], check["reason"]) == (
        "stores_reachable", False, "redis_unreachable")
    assert check["evidence"] == {"zookeeper": {"state": "connected", "out_seconds": 0.0},
                                 "redis": {"state": "unreachable", "out_seconds": 2.5,
                                           "error": "refused"}}
    both = Stores(session_link(up.zookeeper, "SUSPENDED", 3.0), redis_out.redis)
    assert stores_check(both, 4.0).reason is Blocker.ZOOKEEPER_OUT
