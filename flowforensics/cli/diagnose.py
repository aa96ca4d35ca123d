"""``flowforensics diagnose EVIDENCE [--flow-log-id ID] [--json] [--verbose] [--check]``: why flow logs fail."""

from __future__ import annotations

import argparse

# --check: the exit status of a flow log asked about that still fails or is at risk (as scanners do).
CHECK_FAILED = 3
CHECK_STATES = ("failing", "at-risk")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of ``diagnose``."""
    parser.add_argument("evidence", help="an evidence folder or file")
    parser.add_argument("--flow-log-id", help="diagnose only this flow log")
    parser.add_argument("--json", action="store_true", help="print the diagnosis as JSON: one object per flow log, with its status, state and root cause (see docs/contracts.md)")
    parser.add_argument("--verbose", action="store_true", help="after the summary, every finding in full (what each hypothesis "
                        "was tested on, and why it was confirmed, ruled out or left undecided)")
    parser.add_argument("--check", action="store_true", help=f"exit {CHECK_FAILED} when a flow log asked about is failing or "
                        "at risk (still delivering while what was collected refuses it), 0 when every one delivers or "
                        "recovered; without it the exit status is 0 whatever the diagnosis (1 bad evidence, 2 usage)")


def run(args: argparse.Namespace) -> int:
    """Load the evidence, diagnose, print; with ``--check`` the exit status says whether any flow log fails."""
    from flowforensics.analysis.diagnosis import diagnose
    from flowforensics.cli import load_evidence
    from flowforensics.presentation.digest import digest, fleet, full
    from flowforensics.presentation.terminal import for_terminal

    result = diagnose(load_evidence(args.evidence), args.flow_log_id)
    if args.json:
        print(result.to_json())
    elif not result.flow_logs:
        print(f"{for_terminal(args.evidence)}: no flow log in this evidence")
    elif len(result.flow_logs) == 1 or args.verbose:
        for position, entry in enumerate(result.flow_logs):
            print(("\n" if position else "") + "\n".join(full(entry) if args.verbose else digest(entry)))
    else:
        print("\n".join(fleet(result.flow_logs, args.evidence)))
    failing = any(entry.state in CHECK_STATES for entry in result.flow_logs)
    return CHECK_FAILED if args.check and failing else 0
