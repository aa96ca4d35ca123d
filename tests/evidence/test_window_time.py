"""The one parser of the times a user gives (--start/--end, notebook parameters): absolute or relative to now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flowforensics.evidence.values import window_time

NOW = datetime(2024, 3, 25, 9, 30, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-24T16:47:23Z", datetime(2024, 3, 24, 16, 47, 23, tzinfo=UTC)),
        ("2024-03-24T18:47:23+02:00", datetime(2024, 3, 24, 16, 47, 23, tzinfo=UTC)),
        ("2024-03-24", datetime(2024, 3, 24, tzinfo=UTC)),
        ("1711298843", datetime(2024, 3, 24, 16, 47, 23, tzinfo=UTC)),
        ("1711298843000", datetime(2024, 3, 24, 16, 47, 23, tzinfo=UTC)),
        ("now", NOW),
        (" NOW ", NOW),
        ("-2h", NOW - timedelta(hours=2)),
        ("now-2h", NOW - timedelta(hours=2)),
        ("now - 90m", NOW - timedelta(minutes=90)),
        ("-7d", NOW - timedelta(days=7)),
        ("-1w", NOW - timedelta(weeks=1)),
        ("-30s", NOW - timedelta(seconds=30)),
        ("+1h", NOW + timedelta(hours=1)),
        ("2h ago", NOW - timedelta(hours=2)),
        ("today", datetime(2024, 3, 25, tzinfo=UTC)),
        ("yesterday", datetime(2024, 3, 24, tzinfo=UTC)),
        (datetime(2024, 3, 24, 16, 47, 23), datetime(2024, 3, 24, 16, 47, 23, tzinfo=UTC)),
        (None, None),
        ("", None),
    ],
)
def test_absolute_and_relative_times(value, expected):
    assert window_time(value, now=NOW) == expected


@pytest.mark.parametrize("value", ["yesterday morning", "-2", "-2 lightyears", "2024-13-01", "2h", "\x1b[31m"])
def test_what_is_not_a_time_is_said_with_the_forms_accepted(value):
    with pytest.raises(ValueError) as raised:
        window_time(value, now=NOW)
    message = str(raised.value)
    assert "is not a time" in message and "ISO 8601" in message and "-2h" in message
    assert "\n" not in message and "\x1b" not in message
