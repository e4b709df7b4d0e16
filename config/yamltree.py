"""YAML text to plain data (dicts, lists, text, numbers, booleans, None), with limits.

PyYAML composes the node graph (aliases stay shared there, so composing is cheap), then this
module builds the data itself, so it can refuse what ``safe_load`` would silently resolve or
expand without bound: a key given twice, an alias bomb, nesting without end, a number of
thousands of digits, a tag that is not plain data. Problems come back with their key paths
and lines; what cannot be read at all raises ``YamlRefused`` with the file's line.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from config.relations import Found, Loc

MAX_VALUES = 100_000  # values after alias expansion; a large real config has a few thousand
MAX_DEPTH = 64
MAX_NUMBER_CHARS = 40
_TAG = "tag:yaml.org,2002:"
_SCALARS = yaml.constructor.SafeConstructor()


class YamlRefused(Exception):
    """The text cannot be read as data; the message says where."""


class Refused:
    """Stands for a value already refused with its key path (validation then skips it)."""

    def __repr__(self) -> str:
        return "<refused>"


def load_yaml(text: str, source: str) -> tuple[Any, Found]:
    """The data of the one document in ``text`` (None if empty) and the problems found."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        said = "; ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise YamlRefused(f"{where}: not valid YAML: {said}") from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise YamlRefused(f"{source}:{line}: not valid YAML: character "
                          f"#x{exc.character if isinstance(exc.character, int) else 0:04x} "
                          "is not allowed") from None
    except yaml.YAMLError as exc:
        raise YamlRefused(f"{source}: not valid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise YamlRefused(f"{source}: nested too deeply") from None
    if node is None:
        return None, []
    builder = _Builder(source)
    return builder.value(node, ()), builder.found


class _Builder:
    def __init__(self, source: str) -> None:
        self.source = source
        self.count = 0
        self.found: Found = []

    def value(self, node: Node, loc: Loc) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise YamlRefused(f"{self.source}: more than {MAX_VALUES} values with aliases "
                              "expanded; refused (an alias bomb?)")
        if len(loc) > MAX_DEPTH:
            raise YamlRefused(f"{self.source}:{node.start_mark.line + 1}: nested more than "
                              f"{MAX_DEPTH} levels deep")
        if isinstance(node, SequenceNode):
            return [self.value(item, (*loc, i)) for i, item in enumerate(node.value)]
        if isinstance(node, MappingNode):
            return self.mapping(node, loc)
        assert isinstance(node, ScalarNode)
        return self.scalar(node, loc)

    def mapping(self, node: MappingNode, loc: Loc) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _TAG + "merge":  # `<<: *defaults`: explicit keys win
                sources = value_node.value if isinstance(value_node, SequenceNode) \
                    else [value_node]
                for source in sources:
                    if not isinstance(source, MappingNode):
                        self.found.append((loc, f"line {line}: '<<' merges mappings only"))
                        continue
                    for key, value in self.mapping(source, loc).items():
                        merged.setdefault(key, value)
                continue
            if not isinstance(key_node, ScalarNode):
                self.found.append((loc, f"line {line}: a key must be a plain name, "
                                        "not a list or a mapping"))
                continue
            key = str(key_node.value)
            if key in lines:
                self.found.append(((*loc, key), f"key given twice (lines {lines[key]} and "
                                                f"{line})"))
            lines[key] = line
            out[key] = self.value(value_node, (*loc, key))
        return {**{k: v for k, v in merged.items() if k not in out}, **out}

    def scalar(self, node: ScalarNode, loc: Loc) -> Any:
        tag = node.tag.removeprefix(_TAG)
        if tag in ("str", "timestamp"):  # a date stays the text that was written
            return node.value
        if tag == "int" and len(node.value) > MAX_NUMBER_CHARS:
            self.found.append((loc, f"a number of {len(node.value)} characters is far too "
                                    "large"))
            return Refused()
        constructors = {"null": _SCALARS.construct_yaml_null,
                        "bool": _SCALARS.construct_yaml_bool,
                        "int": _SCALARS.construct_yaml_int,
                        "float": _SCALARS.construct_yaml_float}
        if tag not in constructors:
            self.found.append((loc, f"line {node.start_mark.line + 1}: unsupported YAML tag "
                                    f"{node.tag.replace(_TAG, '!!')}; write plain values"))
            return Refused()
        try:
            return constructors[tag](node)
        except (ValueError, OverflowError):
            self.found.append((loc, f"{node.value[:40]!r} is not a valid {tag}"))
            return Refused()
