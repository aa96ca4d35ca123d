"""One incident, section by section, as the ``investigate`` notebook and the report show it.

:func:`open_investigation` loads the evidence and picks the flow log; each method of
:class:`Investigation` is one notebook cell (it calls the analysis and returns something to display),
so the notebook stays thin and pytest reaches every section. Nothing here diagnoses: the results come
from :mod:`flowforensics.analysis`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

from flowforensics.analysis.results import Diagnosis, FlowLogDiagnosis
from flowforensics.presentation.diffs import PolicyDiff, history_diffs
from flowforensics.presentation.markup import (
    Html,
    bullets,
    code,
    heading,
    key_values,
    local_path,
    paragraph,
    scroll,
    table,
    text,
    when,
)

# Failing first: the flow log a report is about when none is named.
STATUS_ORDER = {"FAILED": 0, "DELETED": 1, "UNKNOWN": 2, "SUCCESS": 3}
# The incident window shown by default: the incident, plus this share of its length on each side.
INCIDENT_MARGIN = 0.15
MIN_MARGIN = timedelta(minutes=10)
VERDICT_HEADLINES = {True: "IAM allows delivery", False: "IAM denies delivery", None: "The evidence cannot tell"}
# Timeline kinds that are the alarm's word alone: the incident when no failure is observed.
ALARM_KINDS = ("alarm-only", "ALARM")
# Characters of a principal's name in its timeline lane's label (the actor section names it in full).
LANE_LABEL = 28
# IAM events that create or delete the role itself (the role section lists them).
ROLE_LIFECYCLE = ("CreateRole", "DeleteRole")
FINDING_ORDER = {"confirmed": 0, "inconclusive": 1, "ruled_out": 2}
FLOW_LOG_FIELDS = (
    ("Flow log", "flow_log_id"),
    ("Resource", "resource_id"),
    ("Traffic", "traffic_type"),
    ("Destination", "log_destination_type"),
    ("Log group", "log_group"),
    ("Delivery role", "role_arn"),
    ("Flow log status", "flow_log_status"),
    ("Delivery status", "deliver_logs_status"),
    ("Delivery error", "deliver_logs_error"),
    ("Created", "created"),
    ("Created by", "created_by"),
    ("Deleted", "deleted"),
    ("Deleted by", "deleted_by"),
    ("Read from", "source"),
)


def _to_time(value: Any) -> Any:
    import pandas as pd

    from flowforensics.evidence.values import window_time

    # The one parser of user-given times: a notebook's window takes what --start/--end take.
    moment = window_time(value)
    return None if moment is None else pd.Timestamp(moment)


def _short(actor: str) -> str:
    """An actor as a lane's label: the last part of its ARN (the session, user or role name), cut short."""
    tail = str(actor).rsplit(":", 1)[-1].rsplit("/", 1)[-1]
    return tail if len(tail) <= LANE_LABEL else tail[: LANE_LABEL - 1] + "\u2026"


def _json(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, default=str)


