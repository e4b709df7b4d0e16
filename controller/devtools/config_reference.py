"""The config reference and the config's JSON Schema, both generated from the config models.

``python -m controller.devtools.config_reference`` writes docs/config.schema.json (for
editors: completion and checks as you type) and docs/reference/configuration.md (every key,
its type, default and allowed values); ``--check`` writes nothing and exits 1 when either
committed file differs from what the models give, as a test does. The models are the one
source: a key added there is in both files at the next run, and missing until then.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from config.models import Config

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "docs" / "config.schema.json"
REFERENCE_PATH = ROOT / "docs" / "reference" / "configuration.md"
SCHEMA_ID = "config.schema.json"
Schema = dict[str, Any]

INTRO = """\
# Configuration reference

<!-- Generated from the config models by `python -m controller.devtools.config_reference`;
     edit the models, not this page (a test fails when it is out of date). -->

Every key of the config file, block by block: its type, its default ("required" when it
has none) and the values allowed; every number that is not a whole number is a duration
in seconds. Anything else is refused by `failoverctl check-config`
and by `run`, with its key path. Rules between keys (a
`timeout` within ten `interval`s, `fence` and `promote` passing `{seq}` both or neither,
...) are in the [configuration guide](../guide/configuration.md), with the environment
overrides that every key accepts.

