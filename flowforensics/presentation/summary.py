"""The summary box at the top of a report: root cause, trigger, failure window, recovery and lag."""

from __future__ import annotations

from typing import Any

from flowforensics.analysis.results import FlowLogDiagnosis
from flowforensics.analysis.root_causes import ROOT_CAUSES
from flowforensics.presentation.markup import MISSING, Html, text, when

# status -> the box's css class (its colour)
STATUS_STYLES = {"FAILED": "", "DELETED": "", "SUCCESS": " ff-ok", "UNKNOWN": " ff-unknown"}


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


def _event(ref: Any) -> str:
    if ref is None:
        return "none found"
    return (
        f"<b>{text(ref.event_name)}</b> at {text(when(ref.event_time))} by <code>{text(ref.actor or 'unknown')}</code>"
        f" <span class='ff-muted'>(event {text(ref.event_id)})</span>"
    )


def summary_box(diagnosis: FlowLogDiagnosis) -> Html:
    """The summary of one flow log's diagnosis, every evidence string escaped.

    Parameters
    ----------
    diagnosis : FlowLogDiagnosis
        One entry of :class:`flowforensics.analysis.results.Diagnosis`.

    Returns
    -------
    Html
        A box: root cause and its meaning, confidence, trigger (event, actor, time), failure window,
        recovery and the lag until delivery resumed.
    """
    cause = ROOT_CAUSES.get(diagnosis.root_cause)
    meaning = cause.meaning if cause else ""
    security = " <b>(also a defense-evasion finding, MITRE ATT&amp;CK T1562.008)</b>" if cause and cause.security else ""
    recovery = diagnosis.recovery
    resumed = recovery.delivery_resumed if recovery else None
    if diagnosis.failure_started:
        window = f"{text(when(diagnosis.failure_started))} to {text(when(resumed)) if resumed else '<b>still failing</b>'}"
    else:
        window = "no failure in the evidence"
    lag = (
        f"delivery resumed {text(when(resumed))}, {text(duration(recovery.lag_seconds))} after the fix"
        if recovery and resumed
        else ("not yet seen" if recovery else MISSING)
    )
    rows = [
        ("Root cause", f"<b>{text(diagnosis.root_cause)}</b>: {text(meaning)}{security}"),
        ("Confidence", text(diagnosis.confidence)),
        ("Status", text(diagnosis.status)),
        ("Trigger", _event(diagnosis.trigger)),
        ("Failure window", window),
        ("Recovery", _event(recovery) if recovery else "none found"),
        ("Delivery resumed", lag),
    ]
    body = "".join(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in rows)
    style = STATUS_STYLES.get(diagnosis.status, " ff-unknown")
    return Html(
        f"<div class='ff-summary{style}'><h3>Flow log {text(diagnosis.flow_log_id)}</h3>"
        f"<p class='ff-muted'>role {text(diagnosis.role_arn)} &rarr; log group {text(diagnosis.log_group)}"
        f" ({text(diagnosis.region)}, account {text(diagnosis.account_id)})</p>"
        f"<table>{body}</table></div>"
    )
