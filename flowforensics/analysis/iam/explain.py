"""Why a decision came out as it did, in one sentence and as data.

- ``ImplicitlyDenied``: the closest Allow statement of the layer that failed to allow, and the first
  element of it that does not match the request (``Action``, ``Resource``, ``Principal`` or one
  ``Condition`` key, with the values it expects and the value the request has);
- ``ExplicitlyDenied``: the denying statement and its layer;
- ``Allowed``: the allowing statement of each layer that had to allow;
- a rule outside the policy grammar (:mod:`.rules`) that decided says so, with its AWS page.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flowforensics.analysis.iam.documents import CompiledPolicy, CompiledStatement
from flowforensics.analysis.iam.evaluate import (
    ALLOWED,
    EXPLICIT,
    Decision,
    Layers,
    MatchedStatement,
    Request,
    request_context,
)
from flowforensics.analysis.iam.matching import as_list, parse_principal
from flowforensics.analysis.iam.reference import action_warning

LAYER_WORDS = {
    "identity": "identity policy",
    "resource": "resource-based policy",
    "boundary": "permissions boundary",
    "scp": "service control policy",
    "rcp": "resource control policy",
    "session": "session policy",
    "none": "policy",
}
ARN_PARTS = ("partition", "service", "region", "account")


@dataclass(frozen=True)
class Mismatch:
    """The element of a statement that does not match the request."""

    element: str  # Action | NotAction | Resource | NotResource | Principal | NotPrincipal | Condition
    expected: list[Any]
    actual: Any
    key: str | None = None  # the condition key
    operator: str | None = None  # the condition operator, as written
    hint: str | None = None  # a known pitfall that explains it

    def words(self) -> str:
        if self.element == "Condition":
            actual = "does not have it" if self.actual is None else f"has {_show(self.actual)}"
            text = f"its condition {self.operator} on {self.key} expects {_show(self.expected)}, and the request {actual}"
        elif self.element.startswith("Not"):
            text = f"its {self.element} {_show(self.expected)} excludes {_show(self.actual)}"
        elif self.element == "Principal" and not self.expected:
            text = "it has no Principal, so in a resource-based policy it matches nobody"
        else:
            text = f"its {self.element} is {_show(self.expected)}, not {_show(self.actual)}"
        return f"{text} ({self.hint})" if self.hint else text

    def to_dict(self) -> dict[str, Any]:
        return {"element": self.element, "key": self.key, "operator": self.operator, "expected": self.expected,
                "actual": self.actual, "hint": self.hint}


@dataclass(frozen=True)
class Explanation:
    """The reason for a decision: a sentence, and the same as fields.

    Attributes
    ----------
    sentence : str
        The reason in words.
    layer : str
        The layer that decided (as ``decided_by``).
    statement : MatchedStatement or None
        The deny that decided, or the closest Allow that did not match.
    mismatch : Mismatch or None
        For ``ImplicitlyDenied``: what of ``statement`` did not match.
    allowed_by : tuple of MatchedStatement
        For ``Allowed``: the allowing statement of each layer that had to allow.
    rule : dict or None
        ``{"name", "sentence", "doc"}`` of the rule outside the policy grammar that decided.
    """

    sentence: str
    layer: str
    statement: MatchedStatement | None = None
    mismatch: Mismatch | None = None
    allowed_by: tuple[MatchedStatement, ...] = ()
    rule: dict[str, str] | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        """The ``explanation`` object of the ``iam simulate`` answer (docs/contracts.md)."""
        return {
            "sentence": self.sentence,
            "layer": self.layer,
            "statement": _statement(self.statement),
            "mismatch": self.mismatch.to_dict() if self.mismatch else None,
            "allowed_by": [_statement(s) for s in self.allowed_by],
            "rule": self.rule,
        }


def _words(layer: str, request: Request) -> str:
    """The layer in words; the resource-based policy of sts:AssumeRole* is the role's trust policy."""
    if layer == "resource" and request.action.lower().startswith("sts:assumerole"):
        return "trust policy"
    return LAYER_WORDS[layer]


