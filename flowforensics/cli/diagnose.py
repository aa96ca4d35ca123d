"""``flowforensics diagnose EVIDENCE [--flow-log-id ID] [--json]``: the root cause of each flow log's failure."""

from __future__ import annotations

import argparse
from typing import Any

from flowforensics.presentation.terminal import for_terminal as shown


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of ``diagnose``."""
    parser.add_argument("evidence", help="an evidence folder or file")
    parser.add_argument("--flow-log-id", help="diagnose only this flow log")
    parser.add_argument("--json", action="store_true", help="print the diagnosis as JSON: one object per flow log, with its status, state and root cause (see the README)")


def one_line(entry: Any) -> str:
    """One line for a flow log: status, root cause, since when, and the trigger."""
    line = f"{shown(entry.flow_log_id)} {shown(entry.status)} {entry.root_cause} ({entry.confidence})"
    if entry.failure_started:
        line += f" since {entry.failure_started}"
    if entry.trigger:
        trigger = entry.trigger
        line += f"; trigger {shown(trigger.event_name)} {shown(trigger.event_id)} by {shown(trigger.actor) or 'unknown'}"
    if entry.recovery:
        line += f"; recovery {shown(entry.recovery.event_name)} {shown(entry.recovery.event_id)}"
    return line


def summary(entry: Any) -> list[str]:
    """The human summary of one flow log: the line, what it delivers where, findings and the fix."""
    lines = [one_line(entry), f"  role {shown(entry.role_arn) or 'unknown'} -> log group "
                               f"{shown(entry.log_group) or 'unknown'} ({shown(entry.region)})"]
    if entry.recovery:
        recovery = entry.recovery
        lag = f"{recovery.lag_seconds:.0f} s after it" if recovery.lag_seconds is not None else "not seen"
        lines.append(f"  fixed by {shown(recovery.event_name)} at {shown(recovery.event_time)} by {shown(recovery.actor)}; "
                     f"delivery resumed {recovery.delivery_resumed or 'n/a'} ({lag})")
    for finding in entry.findings:
        if finding.verdict != "ruled_out":
            cited = f" [{', '.join(shown(item) for item in finding.evidence[:3])}]" if finding.evidence else ""
            lines.append(f"  {finding.verdict:12} {finding.code}: {shown(finding.summary)}{cited}")
    lines += [f"  fix: {shown(command)}" for command in entry.remediation.commands]
    return lines


def run(args: argparse.Namespace) -> int:
    """Load the evidence, diagnose, print."""
    from flowforensics.analysis.diagnosis import diagnose
    from flowforensics.cli import load_evidence

    result = diagnose(load_evidence(args.evidence), args.flow_log_id)
    if args.json:
        print(result.to_json())
        return 0
    if not result.flow_logs:
        print(f"{shown(args.evidence)}: no flow log in this evidence")
    elif len(result.flow_logs) == 1:
        print("\n".join(summary(result.flow_logs[0])))
    else:
        failing = [entry for entry in result.flow_logs if entry.status != "SUCCESS" or entry.root_cause != "none"]
        for entry in failing:
            print(one_line(entry))
        healthy = len(result.flow_logs) - len(failing)
        if healthy:
            print(f"{healthy} other flow log(s) delivering (root cause none)")
    return 0
