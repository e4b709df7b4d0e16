"""Route following and HAProxy planning, pure."""

from __future__ import annotations

from controller.follower import (
    Following,
    Route,
    ServerState,
    parse_servers_state,
    plan_haproxy,
)

A1 = Route("web-a", "10.0.0.1:80", epoch=1, version=1)
B2 = Route("web-b", "10.0.0.2:80", epoch=1, version=2)
B2_REFENCED = Route("web-b", "10.0.0.2:80", epoch=2, version=2)


def test_only_newer_routes_are_applied() -> None:
    state, apply = Following().offer(A1)
    assert apply and state.applied == A1
    state, apply = state.offer(B2)
    assert apply and state.applied == B2
    for old in (A1, B2, None):
        assert state.offer(old) == (state, False)
    state, apply = state.offer(B2_REFENCED)  # same route, newer writer
    assert apply and state.applied == B2_REFENCED
    assert state.offer(Route("web-a", "x:1", epoch=1, version=9)) == (state, False)


def test_staleness_counts_from_the_last_answer() -> None:
    assert Following().staleness(5.0) is None
    assert Following().heard(2.0).staleness(5.0) == 3.0


def test_parse_messages_and_hashes() -> None:
    assert Route.from_message('{"primary": "a", "address": "h:1", "epoch": 3, '
                              '"version": 4, "reason": "failover"}') == Route("a", "h:1", 3, 4,
                                                                              "failover")
    assert Route.from_message("not json") is None
    assert Route.parse({"primary": "a"}) is None


SHOW = """1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight ...
3 web 1 web-a 127.0.0.1 2 0 1 1 0 1 0 2 0 0 0 0 - 18081 - 0 0 - - 0
3 web 2 web-b 127.0.0.1 0 1 1 1 0 1 0 0 0 0 0 0 - 18082 - 0 0 - - 0
"""


def test_parse_servers_state_from_haproxy() -> None:
    assert parse_servers_state(SHOW) == [ServerState("web-a", "127.0.0.1:18081", True),
                                         ServerState("web-b", "127.0.0.1:18082", False)]


def test_plan_named_servers() -> None:
    servers = parse_servers_state(SHOW)
    members = frozenset({"web-a", "web-b"})
    assert plan_haproxy("web", servers, B2, members) == [
        "set server web/web-b state ready", "set server web/web-a state maint"]
    assert plan_haproxy("web", servers, A1, members) == []  # already so: nothing to send
    assert plan_haproxy("web", servers, B2, members, shutdown_old=True)[-1] == \
        "shutdown sessions server web/web-a"


def test_plan_single_server_takes_the_address() -> None:
    servers = [ServerState("app", "10.0.0.1:80", True)]
    assert plan_haproxy("be", servers, B2, frozenset()) == [
        "set server be/app addr 10.0.0.2 port 80"]
    assert plan_haproxy("be", [ServerState("app", "10.0.0.2:80", True)], B2, frozenset()) == []
