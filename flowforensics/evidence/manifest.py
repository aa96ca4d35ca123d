"""``manifest.json``: what each evidence file is, where it came from, and its SHA-256.

One writer serves live collection, ``watch`` and the sample incidents, so every evidence folder
flowforensics makes has the same layout and the same manifest, and ``verify`` can re-check any of them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flowforensics import __version__
from flowforensics.errors import EvidenceError
from flowforensics.evidence.values import iso

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
# The key of the manifest's HMAC seal: the key itself, or a file holding it.
KEY_VARIABLE = "FLOWFORENSICS_SEAL_KEY"
KEY_FILE_VARIABLE = "FLOWFORENSICS_SEAL_KEY_FILE"


def seal_key(key_file: str | os.PathLike[str] | None = None) -> bytes | None:
    """The key for the manifest's HMAC-SHA256 seal, if the user gave one.

    Parameters
    ----------
    key_file : str or os.PathLike, optional
        A file holding the key (its bytes, a trailing newline dropped); else the file named by
        ``FLOWFORENSICS_SEAL_KEY_FILE``, else the value of ``FLOWFORENSICS_SEAL_KEY``.

    Raises
    ------
    EvidenceError
        When the key file cannot be read or is empty.
    """
    key_file = key_file or os.environ.get(KEY_FILE_VARIABLE)
    if key_file:
        try:
            key = Path(key_file).read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise EvidenceError(key_file, f"the seal key cannot be read ({exc.strerror})") from None
        if not key:
            raise EvidenceError(key_file, "the seal key file is empty")
        return key
    value = os.environ.get(KEY_VARIABLE)
    return value.encode() if value else None


def canonical_content(manifest: dict[str, Any]) -> bytes:
    """The manifest without its seal, as sorted compact JSON: what the seal covers.

    JSON may hold a lone surrogate (``"\\ud800"``), which UTF-8 cannot: it is hashed as its surrogate code
    point's three bytes (every other text is plain UTF-8).
    """
    content = {key: value for key, value in manifest.items() if key != "seal"}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)
    return text.encode("utf-8", "surrogatepass")


def make_seal(manifest: dict[str, Any], key: bytes | None) -> dict[str, str]:
    """The seal of a manifest: the SHA-256 of its canonical content, and an HMAC-SHA256 with ``key``."""
    content = canonical_content(manifest)
    seal = {"sha256": hashlib.sha256(content).hexdigest()}
    if key:
        seal["hmac_sha256"] = hmac.new(key, content, hashlib.sha256).hexdigest()
    return seal


def check_seal(manifest: dict[str, Any], key: bytes | None) -> tuple[bool, str]:
    """Check a manifest's seal: (intact, what was checked, in words).

    A manifest without a seal (written before flowforensics sealed them) is not intact in the sense
    of proven: it is reported as unsealed, and ``intact`` is True only so that older folders still
    verify their files.
    """
    seal = manifest.get("seal")
    if seal is None:
        return True, "the manifest has no seal (written by an older flowforensics, or by hand): its own content is not checked"
    if not isinstance(seal, dict) or not isinstance(seal.get("sha256"), str):
        return False, "the manifest's seal is malformed"
    expected = make_seal(manifest, key)
    if not hmac.compare_digest(seal["sha256"], expected["sha256"]):
        return False, "the manifest's content does not match its SHA-256 seal: it was edited after collection"
    if "hmac_sha256" not in seal:
        return True, "the manifest matches its SHA-256 seal (no HMAC: anyone could have recomputed it)"
    if key is None:
        return True, (f"the manifest matches its SHA-256 seal; its HMAC was not checked (give the key in "
                      f"{KEY_VARIABLE} or {KEY_FILE_VARIABLE}, or --key-file)")
    if not isinstance(seal["hmac_sha256"], str) or not hmac.compare_digest(seal["hmac_sha256"], expected["hmac_sha256"]):
        return False, "the manifest's HMAC-SHA256 seal does not match with this key: edited, or sealed with another key"
    return True, "the manifest matches its HMAC-SHA256 seal (key checked)"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _json_default(value: Any) -> Any:
    # boto3 returns datetimes; the AWS CLI writes them as ISO strings, and so do we.
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def dumps(payload: Any) -> bytes:
    """Serialise a payload as the AWS CLI would (``--output json``), deterministically."""
    return (json.dumps(payload, indent=2, sort_keys=False, default=_json_default) + "\n").encode()


def _kebab(operation_name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", operation_name).lower()


class EvidenceWriter:
    """Write evidence files and their manifest into a folder.

    Files are laid out as ``SERVICE/REGION/operation-name[-N].json`` (IAM and Organizations under
    ``global``). An existing manifest is extended, never rewritten from scratch, so ``watch`` can append
    observations to a collected folder.

    Parameters
    ----------
    folder : str or os.PathLike
        The evidence folder; created if missing.
    clock : callable, optional
        Returns the collection time; the sample incidents pass a fixed clock so their folders are
        bit-for-bit reproducible.
    key : bytes, optional
        The key of the manifest's HMAC-SHA256 seal; by default :func:`seal_key` (the environment).

    Raises
    ------
    EvidenceError
        When an existing manifest does not match its seal: extending it would seal the edit.
    """

    def __init__(
        self, folder: str | os.PathLike[str], *, clock: Callable[[], datetime] | None = None, key: bytes | None = None
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._key = key if key is not None else seal_key()
        manifest_path = self.folder / MANIFEST_NAME
        if manifest_path.exists():
            self.manifest = read_manifest(self.folder)
            intact, said = check_seal(self.manifest, self._key)
            if not intact:
                raise EvidenceError(manifest_path, f"{said}; not extending it")
        else:
            self.manifest = {
                "format": MANIFEST_FORMAT,
                "tool": "flowforensics",
                "version": __version__,
                "created": iso(self._clock()),
                "caller_identity": None,
                "files": [],
                "gaps": [],
            }

    def write(
        self,
        operation: str,
        payload: Any,
        *,
        parameters: dict[str, Any] | None = None,
        region: str | None = None,
        account: str | None = None,
        name: str | None = None,
    ) -> Path:
        """Write one API response (or raw bytes, such as a CloudTrail ``.json.gz``) and record it.

        Parameters
        ----------
        operation : str
            ``service:OperationName``, e.g. ``ec2:DescribeFlowLogs``.
        payload : object or bytes
            The response as boto3 returns it (written as the AWS CLI does) or bytes written as they are.
        parameters, region, account : optional
            The call's parameters, its region (``None`` for global services) and the account.
        name : str, optional
            A path inside the folder to use instead of the default layout.

        Returns
        -------
        pathlib.Path
            The file written.
        """
        service, _, op_name = operation.partition(":")
        if name is None:
            stem = f"{service}/{region or 'global'}/{_kebab(op_name)}"
            name = f"{stem}.json"
            counter = 2
            while (self.folder / name).exists():
                name = f"{stem}-{counter}.json"
                counter += 1
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = payload if isinstance(payload, bytes) else dumps(payload)
        path.write_bytes(data)
        self.manifest["files"].append(
            {
                "path": Path(name).as_posix(),
                "operation": operation,
                "parameters": parameters or {},
                "region": region,
                "account": account,
                "collected_at": iso(self._clock()),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
        return path

    def record_gap(
        self,
        operation: str,
        *,
        error_code: str,
        error_message: str,
        parameters: dict[str, Any] | None = None,
        region: str | None = None,
        account: str | None = None,
        **details: Any,
    ) -> None:
        """Record an API that could not be read, and why (a gap is evidence too).

        ``details`` add fields after the standard ones (collection adds ``kind`` and ``attempted``).
        """
        self.manifest["gaps"].append(
            {
                "operation": operation,
                "parameters": parameters or {},
                "region": region,
                "account": account,
                "error_code": error_code,
                "error_message": error_message,
                "collected_at": iso(self._clock()),
                **details,
            }
        )

    def set_caller_identity(self, identity: dict[str, Any]) -> None:
        """Record who collected (``sts get-caller-identity``, without its ``ResponseMetadata``)."""
        self.manifest["caller_identity"] = {k: v for k, v in identity.items() if k != "ResponseMetadata"}

    def close(self) -> Path:
        """Seal and write ``manifest.json``; return its path."""
        path = self.folder / MANIFEST_NAME
        self.manifest["seal"] = make_seal(self.manifest, self._key)
        path.write_bytes(dumps(self.manifest))
        return path


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a folder's ``manifest.json``.

    Raises
    ------
    EvidenceError
        When it is missing or not a flowforensics manifest.
    """
    path = Path(folder) / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise EvidenceError(path, "no manifest: this folder was not collected by flowforensics") from None
    except ValueError as exc:
        raise EvidenceError(path, f"not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise EvidenceError(path, "not a flowforensics manifest (no 'files' list)")
    manifest.setdefault("gaps", [])
    return manifest


@dataclass(frozen=True)
class IntegrityProblem:
    """One file whose bytes do not match the manifest, or a manifest entry that cannot be checked."""

    path: str
    problem: str  # "changed", "missing", "added", "refused", "malformed" or "not a regular file"
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}" + (f" ({self.detail})" if self.detail else "")


