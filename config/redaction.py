"""Secrets out of what is shown: a URL's user info, query values and fragment. Pure; used by
the config's error messages and by the hooks' details."""

from __future__ import annotations


def redact_url(url: str, shown: frozenset[str] = frozenset()) -> str:
    """``url`` with its user info, query values and fragment replaced by ``***``:
    ``http://admin:pa55@host/promote?key=k3y`` -> ``http://***@host/promote?key=***``, and
    ``/promote?key=k3y`` -> ``/promote?key=***`` (a server quoting the request). Done on the
    text itself, so that no URL, however malformed, is let through unredacted. Parameters
    named in ``shown`` keep their values (a fencing token is evidence, not a secret)."""
    head, hash_, _ = url.partition("#")
    head, question, query = head.partition("?")
    scheme, separator, rest = head.partition("://")
    if separator and "@" in rest:  # the last "@": a password may hold an unescaped "/"
        head = f"{scheme}://***@{rest.rpartition('@')[2]}"
    if question:
        query = "&".join(_redact_parameter(p, shown) for p in query.split("&"))
    return f"{head}{question}{query}{hash_ and '#***'}"


def _redact_parameter(parameter: str, shown: frozenset[str]) -> str:
    key, equals, _ = parameter.partition("=")
    if equals and key in shown:
        return parameter
    if equals:
        return f"{key}=***"
    return parameter and "***"  # a bare value ("?s3cret") may be the secret itself
