"""``flowforensics iam simulate REQUEST.json|-``: one IAM decision (or an array of them), offline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from flowforensics.errors import EvidenceError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``iam`` sub-subcommands."""
    from flowforensics.cli import CONTRACTS

    commands = parser.add_subparsers(dest="iam_command", required=True, metavar="IAM_COMMAND")
    simulate = commands.add_parser(
        "simulate",
        help="would AWS allow this request, and why?",
        description=(
            'Decide a request offline: JSON in (a file, or - for stdin), JSON out. The input is {"request": '
            '{"principal", "action", "resource", "resource_account", "context"}, "identity_policies", '
            '"resource_policy", "permissions_boundaries", "scp_levels", "rcp_levels", "session_policy"}, or a JSON '
            'array of them. The answer is {"decision", "decided_by", "statements", "explanation", "warnings"}: '
            "the explanation names the closest statement and what of it did not match, the deny and its layer, "
            'or what allowed it. In an array, a malformed case is answered {"error": ...} and the exit status is 1.'
        ),
        epilog=CONTRACTS,
    )
    simulate.add_argument("request", metavar="REQUEST.json", help="the request (or an array of them); - reads stdin")


def run(args: argparse.Namespace) -> int:
    """Print the answer as JSON; a bad request raises EvidenceError (one line, exit 1). In a batch, the
    malformed cases are answered ``{"error": ...}``, the others are answered, and the status is 1."""
    from flowforensics.analysis.iam.simulate import simulate

    if args.request == "-":
        source, text = "<stdin>", sys.stdin.read()
    else:
        path = Path(args.request)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise EvidenceError(path, "no such file") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise EvidenceError(path, f"cannot be read ({exc})") from exc
        source = str(path)
    outcome = simulate(text, source)
    print(outcome.text)
    failure = outcome.failure()
    if failure:
        print(f"flowforensics: {failure}", file=sys.stderr)
        return 1
    return 0
