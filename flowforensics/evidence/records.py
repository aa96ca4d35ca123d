"""CloudTrail records out of a file's bytes, at close to decompression speed.

The fast path for every CloudTrail file shape (S3 log files ``{"Records": [...]}``, ``lookup-events``
output ``{"Events": [{"CloudTrailEvent": "..."}]}``, JSON arrays and JSON Lines exports):

1. gunzip with ISA-L (``isal``), bounded like the evidence reader (a gzip bomb stops at the limit);
2. ``msgspec`` finds each record's bytes without building it (:class:`msgspec.Raw`) and decodes only
   three fields of it (``eventSource``, ``eventName``, ``errorCode``), skipping the rest at C speed;
3. only the records a ``keep`` predicate wants (by default every record) are parsed into Python
   objects, by the standard library's strict parser, which also reports keys given twice.

What is checked where: the fast decoder (step 2) checks that the file is well-formed JSON of one of
the shapes above; it keeps the last of duplicate keys, like every JSON parser, and cannot report them,
so duplicate keys are found by the strict parser (step 3) in the records kept, not in those dropped.
Anything the fast decoder does not recognise (another shape, a ``Records`` that is not a list, a
``CloudTrailEvent`` that is not a string, invalid JSON) returns ``None``: the caller then reads the file
with the evidence reader, whose messages say what is wrong. Records that are not JSON objects are
handed on as they are, so that the frame builder counts them, as for any other source.
"""

from __future__ import annotations

import hashlib
import io
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from isal import igzip

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"

# keep(eventSource, eventName, errorCode) -> whether to parse and keep the record.
Keep = Callable[[Any, Any, Any], bool]


class _Head(msgspec.Struct):
    eventSource: Any = None
    eventName: Any = None
    errorCode: Any = None


class _LookupEvent(msgspec.Struct):
    CloudTrailEvent: str


class _Envelope(msgspec.Struct):
    Records: list[msgspec.Raw] | None = None
    Events: list[_LookupEvent] | None = None


class _Heads(msgspec.Struct):
    Records: list[_Head] | None = None


_HEAD = msgspec.json.Decoder(_Head)
_HEADS = msgspec.json.Decoder(_Heads)
_HEAD_ARRAY = msgspec.json.Decoder(list[_Head])
_ENVELOPE = msgspec.json.Decoder(_Envelope)
_ARRAY = msgspec.json.Decoder(list[msgspec.Raw])


@dataclass
class FileRecords:
    """The records of one file that the predicate kept, parsed, and what was seen.

    Attributes
    ----------
    records : list
        The kept records, parsed by the strict parser (usually dicts).
    read : int
        Every record in the file, kept or not.
    duplicate_keys : list of str
        Keys given twice in one object of a kept record (the last value was used).
    """

    records: list[Any] = field(default_factory=list)
    read: int = 0
    duplicate_keys: list[str] = field(default_factory=list)


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress gzip ``data`` (any number of members) with ISA-L; other bytes are returned as they are.

    Raises
    ------
    ValueError
        When the gzip is truncated or corrupt, or holds more than ``limit`` bytes.
    """
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        with igzip.GzipFile(fileobj=io.BytesIO(data)) as unzipped:
            out = unzipped.read(limit + 1)
    except (EOFError, OSError, zlib.error) as exc:
        raise ValueError(f"truncated or corrupt gzip ({exc})") from None
    if len(out) > limit:
        raise ValueError(f"larger than {limit / (1 << 20):g} MiB once decompressed: not read (the limit on one file)")
    return out


def _strict(text: bytes | str, duplicates: list[str]) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        built = dict(items)
        if len(built) != len(items):
            seen: set[str] = set()
            duplicates.extend(key for key, _value in items if key in seen or seen.add(key))
        return built

    return json.loads(text, object_pairs_hook=pairs)


def _wanted(raw: bytes | str | msgspec.Raw, keep: Keep) -> bool:
    try:
        head = _HEAD.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return True  # not a JSON object: the frame builder counts it as not a record
    return keep(head.eventSource, head.eventName, head.errorCode)


def _heads_of_log(data: bytes) -> list[_Head] | None:
    return _HEADS.decode(data).Records


# form of a file -> how to decode the three fields of all its records in one pass (when all are objects).
_HEADS_OF: dict[str, Callable[[bytes], list[_Head] | None]] = {"array": _HEAD_ARRAY.decode, "log": _heads_of_log}


def _split(data: bytes) -> tuple[str, list[Any]] | None:
    """The file's form (array, log, lookup or lines) and its records as raw JSON; ``None`` for the strict reader."""
    start = data.lstrip()[:1]
    try:
        if start == b"[":
            return "array", list(_ARRAY.decode(data))
        if start != b"{":
            return None
        try:
            envelope = _ENVELOPE.decode(data)
        except msgspec.DecodeError:
            lines = [line for line in data.splitlines() if line.strip()]
            if len(lines) < 2:
                return None
            for line in lines:
                msgspec.json.decode(line, type=msgspec.Raw)  # each line one JSON value, or the strict reader
            return "lines", lines
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if envelope.Events is not None:
        return "lookup", [event.CloudTrailEvent for event in envelope.Events]
    if envelope.Records is not None:
        return "log", list(envelope.Records)
    return None


