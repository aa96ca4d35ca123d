"""One path for CloudTrail records: a folder's file and an archive's file are read by the same decoder,
the record column keeps each record's text as read, and the envelope cannot hide a second list."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import flowforensics
from flowforensics.evidence.records import CloudTrailRecord
from tests.faults.test_isolation import GOOD, record

DELETE = record("5a1b2c3d-0000-4000-8000-00000000de1e", eventName="DeleteFlowLogs",
                requestParameters={"DeleteFlowLogsRequest": {"FlowLogId": {"tag": 1, "content": "fl-0a1b2c3d4e5f60718"}}})


def _compact(records: list[dict]) -> bytes:
    return json.dumps({"Records": records}, separators=(",", ":")).encode()


def test_the_record_column_holds_each_record_as_read(tmp_path: Path) -> None:
    (tmp_path / "trail.json").write_bytes(_compact([GOOD, DELETE]))
    events = flowforensics.load(tmp_path).events
    by_id = dict(zip(events["event_id"], events["record"], strict=True))
    assert isinstance(by_id[GOOD["eventID"]], CloudTrailRecord)
    assert by_id[GOOD["eventID"]].text == json.dumps(GOOD, separators=(",", ":")).encode()
    assert by_id[DELETE["eventID"]] == DELETE and by_id[DELETE["eventID"]]["requestParameters"] == DELETE["requestParameters"]


def test_a_second_records_list_is_reported_and_the_last_is_read_as_json_says(tmp_path: Path) -> None:
    # A reader that takes the first list sees the deletion; JSON (and every parser here) takes the last.
    forged = _compact([DELETE])[:-1] + b',"Records":' + json.dumps([GOOD], separators=(",", ":")).encode() + b"}"
    (tmp_path / "trail.json.gz").write_bytes(gzip.compress(forged))
    evidence = flowforensics.load(tmp_path)
    assert [p.reason for p in evidence.problems] == [
        "1 duplicate JSON key(s) in one object (Records): the last value of each was used"]
    assert list(evidence.events["event_id"]) == [GOOD["eventID"]]


def test_folder_and_archive_files_make_the_same_rows(tmp_path: Path) -> None:
    data = gzip.compress(_compact([GOOD, DELETE]))
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "trail.json.gz").write_bytes(data)
    key = tmp_path / "archive" / "AWSLogs" / "381492650217" / "CloudTrail" / "eu-west-1" / "2024" / "03" / "24"
    key.mkdir(parents=True)
    (key / "381492650217_CloudTrail_eu-west-1_20240324T1705Z_a.json.gz").write_bytes(data)
    from_folder = flowforensics.load(folder).events.drop(columns="source_file")
    from_archive = flowforensics.load(tmp_path / "archive").events.drop(columns="source_file")
    # The archive keeps the flow log's deletion, not the describe call; the rows it keeps are the same.
    assert list(from_archive["event_id"]) == [DELETE["eventID"]]
    kept = from_folder[from_folder["event_id"] == DELETE["eventID"]].reset_index(drop=True)
    assert kept.astype(object).equals(from_archive.astype(object))