@dataclass
class Investigation:
    """The investigation of one flow log in an evidence folder.

    Attributes
    ----------
    evidence : Evidence
        The loaded evidence.
    flow_log_id : str or None
        The flow log asked for; ``None`` picks the first failing one of the diagnosis.
    start, end : pandas.Timestamp or None
        The incident window asked for (UTC).
    """

    evidence: Any
    flow_log_id: str | None = None
    start: Any = None
    end: Any = None

    def __repr__(self) -> str:
        subject = repr(self.flow_log_id) if self.flow_log_id else "the first failing flow log"
        window = f" from {self.start} to {self.end}" if self.start is not None or self.end is not None else ""
        return f"<Investigation of {subject} in {self.evidence.path!r}{window}>"

    def _repr_html_(self) -> str:
        return (self.title() + self.summary()).markup

    # --- what the analysis says -------------------------------------------------------------------
    @cached_property
    def diagnosis(self) -> Diagnosis:
        """The diagnosis of the flow log asked for, or of every flow log when none was named."""
        from flowforensics.analysis.diagnosis import diagnose

        return diagnose(self.evidence, self.flow_log_id, start=self.start, end=self.end)

    @cached_property
    def entry(self) -> FlowLogDiagnosis | None:
        """The flow log this investigation is about: the one named, else the first failing one."""
        entries = sorted(self.diagnosis.flow_logs, key=lambda e: STATUS_ORDER.get(e.status, 9))
        if self.flow_log_id is not None:
            entries = [e for e in entries if e.flow_log_id == self.flow_log_id]
        return entries[0] if entries else None

    @cached_property
    def timeline(self) -> Any:
        """The ``timeline`` frame of the flow log, within the window asked for."""
        from flowforensics.analysis.timeline import timeline

        frame = timeline(self.evidence, self.entry.flow_log_id if self.entry else None)
        if self.start is not None:
            frame = frame[(frame["end"].isna() & (frame["time"] >= self.start)) | (frame["end"] >= self.start)]
        if self.end is not None:
            frame = frame[frame["time"] <= self.end]
        return frame.reset_index(drop=True)

    @cached_property
    def history(self) -> Any:
        """The delivery role's replayed history (:class:`flowforensics.analysis.history.RoleHistory`), or None."""
        from flowforensics.analysis.history import role_history

        if self.entry is None or not self.entry.role_arn:
            return None
        return role_history(self.evidence, self.entry.role_arn)

    @cached_property
    def verdicts(self) -> Any:
        """The IAM verdict at every state of the delivery role (:class:`flowforensics.analysis.verdicts.Verdicts`), or None."""
        from flowforensics.analysis.iam.delivery import flow_log_arn
        from flowforensics.analysis.verdicts import Target, verdicts

        entry = self.entry
        if entry is None or not (entry.role_arn and entry.log_group and entry.region and entry.account_id):
            return None
        target = Target(
            role_arn=entry.role_arn,
            log_group=entry.log_group,
            region=entry.region,
            account_id=entry.account_id,
            flow_log_arn=flow_log_arn(flow_log_id=entry.flow_log_id, region=entry.region, account_id=entry.account_id),
        )
        return verdicts(self.history, target)

    @cached_property
    def failure_windows(self) -> Any:
        """The ``failure_windows`` frame of the flow log: the timeline's delivery lane carries them."""
        from flowforensics.frames.schema import frame

        rows = self.timeline[(self.timeline["lane"] == "delivery") & (self.timeline["kind"] == "delivery-failed")]
        return frame(
            "failure_windows",
            ({"start": row.time, "end": row.end, "signals": (row.detail or {}).get("signals")}
             for row in rows.itertuples(index=False)),
        )

    @property
    def flow_log(self) -> Any:
        """The flow log's row of the ``flow_logs`` frame (a Series), or None."""
        if self.entry is None:
            return None
        rows = self.evidence.flow_logs[self.evidence.flow_logs["flow_log_id"] == self.entry.flow_log_id]
        return rows.iloc[-1] if len(rows) else None

    @cached_property
    def observed_until(self) -> Any:
        """The last moment the evidence observes: the collection (the manifest's creation), else its latest
        event; the end of the window when one was asked for. A failure still open runs to it."""
        if self.end is not None:
            return self.end
        times = list(self.timeline["time"].dropna()) + list(self.timeline["end"].dropna())
        import pandas as pd

        from flowforensics.evidence.values import parse_time

        # The manifest is evidence too: a created time that does not parse is left out, not fatal.
        parsed = parse_time((self.evidence.manifest or {}).get("created"))
        collected = pd.Timestamp(parsed) if parsed is not None else None
        moments = times + ([collected] if collected is not None else [])
        return max(moments) if moments else None

    @property
    def root(self) -> str:
        """The evidence folder (a file's own folder when the evidence is one file): paths are shown relative to it."""
        path = Path(str(self.evidence.path))
        return str(path if path.is_dir() else path.parent)

    @property
    def folder_name(self) -> str:
        """The evidence's own name (folder or file), never the analyst's path to it."""
        return os.path.basename(str(self.evidence.path).rstrip("/\\"))

    # --- sections: one notebook cell each ---------------------------------------------------------
    @cached_property
    def window(self) -> tuple[Any, Any]:
        """The incident window shown: as asked, else from the trigger and the first failure to the
        recovery and the last resumed delivery, with a margin; else the timeline's extent."""
        import pandas as pd

        entry = self.entry
        moments = []
        if entry is not None:
            refs = [entry.failure_started, entry.trigger and entry.trigger.event_time,
                    entry.recovery and entry.recovery.event_time, entry.recovery and entry.recovery.delivery_resumed]
            moments = [pd.Timestamp(value) for value in refs if value]
            moments += list(self.failure_windows["start"].dropna()) + list(self.failure_windows["end"].dropna())
            if self.failure_windows["end"].isna().any():
                # Still failing: show everything seen since, up to the last observation (the alarm firing).
                moments += list(self.timeline["time"].dropna().nlargest(1))
        if not moments:
            # No failure observed: the incident is what the alarm said (an alarm-only window, an ALARM state).
            alarming = self.timeline[self.timeline["kind"].isin(list(ALARM_KINDS))]
            moments = list(alarming["time"].dropna()) + list(alarming["end"].dropna())
        if not moments:
            moments = list(self.timeline["time"].dropna()) + list(self.timeline["end"].dropna())
        if not moments:
            return self.start, self.end
        low, high = min(moments), max(moments)
        margin = max((high - low) * INCIDENT_MARGIN, MIN_MARGIN)
        return (self.start if self.start is not None else low - margin, self.end if self.end is not None else high + margin)

    def title(self) -> Html:
        """The report's title: the flow log and the incident window."""
        entry = self.entry
        name = entry.flow_log_id if entry else "no flow log in the evidence"
        low, high = self.window
        return Html(
            f"<h1 class='ff-title'>Flow log {text(name)}: delivery to CloudWatch Logs</h1>"
            f"<p class='ff-subtitle'>Incident window {text(when(low))} to {text(when(high))}"
            f" &middot; evidence <code>{text(self.folder_name)}</code></p>"
        )

    def summary(self) -> Html:
        """The summary box: root cause, trigger, failure window, recovery and lag."""
        from flowforensics.presentation.summary import summary_box

        entry = self.entry
        if entry is None:
            return paragraph("There is no flow log in the evidence.")
        refs = [ref.event_id for ref in (entry.trigger, entry.recovery) if ref is not None]
        changes = {event_id: change for event_id in refs if (change := self.change_of(event_id))}
        flaps = self.timeline[(self.timeline["lane"] == "delivery") & (self.timeline["kind"] == "alarm-only")]
        return summary_box(entry, changes=changes, end_of_evidence=self.observed_until,
                           alarm_only=list(zip(flaps["time"], flaps["end"], strict=True)))

    def change_of(self, event_id: str) -> str | None:
        """What one change did, in a line: its policy diff (document by document), else its summary."""
        for row in self.timeline[self.timeline["event_id"] == event_id].itertuples(index=False):
            diff = row.detail.get("diff") if isinstance(row.detail, Mapping) else None
            if isinstance(diff, Mapping) and diff:
                return "; ".join(f"{what}: {line}" for what, line in diff.items())
            return str(row.summary)
        return None

    def timeline_figure(self) -> Any:
        """The timeline figure: lanes, failure windows shaded, alarm band, IAM changes with their diffs."""
        from flowforensics.presentation.plots import timeline_figure

        # Everything is drawn, the incident window is shown; the overview figure spans the rest.
        low, high = self.window
        return timeline_figure(self._figure_rows, self.failure_windows, start=low, end=high, until=self.observed_until,
                               marks=self.marks, title="What happened, lane by lane (UTC)")

    def overview_figure(self) -> Any:
        """The whole evidence window, small, the incident's window (the timeline figure) outlined in it."""
        from flowforensics.presentation.plots import overview_figure

        return overview_figure(self._figure_rows, self.failure_windows, shown=self.window, until=self.observed_until,
                               marks=self.marks, title="The whole evidence window")

    @cached_property
    def _figure_rows(self) -> Any:
        """The timeline and the named principals' lanes, as the figures draw them."""
        import pandas as pd

        return pd.concat([self.timeline, self.actor_timeline], ignore_index=True) if len(self.actor_timeline) else self.timeline

    @property
    def marks(self) -> list[dict[str, Any]]:
        """The trigger and the recovery, where the timeline draws them, to be labelled on the figure."""
        entry = self.entry
        marks = []
        for role, ref in (("trigger", entry and entry.trigger), ("recovery", entry and entry.recovery)):
            if ref:
                lanes = self.timeline.loc[self.timeline["event_id"] == ref.event_id, "lane"]
                marks.append({"role": role, "time": _to_time(ref.event_time), "label": ref.event_name,
                              "lane": lanes.iloc[0] if len(lanes) else "iam"})
        return marks

    # --- the actors: what else the trigger's and the recovery's principals did --------------------
    @property
    def principals(self) -> dict[str, str]:
        """The principals the diagnosis names: actor -> its role in the incident (trigger, recovery)."""
        entry = self.entry
        named: dict[str, str] = {}
        for role, ref in (("trigger", entry and entry.trigger), ("recovery", entry and entry.recovery)):
            if ref and ref.actor:
                named[ref.actor] = f"{named[ref.actor]} and {role}" if ref.actor in named else role
        return named

    def actor_activity(self, principal: str | None = None) -> Any:
        """What the principal (by default: those of the trigger and the recovery) did around the incident.

        The incident window widened by :data:`flowforensics.analysis.actors.ACTIVITY_MARGIN` on each
        side; see :func:`flowforensics.analysis.actors.actor_activity`.
        """
        from flowforensics.analysis.actors import activity_window, actor_activity

        low, high = activity_window(*self.window)
        return actor_activity(self.evidence, [principal] if principal else list(self.principals), start=low, end=high)

    @cached_property
    def _activity(self) -> Any:
        return self.actor_activity()

    @cached_property
    def actor_timeline(self) -> Any:
        """The named principals' activity as timeline rows: a lane each, below the incident's lanes."""
        from flowforensics.analysis.actors import activity_timeline

        lanes = {actor: f"{role}'s actor: {_short(actor)}" for actor, role in self.principals.items()}
        return activity_timeline(self._activity, lanes, self.entry.flow_log_id if self.entry else None)

    def actor_section(self, principal: str | None = None) -> Html:
        """What else the principal (by default those of the trigger and the recovery) did: a table each,
        actions that impair logging marked as MITRE ATT&CK T1562.008."""
        from flowforensics.analysis.actors import ACTIVITY_MARGIN, TECHNIQUES

        named = {principal: "picked"} if principal else self.principals
        if not named:
            return paragraph("The diagnosis names no principal (no trigger or recovery with an actor).", "ff-muted")
        activity = self.actor_activity(principal) if principal else self._activity
        hours = int(ACTIVITY_MARGIN.total_seconds() // 3600)
        parts = Html("")
        for actor, role in named.items():
            mine = activity[activity["principal"] == actor]
            marked = mine[mine["technique"].notna()]
            parts = parts + Html(f"<h4>{text(role.capitalize())}: <code>{text(actor)}</code></h4>")
            said = f"{len(mine)} CloudTrail events in the evidence from {hours} h before the incident window to {hours} h after it"
            if len(marked):
                said += "; " + ", ".join(
                    f"{count} {technique} ({TECHNIQUES.get(technique, '')})"
                    for technique, count in marked["technique"].value_counts().items()
                )
            parts = parts + paragraph(said + ".") + self._activity_table(mine)
        return parts

    def _activity_table(self, activity: Any) -> Html:
        shown = activity.assign(technique=activity["technique"].map(lambda t: f"{t} impairs logging" if isinstance(t, str) else t))
        markup = table(shown, ["time", "event_name", "target", "error_code", "technique", "region", "event_id", "source_file"],
                       empty="No CloudTrail event of this principal in that stretch of the evidence.", root=self.root).markup
        # The rows of a technique stand out (the cell's text says it too, for print).
        return Html(markup.replace("<td>T1562.008 impairs logging</td>", "<td class='ff-technique'>T1562.008 impairs logging</td>"))

    def flow_log_section(self) -> Html:
        """The flow log as described and reconstructed, and what its log streams show of delivery."""
        row = self.flow_log
        if row is None:
            return paragraph("The evidence does not describe this flow log.", "ff-muted")
        facts = key_values([(label, row[column]) for label, column in FLOW_LOG_FIELDS], root=self.root)
        streams = self.evidence.log_streams
        streams = streams[streams["log_group"] == row["log_group"]]
        return (
            facts
            + heading("Log streams of its log group", 4)
            + table(streams, ["log_stream", "first_event", "last_event", "last_ingestion", "observed_at"],
                    empty="No log stream of this log group in the evidence.", root=self.root)
        )

    def role_section(self) -> Html:
        """The delivery role: every identity it had (a new role id means it was recreated) and its trust policy."""
        entry = self.entry
        if entry is None or not entry.role_arn:
            return paragraph("No delivery role is known for this flow log.", "ff-muted")
        roles = self.evidence.roles
        roles = roles[(roles["arn"] == entry.role_arn) | (roles["role_name"] == entry.role_arn.rsplit("/", 1)[-1])]
        # Said of this role only when CloudTrail shows it: a deletion, then a creation under the same name.
        iam = self.timeline[self.timeline["lane"] == "iam"]
        lifecycle = iam[iam["kind"].isin(ROLE_LIFECYCLE)].sort_values("time")
        kinds = list(lifecycle["kind"])
        parts = Html("")
        if "DeleteRole" in kinds and "CreateRole" in kinds[kinds.index("DeleteRole"):]:
            parts = paragraph("CloudTrail shows the role deleted and created again under the same name (a new role id):")
        if len(lifecycle):
            parts = parts + table(lifecycle, ["time", "kind", "actor", "event_id", "source"], root=self.root)
        parts = parts + table(roles, ["role_name", "role_id", "created", "deleted", "permissions_boundary_arn", "source"],
                              empty="The evidence holds no description of the role (only what CloudTrail shows).",
                              root=self.root)
        for trust in roles["trust_policy"].dropna():
            parts = parts + heading("Trust policy", 4) + code(_json(trust))
        return parts

    def permissions_section(self) -> Html:
        """The role's permissions policies (inline and managed) and their documents."""
        entry = self.entry
        if entry is None or not entry.role_arn:
            return paragraph("No delivery role is known for this flow log.", "ff-muted")
        role_name = entry.role_arn.rsplit("/", 1)[-1]
        roles = self.evidence.roles[self.evidence.roles["role_name"] == role_name]
        attached = {arn for arns in roles["attached_policy_arns"].dropna() for arn in arns}
        policies = self.evidence.policies
        mine = policies[(policies["role_name"] == role_name) | policies["policy_arn"].isin(sorted(attached))]
        mine = mine[mine["is_default"].fillna(True).astype(bool)]
        parts = table(mine, ["policy_type", "policy_name", "policy_arn", "version_id", "created", "source"],
                      empty="No permissions policy of the role in the evidence.", root=self.root)
        for row in mine.itertuples(index=False):
            if isinstance(row.document, dict):
                parts = parts + heading(f"{row.policy_type} policy {row.policy_name}", 4) + code(_json(row.document))
        return parts

    def findings(self) -> Html:
        """The differential diagnosis: every hypothesis, its verdict and its evidence."""
        if self.entry is None:
            return paragraph("Nothing to diagnose.", "ff-muted")
        rows = sorted(self.entry.findings, key=lambda f: FINDING_ORDER.get(f.verdict, 9))
        body = "".join(
            f"<tr><td><code>{text(f.code)}</code></td><td class='ff-{text(f.verdict)}'>{text(f.verdict.replace('_', ' '))}</td>"
            f"<td>{text(local_path(f.summary, self.root))}</td>"
            f"<td>{'<br>'.join(text(local_path(e, self.root)) for e in f.evidence)}</td></tr>"
            for f in rows
        )
        return scroll(Html(
            "<table class='ff-table'><tr><th>hypothesis</th><th>verdict</th><th>why</th><th>evidence</th></tr>"
            f"{body}</table>"
        ))

    def delivery_verdict(self) -> Html:
        """Would IAM let VPC Flow Logs deliver now? The verdict on the role's last known state, check by check."""
        import pandas as pd

        result = self.verdicts
        if result is None or not result.states:
            return paragraph("The role's state is not in the evidence: no verdict.", "ff-muted")
        state = result.states[-1]
        headline = VERDICT_HEADLINES[state.allowed] + (f": {state.root_cause}" if state.root_cause else "")
        parts = heading(headline, 4) + paragraph(state.reason)
        if state.verdict is None:
            return parts
        checks = pd.DataFrame(
            [
                {"request": check.action, "resource": check.resource, "decision": check.decision.decision,
                 "decided by": check.decision.decided_by,
                 "statements": "; ".join(f"{s.label} ({s.effect})" for s in check.decision.statements) or None}
                for check in state.verdict.checks
            ]
        )
        return parts + table(checks)

    def verdict_figure(self) -> Any:
        """The delivery verdict over the role's history."""
        from flowforensics.presentation.plots import verdict_figure

        result = self.verdicts
        if result is None:
            return paragraph("No role history: no verdict over time.", "ff-muted")
        low, high = self.window
        return verdict_figure(result.frame, start=low, end=high)

    def fix(self) -> Html:
        """The proven fix: the documents to put in place and the AWS CLI commands that do it."""
        entry = self.entry
        if entry is None:
            return paragraph("Nothing to fix.", "ff-muted")
        from flowforensics.presentation.summary import no_fix_reason

        remedy = entry.remediation
        reason = no_fix_reason(entry)
        if reason is not None:
            return paragraph(reason[:1].upper() + reason[1:] + ".", "ff-muted")
        parts = Html("")
        if remedy.commands:
            parts = parts + heading("Commands", 4) + code("\n".join(remedy.commands))
        if remedy.permissions_policy:
            parts = parts + heading("Permissions policy", 4) + code(_json(remedy.permissions_policy))
        if remedy.trust_policy:
            parts = parts + heading("Trust policy", 4) + code(_json(remedy.trust_policy))
        return parts

    def policy_diffs(self, timeline: Any = None) -> list[PolicyDiff]:
        """Every change to the role's documents in the window (or in ``timeline`` rows): before and after."""
        rows = self.timeline if timeline is None else timeline
        if self.history is None:
            return []
        return history_diffs(self.history, set(rows.loc[rows["lane"] == "iam", "event_id"].dropna()))

    def policy_diffs_section(self) -> Html:
        """:meth:`policy_diffs` as one block."""
        diffs = self.policy_diffs()
        if not diffs:
            return paragraph("No change to the role's policies in the window.", "ff-muted")
        return Html("".join(change._repr_html_() for change in diffs))

    def watch(self) -> Html:
        """What to watch after the fix, and the command that does it."""
        entry = self.entry
        if entry is None:
            return paragraph("Nothing to watch.", "ff-muted")
        alarms = self.evidence.alarms
        alarms = alarms[alarms["log_group"] == entry.log_group] if entry.log_group else alarms.iloc[0:0]
        return (
            bullets(
                [
                    f"DeliverLogsStatus of {entry.flow_log_id} back to SUCCESS (describe-flow-logs).",
                    f"New events in the log streams of {entry.log_group or 'its log group'}: lastIngestionTime moving again.",
                    "IncomingLogEvents of the log group above zero, and the alarm back to OK.",
                    "No new change to the delivery role's trust or permissions policies in CloudTrail.",
                ]
            )
            + paragraph("flowforensics polls these and measures the lag until delivery resumes:")
            + code(f"flowforensics watch --flow-log-id {entry.flow_log_id} --out EVIDENCE-FOLDER")
            + heading("Alarms on the log group", 4)
            + table(alarms, ["alarm_name", "state", "state_updated", "metric_name", "threshold", "comparison"],
                    empty="No alarm on this log group in the evidence.", root=self.root)
        )

    def ingestion_figure(self) -> Any:
        """Log-stream ingestion of the flow log's log group."""
        from flowforensics.presentation.plots import ingestion_figure

        streams = self.evidence.log_streams
        if self.entry is not None and self.entry.log_group:
            streams = streams[streams["log_group"] == self.entry.log_group]
        if not len(streams):
            return paragraph("No log stream in the evidence.", "ff-muted")
        low, high = self.window
        return ingestion_figure(streams, start=low, end=high)

    def metrics_figure(self) -> Any:
        """The metric series of the evidence (IncomingLogEvents and the like)."""
        from flowforensics.presentation.plots import metrics_figure

        if not len(self.evidence.metrics):
            return paragraph("No metric data in the evidence.", "ff-muted")
        low, high = self.window
        return metrics_figure(self.evidence.metrics, start=low, end=high)

    def appendix(self) -> Html:
        """The evidence manifest (files, operations, SHA-256), collection gaps and load problems."""
        import pandas as pd

        manifest = self.evidence.manifest or {}
        files = pd.DataFrame(manifest.get("files") or [], columns=["path", "operation", "region", "collected_at", "sha256"])
        identity = manifest.get("caller_identity") or {}
        parts = key_values(
            [("Evidence folder", self.folder_name), ("Collected by", identity.get("Arn")),
             ("Tool version", manifest.get("version")), ("Manifest created", manifest.get("created"))]
        )
        parts = parts + heading("Files and their SHA-256", 4)
        if manifest:
            parts = parts + table(files, ["path", "operation", "region", "collected_at", "sha256"], max_rows=500)
        else:
            read = pd.DataFrame(self.evidence.files, columns=["path", "kind"])
            parts = (parts + paragraph("No manifest.json: this folder was not collected by flowforensics. Files read:")
                     + table(read, root=self.root))
        gaps = pd.DataFrame(self.evidence.gaps, columns=["operation", "region", "error_code", "error_message"])
        parts = parts + heading("APIs that could not be read", 4) + table(gaps, empty="Every API was read.", root=self.root)
        problems = pd.DataFrame([(str(p.path), p.reason) for p in self.evidence.problems], columns=["file", "problem"])
        return parts + heading("Load problems", 4) + table(problems, empty="Every file was read.", root=self.root)

    def save_results(self, path: str | os.PathLike[str] | None) -> Path | None:
        """Write the ``diagnose --json`` document to ``path`` (nothing when ``path`` is None)."""
        if path is None:
            return None
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.diagnosis.to_json() + "\n", encoding="utf-8")
        return target


def open_investigation(evidence: str | os.PathLike[str], flow_log_id: str | None = None, start: Any = None, end: Any = None) -> Investigation:
    """Load an evidence folder and start the investigation of one flow log.

    Parameters
    ----------
    evidence : str or os.PathLike
        The evidence folder.
    flow_log_id : str, optional
        The flow log; by default the first failing one.
    start, end : str or datetime-like, optional
        The incident window (ISO 8601 strings are read as UTC).

    Returns
    -------
    Investigation
    """
    import flowforensics

    return Investigation(flowforensics.load(evidence), flow_log_id, _to_time(start), _to_time(end))
