"""Black-box acceptance tests of ``flowforensics diagnose --json``, ``timeline`` and ``verify``.

Each folder under ``data/`` is evidence an analyst filled by hand with AWS CLI output (see
``make_cases.py``), with an ``expected.json`` decided from AWS's documented behaviour and docs/contracts.md.
The tests only run the command line and read what it prints; the contract and expectation checks the three
rounds share are in ``contract.py``.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import json
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from blackbox.contract import (
    ISO_UTC,
    diagnoses,
    event_expectations,
    evidence_copies,
    expectations,
    failure_started_problems,
    finding_expectations,
    follows_the_contract,
    listed,
    matches_what_aws_did,
    run,
    statements,
    times_after,
    when,
)

DATA = Path(__file__).resolve().parent / "data"
EXPECTED = expectations(DATA)
CASES = list(EXPECTED)
DIAGNOSED = [name for name in CASES if EXPECTED[name].get("flow_logs")]

# the codes that are a fault of the delivery role itself: their fix is an IAM document
IAM_CAUSES = {"trust-missing-service", "trust-condition-mismatch", "permission-missing", "explicit-deny"}
# every case's evidence ends before this: a later time in an answer can only come from the wall clock
EVIDENCE_END = datetime(2024, 8, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Each case's evidence copied to a scratch folder (the tool never sees the expectations)."""
    return evidence_copies(tmp_path_factory, DATA, EXPECTED)


@pytest.fixture(scope="module")
def diagnosed(evidence: Any) -> Any:
    """``diagnose --json`` of each case, run once."""
    return diagnoses(evidence, EXPECTED)


def one_line_error(code: int, out: str, err: str, names: str) -> list[str]:
    """What docs/contracts.md promises for bad input: exit 1, one stderr line naming the file, no traceback."""
    problems = []
    if code != 1:
        problems.append(f"exit status {code}, expected 1")
    lines = [line for line in err.splitlines() if line.strip()]
    if len(lines) != 1:
        problems.append(f"{len(lines)} stderr lines, expected 1: {err!r}")
    if names not in err:
        problems.append(f"stderr does not name {names!r}: {err!r}")
    if "Traceback" in err + out:
        problems.append("a traceback was printed")
    return problems



# ---- the diagnose --json contract ----


@pytest.mark.parametrize("name", DIAGNOSED)
def test_diagnose_json_follows_the_contract(name: str, diagnosed: Any) -> None:
    follows_the_contract(diagnosed(name))


@pytest.mark.parametrize("name", DIAGNOSED)
def test_no_time_in_the_answer_comes_from_the_wall_clock(name: str, diagnosed: Any) -> None:
    # The evidence is re-analysed offline "bit for bit": every time in the answer must come from it.
    code, out, _ = diagnosed(name)
    assert code == 0
    late = times_after(out, EVIDENCE_END)
    assert not late, f"times after the evidence ends ({EVIDENCE_END:%Y-%m-%d}): {late}"


# ---- the diagnosis itself, against the expectations ----


def _allows_stream_writes(document: dict[str, Any], log_group_arn: str) -> bool:
    # Round one matches the Resource case-sensitively, as IAM does for ARNs.
    stream = f"{log_group_arn}:log-stream:eni-0123456789abcdef0-all"
    needed = {"logs:CreateLogStream", "logs:PutLogEvents"}
    granted = set()
    for statement in statements(document):
        if statement.get("Effect") != "Allow":
            continue
        if any(fnmatch.fnmatchcase(stream, resource) for resource in listed(statement.get("Resource"))):
            for action in needed:
                if any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in listed(statement.get("Action"))):
                    granted.add(action)
    return granted == needed


def _trusts_flow_logs(document: dict[str, Any]) -> bool:
    # Round one wants sts:AssumeRole named as such, not reached through a wildcard.
    return any(
        statement.get("Effect") == "Allow"
        and "vpc-flow-logs.amazonaws.com" in listed((statement.get("Principal") or {}).get("Service"))
        and "sts:AssumeRole" in listed(statement.get("Action"))
        for statement in statements(document)
    )