def _statement(statement: MatchedStatement | None) -> dict[str, Any] | None:
    if statement is None:
        return None
    return {"source": statement.source, "sid": statement.sid, "index": statement.index, "effect": statement.effect,
            "layer": statement.layer}


def _show(value: Any) -> str:
    if isinstance(value, list):
        return " or ".join(_show(item) for item in value) if value else "nothing"
    return json.dumps(value) if isinstance(value, (str, bool, dict)) else str(value)


def explain(request: Request, layers: Layers, decision: Decision) -> Explanation:
    """Explain ``decision`` on ``request`` over the compiled ``layers`` it was decided on.

    Parameters
    ----------
    request : Request
        The request.
    layers : Layers
        The compiled policies (as :func:`~flowforensics.analysis.iam.evaluate.decide` got them).
    decision : Decision
        Its decision.

    Returns
    -------
    Explanation
    """
    rule = decision.rule
    rule_dict = {"name": rule.name, "sentence": rule.sentence, "doc": rule.doc} if rule else None
    what = f"{request.action} on {request.resource}"
    if decision.decision == ALLOWED:
        allowed_by = _allowing(decision, layers)
        if rule:
            return Explanation(rule.sentence, decision.decided_by, allowed_by=allowed_by, rule=rule_dict)
        parts = [f"{s.label} ({_words(s.layer, request)})" for s in allowed_by]
        return Explanation(f"{what} is allowed by " + "; and by ".join(parts), decision.decided_by,
                           allowed_by=allowed_by)
    if decision.decision == EXPLICIT:
        if rule:
            return Explanation(rule.sentence, decision.decided_by, rule=rule_dict)
        deny = decision.deciding_statements[0]
        held = ", whose conditions hold" if deny.conditional else ""
        return Explanation(f"{what} is explicitly denied by {deny.label}{held} ({_words(deny.layer, request)})",
                           decision.decided_by, statement=deny)
    return _implicit(request, layers, decision, rule_dict)


def _allowing(decision: Decision, layers: Layers) -> tuple[MatchedStatement, ...]:
    """The first Allow of each layer that had to allow."""
    needed = []
    if layers.rcp_levels:
        needed.append("rcp")
    if layers.scp_levels:
        needed.append("scp")
    needed.append(decision.decided_by)
    if decision.decided_by == "resource" or (decision.rule and decision.rule.name == "resource-policy-required"):
        needed.append("resource")
    if layers.boundaries and decision.decided_by != "resource":
        needed.append("boundary")
    if layers.session is not None and decision.decided_by != "resource":
        needed.append("session")
    found: dict[str, MatchedStatement] = {}
    for statement in decision.statements:
        if statement.effect == "Allow" and statement.layer in needed and statement.layer not in found:
            found[statement.layer] = statement
    return tuple(found[layer] for layer in dict.fromkeys(needed) if layer in found)


def _candidates(layers: Layers, layer: str, decision: Decision) -> list[CompiledStatement]:
    """The Allow statements of the layer that failed to allow (for SCPs and RCPs: of the first level
    where no policy allowed)."""
    if layer in ("scp", "rcp"):
        levels = layers.scp_levels if layer == "scp" else layers.rcp_levels
        allowing = {s.source for s in decision.statements if s.layer == layer and s.effect == "Allow"}
        level = next((lv for lv in levels if not any(p.source in allowing for p in lv)), ())
        policies: tuple[CompiledPolicy, ...] = tuple(level)
    else:
        policies = dict(layers._by_layer()).get(layer, ())  # type: ignore[assignment]
        policies = tuple(policies)
    return [s for policy in policies for s in policy.statements if s.allow]


