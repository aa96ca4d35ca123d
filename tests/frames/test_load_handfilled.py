"""A folder an analyst filled by hand with AWS CLI output: any names, any depth, no manifest."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import flowforensics

FOLDER = Path(__file__).resolve().parents[1] / "data" / "handfilled"


def test_every_file_is_recognised_by_its_content():
    evidence = flowforensics.load(FOLDER)
    assert evidence.problems == []
    assert sorted(kind for _, kind in evidence.files) == sorted(
        ["alarms", "alarm_history", "cloudtrail_log", "flow_logs", "lookup_events", "metric_data", "role", "log_streams"]
    )


def test_the_same_event_from_lookup_events_and_s3_is_one_row():
    evidence = flowforensics.load(FOLDER)
    assert evidence.counters.read == 2 and evidence.counters.duplicates == 1
    event = evidence.events.iloc[0]
    assert event["event_name"] == "PutRolePolicy"
    assert event["actor"] == "arn:aws:sts::210987654321:assumed-role/PlatformAdmin/dana"
    assert event["session_issuer"] == "arn:aws:iam::210987654321:role/PlatformAdmin"
    assert event["request"]["roleName"] == "vpc-flow-logs-delivery"
    assert event["event_time"] == pd.Timestamp("2025-03-04T10:02:44Z")


def test_flow_log_frame_has_the_delivery_failure_and_the_put_is_replayed():
    evidence = flowforensics.load(FOLDER)
    flow_log = evidence.flow_logs.iloc[0]
    assert flow_log["flow_log_id"] == "fl-0a1b2c3d4e5f60718"
    assert (flow_log["deliver_logs_status"], flow_log["deliver_logs_error"]) == ("FAILED", "Access error")
    assert flow_log["region"] == "eu-west-1" and flow_log["log_group"] == "/vpc/prod/flow-logs"
    assert flow_log["created"] == pd.Timestamp("2025-03-02T09:14:07.512Z")
    assert flow_log["tags"] == {"team": "netsec"}
    # The role comes from get-role (its URL-encoded trust decoded), the inline policy from CloudTrail.
    role = evidence.roles.iloc[0]
    assert role["trust_policy"]["Statement"][0]["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert role["last_used"] == pd.Timestamp("2025-03-04T10:02:11Z")
    policy = evidence.policies.iloc[0]
    assert (policy["policy_type"], policy["policy_name"], policy["source"]) == ("inline", "deliver-to-cwl", "cloudtrail")
    assert "logs:PutLogEvents" not in policy["document"]["Statement"][0]["Action"]


def test_delivery_signals_are_typed():
    evidence = flowforensics.load(FOLDER)
    stream = evidence.log_streams.iloc[0]
    assert stream["log_group"] == "/vpc/prod/flow-logs"
    assert stream["last_ingestion"] == pd.Timestamp("2025-03-04T10:01:00.123Z")
    alarm = evidence.alarms.iloc[0]
    assert (alarm["log_group"], alarm["state"], alarm["period"]) == ("/vpc/prod/flow-logs", "ALARM", 300)
    history = evidence.alarm_history.iloc[0]
    assert (history["old_state"], history["new_state"]) == ("OK", "ALARM")
    metrics = evidence.metrics.sort_values("timestamp")
    assert metrics["value"].tolist() == [3987.0, 0.0, 0.0]
    assert metrics["metric_name"].unique().tolist() == ["IncomingLogEvents"]


def _flow_log_without_destination(folder, tmp_path):
    import json
    import shutil

    copy = shutil.copytree(folder, tmp_path / "ev")
    path = copy / "from-cli" / "fl.json"
    content = json.loads(path.read_text())
    del content["FlowLogs"][0]["LogDestination"]  # as `aws ec2 describe-flow-logs` shows older flow logs
    path.write_text(json.dumps(content))
    return copy


def test_the_region_comes_from_other_evidence_when_describe_flow_logs_has_none(tmp_path):
    copy = _flow_log_without_destination(FOLDER, tmp_path)
    # The alarm on the log group (arn:aws:cloudwatch:eu-west-1:...) says where the group is.
    assert flowforensics.load(copy).flow_logs.iloc[0]["region"] == "eu-west-1"


def test_the_region_stays_unknown_when_the_evidence_disagrees_or_is_silent(tmp_path):
    copy = _flow_log_without_destination(FOLDER, tmp_path)
    (copy / "from-cli" / "nested" / "alarms.json").unlink()
    assert pd.isna(flowforensics.load(copy).flow_logs.iloc[0]["region"])
