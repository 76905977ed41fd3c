"""Google Cloud API messages from a generated Python client (proto-plus `types/*.py`, e.g. PyPI
`google-cloud-securitycenter`) in the internal schema form, by the proto3 JSON mapping.

Used where google-api-python-client ships no discovery document (Security Command Center v2).
The generated modules are read with `ast`, never imported. Each `proto.Message` class lists its
fields (`proto.Field`, `proto.RepeatedField`, `proto.MapField`) with their proto type, message
or enum; each `proto.Enum` its value names. The REST routes come from the transport's
`_get_http_options` (`services/*/transports/rest_base.py`).
"""

from __future__ import annotations

import ast
import glob
import os
import re

from schema import Schema, Schemas

INTEGER_32 = {"INT32", "UINT32", "SINT32", "FIXED32", "SFIXED32"}
INTEGER_64 = {"INT64", "UINT64", "SINT64", "FIXED64", "SFIXED64"}

# The JSON forms of protobuf's well-known types (the proto3 JSON mapping).
WELL_KNOWN: dict[str, Schema] = {
    "timestamp_pb2.Timestamp": {"type": "string", "format": "date-time"},
    "duration_pb2.Duration": {"type": "string"},
    "field_mask_pb2.FieldMask": {"type": "string"},
    "struct_pb2.Struct": {"type": "object", "properties": {}, "additional": {"type": "any"}},
    "struct_pb2.Value": {"type": "any"},
    "struct_pb2.ListValue": {"type": "array", "items": {"type": "any"}},
    "any_pb2.Any": {"type": "object", "required": ["@type"], "properties": {"@type": {"type": "string"}},
                    "additional": {"type": "any"}},
    "empty_pb2.Empty": {"type": "object", "properties": {}, "additional": None},
    "wrappers_pb2.StringValue": {"type": "string"},
    "wrappers_pb2.BoolValue": {"type": "boolean"},
    "wrappers_pb2.Int32Value": {"type": "integer"},
    "wrappers_pb2.Int64Value": {"type": "string"},
    "wrappers_pb2.DoubleValue": {"type": "number"},
    "wrappers_pb2.FloatValue": {"type": "number"},
}


def camel(name: str) -> str:
    # proto-plus appends "_" to field names that are Python keywords (type_ for `type`).
    name = name.rstrip("_")
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name)


