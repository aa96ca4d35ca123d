"""``collect --from-archive``: the events an investigation needs, from a CloudTrail archive, into an evidence folder.

The archive (local, or ``s3://bucket/prefix`` read with ``ListObjectsV2`` and ``GetObject`` through the
read-only hook) is read by :func:`flowforensics.evidence.archive.read_archive`. Each archive file with kept
records becomes one CloudTrail log file of the folder, under the same key below ``cloudtrail/archive/``;
``manifest.json`` lists, under ``archive``, every archive file read (key, size, SHA-256 of the compressed
object, records, kept), every file or folder skipped with the reason, and every folder listed (files were
looked for only there), so that an auditor can re-hash the archive and see what was not looked at.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowforensics.evidence.archive import ARCHIVE_KEY, ArchiveRead, Selection, read_archive, s3_location
from flowforensics.evidence.manifest import EvidenceWriter
from flowforensics.evidence.values import iso

RULE = "flowforensics.evidence.relevance (kept event sources, event names and error families)"


@dataclass
class ArchiveCollection:
    """What ``collect --from-archive`` read, kept and wrote."""

    folder: Path
    read: ArchiveRead

    def summary(self) -> str:
        """One line for the terminal."""
        read = self.read
        unread = (f", {len(read.problems)} of them not readable (listed with the reason under archive.files_skipped "
                  "in manifest.json)") if read.problems else ""
        return (f"{read.kept:,} of {read.records:,} CloudTrail records kept from {len(read.read)} archive file(s) "
                f"({len(read.skipped)} skipped{unread}) -> {self.folder}")


def s3_client(*, profile: str | None = None, region: str | None = None, endpoint_url: str | None = None) -> Any:
    """A read-only S3 client resolved like the AWS CLI's."""
    from flowforensics.collection import readonly
    from flowforensics.collection.session import make_session

    client = make_session(profile, region).client("s3", endpoint_url=endpoint_url)
    readonly.install(client)
    return client


def _relative(key: str) -> str:
    match = ARCHIVE_KEY.search(key)
    assert match is not None  # only files in the layout are read
    return key[match.start():].lstrip("/")


def _selection_record(selection: Selection) -> dict[str, Any]:
    return {
        "accounts": sorted(selection.accounts),
        "regions": sorted(selection.regions),
        "start": iso(selection.start) if selection.start else None,
        "end": iso(selection.end) if selection.end else None,
    }


def collect_from_archive(
    out: str | os.PathLike[str],
    source: str,
    selection: Selection | None = None,
    *,
    s3: Any = None,
    workers: int | None = None,
) -> ArchiveCollection:
    """Write an evidence folder of the events an investigation needs from a CloudTrail archive.

    Parameters
    ----------
    out : str or os.PathLike
        The evidence folder to write.
    source : str
        A local archive folder or ``s3://bucket/prefix``.
    selection : Selection, optional
        Accounts, regions and window; default everything.
    s3 : botocore client, optional
        The S3 client for ``s3://`` sources (see :func:`s3_client`).
    workers : int, optional
        Worker processes (see :func:`~flowforensics.evidence.archive.read_archive`).

    Returns
    -------
    ArchiveCollection

    Raises
    ------
    EvidenceError
        When the archive does not exist or a time cannot be read.
    """
    selection = selection or Selection()
    read = read_archive(source, selection, s3_client=s3, workers=workers)
    writer = EvidenceWriter(out)
    bucket = s3_location(source)[0] if source.startswith("s3://") else None
    for document in read.documents:
        if not document.content.texts:
            continue  # a file whose records were all dropped, listed for what it said of itself
        match = ARCHIVE_KEY.search(document.path)
        assert match is not None
        key = document.path[len(f"s3://{bucket}/"):] if bucket else document.path
        # The kept records byte for byte as the archive holds them, in CloudTrail's own envelope.
        data = gzip.compress(b'{"Records":[' + b",".join(document.content.texts) + b"]}", mtime=0)
        writer.write(
            "s3:GetObject",
            data,
            parameters={"Bucket": bucket, "Key": key} if bucket else {"Path": key},
            region=match["region"],
            account=match["account"],
            name=f"cloudtrail/archive/{_relative(document.path)}",
        )
    writer.manifest["archive"] = {
        "source": source,
        "selection": _selection_record(selection),
        "rule": RULE,
        "records_read": read.records,
        "records_kept": read.kept,
        "outside_window": read.outside_window,
        "files_read": read.read,
        "files_skipped": read.skipped,
        "listed": read.listed,
    }
    writer.close()
    return ArchiveCollection(Path(out), read)
