"""Rules every finding of a diagnosis must keep, as data: each is a name, the claim it checks, and its check.

A check takes one flow log's diagnosis (the ``diagnose --json`` entry), the loaded evidence and the
expected diagnosis (root cause, status and state; ``None`` where the case does not say), and returns
the breaches, one line each.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flowforensics
from flowforensics.analysis.diagnosis import diagnose

ABSENT = re.compile(r"role (\S+) does not exist")
AWS_NAMED = re.compile(r"allows the (\S+) action")
UNSEEN = "a policy the evidence does not show"
# A negative subject ("no policy", "nothing", "none of them") with a negated verb in the same clause:
# "no policy does not allow it" says the opposite of what it means.
NEGATIVE_SUBJECT = r"\b(?:no|none|nothing|nobody|neither)\b"
NEGATED_VERB = (r"\b(?:does|do|did|is|are|was|were|has|have|can|could|would|will|may|must)(?:\s+not|n't)\b"
                r"|\bcannot\b|\bnever\b")
DOUBLE_NEGATIVE = re.compile(rf"{NEGATIVE_SUBJECT}(?:\s+\S+){{0,8}}?\s+(?:{NEGATED_VERB})", re.IGNORECASE)
CLAUSE_BREAKS = re.compile(r"[;:,()]|\s(?:but|and|so|because|while|though|which|that|since|when|or)\s")
# The sources a finding may cite besides event ids and files: the kinds of output the frames were read from.
GAP_CITATION = "manifest.json gaps: "
STATE_STATUSES = {"failing": {"FAILED", "DELETED"}, "unknown": {"UNKNOWN", "SUCCESS"}, "at-risk": {"SUCCESS"},
                  "recovered": {"SUCCESS"}, "healthy": {"SUCCESS"}}


@dataclass(frozen=True)
class Context:
    """What a rule may look at: the evidence and the case's expected diagnosis of this flow log."""

    evidence: Any
    expected: dict[str, Any]


@dataclass(frozen=True)
class Rule:
    name: str
    claim: str
    check: Callable[[dict[str, Any], Context], list[str]]


def _role_events(evidence: Any, role_name: str, name: str) -> Any:
    events = evidence.events
    mask = (events["event_name"] == name) & events["error_code"].isna()
    return events[mask & events["request"].map(lambda r: isinstance(r, Mapping) and r.get("roleName") == role_name)]


def _collected_role(evidence: Any, role_name: str) -> bool:
    roles = evidence.roles
    return bool(((roles["role_name"] == role_name) & (roles["source"] != "cloudtrail")).any())


def _absent_roles(entry: dict[str, Any], context: Context) -> list[str]:
    problems = []
    for finding in entry["findings"]:
        for name in ABSENT.findall(finding["summary"]):
            deleted = len(_role_events(context.evidence, name, "DeleteRole"))
            if _collected_role(context.evidence, name) and not deleted:
                problems.append(f"{finding['code']}: says role {name} does not exist, the evidence holds it and no "
                                "DeleteRole")
    return problems


def _recreated(entry: dict[str, Any], context: Context) -> list[str]:
    role = (entry["role_arn"] or "").rsplit("/", 1)[-1]
    named = [f for f in entry["findings"] if "role-recreated" in f["summary"] or
             (f["code"] == "role-recreated" and f["verdict"] == "confirmed")]
    if not named:
        return []
    deletes = _role_events(context.evidence, role, "DeleteRole")["event_time"]
    creates = _role_events(context.evidence, role, "CreateRole")["event_time"]
    if len(deletes) and any(created > deletes.min() for created in creates):
        said = [f for f in named if f["verdict"] == "confirmed" and "does not exist" in f["summary"]]
        return [f"{f['code']}: a recreated role is said not to exist" for f in said]
    return [f"{f['code']}/{f['verdict']}: names role-recreated without a DeleteRole then CreateRole of {role}"
            for f in named]


def _unseen_policy(entry: dict[str, Any], context: Context) -> list[str]:
    problems = []
    for finding in entry["findings"]:
        summary = finding["summary"]
        if UNSEEN not in summary:
            continue
        for action in AWS_NAMED.findall(summary):
            if re.search(re.escape(action) + r" on \S+ is (implicitly|explicitly) denied", summary):
                problems.append(f"{finding['code']}: blames an unseen policy for {action}, which the shown ones refuse")
    return problems


