"""``flowforensics verify EVIDENCE``: re-check every file against the manifest's SHA-256, and the manifest against its seal."""

from __future__ import annotations

import argparse

from flowforensics.errors import EvidenceError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of ``verify``."""
    parser.add_argument("evidence", help="an evidence folder collected by flowforensics (with manifest.json)")
    parser.add_argument(
        "--key-file",
        help="a file holding the key of the manifest's HMAC-SHA256 seal (default: the file named by "
        "FLOWFORENSICS_SEAL_KEY_FILE, else the key itself in FLOWFORENSICS_SEAL_KEY)",
    )


def run(args: argparse.Namespace) -> int:
    """Print one line per changed, missing, added or refused file, then what the seal proves; fail on any problem."""
    from flowforensics.evidence.manifest import MANIFEST_NAME, check_seal, read_manifest, seal_key, verify
    from flowforensics.presentation.terminal import for_terminal

    key = seal_key(args.key_file)
    problems = verify(args.evidence, key=key)
    folder = for_terminal(args.evidence)
    for problem in problems:
        detail = f" ({for_terminal(problem.detail)})" if problem.detail else ""
        print(f"{problem.problem}: {folder}/{for_terminal(problem.path)}{detail}")
    if problems:
        raise EvidenceError(f"{args.evidence}/{MANIFEST_NAME}", f"{len(problems)} file(s) do not match the manifest")
    _intact, seal = check_seal(read_manifest(args.evidence), key)
    print(f"{folder}: every file matches {MANIFEST_NAME}; {seal}")
    return 0
