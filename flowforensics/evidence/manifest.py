"""``manifest.json``: what each evidence file is, where it came from, and its SHA-256.

One writer serves live collection, ``watch`` and the sample incidents, so every evidence folder
flowforensics makes has the same layout and the same manifest, and ``verify`` can re-check any of them.
"""

from __future__ import annotations

import hashlib
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
    """

    def __init__(self, folder: str | os.PathLike[str], *, clock: Callable[[], datetime] | None = None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._clock = clock or (lambda: datetime.now(UTC))
        manifest_path = self.folder / MANIFEST_NAME
        if manifest_path.exists():
            self.manifest = read_manifest(self.folder)
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
    ) -> None:
        """Record an API that could not be read, and why (a gap is evidence too)."""
        self.manifest["gaps"].append(
            {
                "operation": operation,
                "parameters": parameters or {},
                "region": region,
                "account": account,
                "error_code": error_code,
                "error_message": error_message,
                "collected_at": iso(self._clock()),
            }
        )

    def set_caller_identity(self, identity: dict[str, Any]) -> None:
        """Record who collected (``sts get-caller-identity``, without its ``ResponseMetadata``)."""
        self.manifest["caller_identity"] = {k: v for k, v in identity.items() if k != "ResponseMetadata"}

    def close(self) -> Path:
        """Write ``manifest.json`` and return its path."""
        path = self.folder / MANIFEST_NAME
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
    """One file whose bytes do not match the manifest."""

    path: str
    problem: str  # "changed", "missing" or "added"

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def verify(folder: str | os.PathLike[str]) -> list[IntegrityProblem]:
    """Re-check every file of a collected folder against its manifest.

    Parameters
    ----------
    folder : str or os.PathLike
        A folder with ``manifest.json``.

    Returns
    -------
    list of IntegrityProblem
        Files changed, missing, or added since collection; empty when the folder is intact.
    """
    root = Path(folder)
    if not root.is_dir():
        raise EvidenceError(root, "not a folder")
    manifest = read_manifest(root)
    problems = []
    listed = set()
    for entry in manifest["files"]:
        relative = entry["path"]
        listed.add(relative)
        path = root / relative
        if not path.is_file():
            problems.append(IntegrityProblem(relative, "missing"))
        elif sha256_file(path) != entry.get("sha256"):
            problems.append(IntegrityProblem(relative, "changed"))
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if relative != MANIFEST_NAME and relative not in listed:
            problems.append(IntegrityProblem(relative, "added"))
    return problems
