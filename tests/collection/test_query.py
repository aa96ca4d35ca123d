"""collect --athena-table against moto server over real HTTP (moto serves the rows DuckDB computed from the same
SQL), and collect --event-data-store through botocore's Stubber (moto has no CloudTrail Lake)."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
import requests
import sqlglot

import flowforensics
from flowforensics.cli import main
from flowforensics.collection import query as query_module
from flowforensics.collection.query import athena_start_parameters, collect_query
from flowforensics.collection.readonly import allowed_actions
from flowforensics.collection.runner import CollectionInterrupted
from flowforensics.collection.stopping import Stop
from flowforensics.collection.trail_sql import LAKE_COLUMNS, athena_query, lake_query
from flowforensics.evidence.manifest import read_manifest, verify
from flowforensics.evidence.relevance import is_relevant

from .conftest import Recording
from .helpers import ACCOUNT, REGION, stubbed
from .test_readonly import _actions, _policy_actions
from .trail_archive import athena_table, records, write_archive

TABLE = "cloudtrail.cloudtrail_logs_pp"
WINDOW = (datetime(2024, 2, 5, 10, 30, tzinfo=UTC), datetime(2024, 3, 10, 7, 45, 30, tzinfo=UTC))
OUTPUT = "s3://athena-results/flowforensics/"
STORE = "arn:aws:cloudtrail:eu-west-1:123456789012:eventdatastore/EXAMPLE-f852-4e8f-8bd1-bcf6cEXAMPLE"
FRAME_COLUMNS = ["event_id", "event_time", "event_source", "event_name", "region", "account_id", "actor",
                 "actor_type", "session_issuer", "error_code", "read_only"]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("archive")
    files = write_archive(root)
    return {"db": athena_table(files, root, TABLE), "records": records()}


def kept_records(archive: dict[str, Any]) -> list[dict[str, Any]]:
    start, end = (f"{moment:%Y-%m-%dT%H:%M:%SZ}" for moment in WINDOW)
    return [
        r
        for r in archive["records"]
        if is_relevant(r["eventSource"], r["eventName"], r.get("errorCode")) and start <= r["eventTime"] <= end
    ]


def athena_result(db: Any, plan: Any) -> dict[str, Any]:
    """What Athena returns for the plan: the statement run on DuckDB, as GetQueryResults rows (a header first)."""
    values = [sqlglot.parse_one(p, read="trino").this for p in plan.parameters]
    cursor = db.execute(sqlglot.transpile(plan.sql, read="trino", write="duckdb")[0], values)
    names = [d[0] for d in cursor.description]
    info = [
        {"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": n, "Label": n, "Type": "varchar",
         "Precision": 2147483647, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": True}
        for n in names
    ]
    rows = [{"Data": [{"VarCharValue": n} for n in names]}]
    rows += [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in cursor.fetchall()]
    return {"rows": rows, "column_info": info}


def _events(folder: Path) -> pd.DataFrame:
    return flowforensics.load(folder).events[FRAME_COLUMNS]


def _expected_events(records_: list[dict[str, Any]], folder: Path) -> pd.DataFrame:
    folder.mkdir()
    (folder / "records.json").write_text(json.dumps({"Records": records_}))
    return _events(folder)


def no_wait(_: float) -> None:
    """Polls without sleeping."""


COLLECTED_AT = datetime(2026, 12, 3, 13, 2, 11, tzinfo=UTC)


class Clock:
    """The run's monotonic clock, standing still until a test moves it (the deadline passes when it says)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def after_page(client: Any, number: int, then: Callable[[], None]) -> None:
    """Call ``then`` in the collection's thread once GetQueryResults has answered page ``number``, before the
    page is handed over (so before it is written and before the next page is asked for)."""
    answered: list[int] = []
    service = client.meta.service_model.service_id.hyphenize()

    def hook(**_: Any) -> None:
        answered.append(1)
        if len(answered) == number:
            then()

    client.meta.events.register(f"after-call.{service}.GetQueryResults", hook)


def until_stopped(stop: Stop, *before: Callable[[], Any]) -> Callable[..., None]:
    """Do ``before``, then wait until the run is stopped (as the waiting main thread stops it)."""

    def act(*_: Any) -> None:
        for step in before:
            step()
        assert stop.wait(60)  # a hang guard: the main thread stops the run within a tick

    return act


@pytest.fixture
def slow_athena(moto: str) -> Any:
    """moto's Athena executions move one state (QUEUED, RUNNING, SUCCEEDED) every ``times`` polls."""

    def slow(times: int) -> None:
        transition = {"progression": "manual", "times": times}
        requests.post(
            f"{moto}/moto-api/state-manager/set-transition",
            json={"model_name": "athena::execution", "transition": transition},
            timeout=60,
        )

    yield slow
    requests.post(
        f"{moto}/moto-api/state-manager/unset-transition", json={"model_name": "athena::execution"}, timeout=60
    )


