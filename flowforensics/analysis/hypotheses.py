"""The differential diagnosis: every root cause of docs/contracts.md is a hypothesis, tested on the evidence.

:data:`HYPOTHESES` is the table: one entry per root-cause code, with its test and the evidence
sources (``service``, region) whose collection gaps leave it undecided. A test returns an
:class:`Outcome`: a :class:`~flowforensics.analysis.results.Finding` (``confirmed``, ``ruled_out`` or
``inconclusive``, with event ids and files an auditor can re-check) and, when confirmed, the event
that triggered the failure and the one that ended it.
"""

from __future__ import annotations

from collections.abc import Callable, Set
from dataclasses import dataclass, field
from typing import Any

from flowforensics.analysis.cache import per_evidence
from flowforensics.analysis.gaps import Gap, missing, unread
from flowforensics.analysis.history import RoleHistory
from flowforensics.analysis.observed import ERROR_SIGNALS, SERVICE, THROTTLED, Signal, Subject
from flowforensics.analysis.results import Finding
from flowforensics.analysis.stated import (
    LAYER_NAMES,
    TRUST_CODES,
    StatedDenial,
    assume_role_refused,
    layer_trigger,
    session_calls,
    stated_denial,
)
from flowforensics.analysis.verdicts import Verdicts
from flowforensics.evidence.records import parsed
from flowforensics.evidence.values import by, to_second

GLOBAL_REGION = "us-east-1"  # IAM and Organizations log their events here
MITRE = "defense evasion, MITRE ATT&CK T1562.008 (Impair Defenses: Disable or Modify Cloud Logs)"
IAM_CODES = ("trust-missing-service", "trust-condition-mismatch", "permission-missing", "explicit-deny", "boundary-deny", "scp-deny")
# KMS events on the log group's key: eventName -> whether it leaves CloudWatch Logs able to use the key
# (None: it depends on the key policy the event puts in place).
KMS_CHANGES: dict[str, bool | None] = {
    "PutKeyPolicy": None,
    "DisableKey": False,
    "ScheduleKeyDeletion": False,
    "EnableKey": True,
    "CancelKeyDeletion": True,
}
LOG_GROUP_KMS_CHANGES: dict[str, bool] = {"AssociateKmsKey": False, "DisassociateKmsKey": True}
# LogDestinationType -> the parts of a CloudWatch Logs destination it does not have (EC2 API
# reference, CreateFlowLogs: a flow log publishing to S3 has no DeliverLogsPermissionArn nor LogGroupName).
DESTINATIONS_WITHOUT: dict[str, tuple[str, ...]] = {"s3": ("delivery role", "log group")}
# The failure signals of a call refused for another reason than throttling.
REFUSALS = tuple(dict.fromkeys(signal for _word, signal in ERROR_SIGNALS if signal != "rate-limited"))
DESCRIBE = "ec2:DescribeFlowLogs"  # the one read that gives DeliverLogsStatus and DeliverLogsErrorMessage


@dataclass
class Interval:
    """Consecutive role states with the same verdict (rows ``first``..``last`` of the verdicts frame)."""

    allowed: bool | None
    first: int
    last: int


@dataclass
class Case:
    """Everything the hypotheses test, for one flow log.

    Attributes
    ----------
    evidence : Evidence
    subject : Subject
        The flow log, its role, log group and last read status.
    flow_log : dict
        Its ``flow_logs`` row.
    history, verdicts : RoleHistory or None, Verdicts or None
        The role's replayed history and its verdicts (None when the role is unknown).
    signals : list of Signal
    window : dict or None
        The failure window diagnosed (``start``, ``end``, ``signals``).
    reference : pandas.Timestamp or None
        The moment the cause must explain: the window's start, else the latest state.
    span : (pandas.Timestamp, pandas.Timestamp) or None
        The time range the evidence covers, for sentences about what is missing.
    """

    evidence: Any
    subject: Subject
    flow_log: dict[str, Any]
    history: RoleHistory | None
    verdicts: Verdicts | None
    signals: list[Signal]
    window: dict[str, Any] | None
    reference: Any
    span: tuple[Any, Any] | None
    intervals: list[Interval] = field(default_factory=list)

    def __post_init__(self) -> None:
        import pandas as pd

        if self.verdicts is not None:
            for position, allowed in enumerate(self.verdicts.frame["allowed"].astype(object)):
                allowed = None if pd.isna(allowed) else bool(allowed)
                if self.intervals and self.intervals[-1].allowed == allowed:
                    self.intervals[-1].last = position
                else:
                    self.intervals.append(Interval(allowed, position, position))

    def between(self) -> str:
        """``between A and B`` for the evidence's time range."""
        if self.span is None:
            return "in the evidence"
        return f"between {to_second(self.span[0])} and {to_second(self.span[1])}"

    def row(self, position: int) -> dict[str, Any]:
        """Row ``position`` of the verdicts frame, as a dict."""
        return self.verdicts.frame.iloc[position].to_dict()

    def position_at(self, when: Any) -> int | None:
        """The row of the verdicts frame in force at ``when`` (the latest one when ``when`` is None)."""
        if self.verdicts is None or not len(self.verdicts.frame):
            return None
        starts = list(self.verdicts.frame["start"])
        if when is None:
            return len(starts) - 1
        return max([0] + [index for index, start in enumerate(starts) if start == start and start is not None and start <= when])

    def interval_at(self, when: Any) -> Interval | None:
        """The verdict interval in force at ``when`` (the latest one when ``when`` is None)."""
        if not self.intervals:
            return None
        if when is None:
            return self.intervals[-1]
        starts = self.verdicts.frame["start"]
        found = self.intervals[0]
        for interval in self.intervals[1:]:
            start = starts.iloc[interval.first]
            if start == start and start <= when:
                found = interval
        return found

    def events(self, source: str, names: Any) -> Any:
        """Successful events of ``source`` named in ``names``, in the flow log's region."""
        return successful_events(self.evidence, source, names, self.subject.region)


