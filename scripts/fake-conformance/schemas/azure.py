"""Azure Resource Manager models from the Azure SDK for Python (PyPI `azure-mgmt-security`,
`azure-mgmt-resource`) in the internal schema form.

The azure-rest-api-specs swagger is not reachable from here; the SDK's msrest models are
generated from it, one package folder per api-version. Each model class declares
`_attribute_map` (attribute -> wire key, with flattened `properties.x` keys, and msrest type),
`_validation` (required / readonly) and `_subtype_map` (polymorphic discriminator). The module is
read with `ast`, never imported, so the SDK's runtime dependencies are not needed.
"""

from __future__ import annotations

import ast
import re

from schema import Schema, Schemas

SCALARS = {
    "str": {"type": "string"}, "int": {"type": "integer"}, "long": {"type": "integer"},
    "float": {"type": "number"}, "bool": {"type": "boolean"}, "iso-8601": {"type": "string", "format": "date-time"},
    "rfc-1123": {"type": "string"}, "duration": {"type": "string"}, "date": {"type": "string"},
    "base64": {"type": "string"}, "bytearray": {"type": "string"}, "unix-time": {"type": "integer"},
    "object": {"type": "any"},
}


class Models:
    """The model classes of one generated `models/_models_py3.py`."""

    def __init__(self, path: str, label: str):
        self.label = label
        self.classes: dict[str, dict] = {}
        with open(path, encoding="utf-8") as file:
            tree = ast.parse(file.read())
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            found = {}
            for statement in node.body:
                if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
                    target = statement.targets[0]
                    if isinstance(target, ast.Name) and target.id in ("_attribute_map", "_validation", "_subtype_map"):
                        found[target.id] = ast.literal_eval(statement.value)
            if "_attribute_map" in found:
                self.classes[node.name] = found
        self.schemas = Schemas(self.convert_class)

    def type_schema(self, kind: str) -> Schema:
        if kind.startswith("[") and kind.endswith("]"):
            return {"type": "array", "items": self.type_schema(kind[1:-1])}
        if kind.startswith("{") and kind.endswith("}"):
            return {"type": "object", "properties": {}, "additional": self.type_schema(kind[1:-1])}
        if kind in SCALARS:
            return dict(SCALARS[kind])
        if kind in self.classes:
            return {"ref": kind}
        raise ValueError(f"{self.label}: unknown msrest type {kind!r}")

    def subtypes(self, name: str) -> dict[str, str]:
        """Discriminator value -> class, through every level of subclasses."""
        found: dict[str, str] = {}
        for values in self.classes[name].get("_subtype_map", {}).values():
            for value, sub in values.items():
                found[value] = sub
                if sub != name and sub in self.classes:
                    found.update(self.subtypes(sub))
        return found

    def convert_class(self, name: str) -> Schema:
        model = self.classes[name]
        base = self.plain(name)
        subtype_map = model.get("_subtype_map")
        if not subtype_map:
            return base
        attribute = next(iter(subtype_map))
        key = model["_attribute_map"][attribute]["key"]
        mapping = {value: self.plain(sub) for value, sub in self.subtypes(name).items() if sub in self.classes}
        return {"discriminator": key, "mapping": mapping, "base": base}

    def plain(self, name: str) -> Schema:
        """The class as a closed object; flattened keys become nested closed objects."""
        model = self.classes[name]
        root: Schema = {"type": "object", "properties": {}, "required": [], "additional": None}
        for attribute, spec in model["_attribute_map"].items():
            # Keys with an escaped dot (`a\\.b`) are one property named with a dot.
            parts = [p.replace("\\.", ".") for p in re.split(r"(?<!\\)\.", spec["key"])]
            required = model.get("_validation", {}).get(attribute, {}).get("required", False)
            if parts == [""]:
                # additional_properties: msrest's catch-all for undeclared keys.
                root["additional"] = {"type": "any"}
                continue
            node = root
            for part in parts[:-1]:
                child = node["properties"].setdefault(
                    part, {"type": "object", "properties": {}, "required": [], "additional": None})
                if required and part not in node["required"]:
                    node["required"].append(part)
                node = child
            node["properties"][parts[-1]] = self.type_schema(spec["type"])
            if required:
                node["required"].append(parts[-1])
        return root
