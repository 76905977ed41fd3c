"""botocore service models (PyPI `botocore`): rest-json bodies in the internal schema form, and the
query protocol's XML answers (STS) walked against the output shape directly."""

from __future__ import annotations

import gzip
import json
import os
import re
import xml.etree.ElementTree as ET

from common import Outcome, literal_weight, match_route, template_regex
from schema import Schema, Schemas, validate

# Errors any AWS service may answer though no operation lists them (AWS's "Common Errors" for
# every API: authentication and throttling refused before the service sees the call). Their
# rest-json body is AWS's plain error document with the message only.
COMMON_ERRORS = {
    "AccessDeniedException", "IncompleteSignature", "InvalidClientTokenId", "InvalidSignatureException",
    "MissingAuthenticationTokenException", "ExpiredTokenException", "UnrecognizedClientException",
    "ThrottlingException", "ServiceUnavailable", "InternalFailure", "SignatureDoesNotMatch",
    "AccessDenied", "ExpiredToken", "ValidationError", "Throttling", "RequestExpired",
}
COMMON_JSON_ERROR: Schema = {
    "type": "object", "additional": None, "required": [],
    "properties": {"message": {"type": "string"}, "Message": {"type": "string"}},
}


class Model:
    def __init__(self, path: str):
        # Newer botocore wheels ship the models gzipped.
        if not os.path.exists(path):
            path += ".gz"
        with (gzip.open if path.endswith(".gz") else open)(path, "rt", encoding="utf-8") as file:
            self.doc = json.load(file)
        meta = self.doc["metadata"]
        self.protocol = meta["protocol"]
        self.name = f"{meta.get('endpointPrefix')} {meta['apiVersion']}"
        self.shapes = self.doc["shapes"]
        self.schemas = Schemas(lambda name: self.convert(name))
        routes = []
        for name, operation in self.doc["operations"].items():
            http = operation.get("http", {})
            uri = http.get("requestUri", "/").split("?")[0]
            routes.append((http.get("method", "POST"), template_regex(uri), (uri, name, operation)))
        routes.sort(key=lambda route: -literal_weight(route[2][0]))
        self.routes = routes

    # ---- rest-json ----
    def member_schema(self, member: dict) -> Schema:
        shape = self.shapes[member["shape"]]
        if shape["type"] == "timestamp":
            return self.timestamp(member.get("timestampFormat") or shape.get("timestampFormat"))
        return {"ref": member["shape"]}

    def timestamp(self, fmt: str | None) -> Schema:
        # rest-json and json bodies carry epoch seconds unless the model says otherwise.
        if fmt == "iso8601":
            return {"type": "string", "format": "date-time"}
        if fmt == "rfc822":
            return {"type": "string"}
        return {"type": "number"}

    def convert(self, name: str) -> Schema:
        shape = self.shapes[name]
        kind = shape["type"]
        if shape.get("document"):
            return {"type": "any"}
        if kind == "structure":
            properties = {}
            for member_name, member in shape.get("members", {}).items():
                if member.get("location"):  # a header, a URI label or a query parameter
                    continue
                properties[member.get("locationName", member_name)] = self.member_schema(member)
            required = [shape["members"][m].get("locationName", m) for m in shape.get("required", [])
                        if not shape["members"][m].get("location")]
            return {"type": "object", "properties": properties, "required": required, "additional": None}
        if kind == "list":
            return {"type": "array", "items": self.member_schema(shape["member"])}
        if kind == "map":
            return {"type": "object", "properties": {}, "additional": self.member_schema(shape["value"])}
        if kind == "string":
            schema: Schema = {"type": "string"}
            if "enum" in shape:
                schema["enum"] = shape["enum"]
            return schema
        if kind in ("integer", "long"):
            return {"type": "integer"}
        if kind in ("float", "double"):
            return {"type": "number"}
        if kind == "boolean":
            return {"type": "boolean"}
        if kind == "timestamp":
            return self.timestamp(shape.get("timestampFormat"))
        if kind == "blob":
            return {"type": "string"}
        raise ValueError(f"{self.name}: shape {name} of unknown type {kind}")

    def find(self, method: str, path: str):
        return match_route(self.routes, method, path)

    def check_rest_json(self, entry: dict, found) -> Outcome:
        uri, name, operation = found
        label = f"{self.name} {name} ({entry['method']} {uri})"
        body = entry["body"]
        if entry["status"] >= 400:
            shapes = [e["shape"] for e in operation.get("errors", [])
                      if self.shapes[e["shape"]].get("error", {}).get("httpStatusCode") == entry["status"]]
            options = [{"ref": shape} for shape in shapes] + [COMMON_JSON_ERROR]
            return Outcome(label, validate(body, {"anyOf": options}, self.schemas))
        expected = operation.get("http", {}).get("responseCode", 200)
        if entry["status"] != expected:
            return Outcome(label, [f"status {entry['status']}, described: {expected}"])
        output = operation.get("output")
        if output is None:
            return Outcome(label, [] if body in (None, {}) else ["a body was sent where none is described"])
        shape = self.shapes[output["shape"]]
        payload = shape.get("payload")
        schema = self.member_schema(shape["members"][payload]) if payload else {"ref": output["shape"]}
        return Outcome(label, validate(body, schema, self.schemas))

    # ---- query protocol (XML) ----
    def check_query(self, entry: dict) -> Outcome:
        text = entry["body"] if isinstance(entry["body"], str) else ""
        try:
            root = ET.fromstring(text)
        except ET.ParseError as error:
            return Outcome(f"{self.name} (XML)", [f"the body is not XML: {error}"])
        tag = _local(root.tag)
        namespace = self.doc["metadata"].get("xmlNamespace")
        errors = []
        if _namespace(root.tag) != namespace:
            errors.append(f"root namespace {_namespace(root.tag)!r}, described {namespace!r}")
        if tag == "ErrorResponse":
            return Outcome(f"{self.name} ErrorResponse", errors + self.query_error(root, entry["status"]))
        operation_name = tag[: -len("Response")] if tag.endswith("Response") else None
        operation = self.doc["operations"].get(operation_name or "")
        if operation is None:
            return Outcome(None, [f"root element <{tag}> names no described operation"])
        label = f"{self.name} {operation_name}"
        if entry["status"] != 200:
            errors.append(f"status {entry['status']} for a successful answer")
        output = operation.get("output")
        children = list(root)
        names = [_local(child.tag) for child in children]
        wrapper = output.get("resultWrapper") if output else None
        expected = ([wrapper] if wrapper else []) + ["ResponseMetadata"]
        if names != expected:
            errors.append(f"$: children {names}, described {expected}")
        for child in children:
            if _local(child.tag) == wrapper:
                errors += self.xml_errors(child, output["shape"], f"$.{wrapper}")
            elif _local(child.tag) == "ResponseMetadata":
                errors += _exact_children(child, {"RequestId"}, {"RequestId"}, "$.ResponseMetadata")
        return Outcome(label, errors)

    def query_error(self, root, status: int) -> list[str]:
        # The query protocol's error document (AWS's "Query API error responses"):
        # <ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>.
        errors = _exact_children(root, {"Error", "RequestId"}, {"Error", "RequestId"}, "$")
        error = _child(root, "Error")
        if error is not None:
            errors += _exact_children(error, {"Type", "Code", "Message"}, {"Type", "Code"}, "$.Error")
            kind = _child(error, "Type")
            if kind is not None and kind.text not in ("Sender", "Receiver"):
                errors.append(f"$.Error.Type: {kind.text!r} is not Sender or Receiver")
            code = _child(error, "Code")
            known = {s.get("error", {}).get("code", n): s.get("error", {}).get("httpStatusCode")
                     for n, s in self.shapes.items() if s.get("exception")}
            if code is not None:
                if code.text in known:
                    if known[code.text] and known[code.text] != status:
                        errors.append(f"{code.text} is described with status {known[code.text]}, sent {status}")
                elif code.text not in COMMON_ERRORS:
                    errors.append(f"$.Error.Code: {code.text!r} is neither a described error nor a common one")
        return errors

    def xml_errors(self, element, shape_name: str, path: str, member: dict | None = None) -> list[str]:
        shape = self.shapes[shape_name]
        kind = shape["type"]
        if kind == "structure":
            members = {m.get("locationName", n): (n, m) for n, m in shape.get("members", {}).items()}
            errors = []
            seen = set()
            for child in element:
                name = _local(child.tag)
                if name not in members:
                    errors.append(f"{path}.{name}: element not declared by the description")
                    continue
                seen.add(name)
                errors += self.xml_errors(child, members[name][1]["shape"], f"{path}.{name}", members[name][1])
            for required in shape.get("required", []):
                wire = shape["members"][required].get("locationName", required)
                if wire not in seen:
                    errors.append(f"{path}: required element {wire!r} is missing")
            return errors
        if kind == "list":
            item = shape["member"]
            item_name = item.get("locationName", "member")
            errors = []
            for index, child in enumerate(element):
                if _local(child.tag) != item_name:
                    errors.append(f"{path}: list item <{_local(child.tag)}>, described <{item_name}>")
                else:
                    errors += self.xml_errors(child, item["shape"], f"{path}[{index}]", item)
            return errors
        if kind == "map":
            return [] if all(_local(c.tag) == "entry" for c in element) else [f"{path}: map without <entry> items"]
        if len(element):
            return [f"{path}: a {kind} value with child elements"]
        text = element.text or ""
        if kind == "string":
            if "enum" in shape and text not in shape["enum"]:
                return [f"{path}: {text!r} is not one of {shape['enum']}"]
            return []
        if kind in ("integer", "long"):
            return [] if re.fullmatch(r"-?\d+", text) else [f"{path}: {text!r} is not an integer"]
        if kind == "boolean":
            return [] if text in ("true", "false") else [f"{path}: {text!r} is not a boolean"]
        if kind == "timestamp":
            # The query protocol writes ISO 8601 timestamps.
            pattern = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"
            return [] if re.fullmatch(pattern, text) else [f"{path}: {text!r} is not an ISO 8601 timestamp"]
        return []


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _namespace(tag: str) -> str | None:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else None


def _child(element, name: str):
    return next((c for c in element if _local(c.tag) == name), None)


def _exact_children(element, allowed: set, required: set, path: str) -> list[str]:
    names = [_local(c.tag) for c in element]
    errors = [f"{path}.{n}: element not declared" for n in names if n not in allowed]
    errors += [f"{path}: required element {n!r} is missing" for n in sorted(required) if n not in names]
    return errors
