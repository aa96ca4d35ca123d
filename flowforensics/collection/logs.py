"""CloudWatch Logs: the flow log's log group and its streams (``lastIngestionTime`` per stream)."""

from __future__ import annotations

from typing import Any

from flowforensics.collection.recorder import Recorder


def log_group(rec: Recorder, region: str, name: str) -> dict[str, Any] | None:
    """``logs:DescribeLogGroups`` for the group's name; the group itself, or ``None`` if absent or unreadable."""
    response = rec.fetch("logs:DescribeLogGroups", {"logGroupNamePrefix": name}, region=region)
    return next((g for g in (response or {}).get("logGroups", []) if g.get("logGroupName") == name), None)


def log_streams(rec: Recorder, region: str, name: str) -> list[dict[str, Any]]:
    """``logs:DescribeLogStreams`` of a group, the most recently written first."""
    response = rec.fetch(
        "logs:DescribeLogStreams",
        {"logGroupName": name, "orderBy": "LastEventTime", "descending": True},
        region=region,
    )
    return (response or {}).get("logStreams", [])
