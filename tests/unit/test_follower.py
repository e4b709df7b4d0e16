"""Route following and HAProxy planning, pure."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.followers.route import (
    Admin,
    BadRoute,
    Fault,
    Following,
    OpState,
    Route,
    ServerState,
    Wrong,
    parse_servers_state,
    plan_haproxy,
    repair_commands,
    verify_haproxy,
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


# `show servers state web` from HAProxy 2.6 running examples/haproxy.cfg (web-b `disabled`).
HEADER = ("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
          "srv_iweight srv_time_since_last_change srv_check_status srv_check_result "
          "srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id "
          "srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr "
          "srv_agent_addr srv_agent_port\n")
SHOW = HEADER + """3 web 1 web-a 127.0.0.1 2 0 1 1 1 1 0 2 0 0 0 0 - 18181 - 0 0 - - 0
3 web 2 web-b 127.0.0.1 0 5 1 1 1 1 0 0 8 0 0 0 - 18182 - 0 0 - - 0

"""
# The same HAProxy after `set server web/web-b state ready` then `... web-a state maint`:
# `ready` clears FMAINT only, and web-b takes traffic with CMAINT (4) still shown.
SHOW_B_READY = HEADER + """3 web 1 web-a 127.0.0.1 0 1 1 1 0 1 0 0 0 0 0 0 - 18181 - 0 0 - - 0
3 web 2 web-b 127.0.0.1 2 4 1 1 0 1 0 0 8 0 0 0 - 18182 - 0 0 - - 0
"""
MEMBERS = frozenset({"web-a", "web-b"})
A = Route("web-a", "127.0.0.1:18181", epoch=1, version=3)
B = Route("web-b", "127.0.0.1:18182", epoch=1, version=2)


def show(*servers: tuple[str, int, int]) -> str:
    """`show servers state` text with (name, srv_op_state, srv_admin_state) per server."""
    return HEADER + "".join(
        f"3 web {i} {name} 127.0.0.1 {op} {admin} 1 1 0 1 0 0 0 0 0 0 - {18180 + i} - 0 0 - - 0\n"
        for i, (name, op, admin) in enumerate(servers, start=1))


def test_parse_servers_state_from_haproxy() -> None:
    assert parse_servers_state(SHOW) == [
        ServerState("web-a", "127.0.0.1:18181", OpState.RUNNING, Admin(0)),
        ServerState("web-b", "127.0.0.1:18182", OpState.STOPPED, Admin.FMAINT | Admin.CMAINT)]
    assert parse_servers_state(SHOW_B_READY)[1].admin == Admin.CMAINT
    assert parse_servers_state("Can't find backend.\n") == []


def test_parse_refuses_a_line_it_cannot_read() -> None:
    # Leaving a server out would let a server that takes traffic go unseen.
    for bad in (HEADER + "3 web 1 web-a 127.0.0.1 2 0 1\n",  # too few fields
                show(("web-a", 7, 0)),  # no such op state
                show(("web-a", 2, 0)).replace(" 2 0 1 1", " 2 x 1 1")):  # admin not a number
        with pytest.raises(ValueError, match="unreadable server state line"):
            parse_servers_state(bad)


@pytest.mark.parametrize(("op", "admin", "serving"), [
    (2, 0x00, True),  # ready and up
    (1, 0x00, True),  # STARTING: up, warming up
    (3, 0x00, False),  # STOPPING: soft-stopping, no new traffic
    (0, 0x00, False),  # STOPPED: HAProxy's checks say down
    (0, 0x01, False),  # FMAINT: `state maint`
    (0, 0x05, False),  # FMAINT | CMAINT: `disabled` in the config, as started
    (2, 0x04, True),  # CMAINT alone: `disabled`, then `state ready` -- it serves
    (0, 0x02, False),  # IMAINT: its tracked server is in maintenance
    (2, 0x08, False),  # FDRAIN: `state drain`
    (2, 0x0C, False),  # FDRAIN | CMAINT
    (2, 0x10, False),  # IDRAIN: its tracked server drains
    (0, 0x20, False),  # RMAINT: its address did not resolve
    (2, 0x40, True),  # HMAINT: FQDN set at run time, not a maintenance
    (0, 0x45, False),  # FMAINT | CMAINT | HMAINT
])
def test_serving_reads_both_states(op: int, admin: int, serving: bool) -> None:
    server = parse_servers_state(show(("web-a", op, admin)))[0]
    assert (server.op, server.admin) == (OpState(op), Admin(admin))
    assert server.serving is serving


def test_the_disabled_server_made_ready_is_put_back_in_maintenance() -> None:
    """The issue: web-b was `disabled` in the file, made ready while it was routed; when the
    route moved to web-a, web-b (admin state 4) was taken for one in maintenance."""
    servers = parse_servers_state(SHOW_B_READY)
    assert plan_haproxy("web", servers, A, MEMBERS) == [
        "set server web/web-a state ready", "set server web/web-b state maint"]
    assert [str(f) for f in verify_haproxy(servers, A, MEMBERS)] == [
        "web-a: routed_not_serving (op=STOPPED admin=0x01(FMAINT))",
        "web-b: unrouted_serving (op=RUNNING admin=0x04(CMAINT))"]
    assert plan_haproxy("web", servers, B, MEMBERS) == []
    assert verify_haproxy(servers, B, MEMBERS) == []


def test_plan_named_servers() -> None:
    servers = parse_servers_state(SHOW)
    assert plan_haproxy("web", servers, B, MEMBERS) == [
        "set server web/web-b state ready", "set server web/web-a state maint"]
    assert plan_haproxy("web", servers, A, MEMBERS) == []  # already so: nothing to send
    assert verify_haproxy(servers, A, MEMBERS) == []
    assert plan_haproxy("web", servers, B, MEMBERS, shutdown_old=True)[-1] == \
        "shutdown sessions server web/web-a"


@pytest.mark.parametrize(("op", "admin", "command", "repairable"), [
    (0, 0x01, "ready", True),  # FMAINT
    (0, 0x05, "ready", True),  # FMAINT | CMAINT
    (2, 0x08, "ready", True),  # FDRAIN
    (2, 0x0C, "ready", True),  # FDRAIN | CMAINT
    (0, 0x03, "ready", True),  # FMAINT | IMAINT: ours goes, the inherited one stays
    (0, 0x02, None, False),  # IMAINT: the tracked server's, not ours to clear
    (2, 0x10, None, False),  # IDRAIN: likewise
    (0, 0x20, None, False),  # RMAINT: DNS
    (0, 0x00, None, False),  # STOPPED: HAProxy's checks find it down
    (3, 0x00, None, False),  # STOPPING
])
def test_routed_server_not_serving(op: int, admin: int, command: str | None,
                                   repairable: bool) -> None:
    servers = parse_servers_state(show(("web-a", op, admin), ("web-b", 0, 0x01)))
    expected = [f"set server web/web-a state {command}"] if command else []
    assert plan_haproxy("web", servers, A, MEMBERS) == expected
    [fault] = verify_haproxy(servers, A, MEMBERS)
    assert (fault.server, fault.wrong, fault.repairable) == \
        ("web-a", Wrong.ROUTED_NOT_SERVING, repairable)


@pytest.mark.parametrize(("op", "admin", "wrong"), [
    (2, 0x00, Wrong.OTHER_SERVING),
    (2, 0x04, Wrong.OTHER_SERVING),  # CMAINT alone
    (2, 0x40, Wrong.OTHER_SERVING),  # HMAINT
    (1, 0x00, Wrong.OTHER_SERVING),  # STARTING
    (0, 0x00, Wrong.OTHER_NOT_IN_MAINT),  # down by its checks: serves once they pass
    (3, 0x00, Wrong.OTHER_NOT_IN_MAINT),
    (2, 0x08, Wrong.OTHER_NOT_IN_MAINT),  # draining: still takes persistent sessions
    (2, 0x10, Wrong.OTHER_NOT_IN_MAINT),
    (0, 0x02, Wrong.OTHER_NOT_IN_MAINT),  # inherited: ends with the tracked server's
    (0, 0x20, Wrong.OTHER_NOT_IN_MAINT),  # DNS: ends when the name resolves
])
def test_every_other_server_is_forced_into_maintenance(op: int, admin: int,
                                                        wrong: Wrong) -> None:
    servers = parse_servers_state(show(("web-a", 2, 0), ("web-b", op, admin)))
    assert plan_haproxy("web", servers, A, MEMBERS) == ["set server web/web-b state maint"]
    assert verify_haproxy(servers, A, MEMBERS) == [
        Fault("web-b", wrong, servers[1].describe(), repairable=True)]


@pytest.mark.parametrize("admin", [0x01, 0x03, 0x05, 0x09, 0x21, 0x45])
def test_forced_maintenance_is_enough(admin: int) -> None:
    servers = parse_servers_state(show(("web-a", 2, 0), ("web-b", 0, admin)))
    assert plan_haproxy("web", servers, A, MEMBERS) == []
    assert verify_haproxy(servers, A, MEMBERS) == []


def test_no_server_for_the_routed_member() -> None:
    servers = parse_servers_state(show(("web-a", 2, 0), ("web-b", 0, 1)))
    route = Route("web-c", "127.0.0.1:18183", epoch=2, version=4)
    assert plan_haproxy("web", servers, route, MEMBERS | {"web-c"}) == []
    assert verify_haproxy(servers, route, MEMBERS | {"web-c"}) == [
        Fault("web-c", Wrong.NO_SERVER, "absent", repairable=False)]


UP = ServerState("app", "10.0.0.1:80", OpState.RUNNING, Admin(0))


def test_plan_single_server_takes_the_address() -> None:
    route = Route("web-b", "10.0.0.2:80", epoch=1, version=2)
    assert plan_haproxy("be", [UP], route, frozenset()) == [
        "set server be/app addr 10.0.0.2 port 80"]
    assert verify_haproxy([UP], route, frozenset()) == [
        Fault("app", Wrong.ROUTED_ADDRESS, "10.0.0.1:80", repairable=True)]
    moved = ServerState("app", "10.0.0.2:80", OpState.RUNNING, Admin(0))
    assert plan_haproxy("be", [moved], route, frozenset()) == []
    assert verify_haproxy([moved], route, frozenset()) == []
    v6 = ServerState("app", "::1:80", OpState.RUNNING, Admin(0))  # as HAProxy prints it
    assert verify_haproxy([v6], Route("x", "[::1]:80", 1, 1), frozenset()) == []


servers_st = st.lists(st.tuples(st.sampled_from(["web-a", "web-b", "web-c"]),
                                st.sampled_from(list(OpState)), st.integers(0, 0x7F)),
                      min_size=1, max_size=3, unique_by=lambda s: s[0])


@given(servers=servers_st, primary=st.sampled_from(["web-a", "web-b", "web-c"]))
def test_plan_sends_something_exactly_when_a_fault_is_repairable(
        servers: list[tuple[str, OpState, int]], primary: str) -> None:
    state = parse_servers_state(show(*[(n, int(op), admin) for n, op, admin in servers]))
    route = Route(primary, "127.0.0.1:1", epoch=1, version=1)
    members = frozenset({"web-a", "web-b", "web-c"})
    faults = verify_haproxy(state, route, members)
    plan = plan_haproxy("web", state, route, members)
    assert bool(plan) == any(f.repairable for f in faults)
    if not faults:  # then the routed member's server is the only one taking traffic
        assert [s.name for s in state if s.serving] == [primary]
    # One round is enough: once HAProxy has done what the commands ask, nothing is left
    # that a command could put right (the agent's read-back would not repair forever).
    after = {s.name: s for s in state}
    for command in plan:  # "set server web/NAME state ready|maint"
        name, what = command.split()[2].removeprefix("web/"), command.split()[-1]
        server = after[name]
        after[name] = replace(server, admin=server.admin & ~(Admin.FMAINT | Admin.FDRAIN)
                              if what == "ready" else server.admin | Admin.FMAINT)
    assert plan_haproxy("web", list(after.values()), route, members) == []


# --- routes from Redis are input --------------------------------------------------------

GOOD_FIELDS = {"primary": "web-a", "address": "10.0.0.1:80", "epoch": "3", "version": "4",
               "reason": "failover"}


@pytest.mark.parametrize(("field", "value"), [
    ("epoch", "nan"), ("epoch", "inf"), ("epoch", "-inf"), ("epoch", "1e5"), ("epoch", "+3"),
    ("epoch", "3.0"), ("epoch", " 3"), ("epoch", "-1"), ("epoch", "99999999999999999"),
    ("epoch", "٣"), ("version", "0x10"), ("version", ""), ("version", "3\n"),
    ("primary", "web-a; shutdown frontend fe"), ("primary", ""), ("primary", "-a"),
    ("address", "127.0.0.1 port 11; shutdown frontend fe; set server web/srv addr x:1"),
    ("address", "x;shutdown$(id)|`id`:80"), ("address", "10.0.0.1:0"),
    ("address", "10.0.0.1:65536"), ("address", "10.0.0.1"), ("address", "a\nb:80"),
    ("address", "[::1;x]:80"), ("reason", "fail\nover"),
])
def test_a_route_with_a_field_no_controller_writes_is_refused(field: str, value: str) -> None:
    fields = {**GOOD_FIELDS, field: value}
    with pytest.raises(BadRoute, match=field):
        Route.check(fields)
    assert Route.parse(fields) is None


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 1e5, 3.0, True, -1, 2**53 + 1,
                                   "3", None])
def test_a_published_route_needs_a_json_whole_number(value: object) -> None:
    payload = json.dumps({**GOOD_FIELDS, "epoch": value})  # json writes NaN and Infinity
    if value == "3":
        assert Route.check_message(payload).epoch == 3  # text of digits, as the hash holds
        return
    with pytest.raises(BadRoute, match="epoch"):
        Route.check_message(payload)


def test_a_good_route_parses_from_the_hash_and_from_a_message() -> None:
    expected = Route("web-a", "10.0.0.1:80", 3, 4, "failover")
    assert Route.check(GOOD_FIELDS) == expected
    message = json.dumps({**GOOD_FIELDS, "epoch": 3, "version": 4, "updated_at": 1.5})
    assert Route.check_message(message) == expected
    assert Route.check({**GOOD_FIELDS, "address": "[::1]:8080"}).host_port == ("::1", 8080)
    with pytest.raises(BadRoute, match="JSON"):
        Route.check_message("[" * 100_000)


SEPARATORS = [";", "\n", "\r", "\x00", "\x1b", " ", "\t", "#", "\\", "'", '"', "$(", "`", "|",
              "&", "\u2028", "\x85"]
pieces = st.one_of(st.sampled_from(SEPARATORS), st.sampled_from(["web-a", "127.0.0.1", ":",
                                                                 "80", "[::1]", "3", "."]),
                   st.text(max_size=4))
fragments = st.lists(pieces, max_size=6).map("".join)


@given(primary=fragments, address=fragments, epoch=st.one_of(fragments, st.integers()),
       version=st.one_of(fragments, st.integers()), reason=fragments,
       backend=st.sampled_from(["web", "be_1"]), server=st.sampled_from(["web-a", "srv"]))
def test_no_route_field_puts_a_separator_into_a_runtime_api_command(
        primary: str, address: str, epoch: object, version: object, reason: str,
        backend: str, server: str) -> None:
    fields = {"primary": primary, "address": address, "epoch": epoch, "version": version,
              "reason": reason}
    for read in (lambda: Route.check(fields),
                 lambda: Route.check_message(json.dumps(fields))):
        try:
            route = read()
        except BadRoute:
            continue
        faults = [Fault(server, wrong, "x", repairable=True) for wrong in Wrong]
        for command in repair_commands(backend, route, faults, shutdown_old=True):
            assert command.isprintable() and command.isascii()
            assert not set(command) & set(";#\\'\"`$|&\t")
            words = command.split(" ")
            assert all(words) and len(words) in (4, 5, 7)


def test_a_hash_holding_an_older_route_is_never_applied_only_timed() -> None:
    """A route with an epoch no leader holds, obeyed, then repaired by the leader: the hash
    now holds an older route. A follower cannot tell a repair from a stale write, so it
    keeps what it applied and says for how long Redis has disagreed."""
    forged = Route("web-a", "10.0.0.1:80", epoch=99_999_999_999_999, version=1)
    repaired = Route("web-a", "10.0.0.1:80", epoch=3, version=1)
    state, _ = Following().stored(forged, 0.0)
    state, apply = state.stored(repaired, 1.0)
    assert not apply and state.applied == forged and state.behind(1.0) == 0.0
    state, _ = state.stored(repaired, 2.0)  # the same one again: counted from its first read
    assert state.behind(31.0) == 30.0
    state, apply = state.offer(repaired)  # a PUBLISH of it changes nothing either
    assert not apply and state.behind(31.0) == 30.0
    state, apply = state.stored(Route("web-a", "10.0.0.1:80", 99_999_999_999_999, 2), 32.0)
    assert apply and state.behind(40.0) is None
    assert Following().stored(None, 0.0)[0].behind(5.0) is None
