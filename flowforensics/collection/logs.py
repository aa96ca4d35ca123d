"""CloudWatch Logs: the flow log's log group and its streams (``lastIngestionTime`` per stream)."""

from __future__ import annotations

from typing import Any

from flowforensics.collection.recorder import Recorder


def log_groups(rec: Recorder, region: str, name: str) -> list[dict[str, Any]] | None:
    """``logs:DescribeLogGroups`` for the group's name: the groups named so or longer; ``None`` if unreadable (a gap)."""
    response = rec.fetch("logs:DescribeLogGroups", {"logGroupNamePrefix": name}, region=region)
    return None if response is None else response.get("logGroups", [])


def find(groups: list[dict[str, Any]] | None, name: str) -> dict[str, Any] | None:
    """The group named ``name`` among :func:`log_groups`' answer, or ``None``."""
    return next((g for g in groups or [] if g.get("logGroupName") == name), None)


def log_streams(rec: Recorder, region: str, name: str) -> list[dict[str, Any]]:
    """``logs:DescribeLogStreams`` of a group, the most recently written first."""
    response = rec.fetch(
        "logs:DescribeLogStreams",
        {"logGroupName": name, "orderBy": "LastEventTime", "descending": True},
        region=region,
    )
    return (response or {}).get("logStreams", [])
