"""The diagnosis of every flow log in an evidence folder: the ``diagnose --json`` contract of docs/contracts.md.

For each flow log: replay its role's history (:mod:`.history`), give every state an IAM verdict
(:mod:`.verdicts`), read the observed delivery signals into failure windows (:mod:`.observed`),
test every root cause (:mod:`.hypotheses`, with AWS's own AccessDenied words where the role's state
has holes: :mod:`.stated`), and name the confirmed cause that explains the window, the event that
triggered it, the event that ended it and the measured lag to resumed delivery.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from flowforensics.analysis.fixes import FlowLogFacts, fix_for
from flowforensics.analysis.gaps import read_gaps, unread_note
from flowforensics.analysis.history import UNREAD_SCPS_HOLE, role_history
from flowforensics.analysis.hypotheses import (
    GLOBAL_REGION,
    HYPOTHESES,
    IAM_CODES,
    Case,
    Outcome,
    collected_key_policy,
    last_worked,
    latent_cause,
    trail_missing,
)
from flowforensics.analysis.iam import cross_check, delivery_verdict, flow_log_arn, propose_fix
from flowforensics.analysis.iam.remediation import recommended_trust_policy
from flowforensics.analysis.observed import (
    SERVICE,
    Signal,
    corroborated,
    failure_windows,
    signals,
    subject_of,
)
from flowforensics.analysis.results import (
    Diagnosis,
    EventRef,
    Finding,
    FlowLogDiagnosis,
    Recovery,
    Remediation,
)
from flowforensics.analysis.stated import assume_role_refused, layer_trigger, session_calls
from flowforensics.analysis.verdicts import Target, Verdicts, scp_levels, verdicts
from flowforensics.errors import EvidenceError
from flowforensics.evidence.values import iso, text
from flowforensics.frames.iam_changes import UNKNOWN

# The causes the role's verdict decides (hypotheses._role_test).
ROLE_CAUSES = (*IAM_CODES, "role-deleted", "role-recreated")
# Lifecycle causes are proven by their own event, with or without delivery signals.
SELF_EVIDENT = ("flow-log-deleted", "log-group-deleted")


def _time(value: Any) -> Any:
    return value if value is not None and value == value else None


def _target(row: dict[str, Any]) -> Target | None:
    role_arn, log_group, region = text(row.get("role_arn")), text(row.get("log_group")), text(row.get("region"))
    account = text(row.get("account_id")) or (role_arn.split(":")[4] if role_arn else None)
    if not (role_arn and log_group and region and account):
        return None
    return Target(role_arn, log_group, region, account, flow_log_arn(flow_log_id=row["flow_log_id"], region=region, account_id=account))


def _flag(value: Any) -> bool | None:
    import pandas as pd

    return None if pd.isna(value) else bool(value)


def _span(evidence: Any, found: list[Signal]) -> tuple[Any, Any] | None:
    known = evidence.events["event_time"].dropna()
    times = [known.min(), known.max()] if len(known) else []
    times += [s.time for s in found if s.time is not None]
    return (min(times), max(times)) if times else None


def _reference(window: dict[str, Any] | None, subject: Any, verdict_table: Verdicts | None, created: Any = None) -> Any:
    if window is not None:
        return window["start"]
    if subject.status == "FAILED" or verdict_table is None:
        return None
    frame = verdict_table.frame
    allowed = [_flag(value) for value in frame["allowed"]]
    if allowed and allowed[-1] is not False and False in allowed:
        # Healthy now, with no delivery signal: the latest denial is the incident to explain, unless it
        # ended before the flow log existed (the role being set up denied it nothing).
        position = len(allowed) - 1 - allowed[::-1].index(False)
        ended = _time(frame["end"].iloc[position])
        if _time(created) is not None and ended is not None and ended <= created:
            return None
        return _time(frame["start"].iloc[position])
    return None


def _case(evidence: Any, row: dict[str, Any], subject: Any, history: Any, table: Any, found: list[Signal], window: Any) -> Case:
    reference = _reference(window, subject, table, row.get("created"))
    return Case(evidence, subject, row, history, table, found, window, reference, _span(evidence, found))


def _rank(outcome: Outcome, reference: Any) -> tuple[bool, bool, Any]:
    trigger = outcome.trigger
    when = _time(trigger["event_time"]) if trigger else None
    explains = when is not None and (reference is None or when <= reference)
    return explains, when is not None, when.value if when is not None else 0


def _choose(outcomes: list[Outcome], reference: Any) -> Outcome | None:
    confirmed = [o for o in outcomes if o.finding.verdict == "confirmed" and o.finding.code != "none"]
    return max(confirmed, key=lambda o: _rank(o, reference)) if confirmed else None


def _gap_findings(evidence: Any, code: str, region: str | None, *, besides: tuple[str, ...] = (), start: Any = None,
                  end: Any = None) -> list[Finding]:
    """The gaps that leave ``code`` unconfirmed, one inconclusive finding each.

    ``besides``: services it does not rest on; ``start``..``end``: when its evidence lies (from the
    change that triggered it to the failure it explains), so a read that failed outside that time
    leaves it proven.
    """
    hypothesis = next((h for h in HYPOTHESES if h.code == code), None)
    if hypothesis is None:
        return []
    regions = {None, GLOBAL_REGION if hypothesis.global_evidence else region, region}
    # The changes a global cause rests on are IAM's and Organizations', which CloudTrail logs in us-east-1.
    trail_regions = {None, GLOBAL_REGION} if hypothesis.global_evidence else regions
    findings = []
    for gap in read_gaps(evidence):
        if gap.service in besides or gap.service not in hypothesis.services:
            continue
        if gap.region in (trail_regions if gap.service == "cloudtrail" else regions) and gap.overlaps(start, end):
            findings.append(Finding("inconclusive", "inconclusive",
                                    f"{gap.operation} could not be read{gap.window()} ({gap.error_code}: {gap.error_message}), "
                                    f"so {code} cannot be confirmed", [f"manifest.json gaps: {gap.operation}"]))
    return findings


def _status(row: dict[str, Any], found: list[Signal], table: Verdicts | None) -> str:
    if _time(row.get("deleted")) is not None:
        return "DELETED"
    read = [s for s in found if s.signal == "deliver-logs-status"]
    timed = [s for s in found if s.time is not None and s.signal != "deliver-logs-status"]
    if read and read[-1].time is None:  # read at collection, the latest observation there is
        return "SUCCESS" if read[-1].ok else "FAILED"
    if read:  # DeliverLogsStatus as read, unless later signals say otherwise
        timed = [s for s in timed if read[-1].time is None or s.time > read[-1].time] or [read[-1]]
    if timed:
        return "SUCCESS" if timed[-1].ok else "FAILED"
    if table is not None and len(table.frame) and _flag(table.frame["allowed"].iloc[-1]) is False:
        return "FAILED"
    return "UNKNOWN"


# Why a flow log still delivers while the evidence's latest state refuses it, by root cause: until when
# the service keeps delivering (a trust policy is read only at AssumeRole, so a session lasts until it
# expires; IAM evaluates a session's permissions per request, and a role is deleted only once its policies
# are, AWS's DeleteConflict, so a deleted or replaced role's session has none at its next request).
LATENT_UNTIL: dict[str, str] = {
    **dict.fromkeys(("trust-missing-service", "trust-condition-mismatch"),
                    "the service still delivers with the session it assumed before the change, and fails when "
                    "that session expires and it must assume the role again"),
    **dict.fromkeys(("role-deleted", "role-recreated"),
                    "the role's policies went with the old role and AWS evaluates a session's permissions on every "
                    "delivery request, so the next delivery is refused; DeliverLogsStatus has not shown it yet"),
    **dict.fromkeys(("permission-missing", "explicit-deny", "boundary-deny", "scp-deny"),
                    "AWS evaluates these policies on every delivery request, so the next delivery is refused; "
                    "DeliverLogsStatus has not shown it yet"),
    "kms-key-denied": "CloudWatch Logs is refused the key at its next data-key request",
}


def _latent(case: Case) -> Outcome | None:
    """The cause that will stop a flow log still delivering, from the evidence's latest state (None: none will).

    ``case`` has no failure window: its hypotheses judge the latest state. The role's latest state
    refusing delivery comes first, then a KMS key policy CloudWatch Logs may not use.
    """
    code = latent_cause(case)
    if code is None:
        kms = next(h for h in HYPOTHESES if h.code == "kms-key-denied").run(case)
        confirmed = kms.finding.verdict == "confirmed" and kms.recovery is None
        return replace(kms, confidence="confirmed") if confirmed else None
    outcome = next(h for h in HYPOTHESES if h.code == code).run(case)
    if outcome.finding.verdict != "confirmed":
        # No event shows the change: the documents as collected alone say the role refuses delivery.
        row = case.row(case.intervals[-1].first)
        source = case.history.anchor or "cloudtrail"
        outcome = Outcome(Finding(code, "confirmed", f"the role as collected ({source}) refuses delivery: {row['reason']}; "
                                                     f"{trail_missing(case)}, or when", [source]))
    return replace(outcome, recovery=None, confidence="confirmed" if case.history.anchor else "likely")


def _at_risk(outcome: Outcome, outcomes: list[Outcome], case: Case) -> tuple[Outcome, list[Finding]]:
    """The latent cause's outcome with the at-risk sentence, and the findings with it in place of its hypothesis's."""
    code = outcome.finding.code
    working = [s for s in case.signals if s.ok]
    at_risk = replace(outcome, finding=replace(outcome.finding, summary=f"{outcome.finding.summary}; delivery still "
                                               f"works at the latest observation, so the flow log is at risk: {LATENT_UNTIL[code]}"))
    findings = []
    for tried in outcomes:
        finding = tried.finding
        if finding.code == code:
            finding = at_risk.finding
        elif finding.code == "none" and finding.verdict == "confirmed":
            finding = Finding("none", "ruled_out", f"{len(working)} signals show delivery working, but the evidence's "
                                                   f"latest state refuses it ({code}): it is at risk", finding.evidence)
        findings.append(finding)
    return at_risk, findings


def _state(status: str, failed_before: bool, at_risk: bool, undecided: bool = False) -> str:
    """The flow log's state (a key of :data:`~flowforensics.analysis.results.STATES`).

    ``undecided``: documents that decide whether delivery keeps working could not be read, and what
    was read does not decide it either.
    """
    if status in ("FAILED", "DELETED"):
        return "failing"
    if status != "SUCCESS" or undecided:
        return "unknown"
    if at_risk:
        return "at-risk"
    return "recovered" if failed_before else "healthy"


def _unread_now(case: Case, keys: set[str]) -> tuple[list[str], list[str]]:
    """Why the latest state cannot say whether delivery keeps working, and the gaps that made it so.

    The role's latest state is undecided (no known document refuses delivery, an unknown one could)
    where reads of its documents failed; a KMS key of the log group whose policy could not be read
    leaves CloudWatch Logs' use of it undecided. Documents merely not collected are no gap.
    """
    reasons: list[str] = []
    cited: list[str] = []
    history = case.history
    if case.intervals and case.intervals[-1].allowed is None and history is not None and history.unread:
        reasons += case.verdicts.states[-1].holes
        cited += [gap.operation for gap in history.unread]
    if keys and collected_key_policy(case.evidence, keys) is None:
        ids = {key.rsplit("/", 1)[-1] for key in keys}
        for gap in read_gaps(case.evidence):
            named = text(gap.parameters.get("KeyId"))
            if gap.operation == "kms:GetKeyPolicy" and gap.region in (case.subject.region, None) and (
                    named is None or named.rsplit("/", 1)[-1] in ids):
                reasons.append(unread_note(gap))
                cited.append(gap.operation)
    return list(dict.fromkeys(reasons)), list(dict.fromkeys(cited))


def _recovery(outcome: Outcome, found: list[Signal], window: Any) -> Recovery | None:
    event = outcome.recovery
    if event is None:
        return None
    when = event["event_time"]
    if window is not None and _time(window["end"]) is not None and when > window["end"]:
        return None  # delivery came back before this event: it did not end the failure
    ended = _time(window["end"]) if window is not None else None
    resumed = ended if ended is not None and ended >= when else next(
        (s.time for s in found if s.ok and s.time is not None and s.time >= when), None
    )
    return Recovery(event["event_id"], event["event_name"], iso(when.to_pydatetime()), text(event["actor"]),
                    iso(resumed.to_pydatetime()) if resumed is not None else None,
                    (resumed - when).total_seconds() if resumed is not None else None)


def _confidence(code: str, outcome: Outcome | None, window: Any, found: list[Signal], case: Case) -> str:
    if outcome is None:
        return "confirmed" if code == "none" and any(s.ok for s in found) else "possible"
    if code in SELF_EVIDENT or code == "rate-limited":
        return "confirmed"
    if outcome.confidence is not None:
        return outcome.confidence
    trigger_time = outcome.trigger["event_time"] if outcome.trigger else None
    if window is None or trigger_time is None or trigger_time > window["start"]:
        return "likely"
    interval = case.interval_at(trigger_time)
    position = case.intervals.index(interval) if interval in case.intervals else 0
    known_before = position > 0 and case.intervals[position - 1].allowed is True
    worked_before = any(s.ok and s.time is not None and s.time <= trigger_time for s in found)
    return "confirmed" if known_before or worked_before else "likely"


def _role_inputs(current: Any, target: Target, identity: list[tuple[str, Any]]) -> dict[str, Any]:
    """The evaluator's inputs for the role in state ``current``, with ``identity`` as its identity policies."""
    role = current.role
    boundary = current.boundary()
    return {
        "role_arn": target.role_arn,
        "trust_policy": ("trust policy", role.trust_policy),
        "identity_policies": [(label.removeprefix("inline:"), doc) for label, doc in identity],
        "permissions_boundary": (role.permissions_boundary_arn, boundary) if boundary not in (None, UNKNOWN) else None,
        "scp_levels": scp_levels(current),
        "log_group": target.log_group,
        "region": target.region,
        "account_id": target.account_id,
        "flow_log_arn": target.flow_log_arn,
        "partition": target.partition,
    }


