"""The CLI's client of the HTTP API: one call with a timeout, names quoted into paths, and
every failure as one line that says what to check (``CliError``)."""

from __future__ import annotations

import argparse
import http.client
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class CliError(Exception):
    """Ends the command: its one line goes to stderr (after ``failoverctl: ``), exit 1."""


class Unreachable(CliError):
    """No answer from the API at all (refused, timed out, not HTTP)."""


class ApiAnswered(CliError):
    """The API answered with an error status; the answer is kept for a command that can
    say more (a refused switchover's reason and evidence)."""

    def __init__(self, line: str, status: int, answer: Any) -> None:
        super().__init__(line)
        self.status, self.answer = status, answer

    def conflict(self, key: str) -> dict[str, Any] | None:
        """A 409's detail when it holds ``key``: a refusal a command can say in words."""
        detail = self.answer.get("detail") if isinstance(self.answer, dict) else None
        if self.status == 409 and isinstance(detail, dict) and key in detail:
            return detail
        return None

    def said(self, line: str) -> ApiAnswered:
        """The same answer, said as ``line``."""
        return ApiAnswered(line, self.status, self.answer)


@dataclass(frozen=True, slots=True)
class Api:
    url: str  # http:// or https://, checked by the argument parser
    token: str | None
    cacert: str | None
    timeout: float  # seconds, above 0 and finite

    @classmethod
    def of(cls, args: argparse.Namespace) -> Api:
        return cls(args.api, args.token, args.cacert, args.timeout)


def service_path(service: str, *rest: str) -> str:
    """``/v1/services/{service}/...`` with every name quoted whole: ``web?x=1`` is a
    service's name, not a query."""
    return "/v1/services/" + "/".join(urllib.parse.quote(part, safe="")
                                      for part in (service, *rest))


def call(api: Api, method: str, path: str, body: Mapping[str, Any] | None = None, *,
         query: Mapping[str, object] | None = None, timeout: float | None = None) -> Any:
    """The decoded JSON answer of one request; CliError on any failure."""
    what = f"{method} {path}"
    url = api.url.rstrip("/") + path
    if query:
        url += "?" + urllib.parse.urlencode(query)
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if api.token:
        request.add_header("Authorization", f"Bearer {api.token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout or api.timeout,
                                    context=_tls(api)) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raise _refusal(api, what, exc) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise Unreachable(f"cannot reach {api.url}: {reason} "
                          f"(set --api or FAILOVER_API_URL)") from None
    try:
        return json.loads(raw)
    except ValueError:  # UnicodeDecodeError too
        raise CliError(f"{what}: the answer is not JSON ({raw[:60]!r}); does --api or "
                       f"FAILOVER_API_URL point at a failover controller?") from None


def _tls(api: Api) -> ssl.SSLContext | None:
    if not api.cacert:
        return None
    try:
        return ssl.create_default_context(cafile=api.cacert)
    except (OSError, ssl.SSLError) as exc:
        raise CliError(f"--cacert {api.cacert}: {exc}") from None


def _refusal(api: Api, what: str, exc: urllib.error.HTTPError) -> ApiAnswered:
    answer: Any = None
    try:
        answer = json.loads(exc.read())
    except (ValueError, OSError, http.client.HTTPException):
        pass
    if isinstance(answer, dict) and "error" in answer:
        detail = one_line(answer.get("detail"))
        message = f"{answer['error']} ({detail})" if detail else str(answer["error"])
    else:
        message = str(exc.reason)
    if exc.code == 401:
        message += (" (the token was refused: check --token or FAILOVER_API_TOKEN)"
                    if api.token else " (pass --token or set FAILOVER_API_TOKEN)")
    return ApiAnswered(f"{what}: {exc.code} {message}", exc.code, answer)


def one_line(detail: Any) -> str:
    """An error's detail as words on one line: ``service=nope, services=web,api``."""
    if detail is None:
        return ""
    if isinstance(detail, dict):
        return ", ".join(f"{key}=" + (",".join(one_line(v) for v in value)
                                      if isinstance(value, list) else one_line(value))
                         for key, value in detail.items())[:400]
    if isinstance(detail, list):  # the API's list of problems, one per field
        return "; ".join(one_line(item) for item in detail)
    return " ".join(str(detail).split())
