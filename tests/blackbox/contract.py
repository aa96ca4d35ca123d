"""What the three black-box rounds share: running the CLI, the ``diagnose --json`` contract, the expectations.

The contract's keys and types come from docs/contracts.md; the expectation helpers read the keys an ``expected.json``
entry may hold (``trigger_unchecked``, ``lag_seconds``, ``ruled_out``, ``not_confirmed``, ``remediation_*``...)
and report, as one line each, where an answer differs from what AWS did.
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import json
import re
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sample_paths import SAMPLES

from flowforensics.analysis.iam.remediation import edits_aws_owned
from flowforensics.cli import main

ROOT_CAUSES = {
    "trust-missing-service", "trust-condition-mismatch", "permission-missing", "explicit-deny", "boundary-deny",
    "scp-deny", "role-deleted", "role-recreated", "log-group-deleted", "kms-key-denied", "rate-limited",
    "flow-log-deleted", "none", "inconclusive",
}
# the codes whose fix is an IAM document of the role (a boundary is one too: it is put on the role)
IAM_CAUSES = {"trust-missing-service", "trust-condition-mismatch", "permission-missing", "explicit-deny",
              "boundary-deny"}
ENTRY_KEYS = {"flow_log_id", "region", "account_id", "role_arn", "log_group", "status", "root_cause", "confidence",
              "failure_started", "trigger", "recovery", "findings", "remediation"}
# Keys added to an entry since (the contract changes only additively), with their values.
ADDED_KEYS = {"state": {"failing", "recovered", "at-risk", "healthy", "unknown"}}
EVENT_KEYS = {"event_id", "event_name", "event_time", "actor"}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")
ANY_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")

Answer = tuple[int, str, str]


def run(*argv: str) -> Answer:
    """Run the command line in-process; return (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse exits on usage errors
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def when(text: str) -> datetime:
    """An ISO-8601 time of an answer or an expectation as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ---- the cases' evidence, copied away from their expectations, and its diagnosis ----


def expectations(data: Path) -> dict[str, dict[str, Any]]:
    """Each case's ``expected.json`` under a round's ``data/`` folder, by case name in order."""
    names = sorted(p.name for p in data.iterdir() if (p / "expected.json").is_file())
    return {name: json.loads((data / name / "expected.json").read_text()) for name in names}


def evidence_copies(tmp_path_factory: Any, data: Path, expected: dict[str, Any]) -> Callable[[str], Path]:
    """A function giving each case's evidence copied once to a scratch folder, with its shared samples.

    Parameters
    ----------
    tmp_path_factory
        pytest's ``tmp_path_factory``.
    data
        The round's ``data/`` folder, one sub-folder per case.
    expected
        Each case's ``expected.json``; ``shared_samples`` names the CloudTrail samples the case adds.
    """
    made: dict[str, Path] = {}

    def folder(name: str) -> Path:
        if name not in made:
            target = tmp_path_factory.mktemp(name) / "evidence"
            source = data / name / "evidence"
            if source.is_dir():
                shutil.copytree(source, target)
            else:  # an empty folder, or one filled by the shared samples alone
                target.mkdir()
            for sample in expected[name].get("shared_samples", []):
                shutil.copy(SAMPLES / sample, target / Path(sample).name)
            made[name] = target
        return made[name]

    return folder


def diagnoses(evidence: Callable[[str], Path], expected: dict[str, Any]) -> Callable[[str], Answer]:
    """A function giving ``diagnose --json`` of each case, run once (on its one file for a ``single_file`` case)."""
    answers: dict[str, Answer] = {}

    def answer(name: str) -> Answer:
        if name not in answers:
            target = evidence(name) / expected[name].get("single_file", "")
            answers[name] = run("diagnose", str(target), "--json")
        return answers[name]

    return answer


def follows_the_contract(answer: Answer) -> None:
    """Assert that a ``diagnose --json`` answer succeeded and follows the contract."""
    code, out, err = answer
    assert code == 0, f"exit {code}: {err}"
    assert "Traceback" not in err, err
    problems = contract_problems(json.loads(out))
    assert not problems, "\n".join(problems)


def times_after(out: str, end: datetime) -> list[str]:
    """The times in an answer later than the evidence ends: they can only come from the wall clock."""
    return sorted({m.group(0) for m in ANY_TIME.finditer(out) if when(m.group(0)) > end})


def matches_what_aws_did(answer: Answer, case: dict[str, Any],
                         expectation_problems: Callable[[dict[str, Any], dict[str, Any]], list[str]]) -> None:
    """Assert that every expected flow log, and no other, is diagnosed as the case's ``expected.json`` says."""
    code, out, err = answer
    assert code == 0, f"exit {code}: {err}"
    got = {entry["flow_log_id"]: entry for entry in json.loads(out)["flow_logs"]}
    wanted = {entry["flow_log_id"]: entry for entry in case["flow_logs"]}
    problems = [f"flow logs {sorted(got)}, expected {sorted(wanted)}"] if set(got) != set(wanted) else []
    for flow_log_id, expected in wanted.items():
        if flow_log_id in got:
            problems += expectation_problems(got[flow_log_id], expected)
    assert not problems, case["description"] + "\n" + "\n".join(problems)


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
    """Where a ``diagnose --json`` document breaks docs/contracts.md's contract (keys, types, codes), one line each."""
    if not isinstance(document, dict) or set(document) != {"flow_logs"} or not isinstance(document["flow_logs"], list):
        return ["top level must be exactly {'flow_logs': [...]}"]
    problems: list[str] = []
    for entry in document["flow_logs"]:
        where = entry.get("flow_log_id", "?")
        if not ENTRY_KEYS <= set(entry) <= ENTRY_KEYS | set(ADDED_KEYS):
            problems.append(f"{where}: keys {sorted(set(entry) ^ ENTRY_KEYS)} differ from the contract")
            continue
        problems += [f"{where}: {key} {entry[key]!r}" for key, values in ADDED_KEYS.items()
                     if key in entry and entry[key] not in values]
        problems += [f"{where}: {key} is not a string" for key in ("flow_log_id", "status", "root_cause",
                                                                   "confidence") if not isinstance(entry[key], str)]
        problems += [f"{where}: {key} is neither a string nor null" for key in ("region", "account_id", "role_arn",
                                                                                "log_group")
                     if entry[key] is not None and not isinstance(entry[key], str)]
        if entry["status"] not in {"FAILED", "SUCCESS", "DELETED", "UNKNOWN"}:
            problems.append(f"{where}: status {entry['status']!r}")
        if entry["root_cause"] not in ROOT_CAUSES:
            problems.append(f"{where}: root_cause {entry['root_cause']!r} is not a docs/contracts.md code")
        if entry["confidence"] not in {"confirmed", "likely", "possible"}:
            problems.append(f"{where}: confidence {entry['confidence']!r}")
        problems += _time_problem(entry["failure_started"], f"{where}.failure_started")
        if entry["trigger"] is not None:
            problems += _event_problems(entry["trigger"], EVENT_KEYS, f"{where}.trigger")
        if entry["recovery"] is not None:
            problems += _event_problems(entry["recovery"], EVENT_KEYS | {"delivery_resumed", "lag_seconds"},
                                        f"{where}.recovery")
        remediation = entry.get("remediation") or {}
        owned = edits_aws_owned(remediation.get("commands") or [], entry.get("role_arn"))
        if owned:
            problems.append(f"{where}: the fix edits {owned}, which AWS owns")
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


# ---- the diagnosis, against what AWS did ----


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    """A policy document's statements (IAM accepts a single statement object too)."""
    found = document.get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


def listed(value: Any) -> list[str]:
    """A policy element that may be one string or a list of them, as a list."""
    return [value] if isinstance(value, str) else list(value or [])


def _covers(patterns: Any, value: str) -> bool:
    return any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in listed(patterns))


