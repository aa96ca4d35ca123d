"""Black-box acceptance tests of ``flowforensics diagnose --json``, ``timeline`` and ``verify``.

Each folder under ``data/`` is evidence an analyst filled by hand with AWS CLI output (see
``make_cases.py``), with an ``expected.json`` decided from AWS's documented behaviour and DESIGN.md.
The tests only run the command line and read what it prints.
"""

from __future__ import annotations

import contextlib
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

from flowforensics.cli import main

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "cloudtrail-samples"
CASES = sorted(p.name for p in DATA.iterdir() if (p / "expected.json").is_file())
EXPECTED = {name: json.loads((DATA / name / "expected.json").read_text()) for name in CASES}
DIAGNOSED = [name for name in CASES if EXPECTED[name].get("flow_logs")]

ROOT_CAUSES = {
    "trust-missing-service", "trust-condition-mismatch", "permission-missing", "explicit-deny", "boundary-deny",
    "scp-deny", "role-deleted", "role-recreated", "log-group-deleted", "kms-key-denied", "rate-limited",
    "flow-log-deleted", "none", "inconclusive",
}
# the codes that are a fault of the delivery role itself: their fix is an IAM document
IAM_CAUSES = {"trust-missing-service", "trust-condition-mismatch", "permission-missing", "explicit-deny"}
STATUSES = {"FAILED", "SUCCESS", "DELETED", "UNKNOWN"}
CONFIDENCES = {"confirmed", "likely", "possible"}
VERDICTS = {"confirmed", "ruled_out", "inconclusive"}
ENTRY_KEYS = {"flow_log_id", "region", "account_id", "role_arn", "log_group", "status", "root_cause", "confidence",
              "failure_started", "trigger", "recovery", "findings", "remediation"}
EVENT_KEYS = {"event_id", "event_name", "event_time", "actor"}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")
ANY_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
# every case's evidence ends before this: a later time in an answer can only come from the wall clock
EVIDENCE_END = datetime(2024, 8, 1, tzinfo=UTC)


def run(*argv: str) -> tuple[int, str, str]:
    """Run the command line in-process; return (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse exits on usage errors
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Each case's evidence copied to a scratch folder (the tool never sees the expectations)."""
    made: dict[str, Path] = {}

    def folder(name: str) -> Path:
        if name not in made:
            target = tmp_path_factory.mktemp(name) / "evidence"
            source = DATA / name / "evidence"
            if source.is_dir():
                shutil.copytree(source, target)
            else:
                target.mkdir()
            for sample in EXPECTED[name].get("shared_samples", []):
                shutil.copy(SAMPLES / sample, target / Path(sample).name)
            made[name] = target
        return made[name]

    return folder


@pytest.fixture(scope="module")
def diagnosed(evidence: Any) -> Any:
    """``diagnose --json`` of each case, run once."""
    answers: dict[str, tuple[int, str, str]] = {}

    def answer(name: str) -> tuple[int, str, str]:
        if name not in answers:
            answers[name] = run("diagnose", str(evidence(name)), "--json")
        return answers[name]

    return answer


def one_line_error(code: int, out: str, err: str, names: str) -> list[str]:
    """What DESIGN.md promises for bad input: exit 1, one stderr line naming the file, no traceback."""
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


# ---- the diagnose --json contract: keys and value types ----


def _check_time(value: Any, where: str, problems: list[str], nullable: bool = True) -> None:
    if value is None and nullable:
        return
    if not isinstance(value, str) or not ISO_UTC.match(value):
        problems.append(f"{where}: {value!r} is not an ISO-8601 UTC string")