def successful_events(evidence: Any, source: str, names: Any, region: str | None) -> Any:
    """Successful events of ``source`` named in ``names``, in ``region`` when it is known."""
    events = evidence.events
    mask = (events["event_source"] == source) & events["event_name"].isin(list(names)) & events["error_code"].isna()
    if region:
        mask &= events["region"] == region
    return events[mask]


@dataclass
class Outcome:
    """The result of one hypothesis: its finding, and the trigger and recovery events when confirmed.

    ``confidence`` is set when the test itself bounds it (``likely`` when AWS's words, not the
    evaluator, confirm the cause); ``stated`` holds those words.
    """

    finding: Finding
    trigger: dict[str, Any] | None = None
    recovery: dict[str, Any] | None = None
    confidence: str | None = None
    stated: StatedDenial | None = None



def with_request(events: Any, predicate: Callable[[dict[str, Any]], bool]) -> Any:
    """The events whose parsed ``requestParameters`` satisfy ``predicate``."""
    keep = [(request := parsed(value)) is not None and bool(predicate(request)) for value in events["request"]]
    return events.loc[events.index[keep]] if len(events) else events


def event_ref(row: Any) -> dict[str, Any]:
    """The trigger/recovery fields of an ``events`` or ``verdicts`` row."""
    get = row.get if isinstance(row, dict) else row.__getitem__
    return {"event_id": get("event_id"), "event_name": get("event_name"), "event_time": get("event_time" if "event_time" in row else "start"),
            "actor": get("actor")}


def _no_role(case: Case, code: str) -> Outcome:
    return Outcome(Finding(code, "inconclusive",
                           f"the delivery role of {case.subject.flow_log_id} is unknown from this evidence "
                           "(no describe-flow-logs output or CreateFlowLogs event names it)", []))


def _regional_trail_gaps(case: Case) -> list[Gap]:
    """The CloudTrail reads of the flow log's region that failed over the time a cause of the failure lies in."""
    return missing(case.evidence, "cloudtrail", {case.subject.region, None}, end=case.reference)


def _not_in_read(case: Case, what: str, gaps: list[Gap]) -> str:
    """``no WHAT is in the events read, but CloudTrail could not be read: ...``: "no event" said only of the part read."""
    return f"no {what} is in the CloudTrail events read {case.between()}, but CloudTrail could not be read: {unread(gaps)}"


def _none_between(case: Case, what: str) -> str:
    """``no WHAT between A and B``, naming the reads that failed after the failure began (they do not bear on it)."""
    later = [gap for gap in missing(case.evidence, "cloudtrail", {case.subject.region, None}) if case.reference is not None
             and gap.start is not None and gap.start > case.reference]
    said = f"no {what} {case.between()}"
    return f"{said} (CloudTrail could not be read after the failure began: {unread(later)})" if later else said


def trail_missing(case: Case) -> str:
    """Why no CloudTrail event shows what changed the role: none in the evidence, or CloudTrail unreadable."""
    gaps = missing(case.evidence, "cloudtrail", {GLOBAL_REGION, None}, end=case.reference)
    if gaps:
        return f"CloudTrail could not be read: {unread(gaps)}; so nothing shows what changed it"
    role = case.subject.role_arn.rsplit("/", 1)[-1]
    return f"no CloudTrail events for role {role} in {GLOBAL_REGION} {case.between()} show what changed it"


