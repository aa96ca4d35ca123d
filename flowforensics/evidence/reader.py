"""Read every file of an evidence folder into JSON documents, recognising each by its content.

Nothing here knows file names: a folder filled by hand with AWS CLI output, at any depth, reads the
same as one that flowforensics collected. What cannot be read is reported with its reason, never
dropped in silence.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowforensics.errors import EvidenceError
from flowforensics.evidence.manifest import MANIFEST_NAME
from flowforensics.evidence.shapes import recognise

GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class LoadProblem:
    """A file (or some records in it) that could not be used, and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class Document:
    """One recognised evidence file: its kind (a key of :data:`shapes.SHAPES`) and parsed content."""

    path: str
    kind: str
    content: Any
    manifest_entry: dict[str, Any] = field(default_factory=dict)


def _iter_files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def _decode(raw: bytes) -> str:
    if raw.startswith(GZIP_MAGIC):
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise ValueError(f"truncated or corrupt gzip ({exc})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("not text: neither JSON nor gzipped JSON") from None


def parse_json_text(text: str) -> Any:
    """Parse a JSON document, or JSON Lines (one object a line) as a list.

    Raises
    ------
    ValueError
        With the position of the first error, when it is neither.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as whole_error:
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) > 1:
            try:
                return [json.loads(line) for line in lines]
            except json.JSONDecodeError:
                pass
        raise ValueError(
            f"invalid JSON at line {whole_error.lineno} column {whole_error.colno}: {whole_error.msg}"
        ) from None


def read_folder(path: str | os.PathLike[str], *, strict: bool = False) -> tuple[list[Document], list[LoadProblem], dict[str, Any] | None]:
    """Read and recognise every file under ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        A folder (walked at any depth) or one file.
    strict : bool
        Raise :class:`EvidenceError` on the first problem instead of recording it.

    Returns
    -------
    documents, problems, manifest
        The recognised documents in path order, the files that were not evidence or were broken, and
        the folder's manifest when it has one.
    """
    root = Path(path)
    if not root.exists():
        raise EvidenceError(root, "no such file or folder")
    manifest = None
    entries: dict[str, dict[str, Any]] = {}
    if root.is_dir() and (root / MANIFEST_NAME).is_file():
        from flowforensics.evidence.manifest import read_manifest

        manifest = read_manifest(root)
        entries = {entry["path"]: entry for entry in manifest["files"]}
    documents: list[Document] = []
    problems: list[LoadProblem] = []
    for file in _iter_files(root):
        relative = file.relative_to(root).as_posix() if root.is_dir() else file.name
        if root.is_dir() and relative == MANIFEST_NAME:
            continue
        shown = str(file)
        try:
            content = parse_json_text(_decode(file.read_bytes()))
            kind = recognise(content)
        except (ValueError, OSError) as exc:
            problem = LoadProblem(shown, str(exc))
        else:
            if kind is not None:
                documents.append(Document(shown, kind, content, entries.get(relative, {})))
                continue
            problem = LoadProblem(shown, _not_evidence_reason(content))
        if strict:
            raise EvidenceError(problem.path, problem.reason)
        problems.append(problem)
    return documents, problems, manifest


def _not_evidence_reason(content: Any) -> str:
    if isinstance(content, dict):
        keys = ", ".join(sorted(content)[:6]) or "none"
        return f"not evidence: a JSON object with keys [{keys}] matches no AWS output flowforensics reads"
    if isinstance(content, list):
        return "not evidence: a JSON array that is not of CloudTrail records (no eventName/eventSource)"
    return f"not evidence: a JSON {type(content).__name__}, not an AWS output"


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
