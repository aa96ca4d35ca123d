"""Policy documents: normalised from any encoding, compiled once, cached by content.

A policy reaches the evaluator as an object, a JSON string or a URL-encoded JSON string
(:func:`flowforensics.evidence.values.parse_document`), alone or as a ``(source_label, document)``
pair. Compiling turns each statement into matchers (:mod:`.matching`, :mod:`.conditions`); the
compiled form is cached by the document's content, so evaluating the same role state again (as
time-travel diagnosis does, once per state) costs no parsing: strings are looked up as they are,
objects by identity checked against a snapshot (a C-level ``==``, far cheaper than re-serialising),
then by canonical JSON.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flowforensics.analysis.iam.conditions import Clause, compile_condition
from flowforensics.analysis.iam.matching import (
    PatternSet,
    Principal,
    PrincipalSet,
    as_list,
    compile_patterns,
    compile_principals,
)
from flowforensics.analysis.iam.reference import action_warning, key_warning
from flowforensics.evidence.values import parse_document

# Policy variables exist only from this version of the policy language on.
VARIABLES_VERSION = "2012-10-17"
EFFECTS = ("Allow", "Deny")
_CACHE_SIZE = 4096
_ACCOUNT_ID = re.compile(r"^\d{12}$")


class PolicyError(ValueError):
    """A policy document that cannot be evaluated (not JSON, or not a valid policy)."""


@dataclass(frozen=True, eq=False)
class CompiledStatement:
    """One statement, ready to match requests."""

    source: str
    index: int
    sid: str | None
    allow: bool
    actions: PatternSet
    not_action: bool
    resources: PatternSet | None  # None: no Resource element (resource-based policies), any resource
    not_resource: bool
    principals: PrincipalSet | None  # None: no Principal element (identity policies), any principal
    not_principal: bool
    conditions: tuple[Clause, ...]
    warnings: tuple[str, ...] = ()  # what was read outside the grammar, and how
    document: Mapping[str, Any] | None = field(default=None, repr=False)  # the statement as written, to explain

    @property
    def effect(self) -> str:
        return "Allow" if self.allow else "Deny"

    def applies(self, principal: Principal, action: str, resource: str, context: Mapping[str, Any]) -> bool:
        """Whether the statement's Action, Resource and Principal elements cover the request
        (its conditions aside)."""
        if self.actions.matches(action, context) == self.not_action:
            return False
        if self.resources is not None and self.resources.matches(resource, context) == self.not_resource:
            return False
        if self.principals is None:
            return True
        if self.not_principal:
            # NotPrincipal spares only the principals it names, not the rest of their account.
            return not self.principals.excludes(principal)
        return self.principals.matches(principal)

    def conditions_hold(self, context: Mapping[str, Any]) -> bool:
        return all(clause.holds(context) for clause in self.conditions)

    def names_exactly(self, principal: Principal) -> bool:
        """Whether the statement names ``principal`` itself (its ARN, its service name, or ``*``)."""
        if self.principals is None or self.not_principal:
            return self.not_principal
        return self.principals.names_exactly(principal)

    @property
    def names_everyone(self) -> bool:
        """Whether the statement's ``Principal`` is ``*`` (or ``{"AWS": "*"}``)."""
        return self.principals is not None and not self.not_principal and self.principals.everyone

    def delegates_to_account(self, principal: Principal) -> bool:
        """Whether the statement admits ``principal`` only by naming its account, which leaves the
        decision to that account's identity policies."""
        return (
            self.principals is not None and not self.not_principal and self.principals.names_account_only(principal)
        )


