"""Property: whatever the file and the environment hold, the loader returns a Config or
refuses with lines that each name where the problem is, never a traceback (issue 13)."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from config import Config, ConfigError, load_config
from tests.unit.test_config import GOOD

KEYS = st.text("abcdefghijklmnopqrstuvwxyz_-0123456789", min_size=1, max_size=12)
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
           | st.integers(min_value=10**30, max_value=10**60)
           | st.sampled_from(["${X}", "${X:-d}", "${X:?e}", "{epoch:05}", "${", "-1", ".inf",
                              "1e-9", "true", "majority", "dry-run", "127.0.0.1:1"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(KEYS, inner, max_size=4), max_leaves=20)
# Every key path of the good config: where a random value does the most damage.
PATHS: list[tuple[Any, ...]] = []


def _collect(node: Any, loc: tuple[Any, ...]) -> None:
    PATHS.append(loc)
    items = node.items() if isinstance(node, dict) else (
        enumerate(node) if isinstance(node, list) else [])
    for key, value in items:
        _collect(value, (*loc, key))


_collect(GOOD, ())
OVERRIDE_NAMES = st.sampled_from(
    ["FAILOVER_" + "__".join(str(p).upper() for p in path) for path in PATHS if path]
    + ["FAILOVER_API_CACERT", "FAILOVER_API__TOKENS", "FAILOVER_X__Y", "FAILOVER_NODE_ID"])
ENVIRONMENTS = st.dictionaries(OVERRIDE_NAMES | st.just("X"),
                               st.text(max_size=30) | st.sampled_from(["[1, 2]", "{a: 1}"]),
                               max_size=4)
INTERNAL = re.compile(r"constrained-|literal\[|instance of|Input should|Value error|Traceback")
# A key path, the variable that set it (FAILOVER_...), or the file and line.
LOCATION = re.compile(r"(FAILOVER_[A-Z0-9_]+(:\d+)*: |(\(top level\)|([a-zA-Z0-9_-]+|\[.*?\])"
                      r"(\.[a-zA-Z0-9_-]+|\[.*?\])*|.*config\.yaml(:\d+)*): )")
SETTINGS = settings(max_examples=100)  # no deadline: the suite's profile (tests/conftest.py)


@pytest.fixture(scope="module")
def path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("properties") / "config.yaml"


def outcome(path: Path, env: dict[str, str]) -> Config | list[str]:
    try:
        return load_config(path, env=env)
    except ConfigError as exc:
        assert exc.problems, "a refusal says why"
        for line in exc.problems:
            assert "\n" not in line and line.strip() == line and line, repr(line)
            assert LOCATION.match(line), f"names no key: {line!r}"
            assert not INTERNAL.search(line), line
        return exc.problems


def _replace(data: Any, loc: tuple[Any, ...], value: Any) -> Any:
    if not loc:
        return value
    data = copy.deepcopy(data)
    node = data
    for part in loc[:-1]:
        node = node[part]
    node[loc[-1]] = value
    return data


@SETTINGS
@given(index=st.integers(min_value=0, max_value=len(PATHS) - 1), value=VALUES,
       env=ENVIRONMENTS)
def test_a_good_config_with_one_value_replaced_loads_or_is_refused_by_key(
        path: Path, index: int, value: Any, env: dict[str, str]) -> None:
    path.write_text(yaml.safe_dump(_replace(GOOD, PATHS[index], value)))
    outcome(path, env)


@SETTINGS
@given(document=VALUES, env=ENVIRONMENTS)
def test_any_yaml_document_loads_or_is_refused_by_key(
        path: Path, document: Any, env: dict[str, str]) -> None:
    path.write_text(yaml.safe_dump(document))
    outcome(path, env)


@SETTINGS
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode)
       | st.sampled_from([b"a: &a [*a]", b"a: !!binary aGk=", b"a: 1\na: 2",
                          b"[" * 200 + b"]" * 200, b"- " * 3000 + b"x",
                          b"{a: [b, {c: &x d}]}\ne: *x", b"\x00"]))
def test_any_bytes_load_or_are_refused_by_key(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    outcome(path, {})
