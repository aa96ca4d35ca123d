"""collect() against moto server over real HTTP: what is written, in which shapes, with which manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY

import flowforensics
from flowforensics.collection import collect
from flowforensics.evidence.manifest import read_manifest, verify

from .helpers import ACCOUNT, REGION, lookup_event, sample_records, stubbed


def _files(folder: Path, operation: str) -> list[tuple[dict[str, Any], Any]]:
    manifest = read_manifest(folder)
    return [
        (entry, json.loads((folder / entry["path"]).read_text()))
        for entry in manifest["files"]
        if entry["operation"] == operation
    ]


def _cloudtrail_clients(expected: dict[str, list[tuple[str, list[dict[str, Any]]]]]) -> dict[Any, Any]:
    """Stubber-driven CloudTrail clients: per region, the ResourceName lookups expected in order."""
    clients: dict[Any, Any] = {}
    for region, lookups in expected.items():
        client, stubber = stubbed("cloudtrail", region)
        for value, events in lookups:
            stubber.add_response(
                "lookup_events",
                {"Events": events},
                {
                    "LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": value}],
                    "StartTime": ANY,
                    "EndTime": ANY,
                },
            )
        clients[("cloudtrail", region)] = client
    return clients


def _organizations_denied() -> Any:
    client, stubber = stubbed("organizations", "us-east-1")
    stubber.add_client_error(
        "list_parents",
        service_error_code="AccessDeniedException",
        service_message="You don't have permissions to access this resource.",
        http_status_code=400,
    )
    return client


def test_flow_log_collection_writes_every_shape_the_loader_reads(
    incident: dict[str, Any], tmp_path: Path
) -> None:
    deleted = sample_records("aws.defense-evasion.vpc-remove-flow-logs.json")[0]
    clients = _cloudtrail_clients(
        {
            "us-east-1": [
                (incident["role_name"], []),
                (incident["policy_arn"], []),
                (incident["boundary_arn"], []),
            ],
            REGION: [
                (incident["flow_log_id"], [lookup_event(deleted)]),
                (incident["log_group"], [lookup_event(deleted)]),  # the same event again: written once
                (incident["role_arn"], []),
            ],
        }
    )
    clients["organizations"] = _organizations_denied()
    out = tmp_path / "evidence"

    result = collect(
        out, flow_log_ids=[incident["flow_log_id"]], endpoint_url=incident["endpoint"], clients=clients
    )

    assert verify(out) == []
    manifest = read_manifest(out)
    assert manifest["caller_identity"]["Account"] == ACCOUNT
    assert [gap["operation"] for gap in manifest["gaps"]] == ["organizations:ListParents"]
    assert manifest["gaps"][0]["error_code"] == "AccessDeniedException"

    [(entry, flow_logs)] = _files(out, "ec2:DescribeFlowLogs")
    assert entry["region"] == REGION and entry["account"] == ACCOUNT
    assert entry["parameters"] == {"FlowLogIds": [incident["flow_log_id"]]}
    assert flow_logs["FlowLogs"][0]["DeliverLogsPermissionArn"] == incident["role_arn"]

    [(entry, details)] = _files(out, "iam:GetRole")
    assert entry["region"] is None and entry["path"].startswith("iam/global/")
    [role] = details["RoleDetailList"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "vpc-flow-logs.amazonaws.com"
    }
    assert [p["PolicyName"] for p in role["RolePolicyList"]] == ["describe"]
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == incident["boundary_arn"]
    policies = {p["Arn"]: p for p in details["Policies"]}
    assert set(policies) == {incident["policy_arn"], incident["boundary_arn"]}
    versions = policies[incident["policy_arn"]]["PolicyVersionList"]
    assert [(v["VersionId"], v["IsDefaultVersion"]) for v in versions] == [("v1", False), ("v2", True)]
    assert "logs:PutLogEvents" in json.dumps(versions[0]["Document"])
    assert "logs:PutLogEvents" not in json.dumps(versions[1]["Document"])

    [(_, groups)] = _files(out, "logs:DescribeLogGroups")
    assert groups["logGroups"][0]["kmsKeyId"] == incident["key_arn"]
    [(entry, streams)] = _files(out, "logs:DescribeLogStreams")
    assert entry["parameters"]["logGroupName"] == incident["log_group"]
    assert {s["logStreamName"] for s in streams["logStreams"]} == {
        "eni-0a1b2c3d4e5f60001",
        "eni-0a1b2c3d4e5f60002",
    }
    assert all("lastIngestionTime" in s for s in streams["logStreams"])

    [(entry, key_policy)] = _files(out, "kms:GetKeyPolicy")
    assert key_policy["PolicyName"] == "default" and isinstance(key_policy["Policy"], str)
    assert entry["parameters"]["KeyId"] == incident["key_arn"]

    [(entry, metrics)] = _files(out, "cloudwatch:GetMetricData")
    assert [q["MetricStat"]["Metric"]["MetricName"] for q in entry["parameters"]["MetricDataQueries"]] == [
        "IncomingLogEvents",
        "IncomingBytes",
    ]
    assert {r["Id"] for r in metrics["MetricDataResults"]} == {"incomingLogEvents", "incomingBytes"}
    [(_, alarms)] = _files(out, "cloudwatch:DescribeAlarms")
    assert [a["AlarmName"] for a in alarms["MetricAlarms"]] == ["other-group-quiet"]
    assert _files(out, "cloudwatch:DescribeAlarmHistory") == []  # that alarm watches another group

    lookups = _files(out, "cloudtrail:LookupEvents")
    assert len(lookups) == 6
    assert sum(len(doc["Events"]) for _, doc in lookups) == 1
    assert {e["region"] for e, _ in lookups} == {"us-east-1", REGION}
    assert result.events == 1 and result.duplicate_events == 1
    assert result.files == len(manifest["files"]) and result.gaps == 1
    assert result.calls["cloudtrail:LookupEvents"] == 6
    assert result.pages == sum(result.calls.values())


def _collect_incident(incident: dict[str, Any], folder: Path) -> None:
    """Collect the incident's flow log from moto, with CloudTrail stubbed empty and Organizations refused."""
    clients = _cloudtrail_clients(
        {
            "us-east-1": [
                (incident["role_name"], []),
                (incident["policy_arn"], []),
                (incident["boundary_arn"], []),
            ],
            REGION: [(incident["flow_log_id"], []), (incident["log_group"], []), (incident["role_arn"], [])],
        }
    )
    clients["organizations"] = _organizations_denied()
    collect(folder, flow_log_ids=[incident["flow_log_id"]], endpoint_url=incident["endpoint"], clients=clients)