The same models give the [JSON Schema](../config.schema.json) of the file, for an editor's
completion and checks (see [the guide](../guide/configuration.md#checks-in-your-editor)).
"""


class _FactoryDefaults(GenerateJsonSchema):
    """Also shows the defaults that models make by a factory (``[200]``, an empty list, a
    block of defaults), which pydantic leaves out: a reader needs them as much."""

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            make: Any = factory  # without data it takes no argument (typed as either kind)
            fields: dict[str, Any] = {**schema, "default": make()}
            del fields["default_factory"]
            schema = cast(core_schema.WithDefaultSchema, fields)
        return super().default_schema(schema)


def schema() -> Schema:
    """The config's JSON Schema (draft 2020-12), as editors read it."""
    out: Schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                   "$id": SCHEMA_ID, **Config.model_json_schema(schema_generator=_FactoryDefaults)}
    out["title"] = "failover-controller config"
    out["description"] = ("The config file of failoverctl run and check-config. Generated "
                          "from the config models; check-config has the last word.")
    return out


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    type: str
    default: str
    allowed: str


@dataclass(frozen=True, slots=True)
class Block:
    """One object of the schema: a definition, or the top level."""

    name: str
    title: str
    where: tuple[str, ...]  # the key paths that hold it


def _ref_name(node: Schema) -> str | None:
    # Older pydantic wraps a reference that has a default in a one-item allOf.
    wrapped: list[Schema] = node.get("allOf", [])
    ref = node.get("$ref") or (wrapped[0].get("$ref") if len(wrapped) == 1 else None)
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def _anchor(name: str) -> str:
    return name.lower()


def _link(name: str, definitions: Schema) -> str:
    title = _block_title(name, definitions)
    return f"[{title}](#{_anchor(name)})"


def _block_title(name: str, definitions: Schema) -> str:
    kind = definitions[name].get("properties", {}).get("kind", {}).get("const")
    base = name.removesuffix("Config")
    return f"{base} (`kind: {kind}`)" if kind else base


def _variants(node: Schema) -> list[Schema] | None:
    for key in ("oneOf", "anyOf"):
        if key in node:
            return [v for v in node[key] if v.get("type") != "null"]
    return None


def _type(node: Schema, definitions: Schema) -> str:
    name = _ref_name(node)
    if name:
        return _link(name, definitions)
    variants = _variants(node)
    if variants is not None:
        return " or ".join(_type(v, definitions) for v in variants)
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return "one of " + ", ".join(f"`{json.dumps(v)}`" for v in node["enum"])
    kind = node.get("type")
    if kind == "array":
        return f"list of {_type(node.get('items', {}), definitions)}"
    if kind == "object":
        values = node.get("additionalProperties")
        return f"map of text to {_type(values, definitions)}" if isinstance(values, dict) \
            else "map"
    if node.get("format") == "password":
        return "secret text"
    return {"string": "text", "number": "number", "integer": "whole number",
            "boolean": "true or false"}.get(str(kind), str(kind))


def _number(value: float) -> str:
    if float(value).is_integer() and abs(value) >= 10_000:
        return f"{int(value):,}".replace(",", " ")
    return f"{value:g}"


def _allowed(node: Schema) -> str:
    parts: list[str] = []
    for variant in _variants(node) or [node]:
        if "minimum" in variant or "maximum" in variant:
            parts.append(f"{_number(variant.get('minimum', float('-inf')))} to "
                         f"{_number(variant.get('maximum', float('inf')))}")
        if "minItems" in variant:
            parts.append(f"at least {variant['minItems']} item"
                         + ("s" if variant["minItems"] > 1 else ""))
        if "minLength" in variant:
            parts.append(f"at least {variant['minLength']} character"
                         + ("s" if variant["minLength"] > 1 else ""))
        if "maxLength" in variant:
            parts.append(f"at most {variant['maxLength']} characters")
        if "pattern" in variant:
            parts.append(f"matches `{variant['pattern']}`")
    return "; ".join(parts)


def _default(node: Schema, required: bool) -> str:
    if required:
        return "required"
    if "default" not in node:
        return "none"
    if _ref_name(node) or any(_ref_name(v) for v in _variants(node) or []):
        return "its keys' defaults" if node["default"] is not None else "none"
    value = node["default"]
    if value is None:
        return "none"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{json.dumps(value)}`"


def _children(node: Schema) -> list[tuple[str, Schema]]:
    """(suffix, schema) of every block a property's schema leads to."""
    out: list[tuple[str, Schema]] = []
    if _ref_name(node):
        out.append(("", node))
    for variant in _variants(node) or []:
        out += _children(variant)
    if node.get("type") == "array":
        out += [("[]" + suffix, child) for suffix, child in _children(node.get("items", {}))]
    return out


def blocks(document: Schema) -> list[tuple[Block, Schema]]:
    """Every object in the order a reader meets it, each with the paths that hold it."""
    definitions: Schema = document.get("$defs", {})
    where: dict[str, list[str]] = {"": [""]}
    order = [""]
    queue: list[tuple[str, Schema]] = [("", document)]
    while queue:
        path, node = queue.pop(0)
        for key, child in node.get("properties", {}).items():
            for suffix, ref in _children(child):
                name = _ref_name(ref)
                assert name is not None
                full = f"{path}.{key}{suffix}" if path else f"{key}{suffix}"
                if name not in where:
                    where[name] = []
                    order.append(name)
                    queue.append((full, definitions[name]))
                where[name].append(full)
    return [(Block(name, _block_title(name, definitions) if name else "Top level",
                   tuple(where[name])), definitions[name] if name else document)
            for name in order]


def rows(node: Schema, definitions: Schema) -> list[Row]:
    required = set(node.get("required", []))
    return [Row(key, _type(child, definitions), _default(child, key in required),
                _allowed(child))
            for key, child in node.get("properties", {}).items()]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def reference(document: Schema) -> str:
    definitions: Schema = document.get("$defs", {})
    out = [INTRO]
    for block, node in blocks(document):
        anchor = _anchor(block.name) if block.name else "top-level"
        out.append(f'## {block.title} {{#{anchor}}}\n')
        if block.name:
            out.append("At " + ", ".join(f"`{w}`" for w in block.where) + ".\n")
        if block.name and node.get("description"):
            out.append(f"{' '.join(node['description'].split())}\n")
        out.append("| Key | Type | Default | Allowed |\n| --- | --- | --- | --- |")
        out += [f"| `{r.key}` | {_cell(r.type)} | {_cell(r.default)} | {_cell(r.allowed)} |"
                for r in rows(node, definitions)]
        out.append("")
    return "\n".join(out)


def rendered() -> dict[Path, str]:
    document = schema()
    return {SCHEMA_PATH: json.dumps(document, indent=2, ensure_ascii=False) + "\n",
            REFERENCE_PATH: reference(document)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if a committed file is not up to date, write nothing")
    args = parser.parse_args(argv)
    stale = [path for path, text in rendered().items()
             if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)}: out of date; run "
                  "python -m controller.devtools.config_reference", file=sys.stderr)
        return 1 if stale else 0
    for path, text in rendered().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