def _propose(current: Any, target: Target, identity: list[tuple[str, Any]]) -> Remediation | None:
    """The proven fix of the role in state ``current``, with ``identity`` as its identity policies."""
    return propose_fix(
        **_role_inputs(current, target, identity),
        policy_versions={
            arn: [version for version in policy.versions if version != policy.default_version]
            for arn, policy in current.state.managed.items()
            if policy.exists and policy.all_versions_known
        },
    )


def _detach_the_trigger(current: Any, target: Target, outcome: Outcome, case: Case) -> tuple[Remediation | None, str]:
    """AWS says an identity policy denies, the known ones do not: detach the one the trigger attached.

    Proven only when that policy is the one document the evidence lacks, and the role's remaining
    known documents allow delivery (or have a proven fix).
    """
    known, unknown = _identity_split(current)
    trigger = outcome.trigger
    if len(current.holes()) != len(unknown) or trigger is None or trigger["event_name"] != "AttachRolePolicy":
        return None, ""
    events = case.history.events
    request = events.loc[events["event_id"] == trigger["event_id"], "request"]
    arn = request.iloc[0].get("policyArn") if len(request) and isinstance(request.iloc[0], Mapping) else None
    if arn is None or unknown != [arn] or arn not in current.role.attached_policy_arns:
        return None, ""
    detach = f"aws iam detach-role-policy --role-name {shlex.quote(current.role_name)} --policy-arn {shlex.quote(arn)}"
    if delivery_verdict(**_role_inputs(current, target, known)).allowed:
        return Remediation(commands=[detach]), ""
    rest = _propose(current, target, known)
    return (Remediation(rest.permissions_policy, rest.trust_policy, [detach, *rest.commands]), "") if rest else (None, "")


