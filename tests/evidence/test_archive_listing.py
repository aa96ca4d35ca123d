"""The archive's layout walked by the selection: only the folders it may need are listed, and the files chosen
are the ones a listing of everything would choose; no event of the window is missed for a late delivery."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flowforensics.errors import EvidenceError
from flowforensics.evidence.archive import Selection, read_archive
from flowforensics.evidence.archive_listing import period, position
from flowforensics.evidence.relevance import is_relevant
from flowforensics.scenarios import write_scenario

sys.path.insert(0, str(Path(__file__).parents[1] / "scenarios"))
from helpers import cloudtrail_records  # noqa: E402

from .archive_layout import ORG_ACCOUNT, PLAIN_ACCOUNT, PREFIXED_ACCOUNT, write_trail_bucket  # noqa: E402


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = write_scenario("permission-removed", tmp_path_factory.mktemp("scenario") / "incident")
    root = tmp_path_factory.mktemp("archive")
    return {"root": root, "records": write_trail_bucket(root, cloudtrail_records(folder))}


def every_choice(root: Path, selection: Selection) -> list[str]:
    """The files a listing of everything chooses: every file's key through the selection."""
    return [p.resolve().as_posix() for p in sorted(root.rglob("*")) if p.is_file() and selection.skip_reason(p.as_posix()) is None]


def wanted(records: list[dict[str, Any]], selection: Selection) -> set[str]:
    return {
        r["eventID"] for r in records
        if is_relevant(r["eventSource"], r["eventName"], r.get("errorCode")) and selection.in_window(r)
        and (not selection.accounts or r["recipientAccountId"] in selection.accounts)
        and (not selection.regions or r["awsRegion"] in selection.regions)
    }


SELECTIONS = {
    "everything": {},
    "one account": {"accounts": [ORG_ACCOUNT]},
    "one region": {"regions": ["us-east-1"]},
    "from a time": {"start": "2024-02-20T12:00Z"},
    "until a time": {"end": "2024-02-10T23:30Z"},
    "one day": {"start": "2024-02-03T00:00Z", "end": "2024-02-03T23:50Z"},
    "across a month": {"accounts": [PLAIN_ACCOUNT, PREFIXED_ACCOUNT], "start": "2024-01-30T20:00Z", "end": "2024-02-02T04:00Z"},
    "longer than the named days": {"regions": ["eu-west-1"], "start": "2024-02-05T00:00Z", "end": "2024-03-01T00:00Z"},
    "one account, region and day": {"accounts": [PREFIXED_ACCOUNT], "regions": ["eu-west-1"], "start": "2024-02-06T00:00Z", "end": "2024-02-07T00:00Z"},
    "names that are not ids": {"accounts": ["../../../etc"], "regions": ["../.."]},
}


@pytest.mark.parametrize("name", SELECTIONS)
def test_the_walk_chooses_what_a_listing_of_everything_chooses(layout: dict[str, Any], name: str) -> None:
    selection = Selection.of(**SELECTIONS[name])
    read = read_archive(layout["root"], selection, workers=1)
    assert [e["key"] for e in read.read] == every_choice(layout["root"], selection)
    assert {json.loads(t)["eventID"] for d in read.documents for t in d.content.texts} == wanted(layout["records"], selection)
    top = layout["root"].resolve().as_posix()
    assert all(entry["prefix"].startswith(f"{top}/") for entry in read.listed)
    assert not any(part in entry["prefix"] for entry in read.listed for part in ("Digest", "vpcflowlogs", "/.."))


def test_a_day_at_the_window_end_is_found_in_the_next_day_folder(layout: dict[str, Any]) -> None:
    late = next(r for r in layout["records"] if r["eventTime"][11:13] == "23"
                and is_relevant(r["eventSource"], r["eventName"], r.get("errorCode")))
    selection = Selection.of(accounts=[late["recipientAccountId"]], regions=[late["awsRegion"]],
                             start=f"{late['eventTime'][:10]}T00:00Z", end=late["eventTime"])
    read = read_archive(layout["root"], selection, workers=1)
    assert late["eventID"] in {json.loads(t)["eventID"] for d in read.documents for t in d.content.texts}
    day = datetime.strptime(late["eventTime"][:10], "%Y-%m-%d")
    # The window's day and the day after it, written down, each listed whole: nothing else of the region.
    assert [e["prefix"].split("/CloudTrail/")[1] for e in read.listed if e["depth"] == "whole"] == [
        f"{late['awsRegion']}/{day + timedelta(days=n):%Y/%m/%d}/" for n in (0, 1)]


def test_the_layout_levels() -> None:
    assert position("tmp x AWSLogs o-a1b2c3d4e5".split()) == "org"
    assert position(["AWSLogs", "111122223333", "vpcflowlogs"]) == "above"  # out of the layout: any prefix
    assert position(["AWSLogs", "AWSLogs", "111122223333", "CloudTrail", "eu-west-1", "2024"]) == "year"
    assert period(("2024",)) == (datetime(2024, 1, 1).date(), datetime(2024, 12, 31).date())
    assert period(("2024", "02")) == (datetime(2024, 2, 1).date(), datetime(2024, 2, 29).date())
    assert period(("2024", "02", "30")) is None and period(("2024", "13")) is None


def test_a_folder_that_cannot_be_listed_is_reported_and_the_others_read(
    layout: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    top = layout["root"].resolve().as_posix()
    refused = {f"{top}/AWSLogs/o-a1b2c3d4e5", f"{top}/AWSLogs/{PLAIN_ACCOUNT}/CloudTrail/us-east-1"}
    real_scandir, real_walk = os.scandir, os.walk

    def scandir(path: Any) -> Any:  # listing one level: os.scandir
        if Path(path).resolve().as_posix() in refused:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    def walk(path: Any, *args: Any, **kwargs: Any) -> Any:  # listing whole: os.walk, which reports to onerror
        if Path(path).resolve().as_posix() in refused:
            kwargs["onerror"](PermissionError(13, "Permission denied", str(path)))
            return iter(())
        return real_walk(path, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "walk", walk)
    read = read_archive(layout["root"], Selection.of(regions=["us-east-1"]), workers=1)
    assert {e["key"]: e["reason"] for e in read.skipped if "cannot" in e["reason"]} == {
        f"{folder}/": "cannot be listed (Permission denied): not read" for folder in refused}
    assert {(p.path, p.reason) for p in read.problems} == {
        (f"{folder}/", "cannot be listed (Permission denied): its files were not read") for folder in refused}
    assert read.read and all("/custom-prefix/" in e["key"] for e in read.read)
    # Nothing of it can be listed: one clear error.
    refused.add(top)
    with pytest.raises(EvidenceError, match=r"cannot list the archive \(Permission denied\)"):
        read_archive(layout["root"], Selection(), workers=1)
