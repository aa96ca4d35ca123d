"""API responses shaped as the AWS CLI (``--output json``) prints them.

Each function takes plain values from the scenario's simulated account and returns one response:
``describe-flow-logs``, ``get-account-authorization-details``, ``get-role``, ``describe-log-groups``,
``describe-log-streams``, ``describe-alarms``, ``describe-alarm-history``, ``get-metric-data``,
``kms get-key-policy`` and ``organizations describe-policy``. Keys and nesting follow the botocore
service models (the tests check them against those models).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

DELIVERY_ACTIONS = (
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "logs:DescribeLogGroups",
    "logs:DescribeLogStreams",
)
FLOW_LOG_FORMAT = (
    "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} "
    "${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}"
)
EC2_XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15/"


def cli_time(moment: datetime) -> str:
    """A timestamp as the AWS CLI prints boto3's datetimes (``2024-03-12T09:15:00+00:00``)."""
    return moment.isoformat()


def epoch_ms(moment: datetime) -> int:
    """Epoch milliseconds, as CloudWatch Logs returns its times."""
    return int(moment.timestamp() * 1000)


def iam_date(moment: datetime) -> str:
    """IAM's ``CreateDate`` as the CLI prints it (whole seconds, explicit offset)."""
    return moment.replace(microsecond=0).isoformat()


