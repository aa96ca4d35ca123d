"""The ``iam simulate`` contract of DESIGN.md: a request object in, an answer object out.

Input: ``{"request": {"principal", "action", "resource", "resource_account", "context"},
"identity_policies", "resource_policy", "permissions_boundaries", "scp_levels", "rcp_levels",
"session_policy"}``, or a JSON array of them. Output: ``{"decision", "decided_by", "statements"}``,
or an array of answers in the same order. Bad input raises
:class:`flowforensics.errors.EvidenceError` naming the source and the case at fault.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flowforensics.analysis.iam.documents import PolicyError
from flowforensics.analysis.iam.evaluate import Request, evaluate
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
    """Answer one case of the contract.

    Raises
    ------
    ValueError
        When the case is malformed or one of its policies is not a valid policy.
    """
    request = _request(case)
    try:
        decision = evaluate(request, **{name: case.get(name) for name in POLICY_FIELDS})
    except PolicyError as exc:
        raise ValueError(f"bad policy: {exc}") from exc
    return decision.to_dict()


def simulate_text(text: str, source: str) -> str:
    """Answer the ``iam simulate`` input ``text`` (read from ``source``) with the JSON output.

    Parameters
    ----------
    text : str
        One case as a JSON object, or a JSON array of cases.
    source : str
        The file (or ``<stdin>``) the text came from, named in errors.

    Returns
    -------
    str
        The answer object, or the array of answers in order, as JSON.

    Raises
    ------
    EvidenceError
        When the text is not JSON, or a case is malformed (the message names the case's index).
    """
    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise EvidenceError(source, f"not JSON ({exc})") from exc
    if isinstance(payload, list):
        answers = []
        for index, case in enumerate(payload):
            try:
                answers.append(simulate_case(case))
            except ValueError as exc:
                raise EvidenceError(source, f"case {index}: {exc}") from exc
        return json.dumps(answers, indent=2)
    try:
        return json.dumps(simulate_case(payload), indent=2)
    except ValueError as exc:
        raise EvidenceError(source, str(exc)) from exc