def _interval_cause(case: Case, interval: Interval) -> tuple[str | None, int]:
    """The root cause of a denied interval and the verdicts row of its trigger.

    Emptying a role (its policies deleted, then ``DeleteRole``) takes several calls; when delivery
    failed after the deletion, the deletion is the trigger, and a role created again under the same
    name within the interval makes it ``role-recreated``.
    """
    frame = case.verdicts.frame
    until = interval.last
    for index in range(interval.first, interval.last + 1):
        start = frame["start"].iloc[index]
        if case.reference is not None and start == start and start > case.reference:
            until = index - 1
            break
    until = max(until, interval.first)
    causes = list(frame["root_cause"].iloc[interval.first: interval.last + 1])
    before = causes[: until - interval.first + 1]
    if "role-deleted" in before:
        deleted = interval.first + before.index("role-deleted")
        # Only a DeleteRole deletes: a role absent before its first CreateRole was not yet created.
        # str(): a state without its event (NA) is no DeleteRole.
        recreated = str(frame["event_name"].iloc[deleted]) == "DeleteRole" and any(
            cause != "role-deleted" for cause in causes[deleted - interval.first:])
        return ("role-recreated" if recreated else "role-deleted"), deleted
    return frame["root_cause"].iloc[until], interval.first


def _role_test(code: str) -> Callable[[Case], Outcome]:
    """The test of an IAM-side root cause (IAM codes, role deleted, role recreated): the verdict at the reference."""

    def test(case: Case) -> Outcome:
        if case.subject.role_arn is None:
            return _no_role(case, code)
        interval = case.interval_at(case.reference)
        history_events = list(case.history.events["event_id"]) if case.history is not None else []
        if interval is None or interval.allowed is None:
            return _undecided(case, code, history_events)
        cause, trigger_row = _interval_cause(case, interval) if interval.allowed is False else (None, interval.first)
        row = case.row(trigger_row)
        stated = stated_denial(case.evidence, case.window) if interval.allowed and code in IAM_CODES else None
        agreed = _shown_refusals(case, trigger_row, stated) if stated is not None else None
        if agreed:
            # The documents the evidence shows refuse what AWS refused: its words need no unseen policy.
            return _stated_outcome(case, code, stated, agreed, agrees=True)
        if stated is not None:
            # AWS's words are what happened; the offline evaluation lacks something that refused.
            return _stated_outcome(case, code, stated, f"the offline evaluation of the documents in the evidence allows "
                                                       f"delivery ({row['reason']}): a policy the evidence does not show "
                                                       "(attached or changed before it begins, or outside the trail) "
                                                       "must refuse it")
        if interval.allowed:
            return Outcome(Finding(code, "ruled_out", f"the role allowed delivery then ({row['reason']})",
                                   [row["event_id"]] if row["event_id"] else [case.history.anchor or "cloudtrail"]))
        if cause != code:
            return Outcome(Finding(code, "ruled_out", f"delivery was denied for another reason: {cause}",
                                   [row["event_id"]] if row["event_id"] else []))
        reason = row["reason"]
        created = _created_since(case, row["start"])
        if created is not None:
            # The verdict is per flow log: the role denied this one from its creation on.
            trigger = created if created["event_id"] else None
            return Outcome(Finding(code, "confirmed", f"flow log {case.subject.flow_log_id} was {_creation(created)} with a "
                                                      f"role that denies its delivery: {reason}",
                                   [created["event_id"] or case.subject.status_source or "flow_logs"]),
                           trigger, confidence="confirmed" if trigger else "likely")
        if row["event_id"] is None:
            # Denied since before the first event: the evidence does not show what changed, or when.
            return Outcome(Finding(code, "inconclusive",
                                   f"the role's state denies delivery ({code}: {reason}), but {trail_missing(case)}, "
                                   "when, or who did it", [case.history.anchor or "roles frame"]))
        recovery = None
        position = case.intervals.index(interval)
        if position + 1 < len(case.intervals) and case.intervals[position + 1].allowed:
            recovery = event_ref(case.row(case.intervals[position + 1].first))
        evidence = [row["event_id"]] + ([recovery["event_id"]] if recovery else [])
        summary = f"{row['event_name']}{by(row['actor'])} at {to_second(row['start'])} made the role deny delivery: {reason}"
        if cause == "role-recreated":
            summary, again = _recreated(case, trigger_row, interval)
            evidence += [again] if again else []
        return Outcome(Finding(code, "confirmed", summary, evidence), event_ref(row), recovery)

    return test


