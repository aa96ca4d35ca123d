"""The Athena and CloudTrail Lake SQL: built from the kept-events rule, parsed as Trino, run on DuckDB over a
local archive in AWS's layout, and shaped by no user input."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlglot
from sqlglot import exp

import flowforensics
from flowforensics.cli import main
from flowforensics.collection.query_records import to_record
from flowforensics.collection.trail_sql import ATHENA_COLUMNS, LAYOUTS, QueryPlan, athena_query, lake_query
from flowforensics.errors import CollectionError
from flowforensics.evidence.archive import Selection, read_archive
from flowforensics.evidence.relevance import is_relevant
from flowforensics.evidence.values import parse_time

from .trail_archive import as_athena_gives_it_back, athena_table, records, write_archive

TABLE = "cloudtrail.cloudtrail_logs"
STORE = "arn:aws:cloudtrail:us-east-1:111122223333:eventdatastore/EXAMPLE-f852-4e8f-8bd1-bcf6cEXAMPLE"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("archive")
    files = write_archive(root)
    return {"root": root, "files": files, "db": athena_table(files, root, TABLE), "records": records()}


def run_on_duckdb(db: Any, plan: QueryPlan) -> list[dict[str, Any]]:
    """The plan's statement transpiled to DuckDB, its ExecutionParameters bound as DuckDB parameters."""
    values = [sqlglot.parse_one(parameter, read="trino") for parameter in plan.parameters]
    assert all(isinstance(v, exp.Literal) and v.is_string for v in values)  # each parameter is one literal
    sql = sqlglot.transpile(plan.sql, read="trino", write="duckdb")[0]
    cursor = db.execute(sql, [v.this for v in values])
    names = [d[0] for d in cursor.description]
    return [to_record(dict(zip(names, row, strict=True)), ATHENA_COLUMNS) for row in cursor.fetchall()]


def kept(all_records: list[dict[str, Any]], start: datetime, end: datetime, accounts=(), regions=()) -> list[dict]:
    """The kept-events rule applied record by record, with the window and the account and region choices."""
    return [
        r
        for r in all_records
        if is_relevant(r.get("eventSource"), r.get("eventName"), r.get("errorCode"))
        and start <= parse_time(r["eventTime"]) <= end
        and (not accounts or r["recipientAccountId"] in accounts)
        and (not regions or r["awsRegion"] in regions)
    ]


def archive_reader_keeps(root: Path, start: datetime, end: datetime, accounts=(), regions=()) -> list[dict]:
    """What ``collect --from-archive`` keeps of the same files (the archive reader, files chosen by key)."""
    selection = Selection.of(accounts=accounts, regions=regions, start=start, end=end)
    read = read_archive(root, selection, workers=1)
    assert not read.problems
    return [json.loads(text) for document in read.documents for text in document.content.texts]


def _by_id(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["eventID"]: r for r in found}