def test_collected_folder_loads(incident: dict[str, Any], tmp_path: Path) -> None:
    _collect_incident(incident, tmp_path)

    evidence = flowforensics.load(tmp_path, strict=True)

    assert list(evidence.flow_logs["flow_log_id"]) == [incident["flow_log_id"]]
    assert list(evidence.roles["role_name"]) == [incident["role_name"]]
    assert len(evidence.log_streams) == 2


def test_a_collected_folder_is_diagnosed_end_to_end(incident: dict[str, Any], tmp_path: Path, capsys: Any) -> None:
    """collect, then `flowforensics diagnose --json` on what it wrote: the contract, for the collected flow log."""
    from flowforensics.cli import main

    _collect_incident(incident, tmp_path)

    assert main(["diagnose", str(tmp_path), "--json"]) == 0
    entry = json.loads(capsys.readouterr().out)["flow_logs"][0]
    assert (entry["flow_log_id"], entry["region"], entry["role_arn"], entry["log_group"]) == (
        incident["flow_log_id"], REGION, incident["role_arn"], incident["log_group"]
    )
    # moto reports delivery healthy and the streams just ingested, while the collected role would deny
    # PutLogEvents: AWS's status stays, the flow log is at risk from the collected documents alone, with no
    # guessed trigger (no CloudTrail shows the change) and the proven fix.
    assert (entry["status"], entry["state"], entry["trigger"]) == ("SUCCESS", "at-risk", None)
    flagged = next(f for f in entry["findings"] if f["code"] == entry["root_cause"])
    assert flagged["verdict"] == "confirmed" and "at risk" in flagged["summary"]
    assert entry["failure_started"] is None and entry["remediation"]["commands"]


