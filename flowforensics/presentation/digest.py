"""The diagnosis as an analyst reads it in ten seconds: the lines ``flowforensics diagnose`` prints.

For one flow log: its state, the cause with its meaning, the trigger, the recovery, the fix; then the
hypotheses ruled out on one line, and those the evidence cannot decide grouped by their one reason with
what would decide them (:data:`DECIDE`: the ``collect`` run or the AWS CLI command). For several flow
logs: which were found, in what state, and how to pick one. ``verbose`` keeps every finding in full.
Every value taken from evidence goes through :func:`~flowforensics.presentation.terminal.for_terminal`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import Any

from flowforensics.analysis.root_causes import ROOT_CAUSES
from flowforensics.presentation.terminal import for_terminal as shown

IAM = ("trust-missing-service", "trust-condition-mismatch", "permission-missing", "explicit-deny", "boundary-deny",
       "role-deleted", "role-recreated")


def _role(entry: Any) -> str:
    return shlex.quote((entry.role_arn or "ROLE").rsplit("/", 1)[-1])


def _region(entry: Any) -> str:
    return shlex.quote(entry.region or "REGION")


def _group(entry: Any) -> str:
    return shlex.quote(entry.log_group or "LOG_GROUP")


# Root cause -> the read that would decide it, as an AWS CLI command of the flow log (read-only calls only).
DECIDE: dict[str, Callable[[Any], str]] = {
    **dict.fromkeys(IAM, lambda e: f"aws iam get-account-authorization-details --filter Role LocalManagedPolicy, and "
                                   f"aws cloudtrail lookup-events --region us-east-1 --lookup-attributes "
                                   f"AttributeKey=ResourceName,AttributeValue={_role(e)}"),
    "scp-deny": lambda e: f"aws organizations list-policies-for-target --target-id {shlex.quote(e.account_id or 'ACCOUNT')} "
                          "--filter SERVICE_CONTROL_POLICY (from the management account), then describe-policy",
    "log-group-deleted": lambda e: f"aws logs describe-log-groups --region {_region(e)} --log-group-name-prefix {_group(e)}",
    "kms-key-denied": lambda e: f"aws logs describe-log-groups --region {_region(e)} --log-group-name-prefix {_group(e)}, "
                                "then aws kms get-key-policy --key-id KEY --policy-name default",
    "rate-limited": lambda e: f"aws ec2 describe-flow-logs --region {_region(e)} --flow-log-ids {shlex.quote(e.flow_log_id)}",
    "flow-log-deleted": lambda e: f"aws ec2 describe-flow-logs --region {_region(e)} --flow-log-ids {shlex.quote(e.flow_log_id)}",
    "none": lambda e: f"aws logs describe-log-streams --region {_region(e)} --log-group-name {_group(e)} "
                      "--order-by LastEventTime --descending",
}
STATE_WORDS = {"failing": "FAILING", "at-risk": "AT RISK", "recovered": "RECOVERED", "healthy": "HEALTHY",
               "unknown": "UNKNOWN"}
# "A on R is X; B on R is X": one clause of a long finding, per action.
_CLAUSE = re.compile(r"^(?P<prefix>.*?: )?(?P<action>[\w-]+:[\w*-]+) on (?P<resource>\S+) is (?P<rest>.+)$", re.DOTALL)
_EACH = "\x00"  # stands for the clause's own action while clauses are compared
_UNDECIDED = re.compile(r"^(the role's state (when delivery failed|now|at \S+) is unknown: |no root cause is confirmed: )")


def say_once(summary: str) -> str:
    """A finding's sentence with clauses that differ only by their action said once, the actions joined.

    ``logs:CreateLogStream on R is implicitly denied: ...; logs:PutLogEvents on R is implicitly denied: ...``
    becomes ``logs:CreateLogStream and logs:PutLogEvents on R are implicitly denied: ...``; clauses said
    twice are said once.
    """
    clauses = summary.split("; ")
    merged: list[list[Any]] = []  # [prefix, actions, resource, rest], or [clause, None, None, None]
    for clause in clauses:
        found = _CLAUSE.match(clause)
        if found is None:
            if [clause, None, None, None] not in merged:
                merged.append([clause, None, None, None])
            continue
        action, resource = found["action"], found["resource"]
        rest = found["rest"].replace(action, _EACH)  # a hint naming its own action says the same of each
        same = next((item for item in merged if item[1] is not None and item[2:] == [resource, rest]), None)
        if same is None:
            merged.append([found["prefix"] or "", [action], resource, rest])
        elif action not in same[1]:
            same[1].append(action)
    out = []
    for prefix, actions, resource, rest in merged:
        if actions is None:
            out.append(prefix)
        elif len(actions) == 1:
            out.append(f"{prefix}{actions[0]} on {resource} is {rest.replace(_EACH, actions[0])}")
        else:
            out.append(f"{prefix}{', '.join(actions[:-1])} and {actions[-1]} on {resource} are {rest.replace(_EACH, 'each')}")
    return "; ".join(out)


def _event(ref: Any) -> str:
    return f"{shown(ref.event_name)} by {shown(ref.actor) or 'an unknown principal'} at {shown(ref.event_time)} (event {shown(ref.event_id)})"


def _cited(finding: Any, limit: int = 3) -> str:
    if not finding.evidence:
        return ""
    more = f", +{len(finding.evidence) - limit} more" if len(finding.evidence) > limit else ""
    return f" [{', '.join(shown(item) for item in finding.evidence[:limit])}{more}]"


def headline(entry: Any) -> str:
    """One line for a flow log: AWS's status, root cause and confidence, the state and since when, the trigger."""
    line = (f"{shown(entry.flow_log_id)} {shown(entry.status)} {shown(entry.root_cause)} ({shown(entry.confidence)}): "
            f"{STATE_WORDS.get(entry.state, shown(entry.state))}")
    if entry.failure_started:
        line += f" since {shown(entry.failure_started)}"
    if entry.trigger:
        line += f"; trigger {shown(entry.trigger.event_name)} by {shown(entry.trigger.actor) or 'an unknown principal'}"
    return line


