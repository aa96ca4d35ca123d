"""Collection faults over real HTTP: a faulty endpoint in front of moto server answers one operation badly.

Each fault must become a gap in manifest.json (operation, parameters, region, error, kind), never an
evidence file and never "not found"; the rest of the run goes on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.stub import ANY

import flowforensics
from flowforensics.cli import main
from flowforensics.collection import collect
from flowforensics.errors import CollectionError
from flowforensics.evidence.manifest import read_manifest, verify

from . import faults
from .conftest import build_incident
from .faults import FaultyEndpoint
from .helpers import REGION, stubbed

DENIED_EC2 = faults.aws_error("ec2", "UnauthorizedOperation", "You are not authorized to perform this operation.", 403)
EXPIRED = "The security token included in the request is expired"


@pytest.fixture(scope="module")
def incident(moto_endpoint: str) -> dict[str, Any]:
    """The incident, built once: the faulty endpoint reads moto, never changes it."""
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=60)
    return build_incident(moto_endpoint)


def _clients() -> dict[Any, Any]:
    """CloudTrail (which moto does not serve) answering every lookup with no events; Organizations refused."""
    clients: dict[Any, Any] = {}
    for region in ("us-east-1", REGION):
        client, stub = stubbed("cloudtrail", region)
        for _ in range(6):
            stub.add_response("lookup_events", {"Events": []}, {"LookupAttributes": ANY, "StartTime": ANY, "EndTime": ANY})
        clients[("cloudtrail", region)] = client
    client, stub = stubbed("organizations", "us-east-1")
    stub.add_client_error("list_parents", service_error_code="AccessDeniedException", service_message="denied")
    clients["organizations"] = client
    return clients


def _collect(incident: dict[str, Any], endpoint: FaultyEndpoint, out: Path, **options: Any) -> Any:
    return collect(
        out, flow_log_ids=[incident["flow_log_id"]], endpoint_url=endpoint.url, clients=_clients(), **options
    )


def _gaps(out: Path, operation: str) -> list[dict[str, Any]]:
    return [g for g in read_manifest(out)["gaps"] if g["operation"] == operation]


def _assert_no_empty_evidence(out: Path) -> None:
    assert verify(out) == []
    for entry in read_manifest(out)["files"]:
        assert json.loads((out / entry["path"]).read_text()) not in ({}, [], None), entry["path"]


FAULTS = [
    # (operation as AWS names it, manifest operation, fault, gap kind)
    ("DescribeLogGroups", "logs:DescribeLogGroups", faults.HTML_PAGE, "unreadable-answer"),
    ("DescribeLogGroups", "logs:DescribeLogGroups", faults.truncated("logs"), "unreadable-answer"),
    ("DescribeFlowLogs", "ec2:DescribeFlowLogs", DENIED_EC2, "denied"),
    ("DescribeFlowLogs", "ec2:DescribeFlowLogs", faults.SERVER_ERROR, "server-error"),
    ("DescribeFlowLogs", "ec2:DescribeFlowLogs", faults.XHTML_PAGE, "unreadable-answer"),
    ("DescribeFlowLogs", "ec2:DescribeFlowLogs", faults.truncated("ec2"), "unreadable-answer"),
    ("GetRole", "iam:GetRole", faults.HTML_PAGE, "unreadable-answer"),
    ("GetRole", "iam:GetRole", faults.truncated("iam"), "unreadable-answer"),
    ("GetRole", "iam:GetRole", faults.aws_error("iam", "AccessDenied", "User is not authorized to perform: iam:GetRole", 403), "denied"),
    ("ListPolicyVersions", "iam:ListPolicyVersions", faults.UNAVAILABLE, "server-error"),
    ("GetMetricData", "cloudwatch:GetMetricData", faults.HTML_PAGE, "unreadable-answer"),
    ("DescribeLogStreams", "logs:DescribeLogStreams", faults.aws_error("logs", "AccessDeniedException", "denied"), "denied"),
    ("GetKeyPolicy", "kms:GetKeyPolicy", faults.SERVER_ERROR, "server-error"),
]


@pytest.mark.parametrize(("operation", "recorded", "fault", "kind"), FAULTS, ids=[f"{o}-{k}-{i}" for i, (o, _, _, k) in enumerate(FAULTS)])
def test_a_faulty_answer_is_a_gap_never_evidence(
    incident: dict[str, Any], endpoint: FaultyEndpoint, tmp_path: Path, operation: str, recorded: str, fault: faults.Fault, kind: str
) -> None:
    endpoint.faults[operation] = fault

    result = _collect(incident, endpoint, tmp_path)

    assert endpoint.seen[operation] >= 1
    gaps = _gaps(tmp_path, recorded)
    assert len(gaps) == endpoint.seen[operation]  # one per call (the role has two managed policies)
    for gap in gaps:
        assert gap["kind"] == kind and gap["attempted"] is True
        assert gap["region"] == (None if recorded.startswith("iam:") else REGION)
        assert gap["parameters"] and gap["error_code"] and gap["error_message"]
    assert not [e for e in read_manifest(tmp_path)["files"] if e["operation"] == recorded]
    assert not any("not found" in line for line in result.skipped), result.skipped
    _assert_no_empty_evidence(tmp_path)
    flowforensics.load(tmp_path, strict=True)  # what was written still loads


def test_describe_flow_logs_denied_is_not_reported_as_not_found(
    incident: dict[str, Any], endpoint: FaultyEndpoint, tmp_path: Path
) -> None:
    endpoint.faults["DescribeFlowLogs"] = DENIED_EC2

    result = _collect(incident, endpoint, tmp_path)

    [line] = result.skipped
    assert "DescribeFlowLogs could not be read in eu-west-1 (a gap)" in line and "not found" not in line


def test_throttling_past_the_retries_is_a_gap(
    incident: dict[str, Any], endpoint: FaultyEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    endpoint.faults["DescribeLogGroups"] = faults.aws_error("logs", "ThrottlingException", "Rate exceeded")

    _collect(incident, endpoint, tmp_path)

    assert endpoint.seen["DescribeLogGroups"] == 2  # retried once by botocore, then recorded
    [gap] = _gaps(tmp_path, "logs:DescribeLogGroups")
    assert (gap["kind"], gap["error_code"]) == ("throttled", "ThrottlingException")


def test_a_deleted_role_is_absence_not_a_gap(incident: dict[str, Any], endpoint: FaultyEndpoint, tmp_path: Path) -> None:
    endpoint.faults["GetRole"] = faults.aws_error("iam", "NoSuchEntity", "The role with name flowlogs-delivery cannot be found.", 404)

    result = _collect(incident, endpoint, tmp_path)

    [gap] = _gaps(tmp_path, "iam:GetRole")
    assert (gap["kind"], gap["error_code"]) == ("absent", "NoSuchEntity")
    assert result.absent == 1 and result.gaps == 1  # the one gap: Organizations refused


@pytest.mark.parametrize("fault", [faults.HTML_PAGE, faults.XHTML_PAGE, faults.truncated("sts")])
def test_a_faulty_caller_identity_is_one_line_and_writes_nothing(
    endpoint: FaultyEndpoint, tmp_path: Path, fault: faults.Fault
) -> None:
    endpoint.faults["GetCallerIdentity"] = fault

    with pytest.raises(CollectionError, match=r"^sts:GetCallerIdentity failed: the answer is not"):
        collect(tmp_path / "out", flow_log_ids=["fl-0123456789abcdef0"], endpoint_url=endpoint.url)
    assert not (tmp_path / "out").exists()


def test_credentials_expiring_mid_run_leave_gaps_for_everything_not_read(
    incident: dict[str, Any], endpoint: FaultyEndpoint, tmp_path: Path
) -> None:
    endpoint.fail_after = ("DescribeLogGroups", faults.aws_error("logs", "ExpiredTokenException", EXPIRED))

    with pytest.raises(CollectionError, match=r"credentials have expired.*gaps, listed in .*manifest.json"):
        _collect(incident, endpoint, tmp_path)

    gaps = read_manifest(tmp_path)["gaps"]
    first = gaps[0]
    assert (first["operation"], first["kind"], first["attempted"]) == ("logs:DescribeLogGroups", "credentials", True)
    later = {g["operation"] for g in gaps[1:] if g["kind"] == "credentials" and not g["attempted"]}
    assert {"cloudwatch:GetMetricData", "cloudwatch:DescribeAlarms", "cloudtrail:LookupEvents"} <= later
    assert endpoint.seen["GetMetricData"] == 0  # not sent
    assert not [e for e in read_manifest(tmp_path)["files"] if e["operation"].startswith("cloudtrail:")]


def test_cli_exit_status_and_the_gaps_line(
    incident: dict[str, Any], endpoint: FaultyEndpoint, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint.faults["DescribeFlowLogs"] = DENIED_EC2
    argv = ["collect", "--flow-log-id", incident["flow_log_id"], "--endpoint-url", endpoint.url]

    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    gaps = len(read_manifest(tmp_path / "a")["gaps"])
    said = "1 gap (an API call that could not be read)" if gaps == 1 else f"{gaps} gaps (API calls that could not be read)"
    assert out.splitlines()[-1] == f'{said}: listed under "gaps" in {tmp_path / "a" / "manifest.json"}'
    assert "not found" not in out

    assert main([*argv, "--out", str(tmp_path / "b"), "--fail-on-gaps"]) == 4


def test_fail_on_gaps_exits_0_without_gaps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("flowforensics.collection.collect", lambda *a, **k: _complete(tmp_path))

    assert main(["collect", "--all", "--out", str(tmp_path), "--fail-on-gaps"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("0 gaps: every API call of the run was answered")


def _complete(folder: Path) -> Any:
    from flowforensics.collection.recorder import CollectionResult

    return CollectionResult(folder=folder, files=3, pages=3)
