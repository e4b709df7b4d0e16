"""What a notification says and to whom it goes (core/notify.py); the notify config."""

from __future__ import annotations

from pathlib import Path

import yaml

from config import ConfigError, load_config
from config.notify import DEFAULT_EVENTS
from controller.core.notify import Notification, backoff, wanted
from tests.unit.test_config import GOOD


def note(event: str, **fields: object) -> Notification:
    return Notification(event, "web", "prod", "c1", 7, 1000.0, fields)


def test_a_route_change_says_who_is_primary_now_and_why() -> None:
    moved = note("route_changed", primary="web-b", version=3, reason="failover")
    assert moved.summary == "[prod] web: route changed: web-b is primary now (version 3, " \
                            "failover)"
    body = moved.body()
    assert body["text"] == moved.summary and body["fields"]["primary"] == "web-b"
    assert (body["event"], body["service"], body["epoch"], body["node"]) == (
        "route_changed", "web", 7, "c1")


def test_other_entries_name_their_subject_and_reason() -> None:
    failed = note("failover_failed", target="web-b", reason="fence_failed", message="409")
    assert failed.summary == "[prod] web: failover failed: web-b; fence_failed; 409"
    assert note("leadership_changed").summary == "[prod] web: leadership changed"
    assert note("x", epoch=None).variables()["epoch"] == "7"
    assert Notification("e", "s", "c", "n", None, 0.0).variables()["epoch"] == ""


def test_a_target_gets_what_it_asked_for_or_the_defaults() -> None:
    assert wanted([], DEFAULT_EVENTS, "route_changed")
    assert not wanted([], DEFAULT_EVENTS, "paused")
    assert wanted(["paused"], DEFAULT_EVENTS, "paused")
    assert not wanted(["paused"], DEFAULT_EVENTS, "route_changed")


def test_tries_back_off_and_stop_growing() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff(20) == 30.0


def test_notify_targets_are_checked_where_they_are_written(tmp_path: Path) -> None:
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    data["notify"] = [
        {"name": "chat", "kind": "webhook", "url": "https://chat.example/hook",
         "headers": {"Authorization": "Bearer x"}},
        {"name": "pager", "kind": "exec", "argv": ["/bin/page", "{event}", "{summary}"],
         "events": ["failover_failed"], "attempts": 5},
    ]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load_config(path, env={})
    assert [t.name for t in config.notify] == ["chat", "pager"]
    data["notify"][1]["argv"] = ["/bin/page", "{member}"]
    data["notify"][0]["url"] = "ftp://x"
    data["notify"][0]["attempts"] = 0
    path.write_text(yaml.safe_dump(data))
    try:
        load_config(path, env={})
    except ConfigError as exc:
        problems = exc.problems
    else:
        raise AssertionError("accepted")
    assert any(p.startswith("notify[1].argv[1]: unknown template variable {member}")
               for p in problems), problems
    assert any(p.startswith("notify[0].url:") for p in problems), problems
    assert any(p.startswith("notify[0].attempts:") for p in problems), problems
