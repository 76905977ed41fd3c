"""Okta's management API from the generated Okta Node SDK (npm `@okta/okta-sdk-nodejs`), which is
generated from Okta's OpenAPI document (not itself published to a registry this machine reaches).

- Models: `src/generated/models/<Name>.js` gives `<Name>.attributeTypeMap` ({name, baseName, type})
  and `<Name>.isExtensible` (additional properties allowed); `src/types/generated/models/*.d.ts`
  gives the enums (string unions), oneOf unions, and per property whether it is optional (`?`)
  and nullable (`| null`).
- Operations: each `*ApiRequestFactory` method names its path and HTTP method; the
  `*ApiResponseProcessor` method of the same name names the model per status code.
"""

from __future__ import annotations

import glob
import os
import re

from common import Outcome, literal_weight, match_route, template_regex
from schema import Schema, Schemas, validate

ATTRIBUTE = re.compile(r"'name': '([^']*)',\s*'baseName': '([^']*)',\s*'type': '([^']*)'")


class OktaSdk:
    def __init__(self, root: str):
        generated = os.path.join(root, "src/generated")
        self.models: dict[str, dict] = {}
        for path in glob.glob(os.path.join(generated, "models/*.js")):
            name = os.path.basename(path)[:-3]
            with open(path, encoding="utf-8") as file:
                text = file.read()
            block = re.search(rf"\b{name}\.attributeTypeMap = \[(\]|.*?\n\])", text, re.S)
            if block is None:
                continue
            discriminator = re.search(rf"\b{name}\.discriminator = '([^']*)'", text)
            self.models[name] = {
                "attributes": ATTRIBUTE.findall(block.group(1)),
                "extensible": f"{name}.isExtensible = true" in text,
                "discriminator": discriminator.group(1) if discriminator else None,
            }
        self.enums: dict[str, list[str]] = {}
        self.arrays: dict[str, str] = {}
        self.unions: dict[str, list[str]] = {}
        self.declared: dict[str, dict[str, tuple[bool, bool]]] = {}  # model -> name -> (optional, nullable)
        for path in glob.glob(os.path.join(root, "src/types/generated/models/*.d.ts")):
            with open(path, encoding="utf-8") as file:
                text = file.read()
            # Enums, some declared beside the model that uses them.
            for enum, values in re.findall(r"export type (\w+) = ('(?:[^'\\]|\\.)*'(?: \| '(?:[^'\\]|\\.)*')*);", text):
                self.enums[enum] = re.findall(r"'((?:[^'\\]|\\.)*)'", values)
            # oneOf: `export type UserFactorTokenVerify = UserFactorTokenVerifyRSA | ...;`
            for union, members in re.findall(r"export type (\w+) = ([\w<>]+(?: \| [\w<>]+)+);", text):
                self.unions[union] = members.split(" | ")
            # The declared class says which properties are optional (`'x'?:`) and which may be
            # null (`| null`); the attributeTypeMap does not.
            for model, body in re.findall(r"export declare class (\w+) \{\n(.*?)\n\s*static readonly", text, re.S):
                for name, optional, kind in re.findall(r"^\s+'([^']+)'(\??): (.*?);$", body, re.M):
                    self.declared.setdefault(model, {})[name] = (optional == "?", kind.endswith("| null"))
            # A model that is a plain array (`class ConnectionScopes extends Array<string>`).
            found = re.search(r"export declare class (\w+) extends (Array<[^{]*>) \{", text)
            if found:
                self.arrays[found.group(1)] = found.group(2)
        self.schemas = Schemas(self.convert)
        self.routes = []
        for path in glob.glob(os.path.join(generated, "apis/*Api.js")):
            self.read_api(path)
        self.routes.sort(key=lambda route: -literal_weight(route[2][0]))

    def read_api(self, path: str) -> None:
        with open(path, encoding="utf-8") as file:
            text = file.read()
        factory, _, processor = text.partition("ResponseProcessor {")
        requests = {}
        for chunk in re.split(r"\n  async (?=\w+\()", factory)[1:]:
            name = chunk.split("(", 1)[0]
            template = re.search(r"const path = '([^']*)'", chunk)
            method = re.search(r"HttpMethodEnum\.(\w+)", chunk)
            if template and method:
                requests[name] = (method.group(1), template.group(1))
        for chunk in re.split(r"\n  async (?=\w+\(response\))", processor)[1:]:
            name = chunk.split("(", 1)[0]
            if name not in requests:
                continue
            responses = {}
            for status, body in re.findall(r"isCodeInRange\)\('(\w+)', response\.httpStatusCode\)\) \{\n(.*?)\n    \}", chunk, re.S):
                kind = re.search(r"deserialize\(.*?, '([^']+)', ''\)", body)
                responses[status] = kind.group(1) if kind else None
            method, template = requests[name]
            self.routes.append((method, template_regex(template), (template, name, responses)))

    def type_schema(self, kind: str) -> Schema:
        kind = kind.strip()
        if kind.endswith(" | null"):
            return dict(self.type_schema(kind[: -len(" | null")]), nullable=True)
        if kind.endswith(" & any"):
            # `LinksSelf & any`: the model and whatever else the object carries.
            return {"type": "any"}
        for prefix in ("Array<", "Set<"):
            if kind.startswith(prefix) and kind.endswith(">"):
                return {"type": "array", "items": self.type_schema(kind[len(prefix):-1])}
        if kind.startswith("{ [key: string]: ") and kind.endswith("; }"):
            return {"type": "object", "properties": {}, "additional": self.type_schema(kind[17:-3])}
        simple = {"string": "string", "boolean": "boolean", "number": "number", "Date": "string",
                  "any": "any", "object": "any", "Object": "any", "HttpFile": "string"}
        if kind == "Date":
            return {"type": "string", "format": "date-time"}
        if kind in simple:
            return {"type": simple[kind]}
        if kind in self.unions:
            return {"anyOf": [self.type_schema(member) for member in self.unions[kind]]}
        if kind in self.arrays:
            return self.type_schema(self.arrays[kind])
        if kind in self.enums:
            return {"type": "string", "enum": self.enums[kind]}
        if kind in self.models:
            return {"ref": kind}
        raise ValueError(f"okta: unknown type {kind!r}")

    def convert(self, name: str) -> Schema:
        model = self.models[name]
        declared = self.declared.get(name, {})
        properties, required = {}, []
        for attribute, base, kind in model["attributes"]:
            optional, nullable = declared.get(attribute, (True, False))
            schema = self.type_schema(kind)
            if nullable:
                schema = dict(schema, nullable=True)
            properties[base] = schema
            if not optional:
                required.append(base)
        return {
            "type": "object", "required": required, "properties": properties,
            # A model the SDK marks extensible (a user's profile with custom attributes) or
            # without attributes takes any property; so does a polymorphic base, whose subtypes
            # add their own (the SDK resolves them at run time).
            "additional": {"type": "any"} if model["extensible"] or not model["attributes"] or model["discriminator"] else None,
        }

    def check(self, entry: dict, generic: dict[int, str]) -> Outcome:
        found = match_route(self.routes, entry["method"], entry["path"])
        if found is None:
            return Outcome(None, ["no described operation for this method and path"])
        template, name, responses = found
        label = f"{name} ({entry['method']} {template})"
        status = str(entry["status"])
        if status in responses:
            kind = responses[status]
        elif entry["status"] in generic:
            kind = generic[entry["status"]]
        else:
            return Outcome(label, [f"status {status} is not described (described: {sorted(responses)})"])
        if kind is None:
            return Outcome(label, [] if entry["body"] is None else ["a body was sent where none is described"])
        return Outcome(label, validate(entry["body"], self.type_schema(kind), self.schemas))
