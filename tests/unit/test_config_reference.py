"""The config reference and JSON Schema in docs/ are what the config models generate, and
the schema agrees with the loader on what it says about a file."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel

from config import Config, ConfigError, parse_config
from controller.devtools import config_reference
from tests.unit.test_config import GOOD


def test_the_committed_reference_and_schema_are_up_to_date(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert config_reference.main(["--check"]) == 0, capsys.readouterr().err


def models(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[type[BaseModel]]:
    """Every model reachable from ``model`` through its fields' annotations."""
    seen.add(model)
    for field in model.model_fields.values():
        stack: list[Any] = [field.annotation]
        while stack:
            annotation = stack.pop()
            stack.extend(getattr(annotation, "__args__", ()))
            stack.extend(getattr(annotation, "__metadata__", ()))
            origin = getattr(annotation, "__origin__", None)
            if origin is not None:
                stack.append(origin)
            if isinstance(annotation, type) and issubclass(annotation, BaseModel) \
                    and annotation not in seen:
                models(annotation, seen)
    return seen


def test_every_key_of_every_model_has_its_row() -> None:
    page = config_reference.REFERENCE_PATH.read_text()
    sections = {s.split("{#", 1)[1].split("}", 1)[0]: s for s in page.split("\n## ")[1:]}
    for model in models(Config, set()):
        anchor = "top-level" if model is Config else model.__name__.lower()
        for key in model.model_fields:
            assert f"| `{key}` |" in sections[anchor], f"{model.__name__}.{key}"


def test_the_reference_shows_ranges_and_defaults() -> None:
    page = config_reference.REFERENCE_PATH.read_text()
    assert "| `fall` | whole number | `3` | 1 to 100 |" in page
    assert "| `cooldown` | number | `60` | 0 to 604 800 |" in page
    assert "| `quorum` | whole number or `\"majority\"` | `\"majority\"` | 1 to 1000 |" in page
    assert "| `expect_status` | list of whole number | `[200]` | at least 1 item |" in page
    assert "| `services` | list of [Service](#serviceconfig) | required | at least 1 item |" \
        in page


def validator() -> jsonschema.Draft202012Validator:
    schema = config_reference.schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_schema_accepts_a_valid_config() -> None:
    assert list(validator().iter_errors(GOOD)) == []


def with_change(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(dict(GOOD))
    target: Any = data
    for key in path[:-1]:
        target = target[key] if isinstance(key, int) else target.setdefault(key, {})
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(("path", "value"), [
    (("services", 0, "policy", "fall"), 0),  # below its range
    (("services", 0, "policy", "cooldown"), 700_000),  # above it
    (("services", 0, "policy", "quorum"), "most"),
    (("services", 0, "members", 0, "probe", "kind"), "ping"),
    (("zookeeper", "sesion_timeout"), 6),  # a typo: unknown keys are refused
    (("api", "read_auth"), "yes"),
])
def test_the_schema_refuses_what_the_loader_refuses(path: tuple[Any, ...], value: Any) -> None:
    data = with_change(path, value)
    assert list(validator().iter_errors(data)) != []
    with pytest.raises(ConfigError, match=str(path[-1])):
        parse_config(data, {})
