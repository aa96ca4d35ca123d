"""The ``iam simulate`` contract: a request object in, an answer object out.

Input: ``{"request": {"principal", "action", "resource", "resource_account", "context"},
"identity_policies", "resource_policy", "permissions_boundaries", "scp_levels", "rcp_levels",
"session_policy"}``, or a JSON array of them. Output: ``{"decision", "decided_by", "statements",
"warnings"}``, or an array of answers in the same order, where a malformed case is answered
``{"error": "..."}``. A malformed single case, or text that is not JSON, raises
:class:`flowforensics.errors.EvidenceError` naming the source. docs/contracts.md has the contract.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flowforensics.analysis.iam.documents import PolicyError
from flowforensics.analysis.iam.evaluate import Decision, Layers, Request, decide
from flowforensics.analysis.iam.explain import Explanation, explain
from flowforensics.analysis.iam.patterns import readings
from flowforensics.errors import EvidenceError

POLICY_FIELDS = (
    "identity_policies",
    "resource_policy",
    "permissions_boundaries",
    "scp_levels",
    "rcp_levels",
    "session_policy",
)
LIST_FIELDS = ("identity_policies", "permissions_boundaries", "scp_levels", "rcp_levels")
_STRING_FIELDS = ("principal", "action", "resource", "resource_account")


def _request(case: Any) -> Request:
    if not isinstance(case, Mapping):
        raise ValueError("a case must be a JSON object")
    unknown = set(case) - {"request", *POLICY_FIELDS}
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")
    request = case.get("request")
    if not isinstance(request, Mapping):
        raise ValueError("request must be an object")
    for name in _STRING_FIELDS:
        if request.get(name) is not None and not isinstance(request[name], str):
            raise ValueError(f"request.{name} must be a string")
    if not request.get("action"):
        raise ValueError("request.action is required")
    if request.get("context") is not None and not isinstance(request["context"], Mapping):
        raise ValueError("request.context must be an object")
    for name in LIST_FIELDS:
        if case.get(name) is not None and not isinstance(case[name], list):
            raise ValueError(f"{name} must be a list")
    return Request.of(request)


def simulate_case(case: Any) -> dict[str, Any]:
    """Answer one case of the contract: the decision, and why.

    Raises
    ------
    ValueError
        When the case is malformed or one of its policies is not a valid policy.
    """
    request = _request(case)
    try:
        layers = Layers.compile(**{name: case.get(name) for name in POLICY_FIELDS})
    except PolicyError as exc:
        raise ValueError(f"bad policy: {exc}") from exc
    decision = decide(request, layers)
    return answer(decision, explain(request, layers, decision), readings(request, layers, decision))


def answer(decision: Decision, explanation: Explanation, resource_pattern: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``iam simulate`` answer: ``decision``, ``decided_by`` and ``statements`` as before, plus
    ``explanation`` (why, in a sentence and as fields), ``warnings`` (what was read outside the
    grammar or is unknown to AWS, and how it was read) and ``resource_pattern`` (for a resource
    pattern, the "any" and "every" readings; None otherwise)."""
    explained = explanation.to_dict()
    if resource_pattern is not None:
        explained["sentence"] += f". {_pattern_words(resource_pattern)}"
    return {**decision.to_dict(), "explanation": explained, "warnings": list(decision.warnings),
            "resource_pattern": resource_pattern}


def _pattern_words(readings: dict[str, Any]) -> str:
    """Which reading the decision is, and the other two, in words."""

    def one(name: str, reading: dict[str, Any]) -> str:
        example = f" (e.g. {reading['example']})" if reading["example"] else ""
        return f"for {name} matching resource: {reading['decision']}{example}"

    return (f"The decision takes the resource pattern as written; {one('any', readings['any'])}; "
            f"{one('every', readings['every'])}")


@dataclass(frozen=True)
class Simulation:
    """The output of ``iam simulate``: the answers as JSON, and the indexes of the malformed cases
    of a batch (each answered with ``{"error": ...}`` at its index)."""

    text: str
    failed: tuple[int, ...] = ()
    source: str = ""

    def failure(self) -> str | None:
        """One line naming the failed indexes, or None when every case was answered."""
        if not self.failed:
            return None
        shown = ", ".join(str(index) for index in self.failed[:20])
        more = f" and {len(self.failed) - 20} more" if len(self.failed) > 20 else ""
        noun = "case" if len(self.failed) == 1 else "cases"
        verb = "is" if len(self.failed) == 1 else "are"
        return f"{self.source}: {noun} {shown}{more} of the batch {verb} malformed (see their \"error\"); the others are answered"


def simulate(text: str, source: str) -> Simulation:
    """Answer the ``iam simulate`` input ``text`` (read from ``source``).

    Parameters
    ----------
    text : str
        One case as a JSON object, or a JSON array of cases.
    source : str
        The file (or ``<stdin>``) the text came from, named in errors.

    Returns
    -------
    Simulation
        The answer object, or the array of answers in order, as JSON. In an array, a malformed case
        gets ``{"error": "..."}`` at its index and the others are answered.

    Raises
    ------
    EvidenceError
        When the text is not JSON, or a single case is malformed.
    """
    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise EvidenceError(source, f"not JSON ({exc})") from exc
    except RecursionError as exc:
        raise EvidenceError(source, "not JSON (nested too deeply)") from exc
    if isinstance(payload, list):
        answers: list[dict[str, Any]] = []
        failed: list[int] = []
        for index, case in enumerate(payload):
            try:
                answers.append(simulate_case(case))
            except (ValueError, RecursionError) as exc:
                failed.append(index)
                answers.append({"error": f"case {index}: {_reason(exc)}"})
        return Simulation(json.dumps(answers, indent=2), tuple(failed), source)
    try:
        return Simulation(json.dumps(simulate_case(payload), indent=2), (), source)
    except (ValueError, RecursionError) as exc:
        raise EvidenceError(source, _reason(exc)) from exc


def _reason(exc: BaseException) -> str:
    return "nested too deeply" if isinstance(exc, RecursionError) else str(exc)


def simulate_text(text: str, source: str) -> str:
    """The JSON output of :func:`simulate` (malformed cases of a batch answered ``{"error": ...}``)."""
    return simulate(text, source).text
