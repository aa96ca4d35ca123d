"""``flowforensics collect``: read-only collection from AWS into an evidence folder."""

from __future__ import annotations

import argparse

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
    parser.add_argument("--out", required=True, metavar="DIR", help="the evidence folder to write")
    collect_query.add_arguments(parser)


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
    """Collect, print a summary, and return 0."""
    from flowforensics.cli import time_option

    # Checked before any AWS call, whichever way the events are read (the same parser reads them again).
    start, end = time_option(args.start, "--start"), time_option(args.end, "--end")
    if args.athena_table or args.event_data_store:
        return collect_query.run(args)
    if args.from_archive:
        return _from_archive(args)
    from flowforensics.collection import collect

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
    )
    print(result.summary())
    for skipped in result.skipped:
        print(f"  skipped {skipped}")
    return 0
