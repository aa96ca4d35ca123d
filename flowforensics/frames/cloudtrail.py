"""CloudTrail records from every source (lookup-events, S3 log files, exports) into the ``events`` frame."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flowforensics.evidence.reader import LIMITS, Document, LoadProblem
from flowforensics.evidence.records import (
    CLOUDTRAIL_KINDS,
    CloudTrailRecord,
    FileRecords,
    parse_exact,
    parse_record,
    part_of,
)
from flowforensics.evidence.shapes import is_cloudtrail_record
from flowforensics.evidence.spool import SpooledTexts, TextSpool
from flowforensics.evidence.values import frame_time, scalar_text
from flowforensics.frames.schema import SCHEMAS, TEXT, frame_of_columns


@dataclass
class EventCounters:
    """What reading CloudTrail kept, merged and set aside (like flowlogs-reader's skip counters)."""

    read: int = 0
    duplicates: int = 0
    without_time: int = 0
    without_id: int = 0
    id_collisions: int = 0
    unreadable: int = 0
    malformed: int = 0
    oversized: int = 0
    notes: list[LoadProblem] = field(default_factory=list)


def _records(texts: SpooledTexts, counters: EventCounters, duplicates: list[str]) -> Iterator[tuple[int, bytes, dict[str, Any], bool]]:
    """Each CloudTrail record of a file: its index, its JSON text as read, its parsed form (for the row
    only) and whether the text is exact (:func:`~flowforensics.evidence.records.parse_exact`)."""
    for index, text in enumerate(texts):
        try:
            record, given_twice, exact = parse_exact(text)
        except (ValueError, RecursionError):
            record, given_twice, exact = None, [], False  # a CloudTrailEvent of lookup-events that is not JSON
        if not is_cloudtrail_record(record):
            counters.unreadable += 1
            continue
        duplicates.extend(given_twice)
        yield index, text, record, exact


def _canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)


def _object_field(value: Any) -> dict[str, Any] | None:
    """requestParameters/responseElements as an object, or None: CloudTrail writes nothing else there."""
    # Some exporters write them as JSON strings.
    if isinstance(value, str) and value.lstrip()[:1] == "{":
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return None
    return value if isinstance(value, dict) else None


def actor_of(identity: Any) -> tuple[str | None, str | None, str | None]:
    """Who acted, from ``userIdentity``: (actor, actor type, session issuer ARN).

    The actor is the identity's ARN; for a service acting on its own, the service
    (``invokedBy``); failing both, the principal id or user name.
    """
    if not isinstance(identity, dict):
        return None, None, None
    context = identity.get("sessionContext")
    issuer = context.get("sessionIssuer") if isinstance(context, dict) else None
    issuer_arn = scalar_text(issuer.get("arn")) if isinstance(issuer, dict) else None
    actor = next(
        (text for key in ("arn", "invokedBy", "principalId", "userName") if (text := scalar_text(identity.get(key)))),
        None,
    )
    return actor, scalar_text(identity.get("type")), issuer_arn


# Fields of a record that must be objects: anything else there is malformed, and is left empty.
_OBJECT_FIELDS = {"request": "requestParameters", "response": "responseElements"}

# Fields of a record that must be text: an array or object there is malformed, and is left empty.
_TEXT_FIELDS = {
    "event_source": "eventSource",
    "event_name": "eventName",
    "region": "awsRegion",
    "source_ip": "sourceIPAddress",
    "user_agent": "userAgent",
    "error_code": "errorCode",
    "error_message": "errorMessage",
}

_TYPED_FIELDS = tuple((_TEXT_FIELDS | _OBJECT_FIELDS).items())


# Names in requestParameters that the analysis matches against roles, policies, log groups and keys:
# CloudTrail writes each as one string. Anything else is left empty, so that no change is replayed
# on, nor matched to, a name it does not have.
REQUEST_NAMES = ("roleName", "roleArn", "policyName", "policyArn", "policyId", "versionId", "targetId",
                 "permissionsBoundary", "logGroupName", "logStreamName", "keyId", "kmsKeyId")


def _names_not_text(row: dict[str, Any]) -> list[str]:
    """Leave empty the :data:`REQUEST_NAMES` of the row's request that are not strings; their names."""
    request = row["request"]
    if request is None:
        return []
    wrong = [name for name in REQUEST_NAMES if request.get(name) is not None and not isinstance(request[name], str)]
    if wrong:
        # A copy: the record as read stays whole in the ``record`` column.
        row["request"] = {key: value for key, value in request.items() if key not in wrong}
    return wrong


