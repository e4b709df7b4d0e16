"""Hook and probe templates: plain ``{name}`` fields of known variables, nothing else.

``str.format`` would also run format specs and conversions (``{epoch:05}`` turns epoch 7 into
``70000``, a wrong fencing token; ``{epoch:d}`` raises on the text it is given), so templates
are checked here when the config loads and rendered here by plain substitution.
``{{`` and ``}}`` stand for literal braces.
"""

from __future__ import annotations

import string
from collections.abc import Mapping

# Fence and promote hooks; exec probes and readiness checks know no epoch.
HOOK_VARIABLES = frozenset({"service", "member", "address", "epoch", "seq", "previous"})
CHECK_VARIABLES = frozenset({"service", "member", "address"})
# Notification commands: what happened, to which service, in one line.
NOTIFY_VARIABLES = frozenset({"event", "service", "summary", "epoch", "node", "cluster"})


def _fields(template: str) -> list[tuple[str, str | None, str | None, str | None]]:
    return list(string.Formatter().parse(template))


def fields_in(template: str) -> frozenset[str]:
    """The variables ``template`` uses (none if it cannot be parsed: template_problem
    reports that)."""
    try:
        return frozenset(field for _, field, _, _ in _fields(template) if field)
    except ValueError:
        return frozenset()


def template_problem(template: str, variables: frozenset[str]) -> str | None:
    """Why ``template`` cannot be rendered with ``variables``, or None if it can."""
    allowed = ", ".join("{" + v + "}" for v in sorted(variables))
    try:
        parts = _fields(template)
    except ValueError:
        return f"unbalanced braces; write {{{{ or }}}} for a literal brace (allowed: {allowed})"
    for _, field, spec, conversion in parts:
        if field is None:
            continue
        if field not in variables:
            return f"unknown template variable {{{field}}}; allowed: {allowed}"
        if spec or conversion:
            written = "{" + field + (f"!{conversion}" if conversion else "") + \
                (f":{spec}" if spec else "") + "}"
            return f"{written}: only plain fields such as {{{field}}}, no format or conversion"
    return None


def render(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each ``{name}`` replaced by ``values[name]``, verbatim.

    The template was checked by ``template_problem`` when the config loaded; a field that
    slipped through anyway raises ValueError rather than sending a wrong value.
    """
    out = []
    for literal, field, spec, conversion in _fields(template):
        out.append(literal)
        if field is None:
            continue
        if spec or conversion or field not in values:
            raise ValueError(f"template field {{{field}}} cannot be rendered")
        out.append(values[field])
    return "".join(out)
