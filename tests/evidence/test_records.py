"""The fast path for CloudTrail records: the same records as the standard parser, on the real samples."""

from __future__ import annotations

import gzip
import json
import pickle
from pathlib import Path

import pandas as pd
import pytest
from sample_paths import SAMPLES

from flowforensics.evidence.archive import read_file
from flowforensics.evidence.records import CloudTrailRecord, fast_records, gunzip, parse_record, record_time
from flowforensics.evidence.relevance import is_relevant

FILES = sorted((SAMPLES / "stratus-red-team").glob("*.json")) + [
    SAMPLES / "panther" / "panther_rule_tests_cloudtrail.json",
    SAMPLES / "aws-cli" / "lookup-events.example.json",
]


def _records(path: Path) -> list:
    content = json.loads(path.read_text())
    if isinstance(content, dict) and "Events" in content:
        return [json.loads(e["CloudTrailEvent"]) for e in content["Events"]]
    return content["Records"] if isinstance(content, dict) else content



@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_record_of_the_samples_as_the_standard_parser_reads_it(path: Path) -> None:
    data = path.read_bytes()
    found = fast_records(data)
    assert found is not None and [parse_record(t)[0] for t in found.texts] == _records(path) and found.read == len(_records(path))
    kept = fast_records(data, is_relevant)
    assert [parse_record(t)[0] for t in kept.texts] == [
        r for r in _records(path) if is_relevant(r.get("eventSource"), r.get("eventName"), r.get("errorCode"))]
    assert kept.read == found.read


def test_json_lines_and_a_utf8_bom() -> None:
    records = _records(SAMPLES / "panther" / "panther_rule_tests_cloudtrail.json")
    lines = "\n".join(json.dumps(r) for r in records).encode()
    assert [json.loads(t) for t in fast_records(lines).texts] == records
    assert [json.loads(t) for t in fast_records(b"\xef\xbb\xbf" + json.dumps(records).encode()).texts] == records


def test_records_are_handed_on_as_their_text_as_read() -> None:
    data = b'{"Records":[{"eventSource":"iam.amazonaws.com","eventName":"GetRole","eventTime":"2024-03-24T17:05:00Z"}]}'
    assert fast_records(data).texts == [data[12:-2]]
    assert record_time(data[12:-2]) == "2024-03-24T17:05:00Z" and record_time(b"5") is None


def test_duplicate_keys_are_found_by_the_record_parser_and_in_the_envelope() -> None:
    data = b'{"Records": [{"eventSource": "iam.amazonaws.com", "eventName": "GetRole", "eventName": "PutRolePolicy"}]}'
    found = fast_records(data, is_relevant)
    assert found.duplicate_keys == [] and parse_record(found.texts[0]) == (
        {"eventSource": "iam.amazonaws.com", "eventName": "PutRolePolicy"}, ["eventName"])
    # Two Records lists: a parser that reads the first and one that reads the last see different trails.
    forged = b'{"Records":[{"eventName":"DeleteFlowLogs","eventSource":"ec2.amazonaws.com"}],"Records":[]}'
    assert fast_records(forged).duplicate_keys == ["Records"]
    lookup = b'{"Events": [{"CloudTrailEvent": "{}", "CloudTrailEvent": "{\\"eventName\\": \\"X\\", \\"eventID\\": \\"1\\"}"}]}'
    assert fast_records(lookup).duplicate_keys == ["CloudTrailEvent"]


def test_values_that_are_not_records_are_handed_on_for_the_frame_builder_to_count() -> None:
    data = b'{"Records": [1, "x", {"eventSource": "s3.amazonaws.com", "eventName": "GetObject"}, {"eventSource": "sts.amazonaws.com", "eventName": "AssumeRole"}]}'
    assert fast_records(data, is_relevant).texts == [b"1", b'"x"', b'{"eventSource": "sts.amazonaws.com", "eventName": "AssumeRole"}']
    lookup = b'{"Events": [{"CloudTrailEvent": "not json"}, {"CloudTrailEvent": "{\\"eventSource\\": \\"iam.amazonaws.com\\", \\"eventName\\": \\"X\\"}"}]}'
    assert fast_records(lookup, is_relevant).texts == [b"not json", b'{"eventSource": "iam.amazonaws.com", "eventName": "X"}']


@pytest.mark.parametrize("data", [
    b'"text"', b'{"FlowLogs": []}', b'{"Records": [1, 2', b"\xff\xfe{}", b"{}", b'[{"eventName": "X"}]',
    b'{"Records": [{"eventSource": "iam.amazonaws.com", "eventName": "\xff"}]}',
    b'{"Records": [' + b"[" * 5000 + b"]" * 5000 + b"]}",
])
def test_anything_else_is_left_to_the_evidence_reader(data: bytes) -> None:
    assert fast_records(data, is_relevant) is None
    digest, size, why = read_file(data, is_relevant, 1 << 20)
    assert isinstance(why, str) and size == len(data) and len(digest) == 64


def test_cloudtrail_shapes_the_strict_reader_reads_are_handed_on_the_same_way() -> None:
    assert fast_records(b'{"Records": 5}') is None
    assert read_file(b'{"Records": 5}', None, 1 << 20)[2].notes == ["'Records' is a JSON int, not a list of records (skipped)"]
    assert read_file(b'{"Events": [{"CloudTrailEvent": 5}]}', None, 1 << 20)[2].texts == [b"5"]  # counted as not a record


def test_the_record_column_is_a_mapping_over_the_text() -> None:
    record = CloudTrailRecord(b'{"eventName":"PutRolePolicy","requestParameters":{"roleName":"r"}}')
    assert record == {"eventName": "PutRolePolicy", "requestParameters": {"roleName": "r"}} == record.to_dict()
    assert record["requestParameters"]["roleName"] == "r" and record.get("x", 1) == 1 and "eventName" in record
    assert list(record) == ["eventName", "requestParameters"] and len(record) == 2
    assert pickle.loads(pickle.dumps(record)) == record and repr(record).startswith("{'eventName'")
    # As a frame's cell: written out by pandas as the record it stands for.
    frame = pd.DataFrame({"record": pd.Series([record], dtype=object)})
    assert json.loads(frame.to_json())["record"]["0"] == record.to_dict()


def test_gzip_is_bounded_and_checked() -> None:
    bomb = gzip.compress(b" " * 100_000)
    assert gunzip(bomb, 100_000) == b" " * 100_000
    with pytest.raises(ValueError, match="larger than"):
        gunzip(bomb, 99_999)
    with pytest.raises(ValueError, match="truncated or corrupt gzip"):
        gunzip(bomb[:30], 1 << 20)
    two_members = gzip.compress(b'{"Records": [') + gzip.compress(b"]}")
    assert fast_records(gunzip(two_members, 1 << 20)).texts == []
