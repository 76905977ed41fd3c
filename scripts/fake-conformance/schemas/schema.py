"""The one strict validator every description is turned into.

A schema is a dict in a small internal form that each adapter (OpenAPI, Google discovery,
botocore, Azure msrest models, the Okta SDK's models) produces from its official description:

    {"type": "object", "properties": {name: schema}, "required": [names],
     "additional": schema | None}        # None: closed, no undeclared property is allowed
    {"type": "array", "items": schema}
    {"type": "string" | "integer" | "number" | "boolean", "enum": [...]}   # enum optional
    {"type": "string", "format": "date-time"}   # an RFC 3339 timestamp
    {"type": "any"}                      # the description says nothing about the value
    {"anyOf": [schema, ...]}             # OpenAPI oneOf/anyOf, polymorphic models
    {"ref": name}                        # a named schema, resolved through `Schemas.lookup`
    {"discriminator": key, "mapping": {value: schema}, "base": schema}   # msrest subtypes

Every schema may carry "nullable": True; without it JSON null is refused. Objects are closed
unless the description declares additional properties, so a fake that invents a field fails.
"""

from __future__ import annotations

import re
from typing import Callable

Schema = dict

# RFC 3339 `date-time`: what every description here means by a timestamp string.
DATE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)\Z", re.IGNORECASE)


class Schemas:
    """Named schemas, converted lazily from a description by `convert(name)`."""

    def __init__(self, convert: Callable[[str], Schema]):
        self._convert = convert
        self._cache: dict[str, Schema] = {}

    def lookup(self, name: str) -> Schema:
        if name not in self._cache:
            # A placeholder first so that a recursive description does not loop while converting.
            self._cache[name] = {"type": "any"}
            self._cache[name] = self._convert(name)
        return self._cache[name]


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def validate(value, schema: Schema, schemas: Schemas | None, path: str = "$") -> list[str]:
    """The ways `value` leaves `schema`, each as "<json path>: <what>"; empty when it conforms."""
    if "ref" in schema:
        assert schemas is not None, "a ref needs the named schemas"
        target = schemas.lookup(schema["ref"])
        if schema.get("nullable") and value is None:
            return []
        return validate(value, target, schemas, path)
    if value is None and (schema.get("nullable") or schema.get("type") == "any"):
        return []
    if value is None and "anyOf" not in schema:
        return [f"{path}: null is not allowed"]
    if "anyOf" in schema:
        failures = []
        for option in schema["anyOf"]:
            errors = validate(value, option, schemas, path)
            if not errors:
                return []
            failures.append(errors)
        best = min(failures, key=len) if failures else [f"{path}: no alternative declared"]
        return [f"{path}: matches none of {len(schema['anyOf'])} alternatives; closest: "] + best
    if "discriminator" in schema:
        if not isinstance(value, dict):
            return [f"{path}: expected object, got {_kind(value)}"]
        tag = value.get(schema["discriminator"])
        chosen = schema["mapping"].get(tag, schema["base"])
        return validate(value, chosen, schemas, path)
    kind = schema.get("type", "any")
    actual = _kind(value)
    if kind == "any":
        return []
    if kind == "number" and actual == "integer":
        actual = "number"
    if kind != actual:
        return [f"{path}: expected {kind}, got {actual} {_short(value)}"]
    errors: list[str] = []
    if schema.get("format") == "date-time" and not DATE_TIME.match(value):
        errors.append(f"{path}: {value!r} is not an RFC 3339 date-time")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if kind == "array":
        for index, item in enumerate(value):
            errors += validate(item, schema.get("items", {"type": "any"}), schemas, f"{path}[{index}]")
    elif kind == "object":
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{path}: required property {name!r} is missing")
        for name, item in value.items():
            child = f"{path}.{name}"
            if name in properties:
                errors += validate(item, properties[name], schemas, child)
            elif schema.get("additional") is not None:
                errors += validate(item, schema["additional"], schemas, child)
            else:
                errors.append(f"{child}: property not declared by the description")
    return errors


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