WHOLE = (datetime(2020, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
INCIDENT = (datetime(2024, 2, 5, 10, 30, tzinfo=UTC), datetime(2024, 3, 10, 7, 45, 30, tzinfo=UTC))


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize(
    ("window", "accounts", "regions"),
    [(WHOLE, (), ()), (INCIDENT, ("381492650217",), ("eu-west-1",)), (INCIDENT, (), ("us-east-1", "eu-west-1"))],
)
def test_the_sql_returns_exactly_the_events_the_archive_reader_keeps(
    archive: dict[str, Any], layout: str, window: tuple[datetime, datetime], accounts: tuple, regions: tuple
) -> None:
    start, end = window
    plan = athena_query(TABLE, layout=layout, start=start, end=end, accounts=accounts, regions=regions)
    found = run_on_duckdb(archive["db"], plan)
    expected = archive_reader_keeps(archive["root"], start, end, accounts, regions)

    assert expected  # the case selects something
    # The reader and the rule applied record by record agree, so the SQL matches both.
    assert set(_by_id(expected)) == set(_by_id(kept(archive["records"], start, end, accounts, regions)))
    assert len(found) == len({r["eventID"] for r in found})
    assert set(_by_id(found)) == set(_by_id(expected))
    # Each record comes back as CloudTrail wrote it, as far as the table's schema holds it.
    originals = _by_id(expected)
    for event_id, record in _by_id(found).items():
        assert record == as_athena_gives_it_back(originals[event_id])
    # Rows come in time order, as the statement asks.
    assert [r["eventTime"] for r in found] == sorted(r["eventTime"] for r in found)


def test_the_archive_holds_noise_and_the_sql_leaves_it_out(archive: dict[str, Any]) -> None:
    everything = archive["records"]
    relevant = kept(everything, *WHOLE)
    assert 0 < len(relevant) < len(everything)
    # Both halves of the rule are exercised: kept sources and names, and errors of any source.
    assert any(r.get("errorCode") and r["eventSource"] == "ec2.amazonaws.com" for r in relevant)
    assert any(r["eventSource"] == "iam.amazonaws.com" for r in relevant)


@pytest.mark.parametrize("layout", ["partitioned", "projection"])
def test_an_event_filed_under_the_next_day_is_found(archive: dict[str, Any], layout: str) -> None:
    """CloudTrail files a log under the day it delivers it: the partitions read run to the day after the end."""
    root = archive["root"]
    late = None
    for path in archive["files"]:
        filed = "/".join(path.relative_to(root).parts[4:7])
        for record in json.loads(gzip.decompress(path.read_bytes()))["Records"]:
            if record["eventTime"][:10].replace("-", "/") != filed and is_relevant(
                record["eventSource"], record["eventName"], record.get("errorCode")
            ):
                late = record
    assert late is not None, "the archive has a kept event filed under the next day"
    end = parse_time(late["eventTime"])
    plan = athena_query(TABLE, layout=layout, start=end - timedelta(minutes=1), end=end)
    assert late["eventID"] in _by_id(run_on_duckdb(archive["db"], plan))


def test_what_the_query_returns_loads_as_the_kept_records_do(archive: dict[str, Any], tmp_path: Path) -> None:
    plan = athena_query(TABLE, layout="projection", start=INCIDENT[0], end=INCIDENT[1])
    (tmp_path / "query").mkdir()
    (tmp_path / "archive").mkdir()
    (tmp_path / "query" / "records.json").write_text(json.dumps({"Records": run_on_duckdb(archive["db"], plan)}))
    (tmp_path / "archive" / "records.json").write_text(json.dumps({"Records": kept(archive["records"], *INCIDENT)}))

    columns = ["event_id", "event_time", "event_source", "event_name", "region", "account_id", "actor",
               "actor_type", "session_issuer", "error_code", "read_only", "request", "response"]
    from_query = flowforensics.load(tmp_path / "query").events[columns]
    from_archive = flowforensics.load(tmp_path / "archive").events[columns]
    pd.testing.assert_frame_equal(from_query, from_archive)


# --- hostile input -------------------------------------------------------------------------------------

HOSTILE = [
    "x' OR '1'='1",
    "x'; DROP TABLE cloudtrail.cloudtrail_logs; --",
    'a"b',
    "/* c */ 1",
    "\\' OR 1=1 --",
    "\n;SELECT 1",
    "ʼ OR 1=1",
    "%_",
]


def _shape(sql: str) -> list[str]:
    """The statement's syntax tree without its values and names: one statement, and what kind each node is."""
    statements = sqlglot.parse(sql, read="trino")
    assert len(statements) == 1
    return [type(node).__name__ for node in statements[0].walk()]


@pytest.mark.parametrize("hostile", HOSTILE)
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_hostile_accounts_and_regions_are_bound_never_pasted(layout: str, hostile: str, archive: dict) -> None:
    benign = athena_query(TABLE, layout=layout, start=WHOLE[0], end=WHOLE[1], accounts=["1"], regions=["r"])
    plan = athena_query(TABLE, layout=layout, start=WHOLE[0], end=WHOLE[1], accounts=[hostile], regions=[hostile])

    assert plan.sql == benign.sql  # the statement does not even change
    assert _shape(plan.sql) == _shape(benign.sql)
    assert [sqlglot.parse_one(p, read="trino").this for p in plan.parameters].count(hostile) == (
        3 if layout == "partitioned" else 2
    )
    assert run_on_duckdb(archive["db"], plan) == []  # bound as a value, it matches no account


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_hostile_table_name_is_one_quoted_identifier(hostile: str) -> None:
    name = f"db.{hostile}"
    parts = name.split(".", 2)  # DB.TABLE or CATALOG.DB.TABLE: the first dots split
    benign = athena_query(".".join(["p"] * len(parts)), layout="projection", start=WHOLE[0], end=WHOLE[1])
    plan = athena_query(name, layout="projection", start=WHOLE[0], end=WHOLE[1])

    assert _shape(plan.sql) == _shape(benign.sql)
    tables = list(sqlglot.parse_one(plan.sql, read="trino").find_all(exp.Table))
    assert [[p.name for p in t.parts] for t in tables] == [parts]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_cloudtrail_lake_refuses_hostile_values_it_would_have_to_inline(hostile: str) -> None:
    window = {"start": WHOLE[0], "end": WHOLE[1]}
    for kwargs in ({"accounts": [hostile]}, {"regions": [hostile]}):
        with pytest.raises(CollectionError, match="is not valid"):
            lake_query(STORE, **window, **kwargs)
    with pytest.raises(CollectionError, match="event data store"):
        lake_query(hostile, **window)
    benign = lake_query(STORE, **window, accounts=["111122223333"], regions=["eu-west-1"])
    assert _shape(benign.sql) == _shape(lake_query(STORE, **window, accounts=["210987654321"], regions=["us-east-1"]).sql)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_hostile_time_is_refused_in_one_line(hostile: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["collect", "--athena-table", TABLE, "--athena-output", "s3://results/ff/", "--out", "unused"]
    assert main([*argv, f"--start={hostile}", "--dry-run"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "--start" in err and "is not a time" in err


def test_dry_run_prints_the_sql_and_partitions_and_makes_no_client(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import boto3

    def no_aws(*_: Any, **__: Any) -> None:
        raise AssertionError("a dry run made an AWS session or client")

    monkeypatch.setattr(boto3, "Session", no_aws)
    monkeypatch.setattr(boto3, "client", no_aws)
    argv = ["collect", "--athena-table", TABLE, "--athena-layout", "projection", "--athena-output",
            "s3://results/flowforensics/", "--account", "111122223333", "--regions", "eu-west-1",
            "--start", "2024-02-05T10:30:00Z", "--end", "2024-02-07T00:00:00Z", "--out", str(tmp_path / "out"),
            "--dry-run"]

    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "-- reads: timestamp 2024/02/05 to 2024/02/08 (4 days)" in out
    assert "'2024-02-05T10:30:00Z'" in out
    assert len(sqlglot.parse(out, read="trino")) == 1  # the comments and one statement
    assert not (tmp_path / "out").exists()

    assert main(["collect", "--event-data-store", STORE, "--out", str(tmp_path / "out"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("-- CloudTrail Lake: EXAMPLE-f852-4e8f-8bd1-bcf6cEXAMPLE\n")
    assert not (tmp_path / "out").exists()


def test_commands_that_read_evidence_do_not_import_the_query_path_or_boto3(tmp_path: Path) -> None:
    # The collect options are parsed for every command: the query path's imports (sqlglot, and through the
    # collection package boto3) cost diagnose on an archive about a second of start-up when they are eager.
    import subprocess
    import sys

    folder = tmp_path / "evidence"
    folder.mkdir()
    (folder / "records.json").write_text(json.dumps({"Records": records()[:5]}))
    check = ("import sys; from flowforensics.cli import main; main(['diagnose', '--json', sys.argv[1]]); "
             "print(sorted({'sqlglot', 'boto3', 'botocore'} & set(sys.modules)))")
    ran = subprocess.run([sys.executable, "-c", check, str(folder)], capture_output=True, text=True, timeout=120)
    assert ran.stdout.splitlines()[-1] == "[]", ran.stderr[-2000:]


def test_a_bad_athena_layout_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    argv = ["collect", "--athena-table", TABLE, "--athena-layout", "hive", "--athena-output", "s3://r/", "--out",
            str(tmp_path / "o"), "--dry-run"]
    with pytest.raises(SystemExit) as exited:  # argparse's usage error
        main(argv)
    assert exited.value.code == 2
    assert "argument --athena-layout: 'hive' is not a table layout (console, partitioned, projection)" in capsys.readouterr().err


def test_the_readme_shows_what_dry_run_prints(capsys: pytest.CaptureFixture[str]) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    commands = readme.split("## The organisation's trail: Athena and CloudTrail Lake")[1].split("```")[1]
    shown = [block for block in readme.split("```\n") if block.startswith(("-- Athena", "-- CloudTrail Lake"))]
    assert len(shown) == 2
    for command, block in zip(commands.replace("\\\n", " ").split("\n")[1:3], shown, strict=True):
        assert main([*command.split()[1:], "--dry-run"]) == 0
        printed = capsys.readouterr().out.splitlines()
        # Every line the README shows is printed, in order; "..." marks what it leaves out.
        position = 0
        for line in block.splitlines():
            if line.strip() != "...":
                position = printed.index(line, position) + 1