def _recreated(case: Case, deleted: int, interval: Interval) -> tuple[str, str | None]:
    """The sentence of a role deleted and created again within a denied interval, and the CreateRole event id."""
    frame = case.verdicts.frame
    row = case.row(deleted)
    said = f"{row['event_name']}{by(row['actor'])} at {to_second(row['start'])} deleted role {case.history.role_name}"
    for index in range(deleted + 1, interval.last + 1):
        again = case.row(index)
        if again["event_name"] == "CreateRole":
            role = case.history.snapshots[index].role
            new_id = f" (new role id {role.role_id})" if role.role_id else ""
            last = case.row(interval.last)
            return (f"{said}; CreateRole{by(again['actor'])} at {to_second(again['start'])} created it again under the same "
                    f"name{new_id}, and the recreated role denies delivery: {last['reason']}", again["event_id"])
    return f"{said}, and it was created again under the same name: {frame['reason'].iloc[interval.last]}", None


def latent_cause(case: Case) -> str | None:
    """The IAM root cause by which the role's latest state refuses delivery (None: it does not, or cannot tell)."""
    if not case.intervals or case.intervals[-1].allowed is not False:
        return None
    return _interval_cause(case, case.intervals[-1])[0]


def _created_since(case: Case, since: Any) -> dict[str, Any] | None:
    """The flow log's creation, when it came after ``since``, the start of the state that denies it.

    A state in force before the flow log existed did not deny it anything: its failure began with
    its creation. The result has the fields of a trigger; ``event_id`` is None when the evidence
    has its CreationTime but not its CreateFlowLogs event. A state since before the evidence
    (``since`` None) says nothing of the role when the flow log was created.
    """
    flow_log = case.flow_log
    created = flow_log.get("created")
    if created is None or created != created or since is None or since != since:
        return None
    if since >= created or (case.reference is not None and created > case.reference):
        return None
    event_id = flow_log.get("create_event_id")
    return {"event_id": event_id if isinstance(event_id, str) else None, "event_name": "CreateFlowLogs",
            "event_time": created, "actor": flow_log.get("created_by")}


def _creation(created: dict[str, Any]) -> str:
    """The creation of the flow log, in a few words."""
    how = "(CreateFlowLogs)" if created["event_id"] else "(its CreationTime; the CreateFlowLogs event is not in the evidence)"
    return f"created{by(created['actor'])} at {to_second(created['event_time'])} {how}"


def last_worked(case: Case, before: Any) -> Any:
    """When delivery last showed working before ``before`` (None: never, in the evidence)."""
    return max((s.time for s in case.signals if s.ok and s.time is not None and s.time < before), default=None)


def _undecided(case: Case, code: str, history_events: list[str]) -> Outcome:
    """An IAM hypothesis where the evaluator cannot decide: read AWS's own words about the refused calls."""
    position = case.position_at(case.reference)
    state = case.verdicts.states[position] if position is not None else None
    holes = state.holes if state else []
    unread = case.history is not None and bool(case.history.unread)
    # Without events, the trail says why the state is unknown, with the reads of the role's documents that failed.
    notes = list(state and case.history.snapshots[position].unread or []) if unread else []
    missing = "; ".join([trail_missing(case), *notes]) if not history_events else "; ".join(holes)
    if case.verdicts is None:
        missing = "the evidence does not give the flow log's log group, region and account, which the evaluation needs"
    when = "when delivery failed" if case.window is not None else (f"at {to_second(case.reference)}" if case.reference is not None
                                                                   else "now")
    cited = history_events[-5:] + [f"manifest.json gaps: {gap.operation}" for gap in case.history.unread] if unread else history_events[-5:]
    unknown = Outcome(Finding(code, "inconclusive", f"the role's state {when} is unknown: {missing}", list(dict.fromkeys(cited))))
    calls = session_calls(case.evidence, case.window)
    if code in TRUST_CODES and calls and not assume_role_refused(case.window):
        return Outcome(Finding(code, "ruled_out", f"the role's own session made {len(calls)} logs: call(s) when delivery "
                                                  f"failed, so {SERVICE} had assumed the role: the trust admitted it",
                               calls[:5]))
    stated = stated_denial(case.evidence, case.window)
    if stated is None or code not in IAM_CODES:
        return unknown
    return _stated_outcome(case, code, stated, f"the evaluator cannot reproduce it (it lacks {missing})")


