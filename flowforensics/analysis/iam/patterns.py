"""A request for a resource pattern (``*``, ``arn:aws:logs:R:A:log-group:NAME:*``): "any" and "every".

AWS authorises the resource a request names, as written: for an action authorised only on ``*``
(``logs:DescribeLogGroups``) the request's resource is ``*`` and a statement's Resource must cover
``*`` itself. That is the decision ``iam simulate`` gives. An investigator asking about a pattern
often means something else, so the answer adds both readings:

- ``any``: can the principal do it to at least one resource the pattern matches? Allowed is shown
  with an example resource the evaluator allows;
- ``every``: can it do it to every resource the pattern matches? Denied is shown with an example
  resource the evaluator refuses.

The examples are drawn from the policies' own Resource patterns and the request's pattern (each
wildcard filled in), and each is decided by the evaluator, so an example is always a real answer;
``every`` is Allowed only when the pattern as written is allowed and no example is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from flowforensics.analysis.iam.evaluate import ALLOWED, Decision, Layers, Request, decide
from flowforensics.analysis.iam.matching import as_list, compile_patterns, has_variable, has_wildcard

FILLER = "example"  # what an example resource puts where a pattern has a wildcard
_WILDCARDS = re.compile(r"[*?]")
MAX_EXAMPLES = 64  # bounds the work on attacker-sized policies


@dataclass(frozen=True)
class Reading:
    """One reading of a pattern request: its decision, and the example resource that shows it."""

    decision: str
    decided_by: str
    example: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.decision, "decided_by": self.decided_by, "example": self.example}


def _fill(pattern: str) -> str:
    return _WILDCARDS.sub(lambda match: FILLER if match.group(0) == "*" else "x", pattern)


def _examples(request: Request, layers: Layers) -> list[str]:
    """Concrete resources the request's pattern matches: from each policy's Resource values and from the
    pattern itself."""
    pattern = compile_patterns([request.resource], ignore_case=False, arn=True, variables=False)
    seen: dict[str, None] = {}
    values = [
        value
        for _, policies in layers._by_layer()
        for policy in policies
        for statement in policy.statements
        for element in ("Resource", "NotResource")
        for value in as_list((statement.document or {}).get(element))
    ]
    for value in [*values, request.resource]:
        if not isinstance(value, str) or has_variable(value):
            continue
        example = _fill(value) if has_wildcard(value) else value
        if example != request.resource and pattern.matches(example, {}):
            seen.setdefault(example)
        if len(seen) >= MAX_EXAMPLES:
            break
    return list(seen)


def readings(request: Request, layers: Layers, decision: Decision) -> dict[str, Any] | None:
    """The ``resource_pattern`` object of the answer when the request's resource is a pattern, else None.

    Parameters
    ----------
    request, layers : Request, Layers
        The request and its compiled policies.
    decision : Decision
        The decision on the resource as written (the answer's own ``decision``).

    Returns
    -------
    dict or None
        ``{"as_written": ..., "any": ..., "every": ..., "differ": bool}``, each reading
        ``{"decision", "decided_by", "example"}``.
    """
    if not has_wildcard(request.resource):
        return None
    decided = [(example, decide(replace(request, resource=example), layers)) for example in _examples(request, layers)]
    allowed = next(((e, d) for e, d in decided if d.decision == ALLOWED), None)
    refused = next(((e, d) for e, d in decided if d.decision != ALLOWED), None)
    as_written = Reading(decision.decision, decision.decided_by, None)
    if allowed:
        any_reading = Reading(allowed[1].decision, allowed[1].decided_by, allowed[0])
    elif decision.decision == ALLOWED:
        any_reading = as_written
    else:
        example, refusal = refused if refused else (None, decision)
        any_reading = Reading(refusal.decision, refusal.decided_by, example)
    if refused:
        every = Reading(refused[1].decision, refused[1].decided_by, refused[0])
    else:
        every = as_written
    return {
        "as_written": as_written.to_dict(),
        "any": any_reading.to_dict(),
        "every": every.to_dict(),
        "differ": any_reading.decision != every.decision,
    }
