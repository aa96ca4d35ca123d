"""Second round of black-box acceptance tests of ``flowforensics diagnose --json`` (and ``timeline``, ``verify``).

Each folder under ``data/`` holds evidence shaped as AWS returns it (see ``make_cases.py``, which cites the AWS
page behind every expectation) and an ``expected.json``. The tests only run the command line and read its output.
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import json
import re
import shutil
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

ROOT_CAUSES = {
    "trust-missing-service", "trust-condition-mismatch", "permission-missing", "explicit-deny", "boundary-deny",
    "scp-deny", "role-deleted", "role-recreated", "log-group-deleted", "kms-key-denied", "rate-limited",
    "flow-log-deleted", "none", "inconclusive",
}
IAM_CAUSES = {"trust-missing-service", "trust-condition-mismatch", "permission-missing", "explicit-deny",
              "boundary-deny"}
ENTRY_KEYS = {"flow_log_id", "region", "account_id", "role_arn", "log_group", "status", "root_cause", "confidence",
              "failure_started", "trigger", "recovery", "findings", "remediation"}
EVENT_KEYS = {"event_id", "event_name", "event_time", "actor"}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")
ANY_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
# every record in these folders (the Stratus samples included) is older: a later time comes from the wall clock
EVIDENCE_END = datetime(2024, 9, 1, tzinfo=UTC)


def run(*argv: str) -> tuple[int, str, str]:
    """Run the command line in-process; return (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse exits on usage errors
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Each case's evidence copied to a scratch folder (the tool never sees the expectations)."""
    made: dict[str, Path] = {}

    def folder(name: str) -> Path:
        if name not in made:
            target = tmp_path_factory.mktemp(name) / "evidence"
            shutil.copytree(DATA / name / "evidence", target)
            for sample in EXPECTED[name].get("shared_samples", []):
                shutil.copy(SAMPLES / sample, target / Path(sample).name)
            made[name] = target
        return made[name]

    return folder


@pytest.fixture(scope="module")
def diagnosed(evidence: Any) -> Any:
    """``diagnose --json`` of each case, run once (on its one file when the case is a single file)."""
    answers: dict[str, tuple[int, str, str]] = {}

    def answer(name: str) -> tuple[int, str, str]:
        if name not in answers:
            target = evidence(name) / EXPECTED[name].get("single_file", "")
            answers[name] = run("diagnose", str(target), "--json")
        return answers[name]

    return answer


def entries(name: str, diagnosed: Any) -> dict[str, dict[str, Any]]:
    code, out, err = diagnosed(name)
    assert code == 0, f"exit {code}: {err}"
    return {entry["flow_log_id"]: entry for entry in json.loads(out)["flow_logs"]}


# ---- the contract's keys and types ----


def _time_problem(value: Any, where: str, nullable: bool = True) -> list[str]:
    if (value is None and nullable) or (isinstance(value, str) and ISO_UTC.match(value)):
        return []
    return [f"{where}: {value!r} is not an ISO-8601 UTC string"]


def _event_problems(event: Any, keys: set[str], where: str) -> list[str]:
    if not isinstance(event, dict) or set(event) != keys:
        return [f"{where}: keys {sorted(event) if isinstance(event, dict) else event!r}, expected {sorted(keys)}"]
    problems = _time_problem(event["event_time"], f"{where}.event_time", nullable=False)
    problems += [f"{where}.{key} is not a non-empty string" for key in ("event_id", "event_name")
                 if not isinstance(event[key], str) or not event[key]]
    if event["actor"] is not None and not str(event["actor"]).startswith("arn:"):
        problems.append(f"{where}.actor {event['actor']!r} is not an ARN")
    if "lag_seconds" in keys:
        problems += _time_problem(event["delivery_resumed"], f"{where}.delivery_resumed")
        lag = event["lag_seconds"]
        if lag is not None and (isinstance(lag, bool) or not isinstance(lag, int | float)):
            problems.append(f"{where}.lag_seconds {lag!r} is not a number")
        if (lag is None) != (event["delivery_resumed"] is None):
            problems.append(f"{where}: lag_seconds and delivery_resumed must be null together")
    return problems


def contract_problems(document: Any) -> list[str]:
    if not isinstance(document, dict) or set(document) != {"flow_logs"} or not isinstance(document["flow_logs"], list):
        return ["top level must be exactly {'flow_logs': [...]}"]
    problems: list[str] = []
    for entry in document["flow_logs"]:
        where = entry.get("flow_log_id", "?")
        if set(entry) != ENTRY_KEYS:
            problems.append(f"{where}: keys {sorted(set(entry) ^ ENTRY_KEYS)} differ from the contract")
            continue
        problems += [f"{where}: {key} is not a string" for key in ("flow_log_id", "status", "root_cause",
                                                                   "confidence") if not isinstance(entry[key], str)]
        problems += [f"{where}: {key} is neither a string nor null" for key in ("region", "account_id", "role_arn",
                                                                                "log_group")
                     if entry[key] is not None and not isinstance(entry[key], str)]
        if entry["status"] not in {"FAILED", "SUCCESS", "DELETED", "UNKNOWN"}:
            problems.append(f"{where}: status {entry['status']!r}")
        if entry["root_cause"] not in ROOT_CAUSES:
            problems.append(f"{where}: root_cause {entry['root_cause']!r} is not a DESIGN.md code")
        if entry["confidence"] not in {"confirmed", "likely", "possible"}:
            problems.append(f"{where}: confidence {entry['confidence']!r}")
        problems += _time_problem(entry["failure_started"], f"{where}.failure_started")
        if entry["trigger"] is not None:
            problems += _event_problems(entry["trigger"], EVENT_KEYS, f"{where}.trigger")
        if entry["recovery"] is not None:
            problems += _event_problems(entry["recovery"], EVENT_KEYS | {"delivery_resumed", "lag_seconds"},
                                        f"{where}.recovery")
        if not isinstance(entry["findings"], list) or not entry["findings"]:
            problems.append(f"{where}: findings must be a non-empty list")
        for finding in entry["findings"] or []:
            if set(finding) != {"code", "verdict", "summary", "evidence"}:
                problems.append(f"{where}: finding keys {sorted(finding)}")
                continue
            if finding["code"] not in ROOT_CAUSES or finding["verdict"] not in {"confirmed", "ruled_out",
                                                                                  "inconclusive"}:
                problems.append(f"{where}: finding {finding['code']!r}/{finding['verdict']!r}")
            if not isinstance(finding["summary"], str) or not finding["summary"].strip() or "\n" in finding["summary"]:
                problems.append(f"{where}: finding {finding['code']} summary is not one sentence")
            if not isinstance(finding["evidence"], list) or not all(isinstance(e, str) for e in finding["evidence"]):
                problems.append(f"{where}: finding {finding['code']} evidence is not a list of strings")
        fix = entry["remediation"]
        if not isinstance(fix, dict) or set(fix) != {"permissions_policy", "trust_policy", "commands"}:
            problems.append(f"{where}: remediation is not {{permissions_policy, trust_policy, commands}}")
        elif not (isinstance(fix["permissions_policy"], dict) and isinstance(fix["trust_policy"], dict)
                  and isinstance(fix["commands"], list) and all(isinstance(c, str) for c in fix["commands"])):
            problems.append(f"{where}: remediation types")
    return problems


@pytest.mark.parametrize("name", CASES)
def test_diagnose_json_follows_the_contract(name: str, diagnosed: Any) -> None:
    code, out, err = diagnosed(name)
    assert code == 0, f"exit {code}: {err}"
    assert "Traceback" not in err
    problems = contract_problems(json.loads(out))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", CASES)
def test_no_time_in_the_answer_comes_from_the_wall_clock(name: str, diagnosed: Any) -> None:
    _, out, _ = diagnosed(name)
    late = sorted({m.group(0) for m in ANY_TIME.finditer(out) if when(m.group(0)) > EVIDENCE_END})
    assert not late, f"times after the evidence ends: {late}"


# ---- the diagnosis, against what AWS did ----


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _covers(patterns: Any, value: str) -> bool:
    return any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in _listed(patterns))


