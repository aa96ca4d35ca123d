"""``flowforensics lab [EVIDENCE] [-- JUPYTERLAB-ARGS]``: JupyterLab on working copies of the notebooks."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

# The notebook JupyterLab shows first.
FIRST_NOTEBOOK = "investigate.ipynb"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of ``lab``."""
    parser.description = (
        "Open JupyterLab on working copies of the notebooks (investigate, fleet, explore) set to the evidence. "
        "The copies are made once in --workdir (default: EVIDENCE-lab beside the evidence, or ./flowforensics-lab) "
        "and keep the analyst's work; the installed notebooks are never written. As root (containers, notebook "
        "services) JupyterLab gets --allow-root. Arguments after -- go to JupyterLab as they are, e.g. "
        "flowforensics lab EVIDENCE -- --ServerApp.ip=0.0.0.0"
    )
    parser.add_argument("evidence", nargs="?", help="an evidence folder the notebooks open (default: a sample incident)")
    parser.add_argument("--workdir", metavar="DIR", help="the folder of the working copies (default: EVIDENCE-lab beside the evidence)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument("--port", type=int, help="the port to listen on (default: JupyterLab's)")


def lab_command(args: argparse.Namespace, workdir: Path) -> list[str]:
    """The JupyterLab command line for ``args`` on ``workdir``, run with this Python."""
    import sys

    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={workdir}",
               f"--LabApp.default_url=/lab/tree/{FIRST_NOTEBOOK}"]
    if os.geteuid() == 0:
        # JupyterLab refuses to start as root without it; root is how containers and notebook services run it.
        command.append("--allow-root")
    if args.no_browser:
        command.append("--no-browser")
    if args.port:
        command.append(f"--port={args.port}")
    return command + list(getattr(args, "passthrough", []))


def prepare(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """Make the working copies; return the JupyterLab command and its environment.

    Raises
    ------
    EvidenceError
        When the evidence does not exist, or the working folder is the installed notebooks' or cannot be made.
    """
    from flowforensics.errors import EvidenceError
    from flowforensics.presentation.sources import EVIDENCE_ENV
    from flowforensics.presentation.workspace import default_workdir, working_copies

    environment = dict(os.environ)
    evidence = None
    if args.evidence:
        evidence = Path(args.evidence).resolve()
        if not evidence.exists():
            raise EvidenceError(evidence, "no such file or folder")
        # A notebook the analyst makes in the lab reads it (sources.evidence_folder).
        environment[EVIDENCE_ENV] = str(evidence)
    workdir = Path(args.workdir).resolve() if args.workdir else default_workdir(evidence)
    working_copies(workdir, evidence)
    return lab_command(args, workdir), environment


def run(args: argparse.Namespace) -> int:
    """Make the working copies, then run JupyterLab until it is stopped; return its exit status."""
    import subprocess

    command, environment = prepare(args)
    return subprocess.call(command, env=environment)