def _grant_beside_the_unknown(current: Any, target: Target, outcome: Outcome, case: Case) -> tuple[Remediation | None, str]:
    """AWS says no identity-based policy allows the refused call: grant beside the unseen policies.

    AWS evaluates explicit denies, then SCPs, before identity policies (IAM User Guide, policy
    evaluation logic), so these words say no policy denied explicitly and the SCPs allowed: a grant
    beside the unseen identity documents does not depend on what they hold. The words do not clear
    the permissions boundary (AWS names one policy type when several refuse): an unseen one must be
    unchanged since delivery last worked. An unseen trust must have admitted the service, as the
    role's own refused session shows.
    """
    known, _unknown = _identity_split(current)
    role, boundary = current.role, current.boundary()
    reasons = ["they say no policy denied explicitly and the service control policies allowed (AWS evaluates "
               "them before identity policies), so the least-privilege policy beside the role's unseen identity "
               "policies restores delivery whatever they hold"]
    trust = role.trust_policy
    if trust is UNKNOWN:
        calls = session_calls(case.evidence, case.window)
        if not calls or assume_role_refused(case.window):
            return None, ""
        trust = recommended_trust_policy(account_id=target.account_id, region=target.region, partition=target.partition)
        reasons.append(f"the trust admitted {SERVICE} (the role's own session made the refused calls)")
    if boundary is UNKNOWN or (boundary is None and not role.complete):  # unseen, or perhaps one unseen
        start = case.window["start"] if case.window is not None else None
        worked = last_worked(case, start) if start is not None else None
        if worked is None or layer_trigger(case.history, "boundary", before=start, after=worked) is not None:
            return None, ""
        boundary = None
        reasons.append(f"any permissions boundary is unchanged since delivery last worked at {iso(worked.to_pydatetime())}")
    inputs = _role_inputs(current, target, known)
    inputs["trust_policy"] = ("trust policy", trust)
    inputs["permissions_boundary"] = (role.permissions_boundary_arn, boundary) if boundary not in (None, UNKNOWN) else None
    fix = propose_fix(**inputs)
    return fix, ("the fix rests on AWS's own words: " + "; ".join(reasons)) if fix is not None and len(reasons) > 1 else ""