def _double_negatives(entry: dict[str, Any], context: Context) -> list[str]:
    problems = []
    for finding in entry["findings"]:
        for clause in CLAUSE_BREAKS.split(finding["summary"]):
            found = DOUBLE_NEGATIVE.search(clause)
            if found:
                problems.append(f"{finding['code']}: a double negative: {found.group(0)!r}")
    return problems


def _citations(entry: dict[str, Any], context: Context) -> list[str]:
    evidence = context.evidence
    ids = set(evidence.events["event_id"].dropna())
    files = {str(f) for frame in evidence.frames.values() if "source_file" in frame for f in frame["source_file"].dropna()}
    sources = {str(s) for frame in evidence.frames.values() if "source" in frame for s in frame["source"].dropna()}
    gaps = {str(gap.get("operation")) for gap in evidence.gaps}
    problems = []
    for finding in entry["findings"]:
        for item in finding["evidence"]:
            known = item in ids or item in files or item in sources
            known = known or (item.startswith(GAP_CITATION) and item[len(GAP_CITATION):] in gaps)
            if not known:
                problems.append(f"{finding['code']}: cites {item!r}, which is not in the evidence")
    return problems


def _root_cause_kept(entry: dict[str, Any], context: Context) -> list[str]:
    cause = entry["root_cause"]
    verdicts = {}
    for finding in entry["findings"]:
        verdicts.setdefault(finding["code"], set()).add(finding["verdict"])
    if cause == "none":
        return [f"{code}: confirmed while the root cause is none" for code, seen in verdicts.items()
                if code != "none" and "confirmed" in seen]
    if cause == "inconclusive":
        return []
    problems = [] if "confirmed" in verdicts.get(cause, set()) else [f"{cause}: the root cause is not confirmed"]
    problems += [f"{cause}: ruled out, yet the root cause" for _ in verdicts.get(cause, set()) & {"ruled_out"}]
    problems += ["none: confirmed beside a root cause"] if "confirmed" in verdicts.get("none", set()) else []
    return problems


def _state(entry: dict[str, Any], context: Context) -> list[str]:
    state, status, cause = entry["state"], entry["status"], entry["root_cause"]
    problems = [] if status in STATE_STATUSES[state] else [f"state {state} with status {status}"]
    if state == "healthy" and cause != "none":
        problems.append(f"healthy with root cause {cause}")
    if state == "at-risk" and cause in ("none", "inconclusive"):
        problems.append(f"at risk without a cause ({cause})")
    undecided = [f for f in entry["findings"] if f["code"] == "inconclusive" and f["verdict"] == "inconclusive"
                 and "could not be read" in f["summary"]]
    if state == "unknown" and status == "SUCCESS" and not undecided:
        problems.append("unknown while delivering, without a finding saying what could not be read")
    return problems


def _expected(entry: dict[str, Any], context: Context) -> list[str]:
    return [f"{key} {entry[key]!r}, expected {value!r}" for key, value in context.expected.items()
            if value is not None and entry[key] != value]


RULES: tuple[Rule, ...] = (
    Rule("expected-diagnosis", "status, root cause and state are the case's expected ones", _expected),
    Rule("role-absent-only-when-deleted", "no finding says a role does not exist while the evidence holds it "
         "and shows no DeleteRole", _absent_roles),
    Rule("recreated-is-named-so", "role-recreated is named only after a DeleteRole then CreateRole, and a "
         "recreated role is not said not to exist", _recreated),
    Rule("unseen-policy-only-when-unexplained", "'a policy the evidence does not show' is blamed only for what "
         "the shown policies allow", _unseen_policy),
    Rule("no-double-negative", "no clause of a finding has a negative subject with a negated verb ('no policy "
         "does not allow it')", _double_negatives),
    Rule("citations-exist", "every evidence item a finding cites is in the evidence", _citations),
    Rule("root-cause-not-contradicted", "the root cause's finding is confirmed, never ruled out, and no other "
         "finding confirms a healthy flow log", _root_cause_kept),
    Rule("state-matches-status", "the state agrees with AWS's status and the root cause", _state),
)


def breaches(entry: dict[str, Any], context: Context) -> list[str]:
    """Every rule's breaches for one flow log's diagnosis, each prefixed with the rule's name."""
    return [f"{rule.name}: {problem}" for rule in RULES for problem in rule.check(entry, context)]


def diagnosed(folder: Path) -> Any:
    """The diagnosis of the one flow log in ``folder``, every finding of it checked against the rules."""
    evidence = flowforensics.load(folder)
    result = diagnose(evidence)
    (entry,) = result.flow_logs
    assert not breaches(result.to_dict()["flow_logs"][0], Context(evidence, {}))
    return entry
