"""Hook and probe templates: plain ``{name}`` fields only, refused at load with their key
path, rendered by plain substitution (issue 13: ``{epoch:05}`` sent a wrong fencing token)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from config.templates import CHECK_VARIABLES, HOOK_VARIABLES, render, template_problem
from tests.unit.test_config import GOOD, problems

VALUES = {"service": "web", "member": "web-b", "address": "10.0.0.12:80", "epoch": "7",
          "previous": "web-a"}


def test_render_substitutes_plain_fields_verbatim() -> None:
    assert render("/fence {member} {epoch} {{literal}} {address}", VALUES) == (
        "/fence web-b 7 {literal} 10.0.0.12:80")
    assert render("{member}", {"member": "{epoch}"}) == "{epoch}"  # values are not templates
    assert render("no fields", {}) == "no fields"


@pytest.mark.parametrize("template", ["{epoch:d}", "{member!x}", "{epoch:05}", "{epoch!r}",
                                      "{member.upper}", "{member[0]}", "{}", "{0}", "{",
                                      "}", "{epoch"])
def test_anything_but_a_plain_known_field_is_refused_and_never_rendered(template: str) -> None:
    assert template_problem(f"/bin/fence {template}", HOOK_VARIABLES) is not None
    with pytest.raises(ValueError, match=r"cannot be rendered|Single|unmatched|expected"):
        render(template, VALUES)


def test_the_problem_says_what_is_allowed() -> None:
    assert template_problem("{epoch:05}", HOOK_VARIABLES) == (
        "{epoch:05}: only plain fields such as {epoch}, no format or conversion")
    assert template_problem("{member!x}", HOOK_VARIABLES) == (
        "{member!x}: only plain fields such as {member}, no format or conversion")
    assert template_problem("{epoch}", CHECK_VARIABLES) == (
        "unknown template variable {epoch}; allowed: {address}, {member}, {service}")
    assert template_problem("a } b", HOOK_VARIABLES) is not None
    assert template_problem("{epoch}-{previous}", HOOK_VARIABLES) is None


def test_check_config_refuses_format_specs_in_every_template_with_its_key_path(
        tmp_path: Path) -> None:
    data: dict[str, Any] = copy.deepcopy(GOOD)
    members = data["services"][0]["members"]
    members[0]["fence"] = {"kind": "exec", "argv": ["/bin/fence", "{member}", "{epoch:05}"]}
    members[0]["promote"] = {"kind": "http", "url": "http://h:9000/promote?e={epoch:d}",
                             "headers": {"X-Epoch": "{epoch!r}"}, "body": "{member!s}"}
    members[1]["probe"] = {"kind": "exec", "argv": ["/bin/check", "{member:>9}"]}
    members[1]["readiness"] = [{"name": "raid", "kind": "exec", "argv": ["{address!a}"]}]
    assert problems(tmp_path, data) == [
        "services[0].members[0].fence.argv[2]: {epoch:05}: only plain fields such as {epoch}, "
        "no format or conversion",
        "services[0].members[0].promote.body: {member!s}: only plain fields such as {member}, "
        "no format or conversion",
        "services[0].members[0].promote.headers.X-Epoch: {epoch!r}: only plain fields such as "
        "{epoch}, no format or conversion",
        "services[0].members[0].promote.url: {epoch:d}: only plain fields such as {epoch}, no "
        "format or conversion",
        "services[0].members[1].probe.argv[1]: {member:>9}: only plain fields such as "
        "{member}, no format or conversion",
        "services[0].members[1].readiness[0].argv[0]: {address!a}: only plain fields such as "
        "{address}, no format or conversion"]