def _identity_split(current: Any) -> tuple[list[tuple[str, Any]], list[str]]:
    """The role's identity policies the evidence shows (label, document), and the labels of those it does not."""
    policies = current.identity_policies()
    return [(label, doc) for label, doc in policies if doc is not UNKNOWN], [label for label, doc in policies if doc is UNKNOWN]


# Root cause confirmed by AWS's words on a state with holes -> its fix, proven without what is unseen,
# and a sentence saying what the proof rests on (empty when the known documents alone prove it).
STATED_FIXES: dict[str, Callable[[Any, Target, Outcome, Case], tuple[Remediation | None, str]]] = {
    "explicit-deny": _detach_the_trigger,
    "permission-missing": _grant_beside_the_unknown,
}


def _iam_fix(history: Any, target: Target | None, outcome: Outcome | None, case: Case) -> tuple[Remediation | None, str]:
    """The proven IAM fix of the role as it is now, and what it rests on beyond the evaluation (or "")."""
    if history is None or target is None:
        return None, ""
    current = history.snapshots[-1]
    if not current.role.exists:
        return None, ""
    holes = current.holes()
    if not holes:
        return _propose(current, target, current.identity_policies()), ""
    if not [hole for hole in holes if hole != UNREAD_SCPS_HOLE and hole not in current.unread]:
        # Only the SCPs are unknown (their read was refused): the fix of the role is proven on the rest, and said so.
        unread = "; ".join(gap.said() for gap in history.unread if gap.service == "organizations")
        return _propose(current, target, current.identity_policies()), (
            f"the fix is proven on the documents read; the service control policies could not be read ({unread}): "
            "one that denies a delivery action would still refuse it")
    fix = STATED_FIXES.get(outcome.finding.code) if outcome is not None and outcome.stated is not None else None
    # No fix is proven on a state the evidence does not fully show, unless AWS's words prove it.
    return fix(current, target, outcome, case) if fix is not None else (None, "")