def test_athena_query_into_an_evidence_folder_over_moto(
    archive: dict[str, Any], moto: str, recording: Recording, slow_athena: Any, tmp_path: Path
) -> None:
    slow_athena(1)
    plan = athena_query(TABLE, layout="projection", start=WINDOW[0], end=WINDOW[1], accounts=["381492650217"])
    result = athena_result(archive["db"], plan)
    assert len(result["rows"]) > 1
    requests.post(
        f"{moto}/moto-api/static/athena/query-results",
        json={"account_id": ACCOUNT, "region": REGION, "results": [result]},
        timeout=60,
    )
    recording.start()
    waits: list[float] = []
    collected = collect_query(
        tmp_path / "evidence", plan, athena_start_parameters(OUTPUT, "primary"), endpoint_url=moto, sleep=waits.append
    )

    sent = _actions(recording.requests())
    assert set(sent) <= allowed_actions() <= _policy_actions()
    assert {"athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults"} <= set(sent)
    assert sent.count("athena:GetQueryExecution") == 2  # RUNNING, then SUCCEEDED
    assert waits == [0.5]  # one wait between the polls

    manifest = read_manifest(tmp_path / "evidence")
    (query,) = manifest["queries"]
    execution = boto3.client("athena", endpoint_url=moto).get_query_execution(QueryExecutionId=query["query_id"])
    # What AWS received is the plan: the statement and its bound values.
    assert execution["QueryExecution"]["Query"] == plan.sql == query["sql"]
    assert execution["QueryExecution"]["ExecutionParameters"] == plan.parameters == query["parameters"]
    assert query["source"] == '"cloudtrail"."cloudtrail_logs_pp"'
    assert query["state"] == "SUCCEEDED"
    assert query["bytes_scanned"] == 0  # moto scans nothing
    assert query["partitions"] == plan.partitions
    expected = [r for r in kept_records(archive) if r["recipientAccountId"] == "381492650217"]
    assert query["records"] == collected.events == len(expected)
    assert manifest["gaps"] == []
    assert verify(tmp_path / "evidence") == []
    # The folder loads as the same events as the archive's kept records.
    pd.testing.assert_frame_equal(_events(tmp_path / "evidence"), _expected_events(expected, tmp_path / "expected"))


def test_athena_query_past_its_deadline_is_stopped_and_is_a_gap(
    moto: str, recording: Recording, slow_athena: Any, tmp_path: Path
) -> None:
    slow_athena(10)
    plan = athena_query(TABLE, layout="console", start=WINDOW[0], end=WINDOW[1])
    clock, stop = Clock(), Stop()

    def jump() -> None:
        clock.now += 1801  # the deadline passes while the query runs

    recording.start()
    result = collect_query(
        tmp_path / "evidence", plan, athena_start_parameters(OUTPUT, None), endpoint_url=moto,
        sleep=until_stopped(stop, jump), monotonic=clock, stop=stop, clock=lambda: COLLECTED_AT,
    )

    assert result.stopped == "deadline"
    sent = _actions(recording.requests())
    assert "athena:StopQueryExecution" in sent and "athena:GetQueryResults" not in sent
    manifest = read_manifest(tmp_path / "evidence")
    (query,) = manifest["queries"]
    assert query["state"] == "STOPPED"
    assert manifest["gaps"] == [{
        "operation": "athena:GetQueryResults", "parameters": {"QueryExecutionId": query["query_id"]}, "region": REGION,
        "account": ACCOUNT, "error_code": "DeadlineExceeded",
        "error_message": "the run's deadline of 30 min passed while the query was QUEUED, before any results page was "
                         "read; the query was stopped",
        "collected_at": "2026-12-03T13:02:11Z", "kind": "deadline", "attempted": True,
    }]  # fmt: skip
    execution = boto3.client("athena", endpoint_url=moto).get_query_execution(QueryExecutionId=query["query_id"])
    assert execution["QueryExecution"]["Status"]["State"] == "CANCELLED"
    assert verify(tmp_path / "evidence") == []


def test_ctrl_c_stops_the_athena_query_records_a_gap_and_still_writes_the_manifest(
    moto: str, slow_athena: Any, tmp_path: Path, ctrl_c: Callable[[], None]
) -> None:
    slow_athena(10)
    plan = athena_query(TABLE, layout="console", start=WINDOW[0], end=WINDOW[1])
    stop = Stop()

    with pytest.raises(CollectionInterrupted) as interrupted:
        collect_query(tmp_path / "ev", plan, athena_start_parameters(OUTPUT, None), endpoint_url=moto,
                      sleep=until_stopped(stop, ctrl_c), monotonic=Clock(), stop=stop)

    assert interrupted.value.result.stopped == "interrupted"
    manifest = read_manifest(tmp_path / "ev")
    (query,) = manifest["queries"]
    assert query["state"] == "STOPPED"
    (gap,) = manifest["gaps"]
    assert (gap["operation"], gap["parameters"], gap["error_code"], gap["kind"]) == (
        "athena:GetQueryResults", {"QueryExecutionId": query["query_id"]}, "Interrupted", "interrupted")
    assert gap["error_message"] == ("interrupted by the user (Ctrl-C) after 0 s while the query was QUEUED, before any "
                                    "results page was read; the query was stopped")
    execution = boto3.client("athena", endpoint_url=moto).get_query_execution(QueryExecutionId=query["query_id"])
    assert execution["QueryExecution"]["Status"]["State"] == "CANCELLED"
    assert verify(tmp_path / "ev") == []


