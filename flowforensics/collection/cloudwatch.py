"""CloudWatch: alarms on the log group's metrics, their history, and the log group's incoming metrics."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flowforensics.collection.recorder import Recorder

LOG_GROUP_METRICS = ("IncomingLogEvents", "IncomingBytes")
# CloudWatch keeps 1-minute data 15 days, 5-minute data 63 days, hourly data 455 days: the finest
# period still stored for the window's start.
METRIC_PERIODS: tuple[tuple[timedelta, int], ...] = (
    (timedelta(days=15), 60),
    (timedelta(days=63), 300),
    (timedelta(days=455), 3600),
)


def describe_alarms(rec: Recorder, region: str) -> list[dict[str, Any]]:
    """``cloudwatch:DescribeAlarms`` of a region (metric alarms)."""
    response = rec.fetch("cloudwatch:DescribeAlarms", {"AlarmTypes": ["MetricAlarm"]}, region=region)
    return (response or {}).get("MetricAlarms", [])


def _log_groups_of(alarm: dict[str, Any]) -> set[str]:
    dimensions = list(alarm.get("Dimensions") or [])
    for query in alarm.get("Metrics") or []:  # metric-math alarms name their metrics here
        dimensions += ((query.get("MetricStat") or {}).get("Metric") or {}).get("Dimensions") or []
    return {d.get("Value") for d in dimensions if d.get("Name") == "LogGroupName"}


def alarms_on_log_group(alarms: list[dict[str, Any]], log_group: str) -> list[str]:
    """Names of the alarms watching a metric of ``log_group``."""
    return [alarm["AlarmName"] for alarm in alarms if log_group in _log_groups_of(alarm)]


def alarm_history(rec: Recorder, region: str, alarm_name: str, start: datetime, end: datetime) -> None:
    """``cloudwatch:DescribeAlarmHistory`` of one alarm over the window."""
    rec.fetch(
        "cloudwatch:DescribeAlarmHistory",
        {"AlarmName": alarm_name, "StartDate": start, "EndDate": end},
        region=region,
    )


def metric_period(start: datetime, now: datetime) -> int:
    """The finest period (seconds) CloudWatch still stores for data as old as ``start``."""
    age = now - start
    return next((period for limit, period in METRIC_PERIODS if age <= limit), METRIC_PERIODS[-1][1])


def metric_data(
    rec: Recorder, region: str, log_group: str, start: datetime, end: datetime, now: datetime
) -> None:
    """``cloudwatch:GetMetricData`` for the log group's ``IncomingLogEvents`` and ``IncomingBytes`` sums."""
    period = metric_period(start, now)
    queries = [
        {
            "Id": name[0].lower() + name[1:],
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/Logs",
                    "MetricName": name,
                    "Dimensions": [{"Name": "LogGroupName", "Value": log_group}],
                },
                "Period": period,
                "Stat": "Sum",
            },
            "ReturnData": True,
        }
        for name in LOG_GROUP_METRICS
    ]
    rec.fetch(
        "cloudwatch:GetMetricData",
        {"MetricDataQueries": queries, "StartTime": start, "EndTime": end, "ScanBy": "TimestampAscending"},
        region=region,
    )
