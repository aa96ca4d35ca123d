"""AWS describe/get outputs into frame rows: one small builder per evidence shape, in a table."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from flowforensics.evidence.reader import Document
from flowforensics.evidence.values import parse_document, parse_time

Row = tuple[str, dict[str, Any]]  # (frame name, row)


def arn_part(arn: str | None, index: int) -> str | None:
    """Return part ``index`` of an ARN (3 region, 4 account, 5 resource), or ``None``."""
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        return None
    parts = arn.split(":", 5)
    return parts[index] or None if len(parts) > index else None


def log_group_from_arn(arn: str | None) -> str | None:
    """The log group name in ``arn:aws:logs:R:A:log-group:NAME[:*|:log-stream:S]``."""
    resource = arn_part(arn, 5)
    if not resource or not resource.startswith("log-group:"):
        return None
    name = resource[len("log-group:"):].split(":log-stream:", 1)[0]
    return name[:-2] if name.endswith(":*") else name


def _tags(items: Any) -> dict[str, Any]:
    return {tag.get("Key"): tag.get("Value") for tag in items or [] if isinstance(tag, dict)}


def _flow_log(item: dict[str, Any], document: Document) -> Iterator[Row]:
    entry = document.manifest_entry
    destination = item.get("LogDestination")
    yield "flow_logs", {
        "flow_log_id": item.get("FlowLogId"),
        "region": entry.get("region") or arn_part(destination, 3),
        "account_id": entry.get("account") or arn_part(item.get("DeliverLogsPermissionArn"), 4) or arn_part(destination, 4),
        "resource_id": item.get("ResourceId"),
        "traffic_type": item.get("TrafficType"),
        "log_destination_type": item.get("LogDestinationType") or ("cloud-watch-logs" if item.get("LogGroupName") else None),
        "log_group": item.get("LogGroupName") or log_group_from_arn(destination),
        "log_destination": destination,
        "role_arn": item.get("DeliverLogsPermissionArn"),
        "flow_log_status": item.get("FlowLogStatus"),
        "deliver_logs_status": item.get("DeliverLogsStatus"),
        "deliver_logs_error": item.get("DeliverLogsErrorMessage"),
        "log_format": item.get("LogFormat"),
        "created": parse_time(item.get("CreationTime")),
        "tags": _tags(item.get("Tags")),
        "source": "describe-flow-logs",
        "source_file": document.path,
    }


def _role_row(role: dict[str, Any], source: str, path: str) -> dict[str, Any]:
    last_used = role.get("RoleLastUsed") or {}
    boundary = role.get("PermissionsBoundary") or {}
    return {
        "role_name": role.get("RoleName"),
        "role_id": role.get("RoleId"),
        "arn": role.get("Arn"),
        "account_id": arn_part(role.get("Arn"), 4),
        "path": role.get("Path"),
        "created": parse_time(role.get("CreateDate")),
        "trust_policy": parse_document(role.get("AssumeRolePolicyDocument")),
        "permissions_boundary_arn": boundary.get("PermissionsBoundaryArn"),
        "inline_policy_names": [p.get("PolicyName") for p in role.get("RolePolicyList") or []],
        "attached_policy_arns": [p.get("PolicyArn") for p in role.get("AttachedManagedPolicies") or []],
        "last_used": parse_time(last_used.get("LastUsedDate")),
        "last_used_region": last_used.get("Region"),
        "source": source,
        "source_file": path,
    }


def _managed_policy(policy: dict[str, Any], document: Document) -> Iterator[Row]:
    for version in policy.get("PolicyVersionList") or []:
        yield "policies", {
            "policy_type": "managed",
            "policy_name": policy.get("PolicyName"),
            "policy_arn": policy.get("Arn"),
            "version_id": version.get("VersionId"),
            "is_default": bool(version.get("IsDefaultVersion")),
            "document": parse_document(version.get("Document")),
            "created": parse_time(version.get("CreateDate")),
            "source": "get-account-authorization-details",
            "source_file": document.path,
        }


def _role_detail(role: dict[str, Any], document: Document) -> Iterator[Row]:
    row = _role_row(role, "get-account-authorization-details", document.path)
    yield "roles", row
    for inline in role.get("RolePolicyList") or []:
        yield "policies", {
            "policy_type": "inline",
            "policy_name": inline.get("PolicyName"),
            "role_name": row["role_name"],
            "is_default": True,
            "document": parse_document(inline.get("PolicyDocument")),
            "source": "get-account-authorization-details",
            "source_file": document.path,
        }


def _role(role: dict[str, Any], document: Document) -> Iterator[Row]:
    yield "roles", _role_row(role, "get-role", document.path)


def _role_policy(content: dict[str, Any], document: Document) -> Iterator[Row]:
    yield "policies", {
        "policy_type": "inline",
        "policy_name": content.get("PolicyName"),
        "role_name": content.get("RoleName"),
        "is_default": True,
        "document": parse_document(content.get("PolicyDocument")),
        "source": "get-role-policy",
        "source_file": document.path,
    }


def _policy_version(version: dict[str, Any], document: Document) -> Iterator[Row]:
    yield "policies", {
        "policy_type": "managed",
        "policy_arn": (document.manifest_entry.get("parameters") or {}).get("PolicyArn"),
        "version_id": version.get("VersionId"),
        "is_default": bool(version.get("IsDefaultVersion")),
        "document": parse_document(version.get("Document")),
        "created": parse_time(version.get("CreateDate")),
        "source": "get-policy-version",
        "source_file": document.path,
    }


def _scp(policy: dict[str, Any], document: Document) -> Iterator[Row]:
    summary = policy.get("PolicySummary") or {}
    yield "policies", {
        "policy_type": "scp",
        "policy_name": summary.get("Name"),
        "policy_arn": summary.get("Arn"),
        "is_default": True,
        "document": parse_document(policy.get("Content")),
        "applies_to": (document.manifest_entry.get("parameters") or {}).get("AppliesTo"),
        "source": "describe-policy",
        "source_file": document.path,
    }


def _key_policy(content: dict[str, Any], document: Document) -> Iterator[Row]:
    parameters = document.manifest_entry.get("parameters") or {}
    yield "policies", {
        "policy_type": "kms-key",
        "policy_name": content.get("PolicyName"),
        "policy_arn": parameters.get("KeyId"),
        "is_default": True,
        "document": parse_document(content.get("Policy")),
        "source": "get-key-policy",
        "source_file": document.path,
    }


def _log_group(group: dict[str, Any], document: Document) -> Iterator[Row]:
    arn = group.get("arn") or group.get("logGroupArn")
    yield "log_groups", {
        "log_group": group.get("logGroupName"),
        "arn": arn,
        "region": arn_part(arn, 3) or document.manifest_entry.get("region"),
        "account_id": arn_part(arn, 4) or document.manifest_entry.get("account"),
        "created": parse_time(group.get("creationTime")),
        "retention_days": group.get("retentionInDays"),
        "kms_key_id": group.get("kmsKeyId"),
        "stored_bytes": group.get("storedBytes"),
        "source_file": document.path,
    }


def _log_stream(stream: dict[str, Any], document: Document) -> Iterator[Row]:
    entry = document.manifest_entry
    yield "log_streams", {
        "log_group": log_group_from_arn(stream.get("arn")) or (entry.get("parameters") or {}).get("logGroupName"),
        "log_stream": stream.get("logStreamName"),
        "created": parse_time(stream.get("creationTime")),
        "first_event": parse_time(stream.get("firstEventTimestamp")),
        "last_event": parse_time(stream.get("lastEventTimestamp")),
        "last_ingestion": parse_time(stream.get("lastIngestionTime")),
        "stored_bytes": stream.get("storedBytes"),
        "observed_at": parse_time(entry.get("collected_at")),
        "source_file": document.path,
    }


def _dimensions(items: Any) -> dict[str, Any]:
    return {d.get("Name"): d.get("Value") for d in items or [] if isinstance(d, dict)}


def _alarm(alarm: dict[str, Any], document: Document) -> Iterator[Row]:
    dimensions = _dimensions(alarm.get("Dimensions"))
    for query in alarm.get("Metrics") or []:  # metric-math alarms name their metrics here
        dimensions.update(_dimensions(((query.get("MetricStat") or {}).get("Metric") or {}).get("Dimensions")))
    yield "alarms", {
        "alarm_name": alarm.get("AlarmName"),
        "alarm_arn": alarm.get("AlarmArn"),
        "state": alarm.get("StateValue"),
        "state_reason": alarm.get("StateReason"),
        "state_updated": parse_time(alarm.get("StateUpdatedTimestamp")),
        "namespace": alarm.get("Namespace"),
        "metric_name": alarm.get("MetricName"),
        "log_group": dimensions.get("LogGroupName"),
        "dimensions": dimensions,
        "statistic": alarm.get("Statistic") or alarm.get("ExtendedStatistic"),
        "period": alarm.get("Period"),
        "threshold": alarm.get("Threshold"),
        "comparison": alarm.get("ComparisonOperator"),
        "evaluation_periods": alarm.get("EvaluationPeriods"),
        "treat_missing_data": alarm.get("TreatMissingData"),
        "source_file": document.path,
    }


def _alarm_history_item(item: dict[str, Any], document: Document) -> Iterator[Row]:
    data = item.get("HistoryData")
    try:
        parsed = json.loads(data) if isinstance(data, str) else data
    except (ValueError, RecursionError):
        parsed = data
    states = parsed if isinstance(parsed, dict) else {}
    yield "alarm_history", {
        "alarm_name": item.get("AlarmName"),
        "timestamp": parse_time(item.get("Timestamp")),
        "item_type": item.get("HistoryItemType"),
        "summary": item.get("HistorySummary"),
        "old_state": (states.get("oldState") or {}).get("stateValue"),
        "new_state": (states.get("newState") or {}).get("stateValue"),
        "data": parsed,
        "source_file": document.path,
    }


def _metric_result(result: dict[str, Any], document: Document) -> Iterator[Row]:
    queries = (document.manifest_entry.get("parameters") or {}).get("MetricDataQueries") or []
    query = next((q for q in queries if isinstance(q, dict) and q.get("Id") == result.get("Id")), {})
    stat = query.get("MetricStat") or {}
    metric = stat.get("Metric") or {}
    dimensions = _dimensions(metric.get("Dimensions"))
    for timestamp, value in zip(result.get("Timestamps") or [], result.get("Values") or [], strict=False):
        yield "metrics", {
            "query_id": result.get("Id"),
            "label": result.get("Label"),
            "namespace": metric.get("Namespace"),
            "metric_name": metric.get("MetricName") or result.get("Label"),
            "log_group": dimensions.get("LogGroupName"),
            "stat": stat.get("Stat"),
            "timestamp": parse_time(timestamp),
            "value": value,
            "source_file": document.path,
        }


def _simulation(result: dict[str, Any], document: Document) -> Iterator[Row]:
    yield "simulations", {
        "principal_arn": (document.manifest_entry.get("parameters") or {}).get("PolicySourceArn"),
        "action": result.get("EvalActionName"),
        "resource": result.get("EvalResourceName"),
        "decision": result.get("EvalDecision"),
        "matched_statements": result.get("MatchedStatements") or [],
        "missing_context": result.get("MissingContextValues") or [],
        "source_file": document.path,
    }


# evidence kind -> where its items are and the builder of each item's rows: (top-level key, builder).
# A key holds a list of items, or one object (``Role``); ``None`` means the document is the item.
# Each item is built on its own, so one malformed item costs that item only. CloudTrail kinds are
# read by frames.cloudtrail.
BUILDERS: dict[str, tuple[tuple[str | None, Callable[[dict[str, Any], Document], Iterator[Row]]], ...]] = {
    "flow_logs": (("FlowLogs", _flow_log),),
    "authorization_details": (("RoleDetailList", _role_detail), ("Policies", _managed_policy)),
    "managed_policies": (("Policies", _managed_policy),),
    "role": (("Role", _role),),
    "role_policy": ((None, _role_policy),),
    "policy_version": (("PolicyVersion", _policy_version),),
    "scp": (("Policy", _scp),),
    "key_policy": ((None, _key_policy),),
    "log_groups": (("logGroups", _log_group),),
    "log_streams": (("logStreams", _log_stream),),
    "alarms": (("MetricAlarms", _alarm),),
    "alarm_history": (("AlarmHistoryItems", _alarm_history_item),),
    "metric_data": (("MetricDataResults", _metric_result),),
    "simulation": (("EvaluationResults", _simulation),),
}
