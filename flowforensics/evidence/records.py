"""CloudTrail records out of a file's bytes, at close to decompression speed: the one path for every source.

Every CloudTrail file shape (S3 log files ``{"Records": [...]}``, ``lookup-events`` output
``{"Events": [{"CloudTrailEvent": "..."}]}``, JSON arrays and JSON Lines exports), whether in an
evidence folder or an archive, is read here:

1. gunzip with ISA-L (``isal``), bounded (a gzip bomb stops at the limit);
2. ``msgspec`` checks the JSON and finds each record's bytes without building it (:class:`msgspec.Raw`),
   and decodes only the few fields that say what a record is (``eventSource``, ``eventName``,
   ``errorCode``, and which of the fields every record has are present), skipping the rest at C speed;
3. the records a ``keep`` predicate wants (by default every record) are handed on as their JSON text,
   as read: the frame builder parses each once (:func:`parse_record`), keeps the fields of its columns
   and the text (:class:`CloudTrailRecord`), never the whole parsed record.

What is checked where: step 2 checks that the file is well-formed JSON of one of the shapes above and
that its envelope (the ``Records`` object, the lookup-events wrappers) gives no key twice;
:func:`parse_record` reports keys given twice inside each record it parses, i.e. in the records kept
(with a ``keep`` predicate, not in those dropped). Anything step 2 does not recognise (another shape, a
``Records`` that is not a list, invalid JSON, text that is not UTF-8) returns ``None``: the evidence
reader then reads the file with the standard library's strict parser, whose messages say what is
wrong, and hands any CloudTrail records it finds there on the same way (:func:`from_content`).
"""

from __future__ import annotations

import io
import json
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import msgspec
from isal import igzip

from flowforensics.evidence.shapes import CLOUDTRAIL_RECORD_KEYS
from flowforensics.evidence.spool import SpooledTexts, TextSpool

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
_CHUNK = 16 << 20  # gunzipped a chunk at a time
# Line breaks of str.splitlines that bytes.splitlines does not know (NEL, LINE and PARAGRAPH SEPARATOR):
# the strict reader splits JSON Lines on them, so a file holding one is left to it.
_TEXT_LINE_BREAKS = (b"\xc2\x85", b"\xe2\x80\xa8", b"\xe2\x80\xa9")

# keep(eventSource, eventName, errorCode) -> whether to keep the record.
Keep = Callable[[Any, Any, Any], bool]

UNSET = msgspec.UNSET


# gc=False: decoded JSON holds no reference cycles, and millions of heads need not be tracked by the collector.
class _Head(msgspec.Struct, gc=False):
    """What decides whether a record is kept (the other fields are skipped)."""

    eventSource: Any = UNSET
    eventName: Any = UNSET
    errorCode: Any = None


class _Shape(_Head, gc=False):
    """A head, and which of the fields that make a value a CloudTrail record are present (values skipped)."""

    eventTime: msgspec.Raw | msgspec.UnsetType = UNSET
    eventID: msgspec.Raw | msgspec.UnsetType = UNSET
    eventVersion: msgspec.Raw | msgspec.UnsetType = UNSET
    userIdentity: msgspec.Raw | msgspec.UnsetType = UNSET
    awsRegion: msgspec.Raw | msgspec.UnsetType = UNSET


class _LookupEvent(msgspec.Struct, gc=False):
    CloudTrailEvent: str


