"""Second round of black-box acceptance tests of ``flowforensics diagnose --json`` (and ``timeline``, ``verify``).

Each folder under ``data/`` holds evidence shaped as AWS returns it (see ``make_cases.py``, which cites the AWS
page behind every expectation) and an ``expected.json``. The tests only run the command line and read its output;
the contract and the expectation checks are shared by the three rounds (``tests/blackbox/contract.py``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
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
    run,
    times_after,
    when,
)

DATA = Path(__file__).resolve().parent / "data"
EXPECTED = expectations(DATA)
CASES = list(EXPECTED)
# every record in these folders (the Stratus samples included) is older: a later time comes from the wall clock
EVIDENCE_END = datetime(2024, 9, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Each case's evidence copied to a scratch folder (the tool never sees the expectations)."""
    return evidence_copies(tmp_path_factory, DATA, EXPECTED)


@pytest.fixture(scope="module")
def diagnosed(evidence: Any) -> Any:
    """``diagnose --json`` of each case, run once (on its one file when the case is a single file)."""
    return diagnoses(evidence, EXPECTED)


def entries(name: str, diagnosed: Any) -> dict[str, dict[str, Any]]:
    code, out, err = diagnosed(name)
    assert code == 0, f"exit {code}: {err}"
    return {entry["flow_log_id"]: entry for entry in json.loads(out)["flow_logs"]}


@pytest.mark.parametrize("name", CASES)
def test_diagnose_json_follows_the_contract(name: str, diagnosed: Any) -> None:
    follows_the_contract(diagnosed(name))


@pytest.mark.parametrize("name", CASES)
def test_no_time_in_the_answer_comes_from_the_wall_clock(name: str, diagnosed: Any) -> None:
    _, out, _ = diagnosed(name)
    late = times_after(out, EVIDENCE_END)
    assert not late, f"times after the evidence ends: {late}"


# ---- the diagnosis, against what AWS did ----


def expectation_problems(entry: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    where = expected["flow_log_id"]
    nullable = expected.get("may_be_null", [])
    problems = [f"{where}: {key} {entry[key]!r}, expected {expected[key]!r}"
                for key in ("status", "root_cause", "region", "account_id", "role_arn", "log_group")
                if entry[key] != expected[key] and not (key in nullable and entry[key] is None)]
    if entry["root_cause"] == "inconclusive" and entry["confidence"] == "confirmed":
        problems.append(f"{where}: an inconclusive diagnosis cannot be 'confirmed'")
    problems += failure_started_problems(entry, expected, where)
    problems += event_expectations(entry, expected, where)
    problems += finding_expectations(entry, expected, where)
    return problems + remediation_expectations(entry, expected, where)


@pytest.mark.parametrize("name", CASES)
def test_diagnosis_matches_what_aws_did(name: str, diagnosed: Any) -> None:
    matches_what_aws_did(diagnosed(name), EXPECTED[name], expectation_problems)


# ---- selecting one flow log, and an id that is not in the evidence ----

SELECTABLE = [(name, e["flow_log_id"]) for name in CASES if EXPECTED[name].get("select_each")
              for e in EXPECTED[name]["flow_logs"]]


@pytest.mark.parametrize(("name", "flow_log_id"), SELECTABLE)
def test_flow_log_id_selects_each_with_the_same_answer(name: str, flow_log_id: str, evidence: Any,
                                                       diagnosed: Any) -> None:
    code, out, err = run("diagnose", str(evidence(name)), "--flow-log-id", flow_log_id, "--json")
    assert code == 0, err
    (only,) = json.loads(out)["flow_logs"]
    whole = entries(name, diagnosed)[flow_log_id]
    keys = ("flow_log_id", "region", "status", "root_cause", "role_arn", "log_group", "trigger", "failure_started")
    assert {k: only[k] for k in keys} == {k: whole[k] for k in keys}


@pytest.mark.parametrize("name", [name for name in CASES if EXPECTED[name].get("unknown_id")])
def test_an_unknown_flow_log_id_is_one_line_and_exit_1(name: str, evidence: Any) -> None:
    unknown = EXPECTED[name]["unknown_id"]
    code, out, err = run("diagnose", str(evidence(name)), "--flow-log-id", unknown, "--json")
    lines = [line for line in err.splitlines() if line.strip()]
    assert (code, len(lines)) == (1, 1), (code, err)
    assert unknown in err and "Traceback" not in err + out


# ---- timeline and verify on the same evidence ----

TRIGGERED = [(name, e) for name in CASES for e in EXPECTED[name]["flow_logs"]
             if e.get("trigger") and not e.get("trigger_unchecked")]


@pytest.mark.parametrize(("name", "expected"), TRIGGERED, ids=[f"{n}-{e['flow_log_id']}" for n, e in TRIGGERED])
def test_timeline_holds_the_trigger_and_the_fix_in_order(name: str, expected: dict[str, Any], evidence: Any) -> None:
    target = evidence(name) / EXPECTED[name].get("single_file", "")
    code, out, err = run("timeline", str(target), "--flow-log-id", expected["flow_log_id"], "--json")
    assert code == 0, err
    rows = json.loads(out)
    times = [when(row["time"]) for row in rows]
    assert times == sorted(times), "timeline rows are not in time order"
    ids = [row.get("event_id") for row in rows]
    for event in (expected["trigger"], expected.get("recovery")):
        if event:
            assert event["event_id"] in ids, f"{event['event_name']} {event['event_id']} is not in the timeline"


@pytest.mark.parametrize("name", [name for name in CASES if EXPECTED[name].get("manifest")])
def test_verify_accepts_a_folder_collected_and_watched(name: str, evidence: Any) -> None:
    code, out, err = run("verify", str(evidence(name)))
    assert code == 0, out + err
