"""``flowforensics watch``: after a fix, poll read-only until delivery resumes, and print the lag."""

from __future__ import annotations

import argparse

from flowforensics.cli.collect import add_aws_arguments
from flowforensics.errors import CollectionError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``watch``'s arguments."""
    parser.add_argument("--flow-log-id", required=True, metavar="ID", help="the flow log that was fixed")
    parser.add_argument("--out", required=True, metavar="DIR", help="the evidence folder to append to")
    parser.add_argument(
        "--since", metavar="T", help="the fix time (default: the latest change in the folder)"
    )
    parser.add_argument(
        "--timeout", type=float, default=1800.0, metavar="S", help="give up after S seconds (1800)"
    )
    parser.add_argument(
        "--interval", type=float, default=30.0, metavar="S", help="seconds between polls (30)"
    )
    add_aws_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Watch; 0 when delivery resumed, 1 (one line) when it did not before the timeout."""
    from flowforensics.collection import watch

    result = watch(
        args.out,
        args.flow_log_id,
        since=args.since,
        timeout=args.timeout,
        interval=args.interval,
        region=args.region,
        profile=args.profile,
        endpoint_url=args.endpoint_url,
        echo=print,
    )
    if result.delivery_resumed is None:
        raise CollectionError(result.summary())
    print(result.summary())
    return 0
