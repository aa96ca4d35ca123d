"""``flowforensics verify EVIDENCE``: re-check every file against the manifest's SHA-256."""

from __future__ import annotations

import argparse

from flowforensics.errors import EvidenceError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of ``verify``."""
    parser.add_argument("evidence", help="an evidence folder collected by flowforensics (with manifest.json)")


def run(args: argparse.Namespace) -> int:
    """Print one line per changed, missing or added file; fail when there is any."""
    from flowforensics.evidence.manifest import MANIFEST_NAME, verify
    from flowforensics.presentation.terminal import for_terminal

    problems = verify(args.evidence)
    if problems:
        for problem in problems:
            print(f"{problem.problem}: {for_terminal(args.evidence)}/{for_terminal(problem.path)}")
        raise EvidenceError(f"{args.evidence}/{MANIFEST_NAME}", f"{len(problems)} file(s) do not match the manifest")
    print(f"{args.evidence}: every file matches {MANIFEST_NAME}")
    return 0