def statement(effect: str, actions: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    """One policy statement; ``extra`` adds ``Sid``, ``Condition``, ``Principal`` or ``NotAction``."""
    body: dict[str, Any] = {}
    if "Sid" in extra:
        body["Sid"] = extra.pop("Sid")
    body["Effect"] = effect
    if "Principal" in extra:
        body["Principal"] = extra.pop("Principal")
    if actions is not None:
        body["Action"] = actions
    if resource is not None:
        body["Resource"] = resource
    body.update(extra)
    return body


def document(*statements: dict[str, Any]) -> dict[str, Any]:
    """A policy document of these statements."""
    return {"Version": "2012-10-17", "Statement": list(statements)}


def describe_flow_logs(flow_logs: list[dict[str, Any]]) -> dict[str, Any]:
    """``aws ec2 describe-flow-logs`` from flow-log state dicts (see ``world.FlowLog``)."""
    entries = []
    for fl in flow_logs:
        entry: dict[str, Any] = {
            "CreationTime": cli_time(fl["created"]),
        }
        if fl["error"]:
            entry["DeliverLogsErrorMessage"] = fl["error"]
        entry.update(
            {
                "DeliverLogsPermissionArn": fl["role_arn"],
                "DeliverLogsStatus": fl["status"],
                "FlowLogId": fl["id"],
                "FlowLogStatus": "ACTIVE",
                "LogGroupName": fl["log_group"],
                "ResourceId": fl["resource_id"],
                "TrafficType": "ALL",
                "LogDestinationType": "cloud-watch-logs",
                "LogDestination": fl["log_group_arn"],
                "LogFormat": FLOW_LOG_FORMAT,
                "Tags": [{"Key": k, "Value": v} for k, v in fl["tags"].items()],
                "MaxAggregationInterval": 600,
            }
        )
        entries.append(entry)
    return {"FlowLogs": entries}


def role_detail(role: dict[str, Any]) -> dict[str, Any]:
    """One ``RoleDetailList`` entry of ``get-account-authorization-details``."""
    detail: dict[str, Any] = {
        "Path": role["path"],
        "RoleName": role["name"],
        "RoleId": role["id"],
        "Arn": role["arn"],
        "CreateDate": iam_date(role["created"]),
        "AssumeRolePolicyDocument": role["trust"],
        "InstanceProfileList": [],
        "RolePolicyList": [{"PolicyName": n, "PolicyDocument": d} for n, d in role["inline"].items()],
        "AttachedManagedPolicies": [
            {"PolicyName": arn.rsplit("/", 1)[-1], "PolicyArn": arn} for arn in role["attached"]
        ],
    }
    if role["boundary"]:
        detail["PermissionsBoundary"] = {
            "PermissionsBoundaryType": "Policy",
            "PermissionsBoundaryArn": role["boundary"],
        }
    detail["Tags"] = [{"Key": k, "Value": v} for k, v in role["tags"].items()]
    detail["RoleLastUsed"] = _last_used(role)
    return detail


def _last_used(role: dict[str, Any]) -> dict[str, Any]:
    if not role.get("last_used"):
        return {}
    return {"LastUsedDate": iam_date(role["last_used"]), "Region": role["last_used_region"]}


def managed_policy(policy: dict[str, Any]) -> dict[str, Any]:
    """One ``Policies`` entry of ``get-account-authorization-details``, with every version."""
    versions = policy["versions"]
    default = policy["default_version"]
    return {
        "PolicyName": policy["name"],
        "PolicyId": policy["id"],
        "Arn": policy["arn"],
        "Path": "/",
        "DefaultVersionId": default,
        "AttachmentCount": policy["attachments"],
        "PermissionsBoundaryUsageCount": policy["boundary_uses"],
        "IsAttachable": True,
        "CreateDate": iam_date(versions[0]["created"]),
        "UpdateDate": iam_date(versions[-1]["created"]),
        "PolicyVersionList": [
            {
                "Document": v["document"],
                "VersionId": v["id"],
                "IsDefaultVersion": v["id"] == default,
                "CreateDate": iam_date(v["created"]),
            }
            for v in reversed(versions)
        ],
    }


def account_authorization_details(roles: list[dict[str, Any]], policies: list[dict[str, Any]]) -> dict[str, Any]:
    """``aws iam get-account-authorization-details --filter Role LocalManagedPolicy``."""
    return {
        "UserDetailList": [],
        "GroupDetailList": [],
        "RoleDetailList": [role_detail(r) for r in roles],
        "Policies": [managed_policy(p) for p in policies],
        "IsTruncated": False,
    }


def get_role(role: dict[str, Any]) -> dict[str, Any]:
    """``aws iam get-role`` (no inline policies: those need ``get-role-policy``)."""
    body: dict[str, Any] = {
        "Path": role["path"],
        "RoleName": role["name"],
        "RoleId": role["id"],
        "Arn": role["arn"],
        "CreateDate": iam_date(role["created"]),
        "AssumeRolePolicyDocument": role["trust"],
        "Description": role["description"],
        "MaxSessionDuration": 3600,
    }
    if role["boundary"]:
        body["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": role["boundary"]}
    body["Tags"] = [{"Key": k, "Value": v} for k, v in role["tags"].items()]
    body["RoleLastUsed"] = _last_used(role)
    return {"Role": body}


def describe_log_groups(groups: list[dict[str, Any]]) -> dict[str, Any]:
    """``aws logs describe-log-groups`` (``arn`` ends in ``:*``, ``logGroupArn`` does not, as AWS returns)."""
    entries = []
    for group in groups:
        entry: dict[str, Any] = {
            "logGroupName": group["name"],
            "creationTime": epoch_ms(group["created"]),
            "retentionInDays": group["retention"],
            "metricFilterCount": 0,
            "arn": group["arn"] + ":*",
            "storedBytes": group["stored_bytes"],
        }
        if group.get("kms_key"):
            entry["kmsKeyId"] = group["kms_key"]
        entry["logGroupClass"] = "STANDARD"
        entry["logGroupArn"] = group["arn"]
        entries.append(entry)
    return {"logGroups": entries}


def describe_log_streams(group_arn: str, streams: list[dict[str, Any]]) -> dict[str, Any]:
    """``aws logs describe-log-streams`` (``storedBytes`` is always 0 since AWS deprecated it)."""
    return {
        "logStreams": [
            {
                "logStreamName": s["name"],
                "creationTime": epoch_ms(s["created"]),
                "firstEventTimestamp": epoch_ms(s["first_event"]),
                "lastEventTimestamp": epoch_ms(s["last_event"]),
                "lastIngestionTime": epoch_ms(s["last_ingestion"]),
                "arn": f"{group_arn}:log-stream:{s['name']}",
                "storedBytes": 0,
            }
            for s in streams
        ]
    }


def alarm(spec: dict[str, Any]) -> dict[str, Any]:
    """One ``MetricAlarms`` entry: IncomingLogEvents of the log group below 1 for 3 periods of 300 s."""
    return {
        "AlarmName": spec["name"],
        "AlarmArn": spec["arn"],
        "AlarmDescription": spec["description"],
        "AlarmConfigurationUpdatedTimestamp": cli_time(spec["configured"]),
        "ActionsEnabled": True,
        "OKActions": [spec["topic"]],
        "AlarmActions": [spec["topic"]],
        "InsufficientDataActions": [],
        "StateValue": spec["state"],
        "StateReason": spec["reason"],
        "StateReasonData": json.dumps(spec["reason_data"], separators=(",", ":")),
        "StateUpdatedTimestamp": cli_time(spec["updated"]),
        "MetricName": "IncomingLogEvents",
        "Namespace": "AWS/Logs",
        "Statistic": "Sum",
        "Dimensions": [{"Name": "LogGroupName", "Value": spec["log_group"]}],
        "Period": 300,
        "EvaluationPeriods": 3,
        "DatapointsToAlarm": 3,
        "Threshold": 1.0,
        "ComparisonOperator": "LessThanThreshold",
        "TreatMissingData": "breaching",
        "StateTransitionedTimestamp": cli_time(spec["updated"]),
    }


def alarm_history_item(name: str, when: datetime, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """One ``StateUpdate`` of ``describe-alarm-history``; ``HistoryData`` is a JSON string, as AWS writes it."""
    data = {"version": "1.0", "oldState": old, "newState": new}
    return {
        "AlarmName": name,
        "AlarmType": "MetricAlarm",
        "Timestamp": cli_time(when),
        "HistoryItemType": "StateUpdate",
        "HistorySummary": f"Alarm updated from {old['stateValue']} to {new['stateValue']}",
        "HistoryData": json.dumps(data, separators=(",", ":")),
    }


def metric_query(query_id: str, metric: str, log_group: str) -> dict[str, Any]:
    """One ``MetricDataQueries`` entry: a 5-minute Sum of an AWS/Logs metric of the log group."""
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/Logs",
                "MetricName": metric,
                "Dimensions": [{"Name": "LogGroupName", "Value": log_group}],
            },
            "Period": 300,
            "Stat": "Sum",
        },
        "ReturnData": True,
    }