def _recovery(entry: Any) -> str:
    recovery = entry.recovery
    if recovery is None:
        return {"failing": "none yet: still failing", "at-risk": "not needed yet: apply the fix before delivery stops"}.get(
            entry.state, "none")
    lag = f", {recovery.lag_seconds:.0f} s after it" if recovery.lag_seconds is not None else ", not seen yet"
    return f"{_event(recovery)}; delivery resumed {shown(recovery.delivery_resumed) or 'n/a'}{lag}"


def _undecided(entry: Any) -> list[str]:
    """The inconclusive hypotheses grouped by their one reason, with what would decide them."""
    groups: dict[str, list[str]] = {}
    for finding in entry.findings:
        if finding.verdict == "inconclusive" and finding.code != "inconclusive":
            reason = _UNDECIDED.sub("", finding.summary)
            groups.setdefault(reason, []).append(finding.code)
    # Beside a decided root cause, an undecided finding of its own says what the evidence leaves open
    # (a delivering flow log whose documents could not be read), less what the groups below say; beside
    # "inconclusive" it repeats them.
    lines = []
    for finding in entry.findings:
        if finding.code == "inconclusive" and finding.verdict == "inconclusive" and entry.root_cause != "inconclusive":
            head, _, reasons = finding.summary.rpartition(" is undecided: ")
            new = [reason for reason in reasons.split("; ") if not any(reason in said for said in groups)]
            summary = f"{head} is undecided: {'; '.join(new) or 'see below'}" if head else finding.summary
            lines.append(f"  undecided  {shown(say_once(summary))}{_cited(finding)}")
    for reason, codes in groups.items():
        decide = list(dict.fromkeys(DECIDE[code](entry) for code in codes if code in DECIDE))
        lines.append(f"  undecided  {', '.join(codes)}: {shown(say_once(reason))}")
        lines += [f"             to decide: {shown(command)}" for command in decide]
    if groups:
        lines.append(f"             or collect everything for this flow log: flowforensics collect --region "
                     f"{shown(_region(entry))} --flow-log-id {shown(shlex.quote(entry.flow_log_id))} --out DIR")
    return lines


def digest(entry: Any) -> list[str]:
    """The ten-second summary of one flow log's diagnosis, as lines.

    Parameters
    ----------
    entry : FlowLogDiagnosis

    Returns
    -------
    list of str
        The headline; what the cause means and where the flow log delivers; the confirmed findings
        (each said once); trigger, recovery, fix; the ruled-out hypotheses on one line; the undecided
        ones grouped by reason with the command that would decide them.
    """
    cause = ROOT_CAUSES.get(entry.root_cause)
    lines = [headline(entry)]
    if cause is not None:
        lines.append(f"  cause      {shown(entry.root_cause)}: {cause.meaning}")
    lines.append(f"  delivers   role {shown(entry.role_arn) or 'unknown'} -> log group {shown(entry.log_group) or 'unknown'} "
                 f"({shown(entry.region) or 'region unknown'})")
    for finding in entry.findings:
        if finding.verdict == "confirmed" and finding.code != "inconclusive":
            lines.append(f"  confirmed  {shown(finding.code)}: {shown(say_once(finding.summary))}{_cited(finding)}")
    lines.append(f"  trigger    {_event(entry.trigger) if entry.trigger else 'none found in the evidence'}")
    lines.append(f"  recovery   {_recovery(entry)}")
    commands = entry.remediation.commands
    if commands:
        lines += [f"  fix        {shown(command)}" for command in commands]
    elif entry.state in ("failing", "at-risk"):
        lines.append("  fix        none proven from this evidence (see the undecided hypotheses below)")
    ruled_out = [finding.code for finding in entry.findings if finding.verdict == "ruled_out"]
    if ruled_out:
        lines.append(f"  ruled out  {', '.join(dict.fromkeys(ruled_out))} (--verbose says why)")
    lines += _undecided(entry)
    return lines


def full(entry: Any) -> list[str]:
    """Every finding in full (``--verbose``), after the ten-second summary."""
    lines = digest(entry) + ["  all findings:"]
    lines += [f"    {finding.verdict:12} {shown(finding.code)}: {shown(finding.summary)}{_cited(finding, len(finding.evidence))}"
              for finding in entry.findings]
    return lines


def fleet(entries: list[Any], evidence: str) -> list[str]:
    """Several flow logs: each one's headline, failing and at-risk first, and how to pick one."""
    order = {"failing": 0, "at-risk": 1, "unknown": 2, "recovered": 3, "healthy": 4}
    entries = sorted(entries, key=lambda e: (order.get(e.state, 9), e.flow_log_id))
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.state] = counts.get(entry.state, 0) + 1
    said = ", ".join(f"{count} {state}" for state, count in sorted(counts.items(), key=lambda item: order.get(item[0], 9)))
    lines = [f"{len(entries)} flow logs in this evidence ({said}):"]
    lines += [f"  {headline(entry)}" for entry in entries]
    pick = next((e for e in entries if e.state in ("failing", "at-risk")), entries[0])
    lines.append(f"The full diagnosis of one: flowforensics diagnose {shown(shlex.quote(evidence))} --flow-log-id "
                 f"{shown(pick.flow_log_id)}")
    return lines
