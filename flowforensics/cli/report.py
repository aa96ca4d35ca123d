"""``flowforensics report EVIDENCE``: run the investigation notebook with papermill and write the HTML report."""

from __future__ import annotations

import argparse

from flowforensics.evidence.values import WINDOW_TIME_FORMS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of ``report``."""
    parser.description = (
        "Run the investigation notebook and write the HTML report. One flow log in the evidence (or the one "
        "named) gets EVIDENCE-report/report.html; several get one report each for those failing, recovered "
        "or at risk, and EVIDENCE-report/index.html listing every flow log. Evidence without a flow log, "
        "and times that are not times, are refused before anything runs."
    )
    parser.add_argument("evidence", help="an evidence folder (collected, a sample, or filled by hand)")
    parser.add_argument("--flow-log-id", help="the flow log to report on (default: each failing, recovered or at-risk one)")
    parser.add_argument("--out", help="the report folder (default: EVIDENCE-report beside the evidence)")
    parser.add_argument("--start", metavar="T", help=f"start of the incident window: {WINDOW_TIME_FORMS} (write --start=-2h)")
    parser.add_argument("--end", metavar="T", help="end of the incident window (the same forms)")


def run(args: argparse.Namespace) -> int:
    """Write the report(s) and ``diagnosis.json``; print the page to open (the report, or the index)."""
    from pathlib import Path

    from flowforensics.cli import load_evidence, time_option
    from flowforensics.evidence.values import iso
    from flowforensics.presentation.reports import write_reports

    # Everything that can be refused is refused here, before a kernel starts.
    start, end = time_option(args.start, "--start"), time_option(args.end, "--end")
    evidence = load_evidence(args.evidence)
    path = Path(args.evidence).resolve()
    out = Path(args.out) if args.out else path.parent / f"{path.name}-report"
    written = write_reports(evidence, out, flow_log_id=args.flow_log_id, start=iso(start), end=iso(end))
    print(written.page)
    return 0
