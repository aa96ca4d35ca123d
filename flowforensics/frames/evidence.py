"""The :class:`Evidence` object: every frame of an evidence folder, and what could not be read."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from typing import Any

from flowforensics.errors import EvidenceError
from flowforensics.evidence.archive import is_archive, read_archive
from flowforensics.evidence.reader import Document, LoadProblem, no_evidence_error, read_folder
from flowforensics.frames.cloudtrail import EventCounters, events_frame
from flowforensics.frames.reconstruct import (
    flow_logs_from_events,
    infer_regions,
    roles_and_policies_from_events,
)
from flowforensics.frames.resources import BUILDERS
from flowforensics.frames.schema import SCHEMAS, fit, frame

# Frames the analysis derives (computed on first use, never silently empty) and the evidence's own.
DERIVED_FRAMES = ("timeline", "failure_windows", "verdicts")
FRAME_NAMES = tuple(name for name in SCHEMAS if name not in DERIVED_FRAMES)
# How a reader names a frame's rows, for one-line descriptions of what the evidence holds.
ROW_NAMES = {
    "flow_logs": "flow log(s)",
    "events": "CloudTrail event(s)",
    "roles": "role(s)",
    "policies": "policy document(s)",
    "log_groups": "log group(s)",
    "log_streams": "log stream(s)",
    "alarms": "alarm(s)",
    "alarm_history": "alarm history item(s)",
    "metrics": "metric data point(s)",
    "simulations": "IAM simulation result(s)",
}
# What produces each kind of file that is not in SHAPES.
OTHER_PRODUCERS = {"cloudtrail_records": "CloudTrail records (Lake, Athena or SIEM export)"}


@dataclass
class Evidence:
    """An evidence folder loaded as typed frames.

    Attributes
    ----------
    path : str
        The folder or file loaded.
    events, flow_logs, roles, policies, log_groups, log_streams, alarms, alarm_history, metrics, simulations
        The frames of :mod:`flowforensics.frames.schema`.
    problems : list of LoadProblem
        Files that were not evidence or were broken, and records kept with a caveat.
    manifest : dict or None
        ``manifest.json`` when the folder was collected by flowforensics.
    counters : EventCounters
        CloudTrail records read, merged as duplicates, and set aside.
    """

    path: str
    frames: dict[str, Any]
    problems: list[LoadProblem] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    counters: EventCounters = field(default_factory=EventCounters)
    files: list[tuple[str, str]] = field(default_factory=list)  # (path, kind) of every file read

    def __getattr__(self, name: str) -> Any:
        frames = self.__dict__.get("frames", {})
        if name in frames:
            return frames[name]
        if name in DERIVED_FRAMES:
            derived = self.__dict__.setdefault("_derived", {})
            if name not in derived:
                derived[name] = _derive(self, name)
            return derived[name]
        raise AttributeError(name)

    def __repr__(self) -> str:
        problems = f"; {len(self.problems)} problem(s), see .problems" if self.problems else ""
        files = f"{len(self.files)} file{'s' if len(self.files) != 1 else ''}"
        return f"<Evidence {self.path!r}: {files}; {', '.join(self._rows())}{problems}>"

    @property
    def gaps(self) -> list[dict[str, Any]]:
        """APIs that collection could not read, with the error (from the manifest)."""
        return list((self.manifest or {}).get("gaps") or [])

    def contents(self) -> str:
        """What the evidence holds, in one line: its files by the AWS output they are, and its rows.

        Returns
        -------
        str
            For example ``1 file (1 aws cloudtrail lookup-events) with 1 CloudTrail event(s) and no flow log``.
        """
        from collections import Counter

        from flowforensics.evidence.shapes import SHAPES

        kinds = Counter(kind for _path, kind in self.files)
        produced = ", ".join(
            f"{count} {SHAPES[kind][1] if kind in SHAPES else OTHER_PRODUCERS.get(kind, kind)}"
            for kind, count in kinds.most_common()
        )
        files = f"{len(self.files)} file{'s' if len(self.files) != 1 else ''}" + (f" ({produced})" if produced else "")
        rows = self._rows()
        listed = ", ".join(rows[:-1]) + (" and " if len(rows) > 1 else "") + rows[-1]
        return f"{files} with {listed}"

    def _rows(self) -> list[str]:
        rows = [f"{len(self.frames[name])} {label}" for name, label in ROW_NAMES.items()
                if name in self.frames and len(self.frames[name])]
        return rows if len(self.frames["flow_logs"]) else [*rows, "no flow log"]

    def summary(self) -> dict[str, int]:
        """Rows per frame, and the number of problems."""
        counts = {name: len(table) for name, table in self.frames.items()}
        counts["problems"] = len(self.problems)
        return counts

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in self.summary().items() if v)
        problems = "".join(f"<li>{html.escape(str(p))}</li>" for p in self.problems[:20])
        more = f"<li>... and {len(self.problems) - 20} more</li>" if len(self.problems) > 20 else ""
        return (
            f"<div><b>Evidence</b> <code>{html.escape(self.path)}</code>: {html.escape(self.contents())}"
            f"<table><tr><th>frame</th><th>rows</th></tr>{rows}</table>"
            "<p>Derived on first use: <code>.timeline</code>, <code>.failure_windows</code>, <code>.verdicts</code> "
            "(every flow log); <code>diagnose(ev)</code> for the diagnosis.</p>"
            + (f"<p>Not loaded or loaded with caveats:</p><ul>{problems}{more}</ul>" if problems else "")
            + "</div>"
        )


def _items(document: Document, key: str | None) -> list[Any]:
    if key is None:
        return [document.content]
    value = document.content.get(key)
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return value
    raise ValueError(f"'{key}' is a JSON {type(value).__name__}, not a list")


def _build_document(document: Document) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """The rows of one document, each item on its own; and why items or values were set aside."""
    built: list[tuple[str, dict[str, Any]]] = []
    skipped: dict[str, list[str]] = {}  # key -> reasons, one per item set aside
    emptied: list[str] = []
    for key, build in BUILDERS[document.kind]:
        for item in _items(document, key):
            try:
                if not isinstance(item, dict):
                    raise TypeError(f"a JSON {type(item).__name__}, not an object")
                rows = list(build(item, document))
            except (ValueError, TypeError, AttributeError, KeyError, RecursionError) as exc:
                skipped.setdefault(key or "document", []).append(str(exc))
                continue
            for name, row in rows:
                emptied.extend(fit(name, row))
                built.append((name, row))
    notes = [
        f"{len(reasons)} {key} entries are malformed (skipped; the first: {reasons[0]})" for key, reasons in skipped.items()
    ]
    if emptied:
        notes.append(f"{len(emptied)} values do not fit their field (left empty: {', '.join(emptied[:3])}"
                     + (", ..." if len(emptied) > 3 else "") + ")")
    return built, notes


def _derive(evidence: Evidence, name: str) -> Any:
    """An analysis frame over every flow log of ``evidence``, with a ``flow_log_id`` column."""
    import pandas as pd

    from flowforensics.analysis.timeline import timeline

    if name == "timeline":
        return timeline(evidence)
    if name == "failure_windows":
        rows = evidence.timeline[(evidence.timeline["lane"] == "delivery") & (evidence.timeline["kind"] == "delivery-failed")]
        return frame("failure_windows", (
            {"start": row.time, "end": row.end, "signals": (row.detail or {}).get("signals"), "flow_log_id": row.flow_log_id}
            for row in rows.itertuples(index=False)
        ))
    from flowforensics.analysis.history import role_history
    from flowforensics.analysis.iam.delivery import flow_log_arn
    from flowforensics.analysis.verdicts import Target, verdicts
    from flowforensics.evidence.values import text

    tables = [frame("verdicts")]
    for row in evidence.flow_logs.astype(object).where(evidence.flow_logs.notna(), None).to_dict("records"):
        role_arn, log_group, region = text(row.get("role_arn")), text(row.get("log_group")), text(row.get("region"))
        account = text(row.get("account_id")) or (role_arn.split(":")[4] if role_arn else None)
        if not (role_arn and log_group and region and account):
            continue
        target = Target(role_arn, log_group, region, account,
                        flow_log_arn(flow_log_id=row["flow_log_id"], region=region, account_id=account))
        tables.append(verdicts(role_history(evidence, role_arn), target).frame.assign(flow_log_id=row["flow_log_id"]))
    return pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]


def _build_rows(documents: list[Document], problems: list[LoadProblem], strict: bool) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in FRAME_NAMES}
    for document in documents:
        if document.kind not in BUILDERS:
            continue
        try:
            built, notes = _build_document(document)
        except ValueError as exc:
            built, notes = [], [f"recognised as {document.kind} but malformed: {exc}"]
        if notes and strict:
            raise EvidenceError(document.path, notes[0])
        problems.extend(LoadProblem(document.path, note) for note in notes)
        for name, row in built:
            rows[name].append(row)
    return rows


def _merge_flow_logs(described: Any, from_trail: Any) -> Any:
    import pandas as pd

    # Several observations of one flow log (collect, then watch): the last read is the newest.
    described = described.drop_duplicates("flow_log_id", keep="last")
    lifecycle = ["created_by", "create_event_id", "deleted", "deleted_by", "delete_event_id"]
    if len(from_trail):
        trail = from_trail.set_index("flow_log_id")
        for column in lifecycle + ["created"]:
            known = described["flow_log_id"].map(trail[column])
            described[column] = described[column].where(described[column].notna(), known)
        only_trail = from_trail[~from_trail["flow_log_id"].isin(described["flow_log_id"])]
        described = pd.concat([described, only_trail], ignore_index=True) if len(described) else only_trail
    return described.reset_index(drop=True)


def _merge_missing(current: Any, from_trail: Any, key: list[str]) -> Any:
    import pandas as pd

    if not len(from_trail):
        return current
    if not len(current):
        return from_trail
    known = set(map(tuple, current[key].astype(object).itertuples(index=False)))
    extra = from_trail[[tuple(row) not in known for row in from_trail[key].astype(object).itertuples(index=False)]]
    return pd.concat([current, extra], ignore_index=True) if len(extra) else current


def load_evidence(path: str | os.PathLike[str], *, strict: bool = False) -> Evidence:
    """Load an evidence folder or file, or a CloudTrail archive (see :func:`flowforensics.load`)."""
    if is_archive(path):
        archive = read_archive(path)
        if strict and archive.problems:
            raise EvidenceError(archive.problems[0].path, archive.problems[0].reason)
        documents, problems, manifest = archive.documents, archive.problems, None
    else:
        documents, problems, manifest = read_folder(path, strict=strict)
    events, counters = events_frame(documents)
    if strict and counters.notes:
        raise EvidenceError(counters.notes[0].path, counters.notes[0].reason)
    problems.extend(counters.notes)
    rows = _build_rows(documents, problems, strict)
    frames = {name: frame(name, rows[name]) for name in FRAME_NAMES if name != "events"}
    frames["events"] = events
    frames["flow_logs"] = _merge_flow_logs(frames["flow_logs"], flow_logs_from_events(events))
    trail_roles, trail_policies = roles_and_policies_from_events(events)
    frames["roles"] = _merge_missing(frames["roles"].drop_duplicates("arn", keep="last"), trail_roles, ["role_name"])
    frames["policies"] = _merge_missing(frames["policies"], trail_policies, ["policy_type", "policy_name", "role_name", "policy_arn", "version_id"])
    frames["log_groups"] = frames["log_groups"].drop_duplicates(["region", "log_group"], keep="last").reset_index(drop=True)
    frames["flow_logs"] = infer_regions(frames)
    ordered = {name: frames[name] for name in FRAME_NAMES}
    return Evidence(
        path=os.fspath(path),
        frames=ordered,
        problems=problems,
        manifest=manifest,
        counters=counters,
        files=[(d.path, d.kind) for d in documents],
    )


def require_evidence(evidence: Evidence) -> Evidence:
    """Return ``evidence`` if anything in it was recognised; else raise the reason, for the CLI.

    Raises
    ------
    EvidenceError
        Naming the first unreadable file and why, or the path when it held no file at all.
    """
    if evidence.files:
        return evidence
    raise no_evidence_error(evidence.path, evidence.problems)


def require_flow_logs(evidence: Evidence) -> Evidence:
    """Return ``evidence`` if it holds a flow log (described or reconstructed); else say what it holds.

    Raises
    ------
    EvidenceError
        Naming the evidence, what it holds, and where a flow log comes from.
    """
    if len(evidence.flow_logs):
        return evidence
    raise EvidenceError(
        evidence.path,
        f"no flow log to report on: it holds {evidence.contents()} (a flow log comes from "
        "aws ec2 describe-flow-logs output or a CreateFlowLogs event in CloudTrail)",
    )