def metric_data(results: list[tuple[str, str, list[datetime], list[float]]]) -> dict[str, Any]:
    """``aws cloudwatch get-metric-data`` (newest point first: ``ScanBy TimestampDescending``)."""
    return {
        "MetricDataResults": [
            {
                "Id": query_id,
                "Label": label,
                "Timestamps": [cli_time(t) for t in reversed(times)],
                "Values": list(reversed(values)),
                "StatusCode": "Complete",
            }
            for query_id, label, times, values in results
        ],
        "Messages": [],
    }


def key_policy(policy: dict[str, Any]) -> dict[str, Any]:
    """``aws kms get-key-policy --policy-name default``: the policy as a JSON string."""
    return {"Policy": json.dumps(policy, indent=2), "PolicyName": "default"}


def describe_policy(scp: dict[str, Any]) -> dict[str, Any]:
    """``aws organizations describe-policy`` for one service control policy."""
    return {
        "Policy": {
            "PolicySummary": {
                "Id": scp["id"],
                "Arn": scp["arn"],
                "Name": scp["name"],
                "Description": scp["description"],
                "Type": "SERVICE_CONTROL_POLICY",
                "AwsManaged": scp["aws_managed"],
            },
            "Content": json.dumps(scp["content"], separators=(",", ":")),
        }
    }


def five_minute_grid(start: datetime, end: datetime) -> list[datetime]:
    """The 5-minute period starts from ``start`` (rounded down) to before ``end``."""
    first = start.replace(minute=start.minute - start.minute % 5, second=0, microsecond=0)
    points = []
    while first < end:
        points.append(first)
        first += timedelta(minutes=5)
    return points