def _shown_refusals(case: Case, position: int, stated: StatedDenial) -> str:
    """Why the documents the evidence shows refuse every action AWS refused, in AWS's layer ("" when they do not).

    Delivery may be allowed while AWS refuses an action it needs only sometimes (``logs:CreateLogGroup``
    once the log group is gone): the shown documents then explain the words by themselves.
    """
    verdict = case.verdicts.states[position].verdict if case.verdicts is not None else None
    if verdict is None or not stated.actions or stated.layer == "trust":
        return ""
    reasons = []
    for action in stated.actions:
        try:
            check = verdict.check(action)
        except KeyError:
            return ""
        if check.decision.allowed or check.decision.decided_by != stated.layer:
            return ""
        reasons.append(check.reason(verdict))
    return "; ".join(reasons)


def _stated_outcome(case: Case, code: str, stated: StatedDenial, unreproduced: str, *, agrees: bool = False) -> Outcome:
    """The IAM hypothesis ``code`` judged on AWS's words.

    ``unreproduced`` says, for the finding, why the offline evaluation does not reproduce them (what the
    evaluator lacks, or that it found delivery allowed); with ``agrees``, it is instead why the shown
    documents refuse the same actions.
    """
    if code not in stated.codes:
        return Outcome(Finding(code, "ruled_out", f"{stated.says()}: AWS names the role's {LAYER_NAMES[stated.layer]}, "
                                                  f"not this cause", stated.event_ids[:5]))
    if len(stated.codes) > 1:
        return Outcome(Finding(code, "inconclusive", f"{stated.says()}, so the trust policy refused it, but "
                                                     f"{unreproduced}, which leaves open whether it omits the "
                                                     "service or its conditions exclude this flow log", stated.event_ids[:5]))
    start = case.window["start"]
    worked = last_worked(case, start)
    trigger = layer_trigger(case.history, stated.layer, before=start, after=worked)
    created = _created_since(case, trigger["event_time"]) if trigger is not None else None
    if created is not None:
        trigger = created if created["event_id"] else None
        change = f"it was already so when flow log {case.subject.flow_log_id} was {_creation(created)}"
    elif trigger is not None:
        trigger = event_ref(trigger)
        change = f"the last change to it before the failure: {trigger['event_name']}{by(trigger['actor'])} at {to_second(trigger['event_time'])}"
    else:
        change = "the evidence shows no change to it before the failure"
    basis = (f"as the documents the evidence shows do ({unreproduced})" if agrees else f"though {unreproduced}")
    return Outcome(
        Finding(code, "confirmed", f"{stated.says()}, naming the role's {LAYER_NAMES[stated.layer]}, {basis}; {change}",
                ([trigger["event_id"]] if trigger else []) + stated.event_ids[:5]),
        trigger,
        confidence="likely",
        stated=stated,
    )


def _flow_log_deleted(case: Case) -> Outcome:
    flow_log = case.flow_log
    deleted = flow_log.get("deleted")
    code = "flow-log-deleted"
    if deleted is not None and deleted == deleted:
        actor = flow_log.get("deleted_by")
        trigger = {"event_id": flow_log.get("delete_event_id"), "event_name": "DeleteFlowLogs", "event_time": deleted, "actor": actor}
        return Outcome(Finding(code, "confirmed",
                               f"{actor} deleted flow log {case.subject.flow_log_id} at {to_second(deleted)} (DeleteFlowLogs): {MITRE}",
                               [flow_log.get("delete_event_id")]), trigger)
    if flow_log.get("source") == "describe-flow-logs":
        return Outcome(Finding(code, "ruled_out", "describe-flow-logs still lists the flow log", [flow_log.get("source_file")]))
    unread_here = _regional_trail_gaps(case)
    what = f"DeleteFlowLogs event for {case.subject.flow_log_id}"
    if unread_here:
        return Outcome(Finding(code, "inconclusive", _not_in_read(case, what, unread_here), []))
    if len(case.evidence.events):
        return Outcome(Finding(code, "ruled_out", _none_between(case, what), []))
    return Outcome(Finding(code, "inconclusive", "neither describe-flow-logs output nor CloudTrail events show whether the flow log exists", []))


def _latest_before(rows: Any, case: Case) -> Any:
    if case.reference is not None:
        rows = rows[rows["event_time"] <= case.reference]
    return rows.iloc[-1] if len(rows) else None


