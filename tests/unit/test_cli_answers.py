"""The CLI reads the API's answers in one place: whatever JSON comes back, a command either
renders it or ends with one line naming the field that does not fit, never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from controller.cli.answers import (
    Answer,
    Explained,
    History,
    PauseAnswer,
    ResumeAnswer,
    Status,
    Switchover,
    parse,
)
from controller.cli.client import CliError, one_line, service_path
from controller.cli.explain import render
from controller.cli.history import history_rows
from controller.cli.refusals import sentence
from controller.cli.status import status_rows

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["services", "members", "web", "web-a", "health", "primary", "mode",
                         "paused", "entries", "event", "detail", "decision", "evidence",
                         "primary_probes", "verdict", "latency_ms", "conditions", "check",
                         "ok", "service", "would_fail_over", "until", "reason", "x"]),
        inner, max_size=6),
    max_leaves=30)

RENDERERS: list[tuple[type[Answer], Callable[[Any], object]]] = [
    (Status, status_rows), (Explained, render), (History, lambda h: history_rows(h.entries)),
    (Switchover, str), (PauseAnswer, str), (ResumeAnswer, str),
]


@pytest.mark.parametrize(("model", "shown"), RENDERERS)
@given(answer=JSON)
def test_any_answer_is_rendered_or_refused_in_one_line(
        model: type[Answer], shown: Callable[[Any], object], answer: Any) -> None:
    try:
        shown(parse(model, answer, "GET /v1/x"))
    except CliError as exc:
        assert str(exc).startswith("GET /v1/x: unexpected answer (") and "\n" not in str(exc)


@given(answer=JSON)
@example(answer={"event": [], "target": None})  # an event that is no string (unhashable)
def test_any_history_entry_renders(answer: Any) -> None:
    entries = [answer] if isinstance(answer, dict) else []
    rows = history_rows([*entries, {"event": "route_changed", "detail": answer},
                         {"event": "dry_run", "decision": answer}])
    assert all(len(row) == 7 for row in rows)


@given(evidence=JSON)
def test_a_refusal_reads_as_a_sentence_whatever_its_evidence(evidence: Any) -> None:
    if isinstance(evidence, dict):
        assert sentence("web", "web-b", "target_not_ready", evidence)


def test_an_answer_without_services_names_the_field() -> None:
    with pytest.raises(CliError) as caught:
        parse(Status, {"node": "c0"}, "GET /v1/status")
    assert str(caught.value) == ("GET /v1/status: unexpected answer (services: field "
                                 "required); is --api a failover controller of this version?")


def test_history_fields_may_be_text_or_json_values() -> None:
    """Today the API gives history fields as strings (JSON inside for ``detail``); JSON
    values read the same."""
    as_text = {"event": "route_changed", "primary": "web-b", "previous": "web-a",
               "reason": "failover", "epoch": "3", "version": "7",
               "detail": '{"trigger": "auto", "decision": {"evidence": {"primary": "web-a", '
                         '"primary_health": "down", "primary_probes": [{"verdict": '
                         '"no_answer", "detail": "timed out"}]}}}'}
    as_json = {**as_text, "epoch": 3, "version": 7, "detail": {
        "trigger": "auto", "decision": {"evidence": {
            "primary": "web-a", "primary_health": "down",
            "primary_probes": [{"verdict": "no_answer", "detail": "timed out"}]}}}}
    assert history_rows([as_text])[1] == history_rows([as_json])[1]
    assert history_rows([as_json])[1][1:] == (
        "route_changed", "web-a -> web-b", "3", "7", "auto",
        "failover: web-a down (1 x no_answer; last: timed out)")


def test_names_are_quoted_whole_into_paths() -> None:
    assert service_path("web?x=1", "explain") == "/v1/services/web%3Fx%3D1/explain"
    assert service_path("a/b", "switchovers", "sw-1#2") == (
        "/v1/services/a%2Fb/switchovers/sw-1%232")
    assert service_path("wéb") == "/v1/services/w%C3%A9b"


def test_an_error_detail_reads_as_words_on_one_line() -> None:
    assert one_line({"service": "nope", "services": ["web", "api"]}) == (
        "service=nope, services=web,api")
    assert one_line(["for: must be above 0", "to: unknown"]) == (
        "for: must be above 0; to: unknown")
    assert one_line("a\nmulti-line   answer") == "a multi-line answer"
    assert one_line(None) == ""
