"""Athena and CloudTrail Lake: run the kept-events query, poll it, and write its rows as CloudTrail records.

Both engines are driven by one loop; what differs (operation names, where the state and the bytes
scanned are in a response, which states are final) is data, :data:`ENGINES`. The evidence folder gets
the records as one ``{"Records": [...]}`` file, which the loader reads like any trail file, and the
manifest a ``queries`` entry: the engine, the query id, the SQL and its parameters, the table or event
data store, the partitions read, the final state and the bytes scanned.

A query that fails, outlasts ``deadline`` or is interrupted (Ctrl-C) is stopped (``StopQueryExecution``,
``CancelQuery``: the only calls besides the starts that are not reads, :mod:`.readonly`) and recorded
as a gap.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flowforensics.collection.query_records import to_record
from flowforensics.collection.recorder import GAP_EXCEPTIONS, CollectionResult, Recorder
from flowforensics.collection.session import ClientFactory, make_session
from flowforensics.collection.trail_sql import ATHENA_COLUMNS, LAKE_COLUMNS, Column, QueryPlan
from flowforensics.errors import CollectionError
from flowforensics.evidence.manifest import EvidenceWriter
from flowforensics.evidence.values import iso

DEFAULT_WINDOW = timedelta(days=7)
DEFAULT_DEADLINE = timedelta(minutes=30)
# Polling: first wait, growth, longest wait (seconds), as AWS's SDK guides advise for Athena.
POLL_FIRST, POLL_FACTOR, POLL_MAX = 0.5, 2.0, 20.0

# A query gap's code -> its kind in the manifest (as collection's stops are recorded).
STOP_KINDS = {"DeadlineExceeded": "deadline", "Interrupted": "interrupted"}


@dataclass(frozen=True)
class Engine:
    """How one query service is driven: its operations and where its answers are."""

    service: str
    start: str
    status: str
    results: str
    stop: str
    id_key: str
    state_path: tuple[str, ...]
    reason_path: tuple[str, ...]
    bytes_path: tuple[str, ...]
    succeeded: str
    failed: frozenset[str]
    columns: tuple[Column, ...]


ENGINES: dict[str, Engine] = {
    "athena": Engine(
        service="athena",
        start="StartQueryExecution",
        status="GetQueryExecution",
        results="GetQueryResults",
        stop="StopQueryExecution",
        id_key="QueryExecutionId",
        state_path=("QueryExecution", "Status", "State"),
        reason_path=("QueryExecution", "Status", "StateChangeReason"),
        bytes_path=("QueryExecution", "Statistics", "DataScannedInBytes"),
        succeeded="SUCCEEDED",
        failed=frozenset({"FAILED", "CANCELLED"}),
        columns=ATHENA_COLUMNS,
    ),
    "lake": Engine(
        service="cloudtrail",
        start="StartQuery",
        status="DescribeQuery",
        results="GetQueryResults",
        stop="CancelQuery",
        id_key="QueryId",
        state_path=("QueryStatus",),
        reason_path=("ErrorMessage",),
        bytes_path=("QueryStatistics", "BytesScanned"),
        succeeded="FINISHED",
        failed=frozenset({"FAILED", "CANCELLED", "TIMED_OUT"}),
        columns=LAKE_COLUMNS,
    ),
}


def _at(response: Mapping[str, Any] | None, path: tuple[str, ...]) -> Any:
    value: Any = response
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def window(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """The query window: ``end`` defaults to now, ``start`` to 7 days before it; any age (archives keep years).

    Raises
    ------
    CollectionError
        When the window is empty.
    """
    end = end or now
    start = start or end - DEFAULT_WINDOW
    if start >= end:
        raise CollectionError(f"--start {iso(start)} is not before --end {iso(end)}")
    return start.astimezone(UTC), end.astimezone(UTC)


def _athena_rows(pages: list[dict[str, Any]]) -> list[dict[str, str | None]]:
    rows: list[dict[str, str | None]] = []
    names: list[str] = []
    for number, page in enumerate(pages):
        result = page.get("ResultSet") or {}
        names = names or [c.get("Name", "") for c in (result.get("ResultSetMetadata") or {}).get("ColumnInfo", [])]
        for index, row in enumerate(result.get("Rows") or []):
            values = [cell.get("VarCharValue") for cell in row.get("Data") or []]
            if number == 0 and index == 0 and values == names:
                continue  # Athena's first row of a SELECT is the header
            rows.append(dict(zip(names, values, strict=False)))
    return rows


def _lake_rows(pages: list[dict[str, Any]]) -> list[dict[str, str | None]]:
    # Each row is a list of one-entry {column: value} maps.
    return [
        {name: value for cell in row for name, value in cell.items()}
        for page in pages
        for row in page.get("QueryResultRows") or []
    ]


_ROWS: dict[str, Callable[[list[dict[str, Any]]], list[dict[str, str | None]]]] = {
    "athena": _athena_rows,
    "lake": _lake_rows,
}


class QueryRun:
    """One query of a collection: start, poll with backoff until done or the deadline, fetch, write.

    Parameters
    ----------
    rec : Recorder
        The run's recorder (clients guarded read-only, the evidence writer).
    plan : QueryPlan
        The statement.
    start_parameters : dict
        The start call's parameters besides the statement (Athena's output location, workgroup,
        database context).
    deadline : timedelta
        How long the query may run before it is stopped.
    sleep, monotonic : callable, optional
        Injected by tests.
    """

    def __init__(
        self,
        rec: Recorder,
        plan: QueryPlan,
        start_parameters: dict[str, Any],
        *,
        deadline: timedelta = DEFAULT_DEADLINE,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rec = rec
        self.plan = plan
        self.engine = ENGINES[plan.engine]
        self.start_parameters = start_parameters
        self.deadline = deadline
        self.sleep = sleep
        self.monotonic = monotonic
        self.query_id: str | None = None
        self.entry: dict[str, Any] = {
            "engine": plan.engine,
            "source": plan.source,
            "sql": plan.sql,
            "parameters": plan.parameters,
            "partitions": plan.partitions,
            "query_id": None,
            "state": None,
            "bytes_scanned": None,
            "records": 0,
            "file": None,
        }

    def _op(self, name: str) -> str:
        return f"{self.engine.service}:{name}"

    def run(self) -> None:
        """Run the query to its end and write what it returned; failures become gaps.

        Raises
        ------
        KeyboardInterrupt
            After stopping the query and recording the gap, so that the command exits as interrupted.
        """
        engine = self.engine
        parameters = {**self.start_parameters}
        if engine.service == "athena":
            parameters["QueryString"] = self.plan.sql
            if self.plan.parameters:
                parameters["ExecutionParameters"] = self.plan.parameters
        else:
            parameters["QueryStatement"] = self.plan.sql
        try:
            started = self.rec.fetch(self._op(engine.start), parameters, save=False)
            if started is None:
                return
            self.query_id = started[engine.id_key]
            self.entry["query_id"] = self.query_id
            status = self._poll()
            if status is not None:
                self._fetch()
        except KeyboardInterrupt:
            self._stop("Interrupted", "interrupted (Ctrl-C) before the query's results were read")
            raise
        finally:
            self.rec.writer.manifest.setdefault("queries", []).append(self.entry)

    def _poll(self) -> dict[str, Any] | None:
        engine = self.engine
        limit = self.monotonic() + self.deadline.total_seconds()
        wait = POLL_FIRST
        while True:
            status = self.rec.fetch(self._op(engine.status), {engine.id_key: self.query_id}, save=False)
            if status is None:
                return None  # the gap is recorded
            state = _at(status, engine.state_path)
            self.entry["state"] = state
            self.entry["bytes_scanned"] = _at(status, engine.bytes_path)
            if state == engine.succeeded:
                return status
            if state in engine.failed:
                reason = _at(status, engine.reason_path) or "no reason given"
                self._gap(f"Query{str(state).title().replace('_', '')}", f"the query ended {state}: {reason}")
                return None
            left = limit - self.monotonic()
            if left <= 0:
                self._stop("DeadlineExceeded", f"still {state} after {self.deadline}; stopped")
                return None
            self.sleep(min(wait, left))
            wait = min(wait * POLL_FACTOR, POLL_MAX)

    def _fetch(self) -> None:
        engine = self.engine
        operation = self._op(engine.results)
        client = self.rec.factory.client(engine.service)
        pages: list[dict[str, Any]] = []
        parameters: dict[str, Any] = {engine.id_key: self.query_id}
        try:
            if client.can_paginate("get_query_results"):
                pages = list(client.get_paginator("get_query_results").paginate(**parameters))
            else:
                token = None
                while True:
                    page = client.get_query_results(**parameters, **({"NextToken": token} if token else {}))
                    pages.append(page)
                    token = page.get("NextToken")
                    if not token:
                        break
        except GAP_EXCEPTIONS as exc:
            self.rec.gap(operation, exc, parameters=parameters, region=self.rec.factory.region)
            return
        records = [to_record(row, engine.columns) for row in _ROWS[self.plan.engine](pages)]
        path = self.rec.save(operation, {"Records": records}, parameters=parameters, region=self.rec.factory.region)
        self.entry["records"] = len(records)
        self.entry["file"] = path.relative_to(self.rec.writer.folder).as_posix()
        with self.rec.lock:
            self.rec.result.events += len(records)

    def _gap(self, code: str, message: str) -> None:
        self.rec.note_gap(
            self._op(self.engine.results),
            error_code=code,
            error_message=message,
            parameters={self.engine.id_key: self.query_id},
            region=self.rec.factory.region,
            kind=STOP_KINDS.get(code, "refused"),
        )

    def _stop(self, code: str, message: str) -> None:
        if self.query_id is not None:
            self.rec.fetch(self._op(self.engine.stop), {self.engine.id_key: self.query_id}, save=False)
            self.entry["state"] = "STOPPED"
        self._gap(code, message)


def collect_query(
    out: str | os.PathLike[str],
    plan: QueryPlan,
    start_parameters: dict[str, Any],
    *,
    profile: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    session: Any = None,
    clients: Mapping[Any, Any] | None = None,
    clock: Callable[[], datetime] | None = None,
    deadline: timedelta = DEFAULT_DEADLINE,
    sleep: Callable[[float], None] = time.sleep,
) -> CollectionResult:
    """Run one Athena or CloudTrail Lake query into an evidence folder.

    Parameters
    ----------
    out : str or os.PathLike
        The evidence folder.
    plan : QueryPlan
        From :func:`.trail_sql.athena_query` or :func:`.trail_sql.lake_query`.
    start_parameters : dict
        The start call's other parameters (Athena: ``ResultConfiguration``, ``WorkGroup``,
        ``QueryExecutionContext``).
    profile, region, endpoint_url, session, clients, clock
        As :func:`flowforensics.collection.collect`.
    deadline : timedelta
        How long the query may run before it is stopped and recorded as a gap.
    sleep : callable
        Waits between polls (tests pass a no-op).

    Returns
    -------
    CollectionResult
        ``events`` is the number of records written.

    Raises
    ------
    CollectionError
        No region, or credentials missing, expired or refused (one line).
    """
    factory = ClientFactory(
        session or make_session(profile, region), region=region, endpoint_url=endpoint_url, clients=clients
    )
    identity = factory.caller_identity()
    writer = EvidenceWriter(out, clock=clock)
    writer.set_caller_identity(identity)
    rec = Recorder(writer, factory)
    rec.result.regions.append(factory.region)
    try:
        QueryRun(rec, plan, start_parameters, deadline=deadline, sleep=sleep).run()
    finally:
        result = rec.finish()
    return result


def athena_start_parameters(output: str, workgroup: str | None) -> dict[str, Any]:
    """``StartQueryExecution``'s parameters besides the statement.

    Raises
    ------
    CollectionError
        When ``output`` is not an ``s3://`` location.
    """
    if not output.startswith("s3://") or len(output) <= len("s3://"):
        raise CollectionError(f"--athena-output {output!r}: give an s3://bucket/prefix/ for the query results")
    parameters: dict[str, Any] = {"ResultConfiguration": {"OutputLocation": output}}
    if workgroup:
        parameters["WorkGroup"] = workgroup
    return parameters


def as_list(values: str | Sequence[str] | None) -> list[str]:
    """A comma-separated option (or a list of them) as a list; nothing gives an empty list."""
    if values is None:
        return []
    items = [values] if isinstance(values, str) else list(values)
    return [part.strip() for item in items for part in item.split(",") if part.strip()]
