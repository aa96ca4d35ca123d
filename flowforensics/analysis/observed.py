"""Observed delivery: every signal the evidence holds about one flow log, and the failure windows they make.

Signals come from ``DeliverLogsStatus`` (with ``DeliverLogsErrorMessage``), the delivery role's own
CloudWatch Logs calls in CloudTrail (refused or not), the service's refused ``AssumeRole`` calls,
``lastIngestionTime`` of the log streams, ``IncomingLogEvents`` data points and alarm state changes.
A role may deliver for several flow logs: its calls count for the flow log whose region, log group
(and network interface's log stream) they name, and metric data for the log group its query named.
Calls and ``AssumeRole`` refusals outside the flow log's life (before its creation, after its
deletion) were for another flow log of the role. A failure window opens at the first failure signal
and closes at the first success signal after it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowforensics.analysis.cache import per_evidence
from flowforensics.evidence.records import parsed
from flowforensics.frames.schema import frame

SERVICE = "vpc-flow-logs.amazonaws.com"
DELIVERY_CALLS = ("CreateLogStream", "PutLogEvents", "CreateLogGroup", "DescribeLogGroups", "DescribeLogStreams")
# A successful call of the delivery role -> the signal it is. A new log stream shows the role's
# permissions work, not that CloudWatch Logs accepted the events: under throttling it proves nothing.
DELIVERED_CALLS = {"PutLogEvents": "delivered", "CreateLogStream": "stream-created"}
PERMISSIONS_ONLY = ("stream-created",)
THROTTLED = "Rate limited"  # the DeliverLogsErrorMessage of CloudWatch Logs throttling or the log-group quota
DELIVERY_METRICS = ("IncomingLogEvents", "IncomingBytes")
CLOUDWATCH_LOGS = "cloud-watch-logs"  # LogDestinationType of a flow log delivering to a log group
# Flow logs publish every 1 or 10 minutes; no ingestion for longer than this is a missed delivery.
STALE_AFTER_MINUTES = 15
DEFAULT_PERIOD_MINUTES = 5  # the period of a lone metric data point
# A log group or log stream ARN, as requestParameters, resources and AccessDenied messages name it.
LOGS_ARN = re.compile(
    r"arn:[\w-]+:logs:(?P<region>[\w-]*):(?P<account>\d*):log-group:(?P<group>[^:\s*]+)(?::log-stream:(?P<stream>[^:\s*]+))?"
)
# Flow logs name a log stream after the network interface it records.
ENI = re.compile(r"\beni-[0-9a-f]+\b")
# errorCode (or a word of errorMessage) -> the failure signal it is.
ERROR_SIGNALS: tuple[tuple[str, str], ...] = (
    ("kms", "kms-error"),
    ("throttl", "rate-limited"),
    ("limitexceeded", "rate-limited"),
    ("ratelimit", "rate-limited"),
    ("resourcenotfound", "log-group-missing"),
    ("accessdenied", "access-denied"),
    ("unauthorized", "access-denied"),
)


@dataclass(frozen=True)
class Signal:
    """One observation of delivery.

    Attributes
    ----------
    time : pandas.Timestamp or None
        When it was observed (None for a status read without a collection time).
    signal : str
        What it is: ``access-denied``, ``delivered``, ``ingestion``, ``no-ingestion``, ``metric-zero``...
    ok : bool
        Whether it shows delivery working.
    source : str
        The event id, evidence file or frame it comes from, for an auditor to re-check.
    detail : str
        The values behind it, in a few words.
    until : pandas.Timestamp or None
        For a metric data point, the end of its period: it tells about the whole span, not one moment.
    """

    time: Any
    signal: str
    ok: bool
    source: str
    detail: str = ""
    until: Any = None

    @property
    def precise(self) -> bool:
        """Whether it is one moment (a CloudTrail call, an ingestion, a state change), not a period."""
        return self.until is None


@dataclass(frozen=True)
class Subject:
    """The flow log whose delivery is observed."""

    flow_log_id: str
    role_arn: str | None
    log_group: str | None
    region: str | None
    status: str | None = None
    error: str | None = None
    status_source: str | None = None
    status_time: Any = None
    resource_id: str | None = None
    created: Any = None
    deleted: Any = None

    def existed_at(self, when: Any) -> bool:
        """Whether the flow log existed at ``when``, as far as the evidence says."""
        return not ((self.created is not None and when < self.created) or (self.deleted is not None and when > self.deleted))


def _nonempty(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def collection_times(evidence: Any) -> dict[str, Any]:
    """Evidence file (as frames name it) -> when it was collected, from the manifest."""
    from flowforensics.evidence.values import parse_time

    root = Path(evidence.path)
    return {
        str(root / entry["path"]): parse_time(entry.get("collected_at"))
        for entry in (evidence.manifest or {}).get("files", [])
    }


def _error_signal(code: Any, message: Any) -> str:
    text = f"{code if isinstance(code, str) else ''} {message if isinstance(message, str) else ''}".lower().replace(" ", "")
    return next((signal for word, signal in ERROR_SIGNALS if word in text), "access-denied")


def _status(evidence: Any, subject: Subject) -> Iterator[Signal]:
    if subject.status in ("FAILED", "SUCCESS"):
        yield Signal(
            subject.status_time,
            "deliver-logs-status",
            subject.status == "SUCCESS",
            subject.status_source or "describe-flow-logs",
            f"DeliverLogsStatus {subject.status}" + (f": {subject.error}" if subject.error else ""),
        )


@dataclass(frozen=True)
class Destination:
    """Where a CloudWatch Logs call went, as far as the call names it (None: not named)."""

    region: str | None
    log_group: str | None
    log_stream: str | None


def destination(event: Any) -> Destination:
    """The region, log group and log stream a CloudWatch Logs event names.

    ``requestParameters`` name them when CloudTrail records them; a refused call often has none,
    and then its ``resources`` or the AccessDenied message name the log stream's ARN.

    Parameters
    ----------
    event : namedtuple
        A row of the ``events`` frame (``itertuples``).

    Returns
    -------
    Destination
    """
    request = parsed(event.request) or {}
    group, stream = request.get("logGroupName"), request.get("logStreamName")
    arns = [item.get("ARN") for item in event.resources or [] if isinstance(item, dict)] if isinstance(
        event.resources, list
    ) else []
    for text in [*arns, event.error_message]:
        found = LOGS_ARN.search(text) if isinstance(text, str) else None
        if found is not None:
            group, stream = group or found.group("group"), stream or found.group("stream")
            break
    return Destination(event.region if _nonempty(event.region) else None, group or None, stream or None)


def _role_log_groups(evidence: Any, subject: Subject) -> set[str]:
    """The log groups the flow logs of the subject's role deliver to, in the subject's region."""
    flow_logs = evidence.flow_logs
    same = flow_logs["role_arn"] == subject.role_arn
    if subject.region:
        same &= flow_logs["region"].isna() | (flow_logs["region"] == subject.region)
    return {group for group in flow_logs.loc[same.fillna(False), "log_group"] if _nonempty(group)}


def _is_subjects(call: Destination, subject: Subject, shared: set[str]) -> bool:
    """Whether a call of the delivery role was made for the subject's flow log.

    The role may deliver for several flow logs: a call belongs to the one whose region and log
    group it names, and, when that flow log records one network interface, whose log stream.
    A call that names no log group belongs to it only if the role delivers nowhere else.
    """
    if call.region and subject.region and call.region != subject.region:
        return False
    if call.log_group is None or subject.log_group is None:
        elsewhere = shared - {subject.log_group}  # the log groups of the role's other flow logs
        return not elsewhere if call.log_group is None else call.log_group not in elsewhere
    if call.log_group != subject.log_group:
        return False
    interface = ENI.search(call.log_stream or "")
    return not (interface and subject.resource_id and subject.resource_id.startswith("eni-")
                and interface.group(0) != subject.resource_id)


def _role_calls(evidence: Any, subject: Subject) -> Iterator[Signal]:
    if not subject.role_arn:
        return
    events = evidence.events
    role_name = subject.role_arn.rsplit("/", 1)[-1]
    by_role = (events["session_issuer"] == subject.role_arn) | events["actor"].str.contains(
        f":assumed-role/{role_name}/", regex=False
    )
    calls = events[by_role.fillna(False) & (events["event_source"] == "logs.amazonaws.com") & events["event_name"].isin(DELIVERY_CALLS)]
    shared = _role_log_groups(evidence, subject)
    for event in calls.itertuples(index=False):
        # The role's calls outside the flow log's life were made for another flow log.
        if not (_is_subjects(destination(event), subject, shared) and subject.existed_at(event.event_time)):
            continue
        if isinstance(event.error_code, str):
            yield Signal(event.event_time, _error_signal(event.error_code, event.error_message), False, event.event_id,
                         f"{event.event_name} refused: {event.error_code} {event.error_message if isinstance(event.error_message, str) else ''}".strip())
        elif event.event_name in DELIVERED_CALLS:
            yield Signal(event.event_time, DELIVERED_CALLS[event.event_name], True, event.event_id,
                         f"{event.event_name} by the role succeeded")


def _assume_role(evidence: Any, subject: Subject) -> Iterator[Signal]:
    if not subject.role_arn:
        return
    events = evidence.events
    calls = events[(events["event_name"] == "AssumeRole") & (events["actor"] == SERVICE) & events["error_code"].notna()]
    for event in calls.itertuples(index=False):
        if subject.region and _nonempty(event.region) and event.region != subject.region:
            continue  # STS records the service's calls in the flow log's region
        if not subject.existed_at(event.event_time):
            continue  # the service assumed the role for another flow log
        if isinstance(event.request, Mapping) and event.request.get("roleArn") == subject.role_arn:
            yield Signal(event.event_time, "assume-role-denied", False, event.event_id,
                         f"{SERVICE} could not assume the role: {event.error_code}")


def _streams(evidence: Any, subject: Subject) -> Iterator[Signal]:
    import pandas as pd

    streams = evidence.log_streams[evidence.log_streams["log_group"] == subject.log_group]
    for stream in streams.itertuples(index=False):
        if pd.notna(stream.last_ingestion):
            yield Signal(stream.last_ingestion, "ingestion", True, stream.source_file, f"lastIngestionTime of {stream.log_stream}")
    stale = pd.Timedelta(minutes=STALE_AFTER_MINUTES)
    for observed_at, seen in streams.dropna(subset=["observed_at", "last_ingestion"]).groupby("observed_at"):
        latest = seen["last_ingestion"].max()
        if observed_at - latest > stale:
            yield Signal(latest + stale, "no-ingestion", False, seen["source_file"].iloc[0],
                         f"no log stream ingested between {latest.isoformat()} and {observed_at.isoformat()}")


@dataclass(frozen=True)
class MetricQuery:
    """What the manifest says of one ``get-metric-data`` file: where its query ended, its periods."""

    end: Any  # EndTime, else the collection time: no data point after the last one up to here
    periods: dict[str, Any]  # query Id -> its Period


def metric_queries(evidence: Any) -> dict[str, MetricQuery]:
    """Evidence file (as frames name it) -> its :class:`MetricQuery`, for collected ``get-metric-data``."""
    import pandas as pd

    from flowforensics.evidence.values import parse_time

    root, found = Path(evidence.path), {}
    for entry in (evidence.manifest or {}).get("files", []):
        parameters = entry.get("parameters") or {}
        if entry.get("operation") != "cloudwatch:GetMetricData":
            continue
        end = parse_time(parameters.get("EndTime")) or parse_time(entry.get("collected_at"))
        periods = {
            query.get("Id"): pd.Timedelta(seconds=(query.get("MetricStat") or {})["Period"])
            for query in parameters.get("MetricDataQueries") or []
            if isinstance((query.get("MetricStat") or {}).get("Period"), int | float)
        }
        found[str(root / entry["path"])] = MetricQuery(pd.Timestamp(end) if end else None, periods)
    return found


def _unnamed_metrics_are_subjects(evidence: Any, subject: Subject) -> bool:
    """Whether metric data that names no log group can only be the subject's.

    ``get-metric-data`` output does not repeat its query's dimensions; without a manifest that
    names them, the data belongs to the subject only when every flow log of the evidence that
    delivers to CloudWatch Logs (the only destination with these metrics) delivers to the
    subject's log group.
    """
    flow_logs = evidence.flow_logs
    to_logs = flow_logs["log_destination_type"].fillna(CLOUDWATCH_LOGS) == CLOUDWATCH_LOGS
    groups = flow_logs.loc[to_logs, "log_group"]
    return bool(subject.log_group) and set(groups.dropna()) == {subject.log_group} and not groups.isna().any()


def _metrics(evidence: Any, subject: Subject) -> Iterator[Signal]:
    import pandas as pd

    metrics = evidence.metrics
    of_group = metrics["log_group"] == subject.log_group
    if _unnamed_metrics_are_subjects(evidence, subject):
        of_group |= metrics["log_group"].isna()
    points = metrics[of_group.fillna(False) & metrics["metric_name"].isin(DELIVERY_METRICS)]
    queries = metric_queries(evidence)
    stale = pd.Timedelta(minutes=STALE_AFTER_MINUTES)
    for (name, source, query_id), series in points.groupby(["metric_name", "source_file", "query_id"], dropna=False):
        # A point without a usable value (NaN or a word in the evidence, emptied on load) is no data point.
        series = series.dropna(subset=["timestamp", "value"]).sort_values("timestamp")
        if not len(series):
            continue
        query = queries.get(source)
        steps = series["timestamp"].diff().dropna()
        period = (query.periods.get(query_id) if query else None) or (
            steps.min() if len(steps) else pd.Timedelta(minutes=DEFAULT_PERIOD_MINUTES)
        )
        previous = None
        for point in series.itertuples(index=False):
            if previous is not None and point.timestamp - previous > 1.5 * period:
                yield Signal(previous + period, "metric-missing", False, point.source_file,
                             f"no {name} data point between {previous.isoformat()} and {point.timestamp.isoformat()}",
                             until=point.timestamp)
            ok = bool(point.value and point.value > 0)
            yield Signal(point.timestamp, "metric" if ok else "metric-zero", ok, point.source_file,
                         f"{name} = {point.value:g} in the period from {point.timestamp.isoformat()}", until=point.timestamp + period)
            previous = point.timestamp
        # GetMetricData omits periods without data: none from the last point to the query's end is
        # delivery stopping, once longer than metrics and flow-log aggregation can lag.
        last = previous + period
        if query is not None and query.end is not None and query.end - last > max(stale, 1.5 * period):
            yield Signal(last, "metric-missing", False, source,
                         f"no {name} data point between {previous.isoformat()} and the query's end {query.end.isoformat()}",
                         until=query.end)


def _alarms(evidence: Any, subject: Subject) -> Iterator[Signal]:
    import pandas as pd

    from flowforensics.evidence.values import parse_time

    alarms = evidence.alarms
    on_group = alarms[(alarms["log_group"] == subject.log_group) & alarms["metric_name"].isin(DELIVERY_METRICS)]
    history = evidence.alarm_history
    changes = history[history["alarm_name"].isin(set(on_group["alarm_name"])) & history["new_state"].isin(["ALARM", "OK"])]
    for change in changes.itertuples(index=False):
        yield Signal(change.timestamp, f"alarm-{change.new_state.lower()}", change.new_state == "OK", change.source_file,
                     f"alarm {change.alarm_name}: {change.old_state} -> {change.new_state}")
        # The data points the alarm evaluated (stateReasonData) are metric data like get-metric-data's.
        reason = ((change.data or {}).get("newState") or {}).get("stateReasonData") or {} if isinstance(change.data, dict) else {}
        period = pd.Timedelta(seconds=reason.get("period") or DEFAULT_PERIOD_MINUTES * 60)
        for point in reason.get("evaluatedDatapoints") or []:
            when, value = parse_time(point.get("timestamp")), point.get("value")
            if when is None or value is None:
                continue
            ok = value > 0
            yield Signal(pd.Timestamp(when), "metric" if ok else "metric-zero", ok, change.source_file,
                         f"alarm {change.alarm_name} evaluated {value:g} in the period from {when.isoformat()}",
                         until=pd.Timestamp(when) + period)


# Every source of delivery signals, in the order they are read.
SIGNAL_SOURCES: tuple[Callable[[Any, Subject], Iterator[Signal]], ...] = (
    _status, _role_calls, _assume_role, _streams, _metrics, _alarms,
)


def _moment(value: Any) -> Any:
    import pandas as pd

    return None if value is None or pd.isna(value) else pd.Timestamp(value)


def subject_of(evidence: Any, flow_log: Any) -> Subject:
    """The :class:`Subject` of one ``flow_logs`` row, with the time its status was read."""
    source = flow_log.get("source_file")
    return Subject(
        flow_log_id=flow_log["flow_log_id"],
        role_arn=flow_log["role_arn"] if _nonempty(flow_log.get("role_arn")) else None,
        log_group=flow_log["log_group"] if _nonempty(flow_log.get("log_group")) else None,
        region=flow_log["region"] if _nonempty(flow_log.get("region")) else None,
        status=flow_log["deliver_logs_status"] if _nonempty(flow_log.get("deliver_logs_status")) else None,
        error=flow_log["deliver_logs_error"] if _nonempty(flow_log.get("deliver_logs_error")) else None,
        status_source=source if _nonempty(source) else None,
        status_time=collection_times(evidence).get(source) if _nonempty(source) else None,
        resource_id=flow_log["resource_id"] if _nonempty(flow_log.get("resource_id")) else None,
        created=_moment(flow_log.get("created")),
        deleted=_moment(flow_log.get("deleted")),
    )


def signals(evidence: Any, subject: Subject) -> list[Signal]:
    """Every delivery signal about ``subject``, timed ones in time order, untimed ones last.

    When CloudWatch Logs throttles the flow log (``Rate limited``, or a throttled call), a new log
    stream does not show delivery working, so it neither ends nor contradicts the failure.
    """
    return list(_signals(evidence, subject))


@per_evidence
def _signals(evidence: Any, subject: Subject) -> tuple[Signal, ...]:
    found = [signal for source in SIGNAL_SOURCES for signal in source(evidence, subject)]
    if subject.error == THROTTLED or any(signal.signal == "rate-limited" for signal in found):
        found = [signal for signal in found if signal.signal not in PERMISSIONS_ONLY]
    timed = sorted((s for s in found if s.time is not None), key=lambda s: (s.time, s.ok))
    return (*timed, *(s for s in found if s.time is None))


ALARM_SIGNALS = ("alarm-alarm", "alarm-ok")


def corroborated(window: dict[str, Any], found: list[Signal]) -> bool:
    """Whether a window rests on more than alarm state changes, or nothing else contradicts them.

    An alarm can flap on its own (missing data, a threshold too tight): a window of alarm changes
    alone stands only when no other signal (the role's calls, the metrics, the log streams) shows
    delivery working within it.
    """
    if any(entry["signal"] not in ALARM_SIGNALS for entry in window["signals"] if entry["signal"] not in ("metric", "ingestion", "delivered", *PERMISSIONS_ONLY)):
        return True
    start, end = window["start"], window["end"]
    open_ended = end is None or end != end  # NaT while still failing
    return not any(
        signal.ok and signal.signal not in ALARM_SIGNALS and signal.time is not None
        and (open_ended or signal.time <= end) and (signal.until or signal.time) >= start
        for signal in found
    )


def failure_windows(found: list[Signal]) -> Any:
    """Failure windows: from the first failure signal to the first success signal after it.

    A metric period with data ends a window only at the period's end (delivery resumed somewhere in
    it, after any refused call it also holds); a window opened by a period without data starts at
    the first refused call inside that period when there is one, which is more precise.

    Returns
    -------
    pandas.DataFrame
        The ``failure_windows`` frame; ``end`` is NaT while the last window is still failing.
    """
    import heapq

    queue = [(s.time, not s.ok, n, s) for n, s in enumerate(found) if s.time is not None]
    heapq.heapify(queue)
    windows: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    while queue:
        when, _, order, signal = heapq.heappop(queue)
        if signal.ok and current is not None and signal.until is not None and when < signal.until:
            heapq.heappush(queue, (signal.until, False, order, signal))  # known resumed only at the period's end
            continue
        if signal.ok and current is None:
            continue
        entry = {"signal": signal.signal, "time": signal.time.isoformat(), "source": signal.source}
        if not signal.ok:
            if current is None:
                current = {"start": when, "end": None, "signals": [], "opened_until": signal.until}
                windows.append(current)
            elif signal.precise and current["opened_until"] is not None and when < current["opened_until"] and not any(
                found_signal["precise"] for found_signal in current["signals"]
            ):
                current["start"] = when
            current["signals"].append({**entry, "precise": signal.precise})
        else:
            current["end"] = when
            current["signals"].append({**entry, "precise": signal.precise})
            current = None
    for window in windows:
        window.pop("opened_until")
        for entry in window["signals"]:
            entry.pop("precise")
    return frame("failure_windows", windows)