class Package:
    def __init__(self, types_dir: str, label: str):
        self.label = label
        self.messages: dict[str, list] = {}  # "module:Qual.Name" -> fields
        self.enums: dict[str, list[str]] = {}
        self.imports: dict[str, dict[str, str]] = {}  # module -> alias -> module
        for path in sorted(glob.glob(os.path.join(types_dir, "*.py"))):
            module = os.path.basename(path)[:-3]
            with open(path, encoding="utf-8") as file:
                tree = ast.parse(file.read())
            aliases = {}
            for node in tree.body:
                if isinstance(node, ast.ImportFrom) and (node.module or "").endswith(".types"):
                    for name in node.names:
                        aliases[name.asname or name.name] = name.name
                elif isinstance(node, ast.ClassDef):
                    self.read_class(module, node, [])
            self.imports[module] = aliases
        self.schemas = Schemas(self.convert)

    def read_class(self, module: str, node: ast.ClassDef, scope: list[str]) -> None:
        qual = scope + [node.name]
        key = f"{module}:{'.'.join(qual)}"
        base = ast.unparse(node.bases[0]) if node.bases else ""
        if base == "proto.Enum":
            self.enums[key] = [s.targets[0].id for s in node.body
                               if isinstance(s, ast.Assign) and isinstance(s.targets[0], ast.Name)]
            return
        if base != "proto.Message":
            return
        fields = []
        for statement in node.body:
            if isinstance(statement, ast.ClassDef):
                self.read_class(module, statement, qual)
            elif isinstance(statement, (ast.AnnAssign, ast.Assign)):
                value = statement.value
                target = statement.target if isinstance(statement, ast.AnnAssign) else statement.targets[0]
                if isinstance(value, ast.Call) and ast.unparse(value.func) in (
                        "proto.Field", "proto.RepeatedField", "proto.MapField"):
                    fields.append((target.id, ast.unparse(value.func), value))
        self.messages[key] = (module, qual, fields)

    def resolve(self, module: str, scope: list[str], expression: ast.expr) -> str:
        """The key of the message or enum a field names, or its well-known type."""
        if isinstance(expression, ast.Constant):  # "Finding.MuteInfo": package-wide name
            name = expression.value
            for key in list(self.messages) + list(self.enums):
                if key.split(":", 1)[1] == name and key.startswith(module + ":"):
                    return key
            for key in list(self.messages) + list(self.enums):
                if key.split(":", 1)[1] == name:
                    return key
            raise ValueError(f"{self.label}: unresolved {name!r}")
        text = ast.unparse(expression)
        if text in WELL_KNOWN:
            return text
        head, _, rest = text.partition(".")
        if head in self.imports[module] and rest:
            return f"{self.imports[module][head]}:{rest}"
        # A name in an enclosing class, or at module level.
        for depth in range(len(scope), -1, -1):
            key = f"{module}:{'.'.join(scope[:depth] + [text])}"
            if key in self.messages or key in self.enums:
                return key
        raise ValueError(f"{self.label}: unresolved {text!r} in {module}")

    def scalar(self, kind: str, module: str, scope: list[str], call: ast.Call) -> Schema:
        keywords = {k.arg: k.value for k in call.keywords}
        if kind == "MESSAGE":
            key = self.resolve(module, scope, keywords["message"])
            return dict(WELL_KNOWN[key]) if key in WELL_KNOWN else {"ref": key}
        if kind == "ENUM":
            key = self.resolve(module, scope, keywords["enum"])
            return {"type": "string", "enum": self.enums[key]}
        if kind in ("STRING", "BYTES"):
            return {"type": "string"}
        if kind == "BOOL":
            return {"type": "boolean"}
        if kind in INTEGER_32:
            return {"type": "integer"}
        if kind in INTEGER_64:
            return {"type": "string"}  # 64-bit integers are JSON strings
        if kind in ("FLOAT", "DOUBLE"):
            return {"type": "number"}
        raise ValueError(f"{self.label}: unknown proto type {kind}")

    def convert(self, key: str) -> Schema:
        module, qual, fields = self.messages[key]
        properties = {}
        for name, function, call in fields:
            kinds = [ast.unparse(a).removeprefix("proto.") for a in call.args]
            if function == "proto.MapField":
                value = self.scalar(kinds[1], module, qual, call)
                schema: Schema = {"type": "object", "properties": {}, "additional": value}
            elif function == "proto.RepeatedField":
                schema = {"type": "array", "items": self.scalar(kinds[0], module, qual, call)}
            else:
                schema = self.scalar(kinds[0], module, qual, call)
            properties[camel(name)] = schema
        return {"type": "object", "properties": properties, "required": [], "additional": None}

    def message_key(self, module: str, name: str) -> str:
        key = f"{module}:{name}"
        assert key in self.messages, key
        return key


def http_routes(rest_base: str, operation: str) -> list[tuple[str, str, str]]:
    """(method, URI template, its regex) of an operation from the transport's
    `_Base<Operation>` options."""
    with open(rest_base, encoding="utf-8") as file:
        tree = ast.parse(file.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == f"_Base{operation}":
            for child in ast.walk(node):
                if isinstance(child, ast.List) and child.elts and isinstance(child.elts[0], ast.Dict):
                    options = ast.literal_eval(child)
                    return [(o["method"].upper(), o["uri"], uri_regex(o["uri"])) for o in options]
    raise ValueError(f"no HTTP options for {operation} in {rest_base}")


def uri_regex(uri: str) -> str:
    """`/v2/{parent=organizations/*/sources/*}/findings` as a regex for a request path."""
    def variable(match: re.Match) -> str:
        pattern = match.group(1) or "*"
        return "/".join(".+" if p == "**" else "[^/]+" if p == "*" else re.escape(p) for p in pattern.split("/"))

    parts = re.split(r"(\{[^}]+\})", uri)
    out = ""
    for part in parts:
        if part.startswith("{"):
            out += variable(re.match(r"\{[^=}]+(?:=([^}]+))?\}", part))
        else:
            out += re.escape(part)
    return out + r"\Z"
