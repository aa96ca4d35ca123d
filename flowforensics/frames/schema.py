"""The single source of truth for the evidence frames: their columns, dtypes and meaning.

Every frame is built through :func:`frame`, so it has exactly these columns, in this order, with
these dtypes, even when empty. Times are ``datetime64[ns, UTC]``; JSON values (request parameters,
policy documents) are Python objects in ``object`` columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

TIME = "datetime64[ns, UTC]"
TEXT = "string"
FLAG = "boolean"
NUMBER = "Float64"
COUNT = "Int64"
JSON = "object"

# frame name -> ordered {column: (dtype, meaning)}
SCHEMAS: dict[str, dict[str, tuple[str, str]]] = {
    "events": {
        "event_id": (TEXT, "CloudTrail eventID, unique in the frame"),
        "event_time": (TIME, "eventTime; NaT when the record has none"),
        "event_source": (TEXT, "eventSource, e.g. iam.amazonaws.com"),
        "event_name": (TEXT, "eventName, e.g. PutRolePolicy"),
        "region": (TEXT, "awsRegion"),
        "account_id": (TEXT, "recipientAccountId, else userIdentity.accountId"),
        "actor": (TEXT, "who acted: userIdentity.arn, the session issuer, or the invoking service"),
        "actor_type": (TEXT, "userIdentity.type (IAMUser, AssumedRole, AWSService, Root, ...)"),
        "session_issuer": (TEXT, "for assumed roles, the role ARN behind the session"),
        "source_ip": (TEXT, "sourceIPAddress"),
        "user_agent": (TEXT, "userAgent"),
        "error_code": (TEXT, "errorCode, e.g. AccessDenied"),
        "error_message": (TEXT, "errorMessage"),
        "read_only": (FLAG, "readOnly"),
        "request": (JSON, "requestParameters: a read-only mapping over its JSON text, parsed when read (.to_dict())"),
        "response": (JSON, "responseElements: a read-only mapping over its JSON text, parsed when read (.to_dict())"),
        "resources": (JSON, "resources (list of {ARN, type, accountId})"),
        "record": (JSON, "the whole CloudTrail record as read: a read-only mapping over its JSON text (.text), parsed when read"),
        "source_file": (TEXT, "the evidence file the record was first read from"),
    },
    "flow_logs": {
        "flow_log_id": (TEXT, "fl-..."),
        "region": (TEXT, "the flow log's region"),
        "account_id": (TEXT, "the owning account"),
        "resource_id": (TEXT, "the VPC, subnet, ENI or transit gateway logged"),
        "traffic_type": (TEXT, "ACCEPT, REJECT or ALL"),
        "log_destination_type": (TEXT, "cloud-watch-logs, s3 or kinesis-data-firehose"),
        "log_group": (TEXT, "the CloudWatch Logs group name"),
        "log_destination": (TEXT, "the destination ARN"),
        "role_arn": (TEXT, "DeliverLogsPermissionArn, the delivery role"),
        "flow_log_status": (TEXT, "FlowLogStatus (ACTIVE)"),
        "deliver_logs_status": (TEXT, "DeliverLogsStatus: SUCCESS or FAILED"),
        "deliver_logs_error": (TEXT, "DeliverLogsErrorMessage: Access error, Rate limited, Unknown error"),
        "log_format": (TEXT, "LogFormat"),
        "created": (TIME, "CreationTime, or the CreateFlowLogs event time"),
        "created_by": (TEXT, "the actor of CreateFlowLogs"),
        "create_event_id": (TEXT, "the CreateFlowLogs eventID"),
        "deleted": (TIME, "the DeleteFlowLogs event time; NaT while it exists"),
        "deleted_by": (TEXT, "the actor of DeleteFlowLogs"),
        "delete_event_id": (TEXT, "the DeleteFlowLogs eventID"),
        "tags": (JSON, "tags as {key: value}"),
        "source": (TEXT, "describe-flow-logs or cloudtrail"),
        "source_file": (TEXT, "the evidence file"),
    },
    "roles": {
        "role_name": (TEXT, "RoleName"),
        "role_id": (TEXT, "RoleId (AROA...), which changes when a role is recreated"),
        "arn": (TEXT, "the role ARN"),
        "account_id": (TEXT, "the account, from the ARN"),
        "path": (TEXT, "Path"),
        "created": (TIME, "CreateDate"),
        "trust_policy": (JSON, "AssumeRolePolicyDocument as an object"),
        "permissions_boundary_arn": (TEXT, "the boundary policy ARN"),
        "inline_policy_names": (JSON, "names of the inline policies (list)"),
        "attached_policy_arns": (JSON, "ARNs of the attached managed policies (list)"),
        "last_used": (TIME, "RoleLastUsed.LastUsedDate"),
        "last_used_region": (TEXT, "RoleLastUsed.Region"),
        "deleted": (TIME, "the DeleteRole event time, if any"),
        "source": (TEXT, "get-account-authorization-details, get-role or cloudtrail"),
        "source_file": (TEXT, "the evidence file"),
    },
    "policies": {
        "policy_type": (TEXT, "inline, managed or scp"),
        "policy_name": (TEXT, "PolicyName"),
        "policy_arn": (TEXT, "the managed policy or SCP ARN; null for inline"),
        "role_name": (TEXT, "the role of an inline policy"),
        "version_id": (TEXT, "the managed policy version (v1, v2, ...)"),
        "is_default": (FLAG, "whether this version is the default (true for inline and SCPs)"),
        "document": (JSON, "the policy document as an object"),
        "created": (TIME, "the version's CreateDate, when known"),
        "applies_to": (JSON, "for an SCP: the targets it is attached to, with their Level from the root (0) down, when collected"),
        "source": (TEXT, "where the document came from"),
        "source_file": (TEXT, "the evidence file"),
    },
    "log_groups": {
        "log_group": (TEXT, "logGroupName"),
        "arn": (TEXT, "the log group ARN"),
        "region": (TEXT, "region, from the ARN or the manifest"),
        "account_id": (TEXT, "account, from the ARN"),
        "created": (TIME, "creationTime"),
        "retention_days": (COUNT, "retentionInDays"),
        "kms_key_id": (TEXT, "kmsKeyId"),
        "stored_bytes": (COUNT, "storedBytes"),
        "source_file": (TEXT, "the evidence file"),
    },
    "log_streams": {
        "log_group": (TEXT, "the group, from the stream ARN or the call's parameters"),
        "log_stream": (TEXT, "logStreamName (for flow logs, the ENI id)"),
        "created": (TIME, "creationTime"),
        "first_event": (TIME, "firstEventTimestamp"),
        "last_event": (TIME, "lastEventTimestamp"),
        "last_ingestion": (TIME, "lastIngestionTime"),
        "stored_bytes": (COUNT, "storedBytes"),
        "observed_at": (TIME, "when this observation was collected, when known"),
        "source_file": (TEXT, "the evidence file"),
    },
    "alarms": {
        "alarm_name": (TEXT, "AlarmName"),
        "alarm_arn": (TEXT, "AlarmArn"),
        "state": (TEXT, "StateValue: OK, ALARM or INSUFFICIENT_DATA"),
        "state_reason": (TEXT, "StateReason"),
        "state_updated": (TIME, "StateUpdatedTimestamp"),
        "namespace": (TEXT, "Namespace, e.g. AWS/Logs"),
        "metric_name": (TEXT, "MetricName, e.g. IncomingLogEvents"),
        "log_group": (TEXT, "the LogGroupName dimension, if any"),
        "dimensions": (JSON, "Dimensions as {name: value}"),
        "statistic": (TEXT, "Statistic"),
        "period": (COUNT, "Period in seconds"),
        "threshold": (NUMBER, "Threshold"),
        "comparison": (TEXT, "ComparisonOperator"),
        "evaluation_periods": (COUNT, "EvaluationPeriods"),
        "treat_missing_data": (TEXT, "TreatMissingData"),
        "source_file": (TEXT, "the evidence file"),
    },
    "alarm_history": {
        "alarm_name": (TEXT, "AlarmName"),
        "timestamp": (TIME, "Timestamp"),
        "item_type": (TEXT, "HistoryItemType: StateUpdate, ConfigurationUpdate, Action"),
        "summary": (TEXT, "HistorySummary"),
        "old_state": (TEXT, "the state before, from HistoryData"),
        "new_state": (TEXT, "the state after, from HistoryData"),
        "data": (JSON, "HistoryData, parsed"),
        "source_file": (TEXT, "the evidence file"),
    },
    "metrics": {
        "query_id": (TEXT, "the MetricDataQuery Id"),
        "label": (TEXT, "Label"),
        "namespace": (TEXT, "the metric's namespace, from the query when known"),
        "metric_name": (TEXT, "the metric's name, from the query, else the label"),
        "log_group": (TEXT, "the LogGroupName dimension, from the query when known"),
        "stat": (TEXT, "the statistic, from the query when known"),
        "timestamp": (TIME, "the data point's time"),
        "value": (NUMBER, "the data point's value"),
        "source_file": (TEXT, "the evidence file"),
    },
    "simulations": {
        "principal_arn": (TEXT, "PolicySourceArn of the simulation, when known"),
        "action": (TEXT, "EvalActionName"),
        "resource": (TEXT, "EvalResourceName"),
        "decision": (TEXT, "EvalDecision: allowed, implicitDeny, explicitDeny"),
        "matched_statements": (JSON, "MatchedStatements"),
        "missing_context": (JSON, "MissingContextValues"),
        "source_file": (TEXT, "the evidence file"),
    },
    # Frames the analysis derives from the evidence frames.
    "timeline": {
        "time": (TIME, "when it happened (the start, for a span)"),
        "end": (TIME, "the end of a span (a failure window, an alarm state); NaT for a point"),
        "lane": (TEXT, "iam, flow-log, log-group, delivery or alarm"),
        "kind": (TEXT, "the event name or the signal, e.g. PutRolePolicy, delivery-failed, ALARM"),
        "summary": (TEXT, "one line for a reader"),
        "actor": (TEXT, "who did it, for a CloudTrail event"),
        "event_id": (TEXT, "the CloudTrail eventID, when it is an event"),
        "flow_log_id": (TEXT, "the flow log it concerns"),
        "detail": (JSON, "more: the policy diff of an IAM change, the signal's values"),
        "source": (TEXT, "the evidence file or frame it comes from"),
    },
    "verdicts": {
        "start": (TIME, "when this role state began (its event's time)"),
        "end": (TIME, "when the next state began; NaT for the current one"),
        "allowed": (FLAG, "whether IAM allows delivery in this state; null when the state is unknown"),
        "root_cause": (TEXT, "the IAM root-cause code when denied"),
        "reason": (TEXT, "the statement and layer responsible, in one line"),
        "event_id": (TEXT, "the event that began this state"),
        "event_name": (TEXT, "its name"),
        "actor": (TEXT, "its actor"),
        "flow_log_id": (TEXT, "the flow log judged (Evidence.verdicts, every flow log)"),
    },
    "failure_windows": {
        "start": (TIME, "first sign of failed delivery"),
        "end": (TIME, "first sign of resumed delivery; NaT while still failing"),
        "signals": (JSON, "the signals behind the window: [{signal, time, source}]"),
        "flow_log_id": (TEXT, "the flow log (Evidence.failure_windows, every flow log)"),
    },
}


def _fits(dtype: str, value: Any) -> bool:
    """Whether a JSON value can stand in a column of ``dtype`` as what it says (no number from a word)."""
    import math
    from datetime import datetime

    if value is None or dtype == JSON:
        return True
    if dtype == TEXT:
        return isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value))
    if dtype == FLAG:
        return isinstance(value, bool)
    if dtype == TIME:
        from flowforensics.evidence.values import in_frame_range

        return isinstance(value, datetime) and value.tzinfo is not None and in_frame_range(value)
    if isinstance(value, str):
        try:
            value = int(value) if dtype == COUNT else float(value)
        except ValueError:
            return False
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    if dtype == COUNT:
        return float(value).is_integer() and -(2**63) <= value < 2**63
    return True


def fit(name: str, row: dict[str, Any]) -> list[str]:
    """Empty, in place, the values of ``row`` that cannot stand in their column of frame ``name``.

    A word where a number belongs (``retentionInDays: "thirty"``), NaN, an array where text belongs,
    a time outside the years pandas can hold: each is left empty rather than stopping the frame.

    Returns
    -------
    list of str
        ``column=value`` for every value emptied.
    """
    schema = SCHEMAS[name]
    emptied = []
    for column, value in row.items():
        if column in schema and not _fits(schema[column][0], value):
            shown = value.isoformat() if hasattr(value, "isoformat") else repr(value)
            emptied.append(f"{column}={shown:.40}")
            row[column] = None
    return emptied


def frame(name: str, rows: Iterable[Mapping[str, Any]] = ()) -> Any:
    """Build the frame ``name`` from row mappings, with exactly its schema's columns and dtypes.

    Parameters
    ----------
    name : str
        A key of :data:`SCHEMAS`.
    rows : iterable of mapping
        Rows; missing columns become nulls, unknown keys are an error (a typo, not data).

    Returns
    -------
    pandas.DataFrame
    """

    schema = SCHEMAS[name]
    rows = list(rows)
    for row in rows:
        unknown = set(row) - set(schema)
        if unknown:
            raise KeyError(f"{name}: unknown columns {sorted(unknown)}")
    return frame_of_columns(name, {column: [row.get(column) for row in rows] for column in schema})


def frame_of_columns(name: str, columns: Mapping[str, list[Any]]) -> Any:
    """Build the frame ``name`` from a list of values per column (as :func:`frame` does from rows).

    For many rows: no mapping per row is held. Every column of the schema must be given, with as
    many values each.

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    built: dict[str, Any] = {}
    for column, (dtype, _meaning) in SCHEMAS[name].items():
        values = columns[column]
        if dtype == TIME:
            built[column] = pd.to_datetime(pd.Series(values, dtype=object), utc=True, errors="coerce", format="mixed").astype(TIME)
        elif dtype == JSON:
            built[column] = pd.Series(values, dtype=object)
        elif dtype == TEXT:
            built[column] = _text_series(values)
        else:
            built[column] = pd.Series(values, dtype=object).astype(dtype)
    return pd.DataFrame(built)


def _text_series(values: list[Any]) -> Any:
    """A text column. JSON may hold a lone surrogate (``"\\ud800"``), which an Arrow string cannot:
    such text is kept as the escape the JSON wrote."""
    import pandas as pd

    series = pd.Series(values, dtype=object)
    try:
        return series.astype(TEXT)
    except UnicodeEncodeError:
        escaped = [value.encode("utf-8", "backslashreplace").decode() if isinstance(value, str) else value for value in values]
        return pd.Series(escaped, dtype=object).astype(TEXT)


def describe(name: str) -> Any:
    """Return a frame's schema as a table (column, dtype, meaning), for docs and notebooks."""
    import pandas as pd

    return pd.DataFrame(
        [{"column": c, "dtype": d, "meaning": m} for c, (d, m) in SCHEMAS[name].items()]
    )
