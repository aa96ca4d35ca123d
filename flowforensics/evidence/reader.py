"""Read every file of an evidence folder into JSON documents, recognising each by its content.

Nothing here knows file names: a folder filled by hand with AWS CLI output, at any depth, reads the
same as one that flowforensics collected. What cannot be read is reported with its reason, never
dropped in silence.

Evidence is attacker-controlled, so reading is bounded: only regular files are opened (a FIFO, socket or
device is skipped unopened), symbolic links are followed only when they resolve inside the evidence
folder, decompressed size and nesting depth have limits (:class:`Limits`), and a file whose bytes differ
from the SHA-256 its manifest recorded is reported.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowforensics.errors import EvidenceError
from flowforensics.evidence.manifest import MANIFEST_NAME
from flowforensics.evidence.records import (
    CLOUDTRAIL_KINDS,
    FileRecords,
    Keep,
    Keys,
    fast_records,
    from_content,
    gunzip,
)
from flowforensics.evidence.shapes import recognise
from flowforensics.evidence.spool import TextSpool

_MIB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Bounds on the work one evidence file may cause.

    Attributes
    ----------
    max_file_bytes : int
        The most bytes one file may hold once decompressed (a gzip bomb stops here, not at MemoryError).
    max_record_bytes : int
        The largest CloudTrail record kept, as compact JSON.
    """

    max_file_bytes: int = 256 * _MIB
    max_record_bytes: int = 1 * _MIB


LIMITS = Limits()


@dataclass(frozen=True)
class LoadProblem:
    """A file (or some records in it) that could not be used, and why."""

    path: str
    reason: str

    def __post_init__(self) -> None:
        # A reason may quote the evidence (a key, a value): a lone surrogate there (JSON's "\ud800"), which UTF-8
        # cannot hold, is kept as the escape the JSON wrote, so that every reason can be printed and shown.
        object.__setattr__(self, "reason", self.reason.encode("utf-8", "backslashreplace").decode())

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class Document:
    """One recognised evidence file: its kind (a key of :data:`shapes.SHAPES`) and parsed content."""

    path: str
    kind: str
    content: Any
    manifest_entry: dict[str, Any] = field(default_factory=dict)


