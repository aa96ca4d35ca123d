"""CloudTrail ``LookupEvents``, planned: the fewest pages that still cover the investigation.

``LookupEvents`` takes one lookup attribute per call and returns 50 events a page. Looking up by
``ResourceName`` (the role, its policies, the flow log, the log group) fetches only the events on the
investigation's resources, where ``EventSource`` or ``EventName`` would page through the whole
account's noise. IAM is global, so its events are in us-east-1; flow-log, logs and STS events are in
the flow log's region.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flowforensics.collection.recorder import Recorder
from flowforensics.errors import CollectionError
from flowforensics.evidence.values import iso

IAM_EVENTS_REGION = "us-east-1"
DEFAULT_WINDOW = timedelta(days=7)
MAX_LOOKBACK = timedelta(days=90)

# Subject field -> (where its events are, why it is looked up). "iam": IAM_EVENTS_REGION;
# "home": the flow log's region.
LOOKUP_PLAN: tuple[tuple[str, str, str], ...] = (
    ("role_name", "iam", "IAM changes to the delivery role (trust, inline and attached policies, boundary)"),
    ("policy_arns", "iam", "new versions of the role's customer-managed policies"),
    ("flow_log_id", "home", "CreateFlowLogs and DeleteFlowLogs of the flow log"),
    ("log_group", "home", "CloudWatch Logs changes to the log group"),
    ("role_arn", "home", "sts:AssumeRole of the role by vpc-flow-logs.amazonaws.com"),
)


@dataclass(frozen=True)
class Subject:
    """What one investigation is about: a flow log and its resources (any may be unknown)."""

    region: str
    flow_log_id: str | None = None
    log_group: str | None = None
    role_name: str | None = None
    role_arn: str | None = None
    policy_arns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Lookup:
    """One planned ``LookupEvents`` result set."""

    region: str
    key: str
    value: str
    reason: str

    def parameters(self, start: datetime, end: datetime) -> dict[str, Any]:
        """The call's parameters over a window."""
        return {
            "LookupAttributes": [{"AttributeKey": self.key, "AttributeValue": self.value}],
            "StartTime": start,
            "EndTime": end,
        }


def window(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """The lookup window: ``end`` defaults to now, ``start`` to 7 days before ``end``.

    Raises
    ------
    CollectionError
        When the window is empty or reaches back more than the 90 days CloudTrail keeps.
    """
    end = end or now
    start = start or end - DEFAULT_WINDOW
    if start >= end:
        raise CollectionError(f"--start {iso(start)} is not before --end {iso(end)}")
    if start < now - MAX_LOOKBACK:
        raise CollectionError(
            f"--start {iso(start)} is more than 90 days ago: CloudTrail LookupEvents reaches back 90 days "
            "(use the trail's S3 archive for older events)"
        )
    return start, end


def plan(subjects: list[Subject]) -> list[Lookup]:
    """One ``ResourceName`` lookup per distinct resource of the subjects, in :data:`LOOKUP_PLAN` order."""
    lookups: dict[tuple[str, str], Lookup] = {}
    for field_name, where, reason in LOOKUP_PLAN:
        for subject in subjects:
            value = getattr(subject, field_name)
            region = IAM_EVENTS_REGION if where == "iam" else subject.region
            for item in value if isinstance(value, tuple) else (value,):
                if item:
                    lookups.setdefault((region, item), Lookup(region, "ResourceName", item, reason))
    return list(lookups.values())


class EventIds:
    """The event ids already written in a run (thread-safe): each event is written once."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def new(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The events not seen before, in order; marks them seen."""
        with self._lock:
            fresh = []
            for event in events:
                if event["EventId"] not in self._seen:
                    self._seen.add(event["EventId"])
                    fresh.append(event)
            return fresh


def lookup_events(
    rec: Recorder, lookups: list[Lookup], start: datetime, end: datetime, seen: EventIds
) -> None:
    """Run lookups (all pages each) and write one ``Events`` file per lookup.

    An event already written by an earlier lookup of the run is not written again (counted in
    ``duplicate_events``); a lookup that finds nothing still writes its empty result, evidence that
    nothing happened. Throttling is absorbed by the rate limiter and botocore's retries; a throttle
    that outlasts them, or a denied lookup, becomes a gap and the other lookups go on.
    """
    for lookup in lookups:
        parameters = lookup.parameters(start, end)
        kept = rec.reuse("cloudtrail:LookupEvents", parameters, region=lookup.region)
        if isinstance(kept, dict) and isinstance(kept.get("Events"), list):
            # Resuming: the lookup's file is intact; its events count as written.
            fresh = seen.new([e for e in kept["Events"] if isinstance(e, dict) and "EventId" in e])
            with rec.lock:
                rec.result.events += len(fresh)
            continue
        response = rec.fetch("cloudtrail:LookupEvents", parameters, region=lookup.region, save=False)
        if response is None:
            continue
        events = response.get("Events", [])
        fresh = seen.new(events)
        rec.save("cloudtrail:LookupEvents", {"Events": fresh}, parameters=parameters, region=lookup.region)
        with rec.lock:
            rec.result.events += len(fresh)
            rec.result.duplicate_events += len(events) - len(fresh)