def _wrong_types(record: dict[str, Any], row: dict[str, Any]) -> bool:
    """Whether a field of the record was of a type CloudTrail never writes there (and was left empty)."""
    identity = record.get("userIdentity")
    if isinstance(identity, dict):
        context = identity.get("sessionContext")
        if context is not None and (not isinstance(context, dict) or not isinstance(context.get("sessionIssuer") or {}, dict)):
            return True
    elif identity is not None:
        return True
    return any(record.get(key) is not None and row[column] is None for column, key in _TYPED_FIELDS)


def _row(record: dict[str, Any], kept: CloudTrailRecord, event_id: str, source_file: str) -> dict[str, Any]:
    identity = record.get("userIdentity")
    actor, actor_type, issuer = actor_of(identity)
    read_only = record.get("readOnly")
    if isinstance(read_only, str):
        read_only = read_only.lower() == "true"
    account = scalar_text(record.get("recipientAccountId"))
    if not account and isinstance(identity, dict):
        account = scalar_text(identity.get("accountId"))
    return {
        "event_id": event_id,
        "event_time": frame_time(record.get("eventTime")),
        **{column: scalar_text(record.get(key)) for column, key in _TEXT_FIELDS.items()},
        "account_id": account,
        "actor": actor,
        "actor_type": actor_type,
        "session_issuer": issuer,
        "read_only": read_only if isinstance(read_only, bool) else None,
        **{column: _object_field(record.get(key)) for column, key in _OBJECT_FIELDS.items()},
        "resources": record.get("resources"),
        "record": kept,
        "source_file": source_file,
    }


def events_frame(documents: Iterable[Document]) -> tuple[Any, EventCounters]:
    """Build the ``events`` frame: one row per event, deduplicated across every source.

    A record seen again with the same ``eventID`` and the same content is the same event (from
    lookup-events and from S3, say) and is kept once. A different record under an ``eventID`` already
    taken (test data reuses ids) is kept too, under ``ID#2``, ``ID#3``...: no record is lost, none
    counted twice. A record without ``eventID`` gets one derived from its content.

    The records' texts are moved to a :class:`~flowforensics.evidence.spool.TextSpool` (their
    documents' own, when their reader spooled them), which the ``record``, ``request`` and ``response``
    columns read from.

    Returns
    -------
    events : pandas.DataFrame
        Sorted by time (records without a time last).
    counters : EventCounters
        What was merged or set aside, with one note per file where records lacked a time or an id.
    """
    counters = EventCounters()
    spool = TextSpool()
    # eventID -> what was kept under it: the record, replaced by the canonical forms once another record
    # claims the id (the canonical form is computed only then, or for a record without an id).
    seen: dict[str, CloudTrailRecord | list[str]] = {}
    rows = _Rows()
    for document in documents:
        if document.kind not in CLOUDTRAIL_KINDS:
            continue
        content: FileRecords = document.content
        texts = content.spool(spool)
        without_time = without_id = collisions = kept_here = wrong_types = unnamed = 0
        wrong_names: set[str] = set()
        before = counters.unreadable
        malformed = oversized = 0
        duplicate_keys = list(content.duplicate_keys)
        counters.notes.extend(LoadProblem(document.path, note) for note in content.notes)
        for index, text, record, exact in _records(texts, counters, duplicate_keys):
            counters.read += 1
            canonical = None
            try:
                # The limit is on the record as compact JSON, which can be longer than its text as read
                # (escapes, numbers written short): measured exactly when the text is anywhere near it.
                if len(text) > LIMITS.max_record_bytes // 8:
                    canonical = _canonical(record)
            except (ValueError, TypeError, RecursionError):
                malformed += 1
                continue
            if canonical is not None and len(canonical) > LIMITS.max_record_bytes:
                oversized += 1
                continue
            event_id = scalar_text(record.get("eventID"))
            try:
                if not event_id:
                    canonical = canonical or _canonical(record)
                    event_id = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]
                    without_id += 1
                taken = seen.get(event_id)
                if taken is not None:
                    canonical = canonical or _canonical(record)
                    if isinstance(taken, CloudTrailRecord):
                        seen[event_id] = taken = [_canonical(parse_record(taken.text)[0])]
            except (ValueError, TypeError, RecursionError):
                malformed += 1
                continue
            if taken is not None and canonical in taken:
                counters.duplicates += 1
                continue
            unique_id = event_id if taken is None else f"{event_id}#{len(taken) + 1}"
            try:
                row = _row(record, CloudTrailRecord.spooled(texts.spool, *texts.span(index)), unique_id, document.path)
            except (ValueError, TypeError, AttributeError, KeyError, RecursionError):
                malformed += 1
                continue
            if taken is None:
                seen[event_id] = row["record"]
            else:
                taken.append(canonical)
                collisions += 1
            kept_here += 1
            if row["event_time"] is None:
                without_time += 1
            wrong_types += _wrong_types(record, row)
            names = _names_not_text(row)
            unnamed += bool(names)
            wrong_names.update(names)
            for column, key in _OBJECT_FIELDS.items():
                if row[column] is not None:
                    within = exact and row[column] is record.get(key)
                    row[column] = part_of(row[column], texts, index, text if within else None)
            rows.add(row)
        unreadable = counters.unreadable - before
        for count, what in (
            (without_time, "have no usable eventTime, missing or unreadable (kept, with no time)"),
            (without_id, "have no eventID (kept, with an id derived from their content)"),
            (collisions, "reuse an eventID already taken by a different record (kept as ID#N)"),
            (wrong_types, "have fields of a type CloudTrail does not write there (kept, those fields left empty)"),
            (unnamed, f"have names in requestParameters that are not text ({', '.join(sorted(wrong_names))}; kept, "
                      "those names left empty)"),
        ):
            if count:
                counters.notes.append(LoadProblem(document.path, f"{count} of {kept_here} CloudTrail records {what}"))
        if duplicate_keys:
            named = ", ".join(sorted(set(duplicate_keys))[:5])
            counters.notes.append(LoadProblem(
                document.path, f"{len(duplicate_keys)} duplicate JSON key(s) in one object ({named}): the last value of each was used"))
        if unreadable:
            counters.notes.append(LoadProblem(document.path, f"{unreadable} entries are not CloudTrail records (skipped)"))
        if malformed:
            counters.notes.append(LoadProblem(document.path, f"{malformed} CloudTrail records are malformed (skipped)"))
        if oversized:
            counters.notes.append(LoadProblem(
                document.path, f"{oversized} CloudTrail records are larger than {LIMITS.max_record_bytes >> 20} MiB (skipped: the limit on one record)"))
        counters.malformed += malformed
        counters.oversized += oversized
        counters.without_time += without_time
        counters.without_id += without_id
        counters.id_collisions += collisions
    del seen  # before the frame is sorted, when memory peaks
    return rows.frame(), counters


