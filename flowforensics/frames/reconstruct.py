"""Flow logs, roles and policies reconstructed from CloudTrail, for evidence that has nothing else.

EC2 writes its request parameters in several shapes (``{"CreateFlowLogsRequest": {"ResourceId":
{"content": "vpc-1", "tag": 1}}}`` today, ``{"resourceIdSet": {"items": [{"resourceId": ...}]}}`` in older
records), so fields are found by name at any depth rather than by one path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from flowforensics.evidence.values import text
from flowforensics.frames.iam_changes import UNKNOWN, replay
from flowforensics.frames.resources import arn_part, log_group_from_arn
from flowforensics.frames.schema import frame


def _values(node: Any, wanted: str) -> list[Any]:
    """Every scalar under a key named ``wanted`` (case-insensitive, any depth), EC2 wrappers unwrapped."""
    found: list[Any] = []

    def scalars(value: Any) -> None:
        if isinstance(value, Mapping):
            if "content" in value:
                scalars(value["content"])
            else:
                for inner in value.values():
                    scalars(inner)
        elif isinstance(value, list):
            for inner in value:
                scalars(inner)
        elif value not in (None, ""):
            found.append(value)

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                if key.lower() == wanted:
                    scalars(inner)
                else:
                    walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(node)
    return found


def _first(node: Any, *names: str) -> Any:
    for name in names:
        values = _values(node, name.lower())
        if values:
            return values[0]
    return None


# CreateFlowLogs names a CloudWatch Logs destination by LogGroupName, or by LogDestination holding the log
# group's ARN (``arn:aws:logs:R:A:log-group:NAME``); LogDestinationType defaults to cloud-watch-logs; an S3
# bucket or Firehose stream ARN is no log group (EC2 API reference, CreateFlowLogs).
CLOUDWATCH_LOGS = "cloud-watch-logs"


def _destination(request: Any) -> tuple[str, str | None, Any]:
    """(LogDestinationType, log group name or None, LogDestination) of a CreateFlowLogs request."""
    kind = _first(request, "LogDestinationType") or CLOUDWATCH_LOGS
    destination = _first(request, "LogDestination")
    group = _first(request, "LogGroupName")
    if group is None and kind == CLOUDWATCH_LOGS and isinstance(destination, str):
        group = log_group_from_arn(destination)
    return str(kind), text(group), destination


def flow_logs_from_events(events: Any) -> Any:
    """Rebuild the ``flow_logs`` frame from ``CreateFlowLogs`` and ``DeleteFlowLogs`` events.

    Parameters
    ----------
    events : pandas.DataFrame
        The ``events`` frame.

    Returns
    -------
    pandas.DataFrame
        One row per flow log id seen, with what the events tell (``source`` = ``cloudtrail``).
    """
    rows: dict[str, dict[str, Any]] = {}
    mask = events["event_name"].isin(["CreateFlowLogs", "DeleteFlowLogs"]) & events["error_code"].isna()
    for event in events[mask].itertuples(index=False):
        if event.event_name == "CreateFlowLogs":
            ids = _values(event.response, "flowlogid") or _values(event.response, "item")
            resources = _values(event.request, "resourceid")
            for position, flow_log_id in enumerate(ids):
                if not str(flow_log_id).startswith("fl-"):
                    continue
                row = rows.setdefault(flow_log_id, {"flow_log_id": flow_log_id})
                kind, group, destination = _destination(event.request)
                row.update(
                    region=event.region,
                    account_id=event.account_id,
                    resource_id=resources[position] if position < len(resources) else (resources[0] if resources else None),
                    traffic_type=_first(event.request, "TrafficType"),
                    log_destination_type=kind,
                    log_group=group,
                    log_destination=destination,
                    role_arn=_first(event.request, "DeliverLogsPermissionArn"),
                    log_format=_first(event.request, "LogFormat"),
                    created=event.event_time,
                    created_by=event.actor,
                    create_event_id=event.event_id,
                )
        else:
            for flow_log_id in _values(event.request, "flowlogid"):
                row = rows.setdefault(flow_log_id, {"flow_log_id": flow_log_id, "region": event.region, "account_id": event.account_id})
                row.update(deleted=event.event_time, deleted_by=event.actor, delete_event_id=event.event_id)
    for row in rows.values():
        row.update(source="cloudtrail", source_file="cloudtrail")
    return frame("flow_logs", rows.values())


def roles_and_policies_from_events(events: Any) -> tuple[Any, Any]:
    """Rebuild the ``roles`` and ``policies`` frames by replaying IAM events forward.

    Documents the events do not show (a role created before the evidence begins, say) stay null.

    Returns
    -------
    roles, policies : pandas.DataFrame
    """
    state = replay(events)
    deletes = events[(events["event_name"] == "DeleteRole") & events["error_code"].isna()]
    deleted_at = {
        (event.request or {}).get("roleName"): event.event_time for event in deletes.itertuples(index=False)
    }
    role_rows, policy_rows = [], []
    for name, role in state.roles.items():
        role_rows.append(
            {
                "role_name": name,
                "role_id": role.role_id,
                "arn": role.arn,
                "account_id": role.arn.split(":")[4] if role.arn else None,
                "created": role.created,
                "trust_policy": None if role.trust_policy is UNKNOWN else role.trust_policy,
                "permissions_boundary_arn": role.permissions_boundary_arn,
                "inline_policy_names": list(role.inline_policies),
                "attached_policy_arns": list(role.attached_policy_arns),
                "deleted": None if role.exists else deleted_at.get(name),
                "source": "cloudtrail",
                "source_file": "cloudtrail",
            }
        )
        for policy_name, document in role.inline_policies.items():
            policy_rows.append(
                {
                    "policy_type": "inline",
                    "policy_name": policy_name,
                    "role_name": name,
                    "is_default": True,
                    "document": None if document is UNKNOWN else document,
                    "source": "cloudtrail",
                    "source_file": "cloudtrail",
                }
            )
    for arn, policy in state.managed.items():
        for version, document in policy.versions.items():
            policy_rows.append(
                {
                    "policy_type": "managed",
                    "policy_name": policy.name,
                    "policy_arn": arn,
                    "version_id": version,
                    "is_default": version == policy.default_version,
                    "document": None if document is UNKNOWN else document,
                    "source": "cloudtrail",
                    "source_file": "cloudtrail",
                }
            )
    return frame("roles", role_rows), frame("policies", policy_rows)


# Calls made in the flow log's region that name its log group or its role (docs/contracts.md: flow-log, logs and
# STS events are in the flow log's region; IAM's are all in us-east-1 and tell nothing).
REGIONAL_SOURCES = ("ec2.amazonaws.com", "logs.amazonaws.com", "sts.amazonaws.com")


def infer_regions(frames: dict[str, Any]) -> Any:
    """Fill the region of flow logs whose evidence does not give it (``describe-flow-logs`` output
    has no region field, and a hand-filled folder has no manifest to say where it was called).

    The region is taken, in order, from the flow log's own CloudTrail events; the ARN of its log
    group or of an alarm on it; the regional calls that name its log group or its role; the
    AccessDenied messages and the policy documents that name its log group's ARN; the trust
    policy's ``aws:SourceArn``. Each source counts only when all it shows agrees on one region.

    Parameters
    ----------
    frames : dict of str to pandas.DataFrame
        The evidence frames (``flow_logs``, ``events``, ``log_groups``, ``alarms``, ``policies``, ``roles``).

    Returns
    -------
    pandas.DataFrame
        ``flow_logs`` with ``region`` filled where the evidence is unanimous.
    """
    flow_logs = frames["flow_logs"]
    missing = flow_logs["region"].isna()
    if not missing.any():
        return flow_logs
    flow_logs = flow_logs.copy()
    for index in flow_logs.index[missing]:
        for candidates in _region_evidence(flow_logs.loc[index], frames):
            regions = {region for region in candidates if region and "*" not in region and "?" not in region}
            if len(regions) == 1:
                flow_logs.loc[index, "region"] = regions.pop()
                break
    return flow_logs


def _regions_in(texts: Any, pattern: re.Pattern[str]) -> list[str]:
    return [match for value in texts for match in pattern.findall(value if isinstance(value, str) else json.dumps(value, default=str))]


def _region_evidence(row: Any, frames: dict[str, Any]) -> Any:
    events, log_groups, alarms = frames["events"], frames["log_groups"], frames["alarms"]
    regional = events[events["event_source"].isin(REGIONAL_SOURCES) & events["region"].notna()]
    flow_log_id, group, role = row["flow_log_id"], text(row["log_group"]), text(row["role_arn"])
    yield [e.region for e in regional.itertuples(index=False) if e.event_name in ("CreateFlowLogs", "DeleteFlowLogs")
           and flow_log_id in (_values(e.request, "flowlogid") + _values(e.response, "flowlogid") + _values(e.response, "item"))]
    if group:
        yield log_groups.loc[log_groups["log_group"] == group, "region"].dropna().tolist()
        yield [arn_part(arn, 3) for arn in alarms.loc[alarms["log_group"] == group, "alarm_arn"].dropna()]
        yield [e.region for e in regional.itertuples(index=False) if group in _values(e.request, "loggroupname")]
    if role:
        yield [e.region for e in regional.itertuples(index=False) if text(e.session_issuer) == role or role in _values(e.request, "rolearn")]
    if group:
        group_arn = re.compile(r"arn:[\w-]+:logs:([\w*?-]+):[\d*?]*:log-group:" + re.escape(group) + r"(?![^:\"*])")
        yield _regions_in(events["error_message"].dropna(), group_arn)
        yield _regions_in(frames["policies"]["document"].dropna(), group_arn)
    if role:
        trust = frames["roles"].loc[frames["roles"]["arn"] == role, "trust_policy"].dropna()
        yield _regions_in(trust, re.compile(r"arn:[\w-]+:ec2:([\w*?-]+):[\d*?]*:vpc-flow-log/"))