def _log_group_deleted(case: Case) -> Outcome:
    code, group = "log-group-deleted", case.subject.log_group
    if not group:
        return Outcome(Finding(code, "inconclusive", "the flow log's log group is unknown from this evidence", []))
    events = case.events("logs.amazonaws.com", ("DeleteLogGroup", "CreateLogGroup"))
    events = with_request(events, lambda r: r.get("logGroupName") == group)
    last = _latest_before(events, case)
    if last is None or last["event_name"] != "DeleteLogGroup":
        exists = (case.evidence.log_groups["log_group"] == group).any()
        unread_here = [] if exists else _regional_trail_gaps(case)
        verdict = "ruled_out" if exists or (len(case.evidence.events) and not unread_here) else "inconclusive"
        why = "describe-log-groups lists it" if exists else _none_between(case, "DeleteLogGroup event for it")
        if unread_here:
            return Outcome(Finding(code, verdict, _not_in_read(case, f"DeleteLogGroup event for log group {group}",
                                                               unread_here), []))
        return Outcome(Finding(code, verdict, f"log group {group} was not deleted before the failure: {why}", []))
    later = events[(events["event_time"] > last["event_time"]) & (events["event_name"] == "CreateLogGroup")]
    recovery = event_ref(later.iloc[0]) if len(later) else None
    may_create = _may_create_log_group(case, last["event_time"])
    if may_create:
        return Outcome(Finding(code, "ruled_out", f"log group {group} was deleted{by(last['actor'])} at {to_second(last['event_time'])} "
                                                  f"({MITRE}), but the role may create it again", [last["event_id"]]))
    return Outcome(
        Finding(code, "confirmed", f"log group {group} was deleted{by(last['actor'])} at {to_second(last['event_time'])} and the role "
                                   f"may not create it again: {MITRE}", [last["event_id"]] + ([recovery["event_id"]] if recovery else [])),
        event_ref(last),
        recovery,
    )


def _may_create_log_group(case: Case, when: Any) -> bool | None:
    if case.verdicts is None or case.history is None:
        return None
    position = case.history.snapshots.index(case.history.at(when))
    verdict = case.verdicts.states[position].verdict
    return None if verdict is None else verdict.check("logs:CreateLogGroup").decision.allowed


def _key_id(value: Any) -> str | None:
    return value.rsplit("/", 1)[-1] if isinstance(value, str) and value else None


def _log_group_arn(case: Case, key_arn: str) -> str | None:
    groups = case.evidence.log_groups
    known = groups.loc[groups["log_group"] == case.subject.log_group, "arn"].dropna().tolist()
    if known:
        return known[-1].removesuffix(":*")
    account = key_arn.split(":")[4] if key_arn.count(":") >= 5 else None
    region = case.subject.region
    return f"arn:aws:logs:{region}:{account}:log-group:{case.subject.log_group}" if account and region else None


def _logs_may_use(document: Any, case: Case, key_arn: str) -> bool:
    from flowforensics.analysis.iam.evaluate import evaluate
    from flowforensics.evidence.values import parse_document

    try:
        policy = parse_document(document)
    except ValueError:
        return False
    region = case.subject.region or GLOBAL_REGION
    group_arn = _log_group_arn(case, key_arn)
    # CloudWatch Logs names the log group in the encryption context; key policies scope their grant by it.
    context = {"kms:EncryptionContext:aws:logs:arn": group_arn} if group_arn else {}
    request = {"principal": f"logs.{region}.amazonaws.com", "action": "kms:GenerateDataKey", "resource": key_arn,
               "resource_account": key_arn.split(":")[4] if key_arn.count(":") >= 5 else None, "context": context}
    return evaluate(request, resource_policy=policy).allowed


def collected_key_policy(evidence: Any, keys: Set[str]) -> tuple[str, Any, str] | None:
    """The key policy collected for one of ``keys`` (get-key-policy): (key, document, file), or None."""
    policies = evidence.policies
    rows = policies[(policies["policy_type"] == "kms-key") & policies["document"].notna()]
    for row in rows[rows["policy_arn"].notna()].itertuples(index=False):
        key = next((k for k in keys if _key_id(k) == _key_id(row.policy_arn)), None)
        if key is not None:
            return key, row.document, row.source_file
    # `aws kms get-key-policy` output does not name its key: without a manifest, one key and one
    # policy can only belong together.
    unnamed = rows[rows["policy_arn"].isna()]
    if len(keys) == 1 and len(rows) == 1 and len(unnamed) == 1:
        row = unnamed.iloc[0]
        return next(iter(keys)), row["document"], row["source_file"]
    return None


@dataclass(frozen=True)
class KeyChanges:
    """A log group's KMS keys and what changed them: its key associations and the keys' own changes."""

    keys: frozenset[str]
    associations: Any  # AssociateKmsKey / DisassociateKmsKey events of the log group
    changes: Any  # KMS_CHANGES events of its keys


