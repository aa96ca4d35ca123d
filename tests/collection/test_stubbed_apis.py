"""The APIs moto does not serve, through botocore's Stubber (which checks every shape against the model):
LookupEvents, DescribeAlarmHistory, SimulatePrincipalPolicy and Organizations."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flowforensics.collection import cloudtrail, cloudwatch, iam, organizations
from flowforensics.collection.cloudtrail import Lookup, Subject
from flowforensics.errors import CollectionError
from flowforensics.evidence.manifest import read_manifest

from .helpers import ACCOUNT, REGION, lookup_event, recorder, sample_records, stubbed, window

ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/flowlogs-delivery"


def _sample_events() -> list[dict[str, Any]]:
    records = []
    for name in (
        "aws.persistence.iam-backdoor-role.json",
        "aws.persistence.iam-create-backdoor-role.json",
        "aws.defense-evasion.vpc-remove-flow-logs.json",
    ):
        records += sample_records(name)
    return [lookup_event(r) for r in records]


def test_plan_looks_up_each_resource_once_in_the_right_region() -> None:
    subject = Subject(
        region=REGION,
        flow_log_id="fl-0e17aa62a21d4bbfe",
        log_group="/vpc/flow",
        role_name="flowlogs-delivery",
        role_arn=ROLE_ARN,
        policy_arns=(f"arn:aws:iam::{ACCOUNT}:policy/deliver",),
    )
    twin = Subject(
        region=REGION,
        flow_log_id="fl-0000000000000000a",
        log_group="/vpc/flow",
        role_name="flowlogs-delivery",
    )

    lookups = cloudtrail.plan([subject, twin])

    assert [(lk.region, lk.key, lk.value) for lk in lookups] == [
        ("us-east-1", "ResourceName", "flowlogs-delivery"),
        ("us-east-1", "ResourceName", f"arn:aws:iam::{ACCOUNT}:policy/deliver"),
        (REGION, "ResourceName", "fl-0e17aa62a21d4bbfe"),
        (REGION, "ResourceName", "fl-0000000000000000a"),
        (REGION, "ResourceName", "/vpc/flow"),
        (REGION, "ResourceName", ROLE_ARN),
    ]


def test_aws_managed_policies_are_not_looked_up() -> None:
    detail = {
        "AttachedManagedPolicies": [
            {"PolicyArn": "arn:aws:iam::aws:policy/CloudWatchLogsFullAccess"},
            {"PolicyArn": f"arn:aws:iam::{ACCOUNT}:policy/deliver"},
        ],
        "PermissionsBoundary": {"PermissionsBoundaryArn": f"arn:aws:iam::{ACCOUNT}:policy/boundary"},
    }
    assert iam.managed_policy_arns(detail) == [
        f"arn:aws:iam::{ACCOUNT}:policy/deliver",
        f"arn:aws:iam::{ACCOUNT}:policy/boundary",
    ]


def test_window_defaults_to_seven_days_and_refuses_more_than_ninety() -> None:
    start, end = window()
    assert cloudtrail.window(None, None, end) == (end - timedelta(days=7), end)
    assert cloudtrail.window(end - timedelta(days=90), None, end)[0] == end - timedelta(days=90)
    with pytest.raises(CollectionError, match="90 days"):
        cloudtrail.window(end - timedelta(days=91), None, end)
    with pytest.raises(CollectionError, match="not before"):
        cloudtrail.window(end, start, end)


def test_lookups_page_through_dedupe_and_survive_throttling_and_denial(tmp_path: Path) -> None:
    events = _sample_events()
    start, end = window()
    east, east_stub = stubbed("cloudtrail", "us-east-1")
    west, west_stub = stubbed("cloudtrail", REGION)
    role = Lookup("us-east-1", "ResourceName", "flowlogs-delivery", "role")
    denied = Lookup("us-east-1", "ResourceName", f"arn:aws:iam::{ACCOUNT}:policy/deliver", "policy")
    flow_log = Lookup(REGION, "ResourceName", "fl-0e17aa62a21d4bbfe", "flow log")
    throttled = Lookup(REGION, "ResourceName", "/vpc/flow", "log group")
    # Three pages for the role, chained by NextToken.
    pages = [events[0:2], events[2:4], events[4:]]
    for number, page in enumerate(pages):
        expected = role.parameters(start, end) | ({"NextToken": f"t{number}"} if number else {})
        answer = {"Events": page} | ({"NextToken": f"t{number + 1}"} if number < len(pages) - 1 else {})
        east_stub.add_response("lookup_events", answer, expected)
    east_stub.add_client_error(
        "lookup_events",
        service_error_code="AccessDeniedException",
        service_message="User is not authorized to perform: cloudtrail:LookupEvents",
        expected_params=denied.parameters(start, end),
    )
    # The flow log's lookup returns an event the role's lookup already had: written once.
    west_stub.add_response(
        "lookup_events", {"Events": [events[0], events[-1]]}, flow_log.parameters(start, end)
    )
    west_stub.add_client_error(
        "lookup_events",
        service_error_code="ThrottlingException",
        service_message="Rate exceeded",
        http_status_code=400,
    )
    rec = recorder(tmp_path, {("cloudtrail", "us-east-1"): east, ("cloudtrail", REGION): west})
    seen = cloudtrail.EventIds()

    cloudtrail.lookup_events(rec, [role, denied], start, end, seen)
    cloudtrail.lookup_events(rec, [flow_log, throttled], start, end, seen)
    result = rec.finish()

    east_stub.assert_no_pending_responses()
    west_stub.assert_no_pending_responses()
    manifest = read_manifest(tmp_path)
    written = [json.loads((tmp_path / e["path"]).read_text())["Events"] for e in manifest["files"]]
    assert [len(w) for w in written] == [len(events), 0]
    ids = [e["EventId"] for w in written for e in w]
    assert len(ids) == len(set(ids)) == len(events)
    assert [(g["error_code"], g["region"]) for g in manifest["gaps"]] == [
        ("AccessDeniedException", "us-east-1"),
        ("ThrottlingException", REGION),
    ]
    assert manifest["gaps"][0]["parameters"]["LookupAttributes"][0]["AttributeValue"].endswith(
        ":policy/deliver"
    )
    assert result.events == len(events) and result.duplicate_events == 2
    assert result.calls == {"cloudtrail:LookupEvents": 6}
    assert manifest["files"][0]["parameters"]["StartTime"] == start.isoformat().replace("+00:00", "Z")


def test_alarm_history_pages_are_merged_into_one_file(tmp_path: Path) -> None:
    start, end = window()
    client, stub = stubbed("cloudwatch", REGION)
    item = {
        "AlarmName": "flow-logs-stopped",
        "Timestamp": end - timedelta(hours=3),
        "HistoryItemType": "StateUpdate",
        "HistorySummary": "Alarm updated from OK to ALARM",
        "HistoryData": json.dumps({"oldState": {"stateValue": "OK"}, "newState": {"stateValue": "ALARM"}}),
    }
    params = {"AlarmName": "flow-logs-stopped", "StartDate": start, "EndDate": end}
    stub.add_response("describe_alarm_history", {"AlarmHistoryItems": [item], "NextToken": "n1"}, params)
    later = item | {"Timestamp": end - timedelta(hours=1), "HistorySummary": "Alarm updated from ALARM to OK"}
    stub.add_response("describe_alarm_history", {"AlarmHistoryItems": [later]}, params | {"NextToken": "n1"})
    client2, stub2 = stubbed("cloudwatch", "us-east-2")
    stub2.add_client_error(
        "describe_alarm_history", service_error_code="AccessDenied", service_message="denied"
    )
    rec = recorder(tmp_path, {("cloudwatch", REGION): client, ("cloudwatch", "us-east-2"): client2})

    cloudwatch.alarm_history(rec, REGION, "flow-logs-stopped", start, end)
    cloudwatch.alarm_history(rec, "us-east-2", "flow-logs-stopped", start, end)
    rec.finish()

    manifest = read_manifest(tmp_path)
    [entry] = manifest["files"]
    items = json.loads((tmp_path / entry["path"]).read_text())["AlarmHistoryItems"]
    assert [i["HistorySummary"] for i in items] == [
        "Alarm updated from OK to ALARM",
        "Alarm updated from ALARM to OK",
    ]
    assert [g["error_code"] for g in manifest["gaps"]] == ["AccessDenied"]


def test_alarms_on_the_log_group_include_metric_math() -> None:
    alarms = [
        {"AlarmName": "plain", "Dimensions": [{"Name": "LogGroupName", "Value": "/vpc/flow"}]},
        {
            "AlarmName": "math",
            "Metrics": [
                {
                    "Id": "m1",
                    "MetricStat": {
                        "Metric": {"Dimensions": [{"Name": "LogGroupName", "Value": "/vpc/flow"}]}
                    },
                }
            ],
        },
        {"AlarmName": "other", "Dimensions": [{"Name": "LogGroupName", "Value": "/other"}]},
    ]
    assert cloudwatch.alarms_on_log_group(alarms, "/vpc/flow") == ["plain", "math"]


def test_simulation_asks_for_each_action_on_the_resource_it_acts_on(tmp_path: Path) -> None:
    client, stub = stubbed("iam", "us-east-1")
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/vpc/flow"
    expected = [
        (["logs:CreateLogGroup", "logs:DescribeLogStreams"], group),
        (["logs:CreateLogStream", "logs:PutLogEvents"], f"{group}:log-stream:eni-0a1b2c3d4e5f60001"),
        (["logs:DescribeLogGroups"], "*"),
    ]
    for actions, resource in expected:
        results = [
            {
                "EvalActionName": a,
                "EvalResourceName": resource,
                "EvalDecision": "implicitDeny" if a == "logs:PutLogEvents" else "allowed",
            }
            for a in actions
        ]
        stub.add_response(
            "simulate_principal_policy",
            {"EvaluationResults": results, "IsTruncated": False},
            {"PolicySourceArn": ROLE_ARN, "ActionNames": actions, "ResourceArns": [resource]},
        )
    rec = recorder(tmp_path, {"iam": client})

    iam.simulate_delivery(
        rec, ROLE_ARN, region=REGION, account=ACCOUNT, log_group="/vpc/flow", stream="eni-0a1b2c3d4e5f60001"
    )
    rec.finish()

    stub.assert_no_pending_responses()
    entries = read_manifest(tmp_path)["files"]
    assert {e["parameters"]["PolicySourceArn"] for e in entries} == {ROLE_ARN}
    decisions = {
        r["EvalActionName"]: r["EvalDecision"]
        for e in entries
        for r in json.loads((tmp_path / e["path"]).read_text())["EvaluationResults"]
    }
    assert decisions["logs:PutLogEvents"] == "implicitDeny" and len(decisions) == 5


def _scp(policy_id: str, name: str, statement: dict[str, Any]) -> dict[str, Any]:
    return {
        "Policy": {
            "PolicySummary": {
                "Id": policy_id,
                "Arn": f"arn:aws:organizations::111111111111:policy/o-abc/service_control_policy/{policy_id}",
                "Name": name,
                "Type": "SERVICE_CONTROL_POLICY",
                "AwsManaged": name == "FullAWSAccess",
            },
            "Content": json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
        }
    }


def test_scps_are_collected_level_by_level_from_the_root(tmp_path: Path) -> None:
    client, stub = stubbed("organizations", "us-east-1")
    full = "p-FullAWSAccess"
    deny = "p-denylogs01"
    stub.add_response(
        "list_parents",
        {"Parents": [{"Id": "ou-ab12-prod0001", "Type": "ORGANIZATIONAL_UNIT"}]},
        {"ChildId": ACCOUNT},
    )
    stub.add_response(
        "list_parents", {"Parents": [{"Id": "r-ab12", "Type": "ROOT"}]}, {"ChildId": "ou-ab12-prod0001"}
    )
    summary = {
        "Id": full,
        "Arn": "arn",
        "Name": "FullAWSAccess",
        "Type": "SERVICE_CONTROL_POLICY",
        "AwsManaged": True,
    }
    for target, extra in (
        ("r-ab12", []),
        ("ou-ab12-prod0001", [summary | {"Id": deny, "Name": "deny-logs"}]),
        (ACCOUNT, []),
    ):
        stub.add_response(
            "list_policies_for_target",
            {"Policies": [summary, *extra], "NextToken": "more"}
            if target == "ou-ab12-prod0001"
            else {"Policies": [summary]},
            {"TargetId": target, "Filter": "SERVICE_CONTROL_POLICY"},
        )
        if target == "ou-ab12-prod0001":  # a second page, to prove pagination
            stub.add_response(
                "list_policies_for_target",
                {"Policies": []},
                {"TargetId": target, "Filter": "SERVICE_CONTROL_POLICY", "NextToken": "more"},
            )
    stub.add_response(
        "describe_policy",
        _scp(full, "FullAWSAccess", {"Effect": "Allow", "Action": "*", "Resource": "*"}),
        {"PolicyId": full},
    )
    stub.add_response(
        "describe_policy",
        _scp(deny, "deny-logs", {"Effect": "Deny", "Action": "logs:PutLogEvents", "Resource": "*"}),
        {"PolicyId": deny},
    )
    rec = recorder(tmp_path, {"organizations": client})

    assert organizations.service_control_policies(rec, ACCOUNT) == 2
    rec.finish()

    stub.assert_no_pending_responses()
    entries = {e["parameters"]["PolicyId"]: e for e in read_manifest(tmp_path)["files"]}
    assert [(t["TargetType"], t["Level"]) for t in entries[full]["parameters"]["AppliesTo"]] == [
        ("ROOT", 0),
        ("ORGANIZATIONAL_UNIT", 1),
        ("ACCOUNT", 2),
    ]
    assert entries[deny]["parameters"]["AppliesTo"] == [
        {"TargetId": "ou-ab12-prod0001", "TargetType": "ORGANIZATIONAL_UNIT", "Level": 1}
    ]
    content = json.loads((tmp_path / entries[deny]["path"]).read_text())
    assert set(content["Policy"]) == {"PolicySummary", "Content"} and entries[deny]["region"] is None


def test_a_member_account_without_organizations_access_leaves_a_gap(tmp_path: Path) -> None:
    client, stub = stubbed("organizations", "us-east-1")
    stub.add_client_error(
        "list_parents",
        service_error_code="AccessDeniedException",
        service_message="denied",
        expected_params={"ChildId": ACCOUNT},
    )
    rec = recorder(tmp_path, {"organizations": client})

    assert organizations.service_control_policies(rec, ACCOUNT) == 0
    rec.finish()

    [gap] = read_manifest(tmp_path)["gaps"]
    assert gap["operation"] == "organizations:ListParents" and gap["error_code"] == "AccessDeniedException"


def test_expired_credentials_mid_run_are_a_gap_and_stop_the_run(tmp_path: Path) -> None:
    client, stub = stubbed("cloudtrail", REGION)
    stub.add_client_error(
        "lookup_events",
        service_error_code="ExpiredTokenException",
        service_message="The security token included in the request is expired",
    )
    rec = recorder(tmp_path, {"cloudtrail": client})
    start, end = window()
    lookups = [Lookup(REGION, "ResourceName", name, "") for name in ("x", "y")]

    cloudtrail.lookup_events(rec, lookups, start, end, cloudtrail.EventIds())
    rec.finish()

    stub.assert_no_pending_responses()  # the second lookup was not sent
    expired, not_sent = read_manifest(tmp_path)["gaps"]
    assert (expired["kind"], expired["attempted"], expired["error_code"]) == (
        "credentials", True, "ExpiredTokenException"
    )
    assert (not_sent["kind"], not_sent["attempted"], not_sent["error_code"]) == (
        "credentials", False, "ExpiredTokenException"
    )
    assert not_sent["parameters"]["LookupAttributes"][0]["AttributeValue"] == "y"
    assert "credentials have expired" in not_sent["error_message"]
    assert rec.result.stopped == "credentials" and rec.result.gaps == 2
