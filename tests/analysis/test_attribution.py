"""Delivery signals belong to one flow log: by the log group, stream and region a call names, and
metric data by the log group its query named (or the only one the evidence has)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

import flowforensics
from flowforensics.analysis.diagnosis import diagnose
from flowforensics.analysis.observed import corroborated, failure_windows, signals, subject_of
from flowforensics.evidence.manifest import EvidenceWriter

ACCOUNT, REGION = "111122223333", "eu-west-1"
ROLE_NAME = "VpcFlowLogsShared"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE_NAME}/vpc-flow-logs-delivery"
PROD, SHARED = "/vpc/flow-logs/prod", "/vpc/flow-logs/shared"
START = datetime(2024, 5, 27, 10, 0, tzinfo=UTC)


def _flow_log(flow_log_id: str, group: str, resource: str, status: str = "SUCCESS") -> dict:
    """One ``aws ec2 describe-flow-logs`` entry."""
    entry = {
        "CreationTime": "2024-04-02T08:15:31.000Z", "DeliverLogsPermissionArn": ROLE, "DeliverLogsStatus": status,
        "FlowLogId": flow_log_id, "FlowLogStatus": "ACTIVE", "LogGroupName": group, "ResourceId": resource,
        "TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs",
        "LogFormat": "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr}", "MaxAggregationInterval": 600,
    }
    if status == "FAILED":
        entry["DeliverLogsErrorMessage"] = "Access error"
    return entry


def _call(event_id: str, minute: int, *, request: dict | None = None, denied_stream: str | None = None,
          region: str = REGION) -> dict:
    """A CreateLogStream of the delivery role as CloudTrail records it (refused ones without requestParameters)."""
    record = {
        "eventVersion": "1.09", "eventID": event_id, "eventTime": (START + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z"),
        "eventSource": "logs.amazonaws.com", "eventName": "CreateLogStream", "awsRegion": region,
        "recipientAccountId": ACCOUNT, "sourceIPAddress": "vpc-flow-logs.amazonaws.com",
        "userAgent": "vpc-flow-logs.amazonaws.com", "requestParameters": request, "responseElements": None,
        "userIdentity": {"type": "AssumedRole", "arn": SESSION, "accountId": ACCOUNT, "sessionContext": {
            "sessionIssuer": {"type": "Role", "arn": ROLE, "userName": ROLE_NAME, "accountId": ACCOUNT}}},
    }
    if denied_stream is not None:
        record["errorCode"] = "AccessDenied"
        record["errorMessage"] = (
            f"User: {SESSION} is not authorized to perform: logs:CreateLogStream on resource: "
            f"{denied_stream} because no identity-based policy allows the logs:CreateLogStream action"
        )
    return record


def _stream_arn(group: str, stream: str, region: str = REGION) -> str:
    return f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{group}:log-stream:{stream}"


def _write(folder, name: str, document: dict) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(json.dumps(document))


def _signals(evidence, flow_log_id: str) -> list:
    row = evidence.flow_logs[evidence.flow_logs["flow_log_id"] == flow_log_id].astype(object).iloc[0].to_dict()
    return signals(evidence, subject_of(evidence, row))


def test_the_role_s_calls_go_to_the_flow_log_whose_log_group_they_name(tmp_path) -> None:
    folder = tmp_path / "evidence"
    _write(folder, "flow-logs.json", {"FlowLogs": [
        _flow_log("fl-17a1b2c3d4e5f6071", PROD, "vpc-0a1b2c3d4e5f60718", "FAILED"),
        _flow_log("fl-17b2c3d4e5f607182", SHARED, "vpc-0b2c3d4e5f6071829"),
    ]})
    _write(folder, "trail.json", {"Records": [
        # refused: no requestParameters, only the message names the log stream (of prod)
        _call("denied-prod", 18, denied_stream=_stream_arn(PROD, "eni-0ff66aa77bb88cc99-all")),
        _call("ok-shared", 20, request={"logGroupName": SHARED, "logStreamName": "eni-0aa77bb88cc99dd00-all"}),
        # the same log group name in another region is another log group
        _call("other-region", 21, denied_stream=_stream_arn(SHARED, "eni-0aa77bb88cc99dd00-all", "us-west-2"),
              region="us-west-2"),
    ]})
    evidence = flowforensics.load(folder)
    assert [(s.source, s.ok) for s in _signals(evidence, "fl-17a1b2c3d4e5f6071") if s.time is not None] == [("denied-prod", False)]
    assert [(s.source, s.ok) for s in _signals(evidence, "fl-17b2c3d4e5f607182") if s.time is not None] == [("ok-shared", True)]
    entries = {entry.flow_log_id: entry for entry in diagnose(evidence).flow_logs}
    healthy = entries["fl-17b2c3d4e5f607182"]
    assert (healthy.status, healthy.root_cause, healthy.failure_started) == ("SUCCESS", "none", None)
    assert entries["fl-17a1b2c3d4e5f6071"].failure_started == "2024-05-27T10:18:00Z"


def test_a_call_naming_no_log_group_belongs_to_a_flow_log_only_when_the_role_serves_no_other(tmp_path) -> None:
    folder = tmp_path / "evidence"
    _write(folder, "flow-logs.json", {"FlowLogs": [_flow_log("fl-17a1b2c3d4e5f6071", PROD, "vpc-0a1b2c3d4e5f60718", "FAILED")]})
    _write(folder, "trail.json", {"Records": [_call("unnamed", 18, denied_stream="")]})
    assert [s.source for s in _signals(flowforensics.load(folder), "fl-17a1b2c3d4e5f6071") if s.time is not None] == ["unnamed"]
    _write(folder, "flow-logs.json", {"FlowLogs": [
        _flow_log("fl-17a1b2c3d4e5f6071", PROD, "vpc-0a1b2c3d4e5f60718", "FAILED"),
        _flow_log("fl-17b2c3d4e5f607182", SHARED, "vpc-0b2c3d4e5f6071829"),
    ]})
    evidence = flowforensics.load(folder)
    for flow_log_id in ("fl-17a1b2c3d4e5f6071", "fl-17b2c3d4e5f607182"):
        assert not [s for s in _signals(evidence, flow_log_id) if s.time is not None]


def test_flow_logs_of_one_interface_each_share_a_log_group_by_their_streams(tmp_path) -> None:
    folder = tmp_path / "evidence"
    _write(folder, "flow-logs.json", {"FlowLogs": [
        _flow_log("fl-0e1e1e1e1e1e1e1e1", PROD, "eni-0aaaaaaaaaaaaaaa1", "FAILED"),
        _flow_log("fl-0e2e2e2e2e2e2e2e2", PROD, "eni-0bbbbbbbbbbbbbbb2"),
    ]})
    _write(folder, "trail.json", {"Records": [
        _call("denied-a", 18, denied_stream=_stream_arn(PROD, "eni-0aaaaaaaaaaaaaaa1-all")),
        _call("ok-b", 19, request={"logGroupName": PROD, "logStreamName": "eni-0bbbbbbbbbbbbbbb2-all"}),
    ]})
    evidence = flowforensics.load(folder)
    assert [s.source for s in _signals(evidence, "fl-0e1e1e1e1e1e1e1e1") if s.time is not None] == ["denied-a"]
    assert [s.source for s in _signals(evidence, "fl-0e2e2e2e2e2e2e2e2") if s.time is not None] == ["ok-b"]


def _metric_data(first: datetime, minutes: list[int]) -> dict:
    """``aws cloudwatch get-metric-data`` output (newest first, as the CLI gives it by default)."""
    times = [(first + timedelta(minutes=m)).isoformat() for m in sorted(minutes, reverse=True)]
    return {"MetricDataResults": [{"Id": "incoming", "Label": "IncomingLogEvents", "Timestamps": times,
                                   "Values": [1850.0 + n for n in range(len(times))], "StatusCode": "Complete"}],
            "Messages": []}


@pytest.mark.parametrize(("groups", "attributed"), [([PROD], True), ([PROD, SHARED], False)])
def test_metric_data_naming_no_log_group_is_the_only_log_group_s(tmp_path, groups: list[str], attributed: bool) -> None:
    folder = tmp_path / "evidence"
    flow_logs = [_flow_log(f"fl-0{n}c2ad3be4cf5d06e", group, f"vpc-0{n}1b2c3d4e5f60718") for n, group in enumerate(groups)]
    _write(folder, "flow-logs.json", {"FlowLogs": flow_logs})
    _write(folder, "metric.json", _metric_data(START, list(range(10)) + list(range(20, 30))))
    found = [s for s in _signals(flowforensics.load(folder), flow_logs[0]["FlowLogId"]) if s.time is not None]
    assert bool(found) == attributed
    if attributed:  # the gap in the data is a failure, ended by the first period with data again
        (window,) = failure_windows(found).to_dict("records")
        assert (window["start"], window["end"]) == (pd.Timestamp(START + timedelta(minutes=10)),
                                                    pd.Timestamp(START + timedelta(minutes=21)))


def _collected(tmp_path, minutes: list[int], collected_at: datetime) -> flowforensics.Evidence:
    writer = EvidenceWriter(tmp_path / "ev", clock=lambda: collected_at)
    writer.write("ec2:DescribeFlowLogs", {"FlowLogs": [_flow_log("fl-05ee6ff7a08b19c2a", PROD, "vpc-0a1b2c3d4e5f60718", "FAILED")]},
                 region=REGION, account=ACCOUNT)
    query = {"Id": "incoming", "MetricStat": {"Metric": {"Namespace": "AWS/Logs", "MetricName": "IncomingLogEvents",
                                                         "Dimensions": [{"Name": "LogGroupName", "Value": PROD}]},
                                              "Period": 60, "Stat": "Sum"}}
    writer.write("cloudwatch:GetMetricData", _metric_data(START, minutes),
                 parameters={"MetricDataQueries": [query], "StartTime": START, "EndTime": collected_at}, region=REGION,
                 account=ACCOUNT)
    writer.close()
    return flowforensics.load(tmp_path / "ev")


def test_no_data_from_the_last_point_to_the_query_s_end_is_delivery_stopping(tmp_path) -> None:
    evidence = _collected(tmp_path, list(range(34)), START + timedelta(minutes=90))
    missing = [s for s in _signals(evidence, "fl-05ee6ff7a08b19c2a") if s.signal == "metric-missing"]
    assert [(s.time, s.until) for s in missing] == [(pd.Timestamp(START + timedelta(minutes=34)),
                                                     pd.Timestamp(START + timedelta(minutes=90)))]
    (entry,) = diagnose(evidence).flow_logs
    assert entry.failure_started == "2024-05-27T10:34:00Z"


def test_the_last_minutes_before_the_query_s_end_may_lag(tmp_path) -> None:
    evidence = _collected(tmp_path, list(range(34)), START + timedelta(minutes=40))
    assert not [s for s in _signals(evidence, "fl-05ee6ff7a08b19c2a") if s.signal == "metric-missing"]


def test_an_alarm_is_corroborated_unless_other_signals_show_delivery_within_its_window(tmp_path) -> None:
    from flowforensics.analysis.observed import Signal

    def at(minute: int) -> pd.Timestamp:
        return pd.Timestamp(START + timedelta(minutes=minute))

    one = pd.Timedelta(minutes=1)
    data_until_12 = [Signal(at(m), "metric", True, "m", until=at(m) + one) for m in range(13)]
    fired = [*data_until_12, Signal(at(20), "alarm-alarm", False, "history")]
    (window,) = failure_windows(fired).to_dict("records")
    assert corroborated(window, fired)  # the data had stopped before the alarm fired
    flap = [*data_until_12, Signal(at(5), "alarm-alarm", False, "history"), Signal(at(8), "alarm-ok", True, "history")]
    (window,) = failure_windows(flap).to_dict("records")
    assert not corroborated(window, flap)  # data kept coming while the alarm said otherwise
