"""Benchmark: CloudTrail LookupEvents planning and pacing against a throttling endpoint.

A fake LookupEvents endpoint on 127.0.0.1 (real HTTP, real botocore) serves a realistic 7-day window:
tens of thousands of events, of which the investigation of one failing flow log needs a few hundred,
and throttles above 2 requests a second per region, as AWS does. The collector plans and runs its
lookups; the baseline, computed in the same run from the endpoint's own index, is the fewest pages
that cover every needed event with one lookup attribute per call.

Goals (issue 5): pages within 1.2x of the fewest, at least 1.8 requests a second sustained per
region, no failed run (no gap, no throttle).

Run: ``.venv/bin/python benchmarks/bench_lookup_events.py [--noise N]``
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from flowforensics.collection import cloudtrail, fleet
from flowforensics.collection.cloudtrail import Subject
from flowforensics.collection.recorder import Recorder
from flowforensics.collection.session import ClientFactory
from flowforensics.evidence.manifest import EvidenceWriter, read_manifest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "fake_cloudtrail", ROOT / "tests" / "collection" / "fake_cloudtrail.py"
)
fake_cloudtrail = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(fake_cloudtrail)  # type: ignore[union-attr]

ACCOUNT = "111122223333"
REGION = "eu-west-1"
ROLE = "flowlogs-delivery"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"
POLICY = f"arn:aws:iam::{ACCOUNT}:policy/flowlogs-deliver"
FLOW_LOG = "fl-0e17aa62a21d4bbfe"
GROUP = "/vpc/flow-logs/prod"
ADMIN = "ops-admin"

# (region, event source, event name, read-only, resources, how many) of the needed events.
NEEDED: tuple[tuple[str, str, str, bool, tuple[tuple[str, str], ...], int], ...] = (
    ("us-east-1", "iam", "PutRolePolicy", False, (("AWS::IAM::Role", ROLE),), 14),
    ("us-east-1", "iam", "UpdateAssumeRolePolicy", False, (("AWS::IAM::Role", ROLE),), 6),
    ("us-east-1", "iam", "GetRole", True, (("AWS::IAM::Role", ROLE),), 40),
    (
        "us-east-1",
        "iam",
        "AttachRolePolicy",
        False,
        (("AWS::IAM::Role", ROLE), ("AWS::IAM::Policy", POLICY)),
        4,
    ),
    ("us-east-1", "iam", "CreatePolicyVersion", False, (("AWS::IAM::Policy", POLICY),), 12),
    ("us-east-1", "iam", "SetDefaultPolicyVersion", False, (("AWS::IAM::Policy", POLICY),), 3),
    (REGION, "ec2", "CreateFlowLogs", False, (("AWS::EC2::FlowLog", FLOW_LOG),), 1),
    (REGION, "logs", "PutRetentionPolicy", False, (("AWS::Logs::LogGroup", GROUP),), 3),
    (REGION, "logs", "CreateLogStream", False, (("AWS::Logs::LogGroup", GROUP),), 24),
    (REGION, "sts", "AssumeRole", True, (("AWS::IAM::Role", ROLE_ARN),), 336),  # every 30 min for 7 days
)
# Noise: what a busy account logs in the same window, with the same names and sources.
NOISE: tuple[tuple[str, str, str, bool, str], ...] = (
    (REGION, "sts", "AssumeRole", True, "AWS::IAM::Role"),
    (REGION, "ec2", "DescribeInstances", True, "AWS::EC2::Instance"),
    (REGION, "logs", "CreateLogStream", False, "AWS::Logs::LogGroup"),
    ("us-east-1", "iam", "GetRole", True, "AWS::IAM::Role"),
    ("us-east-1", "iam", "PutRolePolicy", False, "AWS::IAM::Role"),
    ("us-east-1", "sts", "AssumeRole", True, "AWS::IAM::Role"),
)


def _event(
    rng: random.Random,
    region: str,
    source: str,
    name: str,
    read_only: bool,
    resources: Any,
    end: datetime,
    user: str,
) -> dict[str, Any]:
    moment = end - timedelta(seconds=rng.uniform(60, 7 * 86400 - 60))
    event_id = str(uuid.UUID(int=rng.getrandbits(128)))
    record = {
        "eventVersion": "1.09",
        "eventID": event_id,
        "eventTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": f"{source}.amazonaws.com",
        "eventName": name,
        "awsRegion": region,
        "readOnly": read_only,
        "recipientAccountId": ACCOUNT,
        "userIdentity": {"type": "IAMUser", "userName": user, "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}"},
    }
    return {
        "EventId": event_id,
        "EventName": name,
        "ReadOnly": str(read_only).lower(),
        "EventTime": moment,
        "EventSource": f"{source}.amazonaws.com",
        "Username": user,
        "Resources": [{"ResourceType": kind, "ResourceName": value} for kind, value in resources],
        "CloudTrailEvent": json.dumps(record),
    }


def make_window(
    noise: int, end: datetime, seed: int = 5
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, set[str]]]:
    """The events by region, and the ids of those the investigation needs."""
    rng = random.Random(seed)
    events: dict[str, list[dict[str, Any]]] = {REGION: [], "us-east-1": []}
    needed: dict[str, set[str]] = {REGION: set(), "us-east-1": set()}
    for region, source, name, read_only, resources, count in NEEDED:
        for _ in range(count):
            event = _event(rng, region, source, name, read_only, resources, end, ADMIN)
            events[region].append(event)
            needed[region].add(event["EventId"])
    for n in range(noise):
        region, source, name, read_only, kind = NOISE[n % len(NOISE)]
        resource = f"other-{rng.randrange(400)}"
        user = ADMIN if n % 7 == 0 else f"user-{rng.randrange(40)}"
        events[region].append(_event(rng, region, source, name, read_only, ((kind, resource),), end, user))
    return events, needed


def fewest_pages(fake: Any, region: str, needed: set[str], start: datetime, end: datetime) -> int:
    """The fewest LookupEvents pages that cover ``needed`` in a region, one lookup attribute a call.

    Any single event can be fetched alone by ``EventId`` in one page, so a lookup that costs more
    pages than the needed events it covers is never part of an optimum: the remaining candidates are
    few, and every subset of them is tried, the uncovered events each costing one page.
    """
    by_id = {e["EventId"]: e for e in fake.index_events(region) if e["EventId"] in needed}
    candidates = {}
    for event in by_id.values():
        for key, value in fake_cloudtrail.attributes(event):
            if key == "EventId" or (key, value) in candidates:
                continue
            covered = {e["EventId"] for e in fake.matching(region, key, value, start, end)} & needed
            cost = fake.pages(region, key, value, start, end)
            if cost <= len(covered):
                candidates[(key, value)] = (cost, covered)
    best = len(needed)
    items = list(candidates.values())
    for size in range(1, len(items) + 1):
        for chosen in itertools.combinations(items, size):
            covered = set().union(*(c for _, c in chosen))
            best = min(best, sum(cost for cost, _ in chosen) + len(needed - covered))
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", type=int, default=30000, help="events the investigation does not need")
    options = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "benchmark")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "benchmark")
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - cloudtrail.DEFAULT_WINDOW
    events, needed = make_window(options.noise, end)
    subject = Subject(
        region=REGION,
        flow_log_id=FLOW_LOG,
        log_group=GROUP,
        role_name=ROLE,
        role_arn=ROLE_ARN,
        policy_arns=(POLICY,),
    )
    with fake_cloudtrail.FakeCloudTrail(events) as fake, tempfile.TemporaryDirectory() as folder:
        factory = ClientFactory(boto3.Session(region_name=REGION), endpoint_url=fake.url)
        factory.account = ACCOUNT
        rec = Recorder(EvidenceWriter(folder), factory)
        lookups = cloudtrail.plan([subject])
        by_region: dict[str, list[cloudtrail.Lookup]] = {}
        for lookup in lookups:
            by_region.setdefault(lookup.region, []).append(lookup)
        seen = cloudtrail.EventIds()
        began = time.monotonic()
        fleet.map_regions(lambda r: cloudtrail.lookup_events(rec, by_region[r], start, end, seen), by_region)
        elapsed = time.monotonic() - began
        result = rec.finish()
        collected = {
            e["EventId"]
            for entry in read_manifest(folder)["files"]
            for e in json.loads((Path(folder) / entry["path"]).read_text())["Events"]
        }
        fewest = {region: fewest_pages(fake, region, ids, start, end) for region, ids in needed.items()}
        asked = {region: len(times) for region, times in fake.region_times.items()}
        rates = {
            region: (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else float("nan")
            for region, times in fake.region_times.items()
        }
        naive = sum(
            fake.pages(region, "EventSource", f"{source}.amazonaws.com", start, end)
            for region, sources in ((REGION, ("ec2", "logs", "sts")), ("us-east-1", ("iam",)))
            for source in sources
        )
        throttled = fake.throttled

    total_needed = sum(len(ids) for ids in needed.values())
    missing = total_needed - len(collected & set().union(*needed.values()))
    page_ratio = sum(asked.values()) / sum(fewest.values())
    worst_rate = min(rate for region, rate in rates.items() if asked[region] > 1)
    print(
        f"window: {sum(len(v) for v in events.values())} events, {total_needed} needed by the investigation"
    )
    for region in sorted(asked):
        print(
            f"  {region}: pages asked {asked[region]}, fewest covering {fewest[region]}, "
            f"{rates[region]:.2f} requests/s"
        )
    print(f"pages asked / fewest covering: {page_ratio:.2f}x   (goal <= 1.2x)")
    print(
        f"pages by EventSource instead (the unplanned way): {naive} ({naive / sum(fewest.values()):.1f}x the fewest)"
    )
    print(
        f"sustained requests/s per region: {worst_rate:.2f} / documented 2.0 = {worst_rate / 2.0:.2f}  (goal >= 1.8/s)"
    )
    print(
        f"throttled {throttled}, gaps {result.gaps}, needed events missed {missing}, elapsed {elapsed:.1f} s"
    )
    ok = page_ratio <= 1.2 and worst_rate >= 1.8 and throttled == 0 and result.gaps == 0 and missing == 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