# --- CloudTrail Lake (Stubber) ---------------------------------------------------------------------------


def caller() -> Any:
    """An STS client that answers GetCallerIdentity once."""
    sts, stub = stubbed("sts", REGION)
    arn = f"arn:aws:iam::{ACCOUNT}:user/incident-responder"
    stub.add_response("get_caller_identity", {"Account": ACCOUNT, "Arn": arn, "UserId": "AIDAEXAMPLEEXAMPLE1"})
    return sts


def _lowered(value: Any) -> Any:
    """A struct as Trino's CAST(... AS JSON) gives it: field names lower-cased."""
    if isinstance(value, dict):
        return {key.lower(): _lowered(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_lowered(item) for item in value]
    return value


def lake_row(record: dict[str, Any]) -> list[dict[str, str]]:
    """A record as CloudTrail Lake's GetQueryResults gives it: one {column: text} per selected column."""

    def as_map(value: Any) -> str:
        return json.dumps({k: v if isinstance(v, str) else json.dumps(v) for k, v in value.items()})

    text = {
        "userIdentity": lambda v: json.dumps(_lowered(v)),
        "resources": lambda v: json.dumps(_lowered(v)),
        "eventTime": lambda v: v.replace("T", " ").replace("Z", ".000"),
        "readOnly": lambda v: str(v).lower(),
        "requestParameters": as_map,
        "responseElements": as_map,
        "additionalEventData": as_map,
    }
    return [
        {key: text.get(key, str)(value)}
        for key, value in record.items()
        if value is not None and key in {c.name for c in LAKE_COLUMNS}
    ]



def test_cloudtrail_lake_query_into_an_evidence_folder(archive: dict[str, Any], tmp_path: Path) -> None:
    plan = lake_query(STORE, start=WINDOW[0], end=WINDOW[1])
    expected = kept_records(archive)
    rows = [lake_row(r) for r in expected]
    client, stub = stubbed("cloudtrail", REGION)
    query_id = "0d3a6f1c-7e4b-4a53-9c1e-5f2b8a7d6e90"
    stub.add_response("start_query", {"QueryId": query_id}, {"QueryStatement": plan.sql})
    stub.add_response("describe_query", {"QueryId": query_id, "QueryStatus": "RUNNING"}, {"QueryId": query_id})
    stub.add_response(
        "describe_query",
        {"QueryId": query_id, "QueryStatus": "FINISHED", "QueryStatistics": {"BytesScanned": 52_428_800}},
        {"QueryId": query_id},
    )
    pages = [rows[: len(rows) // 3], rows[len(rows) // 3 : 2 * len(rows) // 3], rows[2 * len(rows) // 3 :]]
    for number, page in enumerate(pages):
        token = {"NextToken": f"page-{number + 2}"} if number < 2 else {}
        asked = {"QueryId": query_id, **({"NextToken": f"page-{number + 1}"} if number else {})}
        stub.add_response("get_query_results", {"QueryStatus": "FINISHED", "QueryResultRows": page, **token}, asked)
    on_disk = written_before_each_page(client, tmp_path / "evidence")
    sts = caller()

    collected = collect_query(
        tmp_path / "evidence", plan, {}, clients={"cloudtrail": client, "sts": sts}, session=boto3.Session(region_name=REGION),
        sleep=no_wait,
    )

    stub.assert_no_pending_responses()
    assert set(collected.calls) <= allowed_actions()
    # Each page was on disk before the next was asked for: the results are never held whole.
    assert on_disk == [0, 1, 2]
    (query,) = read_manifest(tmp_path / "evidence")["queries"]
    assert (query["query_id"], query["state"], query["bytes_scanned"]) == (query_id, "FINISHED", 52_428_800)
    assert query["files"] == ["cloudtrail/eu-west-1/get-query-results.json", "cloudtrail/eu-west-1/get-query-results-2.json",
                              "cloudtrail/eu-west-1/get-query-results-3.json"]
    assert (query["pages"], query["records"], query["complete"]) == (3, len(expected), True)
    assert [len(json.loads((tmp_path / "evidence" / f).read_text())["Records"]) for f in query["files"]] == list(map(len, pages))
    assert query["source"] == "EXAMPLE-f852-4e8f-8bd1-bcf6cEXAMPLE" and query["sql"] == plan.sql
    pd.testing.assert_frame_equal(_events(tmp_path / "evidence"), _expected_events(expected, tmp_path / "expected"))
    # Objects inside CloudTrail Lake's maps (stored as JSON strings) come back as objects.
    loaded = flowforensics.load(tmp_path / "evidence").events.set_index("event_id")
    for record in expected:
        for key, value in (record.get("requestParameters") or {}).items():
            if isinstance(value, dict):
                assert loaded.loc[record["eventID"], "request"][key] == value


def written_before_each_page(client: Any, folder: Path) -> list[int]:
    """How many results files were in ``folder`` as each GetQueryResults request was made."""
    counts: list[int] = []
    operation = client.meta.service_model.operation_model("GetQueryResults").name

    def count(**_: Any) -> None:
        counts.append(len(list(folder.glob("*/*/get-query-results*.json"))))

    client.meta.events.register(f"provide-client-params.{client.meta.service_model.service_id.hyphenize()}.{operation}", count)
    return counts


def test_a_results_page_that_fails_leaves_the_pages_before_it_and_a_gap_for_the_rest(
    archive: dict[str, Any], tmp_path: Path
) -> None:
    plan = lake_query(STORE, start=WINDOW[0], end=WINDOW[1])
    rows = [lake_row(r) for r in kept_records(archive)]
    client, stub = stubbed("cloudtrail", REGION)
    query_id = "3a0e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
    stub.add_response("start_query", {"QueryId": query_id})
    stub.add_response("describe_query", {"QueryId": query_id, "QueryStatus": "FINISHED", "QueryStatistics": {"BytesScanned": 1024}})
    stub.add_response("get_query_results", {"QueryStatus": "FINISHED", "QueryResultRows": rows[:5], "NextToken": "page-2"})
    stub.add_client_error("get_query_results", "ThrottlingException", "Rate exceeded", 400,
                          expected_params={"QueryId": query_id, "NextToken": "page-2"})

    collected = collect_query(tmp_path / "ev", plan, {}, clients={"cloudtrail": client, "sts": caller()},
                              session=boto3.Session(region_name=REGION), sleep=no_wait)

    manifest = read_manifest(tmp_path / "ev")
    (query,) = manifest["queries"]
    assert (query["pages"], query["records"], query["complete"], collected.events) == (1, 5, False, 5)
    (gap,) = manifest["gaps"]
    assert (gap["operation"], gap["error_code"], gap["kind"]) == ("cloudtrail:GetQueryResults", "ThrottlingException", "throttled")
    assert gap["parameters"] == {"QueryId": query_id, "NextToken": "page-2"}  # what is missing: from this page on
    assert verify(tmp_path / "ev") == []
    assert len(flowforensics.load(tmp_path / "ev").events) == 5  # what was written stays


def lake_pages(query_id: str, pages: list[list[Any]]) -> tuple[Any, Any]:
    """A CloudTrail Lake client whose finished query answers ``pages``, each with the token of a page after it."""
    client, stub = stubbed("cloudtrail", REGION)
    stub.add_response("start_query", {"QueryId": query_id})
    stub.add_response("describe_query", {"QueryId": query_id, "QueryStatus": "FINISHED", "QueryStatistics": {"BytesScanned": 1024}})
    for number, rows in enumerate(pages, 1):
        asked = {"QueryId": query_id, **({"NextToken": f"page-{number}"} if number > 1 else {})}
        answer = {"QueryStatus": "FINISHED", "QueryResultRows": rows, "NextToken": f"page-{number + 1}"}
        stub.add_response("get_query_results", answer, asked)
    return client, stub


CLI_WINDOW = ["--region", REGION, "--start", "2024-02-05T10:30:00Z", "--end", "2024-03-10T07:45:30Z"]


def stubbed_run(monkeypatch: pytest.MonkeyPatch, clients: dict[str, Any], **options: Any) -> None:
    """The CLI's next ``collect_query`` uses these clients (and a clock standing still, unless given)."""
    monkeypatch.setattr(query_module, "collect_query", functools.partial(
        collect_query, clients={**clients, "sts": caller()}, session=boto3.Session(region_name=REGION), sleep=no_wait,
        clock=lambda: COLLECTED_AT, **{"monotonic": Clock(), **options}))


def test_ctrl_c_between_results_pages_keeps_the_pages_written_and_a_gap_with_the_next_token_and_a_rerun_reads_on(
    archive: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    ctrl_c: Callable[[], None],
) -> None:
    rows = [lake_row(r) for r in kept_records(archive)]
    query_id = "5c2a4f5e-6d7c-4b8a-a998-c7d6e5f4a3b2"
    assert len(rows) > 4
    client, stub = lake_pages(query_id, [rows[:2], rows[2:4]])  # of three: each page has a NextToken
    stop = Stop()
    after_page(client, 2, until_stopped(stop, ctrl_c))  # Ctrl-C once page 2 has come, before page 3 is asked for
    stubbed_run(monkeypatch, {"cloudtrail": client}, stop=stop)
    out = tmp_path / "ev"

    status = main(["collect", "--event-data-store", STORE, *CLI_WINDOW, "--out", str(out)])

    assert status == 130
    printed = capsys.readouterr()
    assert printed.err.splitlines()[-1] == "flowforensics: interrupted; run the same command again to resume"
    assert printed.out.splitlines()[-1] == f'1 gap (an API call that could not be read): listed under "gaps" in {out / "manifest.json"}'
    stub.assert_no_pending_responses()  # page 3 was not asked for; the finished query was not cancelled
    manifest = read_manifest(out)
    (query,) = manifest["queries"]
    assert (query["state"], query["pages"], query["records"], query["complete"]) == ("FINISHED", 2, 4, False)
    assert query["files"] == ["cloudtrail/eu-west-1/get-query-results.json", "cloudtrail/eu-west-1/get-query-results-2.json"]
    assert [len(json.loads((out / f).read_text())["Records"]) for f in query["files"]] == [2, 2]
    assert manifest["gaps"] == [{
        "operation": "cloudtrail:GetQueryResults", "parameters": {"QueryId": query_id, "NextToken": "page-3"},
        "region": REGION, "account": ACCOUNT, "error_code": "Interrupted",
        "error_message": "not attempted: interrupted by the user (Ctrl-C) after 0 s; 2 results page(s) (4 records) were "
                         "written before this one",
        "collected_at": "2026-12-03T13:02:11Z", "kind": "interrupted", "attempted": False,
    }]  # fmt: skip
    assert verify(out) == []  # every file as written, the manifest sealed
    assert len(flowforensics.load(out).events) == 4
    (interrupted,) = manifest["gaps"]

    # The same command again (its window now the unfinished query's) reads on from page 3: no new query.
    client, stub = stubbed("cloudtrail", REGION)
    stub.add_response("get_query_results", {"QueryStatus": "FINISHED", "QueryResultRows": rows[4:]},
                      {"QueryId": query_id, "NextToken": "page-3"})
    stubbed_run(monkeypatch, {"cloudtrail": client})

    assert main(["collect", "--event-data-store", STORE, "--region", REGION, "--out", str(out)]) == 0

    stub.assert_no_pending_responses()
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == f"  resumed: query {query_id}: 1 results page(s) read on after the earlier run's 2"
    assert lines[-1] == f"0 gaps: every API call of the run was answered ({out / 'manifest.json'})"
    manifest = read_manifest(out)
    assert manifest["gaps"] == []
    first, resumed = manifest["queries"]
    assert resumed["resumed_from"] == interrupted  # the gap it read on from stays on record
    assert (resumed["query_id"], resumed["sql"], resumed["pages"], resumed["complete"]) == (query_id, first["sql"], 1, True)
    assert resumed["files"] == ["cloudtrail/eu-west-1/get-query-results-3.json"]
    assert verify(out) == []
    pd.testing.assert_frame_equal(_events(out), _expected_events(kept_records(archive), tmp_path / "expected"))


def test_the_deadline_between_results_pages_keeps_the_pages_written_and_a_gap_with_the_next_token_and_a_rerun_reads_on(
    archive: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = athena_query(TABLE, layout="console", start=WINDOW[0], end=WINDOW[1])
    result = athena_result(archive["db"], plan)
    header, rows = result["rows"][0], result["rows"][1:]
    client, stub = stubbed("athena", REGION)
    query_id = "6d3b5a6f-7e8d-4c9b-b0a9-d8e7f6a5b4c3"
    stub.add_response("start_query_execution", {"QueryExecutionId": query_id})
    stub.add_response("get_query_execution", {"QueryExecution": {"QueryExecutionId": query_id, "Status": {"State": "SUCCEEDED"}}})
    page = {"ResultSet": {"Rows": [header, *rows[:2]], "ResultSetMetadata": {"ColumnInfo": result["column_info"]}}}
    stub.add_response("get_query_results", {**page, "NextToken": "page-2"}, {"QueryExecutionId": query_id})
    clock, stop = Clock(), Stop()

    def jump() -> None:
        clock.now += 1801  # the 30 minutes of the default --deadline pass as page 1 comes

    after_page(client, 1, until_stopped(stop, jump))
    stubbed_run(monkeypatch, {"athena": client}, monotonic=clock, stop=stop)
    out = tmp_path / "ev"
    argv = ["collect", "--athena-table", TABLE, "--athena-output", OUTPUT, *CLI_WINDOW, "--out", str(out)]

    status = main(argv)

    assert status == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "  stopped: the --deadline passed; run the same command again to resume"
    stub.assert_no_pending_responses()
    manifest = read_manifest(out)
    (query,) = manifest["queries"]
    assert (query["state"], query["pages"], query["records"], query["complete"]) == ("SUCCEEDED", 1, 2, False)
    assert manifest["gaps"] == [{
        "operation": "athena:GetQueryResults", "parameters": {"QueryExecutionId": query_id, "NextToken": "page-2"},
        "region": REGION, "account": ACCOUNT, "error_code": "DeadlineExceeded",
        "error_message": "not attempted: the run's deadline of 30 min passed; 1 results page(s) (2 records) were "
                         "written before this one",
        "collected_at": "2026-12-03T13:02:11Z", "kind": "deadline", "attempted": False,
    }]  # fmt: skip
    assert verify(out) == []
    assert len(flowforensics.load(out).events) == 2
    (deadline,) = manifest["gaps"]

    # Again: Athena reads on from page 2 (the header row heads page 1 only).
    client, stub = stubbed("athena", REGION)
    page = {"ResultSet": {"Rows": rows[2:], "ResultSetMetadata": {"ColumnInfo": result["column_info"]}}}
    stub.add_response("get_query_results", page, {"QueryExecutionId": query_id, "NextToken": "page-2"})
    stubbed_run(monkeypatch, {"athena": client})

    assert main(argv) == 0

    stub.assert_no_pending_responses()
    manifest = read_manifest(out)
    assert manifest["gaps"] == []
    assert manifest["queries"][1]["resumed_from"] == deadline
    assert (manifest["queries"][1]["pages"], manifest["queries"][1]["records"]) == (1, len(rows) - 2)
    assert len(flowforensics.load(out).events) == len(rows)


def test_a_rerun_whose_next_token_is_refused_runs_the_query_again(archive: dict[str, Any], tmp_path: Path) -> None:
    plan = lake_query(STORE, start=WINDOW[0], end=WINDOW[1])
    rows = [lake_row(r) for r in kept_records(archive)]
    query_id, again = "8f5d7c8b-9a0f-4ebc-82cb-fa09b8c7d6e5", "9a6e8d9c-0b1a-4fcd-93dc-0b1ac9d8e7f6"
    client, _ = lake_pages(query_id, [rows[:2]])
    client.meta.events.register("after-call.cloudtrail.GetQueryResults", lambda **_: stop.set("interrupted", "Interrupted", "test"))
    stop = Stop()
    options = {"session": boto3.Session(region_name=REGION), "sleep": no_wait, "monotonic": Clock(), "clock": lambda: COLLECTED_AT}
    collect_query(tmp_path / "ev", plan, {}, clients={"cloudtrail": client, "sts": caller()}, stop=stop, **options)
    (unread,) = read_manifest(tmp_path / "ev")["gaps"]
    assert unread["parameters"] == {"QueryId": query_id, "NextToken": "page-2"}

    client, stub = stubbed("cloudtrail", REGION)
    stub.add_client_error("get_query_results", "QueryIdNotFoundException", "The query ID does not exist or does not "
                          "map to a query.", 400, expected_params={"QueryId": query_id, "NextToken": "page-2"})
    stub.add_response("start_query", {"QueryId": again}, {"QueryStatement": plan.sql})
    stub.add_response("describe_query", {"QueryId": again, "QueryStatus": "FINISHED"})
    stub.add_response("get_query_results", {"QueryStatus": "FINISHED", "QueryResultRows": rows}, {"QueryId": again})

    result = collect_query(tmp_path / "ev", plan, {}, clients={"cloudtrail": client, "sts": caller()}, **options)

    stub.assert_no_pending_responses()
    assert result.resumed == [] and result.gaps == 0
    manifest = read_manifest(tmp_path / "ev")
    assert manifest["gaps"] == []
    _, refused, rerun = manifest["queries"]
    assert refused["resumed_from"] == unread
    assert refused["refused"] == "QueryIdNotFoundException: The query ID does not exist or does not map to a query."
    assert (refused["pages"], refused["complete"]) == (0, False)
    assert (rerun["query_id"], rerun["pages"], rerun["complete"]) == (again, 1, True)
    assert verify(tmp_path / "ev") == []


def test_a_results_page_unanswered_when_the_run_stops_is_the_gap_with_its_token(
    archive: dict[str, Any], tmp_path: Path, ctrl_c: Callable[[], None]
) -> None:
    rows = [lake_row(r) for r in kept_records(archive)]
    query_id = "7e4c6b7a-8f9e-4dab-b1ba-e9f8a7b6c5d4"
    client, stub = lake_pages(query_id, [rows[:3], rows[3:]])
    answer = threading.Event()
    asked: list[int] = []

    def slow_page_2(**_: Any) -> None:
        asked.append(1)
        if len(asked) == 2:  # Ctrl-C while page 2 is asked for; its answer comes after the grace
            ctrl_c()
            answer.wait(60)

    client.meta.events.register("provide-client-params.cloudtrail.GetQueryResults", slow_page_2)
    try:
        with pytest.raises(CollectionInterrupted):
            collect_query(tmp_path / "ev", plan := lake_query(STORE, start=WINDOW[0], end=WINDOW[1]), {},
                          clients={"cloudtrail": client, "sts": caller()}, session=boto3.Session(region_name=REGION),
                          sleep=no_wait, monotonic=Clock(), clock=lambda: COLLECTED_AT)
    finally:
        answer.set()  # the abandoned call ends; the manifest is written and its answer dropped

    manifest = read_manifest(tmp_path / "ev")
    (query,) = manifest["queries"]
    assert (query["sql"], query["pages"], query["records"], query["complete"]) == (plan.sql, 1, 3, False)
    assert manifest["gaps"] == [{
        "operation": "cloudtrail:GetQueryResults", "parameters": {"QueryId": query_id, "NextToken": "page-2"},
        "region": REGION, "account": ACCOUNT, "error_code": "Interrupted",
        "error_message": "no answer before the run stopped: interrupted by the user (Ctrl-C) after 0 s",
        "collected_at": "2026-12-03T13:02:11Z", "kind": "interrupted", "attempted": True,
    }]  # fmt: skip
    assert verify(tmp_path / "ev") == []


def test_athena_results_pages_are_written_as_they_arrive_and_only_the_first_row_is_a_header(
    archive: dict[str, Any], tmp_path: Path
) -> None:
    # moto's Athena answers GetQueryResults in one page whatever is asked: the pages are Stubber's.
    plan = athena_query(TABLE, layout="console", start=WINDOW[0], end=WINDOW[1])
    result = athena_result(archive["db"], plan)
    header, rows = result["rows"][0], result["rows"][1:]
    metadata = {"ColumnInfo": result["column_info"]}
    client, stub = stubbed("athena", REGION)
    query_id = "4b1f3e4d-5c6b-4a79-9887-b6c5d4e3f2a1"
    stub.add_response("start_query_execution", {"QueryExecutionId": query_id})
    stub.add_response("get_query_execution", {"QueryExecution": {"QueryExecutionId": query_id, "Status": {"State": "SUCCEEDED"},
                                                                 "Statistics": {"DataScannedInBytes": 7_340_032}}})
    # The second page starts with a row whose values are the column names: data, not a header.
    assert len(rows) >= 5
    pages = [[header, *rows[:2]], [header, *rows[2:4]], rows[4:]]
    for number, page in enumerate(pages):
        token = {"NextToken": f"page-{number + 2}"} if number < 2 else {}
        asked = {"QueryExecutionId": query_id, **({"NextToken": f"page-{number + 1}"} if number else {})}
        stub.add_response("get_query_results", {"ResultSet": {"Rows": page, "ResultSetMetadata": metadata}, **token}, asked)
    on_disk = written_before_each_page(client, tmp_path / "ev")

    collect_query(tmp_path / "ev", plan, athena_start_parameters(OUTPUT, None), clients={"athena": client, "sts": caller()},
                  session=boto3.Session(region_name=REGION), sleep=no_wait)

    stub.assert_no_pending_responses()
    assert on_disk == [0, 1, 2]
    (query,) = read_manifest(tmp_path / "ev")["queries"]
    assert (query["pages"], query["records"], query["complete"], query["bytes_scanned"]) == (3, len(rows) + 1, True, 7_340_032)
    written = [json.loads((tmp_path / "ev" / f).read_text())["Records"] for f in query["files"]]
    assert list(map(len, written)) == [2, 3, len(rows) - 4]
    assert written[1][0]["eventID"] == "eventid"  # the names row of page 2 is a row like any other


def test_a_cloudtrail_lake_query_that_fails_is_a_gap_with_aws_reason(tmp_path: Path) -> None:
    plan = lake_query(STORE, start=WINDOW[0], end=WINDOW[1])
    client, stub = stubbed("cloudtrail", REGION)
    stub.add_response("start_query", {"QueryId": "1f0e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"})
    stub.add_response("describe_query", {"QueryId": "1f0e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", "QueryStatus": "FAILED", "ErrorMessage": "Column not found"})
    sts = caller()

    collect_query(tmp_path / "ev", plan, {}, clients={"cloudtrail": client, "sts": sts},
                  session=boto3.Session(region_name=REGION), sleep=no_wait)

    (gap,) = read_manifest(tmp_path / "ev")["gaps"]
    assert (gap["operation"], gap["error_code"]) == ("cloudtrail:GetQueryResults", "QueryFailed")
    assert gap["error_message"] == "the query ended FAILED: Column not found"


def test_a_cloudtrail_lake_query_past_its_deadline_is_cancelled(tmp_path: Path) -> None:
    plan = lake_query(STORE, start=WINDOW[0], end=WINDOW[1])
    client, stub = stubbed("cloudtrail", REGION)
    query_id = "2f0e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
    stub.add_response("start_query", {"QueryId": query_id})
    stub.add_response("describe_query", {"QueryId": query_id, "QueryStatus": "RUNNING"})
    stub.add_response("cancel_query", {"QueryId": query_id, "QueryStatus": "CANCELLED"}, {"QueryId": query_id})
    clock, stop = Clock(), Stop()

    def jump() -> None:
        clock.now += 1801

    result = collect_query(tmp_path / "ev", plan, {}, clients={"cloudtrail": client, "sts": caller()},
                           session=boto3.Session(region_name=REGION), sleep=until_stopped(stop, jump), monotonic=clock,
                           stop=stop)

    stub.assert_no_pending_responses()
    assert result.stopped == "deadline"
    (gap,) = read_manifest(tmp_path / "ev")["gaps"]
    assert (gap["operation"], gap["parameters"], gap["error_code"], gap["kind"]) == (
        "cloudtrail:GetQueryResults", {"QueryId": query_id}, "DeadlineExceeded", "deadline")
    assert gap["error_message"] == ("the run's deadline of 30 min passed while the query was RUNNING, before any results "
                                    "page was read; the query was stopped")


@pytest.mark.parametrize("gaps", [[1, "x", None, {"parameters": "y"}, {"operation": "cloudtrail:GetQueryResults", "parameters": {}}],
                                  [{"operation": "cloudtrail:GetQueryResults", "parameters": {"QueryId": "q", "NextToken": 7}}],
                                  [{"operation": "cloudtrail:GetQueryResults", "parameters": {"QueryId": "q", "MaxQueryResults": 5}}]])
def test_an_edited_manifest_resumes_nothing(gaps: list[Any], tmp_path: Path) -> None:
    plan = lake_query(STORE, start=WINDOW[0], end=WINDOW[1])
    entry = {"engine": "lake", "source": plan.source, "sql": plan.sql, "parameters": [], "query_id": "q",
             "state": "FINISHED", "complete": False, "window": {"start": "yesterday", "end": None}}
    assert query_module.resumable({"queries": [None, 3, entry], "gaps": gaps}, plan) is None
    assert query_module.resumable({"queries": [{**entry, "query_id": None}], "gaps": [{**gaps[-1], "parameters": {}}]}, plan) is None
    for window in ({"start": "yesterday", "end": None}, {"start": "2024-02-05T10:30:00", "end": "2024-03-10T07:45:30"},
                   {"start": "2024-03-10T07:45:30Z", "end": "2024-02-05T10:30:00Z"}, "2024", None):
        writer = query_module.EvidenceWriter(tmp_path)
        writer.manifest["queries"] = [{**entry, "window": window}]
        writer.close()
        assert query_module.unfinished_window(tmp_path, plan) is None  # not a window: the command's own is used


def test_a_query_stopped_before_its_results_runs_again_and_its_gap_leaves_the_gaps(
    archive: dict[str, Any], tmp_path: Path
) -> None:
    plan = lake_query(STORE, start=WINDOW[0], end=WINDOW[1])
    rows = [lake_row(r) for r in kept_records(archive)]
    stopped, again = "0b7f9e0d-1c2b-4ade-a4ed-1c2bdae9f807", "1c8a0f1e-2d3c-4bef-b5fe-2d3cebfa0918"
    client, stub = stubbed("cloudtrail", REGION)
    stub.add_response("start_query", {"QueryId": stopped})
    stub.add_response("describe_query", {"QueryId": stopped, "QueryStatus": "RUNNING"})
    stub.add_response("cancel_query", {"QueryId": stopped, "QueryStatus": "CANCELLED"}, {"QueryId": stopped})
    stop = Stop()
    options = {"session": boto3.Session(region_name=REGION), "monotonic": Clock(), "clock": lambda: COLLECTED_AT}
    collect_query(tmp_path / "ev", plan, {}, clients={"cloudtrail": client, "sts": caller()}, stop=stop,
                  sleep=lambda _: stop.set("interrupted", "Interrupted", "interrupted by the user (Ctrl-C) after 1 s"), **options)
    (earlier,) = read_manifest(tmp_path / "ev")["gaps"]
    assert earlier["parameters"] == {"QueryId": stopped}  # no page was read: nothing to read on from

    client, stub = stubbed("cloudtrail", REGION)
    stub.add_response("start_query", {"QueryId": again}, {"QueryStatement": plan.sql})
    stub.add_response("describe_query", {"QueryId": again, "QueryStatus": "FINISHED"})
    stub.add_response("get_query_results", {"QueryStatus": "FINISHED", "QueryResultRows": rows}, {"QueryId": again})

    collect_query(tmp_path / "ev", plan, {}, clients={"cloudtrail": client, "sts": caller()}, sleep=no_wait, **options)

    stub.assert_no_pending_responses()
    manifest = read_manifest(tmp_path / "ev")
    assert manifest["gaps"] == []  # the rerun read what the stopped query could not: no CloudTrail gap is left
    first, rerun = manifest["queries"]
    assert (first["state"], rerun["query_id"], rerun["complete"]) == ("STOPPED", again, True)
    assert rerun["superseded_gaps"] == [earlier]
    assert verify(tmp_path / "ev") == []
