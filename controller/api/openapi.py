"""The OpenAPI 3.0 description of the HTTP API (api.py), served at /v1/openapi.json.

Written by hand next to the handlers rather than generated, so it is also the reference a
reader checks; tests fuzz the API from it (schemathesis), so it cannot drift unnoticed.
"""

from __future__ import annotations

from typing import Any

from config.models import NAME_PATTERN
from controller import __version__

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(*codes: int) -> dict[str, Any]:
    what = {400: "malformed body or query: the detail lists each problem",
            401: "no or wrong bearer token", 404: "unknown service, member or request",
            409: "refused: unsafe now, or the request is no longer cancellable",
            413: "body larger than api.max_body_bytes",
            503: "ZooKeeper or Redis unreachable: nothing was changed"}
    return {str(c): {"description": what[c], "content": {JSON: {"schema": _ref("Error")}}}
            for c in codes}


def _ok(description: str, schema: dict[str, Any], code: int = 200) -> dict[str, Any]:
    return {str(code): {"description": description, "content": {JSON: {"schema": schema}}}}


def _op(summary: str, responses: dict[str, Any], *, mutating: bool = False,
        body: str | None = None, params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": responses,
                          "parameters": params or []}
    if mutating:
        op["security"] = [{"bearer": []}]
    else:
        op["security"] = [{}, {"bearer": []}]  # open unless api.read_auth is set
    if body is not None:
        op["requestBody"] = {"required": False, "content": {JSON: {"schema": _ref(body)}}}
    return op


SERVICE = {"name": "name", "in": "path", "required": True, "description": "service name",
           "schema": {"type": "string"}, "example": "web"}
REQUEST = {"name": "id", "in": "path", "required": True,
           "description": "switchover request id (sw-NNNNNNNNNN)", "schema": {"type": "string"}}
OBJECT: dict[str, Any] = {"type": "object"}


def spec() -> dict[str, Any]:
    service_paths = "/v1/services/{name}"
    return {
        "openapi": "3.0.3",
        "info": {"title": "failover-controller", "version": __version__,
                 "description": "Every replica serves this API; the leader acts on what any "
                                "replica records. Errors are {error, detail} with a 4xx or "
                                "503 status, never a 5xx otherwise; any endpoint answers 417 "
                                "to an Expect header other than 100-continue."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error", "detail"],
                          "properties": {"error": {"type": "string"}, "detail": {}}},
                "SwitchoverBody": {
                    "type": "object", "additionalProperties": False,
                    "properties": {
                        "to": {"type": "string", "pattern": NAME_PATTERN,
                               "description": "target member; default: the best healthy one"},
                        "at": {"oneOf": [
                            {"type": "string", "description":
                             "ISO 8601 with a zone, or +DURATION from now"},
                            {"type": "number", "description": "unix seconds"}]},
                        "force": {"type": "boolean", "description":
                                  "go on even if fencing the old primary fails"}}},
                "PauseBody": {
                    "type": "object", "additionalProperties": False,
                    "properties": {"for": {"oneOf": [
                        {"type": "string", "description": "a duration: 90s, 15m, 1h30m, 1d"},
                        {"type": "number", "exclusiveMinimum": True, "minimum": 0,
                         "description": "seconds"}]}}},
                "Empty": {"type": "object", "additionalProperties": False},
                "Switchover": {
                    "type": "object",
                    "required": ["id", "service", "phase", "requested_by", "steps", "version"],
                    "properties": {
                        "id": {"type": "string"}, "service": {"type": "string"},
                        "phase": {"type": "string", "enum": [
                            "scheduled", "pending", "fencing", "waiting", "promoting",
                            "committing", "verifying", "rollback_fencing",
                            "rollback_promoting", "rollback_committing", "done", "failed",
                            "refused", "cancelled"]},
                        "requested_by": {"type": "string"},
                        "to": {"type": "string", "nullable": True},
                        "target": {"type": "string", "nullable": True},
                        "source": {"type": "string", "nullable": True},
                        "at": {"type": "number", "nullable": True},
                        "reason": {"type": "string", "nullable": True},
                        "detail": {"type": "string", "nullable": True},
                        "rolled_back": {"type": "boolean"},
                        "steps": {"type": "array", "items": OBJECT},
                        "version": {"type": "integer"}}},
            },
        },
        "paths": {
            "/healthz": {"get": _op("process alive", _ok("alive", OBJECT))},
            "/readyz": {"get": _op("connected to ZooKeeper and Redis", {
                **_ok("ready", OBJECT),
                "503": {"description": "not ready: says which store is missing",
                        "content": {JSON: {"schema": OBJECT}}}})},
            "/metrics": {"get": _op("Prometheus metrics", {
                "200": {"description": "text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}}},
                **_errors(401)})},
            "/v1/openapi.json": {"get": _op("this description", _ok("OpenAPI", OBJECT))},
            "/v1/status": {"get": _op("services, primaries, members, leader and epoch; each "
                                      "store and whether this replica can act",
                                      {**_ok("status", OBJECT), **_errors(401)})},
            f"{service_paths}/history": {"get": _op(
                "recent changes and attempts, newest first",
                {**_ok("history", OBJECT), **_errors(400, 401, 404, 503)},
                params=[SERVICE, {"name": "count", "in": "query", "required": False,
                                  "schema": {"type": "integer", "minimum": 1,
                                             "maximum": 1000}}])},
            f"{service_paths}/explain": {"get": _op(
                "would the leader fail over now, and every condition with its evidence",
                {**_ok("explanation", OBJECT), **_errors(401, 404)}, params=[SERVICE])},
            f"{service_paths}/switchovers": {"get": _op(
                "stored switchover requests, newest first",
                {**_ok("requests", OBJECT), **_errors(401, 404)}, params=[SERVICE])},
            f"{service_paths}/switchovers/{{id}}": {
                "get": _op("one request; with wait, held until its version passes after",
                           {**_ok("the request", _ref("Switchover")),
                            **_errors(400, 401, 404, 503)},
                           params=[SERVICE, REQUEST,
                                   {"name": "after", "in": "query", "required": False,
                                    "schema": {"type": "integer", "minimum": -1}},
                                   {"name": "wait", "in": "query", "required": False,
                                    "schema": {"type": "number", "minimum": 0,
                                               "maximum": 30}}]),
                "delete": _op("cancel a request that has not started",
                              {**_ok("cancelled", _ref("Switchover")),
                               **_errors(401, 404, 409, 503)},
                              mutating=True, params=[SERVICE, REQUEST]),
            },
            f"{service_paths}/switchover": {"post": _op(
                "request a graceful switchover (now, or at a time)",
                {**_ok("accepted: follow it at .../switchovers/{id}", _ref("Switchover"), 202),
                 **_errors(400, 401, 404, 409, 413, 503)},
                mutating=True, body="SwitchoverBody", params=[SERVICE])},
            f"{service_paths}/pause": {"post": _op(
                "stop automatic failover (probes and manual switchover go on)",
                {**_ok("paused", OBJECT), **_errors(400, 401, 404, 413, 503)},
                mutating=True, body="PauseBody", params=[SERVICE])},
            f"{service_paths}/resume": {"post": _op(
                "automatic failover again",
                {**_ok("resumed", OBJECT), **_errors(400, 401, 404, 413, 503)},
                mutating=True, body="Empty", params=[SERVICE])},
        },
    }
