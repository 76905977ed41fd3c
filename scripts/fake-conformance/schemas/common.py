"""What the service checkers share: path templates and the outcome of one logged response."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class Outcome:
    """The verdict on one logged response."""

    operation: str | None  # the described operation it maps to, or the undescribed endpoint
    errors: list[str] = field(default_factory=list)
    undescribed: bool = False  # matched an entry of a service's list of undescribed endpoints


def template_regex(template: str) -> re.Pattern:
    """A regex for a path template: `{name}` is one segment, Google's `{+name}` any rest."""
    parts = re.split(r"(\{\+?[^}]+\})", template)
    pattern = ""
    for part in parts:
        if part.startswith("{+"):
            pattern += r".+"
        elif part.startswith("{"):
            pattern += r"[^/]+"
        else:
            pattern += re.escape(part)
    return re.compile(pattern + r"\Z")


def match_route(routes: list, method: str, path: str):
    """The first (method, regex, value) route matching; literal segments beat parameters because
    routes are sorted with the most literal characters first by the caller."""
    for route_method, regex, value in routes:
        if route_method == method and regex.match(path):
            return value
    return None


def literal_weight(template: str) -> int:
    return len(re.sub(r"\{[^}]+\}", "", template))


def undescribed(table: dict, method: str, path: str) -> str | None:
    """The reason an endpoint is listed as having no description, if it is."""
    for (route_method, template), reason in table.items():
        if route_method == method and template_regex(template).match(path):
            return reason
    return None
