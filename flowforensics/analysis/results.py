"""The diagnosis of one flow log, shaped exactly as the ``diagnose --json`` contract of docs/contracts.md."""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from typing import Any

STATUSES = ("FAILED", "SUCCESS", "DELETED", "UNKNOWN")
CONFIDENCES = ("confirmed", "likely", "possible")
VERDICTS = ("confirmed", "ruled_out", "inconclusive")
# What the evidence says of each flow log now, beside AWS's own DeliverLogsStatus (``status``):
# state -> its definition, the one the diagnosis applies (first match wins, in this order).
STATES: dict[str, str] = {
    "failing": "delivery fails at the latest observation (status FAILED), or the flow log was deleted (DELETED): "
               "no flow logs reach the log group",
    "at-risk": "delivery still works (status SUCCESS), but the role, permissions boundary, SCPs or KMS key policy "
               "as the evidence shows them now refuse it: AWS keeps delivering on the credentials it already "
               "holds until they expire; root_cause names what will stop it",
    "recovered": "delivery works (status SUCCESS) after a failure the evidence shows (failure_started or "
                 "recovery set), and nothing collected refuses it now, nor leaves that undecided (see unknown)",
    "healthy": "delivery works (status SUCCESS), the evidence shows no failure, and nothing collected refuses it, "
               "nor leaves that undecided (see unknown)",
    "unknown": "no delivery signal (DeliverLogsStatus, log streams, metrics, alarms or refused calls) says "
               "whether it delivers (status UNKNOWN); or it delivers (status SUCCESS) but documents that decide "
               "whether it keeps delivering could not be read (the role, its policies, the SCPs or the log group's "
               "KMS key policy: a gap in manifest.json) and those read do not decide it; an 'inconclusive' finding "
               "says what is undecided and why",
}


@dataclass
class EventRef:
    """A CloudTrail event named as trigger or recovery."""

    event_id: str
    event_name: str
    event_time: str  # ISO-8601 UTC
    actor: str | None


@dataclass
class Recovery(EventRef):
    """The event that restored delivery, and how long delivery took to come back after it."""

    delivery_resumed: str | None = None
    lag_seconds: float | None = None


@dataclass
class Finding:
    """One hypothesis of the differential diagnosis, with its verdict and the evidence for it."""

    code: str
    verdict: str  # confirmed | ruled_out | inconclusive
    summary: str
    evidence: list[str] = field(default_factory=list)


@dataclass
class Remediation:
    """The proven fix: documents to put in place and the AWS CLI commands that do it."""

    permissions_policy: dict[str, Any] = field(default_factory=dict)
    trust_policy: dict[str, Any] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)


@dataclass
class FlowLogDiagnosis:
    """The diagnosis of one flow log (one entry of ``flow_logs`` in the contract)."""

    flow_log_id: str
    region: str | None
    account_id: str | None
    role_arn: str | None
    log_group: str | None
    status: str
    root_cause: str
    confidence: str
    failure_started: str | None
    trigger: EventRef | None
    recovery: Recovery | None
    findings: list[Finding] = field(default_factory=list)
    remediation: Remediation = field(default_factory=Remediation)
    state: str = "unknown"  # a key of STATES (added to the contract: every other field is unchanged)

    def to_dict(self) -> dict[str, Any]:
        """The contract's JSON object for this flow log."""
        return asdict(self)

    def __repr__(self) -> str:
        # One line for a console: the state and the answer, not every finding (they are in .findings).
        line = f"<FlowLogDiagnosis {self.flow_log_id!r} {self.state}: {self.root_cause} ({self.confidence})"
        if self.failure_started:
            line += f" since {self.failure_started}"
        if self.trigger:
            line += f"; trigger {self.trigger.event_name} by {self.trigger.actor!r}"
        if self.recovery:
            line += f"; recovery {self.recovery.event_name} at {self.recovery.event_time}"
        return line + f"; {len(self.findings)} findings>"

    def _repr_html_(self) -> str:
        esc = html.escape
        rows = "".join(
            f"<tr><td>{esc(f.code)}</td><td>{esc(f.verdict)}</td><td>{esc(f.summary)}</td>"
            f"<td>{esc(', '.join(f.evidence))}</td></tr>"
            for f in self.findings
        )
        trigger = (
            f"{esc(self.trigger.event_name)} at {esc(self.trigger.event_time)} by {esc(self.trigger.actor or 'unknown')}"
            if self.trigger
            else "none"
        )
        return (
            f"<div class='ff-diagnosis'><h4>{esc(self.flow_log_id)}: {esc(self.root_cause)} "
            f"({esc(self.confidence)})</h4><p>{esc(self.state)}, status {esc(self.status)}; failure started "
            f"{esc(self.failure_started or 'n/a')}; trigger {trigger}</p>"
            f"<table><tr><th>code</th><th>verdict</th><th>summary</th><th>evidence</th></tr>{rows}</table></div>"
        )


@dataclass
class Diagnosis:
    """The diagnosis of every flow log in an evidence folder."""

    flow_logs: list[FlowLogDiagnosis] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The whole ``diagnose --json`` document."""
        return {"flow_logs": [entry.to_dict() for entry in self.flow_logs]}

    def to_json(self) -> str:
        """The ``diagnose --json`` document as text."""
        return json.dumps(self.to_dict(), indent=2)

    def __repr__(self) -> str:
        shown = ", ".join(f"{e.flow_log_id!r} {e.state} {e.root_cause}" for e in self.flow_logs[:5])
        more = f" and {len(self.flow_logs) - 5} more" if len(self.flow_logs) > 5 else ""
        count = len(self.flow_logs)
        return f"<Diagnosis of {count} flow log{'s' if count != 1 else ''}: {shown}{more}>"

    def _repr_html_(self) -> str:
        return "".join(entry._repr_html_() for entry in self.flow_logs) or "<p>no flow logs in the evidence</p>"