def _allows_stream_writes(document: dict[str, Any], group_arn: str) -> bool:
    """Does the policy allow CreateLogStream and PutLogEvents on a stream of the log group?"""
    stream = f"{group_arn}:log-stream:eni-0123456789abcdef0-all"
    granted = {action for statement in _statements(document) if statement.get("Effect") == "Allow"
               and _covers(statement.get("Resource"), stream)
               for action in ("logs:CreateLogStream", "logs:PutLogEvents")
               if any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in _listed(statement.get("Action")))}
    return len(granted) == 2


def _service_statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in _statements(document) if s.get("Effect") == "Allow"
            and "vpc-flow-logs.amazonaws.com" in _listed((s.get("Principal") or {}).get("Service"))
            and _covers(s.get("Action"), "sts:AssumeRole")]


def _condition_values(statement: dict[str, Any], key: str) -> list[str]:
    return [v for block in (statement.get("Condition") or {}).values() for k, values in block.items()
            if k.lower() == key.lower() for v in _listed(values)]


def _window_problem(value: str | None, window: dict[str, str], where: str) -> list[str]:
    if value is None or not when(window["not_before"]) <= when(value) <= when(window["not_after"]):
        return [f"{where}: {value}, expected between {window['not_before']} and {window['not_after']}"]
    return []