@per_evidence
def key_changes(evidence: Any, log_group: str, region: str | None) -> KeyChanges:
    """The KMS keys of ``log_group`` (collected, or associated by an event) and their changes in ``region``.

    Parameters
    ----------
    evidence : Evidence
    log_group : str
    region : str or None
        The log group's region; None looks in every region.

    Returns
    -------
    KeyChanges
        Only successful events: a refused change changed nothing.
    """
    groups = evidence.log_groups
    keys = set(groups.loc[groups["log_group"] == log_group, "kms_key_id"].dropna())
    associations = successful_events(evidence, "logs.amazonaws.com", LOG_GROUP_KMS_CHANGES, region)
    associations = with_request(associations, lambda r: r.get("logGroupName") == log_group)
    keys |= {r.get("kmsKeyId") for r in associations["request"] if r.get("kmsKeyId")}
    ids = {_key_id(key) for key in keys}
    changes = successful_events(evidence, "kms.amazonaws.com", KMS_CHANGES, region)
    changes = with_request(changes, lambda r: _key_id(r.get("keyId")) in ids)
    return KeyChanges(frozenset(keys), associations, changes)


def _kms_key_denied(case: Case) -> Outcome:
    code, group = "kms-key-denied", case.subject.log_group
    if not group:
        return Outcome(Finding(code, "inconclusive", "the flow log's log group, and so its KMS key, is unknown from this evidence", []))
    groups = case.evidence.log_groups
    found = key_changes(case.evidence, group, case.subject.region)
    keys, associations, changes = found.keys, found.associations, found.changes
    ids = {_key_id(key) for key in keys}
    rows = []
    for event in list(changes.itertuples(index=False)) + list(associations.itertuples(index=False)):
        good = LOG_GROUP_KMS_CHANGES.get(event.event_name, KMS_CHANGES.get(event.event_name))
        if good is None:
            key = next((k for k in keys if _key_id(k) == _key_id(event.request.get("keyId"))), event.request.get("keyId"))
            good = _logs_may_use(event.request.get("policy"), case, key)
        rows.append((event.event_time, good, event))
    rows.sort(key=lambda item: item[0])
    before = [item for item in rows if case.reference is None or item[0] <= case.reference]
    if not keys:
        verdict = "ruled_out" if (groups["log_group"] == group).any() else "inconclusive"
        return Outcome(Finding(code, verdict, f"log group {group} is not encrypted with a KMS key in this evidence", []))
    if not before or before[-1][1]:
        collected = collected_key_policy(case.evidence, keys)
        if not before and collected is not None and not _logs_may_use(collected[1], case, collected[0]):
            # No change event says when, but the key policy as collected refuses CloudWatch Logs.
            return Outcome(Finding(code, "confirmed", f"the policy of key {collected[0]}, as collected, does not let "
                                                      f"CloudWatch Logs use it for log group {group}", [collected[2]]))
        unread_here = _regional_trail_gaps(case)
        what = f"change that left CloudWatch Logs unable to use key {', '.join(sorted(ids))}"
        if unread_here:
            return Outcome(Finding(code, "inconclusive", _not_in_read(case, what, unread_here), []))
        return Outcome(Finding(code, "ruled_out" if len(case.evidence.events) else "inconclusive",
                               _none_between(case, what), []))
    when, _good, trigger = before[-1]
    fixed = next((item for item in rows if item[0] > when and item[1]), None)
    recovery = event_ref(fixed[2]._asdict()) if fixed else None
    return Outcome(
        Finding(code, "confirmed", f"{trigger.event_name}{by(trigger.actor)} at {to_second(when)} left CloudWatch Logs unable "
                                   f"to use the log group's KMS key", [trigger.event_id] + ([recovery["event_id"]] if recovery else [])),
        event_ref(trigger._asdict()),
        recovery,
    )


