"""The SQL of the Athena and CloudTrail Lake paths, built from data and never from pasted text.

The statement is a sqlglot expression tree rendered as Trino SQL (Athena engine 3 and CloudTrail Lake
both run Trino): every identifier is quoted by sqlglot, the kept-events rule of
:mod:`flowforensics.evidence.relevance` becomes constant literals (escaped by sqlglot), and the values a
user gives (accounts, regions, times) are bound as Athena ``ExecutionParameters`` (``?``) or, for
CloudTrail Lake, which binds nothing in an ad hoc statement, rendered as escaped literals after
validation. No user text can change the statement's shape.

The three Athena tables of AWS's documentation (their partition columns are data, :data:`LAYOUTS`):

- ``console``: the table CloudTrail's console creates ("Create Athena table"): not partitioned, so
  Athena reads every file under its ``LOCATION``; only the columns narrow the result.
- ``partitioned``: the Athena guide's manually partitioned table, ``PARTITIONED BY (region, year,
  month, day)``: the query prunes on ``region`` (``--regions``) and on the days of the window.
- ``projection``: the partition-projection table of the Athena guide, ``PARTITIONED BY (timestamp)``
  with ``projection.timestamp.format`` ``yyyy/MM/dd``: the query prunes on ``timestamp``. Its account
  and region are fixed in ``storage.location.template``.

A log file is filed under the day CloudTrail delivered it, up to about 15 minutes after its last
event: the partitions read run from the day of ``--start`` to the day after ``--end``, and the exact
window is on ``eventtime``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlglot import exp

from flowforensics.errors import CollectionError
from flowforensics.evidence.relevance import KEPT_ERROR_WORDS, KEPT_EVENTS, KEPT_SOURCES

DIALECT = "trino"

# CloudTrail writes eventTime as this, so that string order is time order.
CLOUDTRAIL_TIME = "%Y-%m-%dT%H:%M:%SZ"
# CloudTrail Lake's eventTime is a timestamp, compared with literals of this form in AWS's examples.
LAKE_TIME = "%Y-%m-%d %H:%M:%S"
# How long after its last event a log file may be filed (the partition day is the delivery day).
DELIVERY_MARGIN = timedelta(days=1)


@dataclass(frozen=True)
class Layout:
    """An Athena table of CloudTrail logs, as AWS documents it."""

    partitions: tuple[str, ...]
    description: str


LAYOUTS: dict[str, Layout] = {
    "console": Layout((), "the table CloudTrail's console creates: not partitioned"),
    "partitioned": Layout(
        ("region", "year", "month", "day"), "PARTITIONED BY (region, year, month, day), partitions added by hand"
    ),
    "projection": Layout(("timestamp",), "partition projection on timestamp (yyyy/MM/dd)"),
}


@dataclass(frozen=True)
class Column:
    """One column of a CloudTrail query table and where its value goes in a CloudTrail record.

    ``kind`` says how the value comes back as text and goes into the record: ``text`` as it is;
    ``json`` a JSON document (the Athena table's ``requestparameters``...); ``struct`` a struct or an
    array of structs, selected as JSON; ``map`` a CloudTrail Lake map, selected as JSON, whose nested
    objects are JSON strings; ``bool`` ``true``/``false``; ``time`` a timestamp.
    """

    name: str
    key: str
    kind: str = "text"


# The columns every Athena DDL of AWS's documentation has (the console's, the manual and the projection
# tables); the newer ones (eventcategory, tlsdetails...) are not needed by the analysis and would fail
# on an older table.
ATHENA_COLUMNS: tuple[Column, ...] = (
    Column("eventversion", "eventVersion"),
    Column("useridentity", "userIdentity", "struct"),
    Column("eventtime", "eventTime"),
    Column("eventsource", "eventSource"),
    Column("eventname", "eventName"),
    Column("awsregion", "awsRegion"),
    Column("sourceipaddress", "sourceIPAddress"),
    Column("useragent", "userAgent"),
    Column("errorcode", "errorCode"),
    Column("errormessage", "errorMessage"),
    Column("requestparameters", "requestParameters", "json"),
    Column("responseelements", "responseElements", "json"),
    Column("additionaleventdata", "additionalEventData", "json"),
    Column("requestid", "requestID"),
    Column("eventid", "eventID"),
    Column("resources", "resources", "struct"),
    Column("eventtype", "eventType"),
    Column("apiversion", "apiVersion"),
    Column("readonly", "readOnly", "bool"),
    Column("recipientaccountid", "recipientAccountId"),
    Column("serviceeventdetails", "serviceEventDetails", "json"),
    Column("sharedeventid", "sharedEventID"),
    Column("vpcendpointid", "vpcEndpointId"),
)

# CloudTrail Lake's schema for CloudTrail events (camelCase; Trino matches names case-insensitively).
LAKE_COLUMNS: tuple[Column, ...] = (
    Column("eventVersion", "eventVersion"),
    Column("userIdentity", "userIdentity", "struct"),
    Column("eventTime", "eventTime", "time"),
    Column("eventSource", "eventSource"),
    Column("eventName", "eventName"),
    Column("awsRegion", "awsRegion"),
    Column("sourceIPAddress", "sourceIPAddress"),
    Column("userAgent", "userAgent"),
    Column("errorCode", "errorCode"),
    Column("errorMessage", "errorMessage"),
    Column("requestParameters", "requestParameters", "map"),
    Column("responseElements", "responseElements", "map"),
    Column("additionalEventData", "additionalEventData", "map"),
    Column("requestID", "requestID"),
    Column("eventID", "eventID"),
    Column("resources", "resources", "struct"),
    Column("eventType", "eventType"),
    Column("apiVersion", "apiVersion"),
    Column("readOnly", "readOnly", "bool"),
    Column("recipientAccountId", "recipientAccountId"),
    Column("sharedEventID", "sharedEventID"),
    Column("vpcEndpointId", "vpcEndpointId"),
)

# The columns the filters read, per engine: (event source, event name, error code, time, account,
# region, event id).
_FILTER_COLUMNS = {
    "athena": ("eventsource", "eventname", "errorcode", "eventtime", "recipientaccountid", "awsregion", "eventid"),
    "lake": ("eventSource", "eventName", "errorCode", "eventTime", "recipientAccountId", "awsRegion", "eventID"),
}

ACCOUNT = re.compile(r"\d{12}")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
EVENT_DATA_STORE = re.compile(r"(arn:aws[a-z-]*:cloudtrail:[a-z0-9-]+:\d{12}:eventdatastore/)?([A-Za-z0-9-]{1,128})")


@dataclass(frozen=True)
class QueryPlan:
    """A statement ready to run, and what it will read.

    Attributes
    ----------
    engine : {"athena", "lake"}
    sql : str
        The Trino statement.
    parameters : list of str
        Athena ``ExecutionParameters``, in the order of the statement's ``?`` (empty for CloudTrail Lake).
    source : str
        The table (``"db"."table"``) or the event data store.
    partitions : list of str
        What the statement reads, for a person (``--dry-run``).
    window : tuple of datetime, optional
        The window of ``eventTime`` selected: start, end.
    """

    engine: str
    sql: str
    parameters: list[str] = field(default_factory=list)
    source: str = ""
    partitions: list[str] = field(default_factory=list)
    window: tuple[datetime, datetime] | None = None


def _column(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


def _strings(values: Sequence[str]) -> list[exp.Expression]:
    return [exp.Literal.string(value) for value in sorted(values)]


def relevance_condition(source: str, name: str, error: str) -> exp.Expression:
    """The kept-events rule (:func:`flowforensics.evidence.relevance.is_relevant`) as a SQL condition.

    Parameters
    ----------
    source, name, error : str
        The columns holding the event source, the event name and the error code.

    Returns
    -------
    sqlglot.exp.Expression
        ``source IN (kept sources) OR (source = s AND name IN (its names)) ... OR strpos(lower(error),
        word) > 0 ...``: sources and names match exactly, error words as substrings of the lower-cased code.
    """
    terms: list[exp.Expression] = [_column(source).isin(*_strings(KEPT_SOURCES))]
    for event_source, names in sorted(KEPT_EVENTS.items()):
        terms.append(
            exp.and_(_column(source).eq(exp.Literal.string(event_source)), _column(name).isin(*_strings(names)))
        )
    for word in KEPT_ERROR_WORDS:
        found = exp.StrPosition(this=exp.Lower(this=_column(error)), substr=exp.Literal.string(word))
        terms.append(exp.GT(this=found, expression=exp.Literal.number(0)))
    return exp.paren(exp.or_(*terms), copy=False)


def _days(start: datetime, end: datetime) -> list[datetime]:
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    days = []
    while day <= end + DELIVERY_MARGIN:
        days.append(day)
        day += timedelta(days=1)
    return days


def table_identifier(table: str) -> exp.Table:
    """``DB.TABLE`` (or ``CATALOG.DB.TABLE``) as a quoted table name; the first dots split the parts.

    Raises
    ------
    CollectionError
        When the name has no database or an empty part.
    """
    parts = table.split(".", 2)
    if len(parts) < 2 or not all(parts):
        raise CollectionError(f"--athena-table {table!r}: give DATABASE.TABLE")
    identifiers = [exp.to_identifier(part, quoted=True) for part in parts]
    if len(identifiers) == 3:
        return exp.Table(this=identifiers[2], db=identifiers[1], catalog=identifiers[0])
    return exp.Table(this=identifiers[1], db=identifiers[0])


def athena_query(
    table: str,
    *,
    layout: str,
    start: datetime,
    end: datetime,
    accounts: Sequence[str] = (),
    regions: Sequence[str] = (),
) -> QueryPlan:
    """The Athena statement selecting the kept events of a window from a CloudTrail table.

    Parameters
    ----------
    table : str
        ``DATABASE.TABLE``.
    layout : str
        A key of :data:`LAYOUTS`.
    start, end : datetime
        The window (aware, UTC); events with ``start <= eventTime <= end``.
    accounts, regions : sequence of str
        Keep only these recipient accounts and regions (all when empty).

    Returns
    -------
    QueryPlan
        The statement with ``?`` for every user value, its parameters, and the partitions it reads.
    """
    if layout not in LAYOUTS:
        raise CollectionError(f"unknown Athena table layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    source, name, error, time, account, region, event_id = _FILTER_COLUMNS["athena"]
    target = table_identifier(table)
    parameters: list[str] = []

    def bound(value: str) -> exp.Expression:
        # Athena parses each ExecutionParameter as a literal: give it a quoted, escaped string.
        parameters.append(exp.Literal.string(value).sql(DIALECT))
        return exp.Placeholder()

    conditions: list[exp.Expression] = []
    partitions: list[str] = []
    days = _days(start, end)
    first, last = days[0], days[-1]
    if layout == "projection":
        conditions.append(_column("timestamp").between(bound(f"{first:%Y/%m/%d}"), bound(f"{last:%Y/%m/%d}")))
        partitions.append(f"timestamp {first:%Y/%m/%d} to {last:%Y/%m/%d} ({len(days)} days)")
    elif layout == "partitioned":
        if regions:
            conditions.append(_column("region").isin(*(bound(r) for r in regions)))
        day = exp.func(
            "concat", _column("year"), exp.Literal.string("/"), _column("month"), exp.Literal.string("/"), _column("day")
        )
        conditions.append(_column("year").between(bound(f"{first:%Y}"), bound(f"{last:%Y}")))
        conditions.append(day.between(bound(f"{first:%Y/%m/%d}"), bound(f"{last:%Y/%m/%d}")))
        where = f"region {', '.join(regions)}" if regions else "every region"
        partitions.append(f"{where}; year/month/day {first:%Y/%m/%d} to {last:%Y/%m/%d} ({len(days)} days)")
    else:
        partitions.append("no partitions: Athena reads every file under the table's LOCATION")
    conditions.append(_column(time).between(bound(f"{start:{CLOUDTRAIL_TIME}}"), bound(f"{end:{CLOUDTRAIL_TIME}}")))
    if accounts:
        conditions.append(_column(account).isin(*(bound(a) for a in accounts)))
    if regions:
        conditions.append(_column(region).isin(*(bound(r) for r in regions)))
    conditions.append(relevance_condition(source, name, error))
    statement = _select(ATHENA_COLUMNS, target, conditions, (time, event_id))
    return QueryPlan(
        "athena", statement.sql(DIALECT, pretty=True), parameters, target.sql(DIALECT), partitions, (start, end)
    )


def event_data_store_id(value: str) -> str:
    """The id of an event data store, from its ARN or its id.

    Raises
    ------
    CollectionError
        When ``value`` is neither.
    """
    match = EVENT_DATA_STORE.fullmatch(value)
    if not match:
        raise CollectionError(f"--event-data-store {value!r}: give the event data store's ARN or id")
    return match.group(2)


def _validated(values: Sequence[str], pattern: re.Pattern[str], option: str) -> list[str]:
    for value in values:
        if not pattern.fullmatch(value):
            raise CollectionError(f"{option} {value!r} is not valid")
    return list(values)


def lake_query(
    event_data_store: str,
    *,
    start: datetime,
    end: datetime,
    accounts: Sequence[str] = (),
    regions: Sequence[str] = (),
) -> QueryPlan:
    """The CloudTrail Lake statement selecting the kept events of a window from an event data store.

    CloudTrail Lake binds parameters only in saved query templates, so the values are literals: times
    are formatted from datetimes, accounts and regions checked against AWS's formats, and all are
    escaped by sqlglot.

    Raises
    ------
    CollectionError
        An account, a region or the event data store that is not in AWS's format.
    """
    store = event_data_store_id(event_data_store)
    accounts = _validated(accounts, ACCOUNT, "--account")
    regions = _validated(regions, REGION, "--regions")
    source, name, error, time, account, region, event_id = _FILTER_COLUMNS["lake"]
    target = exp.Table(this=exp.to_identifier(store, quoted=True))
    conditions: list[exp.Expression] = [
        _column(time).between(exp.Literal.string(f"{start:{LAKE_TIME}}"), exp.Literal.string(f"{end:{LAKE_TIME}}"))
    ]
    if accounts:
        conditions.append(_column(account).isin(*_strings(accounts)))
    if regions:
        conditions.append(_column(region).isin(*_strings(regions)))
    conditions.append(relevance_condition(source, name, error))
    statement = _select(LAKE_COLUMNS, target, conditions, (time, event_id))
    partitions = [f"event data store {store}: eventTime {start:{LAKE_TIME}} to {end:{LAKE_TIME}} (no partitions)"]
    return QueryPlan("lake", statement.sql(DIALECT, pretty=True), [], store, partitions, (start, end))


def _select(
    columns: Sequence[Column], target: exp.Table, conditions: list[exp.Expression], order: tuple[str, ...]
) -> exp.Select:
    selected: list[exp.Expression] = []
    for column in columns:
        value: exp.Expression = _column(column.name)
        if column.kind in ("struct", "map"):
            # Struct text (``{type=AssumedRole, ...}``) cannot be parsed back; JSON can.
            value = exp.alias_(exp.func("json_format", exp.cast(value, "JSON")), column.name, quoted=True)
        elif column.kind == "time":
            value = exp.alias_(exp.cast(value, "VARCHAR"), column.name, quoted=True)
        selected.append(value)
    return (
        exp.select(*selected)
        .from_(target)
        .where(exp.and_(*conditions))
        .order_by(*(exp.Ordered(this=_column(name)) for name in order))
    )