def _keys(evidence: Any, subject: Any) -> set[str]:
    """The KMS keys of the flow log's log group, as collected."""
    groups = evidence.log_groups
    return set(groups.loc[groups["log_group"] == subject.log_group, "kms_key_id"].dropna()) if subject.log_group else set()


def _facts(evidence: Any, row: dict[str, Any], subject: Any) -> FlowLogFacts:
    keys = _keys(evidence, subject)
    key_policy = collected_key_policy(evidence, keys)
    return FlowLogFacts(
        flow_log_id=row["flow_log_id"],
        region=subject.region,
        account_id=text(row.get("account_id")),
        role_arn=subject.role_arn,
        log_group=subject.log_group,
        resource_id=text(row.get("resource_id")),
        traffic_type=text(row.get("traffic_type")),
        log_format=text(row.get("log_format")),
        kms_key_id=key_policy[0] if key_policy else (next(iter(keys)) if len(keys) == 1 else None),
        key_policy=key_policy[1] if key_policy else None,
    )


def diagnose_flow_log(evidence: Any, row: dict[str, Any], *, start: Any = None, end: Any = None) -> FlowLogDiagnosis:
    """Diagnose one flow log (one row of the ``flow_logs`` frame); see :func:`diagnose`."""
    subject = subject_of(evidence, row)
    target = _target(row)
    history = role_history(evidence, subject.role_arn, until=end) if subject.role_arn else None
    table = verdicts(history, target) if history is not None and target is not None else None
    found = [s for s in signals(evidence, subject) if s.time is None or ((start is None or s.time >= start) and (end is None or s.time <= end))]
    windows = [window for window in failure_windows(found).to_dict("records") if corroborated(window, found)]
    # The window to diagnose: the latest one a cause explains (earlier ones may be flaps), else the latest.
    cases = [_case(evidence, row, subject, history, table, found, window) for window in reversed(windows)] or [
        _case(evidence, row, subject, history, table, found, None)
    ]
    selected = None
    for candidate in cases:
        tried = [hypothesis.run(candidate) for hypothesis in HYPOTHESES]
        best = _choose(tried, candidate.reference)
        selected = selected or (candidate, tried, best)
        if best is not None and _rank(best, candidate.reference)[0]:
            selected = (candidate, tried, best)
            break
    case, outcomes, chosen = selected
    status = _status(row, found, table)
    latent = _latent(_case(evidence, row, subject, history, table, found, None)) if status == "SUCCESS" else None
    if latent is not None:
        # Still delivering, but what the evidence shows now refuses it: that cause, not the past window's.
        case = _case(evidence, row, subject, history, table, found, None)
        chosen, findings = _at_risk(latent, [hypothesis.run(case) for hypothesis in HYPOTHESES], case)
    else:
        findings = [outcome.finding for outcome in outcomes]
    window = case.window
    code = chosen.finding.code if chosen is not None else None
    # A cause the collected documents show does not rest on CloudTrail: its gaps leave only the trigger unknown.
    documented = ("cloudtrail",) if latent is not None and (latent.trigger is None or latent.confidence == "confirmed") else ()
    if latent is not None and latent.trigger is not None and documented:
        # The documents as collected prove the cause; CloudTrail unread after the change leaves open only
        # whether that change was the last one: the trigger is likely, not confirmed.
        since = _time(latent.trigger["event_time"])
        if _gap_findings(evidence, code, subject.region, start=since):
            latent = replace(latent, confidence="likely")
    if code in ROLE_CAUSES:
        # The role's verdict already counts its unread documents as unknown (history.role_reads): a cause it
        # confirms holds whatever they say.
        documented += ("iam", "organizations")
    # The cause's evidence lies from its trigger to the failure it explains (the latest state when none).
    since = chosen.trigger["event_time"] if chosen is not None and chosen.trigger else None
    gaps = _gap_findings(evidence, code, subject.region, besides=documented, start=_time(since),
                         end=case.reference) if code else []
    if gaps:
        findings += gaps
        chosen, code = None, "inconclusive"
    elif code is None:
        none = next(o for o in outcomes if o.finding.code == "none")
        code = "none" if none.finding.verdict == "confirmed" else "inconclusive"
    if code == "inconclusive" and not gaps:
        missing = [f.summary for f in findings if f.verdict == "inconclusive"]
        findings.append(Finding("inconclusive", "inconclusive",
                                "no root cause is confirmed: " + ("; ".join(dict.fromkeys(missing)) or "the evidence shows no failure cause"),
                                []))
    latest = _case(evidence, row, subject, history, table, found, None)
    unread_now, cited = _unread_now(latest, _keys(evidence, subject)) if status == "SUCCESS" and latent is None else ([], [])
    if unread_now:
        findings.append(Finding("inconclusive", "inconclusive",
                                "delivery works at the latest observation, but whether it keeps working (or is at risk) is "
                                f"undecided: {'; '.join(unread_now)}", [f"manifest.json gaps: {operation}" for operation in cited]))
    if table is not None and len(table.frame) and table.states[-1].verdict is not None:
        findings += cross_check(evidence.simulations, table.states[-1].verdict)
    trigger = chosen.trigger if chosen is not None else None
    started = window["start"] if window is not None else (trigger["event_time"] if trigger else None)
    if code == "flow-log-deleted" or latent is not None:
        started = None  # delivery did not fail: the flow log stopped existing, or has not failed yet
    # A flow log delivering again needs no fix, unless it is at risk; "none" has nothing to fix.
    needs_fix = code != "none" and (status != "SUCCESS" or latent is not None)
    iam_fix, basis = _iam_fix(history, target, chosen, case) if needs_fix else (None, "")
    if basis and chosen is not None:
        findings = [replace(f, summary=f"{f.summary}; {basis}") if f is chosen.finding else f for f in findings]
    recovery = _recovery(chosen, found, window) if chosen is not None else None
    failure_started = iso(started.to_pydatetime()) if _time(started) is not None else None
    return FlowLogDiagnosis(
        flow_log_id=row["flow_log_id"],
        region=subject.region,
        account_id=text(row.get("account_id")) or (target.account_id if target else None),
        role_arn=subject.role_arn,
        log_group=subject.log_group,
        status=status,
        root_cause=code,
        confidence=latent.confidence if latent is not None and code == latent.finding.code else _confidence(code, chosen, window, found, case),
        failure_started=failure_started,
        trigger=EventRef(trigger["event_id"], trigger["event_name"], iso(trigger["event_time"].to_pydatetime()), text(trigger["actor"]))
        if trigger
        else None,
        recovery=recovery,
        findings=findings,
        remediation=fix_for(code, _facts(evidence, row, subject), iam_fix) if needs_fix else Remediation(),
        state=_state(status, failure_started is not None or recovery is not None, latent is not None, bool(unread_now)),
    )


