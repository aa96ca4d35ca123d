"""Third round of black-box acceptance tests: ``flowforensics diagnose --json`` on CloudTrail-only evidence.

Each folder under ``data/`` holds CloudTrail records and nothing else (lookup-events per region, S3 ``.json.gz``
trees, a Lake JSON array or JSON Lines; see ``make_cases.py``, which cites the AWS page behind every
expectation) and an ``expected.json``. The tests only run the command line and read its output; the contract
and expectation checks are shared by the three rounds (``tests/blackbox/contract.py``), the CloudTrail-only
alternatives are below.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from blackbox.contract import (
    diagnoses,
    event_expectations,
    evidence_copies,
    expectations,
    failure_started_problems,
    finding_expectations,
    follows_the_contract,
    matches_what_aws_did,
    remediation_expectations,
)

DATA = Path(__file__).resolve().parent / "data"
EXPECTED = expectations(DATA)
CASES = list(EXPECTED)
# what each input may not contain: the point of this round
NOT_CLOUDTRAIL = ("FlowLogs", "RoleDetailList", "Role", "logGroups", "logStreams", "MetricDataResults",
                  "MetricAlarms", "EvaluationResults", "Policy", "PolicyDocument")


@pytest.fixture(scope="module")
def diagnosed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``diagnose --json`` of each case, run once on a copy of its evidence (never beside its expectations)."""
    return diagnoses(evidence_copies(tmp_path_factory, DATA, EXPECTED), EXPECTED)


def test_the_round_is_cloudtrail_only() -> None:
    """No case slips in a non-CloudTrail file: every JSON document is lookup-events, Records, or records."""
    assert len(CASES) >= 14
    for path in DATA.glob("*/evidence/**/*.json"):
        document = json.loads(path.read_text())
        records = document.get("Events") or document.get("Records") if isinstance(document, dict) else document
        assert isinstance(records, list) and records, path
        assert not (isinstance(document, dict) and set(document) & set(NOT_CLOUDTRAIL)), path


@pytest.mark.parametrize("name", CASES)
def test_diagnose_json_follows_the_contract(name: str, diagnosed: Any) -> None:
    follows_the_contract(diagnosed(name))


def _alternatives(entry: dict[str, Any], expected: dict[str, Any], where: str) -> tuple[dict[str, Any], list[str]]:
    """Where AWS's evidence allows more than one honest answer, accept any of them (and say which were not)."""
    decided = dict(expected)
    problems = []
    for key in ("status", "root_cause"):
        allowed = expected.get(f"{key}_any_of", [expected[key]])
        if entry[key] in allowed:
            decided[key] = entry[key]
        else:
            problems.append(f"{where}: {key} {entry[key]!r}, expected one of {allowed}")
    if expected.get("trigger_may_be_null") and entry["trigger"] is None:
        decided["trigger"] = None
    return decided, problems


def expectation_problems(entry: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    where = expected["flow_log_id"]
    decided, problems = _alternatives(entry, expected, where)
    problems += [f"{where}: {key} {entry[key]!r}, expected {expected[key]!r}"
                 for key in ("region", "account_id", "role_arn", "log_group") if entry[key] != expected[key]]
    if entry["root_cause"] == "inconclusive" and entry["confidence"] == "confirmed":
        problems.append(f"{where}: an inconclusive diagnosis cannot be 'confirmed'")
    problems += failure_started_problems(entry, expected, where)
    problems += event_expectations(entry, decided, where)
    if decided["root_cause"] == "inconclusive":
        decided.pop("confirmed_finding", None)
    problems += finding_expectations(entry, decided, where)
    return problems + remediation_expectations(entry, decided, where)


@pytest.mark.parametrize("name", CASES)
def test_diagnosis_from_cloudtrail_alone_matches_what_aws_did(name: str, diagnosed: Any) -> None:
    matches_what_aws_did(diagnosed(name), EXPECTED[name], expectation_problems)
