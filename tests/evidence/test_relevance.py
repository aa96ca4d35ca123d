"""The kept-events rule: what it keeps of the real samples, and that a diagnosis needs nothing else."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from flowforensics import load
from flowforensics.analysis.diagnosis import diagnose
from flowforensics.evidence.relevance import KEPT_EVENTS, KEPT_SOURCES, is_relevant, is_relevant_error
from flowforensics.scenarios import SCENARIOS, write_scenario

SAMPLES = Path(__file__).parents[1] / "data" / "cloudtrail-samples"
STRATUS = SAMPLES / "stratus-red-team"


def _keep(record: Any) -> bool:
    return isinstance(record, dict) and is_relevant(record.get("eventSource"), record.get("eventName"), record.get("errorCode"))


def _stratus(name: str) -> list[dict[str, Any]]:
    return json.loads((STRATUS / f"aws.{name}.json").read_text())


@pytest.mark.parametrize(("technique", "kept"), [
    ("defense-evasion.vpc-remove-flow-logs", ["DeleteFlowLogs"]),
    ("defense-evasion.cloudtrail-stop", ["StopLogging"]),
    ("defense-evasion.cloudtrail-delete", ["DeleteTrail"]),
    ("defense-evasion.cloudtrail-event-selectors", ["PutEventSelectors"]),
    ("defense-evasion.organizations-leave", ["LeaveOrganization"]),
    ("persistence.iam-backdoor-role", ["UpdateAssumeRolePolicy"]),
    ("persistence.sts-federation-token", ["GetFederationToken"]),
])
def test_attack_techniques_on_the_trail_and_iam_are_kept(technique: str, kept: list[str]) -> None:
    names = {r["eventName"] for r in _stratus(technique) if _keep(r)}
    assert set(kept) <= names


@pytest.mark.parametrize("technique", [
    "credential-access.secretsmanager-retrieve-secrets",
    "exfiltration.ec2-share-ebs-snapshot",
    "execution.ec2-user-data",
    "impact.bedrock-invoke-model",
])
def test_data_plane_and_unrelated_changes_are_dropped_unless_refused(technique: str) -> None:
    records = _stratus(technique)
    assert records
    assert all(_keep(r) == is_relevant_error(r.get("errorCode")) for r in records)


def test_every_access_denied_or_throttled_record_of_the_samples_is_kept() -> None:
    records = [r for path in STRATUS.glob("*.json") for r in json.loads(path.read_text())]
    records += json.loads((SAMPLES / "panther" / "panther_rule_tests_cloudtrail.json").read_text())["Records"]
    refused = [r for r in records if isinstance(r.get("errorCode"), str)
               and any(w in r["errorCode"] for w in ("AccessDenied", "Unauthorized", "Throttling"))]
    assert refused, "the samples hold refused calls"
    assert all(_keep(r) for r in refused)
    # Errors of other families (NoSuchEntity, InvalidParameter...) are not a reason to keep.
    assert not is_relevant("s3.amazonaws.com", "GetObject", "NoSuchKey")
    assert not is_relevant("ec2.amazonaws.com", "RunInstances", "InvalidParameterValue")


@pytest.mark.parametrize(("code", "kept"), [
    ("AccessDenied", True), ("AccessDeniedException", True), ("Client.UnauthorizedOperation", True),
    ("ThrottlingException", True), ("Client.RequestLimitExceeded", True), ("TooManyRequestsException", True),
    ("ResourceNotFoundException", False), ("", False), (None, False), (42, False),
])
def test_error_families(code: Any, kept: bool) -> None:
    assert is_relevant_error(code) is kept
    assert is_relevant("s3.amazonaws.com", "GetObject", code) is kept


def test_odd_values_are_never_kept_by_source_or_name() -> None:
    assert not is_relevant(None, None, None)
    assert not is_relevant(["iam.amazonaws.com"], "PutRolePolicy")
    assert not is_relevant("kms.amazonaws.com", {"PutKeyPolicy": 1})
    assert not is_relevant("IAM.amazonaws.com", "PutRolePolicy")  # CloudTrail writes sources in lower case


def test_the_tables_are_plain_data_for_sql() -> None:
    assert isinstance(KEPT_SOURCES, frozenset)
    assert all(isinstance(s, str) and isinstance(n, frozenset) for s, n in KEPT_EVENTS.items())
    assert not KEPT_SOURCES & set(KEPT_EVENTS), "a source is kept whole or by name, not both"


def _filtered_copy(folder: Path, target: Path) -> int:
    """Copy an evidence folder keeping only the relevant CloudTrail records; return how many were dropped."""
    shutil.copytree(folder, target)
    manifest = json.loads((target / "manifest.json").read_text())
    dropped = 0
    for entry in manifest["files"]:
        path = target / entry["path"]
        raw = path.read_bytes()
        zipped = raw[:2] == b"\x1f\x8b"
        content = json.loads(gzip.decompress(raw) if zipped else raw)
        if not isinstance(content, dict) or not ({"Records", "Events"} & set(content)):
            continue
        if "Records" in content:
            kept = [r for r in content["Records"] if _keep(r)]
            dropped += len(content["Records"]) - len(kept)
            content["Records"] = kept
        else:
            kept = [e for e in content["Events"] if _keep(json.loads(e["CloudTrailEvent"]))]
            dropped += len(content["Events"]) - len(kept)
            content["Events"] = kept
        data = json.dumps(content).encode()
        data = gzip.compress(data, mtime=0) if zipped else data
        path.write_bytes(data)
        entry["sha256"] = hashlib.sha256(data).hexdigest()
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return dropped


# One incident per kind of kept event: IAM and STS, SCPs, CloudWatch Logs, KMS, EC2 flow-log calls, throttling.
DIAGNOSED = ["trust-condition-mismatch", "scp-deny", "log-group-deleted", "kms-key-denied", "flow-log-deleted", "rate-limited"]


def test_the_diagnosed_incidents_exist() -> None:
    assert set(DIAGNOSED) <= set(SCENARIOS)


@pytest.mark.parametrize("name", DIAGNOSED)
def test_a_diagnosis_needs_only_the_kept_events(name: str, tmp_path: Path) -> None:
    folder = write_scenario(name, tmp_path / "all")
    dropped = _filtered_copy(folder, tmp_path / "kept")
    assert dropped, "each incident has noise for the rule to drop"
    kept = diagnose(load(tmp_path / "kept")).to_json().replace(str(tmp_path / "kept"), str(folder))
    assert kept == diagnose(load(folder)).to_json()
