"""Third round of black-box acceptance tests: ``flowforensics diagnose --json`` on CloudTrail-only evidence.

Each folder under ``data/`` holds CloudTrail records and nothing else (lookup-events per region, S3 ``.json.gz``
trees, a Lake JSON array or JSON Lines; see ``make_cases.py``, which cites the AWS page behind every
expectation) and an ``expected.json``. The tests only run the command line and read its output; the contract
checks are round two's (``tests/blackbox2``), the CloudTrail-only expectations are below.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from blackbox2.test_blackbox2 import (
    _event_expectations,
    _finding_expectations,
    _remediation_expectations,
    _window_problem,
    contract_problems,
    run,
)

DATA = Path(__file__).resolve().parent / "data"
CASES = sorted(p.name for p in DATA.iterdir() if (p / "expected.json").is_file())
EXPECTED = {name: json.loads((DATA / name / "expected.json").read_text()) for name in CASES}
# what each input may not contain: the point of this round
NOT_CLOUDTRAIL = ("FlowLogs", "RoleDetailList", "Role", "logGroups", "logStreams", "MetricDataResults",
                  "MetricAlarms", "EvaluationResults", "Policy", "PolicyDocument")


@pytest.fixture(scope="module")
def diagnosed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``diagnose --json`` of each case, run once on a copy of its evidence (never beside its expectations)."""
    answers: dict[str, tuple[int, str, str]] = {}

    def answer(name: str) -> tuple[int, str, str]:
        if name not in answers:
            target = tmp_path_factory.mktemp(name) / "evidence"
            shutil.copytree(DATA / name / "evidence", target)
            answers[name] = run("diagnose", str(target), "--json")
        return answers[name]

    return answer


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
    code, out, err = diagnosed(name)
    assert code == 0, f"exit {code}: {err}"
    assert "Traceback" not in err
    problems = contract_problems(json.loads(out))
    assert not problems, "\n".join(problems)


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
    wanted, got = expected["failure_started"], entry["failure_started"]
    if wanted is None and got is not None:
        problems.append(f"{where}: failure_started {got}, expected null")
    elif wanted is not None and not (got is None and expected.get("failure_started_may_be_null")):
        problems += _window_problem(got, wanted, f"{where}: failure_started")
    problems += _event_expectations(entry, decided, where)
    if decided["root_cause"] == "inconclusive":
        decided.pop("confirmed_finding", None)
    problems += _finding_expectations(entry, decided, where)
    return problems + _remediation_expectations(entry, decided, where)


@pytest.mark.parametrize("name", CASES)
def test_diagnosis_from_cloudtrail_alone_matches_what_aws_did(name: str, diagnosed: Any) -> None:
    code, out, err = diagnosed(name)
    assert code == 0, f"exit {code}: {err}"
    got = {entry["flow_log_id"]: entry for entry in json.loads(out)["flow_logs"]}
    wanted = {entry["flow_log_id"]: entry for entry in EXPECTED[name]["flow_logs"]}
    problems = [f"flow logs {sorted(got)}, expected {sorted(wanted)}"] if set(got) != set(wanted) else []
    for flow_log_id, expected in wanted.items():
        if flow_log_id in got:
            problems += expectation_problems(got[flow_log_id], expected)
    assert not problems, EXPECTED[name]["description"] + "\n" + "\n".join(problems)
