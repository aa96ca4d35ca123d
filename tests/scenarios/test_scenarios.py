"""The sample incidents: complete, reproducible, shaped as AWS returns, and consistent with their Expected."""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator
from sample_paths import SAMPLES

from flowforensics.analysis.diagnosis import LATENT_UNTIL
from flowforensics.analysis.hypotheses import IAM_CODES
from flowforensics.analysis.root_causes import ROOT_CAUSES
from flowforensics.evidence.manifest import verify
from flowforensics.evidence.values import parse_document, parse_time
from flowforensics.scenarios import DEFAULT_SCENARIO, SCENARIOS, write_scenario
from flowforensics.scenarios.incidents import INCIDENTS

from .helpers import cloudtrail_records, manifest, payloads

NAMES = list(SCENARIOS)
INCIDENT = {incident.name: incident for incident in INCIDENTS}

# manifest operation -> (botocore service, operation, the top-level key of its response)
OPERATIONS = {
    "ec2:DescribeFlowLogs": ("ec2", "DescribeFlowLogs", "FlowLogs"),
    "iam:GetAccountAuthorizationDetails": ("iam", "GetAccountAuthorizationDetails", "RoleDetailList"),
    "iam:GetRole": ("iam", "GetRole", "Role"),
    "logs:DescribeLogGroups": ("logs", "DescribeLogGroups", "logGroups"),
    "logs:DescribeLogStreams": ("logs", "DescribeLogStreams", "logStreams"),
    "cloudwatch:DescribeAlarms": ("cloudwatch", "DescribeAlarms", "MetricAlarms"),
    "cloudwatch:DescribeAlarmHistory": ("cloudwatch", "DescribeAlarmHistory", "AlarmHistoryItems"),
    "cloudwatch:GetMetricData": ("cloudwatch", "GetMetricData", "MetricDataResults"),
    "kms:GetKeyPolicy": ("kms", "GetKeyPolicy", "Policy"),
    "organizations:DescribePolicy": ("organizations", "DescribePolicy", "Policy"),
    "cloudtrail:LookupEvents": ("cloudtrail", "LookupEvents", "Events"),
}
# boto3 and the CLI print these decoded (botocore's policy handler); the service models say string.
DOCUMENT_KEYS = {"AssumeRolePolicyDocument", "PolicyDocument", "Document"}
REGIONAL_SOURCES = {"ec2.amazonaws.com", "logs.amazonaws.com", "sts.amazonaws.com"}


def _folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _delivery_failures(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Failed calls of the delivery path: the flow-logs service, its role session, CloudWatch Logs' KMS use."""
    services = {"vpc-flow-logs.amazonaws.com", "logs.amazonaws.com"}
    return [r for r in records if r.get("errorCode") and r["userIdentity"].get("invokedBy") in services]


def _metric(folder: Path, query_id: str) -> list[tuple[datetime, float]]:
    (data,) = payloads(folder, "cloudwatch:GetMetricData")
    result = next(r for r in data["MetricDataResults"] if r["Id"] == query_id)
    return sorted((parse_time(t), v) for t, v in zip(result["Timestamps"], result["Values"], strict=True))


def test_public_api_covers_every_root_cause_once() -> None:
    assert DEFAULT_SCENARIO == "permission-removed" and DEFAULT_SCENARIO in SCENARIOS
    causes = Counter(s.expected.root_cause for s in SCENARIOS.values() if s.expected.state != "at-risk")
    assert set(causes) == set(ROOT_CAUSES)
    # once each, but trust-missing-service again with CloudTrail throttled in its region, for the whole
    # lookup and for a window, and permission-missing again on a flow log known only from CloudTrail
    assert {code: count for code, count in causes.items() if count > 1} == {"trust-missing-service": 3,
                                                                         "permission-missing": 2}
    # and the latent failure of every cause the collected role, boundary, SCPs or key policy decide:
    # still delivering, while what was collected refuses it
    latent = {s.expected.root_cause for s in SCENARIOS.values() if s.expected.state == "at-risk"}
    assert latent == set(IAM_CODES) | {"role-deleted", "role-recreated", "kms-key-denied"} == set(LATENT_UNTIL)
    for name, scenario in SCENARIOS.items():
        assert scenario.name == name
        assert 2 <= len(re.findall(r"[.!?](?:\s|$)", scenario.description)) <= 3, name
        with pytest.raises(dataclasses.FrozenInstanceError):
            scenario.name = "x"  # type: ignore[misc]


def test_unknown_scenario_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="permission-removed"):
        write_scenario("no-such-incident", tmp_path)


