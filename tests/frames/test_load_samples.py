"""The real third-party CloudTrail samples load with no record lost or counted twice."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import flowforensics
from flowforensics.frames.schema import SCHEMAS


def _record_count(path) -> int:
    content = json.loads(path.read_text())
    if isinstance(content, list):
        return len(content)
    if "Events" in content:
        return len(content["Events"])
    return len(content["Records"])


def _sample_files(samples):
    return sorted(p for p in samples.rglob("*.json") if not p.name.endswith(".provenance.json"))


def test_every_sample_file_loads_every_record_once(samples):
    files = _sample_files(samples)
    assert len(files) == 37
    for path in files:
        evidence = flowforensics.load(path)
        assert len(evidence.events) == _record_count(path), path.name
        assert evidence.events["event_id"].is_unique, path.name


def test_the_whole_samples_folder_merges_the_one_record_two_sources_share(samples):
    evidence = flowforensics.load(samples)
    # 310 stratus + 436 panther + 1 aws-cli records; panther reused one stratus record verbatim.
    assert evidence.counters.read == 747
    assert evidence.counters.duplicates == 1
    assert len(evidence.events) == 746
    assert evidence.events["event_id"].is_unique
    shared = evidence.events[evidence.events["event_id"] == "1a4debbb-12e9-4bde-b8c7-ea29002bb2a7"]
    assert shared["event_name"].tolist() == ["RunInstances"]


def test_files_that_are_not_evidence_are_reported_not_dropped(samples):
    evidence = flowforensics.load(samples)
    reasons = {str(p.path).replace(str(samples), ""): p.reason for p in evidence.problems}
    assert reasons["/README.md"] == "invalid JSON at line 1 column 1: Expecting value"
    assert reasons["/stratus-red-team/LICENSE"].startswith("invalid JSON at line 1")
    assert reasons["/panther/panther_rule_tests_cloudtrail.provenance.json"] == (
        "not evidence: a JSON array that is not of CloudTrail records (no eventName/eventSource)"
    )


def test_messy_panther_records_are_all_kept_with_notes(samples):
    path = samples / "panther" / "panther_rule_tests_cloudtrail.json"
    evidence = flowforensics.load(path)
    assert len(evidence.events) == 436
    notes = sorted(p.reason for p in evidence.problems)
    assert notes == [
        "15 of 436 CloudTrail records have no usable eventTime, missing or unreadable (kept, with no time)",
        "260 of 436 CloudTrail records reuse an eventID already taken by a different record (kept as ID#N)",
        "51 of 436 CloudTrail records have no eventID (kept, with an id derived from their content)",
    ]
    assert evidence.events["event_time"].isna().sum() == 15
    # "YYYY-MM-DD hh:mm:ss.000000000" times are read, not dropped.
    assert evidence.events["event_time"].notna().sum() == 421


def test_lookup_events_output_loads_with_its_offset_time(samples):
    evidence = flowforensics.load(samples / "aws-cli" / "lookup-events.example.json")
    event = evidence.events.iloc[0]
    assert event["event_name"] == "ConsoleLogin"
    assert event["event_time"] == pd.Timestamp("2016-01-26T21:42:12Z")
    assert event["actor"] == "arn:aws:sts::123456789012:assumed-role/my-role/my-session-name"
    assert event["session_issuer"] == "arn:aws:iam::123456789012:role/my-role"
    assert event["response"] == {"ConsoleLogin": "Success"}


def test_the_stratus_flow_log_is_reconstructed_from_its_deletion(samples):
    path = samples / "stratus-red-team" / "aws.defense-evasion.vpc-remove-flow-logs.json"
    evidence = flowforensics.load(path)
    assert evidence.problems == []
    flow_log = evidence.flow_logs.set_index("flow_log_id").loc["fl-0e17aa62a21d4bbfe"]
    assert flow_log["region"] == "megov-south-1r"
    assert flow_log["account_id"] == "498376118699"
    assert flow_log["deleted"] == pd.Timestamp("2024-07-31T15:07:49Z")
    assert flow_log["deleted_by"] == "arn:aws:iam::498376118699:user/christophe"
    assert flow_log["delete_event_id"] == "ded2f5af-f3a5-46d2-a170-a23206a32c36"
    assert flow_log["source"] == "cloudtrail"
    # The capture holds only DeleteFlowLogs: what CreateFlowLogs would tell stays unknown, not guessed.
    assert pd.isna(flow_log["created"]) and pd.isna(flow_log["role_arn"]) and pd.isna(flow_log["resource_id"])


def test_a_backdoored_trust_policy_is_read_from_a_real_update_event(samples):
    evidence = flowforensics.load(samples / "stratus-red-team" / "aws.persistence.iam-backdoor-role.json")
    role = evidence.roles.iloc[0]
    statements = role["trust_policy"]["Statement"]
    assert any("AWS" in (s.get("Principal") or {}) for s in statements)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_frames_have_their_schema_even_when_empty(tmp_path, name):
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    evidence = flowforensics.load(empty)
    if name in evidence.frames:
        table = evidence.frames[name]
        assert list(table.columns) == list(SCHEMAS[name])
        assert [str(t) for t in table.dtypes] == [dtype for dtype, _ in SCHEMAS[name].values()]
