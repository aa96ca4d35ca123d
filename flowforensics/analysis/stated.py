"""AWS's own words as evidence: the reason clause of the delivery role's refused calls.

When CloudWatch Logs refuses a call of the delivery role, CloudTrail keeps the AccessDenied message,
and AWS names in it the policy type that refused ("... with an explicit deny in an identity-based
policy", "... because no permissions boundary allows ..."; IAM User Guide, "Troubleshoot access
denied error messages"). When the role's state has holes the evaluator cannot decide, but these
words still say which layer of the role failed; when the evaluator finds delivery allowed, the words
are what happened and a policy the evidence does not show refused. Either way the last change to
that layer before the failure is the trigger to name. A refused ``logs:`` call of the role's own session also shows that the
service had assumed the role: the trust admitted it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flowforensics.analysis.iam import parse_access_denied
from flowforensics.analysis.observed import SERVICE
from flowforensics.evidence.records import parsed

TRUST_CODES = ("trust-missing-service", "trust-condition-mismatch")
REFUSALS = ("access-denied", "assume-role-denied")  # the failure signals that are refused calls
# The role's own change events -> the layer of the role they change.
ROLE_LAYER_EVENTS: dict[str, str] = {
    "CreateRole": "trust",
    "UpdateAssumeRolePolicy": "trust",
    "PutRolePolicy": "identity",
    "DeleteRolePolicy": "identity",
    "AttachRolePolicy": "identity",
    "DetachRolePolicy": "identity",
    "PutRolePermissionsBoundary": "boundary",
    "DeleteRolePermissionsBoundary": "boundary",
}
# Changes of a managed policy change the identity layer, or the boundary when the role uses it as one.
POLICY_EVENTS = ("CreatePolicyVersion", "SetDefaultPolicyVersion", "DeletePolicyVersion")
EVENT_SOURCE_LAYERS = {"organizations.amazonaws.com": "scp"}
# How a finding names each layer.
LAYER_NAMES = {"trust": "trust policy", "identity": "identity policies", "boundary": "permissions boundary",
               "scp": "service control policies"}
_CLAUSE = re.compile(r"(?:because no|with an explicit deny in)\b[^.]*", re.IGNORECASE)


@dataclass(frozen=True)
class StatedDenial:
    """What AWS said when it refused the role's calls in a failure window.

    Attributes
    ----------
    layer : str
        ``trust``, ``identity``, ``boundary`` or ``scp``.
    codes : tuple of str
        The root causes the words leave: one, or both trust codes (a refused ``AssumeRole`` does not
        say whether the trust omits the service or its conditions exclude the flow log).
    event_ids : list of str
        The refused calls.
    clause : str
        AWS's reason, as it wrote it (empty for a refused ``AssumeRole``, which gives none).
    actions : tuple of str
        The refused actions AWS named (``sts:AssumeRole`` for the trust).
    """

    layer: str
    codes: tuple[str, ...]
    event_ids: list[str]
    clause: str
    actions: tuple[str, ...] = ()

    def says(self) -> str:
        """The words, for a finding's summary."""
        calls = f"{len(self.event_ids)} refused call{'s' if len(self.event_ids) > 1 else ''}"
        if self.layer == "trust":
            return f"AWS refused {SERVICE} the role's sts:AssumeRole ({calls})"
        return f"AWS's AccessDenied for the role's {calls} says '{self.clause}'"


def _window_events(evidence: Any, window: dict[str, Any], signals: tuple[str, ...] | None) -> Any:
    ids = [entry["source"] for entry in window.get("signals", []) if signals is None or entry["signal"] in signals]
    events = evidence.events
    return events[events["event_id"].isin(ids)].sort_values("event_time", kind="stable")


def stated_denial(evidence: Any, window: dict[str, Any] | None) -> StatedDenial | None:
    """The layer AWS named for the refused calls of a failure window.

    Parameters
    ----------
    evidence : Evidence
    window : dict or None
        A failure window (``signals`` name their sources, event ids for CloudTrail calls).

    Returns
    -------
    StatedDenial or None
        None when no refused call gives a reason, or when AWS named different layers (the state
        changed inside the window, and the words alone do not say which change failed delivery).
    """
    if window is None:
        return None
    stated: dict[tuple[str, tuple[str, ...]], tuple[list[str], str, dict[str, None]]] = {}
    for event in _window_events(evidence, window, REFUSALS).itertuples(index=False):
        if event.event_name == "AssumeRole":
            layer, codes, clause, action = "trust", TRUST_CODES, "", "sts:AssumeRole"
        else:
            denial = parse_access_denied(event.error_message if isinstance(event.error_message, str) else "")
            if denial is None or denial.root_cause is None:
                continue
            found = _CLAUSE.search(event.error_message)
            layer, codes, clause = denial.layer, (denial.root_cause,), found.group(0).strip() if found else ""
            action = denial.action
        ids, _, actions = stated.setdefault((layer, codes), ([], clause, {}))
        ids.append(event.event_id)
        actions[action] = None
    if len(stated) != 1:
        return None
    (layer, codes), (ids, clause, actions) = next(iter(stated.items()))
    return StatedDenial(layer, codes, ids, clause, tuple(actions))


def session_calls(evidence: Any, window: dict[str, Any] | None) -> list[str]:
    """The ``logs:`` calls the role's own session made in a failure window (event ids).

    The service had assumed the role to make them, so the trust policy admitted it then.
    """
    if window is None:
        return []
    events = _window_events(evidence, window, None)
    return list(events.loc[events["event_source"] == "logs.amazonaws.com", "event_id"])


def assume_role_refused(window: dict[str, Any] | None) -> bool:
    """Whether the service's ``AssumeRole`` was refused in the window."""
    return window is not None and any(entry["signal"] == "assume-role-denied" for entry in window.get("signals", []))


def event_layer(event: Any, history: Any) -> str | None:
    """The layer of the role one replayed change event changes (None: another role's, or no layer)."""
    layer = EVENT_SOURCE_LAYERS.get(event["event_source"]) or ROLE_LAYER_EVENTS.get(event["event_name"])
    if layer is not None or event["event_name"] not in POLICY_EVENTS:
        return layer
    request = parsed(event["request"]) or {}
    boundary = history.at(event["event_time"]).role.permissions_boundary_arn
    return "boundary" if request.get("policyArn") == boundary else "identity"


def layer_trigger(history: Any, layer: str, *, before: Any, after: Any = None) -> dict[str, Any] | None:
    """The last change to ``layer`` of the role at or before ``before`` and after ``after``.

    Parameters
    ----------
    history : RoleHistory
    layer : str
    before : pandas.Timestamp
        When the failure started.
    after : pandas.Timestamp or None
        The last time delivery is known to have worked before: an earlier change did not break it.

    Returns
    -------
    dict or None
        The event (an ``events`` row as a dict), or None when the evidence shows no such change.
    """
    if history is None or history.events is None:
        return None
    events = history.events[history.events["event_time"] <= before]
    if after is not None:
        events = events[events["event_time"] > after]
    for event in reversed(events.to_dict("records")):
        if event_layer(event, history) == layer:
            return event
    return None