def _rate_limited(case: Case) -> Outcome:
    code = "rate-limited"
    error, source = case.subject.error, case.subject.status_source
    window_signals = sorted({s["signal"] for s in (case.window or {}).get("signals", [])})
    throttled = [s for s in case.signals if s.signal == "rate-limited"]
    if error == THROTTLED or "rate-limited" in window_signals:
        said = f"DeliverLogsErrorMessage '{THROTTLED}', " if error == THROTTLED else ""
        return Outcome(Finding(code, "confirmed", f"CloudWatch Logs throttled delivery ({said}{len(throttled)} throttled calls)",
                               ([source] if error == THROTTLED else []) + [s.source for s in throttled[:5]]))
    if error:
        return Outcome(Finding(code, "ruled_out", f"delivery failed with DeliverLogsErrorMessage '{error}', not "
                                                  f"'{THROTTLED}'", [source or "flow_logs"]))
    if case.window is None and case.subject.status == "SUCCESS":
        # AWS says 'Rate limited' only beside a FAILED status: a flow log delivering is not being throttled.
        return Outcome(Finding(code, "ruled_out", "DeliverLogsStatus is SUCCESS: CloudWatch Logs is not throttling "
                                                  "delivery", [source or "flow_logs"]))
    # Only describe-flow-logs gives AWS's DeliverLogsErrorMessage: say so when it could not be read.
    refused = [gap for gap in missing(case.evidence, "ec2", {case.subject.region, None}) if gap.operation == DESCRIBE]
    unsaid = (f"no DeliverLogsErrorMessage is in the evidence ({unread(refused)} could not be read)" if refused
              else "no DeliverLogsErrorMessage is in the evidence")
    refusals = [signal for signal in window_signals if signal in REFUSALS]
    if refusals:
        return Outcome(Finding(code, "ruled_out", f"{unsaid}, but the failure's refused calls say {', '.join(refusals)}, "
                                                  "none throttled", list(dict.fromkeys(s["source"] for s in case.window["signals"]))[:3]))
    return Outcome(Finding(code, "inconclusive", f"{unsaid}, and no refused call says whether delivery was throttled",
                           [f"manifest.json gaps: {DESCRIBE}"] if refused else []))


def _none(case: Case) -> Outcome:
    code = "none"
    ok = [s for s in case.signals if s.ok]
    if case.window is not None or case.subject.status == "FAILED":
        return Outcome(Finding(code, "ruled_out", "delivery failed", [s["source"] for s in (case.window or {}).get("signals", [])[:3]]))
    deleted = case.flow_log.get("deleted")
    if deleted is not None and deleted == deleted:
        return Outcome(Finding(code, "ruled_out", f"the flow log was deleted at {to_second(deleted)}: it delivers nothing since",
                               [case.flow_log.get("delete_event_id") or case.subject.status_source or "cloudtrail"]))
    if ok:
        said = f"{len(ok)} signals show delivery working and none shows it failing"
        unread_trail = missing(case.evidence, "cloudtrail", {case.subject.region, GLOBAL_REGION, None},
                               *(case.span or (None, None)))
        if unread_trail:
            said += (f"; CloudTrail could not be read: {unread(unread_trail)}; so what changed the role, its log group "
                     "or the flow log, and who did it, is undecided: delivery observed working does not show that "
                     "nothing changed")
        cited = [f"manifest.json gaps: {gap.operation}" for gap in unread_trail]
        return Outcome(Finding(code, "confirmed", said, sorted({s.source for s in ok})[:5] + list(dict.fromkeys(cited))))
    return Outcome(Finding(code, "inconclusive", "no delivery signal in the evidence (status, log streams, metrics or alarms)", []))


@dataclass(frozen=True)
class Hypothesis:
    """One root cause to test: its code, its test, and the services whose collection gaps leave it open."""

    code: str
    test: Callable[[Case], Outcome]
    services: tuple[str, ...]
    global_evidence: bool = False  # its evidence is in us-east-1 (IAM), not the flow log's region
    needs: str | None = None  # the part of the destination it is about: "delivery role" or "log group"

    def run(self, case: Case) -> Outcome:
        """The test's outcome, or ``ruled_out`` when the flow log's destination has no such part."""
        kind = case.flow_log.get("log_destination_type")
        if self.needs is not None and self.needs in DESTINATIONS_WITHOUT.get(kind, ()):
            return Outcome(Finding(self.code, "ruled_out", f"not applicable: a flow log publishing to {kind} has no "
                                                           f"{self.needs}", [case.subject.status_source or "flow_logs"]))
        return self.test(case)


HYPOTHESES: tuple[Hypothesis, ...] = (
    *(Hypothesis(code, _role_test(code), ("cloudtrail", "iam"), True, "delivery role") for code in IAM_CODES[:-1]),
    Hypothesis("scp-deny", _role_test("scp-deny"), ("cloudtrail", "organizations"), True, "delivery role"),
    Hypothesis("role-deleted", _role_test("role-deleted"), ("cloudtrail", "iam"), True, "delivery role"),
    Hypothesis("role-recreated", _role_test("role-recreated"), ("cloudtrail", "iam"), True, "delivery role"),
    Hypothesis("log-group-deleted", _log_group_deleted, ("cloudtrail", "logs"), needs="log group"),
    Hypothesis("kms-key-denied", _kms_key_denied, ("cloudtrail", "kms", "logs"), needs="log group"),
    Hypothesis("rate-limited", _rate_limited, ("ec2", "logs")),
    Hypothesis("flow-log-deleted", _flow_log_deleted, ("cloudtrail", "ec2")),
    Hypothesis("none", _none, ("ec2", "logs", "cloudwatch")),
)
