"""CloudTrail archives in AWS's layout: files chosen from their keys, only the needed events kept, and the
same diagnosis as from the same events in a folder."""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from flowforensics import load
from flowforensics.analysis.diagnosis import diagnose
from flowforensics.evidence.archive import Selection, is_archive, read_archive
from flowforensics.evidence.relevance import is_relevant
from flowforensics.scenarios import write_scenario

sys.path.insert(0, str(Path(__file__).parents[1] / "scenarios"))
from helpers import cloudtrail_records  # noqa: E402

from .archive_layout import noise, write_archive  # noqa: E402

SCENARIO = "permission-removed"  # diagnosed from CloudTrail alone


def _relevant(record: dict[str, Any]) -> bool:
    return is_relevant(record.get("eventSource"), record.get("eventName"), record.get("errorCode"))


@pytest.fixture(scope="module")
def incident(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    folder = write_scenario(SCENARIO, tmp_path_factory.mktemp("scenario") / SCENARIO)
    unique = {record["eventID"]: record for record in cloudtrail_records(folder)}
    return sorted(unique.values(), key=lambda r: r["eventTime"])


@pytest.fixture(scope="module")
def archive(incident: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("archive")
    write_archive(root, incident)
    write_archive(root, noise(incident), part=1)
    write_archive(root, noise([dict(r, recipientAccountId="999988887777") for r in incident[:20]]), part=2)
    (root / "AWSLogs" / "999988887777" / "CloudTrail-Digest").mkdir(parents=True)
    (root / "AWSLogs" / "999988887777" / "CloudTrail-Digest" / "digest.json.gz").write_bytes(gzip.compress(b"{}"))
    return root


def test_a_diagnosis_from_an_archive_equals_the_one_from_the_same_events_in_a_folder(
    incident: list[dict[str, Any]], archive: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "records.json").write_text(json.dumps({"Records": incident}))
    selection_account = incident[0]["recipientAccountId"]
    from_archive = load(archive)
    from_folder = load(folder)
    assert is_archive(archive) and is_archive(archive / "AWSLogs") and not is_archive(folder)
    # A hand-filled folder with a copy of the trail beside AWS CLI output is evidence, read whole.
    assert not is_archive(Path(__file__).parents[1] / "data" / "handfilled")
    assert json.loads(diagnose(from_folder).to_json())["flow_logs"], "the incident is diagnosed from CloudTrail alone"
    assert diagnose(from_archive).to_json() == diagnose(from_folder).to_json()
    # Only the needed events were kept: the noise and other records the rule drops are gone.
    kept_ids = {r["eventID"] for r in incident if _relevant(r)}
    assert set(from_archive.events["event_id"]) == kept_ids
    assert list(from_archive.events.dtypes) == list(from_folder.events.dtypes)
    only_one = read_archive(archive, Selection.of(accounts=[selection_account]))
    assert {r["recipientAccountId"] for d in only_one.documents for r in map(json.loads, d.content.texts)} == {selection_account}
    assert {e["key"].split("/AWSLogs/")[1].split("/")[1] for e in only_one.read} == {selection_account}


def test_files_are_chosen_from_their_keys_and_only_their_folders_are_listed(archive: Path, incident: list[dict[str, Any]]) -> None:
    day = incident[0]["eventTime"][:10]
    selection = Selection.of(accounts=["999988887777"], regions=["us-east-1"], start=f"{day}T00:00Z", end=f"{day}T23:59Z")
    read = read_archive(archive, selection)
    files = sorted(p for p in archive.rglob("*") if p.is_file())
    assert [e["key"] for e in read.read] == [p.resolve().as_posix() for p in files if selection.skip_reason(str(p)) is None]
    # The top, AWSLogs/ (to find the organisations) and the day: not the other account, the digests, other days.
    folder = f"AWSLogs/o-a1b2c3d4e5/999988887777/CloudTrail/us-east-1/{day.replace('-', '/')}/"
    assert [(e["prefix"], e["depth"]) for e in read.listed] == [
        (f"{archive.resolve().as_posix()}/", "one level"),
        (f"{archive.resolve().as_posix()}/AWSLogs/", "one level"),
        (f"{archive.resolve().as_posix()}/{folder}", "whole"),
    ]
    assert read.skipped == []
    for entry in read.read:
        assert "/999988887777/CloudTrail/us-east-1/" in entry["key"]
        assert entry["sha256"] == hashlib.sha256(Path(entry["key"]).read_bytes()).hexdigest()
        assert entry["size"] == Path(entry["key"]).stat().st_size
    assert read.records == sum(e["records"] for e in read.read) > read.kept
    # Folders found by listing and not wanted are said so; without a window a region is listed whole.
    other = read_archive(archive, Selection.of(accounts=["381492650217"], regions=["eu-west-1"]))
    top = archive.resolve().as_posix()
    assert other.skipped == [{"key": f"{top}/AWSLogs/999988887777/", "reason": "account 999988887777 not selected: not listed"}]
    assert other.read and all("/381492650217/CloudTrail/eu-west-1/" in e["key"] for e in other.read)
    assert other.listed[-1] == {"prefix": f"{top}/AWSLogs/o-a1b2c3d4e5/381492650217/CloudTrail/eu-west-1/", "depth": "whole"}


def test_the_window_drops_files_delivered_before_it_and_events_outside_it(archive: Path, incident: list[dict[str, Any]]) -> None:
    later = read_archive(archive, Selection.of(start="2099-01-01T00:00Z"))
    assert not later.read and all("before the window" in e["reason"] or "layout" in e["reason"] for e in later.skipped)
    middle = incident[len(incident) // 2]["eventTime"]
    half = read_archive(archive, Selection.of(end=middle))
    times = [json.loads(t)["eventTime"] for d in half.documents for t in d.content.texts]
    assert times and max(times) <= middle and half.outside_window > 0


def test_worker_processes_read_the_same(archive: Path) -> None:
    one, two = read_archive(archive, workers=1), read_archive(archive, workers=2)
    assert one.read == two.read and one.skipped == two.skipped
    assert [d.content for d in one.documents] == [d.content for d in two.documents] and one.documents


def test_a_broken_file_is_reported_and_the_others_read(tmp_path: Path, incident: list[dict[str, Any]]) -> None:
    files = write_archive(tmp_path, incident[:30])
    files[0].write_bytes(files[0].read_bytes()[:40])  # truncated gzip
    bad_json = files[0].with_name(files[0].name.replace("part0", "bad"))
    bad_json.write_bytes(gzip.compress(b'{"Records": [1, 2'))
    read = read_archive(tmp_path)
    reasons = {Path(p.path).name: p.reason for p in read.problems}
    assert reasons[files[0].name].startswith("truncated or corrupt gzip")
    assert reasons[bad_json.name].startswith("invalid JSON at line 1")
    assert len(read.read) == len(files) - 1


def test_a_missing_archive_is_one_clear_error(tmp_path: Path) -> None:
    from flowforensics.errors import EvidenceError

    with pytest.raises(EvidenceError, match="no such folder"):
        read_archive(tmp_path / "nope")
    with pytest.raises(EvidenceError, match="not a time"):
        Selection.of(start="yesterday-ish")


def test_links_fifos_and_devices_are_never_opened(tmp_path: Path, incident: list[dict[str, Any]]) -> None:
    import os

    (written,) = write_archive(tmp_path, incident[:1])
    os.mkfifo(written.with_name("fifo.json.gz"))  # opening it would block the reader for ever
    written.with_name("link.json.gz").symlink_to("/etc/hostname")
    read = read_archive(tmp_path)
    skipped = {Path(e["key"]).name: e["reason"] for e in read.skipped}
    assert skipped == {name: "not a regular file (a link, FIFO or device): not read" for name in ("fifo.json.gz", "link.json.gz")}
    assert [Path(e["key"]).name for e in read.read] == [written.name]