def contract_problems(document: Any) -> list[str]:
    problems: list[str] = []
    if not isinstance(document, dict) or set(document) != {"flow_logs"} or not isinstance(document["flow_logs"], list):
        return [f"top level must be {{'flow_logs': [...]}}, got {type(document).__name__}"]
    for entry in document["flow_logs"]:
        where = entry.get("flow_log_id", "?")
        if set(entry) != ENTRY_KEYS:
            problems.append(f"{where}: keys {sorted(set(entry) ^ ENTRY_KEYS)} differ from the contract")
            continue
        for key in ("flow_log_id", "status", "root_cause", "confidence"):
            if not isinstance(entry[key], str):
                problems.append(f"{where}: {key} is not a string")
        for key in ("region", "account_id", "role_arn", "log_group"):
            if entry[key] is not None and not isinstance(entry[key], str):
                problems.append(f"{where}: {key} is neither a string nor null")
        if entry["status"] not in STATUSES:
            problems.append(f"{where}: status {entry['status']!r}")
        if entry["root_cause"] not in ROOT_CAUSES:
            problems.append(f"{where}: root_cause {entry['root_cause']!r} is not a DESIGN.md code")
        if entry["confidence"] not in CONFIDENCES:
            problems.append(f"{where}: confidence {entry['confidence']!r}")
        _check_time(entry["failure_started"], f"{where}.failure_started", problems)
        for name, keys in (("trigger", EVENT_KEYS), ("recovery", EVENT_KEYS | {"delivery_resumed", "lag_seconds"})):
            event = entry[name]
            if event is None:
                continue
            if not isinstance(event, dict) or set(event) != keys:
                problems.append(f"{where}.{name}: keys {sorted(event) if isinstance(event, dict) else event}")
                continue
            _check_time(event["event_time"], f"{where}.{name}.event_time", problems, nullable=False)
            for key in ("event_id", "event_name"):
                if not isinstance(event[key], str) or not event[key]:
                    problems.append(f"{where}.{name}.{key} is not a non-empty string")
            if event["actor"] is not None and not str(event["actor"]).startswith("arn:"):
                problems.append(f"{where}.{name}.actor {event['actor']!r} is not an ARN")
            if name == "recovery":
                _check_time(event["delivery_resumed"], f"{where}.recovery.delivery_resumed", problems)
                lag = event["lag_seconds"]
                if lag is not None and (isinstance(lag, bool) or not isinstance(lag, int | float)):
                    problems.append(f"{where}.recovery.lag_seconds {lag!r} is not a number")
                if (lag is None) != (event["delivery_resumed"] is None):
                    problems.append(f"{where}.recovery: lag_seconds and delivery_resumed must be null together")
        if not isinstance(entry["findings"], list) or not entry["findings"]:
            problems.append(f"{where}: findings must be a non-empty list")
        for finding in entry["findings"] or []:
            if set(finding) != {"code", "verdict", "summary", "evidence"}:
                problems.append(f"{where}: finding keys {sorted(finding)}")
                continue
            if finding["code"] not in ROOT_CAUSES or finding["verdict"] not in VERDICTS:
                problems.append(f"{where}: finding {finding['code']!r}/{finding['verdict']!r}")
            if not isinstance(finding["summary"], str) or not finding["summary"].strip() or "\n" in finding["summary"]:
                problems.append(f"{where}: finding {finding['code']} summary is not one sentence")
            if not isinstance(finding["evidence"], list) or not all(isinstance(e, str) for e in finding["evidence"]):
                problems.append(f"{where}: finding {finding['code']} evidence is not a list of strings")
        remediation = entry["remediation"]
        if not isinstance(remediation, dict) or set(remediation) != {"permissions_policy", "trust_policy", "commands"}:
            problems.append(f"{where}: remediation keys {sorted(remediation) if isinstance(remediation, dict) else remediation}")
        elif not (isinstance(remediation["permissions_policy"], dict) and isinstance(remediation["trust_policy"], dict)
                  and isinstance(remediation["commands"], list)
                  and all(isinstance(c, str) for c in remediation["commands"])):
            problems.append(f"{where}: remediation types")
    return problems


@pytest.mark.parametrize("name", DIAGNOSED)
def test_diagnose_json_follows_the_contract(name: str, diagnosed: Any) -> None:
    code, out, err = diagnosed(name)
    assert code == 0, f"exit {code}: {err}"
    assert "Traceback" not in err
    problems = contract_problems(json.loads(out))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", DIAGNOSED)
def test_no_time_in_the_answer_comes_from_the_wall_clock(name: str, diagnosed: Any) -> None:
    # The evidence is re-analysed offline "bit for bit": every time in the answer must come from it.
    code, out, _ = diagnosed(name)
    assert code == 0
    late = sorted({m.group(0) for m in ANY_TIME.finditer(out) if parse_time(m.group(0)) > EVIDENCE_END})
    assert not late, f"times after the evidence ends ({EVIDENCE_END:%Y-%m-%d}): {late}"


# ---- the diagnosis itself, against the expectations ----


