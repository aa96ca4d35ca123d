"""Scalar values as AWS writes them: times in any of its formats, policy documents in any encoding."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, unquote_plus

# Epoch numbers above this are milliseconds: as seconds they would lie past the year 5000.
_EPOCH_MS_THRESHOLD = 1e11
# Formats AWS and its exporters write besides ISO 8601: IAM responseElements ("Jul 10, 2023
# 12:09:21 PM") and SIEM exports ("2023-07-10 12:09:21.000000000", nanoseconds).
_OTHER_FORMATS = ("%b %d, %Y %I:%M:%S %p", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S")
_NANOS = re.compile(r"(\.\d{6})\d+")


def parse_time(value: Any) -> datetime | None:
    """Parse one AWS time into an aware UTC datetime.

    Parameters
    ----------
    value : str, int, float, datetime or None
        ISO 8601 with any offset (or none, taken as UTC), epoch seconds or epoch milliseconds
        (as numbers or digit strings), ``Jul 10, 2023 12:09:21 PM`` or
        ``2023-07-10 12:09:21.000000000``.

    Returns
    -------
    datetime or None
        ``None`` for ``None``, an empty string, or a value that is not a time.
    """
    if value.__class__ is str and len(value) == 20 and value[10] == "T" and value[19] == "Z":
        # CloudTrail's own form (2024-03-24T16:47:23Z), once per record: straight to the ISO parser,
        # which reads it as the general path below does.
        try:
            return datetime.fromisoformat(value).astimezone(UTC)
        except ValueError:
            pass
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, (int, float)):
        return _from_epoch(float(value))
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return _from_epoch(float(text))
    text = _NANOS.sub(r"\1", text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        parsed = None
        for fmt in _OTHER_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        if parsed is None:
            return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# The range of pandas' nanosecond timestamps (1677-09-21 to 2262-04-11): a time outside it cannot be in a frame.
_FRAME_MIN = datetime(1677, 9, 22, tzinfo=UTC)
_FRAME_MAX = datetime(2262, 4, 11, tzinfo=UTC)


def frame_time(value: Any) -> datetime | None:
    """Parse one AWS time as :func:`parse_time` does, for a frame: ``None`` also when it lies outside
    the years 1677-2262 that pandas can hold (``2263-01-01T00:00:00Z``, epoch-ms ``1e13``)."""
    moment = parse_time(value)
    if moment is None or not _FRAME_MIN <= moment <= _FRAME_MAX:
        return None
    return moment


def in_frame_range(moment: datetime) -> bool:
    """Whether an aware datetime lies within the years pandas can hold."""
    return _FRAME_MIN <= moment <= _FRAME_MAX


def scalar_text(value: Any) -> str | None:
    """A JSON scalar as text (strings as they are, numbers written out); ``None`` for null, booleans,
    arrays and objects, which are not the text a field expects."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
        return str(value)
    return None


# Times a user gives relative to now: "now", "now-2h", "-7d" (argparse needs --start=-7d), "2h ago".
_RELATIVE = re.compile(r"(?:now)?\s*(?P<sign>[+-])\s*(?P<count>\d+)\s*(?P<unit>s|m|min|h|d|w)|(?P<ago>\d+)\s*(?P<ago_unit>s|m|min|h|d|w)\s+ago")
_UNITS = {"s": "seconds", "m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DAYS_BACK = {"today": 0, "yesterday": 1}
WINDOW_TIME_FORMS = (
    "ISO 8601 with any offset (2024-03-24T16:47:23Z), epoch seconds or milliseconds, now, today, yesterday "
    "(00:00 UTC), or relative to now: -2h, -30m, -7d, -1w, now-2h, 2h ago"
)


def window_time(value: Any, *, now: datetime | None = None) -> datetime | None:
    """Parse a time a user gives (``--start``, ``--end``, a notebook's window) into an aware UTC datetime.

    The one parser of user-given times: every command and notebook that takes a window uses it.

    Parameters
    ----------
    value : str, int, float, datetime or None
        Any AWS time :func:`parse_time` reads, or ``now``, ``today``, ``yesterday`` (midnight UTC), or
        a time relative to now (``-2h``, ``now-7d``, ``+1h``, ``2h ago``; units s, m, h, d, w).
    now : datetime, optional
        The moment relative times count from; the clock's by default.

    Returns
    -------
    datetime or None
        ``None`` for ``None`` or an empty string.

    Raises
    ------
    ValueError
        When ``value`` is not a time; the one-line message says which forms are.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        parsed = parse_time(value)
        if parsed is None:
            raise ValueError(f"{value!r} is not a time: use {WINDOW_TIME_FORMS}")
        return parsed
    now = (now or datetime.now(UTC)).astimezone(UTC)
    text = value.strip().lower()
    if text == "now":
        return now
    if text in _DAYS_BACK:
        return now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=_DAYS_BACK[text])
    relative = _RELATIVE.fullmatch(text)
    if relative:
        if relative["ago"]:
            return now - timedelta(**{_UNITS[relative["ago_unit"]]: int(relative["ago"])})
        delta = timedelta(**{_UNITS[relative["unit"]]: int(relative["count"])})
        return now - delta if relative["sign"] == "-" else now + delta
    # A bare negative number is a relative time without its unit, not a moment of 1969.
    parsed = None if text.startswith("-") else parse_time(value)
    if parsed is None:
        raise ValueError(f"{value!r} is not a time: use {WINDOW_TIME_FORMS}")
    return parsed


def _from_epoch(number: float) -> datetime | None:
    seconds = number / 1000.0 if abs(number) >= _EPOCH_MS_THRESHOLD else number
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def parse_document(value: Any) -> dict[str, Any] | None:
    """Parse a policy document given as an object, a JSON string or a URL-encoded JSON string.

    Parameters
    ----------
    value : dict, str or None
        The document as the API, the CLI or CloudTrail gave it.

    Returns
    -------
    dict or None
        The document as an object; ``None`` when ``value`` is empty.

    Raises
    ------
    ValueError
        When ``value`` is a string that is not a JSON object in any of these encodings.
    """
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        raise ValueError(f"a policy document must be an object or a string, not {type(value).__name__}")
    for decode in (str, unquote, unquote_plus):
        try:
            document = json.loads(decode(value))
        except ValueError:
            continue
        if isinstance(document, dict):
            return document
    raise ValueError("the policy document is not a JSON object, plain or URL-encoded")


def text(value: Any) -> str | None:
    """A value from a frame or a document as text: ``None`` for null, NA, NaT, NaN, an empty string, or
    an array or object where a scalar was expected."""
    if isinstance(value, str):
        return value or None
    if value is None or isinstance(value, (list, tuple, dict, set)):
        return None
    import pandas as pd

    return None if pd.isna(value) else str(value)


def by(actor: Any) -> str:
    """`` by ACTOR`` for a sentence about an event, or nothing when its record names no principal (a
    sentence never says ``by <NA>``)."""
    name = text(actor)
    return f" by {name}" if name else ""


def to_second(moment: datetime) -> str:
    """A moment as findings say it: ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, to the second)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def iso(value: datetime | None) -> str | None:
    """Format an aware datetime as ISO 8601 UTC with a ``Z`` (the contract's format), or ``None``."""
    if value is None:
        return None
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    moment = value.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"