def _allows_stream_writes(document: dict[str, Any], group_arn: str) -> bool:
    """Does the policy allow CreateLogStream and PutLogEvents on a stream of the log group?"""
    stream = f"{group_arn}:log-stream:eni-0123456789abcdef0-all"
    granted = {action for statement in statements(document) if statement.get("Effect") == "Allow"
               and _covers(statement.get("Resource"), stream)
               for action in ("logs:CreateLogStream", "logs:PutLogEvents")
               if any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in listed(statement.get("Action")))}
    return len(granted) == 2


def _service_statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in statements(document) if s.get("Effect") == "Allow"
            and "vpc-flow-logs.amazonaws.com" in listed((s.get("Principal") or {}).get("Service"))
            and _covers(s.get("Action"), "sts:AssumeRole")]


def _condition_values(statement: dict[str, Any], key: str) -> list[str]:
    return [v for block in (statement.get("Condition") or {}).values() for k, values in block.items()
            if k.lower() == key.lower() for v in listed(values)]


def window_problem(value: str | None, window: dict[str, str], where: str) -> list[str]:
    """A problem unless ``value`` is a time between the window's ``not_before`` and ``not_after``."""
    if value is None or not when(window["not_before"]) <= when(value) <= when(window["not_after"]):
        return [f"{where}: {value}, expected between {window['not_before']} and {window['not_after']}"]
    return []


def failure_started_problems(entry: dict[str, Any], expected: dict[str, Any], where: str) -> list[str]:
    """``failure_started``: null when expected null, else in the expected window (or null where that may be)."""
    if "failure_started" not in expected:
        return []
    wanted, got = expected["failure_started"], entry["failure_started"]
    if wanted is None:
        return [] if got is None else [f"{where}: failure_started {got}, expected null"]
    if got is None and expected.get("failure_started_may_be_null"):
        return []
    return window_problem(got, wanted, f"{where}: failure_started")


def event_expectations(entry: dict[str, Any], expected: dict[str, Any], where: str) -> list[str]:
    """The trigger and recovery: the expected CloudTrail events, delivery resuming in its window, the lag."""
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
            problems += window_problem(got.get("delivery_resumed"), want["delivery_resumed"],
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


def finding_expectations(entry: dict[str, Any], expected: dict[str, Any], where: str) -> list[str]:
    """The findings: the confirmed one, those ruled out, none confirming what did not happen."""
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


def remediation_expectations(entry: dict[str, Any], expected: dict[str, Any], where: str) -> list[str]:
    """The remediation: commands where IAM is at fault, none when healthy, and what its documents allow."""
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