def _implicit(request: Request, layers: Layers, decision: Decision, rule: dict[str, str] | None) -> Explanation:
    layer = decision.decided_by
    what = f"{request.action} on {request.resource}"
    head = rule["sentence"] if rule else f"{what} is implicitly denied: no {_words(layer, request)} allows it"
    if layer == "none":
        return Explanation(f"{what} is implicitly denied: no policy that could allow it was given", layer, rule=rule)
    principal = parse_principal(request.principal)
    context = request_context(request, principal)
    best: tuple[int, CompiledStatement, list[Mismatch]] | None = None
    for statement in _candidates(layers, layer, decision):
        found = _mismatches(statement, request, principal, context, layer)
        if best is None or len(found) < best[0]:
            best = (len(found), statement, found)
    if best is None:
        given = any(True for _ in dict(layers._by_layer()).get(layer, ())) if layer not in ("scp", "rcp") else True
        none = "with an Allow statement for it" if given else "at all"
        return Explanation(f"{head}: there is no {_words(layer, request)} {none}", layer, rule=rule)
    _, statement, found = best
    matched = MatchedStatement.of(statement, layer)
    if not found:
        return Explanation(f"{head}; {matched.label} matches it, but {_why_not_enough(decision, layers)}", layer,
                           statement=matched, rule=rule)
    mismatch = found[0]
    return Explanation(f"{head}. The closest is {matched.label}: {mismatch.words()}", layer, statement=matched,
                       mismatch=mismatch, rule=rule)


def _why_not_enough(decision: Decision, layers: Layers) -> str:
    if decision.decided_by == "resource":
        return "across accounts the resource's policy must allow the caller too"
    return "another layer must allow it as well"


def _mismatches(
    statement: CompiledStatement, request: Request, principal: Any, context: Mapping[str, Any], layer: str
) -> list[Mismatch]:
    """Every element of ``statement`` that does not match the request, in the order AWS reads them."""
    raw = statement.document or {}
    found = []
    if statement.actions.matches(request.action, context) == statement.not_action:
        name = "NotAction" if statement.not_action else "Action"
        expected = as_list(raw.get(name))
        unknown = next((w for w in (action_warning(v) for v in expected if isinstance(v, str)) if w), None)
        found.append(Mismatch(name, expected, request.action, hint=unknown))
    if statement.resources is not None and statement.resources.matches(request.resource, context) == statement.not_resource:
        name = "NotResource" if statement.not_resource else "Resource"
        expected = as_list(raw.get(name))
        found.append(Mismatch(name, expected, request.resource, hint=_resource_hint(request, expected)))
    if layer == "resource" and statement.principals is None:
        found.append(Mismatch("Principal", [], request.principal))
    elif statement.principals is not None and (
        statement.principals.excludes(principal) if statement.not_principal else not statement.principals.matches(principal)
    ):
        name = "NotPrincipal" if statement.not_principal else "Principal"
        found.append(Mismatch(name, [raw.get(name)], request.principal))
    conditions = [(operator, key, values) for operator, keys in (raw.get("Condition") or {}).items()
                  for key, values in keys.items()]
    for clause, (operator, key, values) in zip(statement.conditions, conditions, strict=False):
        if not clause.holds(context):
            actual = context.get(key.lower())
            expected = as_list(values)
            found.append(Mismatch("Condition", expected, actual, key=key, operator=operator,
                                  hint=_arn_hint(expected, actual)))
            break
    return found


def _resource_hint(request: Request, expected: list[Any]) -> str | None:
    """The log-group pitfalls: a log group's ARN without ``:*`` for a log-stream action, or an ARN for
    an action authorised only on ``*``."""
    if request.resource == "*" and expected:
        return f"{request.action} is authorised only on Resource \"*\""
    group, marker, _ = request.resource.partition(":log-stream:")
    if marker and group in expected:
        return f"the Resource names the log group without ':*', but {request.action} acts on its log streams"
    return _arn_hint(expected, request.resource)


def _arn_hint(expected: list[Any], actual: Any) -> str | None:
    """Which part of an ARN differs, when one ARN is expected and the value is an ARN too."""
    if len(expected) != 1 or not isinstance(expected[0], str) or not isinstance(actual, str):
        return None
    want, have = expected[0].split(":", 5), actual.split(":", 5)
    if len(want) < 6 or len(have) < 6 or want[0] != "arn" or have[0] != "arn":
        return None
    differ = [f"the {name} is {have[i + 1]}, not {want[i + 1]}" for i, name in enumerate(ARN_PARTS)
              if "*" not in want[i + 1] and "?" not in want[i + 1] and want[i + 1] != have[i + 1]]
    return "; ".join(differ) if differ else None
