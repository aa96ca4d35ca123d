"""``flowforensics timeline EVIDENCE [--flow-log-id ID] [--json | --csv]``: what happened, in order."""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of ``timeline``."""
    parser.add_argument("evidence", help="an evidence folder or file")
    parser.add_argument("--flow-log-id", help="only this flow log")
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="one JSON object per row, in a JSON array")
    shape.add_argument("--csv", action="store_true", help="CSV with the timeline frame's columns; a cell that a spreadsheet would run as a formula "
                       "(starting with = + - @, a tab or CR) is prefixed with an apostrophe")


def run(args: argparse.Namespace) -> int:
    """Load the evidence, build the timeline, print it."""
    from flowforensics.analysis.timeline import timeline
    from flowforensics.cli import load_evidence
    from flowforensics.errors import EvidenceError
    from flowforensics.evidence.values import iso
    from flowforensics.presentation.terminal import for_spreadsheet, for_terminal

    evidence = load_evidence(args.evidence)
    if args.flow_log_id and not (evidence.flow_logs["flow_log_id"] == args.flow_log_id).any():
        raise EvidenceError(args.evidence, f"no flow log {args.flow_log_id} in this evidence")
    table = timeline(evidence, args.flow_log_id)
    ids = list(dict.fromkeys(evidence.flow_logs["flow_log_id"]))
    if not args.flow_log_id and len(ids) > 1:
        # On stderr: the rows on stdout stay the timeline's, whatever their shape.
        print(f"flowforensics: this timeline covers {len(ids)} flow logs ({', '.join(for_terminal(i) for i in ids)}); "
              f"--flow-log-id {for_terminal(ids[0])} shows one", file=sys.stderr)
    if args.json:
        print(table.to_json(orient="records", date_format="iso", indent=2, default_handler=str))
    elif args.csv:
        # Cells come from evidence: none may run as a spreadsheet formula or carry a control character.
        table = table.assign(detail=table["detail"].map(lambda detail: json.dumps(detail, default=str)))
        text_columns = table.select_dtypes(include=["object", "string"]).columns
        table[text_columns] = table[text_columns].map(for_spreadsheet)
        table.to_csv(sys.stdout, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    else:
        for row in table.itertuples(index=False):
            print(f"{iso(row.time) or 'no time':20}  {for_terminal(row.lane):9}  {for_terminal(row.summary)}")
    return 0
