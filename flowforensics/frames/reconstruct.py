"""Flow logs, roles and policies reconstructed from CloudTrail, for evidence that has nothing else.

EC2 writes its request parameters in several shapes (``{"CreateFlowLogsRequest": {"ResourceId":
{"content": "vpc-1", "tag": 1}}}`` today, ``{"resourceIdSet": {"items": [{"resourceId": ...}]}}`` in older
records), so fields are found by name at any depth rather than by one path.
"""

from __future__ import annotations

from typing import Any

from flowforensics.frames.iam_changes import UNKNOWN, replay
from flowforensics.frames.schema import frame


def _values(node: Any, wanted: str) -> list[Any]:
    """Every scalar under a key named ``wanted`` (case-insensitive, any depth), EC2 wrappers unwrapped."""
    found: list[Any] = []

    def scalars(value: Any) -> None:
        if isinstance(value, dict):
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
        if isinstance(value, dict):
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
                destination = _first(event.request, "LogDestination")
                row.update(
                    region=event.region,
                    account_id=event.account_id,
                    resource_id=resources[position] if position < len(resources) else (resources[0] if resources else None),
                    traffic_type=_first(event.request, "TrafficType"),
                    log_destination_type=_first(event.request, "LogDestinationType") or "cloud-watch-logs",
                    log_group=_first(event.request, "LogGroupName"),
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
