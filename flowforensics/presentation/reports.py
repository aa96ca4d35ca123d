"""The reports on an evidence folder: one per flow log worth one, and an index page when there are several.

``flowforensics report`` decides here, before any kernel starts, what it will write: evidence without
a flow log, or a flow log asked for that the evidence does not hold, is refused in one line; one flow
log (or the one asked for) gets ``report.html``; several get one report each for those failing,
recovered or at risk (a folder per flow log) and ``index.html`` listing every flow log, never silently
the first one.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowforensics.errors import EvidenceError
from flowforensics.presentation import report as engine
from flowforensics.presentation.markup import CSS, Html, text, when

# The states (of the diagnosis) of the flow logs that get a report of their own, in the index's order.
REPORTED_STATES = ("failing", "at-risk", "recovered")
STATE_ORDER = {state: n for n, state in enumerate(REPORTED_STATES + ("unknown", "healthy"))}
# Flow log ids named in a one-line message, at most.
NAMED_AT_MOST = 10
INDEX_COLUMNS = ("flow log", "state", "status", "root cause", "confidence", "failing since", "trigger", "report")


@dataclass(frozen=True)
class Reports:
    """What :func:`write_reports` wrote.

    Attributes
    ----------
    page : Path
        The page to open: ``report.html`` for one report, ``index.html`` for several.
    reports : dict of str to ReportFiles
        Each report by the flow log it is about (``None`` when the notebook picked it).
    index : Path or None
        The index page, when the evidence holds several flow logs.
    """

    page: Path
    reports: dict[str | None, engine.ReportFiles] = field(default_factory=dict)
    index: Path | None = None


def named(flow_log_ids: list[str]) -> str:
    """Flow log ids for a one-line message: the first few, and how many more."""
    shown = ", ".join(flow_log_ids[:NAMED_AT_MOST])
    more = len(flow_log_ids) - NAMED_AT_MOST
    return shown + (f" and {more} more" if more > 0 else "")


def folder_name(flow_log_id: str, taken: set[str]) -> str:
    """A folder name for a flow log's report: its id made safe (ids come from the evidence), unique."""
    base = re.sub(r"[^A-Za-z0-9_-]", "_", flow_log_id)[:64] or "flow-log"
    name, number = base, 1
    while name in taken:
        number += 1
        name = f"{base}-{number}"
    taken.add(name)
    return name


def index_page(evidence: Any, diagnosis: Any, links: dict[str, str]) -> str:
    """The index of the reports on an evidence folder: every flow log, its diagnosis, its report if any.

    Parameters
    ----------
    evidence : Evidence
        The loaded evidence (its path and what it holds are shown).
    diagnosis : Diagnosis
        The diagnosis of every flow log.
    links : dict of str to str
        Each reported flow log's report, relative to the index.

    Returns
    -------
    str
        A self-contained HTML page; every value from the evidence is escaped.
    """
    rows = []
    for entry in sorted(diagnosis.flow_logs, key=lambda e: (STATE_ORDER.get(e.state, 9), e.flow_log_id)):
        trigger = entry.trigger
        link = links.get(entry.flow_log_id)
        cells = [
            f"<code>{text(entry.flow_log_id)}</code>",
            text(entry.state),
            text(entry.status),
            f"<code>{text(entry.root_cause)}</code>",
            text(entry.confidence),
            text(when(entry.failure_started) if entry.failure_started else None),
            text(f"{trigger.event_name} by {trigger.actor or 'unknown'} at {when(trigger.event_time)}" if trigger else None),
            f"<a href='{text(link)}'>report</a>" if link else f"<span class='ff-muted'>none ({text(entry.state)})</span>",
        ]
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    header = "".join(f"<th>{text(column)}</th>" for column in INDEX_COLUMNS)
    name = os.path.basename(str(evidence.path).rstrip("/"))
    body = Html(
        f"<h1 class='ff-title'>flowforensics: {len(diagnosis.flow_logs)} flow logs in {text(name)}</h1>"
        f"<p class='ff-subtitle'>{len(links)} failing, recovered or at risk, each with its report; "
        f"the evidence holds {text(evidence.contents())}</p>"
        f"<table class='ff-table'><tr>{header}</tr>{''.join(rows)}</table>"
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>flowforensics reports: {text(name)}</title><style>{CSS}\n"
        "body { font-family: system-ui, sans-serif; max-width: 1280px; margin: 1em auto; padding: 0 1.5em; }"
        f"</style></head><body>{body.markup}</body></html>\n"
    )


def write_reports(
    evidence: Any,
    out: str | os.PathLike[str],
    *,
    flow_log_id: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> Reports:
    """Write the reports on an evidence folder (see the module's docstring for which).

    Parameters
    ----------
    evidence : Evidence
        The loaded evidence (:func:`flowforensics.load`); each notebook loads ``evidence.path`` again.
    out : str or os.PathLike
        The folder to write: ``report.html`` (one report) or ``index.html`` and a folder per report.
    flow_log_id : str, optional
        The one flow log to report on.
    start, end : str, optional
        The incident window, ISO 8601 UTC (:func:`flowforensics.evidence.values.window_time` parses
        what a user gives).

    Returns
    -------
    Reports

    Raises
    ------
    EvidenceError
        Before any notebook runs: the evidence holds no flow log (the message says what it holds), not
        the one asked for, or several of which none needs a report.
    FlowForensicsError
        When a report's notebook fails.
    """
    from flowforensics.frames.evidence import require_flow_logs

    loaded = require_flow_logs(evidence)
    ids = list(dict.fromkeys(loaded.flow_logs["flow_log_id"].dropna()))
    folder = Path(out)
    if flow_log_id is not None and flow_log_id not in ids:
        raise EvidenceError(loaded.path, f"no flow log {flow_log_id} in this evidence; it holds {named(ids)}")
    if flow_log_id is not None or len(ids) == 1:
        files = engine.write_report(loaded.path, folder, flow_log_id=flow_log_id, start=start, end=end)
        return Reports(files.html, {flow_log_id: files})
    from flowforensics.analysis.diagnosis import diagnose

    diagnosis = diagnose(loaded, start=start, end=end)
    worth = [e.flow_log_id for e in sorted(diagnosis.flow_logs, key=lambda e: STATE_ORDER.get(e.state, 9))
             if e.state in REPORTED_STATES]
    if not worth:
        raise EvidenceError(
            loaded.path,
            f"{len(ids)} flow logs, none failing, recovered or at risk: {named(ids)}; "
            "name one with --flow-log-id to report on it",
        )
    taken: set[str] = set()
    reports, links = {}, {}
    for one in worth:
        name = folder_name(one, taken)
        reports[one] = engine.write_report(loaded.path, folder / name, flow_log_id=one, start=start, end=end)
        links[one] = f"{name}/report.html"
    index = folder / "index.html"
    index.write_text(index_page(loaded, diagnosis, links), encoding="utf-8")
    return Reports(index, reports, index)