def _entry_path(root: Path, real_root: str, entry: Any, number: int) -> tuple[str, Path | None, IntegrityProblem | None]:
    """The entry's path, and the file it names, or why it is not checked (never a file outside the folder)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or not entry["path"]:
        return f"#{number}", None, IntegrityProblem(f"entry #{number}", "malformed", "not an object with a 'path'")
    relative = entry["path"]
    if not isinstance(entry.get("sha256"), str):
        return relative, None, IntegrityProblem(relative, "malformed", "no 'sha256'")
    if "\x00" in relative or os.path.isabs(relative) or ".." in Path(relative).parts:
        return relative, None, IntegrityProblem(relative, "refused", "the path leaves the evidence folder; not read")
    path = root / relative
    real = os.path.realpath(path)
    if not (real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)):
        return relative, None, IntegrityProblem(relative, "refused", "it resolves outside the evidence folder; not read")
    return relative, path, None


def _hash_regular(path: Path) -> str | None:
    """The SHA-256 of a regular file, opened without blocking; ``None`` for anything else."""
    import stat

    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        digest = hashlib.sha256()
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(folder: str | os.PathLike[str], *, key: bytes | None = None) -> list[IntegrityProblem]:
    """Re-check every file of a collected folder against its manifest, and the manifest against its seal.

    Only files inside the folder are read: an entry with ``..``, an absolute path, or a symbolic link
    resolving outside the folder is refused, never hashed; symbolic links inside the folder are
    followed, as :func:`flowforensics.load` follows them. Special files (FIFOs, devices) are never opened.

    Parameters
    ----------
    folder : str or os.PathLike
        A folder with ``manifest.json``.
    key : bytes, optional
        The key of the HMAC seal; by default :func:`seal_key` (the environment).

    Returns
    -------
    list of IntegrityProblem
        The manifest itself when it does not match its seal (see :func:`check_seal`), then the files
        changed, missing, added, refused or malformed since collection; empty when all is intact.

    Raises
    ------
    EvidenceError
        When the folder or its manifest cannot be read at all.
    """
    from flowforensics.evidence.reader import iter_files

    root = Path(folder)
    if not root.is_dir():
        raise EvidenceError(root, "not a folder")
    manifest = read_manifest(root)
    seal_intact, seal = check_seal(manifest, key if key is not None else seal_key())
    real_root = os.path.realpath(root)
    problems = [] if seal_intact else [IntegrityProblem(MANIFEST_NAME, "changed", seal)]
    listed = set()
    for number, entry in enumerate(manifest["files"], 1):
        relative, path, refused = _entry_path(root, real_root, entry, number)
        listed.add(relative)
        if refused is not None or path is None:
            problems.extend([refused] if refused else [])
            continue
        if not path.exists():
            problems.append(IntegrityProblem(relative, "missing"))
            continue
        try:
            digest = _hash_regular(path)
        except OSError as exc:
            problems.append(IntegrityProblem(relative, "missing", f"not readable: {exc.strerror}"))
            continue
        if digest is None:
            problems.append(IntegrityProblem(relative, "not a regular file", "not read"))
        elif not hmac.compare_digest(digest, entry["sha256"]):
            problems.append(IntegrityProblem(relative, "changed"))
    for path, _skipped in iter_files(root, hidden=True):
        relative = path.relative_to(root).as_posix()
        if relative != MANIFEST_NAME and relative not in listed:
            problems.append(IntegrityProblem(relative, "added"))
    return problems
