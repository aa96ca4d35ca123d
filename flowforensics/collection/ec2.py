"""EC2: the flow logs themselves, and which regions the account has enabled."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flowforensics.collection.recorder import Recorder

# DescribeRegions OptInStatus values of a region the account can use.
ENABLED_OPT_IN = frozenset({"opt-in-not-required", "opted-in"})


def describe_flow_logs(
    rec: Recorder, region: str, flow_log_ids: Sequence[str] = ()
) -> list[dict[str, Any]] | None:
    """``ec2:DescribeFlowLogs`` in one region: the given ids, or every flow log when none are given.

    Returns
    -------
    list of dict or None
        The ``FlowLogs`` found (empty when none); ``None`` when the call became a gap, so that
        "could not be read" is never taken for "not found".
    """
    parameters = {"FlowLogIds": list(flow_log_ids)} if flow_log_ids else {}
    response = rec.fetch("ec2:DescribeFlowLogs", parameters, region=region)
    return None if response is None else response.get("FlowLogs", [])


def region_opt_in(rec: Recorder) -> dict[str, str] | None:
    """Every region with its ``OptInStatus`` (``ec2:DescribeRegions --all-regions``), or ``None`` if unreadable."""
    response = rec.fetch("ec2:DescribeRegions", {"AllRegions": True}, save=False)
    if response is None:
        return None
    return {
        item["RegionName"]: item.get("OptInStatus", "opt-in-not-required") for item in response["Regions"]
    }
