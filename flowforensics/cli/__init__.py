"""The ``flowforensics`` command: a table of subcommands, each a module with ``add_arguments`` and ``run``.

Exit status: 0 done; 1 the evidence or the request is bad (one line on stderr naming the file and the
reason); 2 usage. Bad input never shows a traceback. Everything printed goes through the terminal-safe
streams of ``presentation/terminal.py``: evidence cannot send escape sequences to the analyst's terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from flowforensics import __version__
from flowforensics.errors import FlowForensicsError, UsageError
from flowforensics.presentation.terminal import for_terminal, terminal_safe_streams

# Every --help ends with where the inputs, outputs and exit statuses are written down.
CONTRACTS = ("Inputs, outputs (iam simulate, diagnose --json), root-cause codes and exit statuses: docs/contracts.md "
             "in the flowforensics repository.")
# subcommand -> (module under flowforensics.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "run the investigation on a bundled sample incident and write the report"),
    "collect": ("collect", "read-only collection from AWS into an evidence folder"),
    "diagnose": ("diagnose", "diagnose the flow logs in an evidence folder"),
    "timeline": ("timeline", "everything that happened to a flow log, its role and its log group"),
    "report": ("report", "run the investigation notebook and write the HTML report"),
    "watch": ("watch", "after a fix: poll until delivery resumes, and measure the lag"),
    "verify": ("verify", "re-check an evidence folder against its manifest hashes"),
    "lab": ("lab", "open JupyterLab on the notebooks"),
    "iam": ("iam", "offline IAM: would AWS allow this request?"),
}
# Commands that pass the arguments after ``--`` to the program they start (``lab``: JupyterLab).
PASSTHROUGH = frozenset({"lab"})


def load_evidence(path: str) -> Any:
    """Load evidence for a command: warnings on stderr (the first ten problems, then one line per kind of
    reason), an error if nothing is evidence.

    Raises
    ------
    EvidenceError
        Naming the (first) unreadable file and why, when nothing in ``path`` is evidence.
    """
    import flowforensics
    from flowforensics.evidence.reader import summarise
    from flowforensics.frames.evidence import require_evidence

    evidence = require_evidence(flowforensics.load(path))
    for line in summarise(evidence.problems):
        print(f"flowforensics: warning: {for_terminal(line)}", file=sys.stderr)
    return evidence


def time_option(value: str | None, option: str) -> Any:
    """Parse the value of a time option (``--start``, ``--end``) before any work starts.

    Every command that takes a window parses it here, with
    :func:`flowforensics.evidence.values.window_time` (ISO 8601, epoch, ``now``, ``-2h``, ...).

    Returns
    -------
    datetime or None
        Aware UTC; ``None`` when the option was not given.

    Raises
    ------
    UsageError
        When ``value`` is not a time (exit status 2, one line).
    """
    from flowforensics.evidence.values import window_time

    try:
        return window_time(value)
    except ValueError as exc:
        raise UsageError(f"{option} {exc}") from None


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser, with every subcommand's own arguments."""
    parser = argparse.ArgumentParser(
        prog="flowforensics",
        description="Forensics for VPC Flow Logs that stop reaching CloudWatch Logs: collect evidence read-only, "
        "diagnose the root cause and the change that triggered it, prove the fix, write the report.",
        epilog=CONTRACTS,
    )
    parser.add_argument("--version", action="version", version=f"flowforensics {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, summary) in COMMANDS.items():
        module = importlib.import_module(f"flowforensics.cli.{module_name}")
        sub = subparsers.add_parser(name, help=summary, description=summary, epilog=CONTRACTS)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``argv``; for a command of :data:`PASSTHROUGH`, what follows ``--`` is ``args.passthrough``."""
    words = list(argv)
    # The command is the first word that is not an option (the top level's options take no value).
    command = next((word for word in words if not word.startswith("-")), None)
    if command in PASSTHROUGH and "--" in words:
        cut = words.index("--")
        args = build_parser().parse_args(words[:cut])
        args.passthrough = words[cut + 1:]
        return args
    return build_parser().parse_args(words)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    try:
        with terminal_safe_streams():
            args = parse_arguments(sys.argv[1:] if argv is None else argv)
            try:
                return int(args._run(args) or 0)
            except UsageError as exc:
                print(f"flowforensics {args.command}: {for_terminal(exc)}", file=sys.stderr)
                return 2
            except FlowForensicsError as exc:
                print(f"flowforensics: {for_terminal(exc)}", file=sys.stderr)
                return 1
            except KeyboardInterrupt:
                print("flowforensics: interrupted", file=sys.stderr)
                return 130
    except BrokenPipeError:
        return _reader_went_away()


def _reader_went_away() -> int:
    """The reader of our output closed it (``diagnose | head``): stop quietly, as ``yes | head`` does.

    The process's stdout is pointed at /dev/null so that the interpreter's final flush cannot raise again.
    """
    if sys.stdout is sys.__stdout__:
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 141  # 128 + SIGPIPE: the status of a command that a closed pipe stopped


if __name__ == "__main__":
    sys.exit(main())
