"""The AWS outputs flowforensics reads, recognised by their top-level content (a table, like botocore's models)."""

from __future__ import annotations

from typing import Any

# kind -> (keys that must all be present at the top level, what produces it). First match wins,
# so more specific shapes come first.
SHAPES: dict[str, tuple[tuple[str, ...], str]] = {
    "flow_logs": (("FlowLogs",), "aws ec2 describe-flow-logs"),
    "lookup_events": (("Events",), "aws cloudtrail lookup-events"),
    "cloudtrail_log": (("Records",), "CloudTrail log file delivered to S3"),
    "authorization_details": (("RoleDetailList",), "aws iam get-account-authorization-details"),
    "managed_policies": (("Policies",), "aws iam get-account-authorization-details --filter LocalManagedPolicy"),
    "role": (("Role",), "aws iam get-role"),
    "role_policy": (("RoleName", "PolicyName", "PolicyDocument"), "aws iam get-role-policy"),
    "policy_version": (("PolicyVersion",), "aws iam get-policy-version"),
    "log_groups": (("logGroups",), "aws logs describe-log-groups"),
    "log_streams": (("logStreams",), "aws logs describe-log-streams"),
    "alarms": (("MetricAlarms",), "aws cloudwatch describe-alarms"),
    "alarm_history": (("AlarmHistoryItems",), "aws cloudwatch describe-alarm-history"),
    "metric_data": (("MetricDataResults",), "aws cloudwatch get-metric-data"),
    "simulation": (("EvaluationResults",), "aws iam simulate-principal-policy"),
    "scp": (("Policy",), "aws organizations describe-policy"),
    "key_policy": (("Policy", "PolicyName"), "aws kms get-key-policy"),
}

# A CloudTrail record names its event, and has at least one other field every record has; exporters
# drop some (a SIEM may strip eventSource), so any one of them will do.
CLOUDTRAIL_RECORD_KEYS = ("eventSource", "eventTime", "eventID", "eventVersion", "userIdentity", "awsRegion")


def is_cloudtrail_record(value: Any) -> bool:
    """Whether ``value`` looks like one CloudTrail record."""
    return isinstance(value, dict) and "eventName" in value and any(key in value for key in CLOUDTRAIL_RECORD_KEYS)


def recognise(content: Any) -> str | None:
    """Name the kind of an evidence document from its content, or ``None`` when it is not evidence.

    Parameters
    ----------
    content : object
        A parsed JSON document.

    Returns
    -------
    str or None
        A key of :data:`SHAPES`, ``"cloudtrail_records"`` for an export of records, or ``None``.
    """
    if isinstance(content, list):
        # An empty array is an export whose query matched nothing: evidence of absence, kept.
        if all(is_cloudtrail_record(item) for item in content):
            return "cloudtrail_records"
        return None
    if is_cloudtrail_record(content):
        return "cloudtrail_records"
    if not isinstance(content, dict):
        return None
    if "Policy" in content:
        # Organizations wraps the SCP in an object; KMS gives the key policy as a string.
        policy = content["Policy"]
        if isinstance(policy, dict) and "PolicySummary" in policy and "Content" in policy:
            return "scp"
        if isinstance(policy, str) and "PolicyName" in content:
            return "key_policy"
        return None
    for kind, (keys, _produced_by) in SHAPES.items():
        if kind not in ("scp", "key_policy") and all(key in content for key in keys):
            return kind
    return None