@pytest.mark.parametrize("name", NAMES)
def test_folder_verifies_against_its_manifest(folders: dict[str, Path], name: str) -> None:
    assert verify(folders[name]) == []
    data = manifest(folders[name])
    assert data["caller_identity"]["Account"] == SCENARIOS[name].expected.account_id
    # A fixed clock: collection happens after everything the folder shows.
    assert all(entry["collected_at"] >= data["created"] for entry in data["files"])


def test_writing_twice_gives_identical_bytes(folders: dict[str, Path], tmp_path: Path) -> None:
    for name in NAMES:
        again = write_scenario(name, tmp_path / name)
        assert _folder_bytes(again) == _folder_bytes(folders[name]), name


@pytest.mark.parametrize("name", NAMES)
def test_every_file_parses_with_its_aws_top_level_key(folders: dict[str, Path], name: str) -> None:
    folder = folders[name]
    entries = manifest(folder)["files"]
    refused = {gap["operation"] for gap in manifest(folder)["gaps"]}
    assert {e["operation"] for e in entries} | refused >= {
        "ec2:DescribeFlowLogs", "logs:DescribeLogGroups", "cloudwatch:DescribeAlarms",
        "cloudwatch:DescribeAlarmHistory", "cloudwatch:GetMetricData",
    }
    for entry in entries:
        path = folder / entry["path"]
        if path.name.endswith(".json.gz"):
            assert entry["operation"] == "s3:GetObject"
            assert re.fullmatch(
                r"cloudtrail/s3/AWSLogs/(o-[a-z0-9]+/)?\d{12}/CloudTrail/[a-z0-9-]+/\d{4}/\d\d/\d\d/"
                r"\d{12}_CloudTrail_[a-z0-9-]+_\d{8}T\d{4}Z_[A-Za-z0-9]{16}\.json\.gz",
                entry["path"],
            )
            assert list(json.loads(gzip.decompress(path.read_bytes()))) == ["Records"]
        else:
            assert OPERATIONS[entry["operation"]][2] in json.loads(path.read_text()), entry["path"]