def _event_expectations(entry: dict[str, Any], expected: dict[str, Any], where: str) -> list[str]:
    problems = []
    for name in ("trigger", "recovery"):
        if expected.get(f"{name}_unchecked"):
            continue
        want, got = expected[name], entry[name]
        if want is None or got is None:
            if want != got:
                problems.append(f"{where}: {name} {got!r}, expected {want!r}")
            continue
        problems += [f"{where}: {name}.{key} {got.get(key)!r}, expected {want[key]!r}" for key in sorted(EVENT_KEYS)
                     if got.get(key) != want[key]]
        if name == "recovery":
            problems += _window_problem(got.get("delivery_resumed"), want["delivery_resumed"],
                                        f"{where}: recovery.delivery_resumed")
            lag = got.get("lag_seconds")
            if got.get("delivery_resumed") and isinstance(lag, int | float):
                measured = (when(got["delivery_resumed"]) - when(got["event_time"])).total_seconds()
                if abs(measured - lag) > 1:
                    problems.append(f"{where}: lag_seconds {lag} is not delivery_resumed - event_time ({measured})")
            bounds = expected.get("lag_seconds")
            if bounds and not (isinstance(lag, int | float) and bounds["min"] <= lag <= bounds["max"]):
                problems.append(f"{where}: lag_seconds {lag!r}, expected {bounds['min']}..{bounds['max']}")
    return problems


def _finding_expectations(entry: dict[str, Any], expected: dict[str, Any], where: str) -> list[str]:
    problems = []
    findings = entry["findings"]
    confirmed = [f for f in findings if f["verdict"] == "confirmed"]
    code = expected.get("confirmed_finding")
    if code and not any(f["code"] == code for f in confirmed):
        problems.append(f"{where}: no confirmed {code} finding: {[(f['code'], f['verdict']) for f in findings]}")
    verdicts = {f["code"]: f["verdict"] for f in findings}
    problems += [f"{where}: finding {code} is {verdicts.get(code)!r}, expected ruled_out"
                 for code in expected.get("ruled_out", []) if verdicts.get(code) != "ruled_out"]
    wrongly = [f["code"] for f in confirmed if f["code"] in expected.get("not_confirmed", [])]
    if expected["root_cause"] == "none":
        wrongly += [f["code"] for f in confirmed if f["code"] != "none"]
    if wrongly:
        problems.append(f"{where}: findings confirm {sorted(set(wrongly))}, which did not happen")
    actor = expected.get("finding_names_actor")
    if actor and not any(actor in f["summary"] + " ".join(f["evidence"]) for f in confirmed if f["code"] == code):
        problems.append(f"{where}: the confirmed {code} finding does not name the actor {actor}")
    return problems


