"""``flowforensics collect``: read-only collection from AWS into an evidence folder."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from flowforensics.cli import collect_query


def add_aws_arguments(parser: argparse.ArgumentParser) -> None:
    """The AWS CLI's connection options, shared by ``collect`` and ``watch``."""
    parser.add_argument("--profile", help="AWS profile (SSO and assumed-role profiles included)")
    parser.add_argument("--region", help="AWS region (default: the profile's or AWS_REGION)")
    parser.add_argument(
        "--endpoint-url", help="one endpoint for every service, e.g. moto server (default: AWS_ENDPOINT_URL)"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``collect``'s arguments."""
    add_aws_arguments(parser)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--flow-log-id", action="append", metavar="ID", help="a flow log to investigate (repeatable)"
    )
    what.add_argument(
        "--role-name", action="append", metavar="NAME", help="a delivery role to investigate (repeatable)"
    )
    what.add_argument("--all", action="store_true", help="every flow log; evidence for those not delivering")
    what.add_argument(
        "--athena-table", metavar="DB.TABLE", help="the kept CloudTrail events of an Athena table of the trail"
    )
    what.add_argument(
        "--event-data-store", metavar="ARN", help="the kept CloudTrail events of a CloudTrail Lake event data store"
    )
    what.add_argument(
        "--from-archive",
        metavar="PATH",
        help="a CloudTrail archive in AWS's layout (an AWSLogs folder, or s3://BUCKET/PREFIX): "
        "keep the events an investigation needs (choose with --account, --region, --start, --end)",
    )
    parser.add_argument(
        "--account",
        action="append",
        metavar="ID",
        help="with --from-archive, --athena-table or --event-data-store: only this account's events (repeatable)",
    )
    parser.add_argument(
        "--regions",
        metavar="all|R1,R2",
        help="regions to visit: 'all' enabled ones, or a list (with --from-archive, --athena-table or --event-data-store: "
        "only these regions' events)",
    )
    parser.add_argument(
        "--start",
        metavar="T",
        help="window start (default: 7 days before --end; LookupEvents reaches 90 days back, the query paths "
        "any age): ISO 8601, epoch, or -7d (--start=-7d)",
    )
    parser.add_argument("--end", metavar="T", help="window end (default: now), the same forms")
    parser.add_argument(
        "--simulate", action="store_true", help="also run iam:SimulatePrincipalPolicy on the delivery actions"
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="the evidence folder to write; if an earlier run into it was cut short, this run resumes it "
        "(same window; files whose SHA-256 still matches are kept, not fetched again)",
    )
    add_reliability_arguments(parser)
    collect_query.add_arguments(parser)


def _duration(text: str) -> float | None:
    from flowforensics.collection.stopping import parse_duration

    try:
        return parse_duration(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (seconds, or 90s, 10m, 1h; none)") from None


def _seconds(text: str) -> float:
    seconds = _duration(text)
    if seconds is None:
        raise argparse.ArgumentTypeError(f"{text!r}: a timeout must be positive")
    return seconds


def add_reliability_arguments(parser: argparse.ArgumentParser) -> None:
    """Time limits and the exit status for a partial collection (docs/collection.md)."""
    parser.add_argument(
        "--deadline",
        type=_duration,
        default="30m",
        metavar="T",
        help="time limit for the whole run (seconds, or 90s, 10m, 1h; 'none': no limit; default 30m). "
        "When it passes, what was not collected is recorded as gaps and the manifest written",
    )
    parser.add_argument(
        "--connect-timeout", type=_seconds, default="10", metavar="T", help="per attempt (default 10 s)"
    )
    parser.add_argument(
        "--read-timeout", type=_seconds, default="30", metavar="T", help="per read of an answer (default 30 s)"
    )
    parser.add_argument(
        "--fail-on-gaps",
        action="store_true",
        help="exit 4 when any API call could not be read (a gap in manifest.json); by default collect exits 0",
    )


def _from_archive(args: argparse.Namespace) -> int:
    from flowforensics.collection.archive import collect_from_archive, s3_client
    from flowforensics.evidence.archive import Selection
    from flowforensics.presentation.terminal import for_terminal

    regions = [args.region] if args.region else []
    regions += [r for r in (args.regions or "").split(",") if r and r != "all"]
    selection = Selection.of(accounts=args.account or (), regions=regions, start=args.start, end=args.end)
    s3 = None
    if args.from_archive.startswith("s3://"):
        s3 = s3_client(profile=args.profile, endpoint_url=args.endpoint_url)
    result = collect_from_archive(args.out, args.from_archive, selection, s3=s3)
    print(for_terminal(result.summary()))
    return 0


def run(args: argparse.Namespace) -> int:
    """Collect and print a summary; 0, or 4 with ``--fail-on-gaps`` and gaps; 130 on Ctrl-C."""
    from flowforensics.cli import time_option

    # Checked before any AWS call, whichever way the events are read (the same parser reads them again).
    start, end = time_option(args.start, "--start"), time_option(args.end, "--end")
    if args.from_archive:
        return _from_archive(args)
    from flowforensics.collection import collect
    from flowforensics.collection.runner import CollectionInterrupted

    try:
        if args.athena_table or args.event_data_store:
            result = collect_query.run(args)
            if result is None:  # --dry-run: the statement was printed
                return 0
        else:
            result = collect(
                args.out,
                flow_log_ids=args.flow_log_id or (),
                role_names=args.role_name or (),
                all_flow_logs=args.all,
                regions=args.regions,
                start=start,
                end=end,
                profile=args.profile,
                region=args.region,
                endpoint_url=args.endpoint_url,
                simulate=args.simulate,
                deadline=args.deadline,
                connect_timeout=args.connect_timeout,
                read_timeout=args.read_timeout,
            )
    except CollectionInterrupted as interrupted:
        _report(interrupted.result)
        print("flowforensics: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    _report(result)
    return 4 if args.fail_on_gaps and result.gaps else 0


def _report(result: Any) -> None:
    from flowforensics.presentation.terminal import for_terminal

    lines = [result.summary()]
    if result.stopped == "deadline":
        lines.append("  stopped: the --deadline passed; run the same command again to resume")
    if (resumed := result.resume_line()) is not None:
        lines.append(f"  {resumed}")
    lines += [f"  skipped {skipped}" for skipped in result.skipped]
    for line in [*lines, result.gaps_line()]:
        print(for_terminal(line))
