"""After a fix: poll, read-only, until the flow log delivers again, and measure how long it took.

Runbooks say the flow-logs service caches the role's credentials for 5 to 15 minutes; the lag this
measures is the real figure: from the fix to the first log-stream ingestion after it, with
``DeliverLogsStatus`` back to ``SUCCESS``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flowforensics.collection import ec2, logs
from flowforensics.collection.recorder import CollectionResult, Recorder
from flowforensics.collection.runner import log_group_of, option_time
from flowforensics.collection.session import ClientFactory, make_session
from flowforensics.errors import CollectionError
from flowforensics.evidence.manifest import MANIFEST_NAME, EvidenceWriter, read_manifest
from flowforensics.evidence.values import iso, parse_time

# CloudTrail sources whose successful write events can be the fix of a delivery failure.
CHANGE_SOURCES = frozenset(
    {"iam.amazonaws.com", "ec2.amazonaws.com", "logs.amazonaws.com", "kms.amazonaws.com"}
)


@dataclass
class WatchResult:
    """What a watch saw.

    Attributes
    ----------
    flow_log_id, region : str
        The flow log watched.
    fix_time : datetime
        The moment the lag is measured from.
    fix_source : str
        Where ``fix_time`` came from: ``--since``, the latest change event in the folder, or the watch start.
    delivery_resumed : datetime or None
        The first log-stream ingestion after the fix, once ``DeliverLogsStatus`` is ``SUCCESS``.
    lag_seconds : float or None
        ``delivery_resumed - fix_time``.
    observations : int
        Polls made (each written to the evidence folder).
    status : str or None
        The last ``DeliverLogsStatus`` seen.
    collection : CollectionResult
        Files and gaps appended to the folder.
    """

    flow_log_id: str
    region: str
    fix_time: datetime
    fix_source: str
    delivery_resumed: datetime | None
    lag_seconds: float | None
    observations: int
    status: str | None
    collection: CollectionResult

    def summary(self) -> str:
        """One line for the terminal."""
        if self.delivery_resumed is None:
            return (
                f"{self.flow_log_id}: delivery has not resumed after {self.observations} observations "
                f"(status {self.status}; fix at {iso(self.fix_time)}, {self.fix_source})"
            )
        return (
            f"{self.flow_log_id}: delivery resumed at {iso(self.delivery_resumed)}, "
            f"{self.lag_seconds:.0f} s after the fix at {iso(self.fix_time)} ({self.fix_source})"
        )


def _manifest(folder: Path) -> dict[str, Any] | None:
    return read_manifest(folder) if (folder / MANIFEST_NAME).is_file() else None


def _files(folder: Path, manifest: dict[str, Any] | None, operation: str) -> list[Any]:
    documents = []
    for entry in (manifest or {}).get("files", []):
        if entry.get("operation") == operation and (folder / entry["path"]).is_file():
            documents.append(json.loads((folder / entry["path"]).read_bytes()))
    return documents


def latest_change(folder: Path, manifest: dict[str, Any] | None) -> datetime | None:
    """The time of the latest successful change event (CloudTrail ``LookupEvents``) in a collected folder."""
    latest = None
    for document in _files(folder, manifest, "cloudtrail:LookupEvents"):
        for event in document.get("Events", []):
            record = json.loads(event.get("CloudTrailEvent") or "{}")
            if record.get("readOnly") is True or record.get("errorCode"):
                continue
            if record.get("eventSource") not in CHANGE_SOURCES:
                continue
            moment = parse_time(record.get("eventTime") or event.get("EventTime"))
            if moment and (latest is None or moment > latest):
                latest = moment
    return latest


def _folder_region(folder: Path, manifest: dict[str, Any] | None, flow_log_id: str) -> str | None:
    entries = [e for e in (manifest or {}).get("files", []) if e.get("operation") == "ec2:DescribeFlowLogs"]
    for entry, document in zip(entries, _files(folder, manifest, "ec2:DescribeFlowLogs"), strict=True):
        if any(item.get("FlowLogId") == flow_log_id for item in document.get("FlowLogs", [])):
            return entry.get("region")
    return None


def watch(
    out: str | os.PathLike[str],
    flow_log_id: str,
    *,
    since: datetime | str | None = None,
    timeout: float = 1800.0,
    interval: float = 30.0,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    session: Any = None,
    clients: Mapping[Any, Any] | None = None,
    clock: Callable[[], datetime] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    echo: Callable[[str], None] | None = None,
) -> WatchResult:
    """Poll a flow log and its log streams until delivery resumes after a fix, or ``timeout``.

    Each poll (``ec2:DescribeFlowLogs`` and ``logs:DescribeLogStreams``) is appended to the evidence
    folder, whose manifest is extended.

    Parameters
    ----------
    out : str or os.PathLike
        The evidence folder (usually the one ``collect`` wrote).
    flow_log_id : str
        The flow log.
    since : datetime or str, optional
        The fix time; by default the latest change event in the folder, else the watch start.
    timeout, interval : float
        Seconds to watch at most, and between polls.
    region : str, optional
        The flow log's region; by default the one the folder's ``DescribeFlowLogs`` found it in,
        else the session's.
    profile, endpoint_url, session, clients :
        As for :func:`flowforensics.collection.collect`.
    clock, sleep : callable, optional
        Now (aware datetime) and a sleep, injectable so tests need no real time.
    echo : callable, optional
        Receives one line per observation.

    Returns
    -------
    WatchResult
        When delivery resumed and the lag, or ``delivery_resumed`` None after the timeout.
    """
    clock = clock or (lambda: datetime.now(UTC))
    folder = Path(out)
    manifest = _manifest(folder)
    started = clock()
    fix, source = option_time(since, "--since"), "--since"
    if fix is None:
        fix, source = latest_change(folder, manifest), "latest change event in the evidence"
    if fix is None:
        fix, source = started, "watch start"
    region = region or _folder_region(folder, manifest, flow_log_id)
    factory = ClientFactory(
        session or make_session(profile, region), region=region, endpoint_url=endpoint_url, clients=clients
    )
    identity = factory.caller_identity()
    writer = EvidenceWriter(folder, clock=clock)
    if not writer.manifest.get("caller_identity"):
        writer.set_caller_identity(identity)
    rec = Recorder(writer, factory)
    deadline = started + timedelta(seconds=timeout)
    observations, status, resumed = 0, None, None
    try:
        while True:
            observations += 1
            found = ec2.describe_flow_logs(rec, factory.region, [flow_log_id])
            if not found:
                # An empty answer means deleted; no answer (a gap) means it could not be read.
                why = "not found" if found is not None else "could not be read (see the manifest's gaps)"
                raise CollectionError(f"{flow_log_id}: {why} by DescribeFlowLogs in {factory.region}")
            status = found[0].get("DeliverLogsStatus")
            group = log_group_of(found[0])
            streams = logs.log_streams(rec, factory.region, group) if group else []
            ingested = [t for s in streams if (t := parse_time(s.get("lastIngestionTime")))]
            after = [t for t in ingested if t > fix]
            if echo:
                newest = iso(max(ingested)) if ingested else "none"
                echo(f"{iso(clock())} {flow_log_id} {status}; newest ingestion {newest}")
            if status == "SUCCESS" and after:
                resumed = min(after)
                break
            if clock() + timedelta(seconds=interval) > deadline:
                break
            sleep(interval)
    finally:
        collection = rec.finish()
    return WatchResult(
        flow_log_id=flow_log_id,
        region=factory.region,
        fix_time=fix,
        fix_source=source,
        delivery_resumed=resumed,
        lag_seconds=(resumed - fix).total_seconds() if resumed else None,
        observations=observations,
        status=status,
        collection=collection,
    )