@pytest.mark.parametrize("name", NAMES)
def test_payloads_match_the_botocore_service_models(folders: dict[str, Path], name: str) -> None:
    session = botocore.session.get_session()

    def as_model(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            if key in DOCUMENT_KEYS:
                return json.dumps(value)
            return {k: as_model(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [as_model(v, key) for v in value]
        return value

    for entry in manifest(folders[name])["files"]:
        if entry["operation"] not in OPERATIONS:
            continue
        service, operation, _ = OPERATIONS[entry["operation"]]
        shape = session.get_service_model(service).operation_model(operation).output_shape
        payload = as_model(json.loads((folders[name] / entry["path"]).read_text()))
        report = ParamValidator().validate(payload, shape)
        assert not report.has_errors(), report.generate_report()


@pytest.mark.parametrize("name", NAMES)
def test_global_events_in_us_east_1_and_regional_events_in_the_flow_log_region(
    folders: dict[str, Path], name: str
) -> None:
    expected = SCENARIOS[name].expected
    for record in cloudtrail_records(folders[name]):
        if record["eventSource"] in ("iam.amazonaws.com", "organizations.amazonaws.com"):
            assert record["awsRegion"] == "us-east-1", record["eventName"]
        elif record["eventSource"] in REGIONAL_SOURCES:
            assert record["awsRegion"] == expected.region, record["eventName"]


@pytest.mark.parametrize("name", NAMES)
def test_lookup_pages_are_shaped_as_lookup_events_returns_them(folders: dict[str, Path], name: str) -> None:
    entries = [e for e in manifest(folders[name])["files"] if e["operation"] == "cloudtrail:LookupEvents"]
    previous_token = None
    for entry in entries:
        page = json.loads((folders[name] / entry["path"]).read_text())
        assert len(entry["parameters"]["LookupAttributes"]) == 1  # one attribute per call
        assert entry["parameters"].get("NextToken") in (None, previous_token)
        previous_token = page.get("NextToken")
        assert len(page["Events"]) <= 50
        times = [parse_time(e["EventTime"]) for e in page["Events"]]
        assert times == sorted(times, reverse=True)
        for event in page["Events"]:
            record = json.loads(event["CloudTrailEvent"])
            assert event["EventId"] == record["eventID"] and event["EventName"] == record["eventName"]
            assert record["awsRegion"] == entry["region"]
            assert event["ReadOnly"] == str(record["readOnly"]).lower()
    if INCIDENT[name].trail in ("lookup", "both"):
        assert entries
    if INCIDENT[name].trail == "none":
        assert not cloudtrail_records(folders[name])
        assert {g["operation"] for g in manifest(folders[name])["gaps"]} >= {"cloudtrail:LookupEvents"}


@pytest.mark.parametrize("name", [n for n in NAMES if INCIDENT[n].trail == "both"])
def test_some_events_come_in_both_forms(folders: dict[str, Path], name: str) -> None:
    entries = manifest(folders[name])["files"]
    looked_up = {
        json.loads(e["CloudTrailEvent"])["eventID"]
        for entry in entries if entry["operation"] == "cloudtrail:LookupEvents"
        for e in json.loads((folders[name] / entry["path"]).read_text())["Events"]
    }
    delivered = {
        r["eventID"]
        for entry in entries if entry["path"].endswith(".json.gz")
        for r in json.loads(gzip.decompress((folders[name] / entry["path"]).read_bytes()))["Records"]
    }
    assert looked_up & delivered and looked_up - delivered
    assert SCENARIOS[name].expected.trigger_event_id in looked_up | delivered | {None}


@pytest.mark.parametrize("name", NAMES)
def test_trigger_recovery_and_red_herrings_are_in_the_cloudtrail(folders: dict[str, Path], name: str) -> None:
    expected = SCENARIOS[name].expected
    records = {r["eventID"]: r for r in cloudtrail_records(folders[name])}
    if expected.trigger_event_id is not None and INCIDENT[name].trail != "none":
        trigger = records[expected.trigger_event_id]
        assert trigger["eventName"] == expected.trigger_event_name
        assert trigger["userIdentity"]["arn"] == expected.trigger_actor
        assert "errorCode" not in trigger
    if expected.recovery_event_id is not None:
        assert records[expected.recovery_event_id]["eventName"] == expected.recovery_event_name
    for event_id in expected.red_herring_event_ids:
        herring = records[event_id]
        assert event_id != expected.trigger_event_id
        assert herring["requestParameters"].get("roleName") != expected.role_arn.rsplit("/", 1)[-1]
    assert len(records) == len({r["eventID"] for r in records.values()})


@pytest.mark.parametrize("name", NAMES)
def test_times_are_in_order(folders: dict[str, Path], name: str) -> None:
    expected = SCENARIOS[name].expected
    records = {r["eventID"]: r for r in cloudtrail_records(folders[name])}
    moments = [
        parse_time(records[expected.trigger_event_id]["eventTime"]) if expected.trigger_event_id in records else None,
        parse_time(expected.failure_started),
        parse_time(records[expected.recovery_event_id]["eventTime"]) if expected.recovery_event_id else None,
        parse_time(expected.delivery_resumed),
    ]
    known = [m for m in moments if m is not None]
    assert known == sorted(known)
    if expected.delivery_resumed:
        lag = parse_time(expected.delivery_resumed) - moments[2]
        assert timedelta(minutes=7) <= lag <= timedelta(minutes=11)
    unfailed = expected.root_cause in ("none", "flow-log-deleted") or expected.state == "at-risk"
    assert (expected.failure_started is None) == unfailed
    failing = expected.failure_started is not None and expected.delivery_resumed is None
    assert expected.status == ("DELETED" if expected.root_cause == "flow-log-deleted" else
                               "FAILED" if failing else "SUCCESS")


@pytest.mark.parametrize("name", NAMES)
def test_failure_starts_with_the_first_failed_delivery_call(folders: dict[str, Path], name: str) -> None:
    expected = SCENARIOS[name].expected
    failures = _delivery_failures(cloudtrail_records(folders[name]))
    if not INCIDENT[name].symptom:
        assert failures == []
        return
    if not failures and any(gap[0] == "cloudtrail:LookupEvents" for gap in INCIDENT[name].gaps):
        return  # the failed calls are in the region whose trail could not be read
    first = min(parse_time(r["eventTime"]) for r in failures)
    if INCIDENT[name].gap_window is not None:  # the first ones are in the window that could not be read
        assert first > parse_time(expected.failure_started)
    else:
        assert first == parse_time(expected.failure_started)
    end = parse_time(expected.delivery_resumed) or datetime.max.replace(tzinfo=first.tzinfo)
    assert all(parse_time(r["eventTime"]) < end for r in failures)


@pytest.mark.parametrize("name", NAMES)
def test_log_streams_stop_with_the_failure_and_come_back_with_delivery(folders: dict[str, Path], name: str) -> None:
    expected = SCENARIOS[name].expected
    streams = payloads(folders[name], "logs:DescribeLogStreams")
    if not streams:
        assert name == "log-group-deleted"
        assert [g["error_code"] for g in manifest(folders[name])["gaps"]] == ["ResourceNotFoundException"]
        return
    (data,) = streams
    assert all(s["logStreamName"].startswith("eni-") for s in data["logStreams"])
    last = max(parse_time(s["lastIngestionTime"]) for s in data["logStreams"])
    collected = parse_time(manifest(folders[name])["created"])
    if expected.delivery_resumed:
        assert last >= parse_time(expected.delivery_resumed)
    elif expected.failure_started:
        assert last < parse_time(expected.failure_started) <= last + timedelta(minutes=5)
    elif expected.status == "DELETED":
        trigger = next(r for r in cloudtrail_records(folders[name]) if r["eventID"] == expected.trigger_event_id)
        assert last <= parse_time(trigger["eventTime"]) <= last + timedelta(minutes=5)
    else:
        assert collected - last <= timedelta(minutes=10)
    for stream in data["logStreams"]:
        assert stream["creationTime"] <= stream["firstEventTimestamp"] + 10 * 60 * 1000
        assert stream["lastEventTimestamp"] < stream["lastIngestionTime"]


@pytest.mark.parametrize("name", NAMES)
def test_metric_zeros_match_the_failure_window(folders: dict[str, Path], name: str) -> None:
    expected = SCENARIOS[name].expected
    records = {r["eventID"]: r for r in cloudtrail_records(folders[name])}
    start = parse_time(expected.failure_started)
    if expected.status == "DELETED":
        start = parse_time(records[expected.trigger_event_id]["eventTime"])
    end = parse_time(expected.delivery_resumed)
    events = _metric(folders[name], "incoming_log_events")
    sizes = dict(_metric(folders[name], "incoming_bytes"))
    period = timedelta(minutes=5)
    for moment, value in events:
        inside = start is not None and moment >= start and (end is None or moment + period <= end)
        before = start is None or moment + period <= start
        after = end is not None and moment >= end - period
        if inside:
            assert value == 0.0 and sizes[moment] == 0.0, moment
        elif before or after:
            assert value > 0 and sizes[moment] > value, moment


@pytest.mark.parametrize("name", NAMES)
def test_alarm_fires_on_the_gap_and_flapped_earlier(folders: dict[str, Path], name: str) -> None:
    expected = SCENARIOS[name].expected
    (alarms,) = payloads(folders[name], "cloudwatch:DescribeAlarms")
    (alarm,) = alarms["MetricAlarms"]
    assert alarm["Dimensions"] == [{"Name": "LogGroupName", "Value": expected.log_group}]
    assert (alarm["MetricName"], alarm["TreatMissingData"], alarm["Period"]) == ("IncomingLogEvents", "breaching", 300)
    (history,) = payloads(folders[name], "cloudwatch:DescribeAlarmHistory")
    items = history["AlarmHistoryItems"]
    states = [json.loads(i["HistoryData"])["newState"]["stateValue"] for i in reversed(items)]
    assert states[:2] == ["ALARM", "OK"]  # the flap, before anything happened
    first_flap = parse_time(items[-1]["Timestamp"])
    stopped = parse_time(expected.failure_started)
    if stopped is not None:
        assert first_flap < stopped
    assert alarm["StateValue"] == ("OK" if expected.status == "SUCCESS" else "ALARM")
    assert alarm["StateValue"] == states[-1]


@pytest.mark.parametrize("name", NAMES)
def test_describe_flow_logs_matches_the_expected_status(folders: dict[str, Path], name: str) -> None:
    expected = SCENARIOS[name].expected
    if any(gap[0] == "ec2:DescribeFlowLogs" for gap in INCIDENT[name].gaps):
        # refused: a gap with EC2's error, and no file that could pass for "no flow log"
        assert payloads(folders[name], "ec2:DescribeFlowLogs") == []
        (gap,) = [g for g in manifest(folders[name])["gaps"] if g["operation"] == "ec2:DescribeFlowLogs"]
        assert (gap["region"], gap["error_code"]) == (expected.region, "UnauthorizedOperation")
        return
    (data,) = payloads(folders[name], "ec2:DescribeFlowLogs")
    if expected.status == "DELETED":
        assert data["FlowLogs"] == []
        return
    (flow_log,) = data["FlowLogs"]
    assert flow_log["FlowLogId"] == expected.flow_log_id
    assert flow_log["DeliverLogsStatus"] == expected.status
    assert flow_log["DeliverLogsPermissionArn"] == expected.role_arn
    assert flow_log["LogGroupName"] == expected.log_group
    assert flow_log["LogDestination"].endswith(f":{expected.account_id}:log-group:{expected.log_group}")
    assert ("DeliverLogsErrorMessage" in flow_log) == (expected.status == "FAILED")
    if expected.status == "FAILED":
        assert flow_log["DeliverLogsErrorMessage"] in ("Access error", "Rate limited", "Unknown error")


def test_records_have_the_fields_of_real_records(folders: dict[str, Path]) -> None:
    real = {
        r["eventName"]: r
        for f in ("aws.defense-evasion.vpc-remove-flow-logs.json", "aws.persistence.iam-create-backdoor-role.json",
                  "aws.persistence.iam-backdoor-role.json")
        for r in json.loads((SAMPLES / "stratus-red-team" / f).read_text())
    }
    ours = {}
    for name in ("flow-log-deleted", "role-recreated", "trust-edited"):
        for record in cloudtrail_records(folders[name]):
            ours.setdefault(record["eventName"], record)
    deleted, real_deleted = ours["DeleteFlowLogs"], real["DeleteFlowLogs"]
    assert set(deleted) == set(real_deleted)
    assert deleted["requestParameters"].keys() == real_deleted["requestParameters"].keys()
    assert set(deleted["requestParameters"]["DeleteFlowLogsRequest"]["FlowLogId"]) == {"content", "tag"}
    assert set(deleted["responseElements"]["DeleteFlowLogsResponse"]) == set(
        real_deleted["responseElements"]["DeleteFlowLogsResponse"]
    )
    created, real_created = ours["CreateRole"]["responseElements"]["role"], real["CreateRole"]["responseElements"]["role"]
    assert set(created) == set(real_created) - {"permissionsBoundary"}
    assert parse_time(created["createDate"]) is not None
    assert parse_document(created["assumeRolePolicyDocument"]) == parse_document(
        ours["CreateRole"]["requestParameters"]["assumeRolePolicyDocument"]
    )
    (sample,) = json.loads((SAMPLES / "aws-cli" / "lookup-events.example.json").read_text())["Events"]
    pages = payloads(folders["flow-log-deleted"], "cloudtrail:LookupEvents")
    assert all(set(sample) <= set(e) for page in pages for e in page["Events"] if "Username" in e)
    update = ours["UpdateAssumeRolePolicy"]["requestParameters"]
    assert set(update) == set(real["UpdateAssumeRolePolicy"]["requestParameters"])
    assert parse_document(update["policyDocument"])["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}


@pytest.mark.parametrize("name", NAMES)
def test_folder_loads_without_problems(folders: dict[str, Path], name: str) -> None:
    pytest.importorskip("flowforensics.frames.evidence")
    import flowforensics

    expected = SCENARIOS[name].expected
    evidence = flowforensics.load(folders[name])
    assert list(evidence.problems) == []
    assert expected.flow_log_id in set(evidence.flow_logs["flow_log_id"])
    ids = set(evidence.events["event_id"])
    assert len(ids) == len(evidence.events)  # both CloudTrail forms, deduplicated
    if INCIDENT[name].trail != "none":
        assert ids == {r["eventID"] for r in cloudtrail_records(folders[name])}
        assert expected.trigger_event_id is None or expected.trigger_event_id in ids


@pytest.mark.parametrize("name", [n for n in NAMES if INCIDENT[n].destination == "arn"])
def test_create_flow_logs_names_the_log_group_only_as_log_destination(folders: dict[str, Path], name: str) -> None:
    expected = SCENARIOS[name].expected
    (created,) = [r for r in cloudtrail_records(folders[name]) if r["eventName"] == "CreateFlowLogs"][:1]
    request = created["requestParameters"]["CreateFlowLogsRequest"]
    # CloudTrail's form of EC2's query parameters: one wrapper named for the request, ResourceId as content/tag
    assert set(request["ResourceId"]) == {"content", "tag"} and "LogGroupName" not in request
    assert request["LogDestinationType"] == "cloud-watch-logs"
    assert request["LogDestination"] == f"arn:aws:logs:{expected.region}:{expected.account_id}:log-group:{expected.log_group}"
    assert request["DeliverLogsPermissionArn"] == expected.role_arn
    assert created["responseElements"]["CreateFlowLogsResponse"]["flowLogIdSet"]["item"] == expected.flow_log_id


@pytest.mark.parametrize("name", [n for n in NAMES if INCIDENT[n].gap_window is not None])
def test_a_window_gap_leaves_out_only_that_window_of_the_region_s_lookups(folders: dict[str, Path], name: str) -> None:
    expected = SCENARIOS[name].expected
    (gap,) = [g for g in manifest(folders[name])["gaps"] if g["operation"] == "cloudtrail:LookupEvents"]
    low, high = parse_time(gap["parameters"]["StartTime"]), parse_time(gap["parameters"]["EndTime"])
    assert gap["region"] == expected.region and gap["error_code"] == "ThrottlingException" and low < high
    regional = [r for r in cloudtrail_records(folders[name]) if r["awsRegion"] == expected.region]
    times = [parse_time(r["eventTime"]) for r in regional]
    assert not [t for t in times if low <= t < high]
    assert [t for t in times if t < low] and [t for t in times if t >= high]  # read before and after it
    for entry in manifest(folders[name])["files"]:
        if entry["operation"] == "cloudtrail:LookupEvents" and entry["region"] == expected.region:
            start, end = parse_time(entry["parameters"]["StartTime"]), parse_time(entry["parameters"]["EndTime"])
            assert end <= low or start >= high
