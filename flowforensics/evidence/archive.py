"""Read a CloudTrail archive, local or ``s3://bucket/prefix``, keeping only the events an investigation needs.

An archive is what a trail delivers to S3: ``AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/*.json.gz``.
Only the folders of the layout that the selection can need are listed (:mod:`.archive_listing`), and
files are chosen by account, region and delivery date from their keys before any is opened; each chosen
file is read by the fast path (:mod:`flowforensics.evidence.records`) which parses only the records the
kept-events rule (:mod:`flowforensics.evidence.relevance`) keeps. Files are read one after the other (or
by a few worker processes), so peak memory is a few files plus the kept records, not the archive.

Every file read is listed with its key, size and the SHA-256 of its compressed bytes; every file or
folder not read, with the reason; every listing made.

Examples
--------
>>> from flowforensics.evidence.archive import Selection, read_archive
>>> read = read_archive("s3://org-trail/AWSLogs/o-a1b2c3d4e5", Selection.of(accounts=["111122223333"],
...                     start="2025-06-01T00:00Z", end="2025-06-02T00:00Z"))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from flowforensics.errors import EvidenceError
from flowforensics.evidence.archive_listing import (
    DATED,
    LocalStore,
    S3Store,
    Store,
    Unlisted,
    period,
    position,
    s3_location,
    walk,
)
from flowforensics.evidence.archive_listing import ArchiveObject as _Object
from flowforensics.evidence.manifest import MANIFEST_NAME
from flowforensics.evidence.reader import LIMITS, Document, LoadProblem, read_document
from flowforensics.evidence.records import CLOUDTRAIL_KINDS, FileRecords, Keep, gunzip, record_time
from flowforensics.evidence.relevance import is_relevant
from flowforensics.evidence.spool import TextSpool
from flowforensics.evidence.values import parse_time

ARCHIVE_KEY = re.compile(
    r"(?:^|/)AWSLogs/(?:(?P<org>o-[a-z0-9]{10,32})/)?(?P<account>\d{12})/CloudTrail/(?P<region>[a-z0-9-]+)/"
    r"(?P<year>\d{4})/(?P<month>\d{2})/(?P<day>\d{2})/(?P<name>[^/]+\.json(?:\.gz)?)$"
)
LAYOUT = "AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/*.json.gz"
# CloudTrail files a log under the UTC day it delivers it, usually within about 15 minutes of its events,
# sometimes hours later: files delivered up to a day after the window's end are read.
DELIVERY_MARGIN = timedelta(days=1)
MAX_FILE_BYTES = LIMITS.max_file_bytes  # once decompressed: the evidence reader's limit
# With fewer files than this, worker processes cost more to start than they save.
PARALLEL_FROM = 16


@dataclass(frozen=True)
class Selection:
    """Which archive files to read, decided from their keys; empty sets select everything."""

    accounts: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def of(cls, accounts: Iterable[str] = (), regions: Iterable[str] = (), start: Any = None, end: Any = None) -> Selection:
        """A selection from command-line values (times as ISO 8601 text or datetimes).

        Raises
        ------
        EvidenceError
            When a time cannot be read or the window ends before it starts.
        """
        times = []
        for name, value in (("--start", start), ("--end", end)):
            moment = parse_time(value) if value is not None else None
            if value is not None and moment is None:
                raise EvidenceError(name, f"not a time: {value!r} (use ISO 8601, e.g. 2025-06-01T00:00Z)")
            times.append(moment)
        if times[0] and times[1] and times[1] < times[0]:
            raise EvidenceError("--end", "the window ends before it starts")
        return cls(frozenset(accounts), frozenset(regions), times[0], times[1])

    def days(self) -> tuple[date | None, date | None]:
        """The first and last delivery days (UTC) whose files can hold events of the window.

        A file is filed under the day CloudTrail delivered it, after its events: files delivered before
        the day of ``start`` hold none; files delivered up to :data:`DELIVERY_MARGIN` after ``end`` may.
        """
        return (self.start.date() if self.start else None, (self.end + DELIVERY_MARGIN).date() if self.end else None)

    def folder_reason(self, level: str, name: str, dates: tuple[str, ...] = ()) -> str | None:
        """Why a folder of the layout (an account, region, year, month or day, below ``dates``) is not
        wanted, or ``None``."""
        if level in ("account", "region"):
            chosen = self.accounts if level == "account" else self.regions
            return f"{level} {name} not selected" if chosen and name not in chosen else None
        if level not in DATED:
            return None
        parts = (*dates, name)
        days = period(parts)
        if days is None:
            return f"not a date: {'/'.join(parts)}"
        first, last = self.days()
        when = f"on {days[0]}" if len(parts) == 3 else f"in {'-'.join(parts)}"
        if first is not None and days[1] < first:
            return f"delivered {when}, before the window"
        if last is not None and days[0] > last:
            return f"delivered {when}, more than a day after the window"
        return None

    def skip_reason(self, key: str) -> str | None:
        """Why the file at ``key`` is not read, or ``None`` when it is selected."""
        match = ARCHIVE_KEY.search(key)
        if match is None:
            return f"not a CloudTrail log file in AWS's layout ({LAYOUT})"
        reasons = (
            self.folder_reason("account", match["account"]),
            self.folder_reason("region", match["region"]),
            self.folder_reason("day", match["day"], (match["year"], match["month"])),
        )
        return next((reason for reason in reasons if reason is not None), None)

    def in_window(self, record: bytes | Any) -> bool:
        """Whether a kept record's ``eventTime`` is in the window (one without a readable time is kept).

        ``record`` is the record's JSON text, as the reader hands records on, or the parsed record.
        """
        if self.start is None and self.end is None:
            return True
        if isinstance(record, bytes):
            moment = parse_time(record_time(record))
        else:
            moment = parse_time(record.get("eventTime")) if isinstance(record, Mapping) else None
        if moment is None:
            return True
        return (self.start is None or moment >= self.start) and (self.end is None or moment <= self.end)


@dataclass
class ArchiveRead:
    """What reading an archive kept, read and skipped.

    Attributes
    ----------
    source : str
        The archive as given (a folder or ``s3://bucket/prefix``).
    documents : list of Document
        One CloudTrail document per file with kept records (its content a
        :class:`~flowforensics.evidence.records.FileRecords`: the kept records' JSON text).
    read : list of dict
        Every file read: ``key``, ``size`` (compressed bytes), ``sha256`` (of the compressed bytes),
        ``records`` (in the file), ``kept``.
    skipped : list of dict
        Every file not read, or not usable: ``key`` and ``reason``.
    problems : list of LoadProblem
        The files that could not be read, for the evidence's warnings.
    outside_window : int
        Kept-kind records of the chosen files whose time is outside the window (dropped).
    listed : list of dict
        Every listing made: ``prefix`` and ``depth`` (``one level`` or ``whole``); files are looked for
        only there (:mod:`.archive_listing`).
    spool : TextSpool
        Where the documents' kept records' text is held.
    """

    source: str
    documents: list[Document] = field(default_factory=list)
    read: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)
    outside_window: int = 0
    listed: list[dict[str, str]] = field(default_factory=list)
    spool: TextSpool = field(default_factory=TextSpool, repr=False)

    @property
    def records(self) -> int:
        """Records in the files read."""
        return sum(entry["records"] for entry in self.read)

    @property
    def kept(self) -> int:
        """Records kept."""
        return sum(entry["kept"] for entry in self.read)


def is_archive(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a CloudTrail archive: ``s3://...``, an ``AWSLogs`` folder or one inside it, or a
    folder whose only entry is ``AWSLogs/``.

    A folder that also holds other files (AWS CLI output filled by hand beside a copy of the trail), or
    that flowforensics collected (it has ``manifest.json``), is evidence, and is read whole.
    """
    text = os.fspath(path)
    if text.startswith("s3://"):
        return True
    folder = Path(text)
    if not folder.is_dir() or (folder / MANIFEST_NAME).exists():
        return False
    if "AWSLogs" in folder.resolve().parts:
        return True
    return [entry.name for entry in os.scandir(folder) if not entry.name.startswith(".")] == ["AWSLogs"]


def _progress(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="file", file=sys.stderr, disable=not sys.stderr.isatty(), leave=False)


def read_archive(
    path: str | os.PathLike[str],
    selection: Selection = Selection(),
    *,
    keep: Keep | None = is_relevant,
    workers: int | None = None,
    s3_client: Any = None,
) -> ArchiveRead:
    """Read the chosen files of a CloudTrail archive, keeping the records ``keep`` wants.

    Parameters
    ----------
    path : str or os.PathLike
        A folder (at any level of the layout, e.g. the one holding ``AWSLogs/``) or ``s3://bucket/prefix``.
    selection : Selection
        Accounts, regions and the time window; files are chosen from their keys.
    keep : callable or None
        ``keep(eventSource, eventName, errorCode)``; default the kept-events rule; ``None`` keeps all.
    workers : int, optional
        Worker processes across files; default both cores when there are enough files to pay for them.
    s3_client : botocore client, optional
        For ``s3://`` paths: an S3 client (made read-only by the caller); default one from the
        environment's credentials, read-only.

    Returns
    -------
    ArchiveRead

    Raises
    ------
    EvidenceError
        When the path does not exist, or nothing of it can be listed (a folder of it that cannot be is
        reported in ``skipped`` and ``problems``, and the rest read).
    """
    source = os.fspath(path)
    store: Store
    if source.startswith("s3://"):
        store = S3Store(source, s3_client or _s3_client())
        *names, partial = s3_location(source)[1].split("/")
        prefix = "".join(f"{name}/" for name in names)
    else:
        root = Path(source)
        if not root.is_dir():
            raise EvidenceError(source, "no such folder")
        store, prefix, partial, names = LocalStore(root), "", "", list(root.resolve().parts[1:])
    result = ArchiveRead(source, listed=store.listed)
    chosen = []
    unlisted: list[Unlisted] = []
    for item in walk(store, selection, prefix, partial, position(names)):
        if isinstance(item, Unlisted):
            unlisted.append(item)
            result.skipped.append({"key": item.key, "reason": f"cannot be listed ({item.error}): not read"})
            result.problems.append(LoadProblem(item.key, f"cannot be listed ({item.error}): its files were not read"))
            continue
        if isinstance(item, tuple):
            result.skipped.append({"key": item[0], "reason": item[1]})
            continue
        reason = selection.skip_reason(item.key)
        if reason is None:
            chosen.append(item)
        else:
            result.skipped.append({"key": item.key, "reason": reason})
    if unlisted and not store.answered:
        raise EvidenceError(unlisted[0].key, f"cannot list the archive ({unlisted[0].error})")
    workers = workers if workers is not None else (min(2, os.cpu_count() or 1) if len(chosen) >= PARALLEL_FROM else 1)
    with _progress(len(chosen)) as bar, _executor(workers) as pool:
        for item, outcome in _outcomes(chosen, keep, pool, workers):
            _take(result, item, outcome, selection)
            bar.update(1)
            bar.set_postfix_str(f"{sum(e['size'] for e in result.read) / 1e6:.0f} MB, {result.kept:,} records kept", refresh=False)
    return result


def _s3_client() -> Any:
    import boto3

    from flowforensics.collection import readonly

    client = boto3.client("s3")
    readonly.install(client)
    return client


class _InProcess(Executor):
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def _executor(workers: int) -> Executor:
    if workers <= 1:
        return _InProcess()
    import multiprocessing

    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"))


def _outcomes(chosen: list[_Object], keep: Keep | None, pool: Executor, workers: int) -> Iterator[tuple[_Object, Any]]:
    """Each chosen file with what reading it gave, in order; at most two files a worker in flight."""
    pending: deque[tuple[_Object, Any]] = deque()
    for item in chosen:
        try:
            data = item.fetch()
        except (OSError, ValueError) as exc:
            pending.append((item, exc))
        except Exception as exc:  # botocore's errors: one file unreadable is a gap, not the end
            pending.append((item, OSError(str(exc))))
        else:
            pending.append((item, pool.submit(read_file, data, keep, MAX_FILE_BYTES)))
        while len(pending) > 2 * max(1, workers):
            yield _resolved(*pending.popleft())
    while pending:
        yield _resolved(*pending.popleft())


def _resolved(item: _Object, outcome: Any) -> tuple[_Object, Any]:
    return item, outcome.result() if isinstance(outcome, Future) else outcome


def _take(result: ArchiveRead, item: _Object, outcome: Any, selection: Selection) -> None:
    if isinstance(outcome, Exception):
        reason = outcome.strerror if isinstance(outcome, OSError) and outcome.strerror else str(outcome)
        result.skipped.append({"key": item.key, "reason": f"not read ({reason})"})
        result.problems.append(LoadProblem(item.key, f"not read ({reason})"))
        return
    digest, size, records = outcome
    if isinstance(records, str):
        result.skipped.append({"key": item.key, "reason": records, "sha256": digest, "size": size})
        result.problems.append(LoadProblem(item.key, records))
        return
    kept = [text for text in records.texts if selection.in_window(text)]
    result.outside_window += len(records.texts) - len(kept)
    result.read.append({"key": item.key, "size": size, "sha256": digest, "records": records.read, "kept": len(kept)})
    if kept or records.duplicate_keys or records.notes:
        records.texts = kept
        records.spool(result.spool)  # the kept text of every file read is not held on the heap
        result.documents.append(Document(item.key, records.kind, records))


NOT_CLOUDTRAIL = "not a CloudTrail log file: no 'Records' list, 'Events' of lookup-events, array or JSON Lines of records"


def read_file(data: bytes, keep: Keep | None, limit: int) -> tuple[str, int, FileRecords | str]:
    """One archive file's compressed bytes -> (SHA-256 of them, their size, the kept records or why none).

    The evidence reader's path (:func:`~flowforensics.evidence.reader.read_document`), as for a folder's
    file. Runs in worker processes: everything it needs comes in, everything it found goes out.
    """
    digest = hashlib.sha256(data).hexdigest()
    try:
        kind, content, _duplicates = read_document(gunzip(data, limit), keep)
    except ValueError as exc:
        return digest, len(data), str(exc)
    return digest, len(data), content if kind in CLOUDTRAIL_KINDS else NOT_CLOUDTRAIL
