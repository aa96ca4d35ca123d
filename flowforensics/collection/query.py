"""Athena and CloudTrail Lake: run the kept-events query, poll it, and write its rows as CloudTrail records.

Both engines are driven by one loop; what differs (operation names, where the state and the bytes
scanned are in a response, which states are final) is data, :data:`ENGINES`. Each results page is
written as it arrives, as one ``{"Records": [...]}`` file that the loader reads like any trail file, so
memory is one page whatever the size of the result; the manifest gets a ``queries`` entry: the engine,
the query id, the SQL and its parameters, the table or event data store, the partitions read, the final
state, the bytes scanned, and the files, pages and records written (``complete`` once the last page is).

The run is bounded as a collection is (:mod:`.stopping`). A query that fails is a gap; one still
running when the deadline passes or at Ctrl-C is stopped (``StopQueryExecution``, ``CancelQuery``: the
only calls besides the starts that are not reads, :mod:`.readonly`) and is a gap. Whatever ends the
reading of the results early (a page that fails, Ctrl-C, the deadline) is one gap asking for the
first page not written: the query id and its ``NextToken``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from flowforensics.collection.query_records import to_record
from flowforensics.collection.recorder import GAP_EXCEPTIONS, CollectionResult, Recorder, gap_kind
from flowforensics.collection.runner import DEFAULT_DEADLINE, earlier_manifest, record_bounded
from flowforensics.collection.session import ClientFactory, make_session
from flowforensics.collection.stopping import Stop, Stopped
from flowforensics.collection.trail_sql import ATHENA_COLUMNS, LAKE_COLUMNS, Column, QueryPlan
from flowforensics.errors import CollectionError
from flowforensics.evidence.manifest import EvidenceWriter
from flowforensics.evidence.values import iso

DEFAULT_WINDOW = timedelta(days=7)
# Polling: first wait, growth, longest wait (seconds), as AWS's SDK guides advise for Athena.
POLL_FIRST, POLL_FACTOR, POLL_MAX = 0.5, 2.0, 20.0
# Gap kinds of a results page, read on after an earlier run, that mean its results (or its token) are no
# longer there (Athena's InvalidRequestException, CloudTrail Lake's QueryIdNotFoundException...): run again.
REREAD = frozenset({"refused", "absent"})

@dataclass(frozen=True)
class Engine:
    """How one query service is driven: its operations and where its answers are."""

    service: str
    start: str
    statement: str  # the start call's parameter holding the SQL
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
        statement="QueryString",
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
        statement="QueryStatement",
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


def _athena_rows(page: dict[str, Any], first: bool, names: list[str]) -> tuple[list[dict[str, str | None]], list[str]]:
    result = page.get("ResultSet") or {}
    names = names or [c.get("Name", "") for c in (result.get("ResultSetMetadata") or {}).get("ColumnInfo", [])]
    rows: list[dict[str, str | None]] = []
    for index, row in enumerate(result.get("Rows") or []):
        values = [cell.get("VarCharValue") for cell in row.get("Data") or []]
        if first and index == 0 and values == names:
            continue  # Athena's first row of a SELECT is the header
        rows.append(dict(zip(names, values, strict=False)))
    return rows, names


def _lake_rows(page: dict[str, Any], first: bool, names: list[str]) -> tuple[list[dict[str, str | None]], list[str]]:
    # Each row is a list of one-entry {column: value} maps.
    return [{name: value for cell in row for name, value in cell.items()} for row in page.get("QueryResultRows") or []], names


# A results page, whether it is the first, and the column names so far -> its rows (column -> text), the names.
_ROWS: dict[str, Callable[[dict[str, Any], bool, list[str]], tuple[list[dict[str, str | None]], list[str]]]] = {
    "athena": _athena_rows,
    "lake": _lake_rows,
}


def _pages(client: Any, parameters: dict[str, Any], token: str | None = None) -> Iterator[dict[str, Any]]:
    """The results pages one at a time (from ``token``'s page on), each requested when the one before has been handled."""
    if client.can_paginate("get_query_results"):
        config = {"PaginationConfig": {"StartingToken": token}} if token else {}
        yield from client.get_paginator("get_query_results").paginate(**parameters, **config)
        return
    # botocore has no paginator for CloudTrail Lake's GetQueryResults.
    while True:
        page = client.get_query_results(**parameters, **({"NextToken": token} if token else {}))
        yield page
        token = page.get("NextToken")
        if not token:
            return


def _same(entry: Any, plan: QueryPlan) -> bool:
    """Whether a manifest's query entry ran ``plan``'s statement (engine, source, SQL and bound values)."""
    return isinstance(entry, dict) and (
        entry.get("engine"), entry.get("source"), entry.get("sql"), entry.get("parameters")
    ) == (plan.engine, plan.source, plan.sql, plan.parameters)


def resumable(manifest: Mapping[str, Any], plan: QueryPlan) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The same query's results an earlier run into the folder left unread: its entry and the gap asking for them.

    The same query is the manifest's last entry of this engine, source, statement and parameters; its
    results are left unread when it succeeded, was not read to the end (``complete: false``) and a gap
    of the results call has its id (and the ``NextToken`` of the first page not written, or none: from
    the first). ``None`` otherwise.
    """
    engine = ENGINES[plan.engine]
    same = [entry for entry in manifest.get("queries") or [] if _same(entry, plan)]
    if not same or same[-1].get("complete") is not False or same[-1].get("state") != engine.succeeded:
        return None
    entry, operation = same[-1], f"{engine.service}:{engine.results}"
    if not isinstance(entry.get("query_id"), str):
        return None
    for gap in manifest.get("gaps") or []:
        asked = gap.get("parameters") if isinstance(gap, dict) else None
        if (
            isinstance(asked, dict)
            and gap.get("operation") == operation
            and asked.get(engine.id_key) == entry.get("query_id")
            and set(asked) <= {engine.id_key, "NextToken"}
            and isinstance(asked.get("NextToken", ""), str)
        ):
            return entry, gap
    return None


def unfinished_window(folder: str | os.PathLike[str], plan: QueryPlan) -> tuple[datetime, datetime] | None:
    """The window of the same engine and source's last query in the folder when it was not read to the end.

    ``collect`` reuses it when no ``--start`` or ``--end`` is given, so that the same command asks the
    same query again (and :func:`resumable` finds it).
    """
    queries = (earlier_manifest(folder) or {}).get("queries")
    same = [q for q in queries or [] if isinstance(q, dict) and (q.get("engine"), q.get("source")) == (plan.engine, plan.source)]
    recorded = same[-1].get("window") if same and same[-1].get("complete") is not True else None
    try:
        # As the entry records it (ISO 8601, UTC), nothing else: not a relative time like --start's.
        start, end = (datetime.fromisoformat(recorded[key]) for key in ("start", "end"))  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        return None
    return (start, end) if start.tzinfo is not None and end.tzinfo is not None and start < end else None


class QueryRun:
    """One query of a collection: start, poll with backoff until done or the run stops, fetch, write.

    Parameters
    ----------
    rec : Recorder
        The run's recorder (clients guarded read-only, the evidence writer, the stop signal).
    plan : QueryPlan
        The statement.
    start_parameters : dict
        The start call's parameters besides the statement (Athena's output location, workgroup,
        database context).
    sleep : callable, optional
        Waits between polls; by default the run's stop signal, so that a stop ends the wait.
    """

    def __init__(
        self,
        rec: Recorder,
        plan: QueryPlan,
        start_parameters: dict[str, Any],
        *,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        self.rec = rec
        self.plan = plan
        self.engine = ENGINES[plan.engine]
        self.start_parameters = start_parameters
        self.sleep = sleep or rec.stop.wait
        self.query_id: str | None = None
        self.entry: dict[str, Any] = {
            "engine": plan.engine,
            "source": plan.source,
            "sql": plan.sql,
            "parameters": plan.parameters,
            "partitions": plan.partitions,
            "window": {"start": iso(plan.window[0]), "end": iso(plan.window[1])} if plan.window else None,
            "query_id": None,
            "state": None,
            "bytes_scanned": None,
            "records": 0,
        }
        # In the manifest from the start, and changed under the recorder's lock: the run may be
        # stopped and the manifest written at any moment.
        with rec.lock:
            rec.writer.manifest.setdefault("queries", []).append(self.entry)

    def _op(self, name: str) -> str:
        return f"{self.engine.service}:{name}"

    def run(self) -> None:
        """Run the query to its end and write what it returned; failures and stops become gaps."""
        engine = self.engine
        parameters = {**self.start_parameters, engine.statement: self.plan.sql}
        if self.plan.parameters:  # Athena's bound values (CloudTrail Lake binds none)
            parameters["ExecutionParameters"] = self.plan.parameters
        self._supersede()
        started = self.rec.fetch(self._op(engine.start), parameters, save=False)
        if started is None:
            return
        with self.rec.lock:
            self.query_id = self.entry["query_id"] = started[engine.id_key]
        if self._poll():
            self._fetch()

    def _supersede(self) -> None:
        """The gaps earlier runs left on this statement are this run's to read again: they move to its entry.

        ``gaps`` then holds what this run cannot read; what the earlier runs could not read stays on
        record, as the entry's ``superseded_gaps``.
        """
        engine = self.engine
        with self.rec.lock:
            manifest = self.rec.writer.manifest
            ids = [q.get("query_id") for q in manifest.get("queries") or [] if q is not self.entry and _same(q, self.plan)]

            def earlier(gap: Any) -> bool:
                asked = gap.get("parameters") if isinstance(gap, dict) else None
                return (
                    isinstance(asked, dict)
                    and str(gap.get("operation")).partition(":")[0] == engine.service
                    and (
                        asked.get(engine.id_key) in [i for i in ids if i is not None]
                        or (asked.get(engine.statement), asked.get("ExecutionParameters", []))
                        == (self.plan.sql, self.plan.parameters)
                    )
                )

            superseded = [gap for gap in manifest["gaps"] if earlier(gap)]
            if superseded:
                manifest["gaps"][:] = [gap for gap in manifest["gaps"] if not earlier(gap)]
                self.entry["superseded_gaps"] = superseded

    def read_on(self, earlier: dict[str, Any], gap: dict[str, Any]) -> bool:
        """Read the results an earlier run left unread (:func:`resumable`), from the page its gap asks for.

        The gap moves from the manifest's ``gaps`` to this query's entry (``resumed_from``): this run
        reads what it asked for, and records anew what it cannot read.

        Returns
        -------
        bool
            ``False`` when the service refuses that page before any is written (the results, or the
            token, are no longer there): the entry says so (``refused``) and the query is to be run again.
        """
        engine = self.engine
        with self.rec.lock:
            if gap in self.rec.writer.manifest["gaps"]:
                self.rec.writer.manifest["gaps"].remove(gap)
            self.query_id = self.entry["query_id"] = gap["parameters"][engine.id_key]
            self.entry.update(state=earlier.get("state"), bytes_scanned=earlier.get("bytes_scanned"), resumed_from=gap)
        refused = self._fetch(gap["parameters"].get("NextToken"), resumed=True)
        if refused is None:
            with self.rec.lock:
                self.rec.result.resumed.append(
                    f"query {self.query_id}: {self.entry['pages']} results page(s) read on after the earlier run's "
                    f"{earlier.get('pages', 0)}"
                )
            return True
        with self.rec.lock:
            self.entry["refused"] = f"{refused[0]}: {refused[1]}"
        return False

    def _poll(self) -> bool:
        """Poll until the query succeeds (``True``), fails or the run stops (a gap; ``False``)."""
        engine = self.engine
        wait = POLL_FIRST
        while self.rec.stop.reason is None:
            status = self.rec.fetch(self._op(engine.status), {engine.id_key: self.query_id}, save=False)
            if status is None:
                break  # the gap is recorded
            state = _at(status, engine.state_path)
            with self.rec.lock:
                self.entry["state"] = state
                self.entry["bytes_scanned"] = _at(status, engine.bytes_path)
            if state == engine.succeeded:
                return True
            if state in engine.failed:
                reason = _at(status, engine.reason_path) or "no reason given"
                self._gap(f"Query{str(state).title().replace('_', '')}", f"the query ended {state}: {reason}", "refused")
                return False
            self.sleep(wait)
            wait = min(wait * POLL_FACTOR, POLL_MAX)
        if self.rec.stop.reason is not None:
            self._stop()
        return False

    def _stop(self) -> None:
        """The run stopped before the results were read: stop the query (a stop is still sent), record the gap."""
        reason = self.rec.stop.reason
        assert reason is not None  # only called once the run has stopped
        engine = self.engine
        stopped = self.rec.fetch(self._op(engine.stop), {engine.id_key: self.query_id}, save=False) is not None
        with self.rec.lock:
            state = self.entry["state"]
            if stopped:
                self.entry["state"] = "STOPPED"
        done = "the query was stopped" if stopped else f"stopping it failed (see the gap of {self._op(engine.stop)})"
        self._gap(reason.code, f"{reason.message} while the query was {state or 'starting'}, before any results "
                  f"page was read; {done}", reason.kind)  # fmt: skip

    def _fetch(self, token: str | None = None, *, resumed: bool = False) -> tuple[str, str] | None:
        """Write each results page as an evidence file as it arrives: memory is one page whatever the size.

        Whatever ends the reading early (a page that cannot be read, Ctrl-C, the deadline) is one gap
        whose parameters ask for the first page not written: the query id and that page's ``NextToken``.
        The pages before it stay written, and the query's entry says how many (``pages``, ``records``,
        ``complete``).

        Parameters
        ----------
        token : str, optional
            Read from this page on (the first page when ``None``).
        resumed : bool
            Reading on after an earlier run: a first page refused (:data:`REREAD`) is not a gap but
            returned, as ``(error code, message)``, so that the query is run again.
        """
        engine = self.engine
        operation = self._op(engine.results)
        client = self.rec.factory.client(engine.service)
        region = self.rec.factory.region
        first: dict[str, Any] = {engine.id_key: self.query_id}
        asked, names = {**first, **({"NextToken": token} if token else {})}, []
        with self.rec.lock:
            self.entry.update(files=[], pages=0, complete=False)
        # The page asked for stays "waiting" until it is written, so that a run stopped at any moment
        # records the first page not written.
        call = self.rec.waiting(operation, asked, region)
        try:
            for page in _pages(client, first, token):
                # Athena's header row heads the results' first page only.
                rows, names = _ROWS[self.plan.engine](page, token is None and self.entry["pages"] == 0, names)
                records = [to_record(row, engine.columns) for row in rows]
                token = page.get("NextToken")
                with self.rec.lock:
                    path = self.rec.save(operation, {"Records": records}, parameters=asked, region=region)
                    if path is None:
                        return None  # the run has ended: the manifest is written
                    self.entry["files"].append(path.relative_to(self.rec.writer.folder).as_posix())
                    self.entry["pages"] += 1
                    self.entry["records"] += len(records)
                    self.rec.result.events += len(records)
                    asked = {**first, "NextToken": token}
                    if not token:
                        self.rec.answered(call)
                        self.entry["complete"] = True
                        return None
                    self.rec.waiting(operation, asked, region, call=call)
                if self.rec.stop.reason is not None:
                    raise Stopped(message=self.rec.stop.reason.message)
        except Stopped:
            with self.rec.lock:
                self.rec.answered(call)
                self._not_read(asked)
        except GAP_EXCEPTIONS as exc:
            with self.rec.lock:
                self.rec.answered(call)
                if resumed and not self.entry["pages"] and gap_kind(exc) in REREAD:
                    error = exc.response.get("Error", {}) if isinstance(exc, ClientError) else {}
                    return error.get("Code") or type(exc).__name__, error.get("Message") or str(exc)
                self.rec.gap(operation, exc, parameters=asked, region=region)
        finally:
            self.rec.answered(call)
        return None

    def _not_read(self, asked: dict[str, Any]) -> None:
        reason = self.rec.stop.reason
        assert reason is not None  # Stopped is raised once the run has stopped
        written = f"{self.entry['pages']} results page(s) ({self.entry['records']} records) were written before this one"
        self.rec.note_gap(
            self._op(self.engine.results),
            error_code=reason.code,
            error_message=f"not attempted: {reason.message}; {written}",
            parameters=asked,
            region=self.rec.factory.region,
            kind=reason.kind,
            attempted=False,
        )

    def _gap(self, code: str, message: str, kind: str) -> None:
        self.rec.note_gap(
            self._op(self.engine.results),
            error_code=code,
            error_message=message,
            parameters={self.engine.id_key: self.query_id},
            region=self.rec.factory.region,
            kind=kind,
        )


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
    deadline: float | None = DEFAULT_DEADLINE,
    sleep: Callable[[float], Any] | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    stop: Stop | None = None,
) -> CollectionResult:
    """Run one Athena or CloudTrail Lake query into an evidence folder, bounded as a collection is.

    The query runs in a thread while the caller waits (:func:`.stopping.run_bounded`): Ctrl-C and the
    deadline stop it at once, whatever it is waiting for. Stopped while it runs, the query is stopped
    too; stopped while its results are read, the query is left as it is (its results stay readable)
    and the gap asks for the first page not written. When the folder holds such a gap of the same
    query (:func:`resumable`), its results are read on from there instead of running it again, unless
    the service no longer has them.

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
    deadline : float or None, default 30 minutes
        Seconds the whole run (the query and the reading of its results) may take; ``None``: no limit.
    sleep : callable, optional
        Waits between polls (by default until the next poll or the stop, whichever comes first).
    monotonic : callable, optional
        The clock the deadline is read on (tests pass their own).
    stop : Stop, optional
        The run's stop signal (a fresh one by default).

    Returns
    -------
    CollectionResult
        ``events`` is the number of records written; ``stopped`` says why the run stopped early.

    Raises
    ------
    CollectionInterrupted
        Ctrl-C, after the manifest was written (with what was cut short as gaps).
    CollectionError
        No region, or credentials missing, expired or refused (one line); the deadline passed before
        the caller identity was known (nothing is written).
    """
    stop = stop or Stop()
    factory = ClientFactory(
        session or make_session(profile, region), region=region, endpoint_url=endpoint_url, clients=clients, stop=stop
    )

    def make(writer: EvidenceWriter) -> Recorder:
        rec = Recorder(writer, factory)
        rec.result.regions.append(factory.region)
        return rec

    def work(rec: Recorder) -> None:
        unread = resumable(rec.writer.manifest, plan)
        if unread is None or not QueryRun(rec, plan, start_parameters, sleep=sleep).read_on(*unread):
            QueryRun(rec, plan, start_parameters, sleep=sleep).run()

    return record_bounded(factory, out, stop, deadline, make, work, clock=clock, monotonic=monotonic)


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
