"""Collection gaps bear only on what rests on the evidence they left unread: their window, their documents.

Each test adds gaps, shaped as ``collect`` records them (docs/collection.md: a LookupEvents refused
or throttled over its StartTime..EndTime, a role read refused), to a sample incident's manifest.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

import flowforensics
from flowforensics.scenarios import SCENARIOS

from .finding_rules import diagnosed

THROTTLED = ("ThrottlingException", "Rate exceeded")
DENIED = ("AccessDeniedException", "User: arn:aws:sts::381492650217:assumed-role/Investigator/ir is not authorized to "
                                    "perform: cloudtrail:LookupEvents with an explicit deny in a service control policy")


def _at(moment: pd.Timestamp) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def lookup_gap(region: str, start: pd.Timestamp | None, end: pd.Timestamp | None, error=THROTTLED) -> dict:
    """A LookupEvents gap as collect records it (its parameters as the manifest writes them)."""
    parameters = {"LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": "x"}]}
    if start is not None:
        parameters["StartTime"] = _at(start)
    if end is not None:
        parameters["EndTime"] = _at(end)
    return {"operation": "cloudtrail:LookupEvents", "parameters": parameters, "region": region, "account": "381492650217",
            "error_code": error[0], "error_message": error[1], "collected_at": "2026-12-03T13:02:11Z",
            "kind": "throttled" if error is THROTTLED else "denied", "attempted": True}


def with_gaps(source: Path, folder: Path, *gaps: dict, drop: tuple[str, ...] = ()) -> Path:
    """A copy of ``source`` with ``gaps`` added to its manifest and the files of the ``drop`` operations removed."""
    shutil.copytree(source, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    dropped = [entry for entry in manifest["files"] if entry["operation"] in drop]
    for entry in dropped:
        (folder / entry["path"]).unlink()
    manifest["files"] = [entry for entry in manifest["files"] if entry not in dropped]
    manifest["gaps"] += list(gaps)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _entry(folder: Path):
    entry = diagnosed(folder)
    return entry, {finding.code: finding for finding in entry.findings}


def _trigger_time(folder: Path, event_id: str) -> pd.Timestamp:
    events = flowforensics.load(folder).events
    return events.loc[events["event_id"] == event_id, "event_time"].iloc[0]


def test_a_global_gap_after_the_failure_leaves_the_proven_change_proven(scenario_folder, tmp_path) -> None:
    expected = SCENARIOS["trust-edited"].expected
    failed = pd.Timestamp(expected.failure_started)
    folder = with_gaps(scenario_folder("trust-edited"), tmp_path / "evidence",
                       lookup_gap("us-east-1", failed + pd.Timedelta(minutes=30), failed + pd.Timedelta(hours=2)))
    entry, findings = _entry(folder)
    assert (entry.root_cause, entry.state, entry.trigger.event_id) == ("trust-missing-service", "failing",
                                                                       expected.trigger_event_id)
    assert findings["trust-missing-service"].verdict == "confirmed"
    assert not any(f.code == "inconclusive" for f in entry.findings)


def test_a_global_gap_between_the_change_and_the_failure_names_its_window(scenario_folder, tmp_path) -> None:
    expected = SCENARIOS["trust-edited"].expected
    source = scenario_folder("trust-edited")
    changed = _trigger_time(source, expected.trigger_event_id)
    start, end = changed + pd.Timedelta(seconds=1), pd.Timestamp(expected.failure_started)
    folder = with_gaps(source, tmp_path / "evidence", lookup_gap("us-east-1", start, end, DENIED))
    entry, _findings = _entry(folder)
    # A change in the unread minutes between the trigger and the failure could be the one that broke it.
    assert entry.root_cause == "inconclusive"
    said = [f.summary for f in entry.findings if f.code == "inconclusive"]
    assert any(f"cloudtrail:LookupEvents could not be read between {_at(start)} and {_at(end)} (AccessDeniedException"
               in summary for summary in said), said


def test_a_regional_gap_before_the_failure_says_no_event_only_of_the_part_read(scenario_folder, tmp_path) -> None:
    expected = SCENARIOS["trust-edited"].expected
    failed = pd.Timestamp(expected.failure_started)
    start, end = failed - pd.Timedelta(hours=1), failed - pd.Timedelta(minutes=10)
    folder = with_gaps(scenario_folder("trust-edited"), tmp_path / "evidence", lookup_gap(expected.region, start, end),
                       drop=("logs:DescribeLogGroups",))
    entry, findings = _entry(folder)
    assert entry.root_cause == "trust-missing-service"
    deleted = findings["log-group-deleted"]
    assert deleted.verdict == "inconclusive"
    assert deleted.summary.startswith(f"no DeleteLogGroup event for log group {expected.log_group} is in the CloudTrail "
                                      "events read between ")
    assert (f"CloudTrail could not be read: cloudtrail:LookupEvents in {expected.region} "
            f"between {_at(start)} and {_at(end)} (ThrottlingException: Rate exceeded)") in deleted.summary


def test_a_regional_gap_after_the_failure_began_does_not_bear_on_its_cause(scenario_folder, tmp_path) -> None:
    expected = SCENARIOS["trust-edited"].expected
    failed = pd.Timestamp(expected.failure_started)
    start = failed + pd.Timedelta(minutes=20)
    folder = with_gaps(scenario_folder("trust-edited"), tmp_path / "evidence", lookup_gap(expected.region, start, None),
                       drop=("logs:DescribeLogGroups",))
    entry, findings = _entry(folder)
    assert entry.root_cause == "trust-missing-service"
    deleted = findings["log-group-deleted"]
    assert deleted.verdict == "ruled_out"
    assert deleted.summary.endswith(f"(CloudTrail could not be read after the failure began: cloudtrail:LookupEvents in "
                                    f"{expected.region} from {_at(start)} on (ThrottlingException: Rate exceeded))")


def test_an_at_risk_cause_the_collected_documents_show_survives_a_later_gap(scenario_folder, tmp_path) -> None:
    # The collected trust refuses the service: that is documented; a read refused after the change only
    # leaves open whether the change CloudTrail shows is the last one, so the trigger is 'likely'.
    expected = SCENARIOS["latent-trust-edited"].expected
    source = scenario_folder("latent-trust-edited")
    changed = _trigger_time(source, expected.trigger_event_id)
    folder = with_gaps(source, tmp_path / "evidence", lookup_gap("us-east-1", changed + pd.Timedelta(seconds=30), None))
    entry, findings = _entry(folder)
    assert (entry.root_cause, entry.state, entry.confidence) == ("trust-missing-service", "at-risk", "likely")
    assert entry.trigger.event_id == expected.trigger_event_id and entry.remediation.trust_policy
    assert findings["trust-missing-service"].verdict == "confirmed"