def expectation_problems(entry: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    where = expected["flow_log_id"]
    problems = []
    for key in ("status", "root_cause", "account_id", "role_arn", "log_group"):
        if key in expected and entry[key] != expected[key]:
            problems.append(f"{where}: {key} {entry[key]!r}, expected {expected[key]!r}")
    if entry["region"] != expected["region"] and not (expected.get("region_may_be_null") and entry["region"] is None):
        problems.append(f"{where}: region {entry['region']!r}, expected {expected['region']!r}")
    problems += event_expectations(entry, expected, where)
    problems += failure_started_problems(entry, expected, where)
    problems += finding_expectations(entry, expected, where)
    findings = entry["findings"]
    if expected["root_cause"] == "none" and entry["remediation"]["commands"]:
        problems.append(f"{where}: healthy, yet remediation commands {entry['remediation']['commands']}")
    if "inconclusive_finding_mentions" in expected:
        word = expected["inconclusive_finding_mentions"]
        if not any(f["verdict"] == "inconclusive" and word in (f["summary"] + " ".join(f["evidence"])).lower()
                   for f in findings):
            problems.append(f"{where}: no inconclusive finding says {word!r} is missing: "
                            f"{[f['summary'] for f in findings if f['verdict'] == 'inconclusive']}")
    if entry["root_cause"] == "inconclusive" and entry["confidence"] == "confirmed":
        problems.append(f"{where}: an inconclusive diagnosis cannot be 'confirmed'")
    remediation = entry["remediation"]
    if expected["status"] == "FAILED" and expected["root_cause"] in IAM_CAUSES and not remediation["commands"]:
        problems.append(f"{where}: a failing flow log with an IAM root cause gets no remediation command")
    if expected.get("remediation_allows_streams") and not _allows_stream_writes(
        remediation["permissions_policy"], f"arn:aws:logs:{expected['region']}:{expected['account_id']}:log-group:"
        f"{expected['log_group']}"
    ):
        problems.append(f"{where}: remediation permissions_policy does not allow CreateLogStream and PutLogEvents "
                        f"on the log group's streams: {remediation['permissions_policy']}")
    if expected.get("remediation_trust_service") and not _trusts_flow_logs(remediation["trust_policy"]):
        problems.append(f"{where}: remediation trust_policy does not trust vpc-flow-logs.amazonaws.com")
    if "remediation_trust_source_arn_region" in expected:
        region = expected["remediation_trust_source_arn_region"]
        arns = re.findall(r"arn:aws:ec2:[^:]*:", json.dumps(remediation["trust_policy"]))
        if not _trusts_flow_logs(remediation["trust_policy"]) or any(a != f"arn:aws:ec2:{region}:" for a in arns):
            problems.append(f"{where}: remediation trust_policy must trust the service for flow logs of {region}: "
                            f"{remediation['trust_policy']}")
    return problems


@pytest.mark.parametrize("name", DIAGNOSED)
def test_diagnosis_matches_what_aws_did(name: str, diagnosed: Any) -> None:
    matches_what_aws_did(diagnosed(name), EXPECTED[name], expectation_problems)


def test_flow_log_id_selects_one_of_several(evidence: Any) -> None:
    name = "c17-several-flow-logs"
    only = EXPECTED[name]["only"]
    code, out, err = run("diagnose", str(evidence(name)), "--flow-log-id", only, "--json")
    assert code == 0, err
    assert [entry["flow_log_id"] for entry in json.loads(out)["flow_logs"]] == [only]


def test_an_unknown_flow_log_id_is_bad_input(evidence: Any) -> None:
    folder = evidence("c17-several-flow-logs")
    problems = one_line_error(*run("diagnose", str(folder), "--flow-log-id", "fl-0000000000000000f", "--json"),
                              "fl-0000000000000000f")
    assert not problems, problems


# ---- bad input: broken files, an empty folder, usage ----

BROKEN = [(name, file) for name in CASES for file in EXPECTED[name].get("broken_alone", [])]


@pytest.mark.parametrize(("name", "file"), BROKEN)
def test_a_broken_file_alone_is_one_line_on_stderr(name: str, file: str, evidence: Any) -> None:
    path = evidence(name) / file
    problems = one_line_error(*run("diagnose", str(path), "--json"), file)
    assert not problems, problems


def test_a_broken_file_alone_in_a_real_process(evidence: Any) -> None:
    name, file = BROKEN[0]
    path = evidence(name) / file
    done = subprocess.run([sys.executable, "-m", "flowforensics", "diagnose", str(path), "--json"],
                          capture_output=True, text=True, timeout=120)
    problems = one_line_error(done.returncode, done.stdout, done.stderr, file)
    assert not problems, problems


@pytest.mark.parametrize("command", ["diagnose", "timeline"])
def test_an_empty_folder_is_bad_evidence(command: str, evidence: Any) -> None:
    folder = evidence("c20-empty-folder")
    assert not any(folder.iterdir())
    problems = one_line_error(*run(command, str(folder), "--json"), str(folder))
    assert EXPECTED["c20-empty-folder"]["exit_code"] == 1
    assert not problems, problems


@pytest.mark.parametrize(
    "argv",
    [
        ["diagnose"],
        ["diagnose", "a", "b"],
        ["diagnose", "x", "--csv"],
        ["timeline", "x", "--json", "--csv"],
        ["verify"],
        ["no-such-command"],
        [],
    ],
    ids=lambda argv: " ".join(argv) or "nothing",
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    code, out, err = run(*argv)
    assert code == 2, (code, err)
    assert "Traceback" not in err


# ---- timeline ----

TIMELINED = [name for name in DIAGNOSED if any(e.get("trigger") for e in EXPECTED[name]["flow_logs"])]


@pytest.mark.parametrize("name", TIMELINED)
def test_timeline_lists_the_trigger_in_order(name: str, evidence: Any) -> None:
    expected = next(e for e in EXPECTED[name]["flow_logs"] if e.get("trigger"))
    folder = str(evidence(name))
    code, out, err = run("timeline", folder, "--flow-log-id", expected["flow_log_id"], "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows)
    times = [when(r["time"]) for r in rows]
    assert times == sorted(times), "timeline rows are not in time order"
    trigger = expected["trigger"]
    assert any(r.get("event_id") == trigger["event_id"] for r in rows), f"{trigger['event_name']} not in the timeline"
    code, out, err = run("timeline", folder, "--flow-log-id", expected["flow_log_id"], "--csv")
    assert code == 0, err
    table = list(csv.DictReader(io.StringIO(out)))
    assert len(table) == len(rows)
    assert [r["event_id"] for r in table] == [r.get("event_id") or "" for r in rows]
    assert all(ISO_UTC.match(r["time"]) for r in table)


# ---- verify ----


def test_verify_accepts_an_intact_collected_folder(evidence: Any) -> None:
    code, out, err = run("verify", str(evidence("c19-healthy")))
    assert code == 0, err


def test_verify_names_every_changed_missing_and_added_file(evidence: Any, tmp_path: Path) -> None:
    folder = tmp_path / "evidence"
    shutil.copytree(evidence("c19-healthy"), folder)
    (folder / "ec2/eu-west-1/describe-flow-logs.json").write_text('{"FlowLogs": []}\n')
    (folder / "iam/global/get-role.json").unlink()
    (folder / "later.json").write_text("{}\n")
    code, out, err = run("verify", str(folder))
    assert code == 1
    for path in ("ec2/eu-west-1/describe-flow-logs.json", "iam/global/get-role.json", "later.json"):
        assert path in out + err, f"verify does not name {path}"
    assert "Traceback" not in err


def test_verify_without_a_manifest_is_one_line(evidence: Any) -> None:
    problems = one_line_error(*run("verify", str(evidence("c01-permission-removed-restored"))), "manifest.json")
    assert not problems, problems