class _Envelope(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    Records: list[msgspec.Raw] | None = None
    Events: list[_LookupEvent] | None = None
    NextToken: Any = None


class _Heads(msgspec.Struct, gc=False):
    Records: list[_Head] | None = None


class _Time(msgspec.Struct, gc=False):
    eventTime: Any = None


_HEAD = msgspec.json.Decoder(_Head)
_HEADS = msgspec.json.Decoder(_Heads)
_SHAPE = msgspec.json.Decoder(_Shape)
_SHAPE_ARRAY = msgspec.json.Decoder(list[_Shape])
_ENVELOPE = msgspec.json.Decoder(_Envelope)
_ARRAY = msgspec.json.Decoder(list[msgspec.Raw])
_RAW = msgspec.json.Decoder(msgspec.Raw)
_ANY = msgspec.json.Decoder()
_TIME = msgspec.json.Decoder(_Time)
_ENCODER = msgspec.json.Encoder()
_MSGSPEC_ERRORS = (msgspec.DecodeError, RecursionError)

# form of a file -> the kind of evidence document it is (a key of shapes.SHAPES, or an export of records).
KIND_OF_FORM = {"log": "cloudtrail_log", "lookup": "lookup_events", "array": "cloudtrail_records", "lines": "cloudtrail_records"}
CLOUDTRAIL_KINDS = frozenset(KIND_OF_FORM.values())


@dataclass
class FileRecords:
    """The records of one CloudTrail file that were kept, as JSON text, and what was seen.

    Attributes
    ----------
    form : str
        ``log``, ``lookup``, ``array`` or ``lines`` (see :data:`KIND_OF_FORM`).
    texts : sequence of bytes
        Each kept record's JSON text (UTF-8), as in the file; for lookup-events, each ``CloudTrailEvent``.
        A list as read; :class:`~flowforensics.evidence.spool.SpooledTexts` once moved to a spool
        (:meth:`spool`).
    read : int
        Every record in the file, kept or not.
    duplicate_keys : list of str
        Keys given twice in one object of the file's envelope (the last value was used); those inside
        records are found by :func:`parse_record`.
    notes : list of str
        What of the file could not be read as records (e.g. a ``Records`` that is not a list).
    """

    form: str
    texts: Sequence[bytes] = field(default_factory=list)
    read: int = 0
    duplicate_keys: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        """The evidence kind of the file (``cloudtrail_log``, ``lookup_events``, ``cloudtrail_records``)."""
        return KIND_OF_FORM[self.form]

    def spool(self, spool: TextSpool) -> SpooledTexts:
        """Move the texts into ``spool`` (once): the kept records of a whole load then hold no text on the heap."""
        if not isinstance(self.texts, SpooledTexts):
            self.texts = spool.extend(self.texts)
        return self.texts


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress gzip ``data`` (any number of members) with ISA-L; other bytes are returned as they are.

    Raises
    ------
    ValueError
        When the gzip is truncated or corrupt, or holds more than ``limit`` bytes.
    """
    if not data.startswith(GZIP_MAGIC):
        return data
    chunks, size = [], 0
    try:
        with igzip.GzipFile(fileobj=io.BytesIO(data)) as unzipped:
            # In chunks: read(limit + 1) would allocate the limit (256 MiB) for every file.
            while size <= limit and (chunk := unzipped.read(min(_CHUNK, limit + 1 - size))):
                chunks.append(chunk)
                size += len(chunk)
    except (EOFError, OSError, zlib.error) as exc:
        raise ValueError(f"truncated or corrupt gzip ({exc})") from None
    out = b"".join(chunks)
    if len(out) > limit:
        raise ValueError(f"larger than {limit / (1 << 20):g} MiB once decompressed: not read (the limit on one file)")
    return out


class Keys:
    """Builds JSON objects for ``json.loads`` and remembers the keys given twice in one object (JSON keeps the last)."""

    def __init__(self) -> None:
        self.duplicates: list[str] = []

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        built = dict(pairs)
        if len(built) != len(pairs):
            seen: set[str] = set()
            self.duplicates.extend(key for key, _value in pairs if key in seen or seen.add(key))
        return built


def parse_record(text: bytes) -> tuple[Any, list[str]]:
    """Parse one record's JSON text as the standard library's strict parser does, and the keys given twice.

    ``msgspec`` parses it, and when encoding the result gives back the very bytes read (CloudTrail
    writes compact JSON), no key can have been given twice; otherwise ``json.loads`` parses it again,
    with a hook that lists the keys given twice. The value is the same either way.

    Raises
    ------
    ValueError
        When the text is not JSON (or not UTF-8).
    RecursionError
        When it nests too deeply.
    """
    value, duplicates, _exact = parse_exact(text)
    return value, duplicates


def parse_exact(text: bytes) -> tuple[Any, list[str], bool]:
    """As :func:`parse_record`, and whether ``text`` is exactly what msgspec writes of the value: then
    each part of the value is written in ``text`` as msgspec writes it (see :func:`part_of`)."""
    try:
        value = _ANY.decode(text)
        if _ENCODER.encode(value) == text:
            return value, [], True
    except (*_MSGSPEC_ERRORS, UnicodeEncodeError, OverflowError):
        pass
    keys = Keys()
    return json.loads(text, object_pairs_hook=keys), keys.duplicates, False


def part_of(value: dict[str, Any], texts: SpooledTexts, index: int, text: bytes | None) -> JsonObject:
    """``value``, an object of spooled text ``index``'s parsed value, as a :class:`JsonObject` held
    without a copy where it can be.

    Parameters
    ----------
    value : dict
        The object (e.g. a record's ``requestParameters``).
    texts, index : SpooledTexts, int
        The spooled text it was parsed from.
    text : bytes or None
        That text, when it is exact (:func:`parse_exact`) and ``value`` is a part of its value as
        parsed: then the bytes msgspec writes of ``value`` are in it, and any place holding those bytes
        holds the same value. ``None`` for a value made or changed after parsing: its own JSON is
        appended to the spool.
    """
    if text is not None:
        written = _ENCODER.encode(value)
        at = text.find(written)
        if at >= 0:
            start = texts.span(index)[0] + at
            return JsonObject.spooled(texts.spool, start, start + len(written))
    return JsonObject.spooled(texts.spool, *texts.spool.append(_compact(value)))


def record_time(text: bytes) -> Any:
    """The ``eventTime`` of a record's JSON text, as written (``None`` when it has none or is no object)."""
    try:
        return _TIME.decode(text).eventTime
    except _MSGSPEC_ERRORS:
        return None


def _is_record(shape: _Shape | None) -> bool:
    # shapes.is_cloudtrail_record on the fields' presence alone.
    return shape is not None and shape.eventName is not UNSET and any(getattr(shape, key) is not UNSET for key in CLOUDTRAIL_RECORD_KEYS)


def _split(data: bytes) -> tuple[str, list[Any]] | None:
    """The file's form and its records as raw JSON (lookup-events: the ``CloudTrailEvent`` strings)."""
    start = data.lstrip()[:1]
    if start == b"[":
        return "array", list(_ARRAY.decode(data))
    if start != b"{":
        return None
    try:
        envelope = _ENVELOPE.decode(data)
    except msgspec.DecodeError:  # not JSON, or another shape (a record alone, other AWS output): JSON Lines?
        if any(line_break in data for line_break in _TEXT_LINE_BREAKS):
            return None
        lines = [line for line in data.splitlines() if line.strip()]
        if len(lines) < 2:
            return None
        for line in lines:
            _RAW.decode(line)  # each line one JSON value, or the strict reader
        return "lines", lines
    if (envelope.Events is None) == (envelope.Records is None):
        return None
    if envelope.Events is not None:
        return "lookup", [event.CloudTrailEvent for event in envelope.Events]
    if envelope.NextToken is not None:
        return None
    return "log", list(envelope.Records or ())


def _head(raw: Any, decoder: msgspec.json.Decoder = _HEAD) -> Any:
    """A record's head (or shape); ``None`` when it is not a JSON object (or, for a lookup event, not JSON)."""
    try:
        return decoder.decode(raw)
    except _MSGSPEC_ERRORS:
        return None


def _heads(data: bytes, form: str, raws: list[Any]) -> list[Any]:
    """Each record's head, in order: in one pass over the file when every record is an object. Exports
    (arrays, JSON Lines) are of records only: their shapes are read, to check that."""
    one_pass = {"array": _SHAPE_ARRAY.decode, "log": lambda data: _HEADS.decode(data).Records}.get(form)
    if one_pass is not None:
        try:
            heads = one_pass(data)
        except msgspec.ValidationError:
            heads = None  # some record is not an object: one at a time below
        if heads is not None and len(heads) == len(raws):
            return heads
    return [_head(raw, _SHAPE if form in ("array", "lines") else _HEAD) for raw in raws]


class _Outermost:
    """A ``json.loads`` hook that remembers the keys of the last object built: the outermost."""

    def __init__(self) -> None:
        self.pairs: list[tuple[str, Any]] = []

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        self.pairs = pairs
        return dict(pairs)


def _envelope_duplicates(data: bytes, form: str, raws: list[Any]) -> list[str] | None:
    """Keys given twice in the objects around the records; ``None`` when the strict parser refuses the file."""
    if form == "log":
        # CloudTrail writes {"Records":[r1,r2,...]} compactly: then the records and their commas are all
        # there is between the brackets, and no second "Records" list can hide there.
        body = data.strip()
        if body.startswith(b'{"Records":[') and body.endswith(b"]}"):
            if len(body) - len(b'{"Records":[]}') == sum(map(len, raws)) + max(0, len(raws) - 1):
                return []
        if data.count(b'"Records"') == 1:
            return []  # the only "Records" of the file (a quote inside a JSON string is always escaped)
        outermost = _Outermost()
        hook: Callable[[list[tuple[str, Any]]], dict[str, Any]] = outermost
    elif form == "lookup":
        # lookup-events' records are strings in the file: every object the strict parser builds is a wrapper.
        hook = keys = Keys()
    else:
        return []  # an array or JSON Lines has no object around its records
    try:
        json.loads(data, object_pairs_hook=hook)
    except (ValueError, RecursionError):
        return None
    if form == "lookup":
        return keys.duplicates
    seen: set[str] = set()
    return [key for key, _value in outermost.pairs if key in seen or seen.add(key)]


def _utf8(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate, which JSON can only hold escaped
        try:
            return _compact(json.loads(text))
        except (ValueError, RecursionError):
            return text.encode("utf-8", "backslashreplace")  # not JSON either: counted as not a record


def _text(raw: Any) -> bytes:
    return _utf8(raw) if isinstance(raw, str) else bytes(raw)


def _kept(raws: list[Any], heads: list[Any], keep: Keep) -> list[Any]:
    # A value that is no object is handed on, for the frame builder to count as not a record.
    return [raw for raw, head in zip(raws, heads, strict=True) if head is None or keep(head.eventSource, head.eventName, head.errorCode)]


def fast_records(data: bytes, keep: Keep | None = None) -> FileRecords | None:
    """Read the CloudTrail records of one file's (decompressed) bytes, keeping those ``keep`` wants.

    Parameters
    ----------
    data : bytes
        The file's bytes, gunzipped (see :func:`gunzip`), UTF-8 (a byte-order mark is allowed).
    keep : callable, optional
        ``keep(eventSource, eventName, errorCode)``: whether a record is kept, e.g.
        :func:`flowforensics.evidence.relevance.is_relevant`. Default: every record, and then every
        byte of the file is checked to be UTF-8 (with a predicate, only the fields read and the
        records kept are).

    Returns
    -------
    FileRecords or None
        ``None`` when the bytes are not one of the shapes this path reads (an array or JSON Lines of
        values that are not all CloudTrail records included); read them with the evidence reader instead.
    """
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
    try:
        if keep is None:
            str(data, "utf-8")
        split = _split(data)
        if split is None:
            return None
        form, raws = split
        heads = _heads(data, form, raws) if keep is not None or form in ("array", "lines") else None
        if form in ("array", "lines") and not all(map(_is_record, heads or ())):
            return None  # an export is of records only: else the strict reader says what it is
        kept = raws if keep is None else _kept(raws, heads or [], keep)
        duplicates = _envelope_duplicates(data, form, raws)
    except (*_MSGSPEC_ERRORS, UnicodeDecodeError):
        return None  # not JSON, not UTF-8, or nested too deeply: the evidence reader says which
    if duplicates is None:
        return None
    return FileRecords(form, [_text(raw) for raw in kept], len(raws), duplicates)


def _compact(value: Any) -> bytes:
    # ASCII with escapes: any value json.loads made (lone surrogates, NaN) comes back the same.
    return json.dumps(value, separators=(",", ":")).encode()


def from_content(kind: str, content: Any, keep: Keep | None = None) -> FileRecords:
    """The records of a CloudTrail document the strict reader parsed (a shape the fast path leaves to it).

    Parameters
    ----------
    kind : str
        ``cloudtrail_log``, ``lookup_events`` or ``cloudtrail_records``.
    content : object
        The parsed document.
    keep : callable, optional
        As for :func:`fast_records`.
    """
    form = {"cloudtrail_log": "log", "lookup_events": "lookup"}.get(kind, "array")
    found = FileRecords(form)
    if kind == "lookup_events":
        items = content.get("Events")
        if not isinstance(items, list):
            items = [] if items is None else [items]
        # A CloudTrailEvent that is a string is the record's text; an object is taken as the record.
        values = [item.get("CloudTrailEvent") if isinstance(item, dict) else None for item in items]
        texts = [_utf8(value) if isinstance(value, str) else _compact(value) for value in values]
    else:
        records = content.get("Records") if isinstance(content, dict) and "Records" in content else content
        if isinstance(records, dict):
            records = [records]
        if not isinstance(records, list):
            found.notes.append(f"'Records' is a JSON {type(records).__name__}, not a list of records (skipped)")
            return found
        texts = [_compact(record) for record in records]
    found.read = len(texts)
    found.texts = texts if keep is None else _kept(texts, [_head(text) for text in texts], keep)
    return found


class JsonObject(Mapping[str, Any]):
    """A JSON object held as its text and parsed when read: the values of the ``events`` frame's
    ``record``, ``request`` and ``response`` columns.

    A read-only mapping: ``value["key"]``, ``.get``, ``in``, iteration and ``==`` with a dict behave as
    for the parsed object, which is parsed on each read; nothing else is kept, so that a frame of many
    events holds no trees of dicts. ``.text`` is the JSON text (UTF-8), held in memory or, for the
    events of a load, in its :class:`~flowforensics.evidence.spool.TextSpool`; ``.to_dict()`` is a new
    parsed copy (what ``json.dumps`` needs). A copy or pickle holds the text itself.
    """

    __slots__ = ("_held", "_start", "_end")

    def __init__(self, text: bytes) -> None:
        self._held: bytes | TextSpool = text
        self._start, self._end = 0, len(text)

    @classmethod
    def spooled(cls, spool: TextSpool, start: int, end: int) -> Self:
        """The object whose text is bytes ``start:end`` of ``spool``."""
        held = cls.__new__(cls)
        held._held, held._start, held._end = spool, start, end
        return held

    @property
    def text(self) -> bytes:
        """The JSON text (UTF-8)."""
        held = self._held
        return held if isinstance(held, bytes) else held.read(self._start, self._end)

    def to_dict(self) -> dict[str, Any]:
        """The parsed object, a new ``dict`` each time."""
        return parse_record(self.text)[0]  # type: ignore[no-any-return]

    def toDict(self) -> dict[str, Any]:  # noqa: N802  (the name pandas' to_json looks for)
        """The parsed object, for ``DataFrame.to_json``."""
        return self.to_dict()

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())

    def __contains__(self, key: object) -> bool:
        return key in self.to_dict()

    def get(self, key: str, default: Any = None) -> Any:
        """``value.get(key, default)``, as for a dict."""
        return self.to_dict().get(key, default)

    def keys(self) -> Any:
        """The keys, as for a dict."""
        return self.to_dict().keys()

    def items(self) -> Any:
        """The items, as for a dict."""
        return self.to_dict().items()

    def values(self) -> Any:
        """The values, as for a dict."""
        return self.to_dict().values()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, JsonObject):
            mine, theirs = self.text, other.text
            return mine == theirs or parse_record(mine)[0] == parse_record(theirs)[0]
        return isinstance(other, Mapping) and self.to_dict() == dict(other)

    __hash__ = None  # type: ignore[assignment]  # unhashable, like the dict it stands for

    def __repr__(self) -> str:
        return repr(self.to_dict())

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.text,)


def parsed(value: Any) -> dict[str, Any] | None:
    """The dict a value of a JSON object column stands for: a dict as it is, a :class:`JsonObject`
    parsed (once: for code that reads several of its keys), anything else ``None``."""
    if isinstance(value, JsonObject):
        return value.to_dict()
    return value if isinstance(value, dict) else None


class CloudTrailRecord(JsonObject):
    """One CloudTrail record as read (the ``record`` column's values): a :class:`JsonObject`."""

    __slots__ = ()
