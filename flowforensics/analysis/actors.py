"""What else a principal did: its CloudTrail events in the evidence, the ones that impair logging marked.

After "which change broke delivery, and who made it", an investigator asks what else that principal
did around the incident: a flow log deleted here, a trail stopped there is the same defense evasion
(MITRE ATT&CK T1562.008, Impair Defenses: Disable or Modify Cloud Logs). The actions that impair
logging are data (:data:`IMPAIRING_ACTIONS`), not a chain of tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from flowforensics.frames.schema import frame

# (event source, event name) -> the MITRE ATT&CK technique the action is an instance of.
IMPAIRING_ACTIONS: dict[tuple[str, str], str] = {
    ("ec2.amazonaws.com", "DeleteFlowLogs"): "T1562.008",
    ("logs.amazonaws.com", "DeleteLogGroup"): "T1562.008",
    ("cloudtrail.amazonaws.com", "StopLogging"): "T1562.008",
    ("cloudtrail.amazonaws.com", "PutEventSelectors"): "T1562.008",
    ("cloudtrail.amazonaws.com", "DeleteTrail"): "T1562.008",
    ("cloudtrail.amazonaws.com", "UpdateTrail"): "T1562.008",
}
TECHNIQUES: dict[str, str] = {"T1562.008": "Impair Defenses: Disable or Modify Cloud Logs"}
# Request parameters that name what an action was done to, first match wins (CloudTrail's own keys).
TARGET_KEYS = (
    "roleName", "policyArn", "policyName", "logGroupName", "flowLogIds", "FlowLogId", "resourceIds", "name",
    "trailName", "bucketName", "userName", "groupName", "keyId", "instanceId", "groupId",
)
# Around the incident: this long before its window and after it.
ACTIVITY_MARGIN = timedelta(hours=24)
ACTIVITY_COLUMNS = (
    "time", "principal", "event_name", "event_source", "region", "target", "error_code", "read_only",
    "technique", "event_id", "source_file",
)


def technique_of(event_source: Any, event_name: Any) -> str | None:
    """The ATT&CK technique of an action that impairs logging (see :data:`IMPAIRING_ACTIONS`), else None."""
    return IMPAIRING_ACTIONS.get((str(event_source), str(event_name)))


def target_of(request: Any, resources: Any = None) -> str | None:
    """What an action was done to: the first naming parameter of its request, else its resources' ARNs."""
    if isinstance(request, Mapping):
        # EC2 wraps some requests: {"DeleteFlowLogsRequest": {"FlowLogId": {"content": "fl-...", "tag": 1}}}.
        wrapped = [value for key, value in request.items() if str(key).endswith("Request") and isinstance(value, Mapping)]
        request = {**request, **wrapped[0]} if wrapped else request
        for key in TARGET_KEYS:
            value = request.get(key)
            if isinstance(value, Mapping):  # EC2's shapes nest lists: {"item": [...]} or {"FlowLogId": {...}}
                value = value.get("item", value.get("content", next(iter(value.values()), None)))
            if isinstance(value, list):
                value = ", ".join(str(item.get("content", item) if isinstance(item, Mapping) else item) for item in value)
            if value not in (None, ""):
                return str(value)
    if isinstance(resources, list):
        arns = [str(item.get("ARN")) for item in resources if isinstance(item, Mapping) and item.get("ARN")]
        return ", ".join(arns) or None
    return None


def actor_activity(evidence: Any, principals: Iterable[str], *, start: Any = None, end: Any = None) -> Any:
    """Every CloudTrail event of the evidence made by the principals, logging-impairing ones marked.

    Parameters
    ----------
    evidence : Evidence
        The loaded evidence (its ``events`` frame).
    principals : iterable of str
        Actors as the ``events`` frame names them (``userIdentity.arn``, the session issuer, ...): an
        event is theirs when its actor or its session issuer is one of them.
    start, end : datetime-like, optional
        Events from ``start`` to ``end`` only (UTC); events without a time are kept only without a window.

    Returns
    -------
    pandas.DataFrame
        The columns of :data:`ACTIVITY_COLUMNS`, by time: ``principal`` is the one asked for that
        matched, ``target`` what the action was done to, ``technique`` the ATT&CK technique of an
        action that impairs logging (else empty).
    """
    import pandas as pd

    wanted = [str(principal) for principal in dict.fromkeys(principals) if principal]
    events = evidence.events
    columns = list(ACTIVITY_COLUMNS)
    if not wanted or not len(events):
        return pd.DataFrame(columns=columns)
    by_actor = events["actor"].isin(wanted)
    by_issuer = events["session_issuer"].isin(wanted)
    mine = events[by_actor.fillna(False).astype(bool) | by_issuer.fillna(False).astype(bool)]
    if start is not None:
        mine = mine[mine["event_time"] >= pd.Timestamp(start)]
    if end is not None:
        mine = mine[mine["event_time"] <= pd.Timestamp(end)]
    rows = (
        {
            "time": row.event_time,
            "principal": row.actor if row.actor in wanted else row.session_issuer,
            "event_name": row.event_name,
            "event_source": row.event_source,
            "region": row.region,
            "target": target_of(row.request, row.resources),
            "error_code": row.error_code,
            "read_only": row.read_only,
            "technique": technique_of(row.event_source, row.event_name),
            "event_id": row.event_id,
            "source_file": row.source_file,
        }
        for row in mine.itertuples(index=False)
    )
    table = pd.DataFrame(list(rows), columns=columns)
    table["time"] = pd.to_datetime(table["time"], utc=True)
    return table.sort_values("time", kind="stable", na_position="last").reset_index(drop=True)


def activity_window(start: Any, end: Any, margin: timedelta = ACTIVITY_MARGIN) -> tuple[Any, Any]:
    """The stretch of time "around the incident": its window widened by ``margin`` on each side."""
    return (start - margin if start is not None else None, end + margin if end is not None else None)


def activity_timeline(activity: Any, lane_of: Mapping[str, str], flow_log_id: str | None = None) -> Any:
    """The activity as ``timeline`` rows, a lane per principal (``lane_of`` names it).

    Parameters
    ----------
    activity : pandas.DataFrame
        From :func:`actor_activity`.
    lane_of : mapping of str to str
        Principal -> its lane's name.
    flow_log_id : str, optional
        The flow log the timeline is about.

    Returns
    -------
    pandas.DataFrame
        The ``timeline`` frame's columns; ``detail`` carries the technique and the error code.
    """
    return frame(
        "timeline",
        (
            {
                "time": row.time,
                "lane": lane_of.get(row.principal, row.principal),
                "kind": row.event_name,
                "summary": " ".join(str(part) for part in (row.event_name, row.target) if isinstance(part, str) and part),
                "actor": row.principal,
                "event_id": row.event_id,
                "flow_log_id": flow_log_id,
                "detail": {key: value for key, value in (("technique", row.technique), ("error", row.error_code))
                           if isinstance(value, str) and value},
                "source": row.source_file,
            }
            for row in activity.itertuples(index=False)
        ),
    )