def test_all_flow_logs_skips_healthy_and_non_cloudwatch_destinations(
    incident: dict[str, Any], tmp_path: Path
) -> None:
    clients = {"organizations": _organizations_denied()}

    result = collect(tmp_path, all_flow_logs=True, endpoint_url=incident["endpoint"], clients=clients)

    assert result.flow_logs == 2
    assert any(incident["flow_log_id"] in s and "SUCCESS" in s for s in result.skipped)
    assert any(incident["s3_flow_log_id"] in s and "s3" in s for s in result.skipped)
    assert "cloudtrail:LookupEvents" not in result.calls  # nothing failing: nothing to look up
    assert "iam:GetRole" in result.calls  # the delivering flow log's role: is it at risk?


def test_role_name_collects_the_flow_logs_that_use_it(incident: dict[str, Any], tmp_path: Path) -> None:
    clients = _cloudtrail_clients(
        {
            "us-east-1": [
                (incident["role_name"], []),
                (incident["policy_arn"], []),
                (incident["boundary_arn"], []),
            ],
            REGION: [(incident["flow_log_id"], []), (incident["log_group"], []), (incident["role_arn"], [])],
        }
    )
    clients["organizations"] = _organizations_denied()

    result = collect(
        tmp_path, role_names=[incident["role_name"]], endpoint_url=incident["endpoint"], clients=clients
    )

    [(entry, _)] = _files(tmp_path, "ec2:DescribeFlowLogs")
    assert entry["parameters"] == {}  # every flow log of the region, then those with the role
    assert result.calls["logs:DescribeLogStreams"] == 1


def test_a_deleted_flow_log_still_gets_its_cloudtrail_history(
    incident: dict[str, Any], tmp_path: Path
) -> None:
    deleted = sample_records("aws.defense-evasion.vpc-remove-flow-logs.json")[0]
    flow_log_id = deleted["requestParameters"]["DeleteFlowLogsRequest"]["FlowLogId"]["content"]
    clients = _cloudtrail_clients({REGION: [(flow_log_id, [lookup_event(deleted)])]})
    clients["organizations"] = _organizations_denied()

    result = collect(tmp_path, flow_log_ids=[flow_log_id], endpoint_url=incident["endpoint"], clients=clients)

    assert any(flow_log_id in s and "not found" in s for s in result.skipped)
    [(_, events)] = _files(tmp_path, "cloudtrail:LookupEvents")
    assert json.loads(events["Events"][0]["CloudTrailEvent"])["eventName"] == "DeleteFlowLogs"


def test_fleet_walks_every_enabled_region_and_records_unknown_ones(
    incident: dict[str, Any], tmp_path: Path
) -> None:
    result = collect(
        tmp_path,
        all_flow_logs=True,
        regions="all",
        endpoint_url=incident["endpoint"],
        clients={"organizations": _organizations_denied()},
    )
    described = {entry["region"] for entry, _ in _files(tmp_path, "ec2:DescribeFlowLogs")}
    assert REGION in described and "us-east-1" in described and len(described) == len(result.regions) > 10

    other = tmp_path / "named"
    result = collect(
        other,
        all_flow_logs=True,
        regions=[REGION, "xx-nowhere-1"],
        endpoint_url=incident["endpoint"],
        clients={"organizations": _organizations_denied()},
    )
    assert result.regions == [REGION]
    gaps = read_manifest(other)["gaps"]
    assert [(g["region"], g["error_code"]) for g in gaps if g["operation"] == "ec2:DescribeFlowLogs"] == [
        ("xx-nowhere-1", "RegionNotEnabled")
    ]


@pytest.mark.parametrize(
    "window", [{"start": "2000-01-01T00:00:00Z"}, {"start": "2030-01-02", "end": "2030-01-01"}]
)
def test_bad_windows_are_refused_before_anything_is_written(tmp_path: Path, window: dict[str, str]) -> None:
    from flowforensics.errors import CollectionError

    with pytest.raises(CollectionError):
        collect(tmp_path / "out", flow_log_ids=["fl-1"], endpoint_url="http://127.0.0.1:9", **window)
    assert not (tmp_path / "out").exists()
