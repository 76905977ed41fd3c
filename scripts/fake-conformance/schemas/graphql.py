"""GitHub's GraphQL answers against its schema (npm `@octokit/graphql-schema`, the introspection
result `schema.json`).

The log holds the answer, not the query, so the check is what the schema alone can say about
any answer: every key of an object is a field of its type (no invented field), every value has
its field's type (non-null, list, scalar, enum value), and interfaces and unions take the
fields of their possible types. Which fields are present depends on the query and is not checked.
"""

from __future__ import annotations

import json

from common import Outcome

SCALARS = {"String": str, "ID": str, "Boolean": bool, "Int": int, "Float": (int, float)}

# GraphQL's error entries (the GraphQL specification's "Response Format"; GitHub adds `type`).
ERROR_KEYS = {"message", "locations", "path", "extensions", "type"}


class GraphQlSchema:
    def __init__(self, path: str):
        with open(path, encoding="utf-8") as file:
            schema = json.load(file)["__schema"]
        self.types = {kind["name"]: kind for kind in schema["types"]}
        self.query = schema["queryType"]["name"]

    def fields(self, name: str) -> dict[str, dict]:
        kind = self.types[name]
        if kind["kind"] in ("UNION",) or (kind["kind"] == "INTERFACE" and kind.get("possibleTypes")):
            found = {field["name"]: field["type"] for field in kind.get("fields") or []}
            for possible in kind.get("possibleTypes") or []:
                for field, ref in self.fields(possible["name"]).items():
                    found.setdefault(field, ref)
            return found
        return {field["name"]: field["type"] for field in kind.get("fields") or []}

    def value_errors(self, value, ref: dict, path: str) -> list[str]:
        if ref["kind"] == "NON_NULL":
            if value is None:
                return [f"{path}: null for a non-null field"]
            return self.value_errors(value, ref["ofType"], path)
        if value is None:
            return []
        if ref["kind"] == "LIST":
            if not isinstance(value, list):
                return [f"{path}: expected a list"]
            errors = []
            for index, item in enumerate(value):
                errors += self.value_errors(item, ref["ofType"], f"{path}[{index}]")
            return errors
        kind = self.types[ref["name"]]
        if kind["kind"] == "SCALAR":
            expected = SCALARS.get(kind["name"], str)  # GitHub's custom scalars are strings
            if isinstance(value, bool) and expected is not bool:
                return [f"{path}: expected {kind['name']}, got a boolean"]
            return [] if isinstance(value, expected) else [f"{path}: expected {kind['name']}, got {value!r}"]
        if kind["kind"] == "ENUM":
            names = [enum["name"] for enum in kind["enumValues"]]
            return [] if value in names else [f"{path}: {value!r} is not a value of {kind['name']}"]
        if not isinstance(value, dict):
            return [f"{path}: expected an object of type {kind['name']}"]
        type_name = value.get("__typename", kind["name"])
        fields = self.fields(type_name if type_name in self.types else kind["name"])
        errors = []
        for key, item in value.items():
            if key == "__typename":
                continue
            if key not in fields:
                errors.append(f"{path}.{key}: not a field of {type_name}")
                continue
            errors += self.value_errors(item, fields[key], f"{path}.{key}")
        return errors

    def check(self, entry: dict) -> Outcome:
        name = "POST /graphql"
        body = entry["body"]
        if entry["status"] != 200:
            return Outcome(name, [f"status {entry['status']}: handled as a REST error"])
        if not isinstance(body, dict):
            return Outcome(name, ["the answer is not a JSON object"])
        errors = [f"$.{key}: not a key of a GraphQL answer" for key in body if key not in ("data", "errors")]
        for index, error in enumerate(body.get("errors") or []):
            if not isinstance(error, dict) or not isinstance(error.get("message"), str):
                errors.append(f"$.errors[{index}]: an error needs its message")
                continue
            errors += [f"$.errors[{index}].{key}: not a key of a GraphQL error" for key in error if key not in ERROR_KEYS]
        if body.get("data") is not None:
            errors += self.value_errors(body["data"], {"kind": "OBJECT", "name": self.query}, "$.data")
        return Outcome(name, errors)