def _remediation_expectations(entry: dict[str, Any], expected: dict[str, Any], where: str) -> list[str]:
    problems = []
    fix = entry["remediation"]
    if expected["status"] == "FAILED" and expected["root_cause"] in IAM_CAUSES and not fix["commands"]:
        problems.append(f"{where}: a failing flow log with an IAM root cause gets no remediation command")
    if expected["root_cause"] == "none" and fix["commands"]:
        problems.append(f"{where}: healthy, yet remediation commands {fix['commands']}")
    group_arn = f"arn:aws:logs:{expected['region']}:{expected['account_id']}:log-group:{expected['log_group']}"
    if expected.get("remediation_allows_streams") and not _allows_stream_writes(fix["permissions_policy"], group_arn):
        problems.append(f"{where}: the permissions_policy does not allow writing the group's streams: "
                        f"{fix['permissions_policy']}")
    word = expected.get("remediation_commands_mention")
    if word and not any(word in command for command in fix["commands"]):
        problems.append(f"{where}: no remediation command mentions {word}: {fix['commands']}")
    trusted = _service_statements(fix["trust_policy"])
    if expected.get("remediation_trust_service") and not trusted:
        problems.append(f"{where}: the trust_policy does not trust vpc-flow-logs.amazonaws.com: {fix['trust_policy']}")
    account = expected.get("remediation_trust_source_account")
    if account and not all(_condition_values(s, "aws:SourceAccount") == [account] for s in trusted or [{}]):
        problems.append(f"{where}: the trust_policy's aws:SourceAccount is not {account}: {fix['trust_policy']}")
    stranger = expected.get("remediation_trust_never_mentions")
    if stranger and stranger in json.dumps(fix):
        problems.append(f"{where}: the remediation still names account {stranger}: {fix}")
    flow_log_arn = expected.get("remediation_trust_covers_source_arn")
    if flow_log_arn and not any(all(_covers(v, flow_log_arn) for v in _condition_values(s, "aws:SourceArn"))
                                for s in trusted):
        problems.append(f"{where}: the trust_policy's aws:SourceArn excludes {flow_log_arn}: {fix['trust_policy']}")
    return problems


def expectation_problems(entry: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    where = expected["flow_log_id"]
    nullable = expected.get("may_be_null", [])
    problems = [f"{where}: {key} {entry[key]!r}, expected {expected[key]!r}"
                for key in ("status", "root_cause", "region", "account_id", "role_arn", "log_group")
                if entry[key] != expected[key] and not (key in nullable and entry[key] is None)]
    if entry["root_cause"] == "inconclusive" and entry["confidence"] == "confirmed":
        problems.append(f"{where}: an inconclusive diagnosis cannot be 'confirmed'")
    if "failure_started" in expected:
        wanted, got = expected["failure_started"], entry["failure_started"]
        if wanted is None and got is not None:
            problems.append(f"{where}: failure_started {got}, expected null")
        elif wanted is not None and not (got is None and expected.get("failure_started_may_be_null")):
            problems += _window_problem(got, wanted, f"{where}: failure_started")
    problems += _event_expectations(entry, expected, where)
    problems += _finding_expectations(entry, expected, where)
    return problems + _remediation_expectations(entry, expected, where)


@pytest.mark.parametrize("name", CASES)
def test_diagnosis_matches_what_aws_did(name: str, diagnosed: Any) -> None:
    got = entries(name, diagnosed)
    wanted = {entry["flow_log_id"]: entry for entry in EXPECTED[name]["flow_logs"]}
    problems = [f"flow logs {sorted(got)}, expected {sorted(wanted)}"] if set(got) != set(wanted) else []
    for flow_log_id, expected in wanted.items():
        if flow_log_id in got:
            problems += expectation_problems(got[flow_log_id], expected)
    assert not problems, EXPECTED[name]["description"] + "\n" + "\n".join(problems)


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
