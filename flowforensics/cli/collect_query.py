"""``collect --athena-table`` and ``collect --event-data-store``: the kept events of an organisation's trail,
selected where they are stored, into an evidence folder; ``--dry-run`` prints the statement instead."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING

# The query path (sqlglot, and boto3 through the collection package) is imported when it is used, not
# when the options are parsed: every command parses them, and diagnose would pay a second of start-up.
if TYPE_CHECKING:
    from flowforensics.collection.recorder import CollectionResult
    from flowforensics.collection.trail_sql import QueryPlan

ENGINE_NAMES = {"athena": "Athena", "lake": "CloudTrail Lake"}


def _layout(text: str) -> str:
    from flowforensics.collection.trail_sql import LAYOUTS

    if text not in LAYOUTS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a table layout ({', '.join(sorted(LAYOUTS))})")
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the query path (the choice of ``--athena-table`` or ``--event-data-store`` is the caller's)."""
    group = parser.add_argument_group("Athena and CloudTrail Lake (with --athena-table or --event-data-store)")
    group.add_argument("--athena-output", metavar="S3URI", help="s3://bucket/prefix/ for Athena's query results")
    group.add_argument("--workgroup", metavar="W", help="the Athena workgroup (default: the account's primary)")
    group.add_argument(
        "--athena-layout",
        type=_layout,
        default="console",
        metavar="LAYOUT",
        help="the table's partitions: console (none, as CloudTrail's console creates it), partitioned "
        "(region/year/month/day) or projection (timestamp); default console",
    )
    group.add_argument("--dry-run", action="store_true", help="print the SQL and what it reads; run nothing")


def plan(args: argparse.Namespace, now: datetime) -> QueryPlan:
    """The statement the options ask for.

    Raises
    ------
    UsageError
        A time that is not a time (exit 2).
    CollectionError
        An empty window, a bad table, event data store, account or region (one line).
    """
    from flowforensics.cli import time_option
    from flowforensics.collection.query import as_list, unfinished_window, window
    from flowforensics.collection.trail_sql import athena_query, lake_query

    regions = [] if args.regions == "all" else as_list(args.regions)
    accounts = as_list(args.account)

    def build(start: datetime, end: datetime) -> QueryPlan:
        if args.athena_table:
            return athena_query(
                args.athena_table, layout=args.athena_layout, start=start, end=end, accounts=accounts, regions=regions
            )
        return lake_query(args.event_data_store, start=start, end=end, accounts=accounts, regions=regions)

    query = build(*window(time_option(args.start, "--start"), time_option(args.end, "--end"), now))
    # As a collection resumes: the same command asks an unfinished query of the folder again.
    unfinished = unfinished_window(args.out, query) if args.start is None and args.end is None else None
    return query if unfinished is None else build(*unfinished)


def describe(query: QueryPlan, layout: str | None) -> str:
    """The statement as ``--dry-run`` prints it: what it reads as SQL comments, then the SQL."""
    from flowforensics.collection.trail_sql import LAYOUTS

    lines = [f"-- {ENGINE_NAMES[query.engine]}: {query.source}"]
    if layout:
        lines.append(f"-- table layout {layout}: {LAYOUTS[layout].description}")
    lines += [f"-- reads: {line}" for line in query.partitions]
    if query.parameters:
        lines.append(f"-- ExecutionParameters, in order: {' '.join(query.parameters)}")
    return "\n".join([*lines, query.sql + ";"])


def run(args: argparse.Namespace) -> CollectionResult | None:
    """Plan the query; print it (``--dry-run``: ``None``) or run it into ``--out`` and return what it wrote.

    Raises
    ------
    CollectionInterrupted
        Ctrl-C, after the manifest was written.
    """
    from flowforensics.collection.query import athena_start_parameters, collect_query
    from flowforensics.errors import CollectionError

    query = plan(args, datetime.now(UTC))
    start_parameters = {}
    if args.athena_table:
        if not args.athena_output:
            raise CollectionError("--athena-table needs --athena-output s3://bucket/prefix/ for the query results")
        start_parameters = athena_start_parameters(args.athena_output, args.workgroup)
    if args.dry_run:
        print(describe(query, args.athena_layout if args.athena_table else None))
        return None
    return collect_query(
        args.out,
        query,
        start_parameters,
        profile=args.profile,
        region=args.region,
        endpoint_url=args.endpoint_url,
        deadline=args.deadline,
    )
