"""The first screen of a report: the state in one word, then cause, who and when, what the change did,
failing since / recovered at, lag, and the fix (its commands, or why there is none)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flowforensics.analysis.results import FlowLogDiagnosis
from flowforensics.analysis.root_causes import ROOT_CAUSES
from flowforensics.presentation.markup import MISSING, Html, text, when

# state (the diagnosis's ``state``) -> the word an incident commander reads first, and the box's css class.
STATE_WORDS: dict[str, tuple[str, str]] = {
    "failing": ("still failing", "ff-state-failing"),
    "at-risk": ("at risk", "ff-state-at-risk"),
    "recovered": ("recovered", "ff-state-recovered"),
    "healthy": ("healthy", "ff-state-healthy"),
    "unknown": ("unknown", "ff-state-unknown"),
}
# AWS's DeliverLogsStatus beside the state: what it says, so that "SUCCESS" beside a root cause reads
# as "delivery works again", not as a contradiction. (state, status) first, then status alone.
STATUS_NOTES: dict[Any, str] = {
    ("recovered", "SUCCESS"): "AWS reports delivery working again; the cause above is what had stopped it",
    ("at-risk", "SUCCESS"): "AWS still delivers, on credentials it already holds; the cause above will stop it",
    ("healthy", "SUCCESS"): "AWS reports delivery working",
    "SUCCESS": "AWS reports delivery working",
    "FAILED": "AWS reports delivery failing",
    "DELETED": "the flow log no longer exists",
    "UNKNOWN": "the evidence holds no DeliverLogsStatus for this flow log",
}
# Why a report proposes no fix, by state; a failing flow log without one says why it is not proven.
NO_FIX: dict[str, str] = {
    "recovered": "recovered, no fix needed: delivery works again and nothing collected refuses it",
    "healthy": "healthy, no fix needed: nothing in the evidence refuses delivery",
}
NO_FIX_BECAUSE: dict[str, str] = {
    "inconclusive": "no root cause is confirmed (the differential diagnosis below says what evidence is missing)",
    "unknown": "no delivery signal in the evidence says whether this flow log delivers",
}
# Lines of a change's diff shown on the first screen (section 7 has all of them).
CHANGE_LINES = 6


def duration(seconds: Any) -> str:
    """Seconds for a reader: ``4 min 12 s``, ``2 h 05 min``."""
    if seconds is None:
        return MISSING
    seconds = int(round(float(seconds)))
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    sign = "-" if seconds < 0 else ""
    if hours:
        return f"{sign}{hours} h {minutes:02d} min"
    if minutes:
        return f"{sign}{minutes} min {secs:02d} s"
    return f"{sign}{secs} s"


def state_word(diagnosis: FlowLogDiagnosis) -> str:
    """The state of a flow log in words: ``still failing``, ``recovered``, ``at risk``, ``healthy``, ``unknown``."""
    return STATE_WORDS.get(diagnosis.state, STATE_WORDS["unknown"])[0]


def no_fix_reason(diagnosis: FlowLogDiagnosis) -> str | None:
    """Why no fix is proposed (None when there is one): no fix needed, or no fix could be proven, and why."""
    remedy = diagnosis.remediation
    if remedy.commands or remedy.permissions_policy or remedy.trust_policy:
        return None
    if diagnosis.state in NO_FIX:
        return NO_FIX[diagnosis.state]
    because = NO_FIX_BECAUSE.get(diagnosis.root_cause) or NO_FIX_BECAUSE.get(diagnosis.state) or (
        f"the evidence does not show what a fix for {diagnosis.root_cause} would have to change"
        " (the delivery verdict below shows what is known of the role)"
    )
    return f"no fix could be proven because {because}"


def _event(ref: Any) -> str:
    return (
        f"<b>{text(ref.event_name)}</b> at {text(when(ref.event_time))} by <code>{text(ref.actor or 'unknown')}</code>"
        f" <span class='ff-muted'>(event {text(ref.event_id)})</span>"
    )


def _change(ref: Any, changes: Mapping[str, str]) -> str:
    """The one-line diff of a change, a statement a line (as a diff reads), the first few of them."""
    shown = changes.get(ref.event_id) if ref is not None else None
    if not shown:
        return ""
    lines = shown.split("; ")
    more = f"\n... {len(lines) - CHANGE_LINES} more lines: the whole diff is in section 7" if len(lines) > CHANGE_LINES else ""
    return f"<pre class='ff-change'>{text(chr(10).join(lines[:CHANGE_LINES]) + more)}</pre>"


def _headline(diagnosis: FlowLogDiagnosis, end_of_evidence: Any) -> str:
    since = diagnosis.failure_started
    resumed = diagnosis.recovery.delivery_resumed if diagnosis.recovery else None
    cause = f"<b>{text(diagnosis.root_cause)}</b>"
    by_state = {
        "failing": (f"Delivery to CloudWatch Logs has failed since {text(when(since))}" if since
                    else "No flow logs reach CloudWatch Logs")
        + (f" and still fails at the end of the evidence ({text(when(end_of_evidence))})" if end_of_evidence else "")
        + f". Cause: {cause}.",
        "recovered": f"Delivery failed{' from ' + text(when(since)) if since else ''}"
        f"{' and resumed at ' + text(when(resumed)) if resumed else ' and works again'}. Cause: {cause}.",
        "at-risk": f"Delivery still works, but what the evidence shows now refuses it. Cause that will stop it: {cause}.",
        "healthy": "Delivery works and the evidence shows no failure.",
        "unknown": f"The evidence cannot tell whether delivery works. Cause: {cause}.",
    }
    return by_state.get(diagnosis.state, by_state["unknown"])


def summary_box(
    diagnosis: FlowLogDiagnosis,
    *,
    changes: Mapping[str, str] | None = None,
    end_of_evidence: Any = None,
    alarm_only: Sequence[tuple[Any, Any]] = (),
) -> Html:
    """The first screen of a report on one flow log, every evidence string escaped.

    Parameters
    ----------
    diagnosis : FlowLogDiagnosis
        One entry of :class:`flowforensics.analysis.results.Diagnosis`.
    changes : mapping of str to str, optional
        Event id -> what that change did (a one-line diff), for the trigger and the recovery.
    end_of_evidence : datetime-like, optional
        The last moment the evidence observes: a failure still open runs to it.
    alarm_only : sequence of (start, end)
        The windows in which the alarm alone said delivery failed while other signals show it working.

    Returns
    -------
    Html
        A box: the state word and one sentence, then cause, trigger (who, when, what it did), failing
        since, recovered at, recovery, lag, the fix or why there is none, and AWS's own status.
    """
    changes = changes or {}
    word, style = STATE_WORDS.get(diagnosis.state, STATE_WORDS["unknown"])
    cause = ROOT_CAUSES.get(diagnosis.root_cause)
    meaning = cause.meaning if cause else ""
    security = " <b>(also a defense-evasion finding, MITRE ATT&amp;CK T1562.008)</b>" if cause and cause.security else ""
    recovery = diagnosis.recovery
    resumed = recovery.delivery_resumed if recovery else None
    if resumed:
        recovered = text(when(resumed))
    elif diagnosis.state == "failing":
        recovered = "<b>not recovered</b>" + (f" by the end of the evidence ({text(when(end_of_evidence))})" if end_of_evidence else "")
    elif recovery:
        recovered = "the fix is in, resumed delivery not yet seen"
    else:
        recovered = ""
    reason = no_fix_reason(diagnosis)
    fix = (
        f"<span class='ff-no-fix'>{text(reason)}</span>" if reason
        else (f"<pre class='ff-code ff-fix'>{text(chr(10).join(diagnosis.remediation.commands))}</pre>"
              if diagnosis.remediation.commands else "the documents in section 6 (no command needed)")
    )
    rows = [
        ("Cause", f"<b>{text(diagnosis.root_cause)}</b>: {text(meaning)}{security} "
                  f"<span class='ff-muted'>({text(diagnosis.confidence)})</span>"),
        ("Who and when", _event(diagnosis.trigger) if diagnosis.trigger else "no change in the evidence is named"),
        ("What the change did", _change(diagnosis.trigger, changes)),
        ("Failing since", text(when(diagnosis.failure_started)) if diagnosis.failure_started else ""),
        ("Recovered at", recovered),
        ("Recovery", (_event(recovery) + "<br>" + _change(recovery, changes)) if recovery else ""),
        ("Lag", f"{text(duration(recovery.lag_seconds))} from the fix until delivery resumed"
                if recovery and recovery.lag_seconds is not None else ""),
        ("Fix", fix),
        ("Alarm without failure", "<br>".join(
            f"the alarm alone said delivery failed from {text(when(low))} to {text(when(high))}; other signals show it"
            " working then: not a delivery failure"
            for low, high in alarm_only)),
        ("AWS status", f"DeliverLogsStatus <b>{text(diagnosis.status)}</b>: "
                       f"{text(STATUS_NOTES.get((diagnosis.state, diagnosis.status)) or STATUS_NOTES.get(diagnosis.status, ''))}"),
    ]
    body = "".join(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in rows if value)
    return Html(
        f"<div class='ff-summary {style}'>"
        f"<p class='ff-state'><span class='ff-state-word'>{text(word)}</span> "
        f"<span class='ff-headline'>{_headline(diagnosis, end_of_evidence)}</span></p>"
        f"<h3>Flow log {text(diagnosis.flow_log_id)}</h3>"
        f"<p class='ff-muted'>role {text(diagnosis.role_arn)} &rarr; log group {text(diagnosis.log_group)}"
        f" ({text(diagnosis.region)}, account {text(diagnosis.account_id)})</p>"
        f"<table>{body}</table></div>"
    )
