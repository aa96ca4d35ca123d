"""``flowforensics lab [EVIDENCE]``: JupyterLab on the notebooks, opened on an evidence folder."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of ``lab``."""
    parser.add_argument("evidence", nargs="?", help="an evidence folder the notebooks open (default: a sample incident)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument("--port", type=int, help="the port to listen on (default: JupyterLab's)")


def lab_command(args: argparse.Namespace) -> list[str]:
    """The JupyterLab command line for ``args``, run with this Python."""
    import sys

    from flowforensics.presentation.report import NOTEBOOKS

    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={NOTEBOOKS}"]
    if args.no_browser:
        command.append("--no-browser")
    if args.port:
        command.append(f"--port={args.port}")
    return command


def run(args: argparse.Namespace) -> int:
    """Start JupyterLab until it is stopped; return its exit status."""
    import os
    import subprocess
    from pathlib import Path

    from flowforensics.errors import EvidenceError
    from flowforensics.presentation.sources import EVIDENCE_ENV

    environment = dict(os.environ)
    if args.evidence:
        evidence = Path(args.evidence).resolve()
        if not evidence.exists():
            raise EvidenceError(evidence, "no such file or folder")
        # The notebooks' evidence parameter defaults to None, which reads this variable.
        environment[EVIDENCE_ENV] = str(evidence)
    return subprocess.call(lab_command(args), env=environment)