class _Rows:
    """The events' rows, gathered as a list of values per column and made into frames a batch at a time:
    the Python objects of only one batch are held beside the frame's own columns."""

    BATCH = 8192

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {column: [] for column in SCHEMAS["events"]}
        self.batches: list[Any] = []

    def add(self, row: dict[str, Any]) -> None:
        for column, values in self.columns.items():
            values.append(row[column])
        if len(self.columns["event_id"]) >= self.BATCH:
            self._flush()

    def _flush(self) -> None:
        self.batches.append(frame_of_columns("events", self.columns))
        for values in self.columns.values():
            values.clear()

    def frame(self) -> Any:
        """The frame, sorted by time (records without a time last), then id."""
        import pandas as pd
        import pyarrow as pa
        import pyarrow.compute as pc

        if self.columns["event_id"] or not self.batches:
            self._flush()
        batches, self.batches = self.batches, []
        # Arrow sorts the key columns as they are held: no Python object per row.
        keys = pa.table({
            "no_time": pa.chunked_array([pa.array(batch["event_time"].isna().to_numpy()) for batch in batches]),
            "time": pa.chunked_array([pa.array(batch["event_time"]) for batch in batches]),
            "id": pa.chunked_array([pa.array(batch["event_id"]) for batch in batches]),
        })
        order = pc.sort_indices(keys, sort_keys=[("no_time", "ascending"), ("time", "ascending"), ("id", "ascending")]).to_numpy()
        del keys
        # One column at a time, each batch giving its column up: a sorted copy of the whole frame is never held.
        columns = {}
        for column, (dtype, _meaning) in SCHEMAS["events"].items():
            parts = [batch.pop(column) for batch in batches]
            if dtype == TEXT and len(order):
                # Sorted through a dictionary: the batches' text is let go once encoded, and text that
                # events repeat (actors, messages, files) is held once until the sorted column is made.
                encoded = pa.chunked_array([pa.array(part) for part in parts]).dictionary_encode()
                del parts
                dictionary = encoded.chunks[0].dictionary
                indices = pa.concat_arrays([chunk.indices for chunk in encoded.chunks]).take(order)
                del encoded
                columns[column] = pd.Series(pd.arrays.ArrowStringArray(dictionary.take(indices)))
                del indices, dictionary
            else:
                columns[column] = pd.concat(parts, ignore_index=True).take(order).reset_index(drop=True)
                del parts
            # Arrow's allocator (mimalloc) keeps what it freed; given back here, it is not held under the
            # next column's peak.
            pa.default_memory_pool().release_unused()
        return pd.DataFrame(columns, copy=False)