def shown_path(path: str | os.PathLike[str]) -> str:
    """A path as text that can always be printed: bytes that are not UTF-8 become ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _kind_of_mode(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a regular file"


def iter_files(root: Path, *, hidden: bool = False) -> Iterator[tuple[Path, str | None]]:
    """Every file under ``root`` to read, with ``None``, or a path and why it is skipped unopened.

    Symbolic links (to files or folders) are followed only when their target resolves inside ``root``;
    a folder reached twice (a link back up the tree) is walked once. Names beginning with a dot are
    left out unless ``hidden``.
    """
    if not root.is_dir():
        yield root, None
        return
    real_root = os.path.realpath(root)
    walked = {real_root}
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as exc:
            yield folder, f"folder not readable ({exc.strerror})"
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith(".") and not hidden:
                continue
            path = Path(entry.path)
            linked = entry.is_symlink()
            real = os.path.realpath(path) if linked or entry.is_dir(follow_symlinks=False) else ""
            if linked and not _inside(real, real_root):
                yield path, "a symbolic link to outside the evidence folder: not followed"
            elif os.path.isdir(real) if linked else entry.is_dir(follow_symlinks=False):
                if real not in walked:
                    walked.add(real)
                    subfolders.append(path)
            else:
                yield path, None
        pending.extend(reversed(subfolders))


def _read_bounded(path: Path, limits: Limits) -> tuple[bytes, str]:
    """The bytes of one regular file, gunzipped, never more than ``limits.max_file_bytes``, and the
    SHA-256 of the bytes as they are on disk.

    The file is opened without blocking and checked to be a regular file on the open descriptor, so a
    FIFO never hangs the reader and a device is never read.

    Raises
    ------
    ValueError
        Why the file was not read.
    """
    try:
        info = os.stat(path)
    except OSError as exc:
        raise ValueError(f"not readable ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{_kind_of_mode(info.st_mode)}, not a regular file: not read")
    limit = limits.max_file_bytes
    too_big = f"larger than {limit / _MIB:g} MiB once decompressed: not read (the limit on one file)"
    if info.st_size > limit:
        raise ValueError(too_big)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise ValueError(f"not readable ({exc.strerror})") from None
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ValueError("not a regular file: not read")
        raw = handle.read(limit + 1)
    if len(raw) > limit:
        raise ValueError(too_big)
    digest = hashlib.sha256(raw).hexdigest()
    return gunzip(raw, limit), digest


def _decode(raw: bytes) -> str:
    # JSON's own rule (RFC 4627, as json.detect_encoding applies it): UTF-8, 16 or 32, by the byte-order
    # mark or the pattern of zero bytes; PowerShell's ``>`` writes UTF-16 LE with a mark.
    encoding = json.detect_encoding(raw)
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        raise ValueError("not text: neither JSON nor gzipped JSON (UTF-8, UTF-16 or UTF-32)") from None


def _loads(text: str, keys: Keys) -> Any:
    try:
        return json.loads(text, object_pairs_hook=keys)
    except RecursionError:
        raise ValueError("nested too deeply to read (JSON arrays or objects about a thousand levels deep)") from None


def parse_json_text(text: str, duplicates: list[str] | None = None) -> Any:
    """Parse a JSON document, or JSON Lines (one object a line) as a list.

    Parameters
    ----------
    text : str
        The document.
    duplicates : list of str, optional
        Receives every key given twice in one object (the value kept is the last).

    Raises
    ------
    ValueError
        With the position of the first error, when it is neither, or when it nests too deeply.
    """
    keys = Keys()
    try:
        content = _loads(text, keys)
    except json.JSONDecodeError as whole_error:
        lines = [line for line in text.splitlines() if line.strip()]
        content = None
        if len(lines) > 1:
            keys = Keys()
            try:
                content = [_loads(line, keys) for line in lines]
            except json.JSONDecodeError:
                pass
        if content is None:
            raise ValueError(
                f"invalid JSON at line {whole_error.lineno} column {whole_error.colno}: {whole_error.msg}"
            ) from None
    if duplicates is not None:
        duplicates.extend(keys.duplicates)
    return content


def read_document(raw: bytes, keep: Keep | None = None) -> tuple[str | None, Any, list[str]]:
    """Recognise one file's (decompressed) bytes: (kind, content, keys given twice), or why it is not JSON.

    CloudTrail files of every shape take the fast path (:func:`records.fast_records`), and come back as
    :class:`records.FileRecords` (their records as JSON text, the keys given twice in them reported by
    the frame builder); anything else, or what the fast path leaves, is parsed strictly. ``kind`` is
    ``None`` when the content is JSON but not evidence (see :func:`not_evidence_reason`).

    Parameters
    ----------
    raw : bytes
        The file's bytes, gunzipped; UTF-8, 16 or 32.
    keep : callable, optional
        Which CloudTrail records to keep (see :func:`records.fast_records`); default every record.

    Raises
    ------
    ValueError
        Why the bytes are not JSON: not text, invalid JSON (with the position) or nested too deeply.
    """
    encoding = json.detect_encoding(raw)
    found = fast_records(raw if encoding.startswith("utf-8") else _decode(raw).encode(), keep)
    if found is not None:
        return found.kind, found, []
    duplicates: list[str] = []
    content = parse_json_text(_decode(raw), duplicates)
    kind = recognise(content)
    if kind in CLOUDTRAIL_KINDS:
        found = from_content(kind, content, keep)
        found.duplicate_keys = duplicates
        return kind, found, []
    return kind, content, duplicates


def _read_manifest_leniently(root: Path) -> tuple[dict[str, Any] | None, LoadProblem | None]:
    """The manifest, or why it is not used; a manifest that does not match its seal is used, with a warning."""
    from flowforensics.evidence.manifest import check_seal, read_manifest, seal_key

    try:
        manifest = read_manifest(root)
    except EvidenceError as exc:
        return None, LoadProblem(shown_path(exc.path), f"{exc.reason}; the evidence is read without it")
    try:
        intact, said = check_seal(manifest, seal_key())
    except EvidenceError as exc:
        return manifest, LoadProblem(shown_path(exc.path), exc.reason)
    return manifest, None if intact else LoadProblem(shown_path(root / MANIFEST_NAME), said)


def _well_formed(manifest: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The manifest with only the entries the pipeline can use (objects with a text ``path``; gaps
    that are objects), and how many were left out."""
    files = [entry for entry in manifest["files"] if isinstance(entry, dict) and isinstance(entry.get("path"), str)]
    given = manifest.get("gaps")
    gaps = [gap for gap in given if isinstance(gap, dict)] if isinstance(given, list) else []
    # A "gaps" that is not a list (a number, a string, one object) is itself one malformed entry.
    dropped_gaps = len(given) - len(gaps) if isinstance(given, list) else int(given is not None)
    identity = manifest.get("caller_identity")
    kept = {**manifest, "files": files, "gaps": gaps, "caller_identity": identity if isinstance(identity, dict) else None}
    return kept, len(manifest["files"]) - len(files) + dropped_gaps


