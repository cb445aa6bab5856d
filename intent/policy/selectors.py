"""Kubernetes label selectors (`matchLabels` and `matchExpressions`), parsed once and matched often.

A `Selector` is frozen and hashable: two policies that write the same selector share one address
group. Semantics are the API server's: every requirement must hold; `In` needs the key present
with one of the values; `NotIn` holds when the key is missing or its value is not listed;
`Exists` / `DoesNotExist` test the key only; an empty selector selects everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


class SelectorError(ValueError):
    """A selector the API server would refuse; the message names the field."""


@dataclass(frozen=True, slots=True)
class Requirement:
    """One `matchExpressions` entry (a `matchLabels` pair is `In` with one value)."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        if self.operator == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels

    def __str__(self) -> str:
        if self.operator == "Exists":
            return self.key
        if self.operator == "DoesNotExist":
            return f"!{self.key}"
        if self.operator == "In" and len(self.values) == 1:
            return f"{self.key}={self.values[0]}"
        op = "in" if self.operator == "In" else "notin"
        return f"{self.key} {op} ({','.join(self.values)})"


@dataclass(frozen=True, slots=True)
class Selector:
    """A label selector in canonical form: requirements sorted, values sorted and unique."""

    requirements: tuple[Requirement, ...] = ()

    @property
    def selects_all(self) -> bool:
        return not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    def index_label(self) -> tuple[str, str] | None:
        """A (key, value) every selected object carries, for indexing; None if there is none."""
        return next(((r.key, r.values[0]) for r in self.requirements if r.operator == "In" and len(r.values) == 1),
                    None)

    def __str__(self) -> str:
        return ", ".join(map(str, self.requirements)) if self.requirements else "all"


EVERYTHING = Selector()


def parse_selector(value: Any, where: str) -> Selector:
    """A `Selector` from its API form; raises SelectorError naming `where` and the bad part."""
    if value is None:
        return EVERYTHING
    if not isinstance(value, dict):
        raise SelectorError(f"{where} must be a mapping, got {type(value).__name__}")
    unknown = sorted(set(value) - {"matchLabels", "matchExpressions"})
    if unknown:
        raise SelectorError(f"{where}: unknown field(s) {', '.join(unknown)}")
    labels = value.get("matchLabels") or {}
    if not isinstance(labels, dict):
        raise SelectorError(f"{where}.matchLabels must be a mapping")
    found = [_label(k, v, f"{where}.matchLabels") for k, v in labels.items()]
    expressions = value.get("matchExpressions") or []
    if not isinstance(expressions, list):
        raise SelectorError(f"{where}.matchExpressions must be a list")
    found += [_expression(e, f"{where}.matchExpressions[{i}]") for i, e in enumerate(expressions)]
    return Selector(tuple(sorted(set(found), key=lambda r: (r.key, r.operator, r.values))))


def _label(key: Any, value: Any, where: str) -> Requirement:
    if not isinstance(key, str) or not key or not isinstance(value, str):
        raise SelectorError(f"{where}: {key!r}: {value!r} is not a label (string key and value)")
    return Requirement(key, "In", (value,))


def _expression(entry: Any, where: str) -> Requirement:
    if not isinstance(entry, dict):
        raise SelectorError(f"{where} must be a mapping")
    key, operator, values = entry.get("key"), entry.get("operator"), entry.get("values") or []
    if not isinstance(key, str) or not key:
        raise SelectorError(f"{where}.key must be a non-empty string")
    if operator not in OPERATORS:
        raise SelectorError(f"{where}.operator {operator!r} is not one of {', '.join(OPERATORS)}")
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise SelectorError(f"{where}.values must be a list of strings")
    if operator in ("In", "NotIn") and not values:
        raise SelectorError(f"{where}.values must be non-empty for operator {operator}")
    if operator in ("Exists", "DoesNotExist") and values:
        raise SelectorError(f"{where}.values must be empty for operator {operator}")
    return Requirement(key, operator, tuple(sorted(set(values))))
