"""Google API discovery documents (PyPI `google-api-python-client`) in the internal form."""

from __future__ import annotations

import json

from common import Outcome, literal_weight, match_route, template_regex
from schema import Schema, Schemas, validate

# Google's JSON error body, as documented for every Google API (https://cloud.google.com/apis/
# design/errors#http_mapping, and the Admin SDK's error pages): discovery documents do not
# describe it, so it is written here. `errors` is the legacy list the Admin SDK still sends.
ERROR: Schema = {
    "type": "object",
    "required": ["error"],
    "additional": None,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "additional": None,
            "properties": {
                "code": {"type": "integer"},
                "message": {"type": "string"},
                "status": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["message"],
                        "additional": None,
                        "properties": {
                            "message": {"type": "string"},
                            "domain": {"type": "string"},
                            "reason": {"type": "string"},
                            "location": {"type": "string"},
                            "locationType": {"type": "string"},
                        },
                    },
                },
                # google.rpc.Status details: Any messages, each with its "@type".
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["@type"],
                        "properties": {"@type": {"type": "string"}},
                        "additional": {"type": "any"},
                    },
                },
            },
        }
    },
}


class Discovery:
    def __init__(self, path: str):
        with open(path, encoding="utf-8") as file:
            self.doc = json.load(file)
        self.name = f"{self.doc['name']}.{self.doc['version']}"
        self.schemas = Schemas(lambda name: self.convert(self.doc["schemas"][name]))
        routes = []

        def walk(resource: dict) -> None:
            for method in resource.get("methods", {}).values():
                template = "/" + self.doc["servicePath"] + method.get("flatPath", method["path"])
                routes.append((method["httpMethod"], template_regex(template), (template, method)))
            for child in resource.get("resources", {}).values():
                walk(child)

        walk(self.doc)
        routes.sort(key=lambda route: -literal_weight(route[2][0]))
        self.routes = routes

    def convert(self, node: dict) -> Schema:
        if "$ref" in node:
            return {"ref": node["$ref"]}
        kind = node.get("type", "any")
        if kind == "string" or (kind == "integer" and node.get("format") in ("int64", "uint64")):
            # 64-bit integers travel as JSON strings (proto3 JSON mapping).
            schema: Schema = {"type": "string"}
        else:
            schema = {"type": kind}
        if "enum" in node:
            schema["enum"] = node["enum"]
        if node.get("format") == "google-datetime":
            schema["format"] = "date-time"
        if kind == "array":
            schema["items"] = self.convert(node.get("items", {}))
        elif kind == "object":
            properties = node.get("properties", {})
            additional = node.get("additionalProperties")
            schema["properties"] = {name: self.convert(value) for name, value in properties.items()}
            if additional is not None:
                schema["additional"] = self.convert(additional)
            elif not properties:
                schema["additional"] = {"type": "any"}
            else:
                schema["additional"] = None
        return schema

    def find(self, method: str, path: str):
        return match_route(self.routes, method, path)

    def check(self, entry: dict, found, error: Schema = ERROR) -> Outcome:
        template, method = found
        name = f"{self.name} {entry['method']} {template}"
        if entry["status"] >= 400:
            return Outcome(name, validate(entry["body"], error, None))
        if entry["status"] != 200:
            return Outcome(name, [f"status {entry['status']}: Google APIs answer 200 on success"])
        response = method.get("response")
        if response is None:
            return Outcome(name, [] if entry["body"] in (None, {}) else ["a body was sent where none is described"])
        if not isinstance(entry["body"], dict):
            return Outcome(name, [f"expected a JSON object body, got {type(entry['body']).__name__}"])
        return Outcome(name, validate(entry["body"], self.convert(response), self.schemas))
