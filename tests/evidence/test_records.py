"""The fast path for CloudTrail records: the same records as the standard parser, on the real samples."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from sample_paths import SAMPLES

from flowforensics.evidence.records import fast_records, gunzip, read_file
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
    assert found is not None and found.records == _records(path) and found.read == len(_records(path))
    kept = fast_records(data, is_relevant)
    assert kept.records == [r for r in _records(path) if is_relevant(r.get("eventSource"), r.get("eventName"), r.get("errorCode"))]
    assert kept.read == found.read


def test_json_lines_and_a_utf8_bom() -> None:
    records = _records(SAMPLES / "panther" / "panther_rule_tests_cloudtrail.json")
    lines = "\n".join(json.dumps(r) for r in records).encode()
    assert fast_records(lines).records == records
    assert fast_records(b"\xef\xbb\xbf" + json.dumps(records).encode()).records == records


def test_duplicate_keys_of_kept_records_are_reported() -> None:
    data = b'{"Records": [{"eventSource": "iam.amazonaws.com", "eventName": "GetRole", "eventName": "PutRolePolicy"}]}'
    found = fast_records(data, is_relevant)
    assert found.records == [{"eventSource": "iam.amazonaws.com", "eventName": "PutRolePolicy"}]
    assert found.duplicate_keys == ["eventName"]


def test_values_that_are_not_records_are_handed_on_for_the_frame_builder_to_count() -> None:
    data = b'{"Records": [1, "x", {"eventSource": "s3.amazonaws.com", "eventName": "GetObject"}, {"eventSource": "sts.amazonaws.com", "eventName": "AssumeRole"}]}'
    assert fast_records(data, is_relevant).records == [1, "x", {"eventSource": "sts.amazonaws.com", "eventName": "AssumeRole"}]
    lookup = b'{"Events": [{"CloudTrailEvent": "not json"}, {"CloudTrailEvent": "{\\"eventSource\\": \\"iam.amazonaws.com\\", \\"eventName\\": \\"X\\"}"}]}'
    assert fast_records(lookup, is_relevant).records == ["not json", {"eventSource": "iam.amazonaws.com", "eventName": "X"}]


@pytest.mark.parametrize("data", [
    b'{"Records": 5}', b'"text"', b'{"FlowLogs": []}', b'{"Records": [1, 2', b"\xff\xfe{}", b'{"Events": [{"CloudTrailEvent": 5}]}',
    b'{"Records": [{"eventSource": "iam.amazonaws.com", "eventName": "\xff"}]}', b"{}",
])
def test_anything_else_is_left_to_the_evidence_reader(data: bytes) -> None:
    assert fast_records(data, is_relevant) is None
    digest, size, why = read_file(data, is_relevant, 1 << 20)
    assert isinstance(why, str) and size == len(data) and len(digest) == 64


def test_gzip_is_bounded_and_checked() -> None:
    bomb = gzip.compress(b" " * 100_000)
    assert gunzip(bomb, 100_000) == b" " * 100_000
    with pytest.raises(ValueError, match="larger than"):
        gunzip(bomb, 99_999)
    with pytest.raises(ValueError, match="truncated or corrupt gzip"):
        gunzip(bomb[:30], 1 << 20)
    two_members = gzip.compress(b'{"Records": [') + gzip.compress(b"]}")
    assert fast_records(gunzip(two_members, 1 << 20)).records == []