def read_folder(
    path: str | os.PathLike[str], *, strict: bool = False, limits: Limits = LIMITS
) -> tuple[list[Document], list[LoadProblem], dict[str, Any] | None]:
    """Read and recognise every file under ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        A folder (walked at any depth) or one file.
    strict : bool
        Raise :class:`EvidenceError` on the first problem instead of recording it.
    limits : Limits
        Bounds on one file's size once decompressed.

    Returns
    -------
    documents, problems, manifest
        The recognised documents in path order, the files that were not evidence, were broken or
        differ from their recorded hash, and the folder's manifest when it has a readable one.
    """
    root = Path(path)
    if not root.exists() and not root.is_symlink():
        raise EvidenceError(shown_path(root), "no such file or folder")
    documents: list[Document] = []
    problems: list[LoadProblem] = []
    spool = TextSpool()

    def problem(where: str, reason: str) -> None:
        if strict:
            raise EvidenceError(where, reason)
        problems.append(LoadProblem(where, reason))

    manifest = None
    if root.is_dir() and (root / MANIFEST_NAME).is_file():
        manifest, broken = _read_manifest_leniently(root)
        if broken is not None:
            problem(broken.path, broken.reason)
    if manifest is not None:
        manifest, malformed = _well_formed(manifest)
        if malformed:
            problem(shown_path(root / MANIFEST_NAME), f"{malformed} malformed entries (not objects with a 'path'): ignored")
    entries = {entry["path"]: entry for entry in (manifest or {}).get("files", [])}
    for file, skipped in iter_files(root):
        relative = file.relative_to(root).as_posix() if root.is_dir() else file.name
        if root.is_dir() and relative == MANIFEST_NAME:
            continue
        shown = shown_path(file)
        if skipped is not None:
            problem(shown, skipped)
            continue
        entry = entries.get(relative, {})
        try:
            raw, digest = _read_bounded(file, limits)
            if isinstance(entry.get("sha256"), str) and digest != entry["sha256"]:
                problem(shown, f"differs from the SHA-256 recorded in {MANIFEST_NAME} (changed since collection)")
            kind, content, duplicates = read_document(raw)
        except ValueError as exc:
            problem(shown, str(exc))
            continue
        if duplicates:
            named = ", ".join(sorted(set(duplicates))[:5])
            problem(shown, f"{len(duplicates)} duplicate JSON key(s) in one object ({named}): the last value of each was used")
        if isinstance(content, FileRecords):
            content.spool(spool)  # the records' text of the whole folder is not held on the heap
        if kind is not None:
            documents.append(Document(shown, kind, content, entry))
        else:
            problem(shown, not_evidence_reason(content))
    return documents, problems, manifest


def not_evidence_reason(content: Any) -> str:
    """Why parsed JSON ``content`` is not evidence, in one line."""
    if isinstance(content, dict):
        keys = ", ".join(sorted(content)[:6]) or "none"
        return f"not evidence: a JSON object with keys [{keys}] matches no AWS output flowforensics reads"
    if isinstance(content, list):
        return "not evidence: a JSON array that is not of CloudTrail records (no eventName/eventSource)"
    return f"not evidence: a JSON {type(content).__name__}, not an AWS output"


_VARYING = re.compile(r"\[[^\]]*\]|\([^)]*\)|\d+")


def summarise(problems: list[LoadProblem], shown: int = 10) -> list[str]:
    """The problems as lines for a terminal: the first ``shown`` in full, then one line per kind of reason.

    Ten thousand files that are not evidence make ten lines and one ``and 9,990 more files: ...``, not
    ten thousand. Reasons of one kind differ only in numbers and bracketed details.

    Returns
    -------
    list of str
        ``PATH: REASON`` lines, then ``and N more files: REASON`` lines (the reason of the first of them).
    """
    lines = [str(problem) for problem in problems[:shown]]
    kinds: dict[str, tuple[int, str]] = {}
    for problem in problems[shown:]:
        kind = _VARYING.sub("", problem.reason)
        count, example = kinds.get(kind, (0, problem.reason))
        kinds[kind] = (count + 1, example)
    for count, example in kinds.values():
        lines.append(f"and {count:,} more file{'s' if count > 1 else ''}: {example}")
    return lines


def no_evidence_error(path: str | os.PathLike[str], problems: list[LoadProblem]) -> EvidenceError:
    """The error for a path in which nothing is evidence: the first unreadable file and why, if any."""
    if problems:
        return EvidenceError(problems[0].path, problems[0].reason)
    return EvidenceError(path, "no evidence: no file of AWS output found")


def ensure_evidence(path: str | os.PathLike[str]) -> None:
    """Check, without building frames, that ``path`` holds evidence (for commands that load it later).

    Raises
    ------
    EvidenceError
        When ``path`` does not exist or nothing in it is evidence.
    """
    documents, problems, _manifest = read_folder(path)
    if not documents:
        raise no_evidence_error(path, problems)
