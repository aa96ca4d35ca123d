"""The kept records' text off the heap: a spool gives back every text exactly, in memory or on disk."""

from __future__ import annotations

import copy
import json
import pickle

import pandas as pd

import flowforensics
import flowforensics.evidence.spool as spool_module
from flowforensics.evidence.records import CloudTrailRecord
from flowforensics.evidence.spool import TextSpool
from tests.sample_paths import SAMPLES

TEXTS = [b'{"eventName":"PutRolePolicy"}', b"", "{\"userAgent\":\"\u00e9\"}".encode(), b"x" * 100]


def test_texts_come_back_exactly_in_memory_and_after_moving_to_disk() -> None:
    spool = TextSpool(in_memory=64)
    first = spool.extend(TEXTS[:2])
    assert not spool.on_disk and list(first) == TEXTS[:2]
    second = spool.extend(TEXTS[2:])  # past 64 bytes: everything moves to the file
    assert spool.on_disk
    assert list(first) == TEXTS[:2] and list(second) == TEXTS[2:] and second[-1] == TEXTS[-1]
    third = spool.extend([b"after a read"])  # appends after reads land at the end, not where a read left off
    assert list(third) == [b"after a read"] and list(first) + list(second) == TEXTS
    assert first == TEXTS[:2] and second != TEXTS[:2] and second[1:] == TEXTS[3:]


def test_a_load_past_the_in_memory_size_holds_its_records_on_disk_and_equals_one_held_in_memory(monkeypatch) -> None:
    held = flowforensics.load(SAMPLES)
    monkeypatch.setattr(spool_module, "IN_MEMORY", 4096)
    spooled = flowforensics.load(SAMPLES)
    assert spooled.events["record"].iloc[0]._held.on_disk
    pd.testing.assert_frame_equal(spooled.events.drop(columns="record"), held.events.drop(columns="record"))
    assert [r.text for r in spooled.events["record"]] == [r.text for r in held.events["record"]]
    assert list(spooled.events["record"]) == list(held.events["record"])


def test_a_spooled_record_copies_and_pickles_as_its_text() -> None:
    spool = TextSpool(in_memory=0)
    texts = spool.extend([TEXTS[0]])
    record = CloudTrailRecord.spooled(spool, *texts.span(0))
    for again in (pickle.loads(pickle.dumps(record)), copy.deepcopy(record), copy.copy(record)):
        assert again == record and again.text == TEXTS[0] and again["eventName"] == "PutRolePolicy"


def _spool_of(events: pd.DataFrame) -> TextSpool:
    return events["record"].iloc[0]._held


def test_a_request_is_read_where_its_record_holds_it_and_a_changed_one_from_its_own_copy(tmp_path) -> None:
    base = {"eventVersion": "1.09", "eventTime": "2024-03-24T10:00:00Z", "eventSource": "iam.amazonaws.com",
            "awsRegion": "eu-west-1", "responseElements": None}
    plain = {**base, "eventID": "e-1", "eventName": "PutRolePolicy", "requestParameters": {"roleName": "r", "policyName": "p"}}
    odd_name = {**base, "eventID": "e-2", "eventName": "DeleteRole", "requestParameters": {"roleName": ["r"], "x": 1}}
    texts = [json.dumps(record, separators=(",", ":")).encode() for record in (plain, odd_name)]
    (tmp_path / "trail.json").write_bytes(b'{"Records":[' + b",".join(texts) + b"]}")
    events = flowforensics.load(tmp_path).events.set_index("event_id")
    assert events.loc["e-1", "request"] == {"roleName": "r", "policyName": "p"}
    assert events.loc["e-2", "request"] == {"x": 1}  # the name that is not text left out
    assert events.loc["e-2", "record"]["requestParameters"] == {"roleName": ["r"], "x": 1}  # the record as read
    spool = _spool_of(events)
    # The records' text, and the changed request's own copy: the first request costs nothing.
    assert spool.read(0, 10**6) == b"".join(texts) + b'{"x":1}'


def test_values_json_loads_reads_but_msgspec_does_not_write_back_keep_their_value(tmp_path) -> None:
    # Infinity is no JSON, but json.loads reads it (so the record is read as the strict reader reads it);
    # msgspec would write it as null, which the response holds: the request must not be read from there.
    text = ('{"eventVersion":"1.09","eventID":"e-1","eventTime":"2024-03-24T10:00:00Z","eventSource":"iam.amazonaws.com",'
            '"eventName":"PutRolePolicy","awsRegion":"eu-west-1","requestParameters":{"a":Infinity},"responseElements":{"a":null}}')
    (tmp_path / "trail.json").write_text('{"Records":[' + text + "]}")
    events = flowforensics.load(tmp_path).events
    assert events["request"].iloc[0] == {"a": float("inf")} and events["response"].iloc[0] == {"a": None}
