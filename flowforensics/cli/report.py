"""``flowforensics report EVIDENCE``: run the investigation notebook with papermill and write the HTML report."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of ``report``."""
    parser.add_argument("evidence", help="an evidence folder (collected, a sample, or filled by hand)")
    parser.add_argument("--flow-log-id", help="the flow log to report on (default: the first failing one)")
    parser.add_argument("--out", help="the report folder (default: EVIDENCE-report beside the evidence)")
    parser.add_argument("--start", help="start of the incident window (ISO 8601, UTC)")
    parser.add_argument("--end", help="end of the incident window (ISO 8601, UTC)")


def run(args: argparse.Namespace) -> int:
    """Write ``report.html``, ``report.ipynb`` and ``diagnosis.json``; print the report's path."""
    from flowforensics.evidence.reader import ensure_evidence
    from flowforensics.presentation.report import write_report

    ensure_evidence(args.evidence)  # a bad path or file fails here, in one line, before a kernel starts
    evidence = Path(args.evidence)
    out = Path(args.out) if args.out else evidence.resolve().parent / f"{evidence.resolve().name}-report"
    files = write_report(evidence, out, flow_log_id=args.flow_log_id, start=args.start, end=args.end)
    print(files.html)
    return 0
