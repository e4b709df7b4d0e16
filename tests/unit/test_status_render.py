"""What `failoverctl status` shows a person, from literal status data."""

from __future__ import annotations

from controller.cli.answers import Status
from controller.cli.status import headline, status_rows


def status(paused: bool, redundant: bool) -> Status:
    return Status.model_validate({"services": {"web": {
        "primary": "web-a", "mode": "paused" if paused else "auto", "redundant": redundant,
        "paused": {"by": "operator:alice", "until": None} if paused else None,
        "switchovers": [], "evacuation": {"reason": "no_condition"},
        "members": {
            "web-a": {"health": "down", "latency_ms": 500.2, "ready": True},
            "web-b": {"health": "healthy", "latency_ms": 1.3, "ready": True},
            "web-c": {"health": "healthy", "latency_ms": 1.1, "ready": True,
                      "unfenced": True}}}}})


def test_a_paused_service_whose_primary_is_down_says_so_loudly() -> None:
    _, notes = status_rows(status(paused=True, redundant=True))
    assert any(n.startswith("web: PAUSED WITH THE PRIMARY web-a DOWN: nothing fails over")
               for n in notes), notes
    _, calm = status_rows(status(paused=False, redundant=True))
    assert not any("PAUSED" in n for n in calm)


def test_down_members_show_no_latency_and_fences_awaited_are_marked() -> None:
    rows, notes = status_rows(status(paused=False, redundant=True))
    by_member = {row[3].strip("* "): row for row in rows[1:]}
    assert by_member["web-a"][4:] == ("down", "yes", "-")
    assert by_member["web-b"][6] == "1.3ms"
    assert by_member["web-c"][4] == "healthy, awaiting fence"
    assert any("web-c awaits a fence" in n for n in notes)


def test_redundancy_is_always_said() -> None:
    _, notes = status_rows(status(paused=False, redundant=True))
    assert "web: redundant: a healthy, ready standby could take over" in notes
    _, notes = status_rows(status(paused=False, redundant=False))
    assert "web: NOT REDUNDANT: no healthy, ready standby could take over" in notes


def test_a_primary_degraded_by_its_primary_probe_is_marked() -> None:
    rows, _ = status_rows(Status.model_validate({"services": {"web": {
        "primary": "web-a", "mode": "auto", "redundant": True, "paused": None,
        "switchovers": [], "evacuation": {"reason": "no_condition"},
        "members": {
            "web-a": {"health": "degraded", "latency_ms": 1.0, "primary_probe": "degraded"},
            "web-b": {"health": "healthy", "latency_ms": 1.0, "primary_probe": "standby"}}}}}))
    by_member = {row[3].strip("* "): row for row in rows[1:]}
    assert by_member["web-a"][4] == "degraded (primary_probe)"
    assert by_member["web-b"][4] == "healthy"


def test_the_headline_says_whose_view_it_is_and_each_store_that_is_out() -> None:
    calm = Status.model_validate({
        "node": "c1", "leader": False, "leader_node": "c0", "epoch": 4, "services": {},
        "session": "connected", "can_act": False, "why_not": ["not_leader"],
        "stores": {"zookeeper": {"ok": True, "state": "connected"},
                   "redis": {"ok": True, "state": "reachable"}}})
    assert headline(calm) == [
        "leader c0  epoch 4  (asked c1; health and votes below are c1's view)"]
    out = Status.model_validate({
        "node": "c0", "leader": True, "leader_node": "c0", "epoch": 4, "services": {},
        "session": "suspended", "can_act": False,
        "why_not": ["zookeeper_unavailable", "redis_unreachable"],
        "stores": {"zookeeper": {"ok": False, "state": "suspended", "out_seconds": 12.34,
                                 "out_since": 0},
                   "redis": {"ok": False, "state": "unreachable", "out_seconds": 3,
                             "error": "Connection refused"}}})
    assert headline(out)[1:] == [
        "c0 holds the leadership but its ZooKeeper session is SUSPENDED: it cannot act "
        "until it reconnects",
        "ZOOKEEPER OUT for 12.3 s since 1970-01-01 00:00:00 UTC at c0 (session suspended): "
        "no decision can be committed from this replica",
        "REDIS OUT for 3.0 s at c0 (Connection refused): decisions are kept in ZooKeeper; "
        "routes are published once it is back",
        "c0 cannot act now: zookeeper_unavailable, redis_unreachable"]


def test_a_split_view_says_why_nothing_happens_with_each_replicas_verdict() -> None:
    split = Status.model_validate({"node": "c0", "services": {"web": {
        "primary": "web-a", "mode": "auto", "redundant": True, "split_view": True,
        "quorum": 2, "members": {
            "web-a": {"health": "degraded", "views": {"c0": "degraded", "c1": "healthy"}},
            "web-b": {"health": "healthy"}}}}})
    _, notes = status_rows(split)
    assert ("web: SPLIT VIEW: the primary web-a is failing for c0 but too few replicas "
            "agree (2 needed; c0 degraded, c1 healthy): nothing fails over") in notes
    _, calm = status_rows(status(paused=False, redundant=True))
    assert not any("SPLIT VIEW" in n for n in calm)


FOLLOWERS = [
    {"name": "haproxy-1", "version": 7, "confirmed": True, "behind": False, "stale": False,
     "lag_s": 0.012, "heartbeat_age_s": 1.0},
    {"name": "haproxy-2", "version": 6, "confirmed": True, "behind": True, "stale": False,
     "lag_s": 4.25, "heartbeat_age_s": 1.0},
    {"name": "app-1:77", "version": 7, "confirmed": True, "behind": False, "stale": True,
     "lag_s": 0.03, "heartbeat_age_s": 42.0},
    {"name": "haproxy-3", "version": 7, "confirmed": False, "behind": False, "stale": False,
     "lag_s": 0.02, "heartbeat_age_s": 1.0},
    {"name": "haproxy-4", "missing": True, "behind": True, "stale": True},
]


def test_one_line_per_follower_behind_stale_unconfirmed_or_never_heard_from() -> None:
    answer = status(paused=False, redundant=True).model_dump()
    web = answer["services"]["web"]
    web.update(version=7, followers=FOLLOWERS, followers_refused=2)
    _, notes = status_rows(Status.model_validate(answer))
    followers = [n for n in notes if "follower" in n]
    assert followers == [
        "web: follower haproxy-2 at version 6 of 7, BEHIND for 4.2 s",
        "web: follower app-1:77 at version 7 of 7, applied 0.030 s after the route's write, "
        "STALE: last heard 42 s ago",
        "web: follower haproxy-3 at version 7 of 7, applied 0.020 s after the route's write, "
        "NOT CONFIRMED by its proxy",
        "web: follower haproxy-4 NEVER HEARD FROM (configured: it must apply every route)",
        "web: 2 field(s) of the applied hash are not what a follower writes: ignored",
    ]
