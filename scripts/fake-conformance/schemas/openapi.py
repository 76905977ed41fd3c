"""OpenAPI 3.0 documents (GitHub's, from npm `@octokit/openapi`) in the internal schema form."""

from __future__ import annotations

import json

from common import Outcome, literal_weight, match_route, template_regex
from schema import Schema, Schemas, validate

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


class OpenApi:
    def __init__(self, path: str, prefix: str = ""):
        with open(path, encoding="utf-8") as file:
            self.doc = json.load(file)
        self.schemas = Schemas(lambda name: self.convert(self.doc["components"]["schemas"][name]))
        routes = []
        for template, item in self.doc["paths"].items():
            for method, operation in item.items():
                if method in METHODS:
                    routes.append((method.upper(), template_regex(prefix + template), (template, operation)))
        routes.sort(key=lambda route: -literal_weight(route[2][0]))
        self.routes = routes

    def deref(self, node: dict) -> dict:
        while "$ref" in node:
            *_, kind, name = node["$ref"].split("/")
            node = self.doc["components"][kind][name]
        return node

    def merge_all_of(self, node: dict) -> dict:
        """allOf's parts in one object: their properties and required lists together (GitHub uses
        allOf to extend an object, so the merged object is closed like its parts)."""
        merged: dict = {k: v for k, v in node.items() if k != "allOf"}
        merged.setdefault("properties", {})
        merged.setdefault("required", [])
        for part in node["allOf"]:
            part = self.deref(part)
            if "allOf" in part:
                part = self.merge_all_of(part)
            if "anyOf" in part or "oneOf" in part:
                # Not a plain extension: keep it as an alternative the value must also match.
                merged.setdefault("_also", []).append(part)
                continue
            merged["properties"].update(part.get("properties", {}))
            merged["required"] = merged["required"] + [r for r in part.get("required", []) if r not in merged["required"]]
            for key in ("type", "additionalProperties", "nullable", "enum", "items"):
                if key in part and key not in merged:
                    merged[key] = part[key]
        return merged

    def convert(self, node: dict) -> Schema:
        if "$ref" in node:
            *_, kind, name = node["$ref"].split("/")
            assert kind == "schemas", node["$ref"]
            return {"ref": name}
        if "allOf" in node:
            node = self.merge_all_of(node)
            if "_also" in node and not node["properties"]:
                return self.convert(node["_also"][0])
        nullable = bool(node.get("nullable"))
        alternatives = node.get("oneOf") or node.get("anyOf")
        if alternatives:
            schema: Schema = {"anyOf": [self.convert(option) for option in alternatives]}
            if nullable:
                schema["nullable"] = True
            return schema
        kind = node.get("type")
        if kind is None and ("properties" in node or "additionalProperties" in node):
            kind = "object"
        if kind is None:
            return {"type": "any"}
        schema = {"type": kind}
        if nullable:
            schema["nullable"] = True
        if "enum" in node:
            schema["enum"] = node["enum"]
        if kind == "string" and node.get("format") == "date-time":
            schema["format"] = "date-time"
        if kind == "array":
            schema["items"] = self.convert(node.get("items", {}))
        elif kind == "object":
            properties = node.get("properties", {})
            additional = node.get("additionalProperties")
            if not properties and additional is None:
                # A bare `type: object` is OpenAPI's free-form object.
                schema["additional"] = {"type": "any", "nullable": True}
            elif additional is True or additional == {}:
                schema["additional"] = {"type": "any", "nullable": True}
            elif isinstance(additional, dict):
                schema["additional"] = self.convert(additional)
            else:
                schema["additional"] = None
            schema["properties"] = {name: self.convert(value) for name, value in properties.items()}
            schema["required"] = list(node.get("required", []))
        return schema

    def check(self, entry: dict, generic: dict[int, str]) -> Outcome:
        """Maps a logged response to its operation and validates it. `generic` names, for the
        statuses the API answers on any operation without each one declaring them, the component
        schema of that answer."""
        found = match_route(self.routes, entry["method"], entry["path"])
        if found is None:
            return Outcome(None, ["no described operation for this method and path"])
        template, operation = found
        name = f"{entry['method']} {template}"
        status = str(entry["status"])
        responses = operation.get("responses", {})
        response = responses.get(status) or responses.get(status[0] + "XX") or responses.get("default")
        if response is None:
            if entry["status"] in generic:
                return Outcome(name, self.body_errors(entry, {"$ref": "#/components/schemas/" + generic[entry["status"]]}))
            return Outcome(name, [f"status {status} is not described for this operation (described: {sorted(responses)})"])
        response = self.deref(response)
        content = response.get("content") or {}
        if not content:
            if entry["body"] is not None and entry["status"] in generic:
                # GitHub describes some refusals without their body, which is its usual error.
                return Outcome(name, self.body_errors(entry, {"$ref": "#/components/schemas/" + generic[entry["status"]]}))
            if entry["body"] is not None:
                return Outcome(name, [f"status {status} is described without a body, but one was sent"])
            return Outcome(name)
        media = next((m for m in content if "json" in m), None)
        if media is None:
            return Outcome(name, [f"no JSON body is described for status {status} ({list(content)})"])
        if entry["contentType"] is None or "json" not in entry["contentType"]:
            return Outcome(name, [f"content type {entry['contentType']!r}, described: {media}"])
        return Outcome(name, self.body_errors(entry, content[media].get("schema", {})))

    def body_errors(self, entry: dict, node: dict) -> list[str]:
        if isinstance(entry["body"], str) and "json" in (entry["contentType"] or ""):
            return ["the body is not valid JSON"]
        return validate(entry["body"], self.convert(node), self.schemas)
