"""Fleet triage: which regions to walk, and walking them in parallel (threads, one client per region)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from flowforensics.collection import ec2
from flowforensics.collection.recorder import Recorder

T = TypeVar("T")
MAX_WORKERS = 8  # regions in flight at once: each has its own endpoints and CloudTrail rate limit


def resolve_regions(rec: Recorder, regions: str | Sequence[str] | None) -> list[str]:
    """The regions to visit.

    Parameters
    ----------
    regions : "all", a list of names, a comma-separated string, or None
        ``None``: the run's region. ``"all"``: every region the account has enabled
        (``ec2:DescribeRegions``). Named regions that are not enabled become gaps.

    Returns
    -------
    list of str
        Region names, in the order given (sorted for ``"all"``).
    """
    home = rec.factory.region
    if regions is None:
        return [home]
    names = [r.strip() for r in regions.split(",")] if isinstance(regions, str) else list(regions)
    names = [name for name in names if name]
    opt_in = ec2.region_opt_in(rec)
    if names == ["all"]:
        if opt_in is None:
            rec.skip(f"the enabled regions could not be listed: only {home} was visited")
            return [home]
        return sorted(name for name, status in opt_in.items() if status in ec2.ENABLED_OPT_IN)
    enabled = []
    for name in dict.fromkeys(names):
        status = None if opt_in is None else opt_in.get(name, "unknown region")
        if status is None or status in ec2.ENABLED_OPT_IN:
            enabled.append(name)
        else:
            rec.note_gap(
                "ec2:DescribeFlowLogs",
                error_code="RegionNotEnabled",
                error_message=f"{name} is not enabled for this account ({status})",
                parameters={},
                region=name,
            )
    return enabled


def map_regions(function: Callable[[str], T], regions: Iterable[str]) -> dict[str, T]:
    """Run ``function(region)`` for every region in parallel threads; results by region.

    An exception in any region (a refused write) propagates after the others finish.
    """
    regions = list(regions)
    if len(regions) <= 1:
        return {region: function(region) for region in regions}
    pending: queue.SimpleQueue[str] = queue.SimpleQueue()
    for region in regions:
        pending.put(region)
    results: dict[str, T] = {}
    errors: list[BaseException] = []

    def work() -> None:
        while True:
            try:
                region = pending.get_nowait()
            except queue.Empty:
                return
            try:
                results[region] = function(region)
            except BaseException as exc:  # raised by the caller once every region is done
                errors.append(exc)

    # Daemon threads, not a ThreadPoolExecutor (whose threads the interpreter joins at exit): a run
    # stopped by Ctrl-C or its deadline must not wait for a call blocked on an unresponsive endpoint.
    threads = [
        threading.Thread(target=work, name=f"region-{n}", daemon=True)
        for n in range(min(MAX_WORKERS, len(regions)))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return {region: results[region] for region in regions}
