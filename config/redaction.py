"""Secrets out of what is shown: a URL's user info, query values and fragment. Pure; used by
the config's error messages and by the details of hooks, probes and readiness checks."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

# A URL, or a path with a query: up to a space or quote, and not the punctuation of the
# sentence it ends ("...?key=k3y: status 403").
_URL = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*://|/)[^\s'\"<>]*[^\s'\"<>:,.;)\]]")


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


def redact_urls(text: str, shown: frozenset[str] = frozenset()) -> str:
    """Every URL and path in ``text`` (a hook's detail: its own URL, an error or an answer
    quoting it, a command's output) through redact_url, ``shown`` parameters kept."""
    return _URL.sub(lambda match: redact_url(match.group(0), shown), text)


def templated_parameters(url: str) -> frozenset[str]:
    """Query parameters of a hook URL whose value is nothing but template variables
    (``epoch={epoch}&seq={seq}``): what the controller itself fills in, never a secret,
    and the fencing token an operator reads to see what a member was sent."""
    kept = set()
    for parameter in urlsplit(url).query.split("&"):
        key, equals, value = parameter.partition("=")
        if equals and value and not re.sub(r"\{[a-z]+\}", "", value):
            kept.add(key)
    return frozenset(kept)


def url_secrets(url: str) -> frozenset[str]:
    """The secrets a configured hook URL holds: its password and the query values no template
    fills, as written and percent-decoded; what a server quoting the request in its answer
    (as JSON, say) repeats. Values under 3 characters are left: scrubbing "1" everywhere
    would garble the detail, and they protect nothing."""
    parts = urlsplit(url)
    values = [parts.password or ""] + [
        parameter.partition("=")[2] for parameter in parts.query.split("&")]
    found = {form for value in values if "{" not in value for form in (value, unquote(value))}
    return frozenset(value for value in found if len(value) >= 3)


# Headers that name a format or a client, never a credential.
_PLAIN_HEADERS = frozenset({"accept", "content-type", "user-agent", "accept-encoding"})


def header_secrets(headers: Mapping[str, str]) -> frozenset[str]:
    """The secrets a configured hook's headers hold: each value no template fills, and the
    credentials after its scheme ("Bearer s3cret"); what a target echoing the request
    repeats. Values under 3 characters are left, as for url_secrets."""
    found: set[str] = set()
    for name, value in headers.items():
        if name.lower() in _PLAIN_HEADERS or "{" in value:
            continue
        found.add(value.strip())
        found.add(value.strip().rpartition(" ")[2])
    return frozenset(value for value in found if len(value) >= 3)


def scrub(text: str, secrets: frozenset[str]) -> str:
    """``text`` with every occurrence of each secret replaced by ``***``."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
