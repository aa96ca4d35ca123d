"""List a CloudTrail archive by its layout: only the folders a selection can need are listed.

A trail delivers to ``[PREFIX/]AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/``. Listing an
organisation's bucket whole costs one ``ListObjectsV2`` call per 1,000 keys of every day of every account
since the trail began. Here the layout is walked level by level (:data:`STEPS`):

- a level whose folders the selection names (the accounts under an organisation, ``CloudTrail``, the
  regions, the days of a short window) is not listed: its folders are written down;
- any other level is listed one level deep (``Delimiter='/'``), and its folders are kept when they are
  in the layout and the selection wants them (the others are reported, not listed);
- a day folder (or a region's folder when there is no window) is listed whole.

So one day of one account and region costs three calls (``AWSLogs/`` one level deep, to find the
organisations; the day; the day after it, :data:`~flowforensics.evidence.archive.DELIVERY_MARGIN`).
Other services' folders beside ``CloudTrail/`` (digests, Insights, VPC flow logs) are never listed.

The same walk serves a local folder (a directory is listed with ``scandir``) and ``s3://bucket/prefix``
(boto3's ``list_objects_v2`` paginator). Each listing is recorded (``ArchiveRead.listed``).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from flowforensics.errors import EvidenceError

if TYPE_CHECKING:
    from flowforensics.evidence.archive import Selection

MAX_OBJECT_BYTES = 256 << 20  # one compressed log file; CloudTrail's are a few MB
# A window of up to this many days (the delivery margin included) has its day folders written down;
# a longer one is found by listing years and months, which costs less than a call per empty day.
NAMED_DAYS = 8

ORG = re.compile(r"o-[a-z0-9]{10,32}")
ACCOUNT = re.compile(r"\d{12}")
REGION = re.compile(r"[a-z0-9-]+")
# A level -> (pattern of a folder name, the level it leads to), the first that matches the whole name.
# Above ``AWSLogs`` any folder may be the trail's own prefix; a folder named ``AWSLogs`` under it too
# (a trail whose prefix is ``AWSLogs``).
STEPS: dict[str, tuple[tuple[re.Pattern[str], str], ...]] = {
    "above": ((re.compile("AWSLogs"), "root"), (re.compile(r"[^/]*"), "above")),
    "root": ((ORG, "org"), (ACCOUNT, "account"), (re.compile("AWSLogs"), "root")),
    "org": ((ACCOUNT, "account"),),
    "account": ((re.compile("CloudTrail"), "trail"),),
    "trail": ((REGION, "region"),),
    "region": ((re.compile(r"\d{4}"), "year"),),
    "year": ((re.compile(r"\d{2}"), "month"),),
    "month": ((re.compile(r"\d{2}"), "day"),),
}
DATED = frozenset({"year", "month", "day"})
# Levels listed whole: everything below is a log file (or is not in the layout, which the key says).
WHOLE = "day"


def step(level: str, name: str) -> str | None:
    """The level a folder ``name`` found at ``level`` leads to, or ``None`` when it is not in the layout."""
    return next((after for pattern, after in STEPS.get(level, ()) if pattern.fullmatch(name)), None)


def position(names: list[str]) -> str:
    """The level of the folder reached by ``names`` from the top (a folder out of the layout: the trail's prefix)."""
    level = "above"
    for name in names:
        level = step(level, name) or step("above", name) or "above"
    return level


@dataclass(frozen=True)
class ArchiveObject:
    """A file of the archive: its key as shown and recorded (a local path, or ``s3://bucket/key``)."""

    key: str
    size: int
    fetch: Callable[[], bytes]


@dataclass(frozen=True)
class Unlisted:
    """A folder that could not be listed (refused, unreachable): a gap in what was read, not a choice."""

    key: str
    error: str  # AWS's code and message, or the system's


Listed = ArchiveObject | Unlisted | tuple[str, str]  # a file, a folder not listed, or (key, why it is not read)


class Store(Protocol):
    """Where an archive's files are: a local folder or an S3 prefix."""

    listed: list[dict[str, str]]
    answered: int  # listings answered, at least in part

    def shown(self, prefix: str) -> str:
        """A folder as shown and recorded."""

    def exists(self, prefix: str) -> bool:
        """Whether a folder written down (not found by listing) may hold anything."""

    def level(self, prefix: str, partial: str) -> tuple[list[str], list[Listed]]:
        """The folders (names) and files one level below ``prefix`` whose names start with ``partial``."""

    def below(self, prefix: str) -> Iterator[Listed]:
        """Every file below ``prefix``."""


def read_local(path: Path, limit: int = MAX_OBJECT_BYTES) -> bytes:
    """A regular file's bytes, never blocking on a FIFO or device; larger than ``limit``: ``ValueError``."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ValueError("not a regular file: not read")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"larger than {limit >> 20} MiB compressed: not read (the limit on one log file)")
    return data


NOT_REGULAR = "not a regular file (a link, FIFO or device): not read"
TOO_LARGE = f"larger than {MAX_OBJECT_BYTES >> 20} MiB compressed: not read (the limit on one log file)"


class LocalStore:
    """A folder on disk; links are never followed (a linked file is reported, a linked folder too)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.listed: list[dict[str, str]] = []
        self.answered = 0

    def shown(self, prefix: str) -> str:
        return (self.root / prefix).resolve().as_posix() + "/"

    def exists(self, prefix: str) -> bool:
        try:
            return stat.S_ISDIR(os.lstat(self.root / prefix).st_mode)
        except OSError:
            return False

    def _file(self, path: Path) -> Listed:
        try:
            info = os.lstat(path)
        except OSError as exc:
            return str(path), f"not read ({exc.strerror})"
        if not stat.S_ISREG(info.st_mode):
            return str(path), NOT_REGULAR
        return ArchiveObject(path.resolve().as_posix(), info.st_size, lambda: read_local(path))

    @staticmethod
    def _unlisted(exc: OSError) -> Unlisted:
        return Unlisted(Path(exc.filename).resolve().as_posix() + "/", str(exc.strerror))

    def level(self, prefix: str, partial: str) -> tuple[list[str], list[Listed]]:
        self.listed.append({"prefix": self.shown(prefix), "depth": "one level"})
        try:
            with os.scandir(self.root / prefix) as entries:
                found = sorted((e.name, e.is_dir(follow_symlinks=False)) for e in entries if not e.name.startswith("."))
        except OSError as exc:
            return [], [self._unlisted(exc)]
        self.answered += 1
        return ([name for name, folder in found if folder],
                [self._file(self.root / prefix / name) for name, folder in found if not folder])

    def below(self, prefix: str) -> Iterator[Listed]:
        self.listed.append({"prefix": self.shown(prefix), "depth": "whole"})
        refused: list[OSError] = []
        for dirpath, dirnames, filenames in os.walk(self.root / prefix, onerror=refused.append):
            self.answered += dirpath == os.fspath(self.root / prefix)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if not name.startswith("."):
                    yield self._file(Path(dirpath) / name)
        yield from map(self._unlisted, refused)


def s3_location(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, prefix)."""
    bucket, _, prefix = url[len("s3://"):].partition("/")
    if not bucket:
        raise EvidenceError(url, "no bucket: write s3://BUCKET/PREFIX")
    return bucket, prefix


class S3Store:
    """An S3 bucket, listed with boto3's ``list_objects_v2`` paginator."""

    def __init__(self, url: str, client: Any) -> None:
        self.url = url
        self.bucket = s3_location(url)[0]
        self.client = client
        self.listed: list[dict[str, str]] = []
        self.answered = 0

    def shown(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix}"

    def exists(self, prefix: str) -> bool:
        return True  # listing a folder that is not there costs the one call that would find out

    def _pages(self, depth: str, **parameters: str) -> Iterator[dict[str, Any] | Unlisted]:
        """Each page of one listing; a page refused or unreachable ends it with an :class:`Unlisted`."""
        import botocore.exceptions

        self.listed.append({"prefix": self.shown(parameters["Prefix"]), "depth": depth})
        try:
            for number, page in enumerate(self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, **parameters)):
                self.answered += number == 0
                yield page
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            yield Unlisted(self.shown(parameters["Prefix"]), f"{error.get('Code')}: {error.get('Message')}")
        except botocore.exceptions.BotoCoreError as exc:
            yield Unlisted(self.shown(parameters["Prefix"]), str(exc))

    def _files(self, page: dict[str, Any]) -> Iterator[Listed]:
        for item in page.get("Contents") or []:
            key, size = item["Key"], item["Size"]
            if size > MAX_OBJECT_BYTES:
                yield self.shown(key), TOO_LARGE
                continue

            def fetch(key: str = key) -> bytes:
                body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
                try:
                    return body.read(MAX_OBJECT_BYTES + 1)
                finally:
                    body.close()

            yield ArchiveObject(self.shown(key), size, fetch)

    def level(self, prefix: str, partial: str) -> tuple[list[str], list[Listed]]:
        folders: list[str] = []
        files: list[Listed] = []
        for page in self._pages("one level", Prefix=prefix + partial, Delimiter="/"):
            if isinstance(page, Unlisted):
                files.append(page)
                continue
            folders += [common["Prefix"][len(prefix):-1] for common in page.get("CommonPrefixes") or []]
            files += self._files(page)
        return folders, files

    def below(self, prefix: str) -> Iterator[Listed]:
        for page in self._pages("whole", Prefix=prefix):
            if isinstance(page, Unlisted):
                yield page
            else:
                yield from self._files(page)