def _wanted_records(data: bytes, form: str, raws: list[Any], keep: Keep | None) -> list[Any]:
    if keep is None:
        return raws
    decode_heads = _HEADS_OF.get(form)
    if decode_heads is not None:
        try:
            heads = decode_heads(data)
        except msgspec.ValidationError:
            heads = None  # some record is not an object: one at a time below
        if heads is not None and len(heads) == len(raws):
            return [raw for raw, head in zip(raws, heads, strict=True) if keep(head.eventSource, head.eventName, head.errorCode)]
    return [raw for raw in raws if _wanted(raw, keep)]


def fast_records(data: bytes, keep: Keep | None = None) -> FileRecords | None:
    """Read the CloudTrail records of one file's (decompressed) bytes, parsing only those kept.

    Parameters
    ----------
    data : bytes
        The file's bytes, gunzipped (see :func:`gunzip`); a UTF-8 byte-order mark is allowed.
    keep : callable, optional
        ``keep(eventSource, eventName, errorCode)``: whether a record is parsed and kept, e.g.
        :func:`flowforensics.evidence.relevance.is_relevant`. Default: every record.

    Returns
    -------
    FileRecords or None
        ``None`` when the bytes are not one of the shapes this path reads; read them with the
        evidence reader instead.
    """
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
    split = _split(data)
    if split is None:
        return None
    form, raws = split
    result = FileRecords(read=len(raws))
    try:
        wanted = _wanted_records(data, form, raws, keep)
    except msgspec.DecodeError:
        return None  # a string that is not UTF-8: the evidence reader says so
    for raw in wanted:
        try:
            result.records.append(_strict(bytes(raw) if isinstance(raw, msgspec.Raw) else raw, result.duplicate_keys))
        except (ValueError, RecursionError):
            if form != "lookup":
                return None  # not UTF-8, or nested too deeply: the evidence reader says which
            result.records.append(raw)  # a CloudTrailEvent that is not JSON: the frame builder counts it
    return result


def _why_not(data: bytes) -> str:
    try:
        json.loads(data)
    except RecursionError:
        return "nested too deeply to read"
    except UnicodeDecodeError:
        return "not text: neither JSON nor gzipped JSON"
    except json.JSONDecodeError as exc:
        return f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
    return "not a CloudTrail log file: no 'Records' list, 'Events' of lookup-events, array or JSON Lines of records"


def read_file(data: bytes, keep: Keep | None, limit: int) -> tuple[str, int, FileRecords | str]:
    """One archive file's compressed bytes -> (SHA-256 of them, their size, the kept records or why none).

    Runs in worker processes: everything it needs comes in, everything it found goes out.
    """
    digest = hashlib.sha256(data).hexdigest()
    try:
        plain = gunzip(data, limit)
    except ValueError as exc:
        return digest, len(data), str(exc)
    found = fast_records(plain, keep)
    return digest, len(data), found if found is not None else _why_not(plain)
