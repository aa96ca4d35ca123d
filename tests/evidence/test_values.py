from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flowforensics.evidence.values import iso, parse_document, parse_time

UTC = UTC


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2021-11-18T09:41:02-08:00", datetime(2021, 11, 18, 17, 41, 2, tzinfo=UTC)),
        ("2024-07-31T15:07:49Z", datetime(2024, 7, 31, 15, 7, 49, tzinfo=UTC)),
        ("2024-07-31T15:07:49.123456789Z", datetime(2024, 7, 31, 15, 7, 49, 123456, tzinfo=UTC)),
        ("2024-07-31T15:07:49", datetime(2024, 7, 31, 15, 7, 49, tzinfo=UTC)),
        (1722438469, datetime(2024, 7, 31, 15, 7, 49, tzinfo=UTC)),
        (1722438469000, datetime(2024, 7, 31, 15, 7, 49, tzinfo=UTC)),
        ("1722438469000", datetime(2024, 7, 31, 15, 7, 49, tzinfo=UTC)),
        (1722438469.5, datetime(2024, 7, 31, 15, 7, 49, 500000, tzinfo=UTC)),
        ("Jul 10, 2023 12:09:21 PM", datetime(2023, 7, 10, 12, 9, 21, tzinfo=UTC)),
        ("2023-07-10 12:09:21.000000000", datetime(2023, 7, 10, 12, 9, 21, tzinfo=UTC)),
        ("2020-11-05 21:21:46Z", datetime(2020, 11, 5, 21, 21, 46, tzinfo=UTC)),
    ],
)
def test_every_aws_time_format_parses_to_utc(value, expected):
    assert parse_time(value) == expected


@pytest.mark.parametrize("value", [None, "", "redacted", "...", True, {"a": 1}])
def test_values_that_are_not_times_give_none(value):
    assert parse_time(value) is None


def test_iso_writes_utc_with_z():
    assert iso(parse_time("2021-11-18T09:41:02.250-08:00")) == "2021-11-18T17:41:02.25Z"
    assert iso(None) is None


DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}]}


@pytest.mark.parametrize(
    "value",
    [
        DOC,
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}]}',
        "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A"
        "%22logs%3APutLogEvents%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D",
    ],
)
def test_policy_documents_parse_from_object_json_or_url_encoding(value):
    assert parse_document(value) == DOC


def test_a_policy_string_that_is_not_json_is_an_error():
    with pytest.raises(ValueError, match="not a JSON object"):
        parse_document("Allow everything")