def _within(value: str | None, window: dict[str, str], where: str, problems: list[str]) -> None:
    if value is None:
        problems.append(f"{where}: null, expected between {window['not_before']} and {window['not_after']}")
        return
    moment = parse_time(value)
    if not parse_time(window["not_before"]) <= moment <= parse_time(window["not_after"]):
        problems.append(f"{where}: {value}, expected between {window['not_before']} and {window['not_after']}")


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _allows_stream_writes(document: dict[str, Any], log_group_arn: str) -> bool:
    stream = f"{log_group_arn}:log-stream:eni-0123456789abcdef0-all"
    needed = {"logs:CreateLogStream", "logs:PutLogEvents"}
    granted = set()
    for statement in _statements(document):
        if statement.get("Effect") != "Allow":
            continue
        if any(fnmatch.fnmatchcase(stream, resource) for resource in _listed(statement.get("Resource"))):
            for action in needed:
                if any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in _listed(statement.get("Action"))):
                    granted.add(action)
    return granted == needed


def _trusts_flow_logs(document: dict[str, Any]) -> bool:
    return any(
        statement.get("Effect") == "Allow"
        and "vpc-flow-logs.amazonaws.com" in _listed((statement.get("Principal") or {}).get("Service"))
        and "sts:AssumeRole" in _listed(statement.get("Action"))
        for statement in _statements(document)
    )


def expectation_problems(entry: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    where = expected["flow_log_id"]
    problems = []
    for key in ("status", "root_cause", "account_id", "role_arn", "log_group"):
        if key in expected and entry[key] != expected[key]:
            problems.append(f"{where}: {key} {entry[key]!r}, expected {expected[key]!r}")
    if entry["region"] != expected["region"] and not (expected.get("region_may_be_null") and entry["region"] is None):
        problems.append(f"{where}: region {entry['region']!r}, expected {expected['region']!r}")
    for name in ("trigger", "recovery"):
        want, got = expected[name], entry[name]
        if want is None or got is None:
            if want != got:
                problems.append(f"{where}: {name} {got!r}, expected {want!r}")
            continue
        for key in sorted(EVENT_KEYS):
            if got.get(key) != want[key]:
                problems.append(f"{where}: {name}.{key} {got.get(key)!r}, expected {want[key]!r}")
        if name == "recovery":
            _within(got.get("delivery_resumed"), want["delivery_resumed"], f"{where}: recovery.delivery_resumed",
                    problems)
            if got.get("delivery_resumed") and isinstance(got.get("lag_seconds"), int | float):
                lag = (parse_time(got["delivery_resumed"]) - parse_time(got["event_time"])).total_seconds()
                if abs(lag - got["lag_seconds"]) > 1:
                    problems.append(f"{where}: lag_seconds {got['lag_seconds']} is not delivery_resumed - event_time"
                                    f" ({lag})")
    if "failure_started" in expected:
        if expected["failure_started"] is None:
            if entry["failure_started"] is not None:
                problems.append(f"{where}: failure_started {entry['failure_started']}, expected null")
        elif entry["failure_started"] is not None or not expected.get("failure_started_may_be_null"):
            _within(entry["failure_started"], expected["failure_started"], f"{where}: failure_started", problems)
    findings = entry["findings"]
    if "confirmed_finding" in expected:
        code = expected["confirmed_finding"]
        if not any(f["code"] == code and f["verdict"] == "confirmed" for f in findings):
            problems.append(f"{where}: no confirmed {code} finding: {[(f['code'], f['verdict']) for f in findings]}")
    if expected["root_cause"] == "none":
        confirmed = [f["code"] for f in findings if f["verdict"] == "confirmed" and f["code"] != "none"]
        if confirmed:
            problems.append(f"{where}: healthy, yet findings confirm {confirmed}")
        if entry["remediation"]["commands"]:
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
    code, out, err = diagnosed(name)
    assert code == 0, f"exit {code}: {err}"
    got = {entry["flow_log_id"]: entry for entry in json.loads(out)["flow_logs"]}
    wanted = {entry["flow_log_id"]: entry for entry in EXPECTED[name]["flow_logs"]}
    problems = [f"flow logs {sorted(got)}, expected {sorted(wanted)}"] if set(got) != set(wanted) else []
    for flow_log_id, expected in wanted.items():
        if flow_log_id in got:
            problems += expectation_problems(got[flow_log_id], expected)
    assert not problems, EXPECTED[name]["description"] + "\n" + "\n".join(problems)


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
    times = [parse_time(r["time"]) for r in rows]
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