@dataclass(frozen=True, eq=False)
class CompiledPolicy:
    """A policy's compiled statements, with the label that names it in answers."""

    source: str
    statements: tuple[CompiledStatement, ...]

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the policy says outside the grammar and how it was read, statement by statement."""
        return tuple(warning for statement in self.statements for warning in statement.warnings)


def normalise(value: Any) -> dict[str, Any]:
    """Parse a policy document in any encoding into an object whose ``Statement`` is a list.

    Raises
    ------
    PolicyError
        When the value is not a JSON object, or its ``Statement`` is neither an object nor a list.
    """
    try:
        document = parse_document(value)
    except ValueError as exc:
        raise PolicyError(str(exc)) from exc
    if document is None:
        raise PolicyError("the policy document is empty")
    statements = document.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list) or not all(isinstance(s, Mapping) for s in statements):
        raise PolicyError("Statement must be an object or a list of objects")
    return {**document, "Statement": statements}


def _exclusive(statement: Mapping[str, Any], name: str) -> tuple[Any, bool] | None:
    """The value of ``name`` or ``Not<name>`` and whether it is the negated one; None when absent."""
    positive, negative = statement.get(name), statement.get("Not" + name)
    if positive is not None and negative is not None:
        raise PolicyError(f"a statement cannot have both {name} and Not{name}")
    if positive is None and negative is None:
        return None
    return (positive, False) if positive is not None else (negative, True)


def _missing(name: str) -> tuple[Any, bool]:
    raise PolicyError(f"a statement needs {name} or Not{name}")


def compile_statement(statement: Mapping[str, Any], *, source: str, index: int, variables: bool) -> CompiledStatement:
    """Compile one statement; raise :class:`PolicyError` naming the element at fault."""
    effect = statement.get("Effect")
    if effect not in EFFECTS:
        raise PolicyError(f"statement #{index}: Effect must be Allow or Deny, not {effect!r}")
    try:
        action = _exclusive(statement, "Action") or _missing("Action")
        actions = compile_patterns(as_list(action[0]), ignore_case=True, arn=False, variables=False)
        resource = _exclusive(statement, "Resource")
        resources = (
            compile_patterns(as_list(resource[0]), ignore_case=False, arn=True, variables=variables) if resource else None
        )
        principal = _exclusive(statement, "Principal")
        warnings: tuple[str, ...] = ()
        if principal and _bare_arn(principal[0]):
            # Outside the grammar, but common in pasted policies: read as the AWS principal it names.
            name = "NotPrincipal" if principal[1] else "Principal"
            text = json.dumps(principal[0])
            warnings = (f"{source} statement #{index}: {name} {text} is a bare string; read as {{\"AWS\": {text}}}",)
            principal = ({"AWS": principal[0]}, principal[1])
        principals = compile_principals(principal[0]) if principal else None
        conditions = compile_condition(statement.get("Condition"), variables=variables)
    except ValueError as exc:
        raise PolicyError(f"statement #{index}: {exc}") from exc
    warnings += _unknown_names(statement, action[0], source, index)
    sid = statement.get("Sid")
    return CompiledStatement(
        source=source,
        index=index,
        sid=str(sid) if sid not in (None, "") else None,
        allow=effect == "Allow",
        actions=actions,
        not_action=action[1],
        resources=resources,
        not_resource=bool(resource and resource[1]),
        principals=principals,
        not_principal=bool(principal and principal[1]),
        conditions=conditions,
        warnings=warnings,
        document=json.loads(json.dumps(statement)),  # a copy: the caller may change its own later
    )


def _unknown_names(statement: Mapping[str, Any], actions: Any, source: str, index: int) -> tuple[str, ...]:
    """Warnings for the statement's actions and condition keys that AWS does not define (a typo
    matches nothing, silently)."""
    found = [action_warning(value) for value in as_list(actions)]
    condition = statement.get("Condition")
    if isinstance(condition, Mapping):
        found.extend(key_warning(key) for keys in condition.values() if isinstance(keys, Mapping) for key in keys)
    return tuple(f"{source} statement #{index}: {warning}" for warning in found if warning)


def _bare_arn(element: Any) -> bool:
    """Whether a Principal element is an ARN or account id written as a bare string."""
    return isinstance(element, str) and element != "*" and (element.startswith("arn:") or _ACCOUNT_ID.match(element) is not None)


def _compile(document: dict[str, Any], source: str) -> CompiledPolicy:
    variables = document.get("Version") == VARIABLES_VERSION
    statements = tuple(
        compile_statement(statement, source=source, index=index, variables=variables)
        for index, statement in enumerate(document["Statement"])
    )
    return CompiledPolicy(source, statements)


class _Lru(OrderedDict):
    """A bounded mapping that forgets the least recently stored entry."""

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        if len(self) > _CACHE_SIZE:
            self.popitem(last=False)


_BY_TEXT = _Lru()  # (source, text) -> CompiledPolicy
_BY_ID = _Lru()  # (id(document), source) -> (document, snapshot, CompiledPolicy)
_BY_CONTENT = _Lru()  # (source, canonical JSON) -> CompiledPolicy


def compile_policy(value: Any, source: str) -> CompiledPolicy:
    """Compile a policy document (object, JSON string or URL-encoded JSON), from cache when seen.

    Parameters
    ----------
    value : dict or str
        The document.
    source : str
        The label that names this policy in decisions (a policy name or ARN, or its place in a
        request such as ``identity_policies[0]``).

    Returns
    -------
    CompiledPolicy

    Raises
    ------
    PolicyError
        When the document cannot be parsed or is not a valid policy.
    """
    if isinstance(value, str):
        cached = _BY_TEXT.get((source, value))
        if cached is None:
            document = normalise(value)
            cached = _by_content(document, _canonical(document), source)
            _BY_TEXT.put((source, value), cached)
        return cached
    if isinstance(value, dict):
        entry = _BY_ID.get((id(value), source))
        if entry is not None and entry[0] is value and entry[1] == value:
            return entry[2]
        canonical = _canonical(value)
        compiled = _by_content(value, canonical, source)
        # The snapshot (a parse of the canonical text, cheaper than a deep copy) tells a later call
        # whether the object was changed in place since.
        _BY_ID.put((id(value), source), (value, json.loads(canonical), compiled))
        return compiled
    return _by_content(value, _canonical(value), source)


def _canonical(document: Any) -> str:
    try:
        return json.dumps(document, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise PolicyError(f"the policy document is not JSON: {exc}") from exc


def _by_content(document: Any, canonical: str, source: str) -> CompiledPolicy:
    """The compiled form of ``document`` (whose canonical JSON is ``canonical``), compiled once."""
    compiled = _BY_CONTENT.get((source, canonical))
    if compiled is None:
        compiled = _compile(normalise(document), source)
        _BY_CONTENT.put((source, canonical), compiled)
    return compiled


def labelled(item: Any, default: str) -> tuple[str, Any]:
    """Split a ``(source_label, document)`` pair; a bare document gets ``default`` as its label."""
    if type(item) in (tuple, list) and len(item) == 2 and type(item[0]) is str:
        return item[0], item[1]
    return default, item


def compile_many(items: Iterable[Any] | None, prefix: str) -> tuple[CompiledPolicy, ...]:
    """Compile a list of policies (bare or labelled); empty entries (``None``, ``""``) are skipped."""
    if items is None:
        return ()
    if isinstance(items, (str, dict)):
        items = [items]
    compiled = []
    for position, item in enumerate(items):
        source, document = labelled(item, f"{prefix}[{position}]")
        if document not in (None, ""):
            compiled.append(compile_policy(document, source))
    return tuple(compiled)


def compile_levels(levels: Iterable[Any] | None, prefix: str) -> tuple[tuple[CompiledPolicy, ...], ...]:
    """Compile SCP or RCP levels (root first); a level given as one policy is a level of one."""
    if levels is None:
        return ()
    if isinstance(levels, (str, dict)):
        raise PolicyError(f"{prefix} must be a list of levels, each a list of policies")
    return tuple(compile_many(level, f"{prefix}[{depth}]") for depth, level in enumerate(levels))
