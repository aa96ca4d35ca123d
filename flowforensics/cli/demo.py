"""``flowforensics demo``: write a bundled sample incident, investigate it and write the report."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_OUT = "flowforensics-demo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of ``demo``."""
    parser.add_argument("--scenario", help="the sample incident (default: permission-removed); see --list")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"the folder for the evidence and the report (default: ./{DEFAULT_OUT})")
    parser.add_argument("--list", action="store_true", help="list the sample incidents and exit")


def run(args: argparse.Namespace) -> int:
    """Write ``OUT/evidence`` and ``OUT/report``; print the report's path."""
    import shutil

    from flowforensics.errors import FlowForensicsError
    from flowforensics.presentation.report import write_report
    from flowforensics.scenarios import DEFAULT_SCENARIO, SCENARIOS, write_scenario

    if args.list:
        width = max(map(len, SCENARIOS)) + 2
        for name, scenario in SCENARIOS.items():
            print(f"{name:{width}}{scenario.title}")
        return 0
    name = args.scenario or DEFAULT_SCENARIO
    if name not in SCENARIOS:
        raise FlowForensicsError(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}")
    out = Path(args.out)
    evidence = out / "evidence"
    # The sample is rewritten from scratch: an old folder would be extended, not replaced.
    shutil.rmtree(evidence, ignore_errors=True)
    write_scenario(name, evidence)
    files = write_report(evidence, out / "report")
    print(files.html)
    return 0
