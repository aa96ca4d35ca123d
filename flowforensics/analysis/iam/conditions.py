"""The ``Condition`` element: every condition operator as a row of a table, compiled once per policy.

Documented behaviour (IAM User Guide, "Condition operators" and "Single-valued vs. multivalued
context keys"):

- Within a condition, operators are ANDed, keys under one operator are ANDed, and the values of one
  key are ORed; a negated operator (``StringNotEquals``, ``ArnNotLike``, ``NotIpAddress``, ...) is
  true when the request value matches none of them.
- A key the request lacks makes a positive operator false and a negated one true; ``...IfExists``
  makes any operator true; ``Null`` tests presence itself.
- ``ForAnyValue:`` is true when some request value matches (false for a missing key);
  ``ForAllValues:`` when every request value does (true for a missing key or an empty list).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flowforensics.analysis.iam.matching import (
    arn_like,
    as_list,
    context_text,
    has_variable,
    string_like,
    substitute,
    unmark,
)
from flowforensics.evidence.values import parse_time


def _text(value: Any) -> str | None:
    return context_text(value) if isinstance(value, (str, int, float, bool)) else None


def _folded(value: Any) -> str | None:
    text = _text(value)
    return None if text is None else text.casefold()


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _date(value: Any) -> Any:
    return parse_time(value)


def _bool(value: Any) -> str | None:
    text = _text(value)
    return None if text is None else text.lower()


def _binary(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _network(value: Any) -> Any:
    try:
        return ipaddress.ip_network(str(value).strip(), strict=False)
    except ValueError:
        return None


def _address(value: Any) -> Any:
    try:
        return ipaddress.ip_address(str(value).strip().split("/")[0])
    except ValueError:
        return None


def _in_network(network: Any, address: Any) -> bool:
    return address.version == network.version and address in network


@dataclass(frozen=True)
class Operator:
    """A base condition operator: how to read the policy's and the request's values, and the test
    ``test(policy_value, request_value)`` of its positive form."""

    policy_value: Callable[[Any], Any]
    request_value: Callable[[Any], Any]
    test: Callable[[Any, Any], bool]
    negated: bool = False


_STRING = (_text, _text)
_NUMERIC = (_number, _number)
_DATE = (_date, _date)

# base operator -> how it compares; each "Not" form is its positive form negated.
OPERATORS: dict[str, Operator] = {
    "StringEquals": Operator(*_STRING, operator.eq),
    "StringNotEquals": Operator(*_STRING, operator.eq, negated=True),
    "StringEqualsIgnoreCase": Operator(_folded, _folded, operator.eq),
    "StringNotEqualsIgnoreCase": Operator(_folded, _folded, operator.eq, negated=True),
    "StringLike": Operator(*_STRING, string_like),
    "StringNotLike": Operator(*_STRING, string_like, negated=True),
    "NumericEquals": Operator(*_NUMERIC, operator.eq),
    "NumericNotEquals": Operator(*_NUMERIC, operator.eq, negated=True),
    "NumericLessThan": Operator(*_NUMERIC, lambda p, v: v < p),
    "NumericLessThanEquals": Operator(*_NUMERIC, lambda p, v: v <= p),
    "NumericGreaterThan": Operator(*_NUMERIC, lambda p, v: v > p),
    "NumericGreaterThanEquals": Operator(*_NUMERIC, lambda p, v: v >= p),
    "DateEquals": Operator(*_DATE, operator.eq),
    "DateNotEquals": Operator(*_DATE, operator.eq, negated=True),
    "DateLessThan": Operator(*_DATE, lambda p, v: v < p),
    "DateLessThanEquals": Operator(*_DATE, lambda p, v: v <= p),
    "DateGreaterThan": Operator(*_DATE, lambda p, v: v > p),
    "DateGreaterThanEquals": Operator(*_DATE, lambda p, v: v >= p),
    "Bool": Operator(_bool, _bool, operator.eq),
    "BinaryEquals": Operator(_binary, _binary, operator.eq),
    "IpAddress": Operator(_network, _address, _in_network),
    "NotIpAddress": Operator(_network, _address, _in_network, negated=True),
    "ArnEquals": Operator(*_STRING, arn_like),
    "ArnLike": Operator(*_STRING, arn_like),
    "ArnNotEquals": Operator(*_STRING, arn_like, negated=True),
    "ArnNotLike": Operator(*_STRING, arn_like, negated=True),
}
# Operators compare variables' values as text; the others take the policy's values literally.
_VARIABLE_OPERATORS = {name for name in OPERATORS if name.startswith(("String", "Arn"))}
# Operators whose policy values are globs, where ${*} and ${?} must stay literal characters.
_GLOB_OPERATORS = {"StringLike", "StringNotLike", "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"}
_BY_LOWER = {name.lower(): name for name in [*OPERATORS, "Null"]}
QUALIFIERS = {"foranyvalue": "ForAnyValue", "forallvalues": "ForAllValues"}


@dataclass(frozen=True)
class Clause:
    """One key under one operator: ``{"StringEquals": {"aws:SourceAccount": ["1", "2"]}}``."""

    operator: str  # the base operator's name, or "Null"
    qualifier: str | None  # ForAnyValue | ForAllValues | None
    if_exists: bool
    key: str  # lower case: context keys are case-insensitive
    values: tuple[Any, ...]  # converted policy values
    templates: tuple[str, ...]  # values with policy variables, converted per request

    def holds(self, context: Mapping[str, Any]) -> bool:
        """Whether this clause is true for the request ``context`` (keys in lower case)."""
        raw = context.get(self.key)
        present = raw is not None and raw != []
        if self.operator == "Null":
            wanted = {_bool(value) for value in self.values}
            return ("true" in wanted and not present) or ("false" in wanted and present)
        if not present:
            if self.if_exists or self.qualifier == "ForAllValues":
                return True
            if self.qualifier == "ForAnyValue":
                return False
            return OPERATORS[self.operator].negated
        op = OPERATORS[self.operator]
        values = self.values
        if self.templates:
            glob = self.operator in _GLOB_OPERATORS
            texts = (substitute(template, context) for template in self.templates)
            values = values + tuple(
                op.policy_value(text if glob else unmark(text)) for text in texts if text is not None
            )
        results = (self._matches(op, values, item) != op.negated for item in as_list(raw))
        if self.qualifier == "ForAllValues":
            return all(results)
        if self.qualifier == "ForAnyValue":
            return any(results)
        # A plain operator over a list: positive if any value matches, negated if none does.
        matched = any(self._matches(op, values, item) for item in as_list(raw))
        return matched != op.negated

    @staticmethod
    def _matches(op: Operator, values: tuple[Any, ...], item: Any) -> bool:
        probe = op.request_value(item)
        if probe is None:
            return False
        return any(value is not None and op.test(value, probe) for value in values)


def parse_operator(name: str) -> tuple[str, str | None, bool]:
    """Split ``ForAnyValue:StringLikeIfExists`` into (base operator, qualifier, if_exists)."""
    qualifier = None
    base = name
    if ":" in name:
        prefix, base = name.split(":", 1)
        qualifier = QUALIFIERS.get(prefix.lower())
        if qualifier is None:
            raise ValueError(f"unknown condition set operator {prefix!r}")
    if_exists = base.lower().endswith("ifexists")
    if if_exists:
        base = base[: -len("IfExists")]
    canonical = _BY_LOWER.get(base.lower())
    if canonical is None or (canonical == "Null" and if_exists):
        raise ValueError(f"unknown condition operator {name!r}")
    return canonical, qualifier, if_exists


def compile_condition(element: Any, *, variables: bool) -> tuple[Clause, ...]:
    """Compile a statement's ``Condition`` element into clauses that must all hold."""
    if element is None:
        return ()
    if not isinstance(element, Mapping):
        raise ValueError(f"Condition must be an object, got {element!r}")
    clauses = []
    for name, keys in element.items():
        base, qualifier, if_exists = parse_operator(name)
        if not isinstance(keys, Mapping):
            raise ValueError(f"condition operator {name} must map keys to values")
        convert = OPERATORS[base].policy_value if base != "Null" else (lambda value: value)
        for key, raw_values in keys.items():
            values, templates = [], []
            for value in as_list(raw_values):
                if variables and base in _VARIABLE_OPERATORS and isinstance(value, str) and has_variable(value):
                    templates.append(value)
                else:
                    values.append(convert(value))
            clauses.append(Clause(base, qualifier, if_exists, key.lower(), tuple(values), tuple(templates)))
    return tuple(clauses)