def _named(level: str, selection: Selection) -> list[tuple[str, str]] | None:
    """The folders below ``level`` that the selection names (relative path, their level); ``None``: list them."""
    def valid(names: frozenset[str], pattern: re.Pattern[str]) -> list[str]:
        # A name that is not an account id or a region could match no key; never a path to walk.
        return sorted(name for name in names if pattern.fullmatch(name))

    if level == "org" and selection.accounts:
        return [(f"{name}/", "account") for name in valid(selection.accounts, ACCOUNT)]
    if level == "account":
        return [("CloudTrail/", "trail")]
    if level == "trail" and selection.regions:
        return [(f"{name}/", "region") for name in valid(selection.regions, REGION)]
    first, last = selection.days()
    if level == "region" and first is not None and last is not None and (last - first).days < NAMED_DAYS:
        return [(f"{first + timedelta(days=n):%Y/%m/%d}/", WHOLE) for n in range((last - first).days + 1)]
    return None


def walk(store: Store, selection: Selection, prefix: str, partial: str, level: str,
         dates: tuple[str, ...] = ()) -> Iterator[Listed]:
    """Every file the selection may want below ``prefix`` (a folder at ``level``), and every folder not
    listed because of its name, as ``(folder, reason)``.

    Parameters
    ----------
    store : Store
        The archive.
    selection : Selection
        Accounts, regions and days (:meth:`~flowforensics.evidence.archive.Selection.folder_reason`).
    prefix : str
        A folder ('' or ending with ``/``).
    partial : str
        The start of the names wanted in it (an ``s3://`` prefix that does not end with ``/``).
    level : str
        The folder's level in the layout (:data:`STEPS`, :func:`position`).
    dates : tuple of str
        The year, month and day folders above it.
    """
    first, last = selection.days()
    if level == WHOLE or (level == "region" and first is None and last is None):
        yield from store.below(prefix + partial)
        return
    named = None if partial else _named(level, selection)
    if named is not None:
        for relative, after in named:
            if store.exists(prefix + relative):
                inner = tuple(relative.strip("/").split("/")) if after == WHOLE else ()
                yield from walk(store, selection, prefix + relative, "", after, inner)
        return
    folders, files = store.level(prefix, partial)
    yield from files
    for name in folders:
        after = step(level, name)
        folder = f"{prefix}{name}/"
        reason = "not a folder of AWS's layout" if after is None else selection.folder_reason(after, name, dates)
        if reason is not None:
            yield store.shown(folder), f"{reason}: not listed"
            continue
        yield from walk(store, selection, folder, "", after, dates + ((name,) if after in DATED else ()))


def period(dates: tuple[str, ...]) -> tuple[date, date] | None:
    """The first and last day of a year, month or day folder (``('2025', '06')``), ``None`` if not a date."""
    try:
        numbers = [int(part) for part in dates]
        first = date(numbers[0], *(numbers[1:] + [1, 1])[:2])
        if len(numbers) == 3:
            return first, first
        after = date(first.year + 1, 1, 1) if len(numbers) == 1 else (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        return first, after - timedelta(days=1)
    except ValueError:
        return None