def diagnose(evidence: Any, flow_log_id: str | None = None, *, start: Any = None, end: Any = None) -> Diagnosis:
    """Diagnose the flow logs of an evidence folder.

    Parameters
    ----------
    evidence : Evidence
        Loaded evidence (:func:`flowforensics.load`).
    flow_log_id : str, optional
        Diagnose only this flow log.
    start, end : datetime-like, optional
        Consider delivery signals in this range only; ``end`` also ignores later CloudTrail events.

    Returns
    -------
    Diagnosis
        One entry per flow log, shaped as the ``diagnose --json`` contract.

    Raises
    ------
    flowforensics.errors.EvidenceError
        When ``flow_log_id`` is not in the evidence.
    """
    import pandas as pd

    start = pd.Timestamp(start, tz="UTC") if start is not None and pd.Timestamp(start).tzinfo is None else (pd.Timestamp(start) if start is not None else None)
    end = pd.Timestamp(end, tz="UTC") if end is not None and pd.Timestamp(end).tzinfo is None else (pd.Timestamp(end) if end is not None else None)
    flow_logs = evidence.flow_logs
    if flow_log_id is not None:
        flow_logs = flow_logs[flow_logs["flow_log_id"] == flow_log_id]
        if not len(flow_logs):
            raise EvidenceError(evidence.path, f"no flow log {flow_log_id} in this evidence")
    rows = flow_logs.astype(object).where(flow_logs.notna(), None).to_dict("records")
    return Diagnosis([diagnose_flow_log(evidence, row, start=start, end=end) for row in rows])
