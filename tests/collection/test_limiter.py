"""The LookupEvents rate limiter: against a fake endpoint that throttles above 2 requests a second."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from flowforensics.collection import cloudtrail
from flowforensics.collection.limiter import RateLimiters, TokenBucket
from flowforensics.collection.recorder import Recorder
from flowforensics.collection.session import ClientFactory
from flowforensics.evidence.manifest import EvidenceWriter, read_manifest

from .fake_cloudtrail import FakeClock, FakeCloudTrail
from .helpers import ACCOUNT, REGION, window


def _events(count: int, resource: str, end: Any) -> list[dict[str, Any]]:
    return [
        {
            "EventId": f"00000000-0000-0000-0000-{n:012d}",
            "EventName": "AssumeRole",
            "EventSource": "sts.amazonaws.com",
            "ReadOnly": "true",
            "EventTime": end - timedelta(minutes=10 * n + 1),
            "Resources": [{"ResourceType": "AWS::IAM::Role", "ResourceName": resource}],
            "CloudTrailEvent": "{}",
        }
        for n in range(count)
    ]


def test_bucket_spaces_requests_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2.0, clock=clock.monotonic, sleep=clock.sleep)
    started = clock.monotonic()

    waits = [bucket.acquire() for _ in range(5)]

    assert waits == [0.0, 0.5, 0.5, 0.5, 0.5]
    assert clock.monotonic() - started == pytest.approx(2.0)


def test_bucket_serves_threads_in_turn() -> None:
    bucket = TokenBucket(400.0)
    started = time.monotonic()
    threads = [threading.Thread(target=lambda: [bucket.acquire() for _ in range(10)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 40 tokens at 400 a second, the first free: at least 39/400 s, whichever thread took them.
    assert time.monotonic() - started >= 39 / 400 - 1e-3


def _run(tmp_path: Path, fake: FakeCloudTrail, limiters: RateLimiters) -> Any:
    factory = ClientFactory(boto3.Session(region_name=REGION), endpoint_url=fake.url, limiters=limiters)
    factory.account = ACCOUNT
    rec = Recorder(EvidenceWriter(tmp_path), factory)
    start, end = window()
    lookups = [
        cloudtrail.Lookup(REGION, "ResourceName", name, "") for name in ("busy-role", "a", "b", "c", "d")
    ]
    cloudtrail.lookup_events(rec, lookups, start, end, cloudtrail.EventIds())
    return rec.finish()


def test_limiter_keeps_lookups_under_the_endpoint_throttle(tmp_path: Path) -> None:
    clock = FakeClock()
    _, end = window()
    with FakeCloudTrail({REGION: _events(120, "busy-role", end)}, clock=clock.monotonic) as fake:
        started = clock.monotonic()
        result = _run(tmp_path, fake, RateLimiters(clock=clock.monotonic, sleep=clock.sleep))
        elapsed = clock.monotonic() - started

    assert fake.throttled == 0
    assert fake.requests == result.pages == 3 + 4  # 120 events: 3 pages; four empty lookups
    assert result.events == 120 and result.gaps == 0
    assert elapsed == pytest.approx((fake.requests - 1) / 2.0)
    gaps = [b - a for a, b in zip(fake.request_times, fake.request_times[1:], strict=False)]
    assert min(gaps) == pytest.approx(0.5)


def test_without_the_limiter_the_endpoint_throttles_and_the_run_records_gaps(tmp_path: Path) -> None:
    clock = FakeClock()
    _, end = window()
    with FakeCloudTrail({REGION: _events(120, "busy-role", end)}, clock=clock.monotonic) as fake:
        result = _run(tmp_path, fake, RateLimiters({}, clock=clock.monotonic, sleep=clock.sleep))

    assert fake.throttled > 0
    assert result.gaps == fake.throttled  # one attempt per call (AWS_MAX_ATTEMPTS=1): each throttle a gap
    assert {g["error_code"] for g in read_manifest(tmp_path)["gaps"]} == {"ThrottlingException"}


def test_buckets_are_per_account_and_region() -> None:
    limiters = RateLimiters()
    east = limiters.bucket(ACCOUNT, "us-east-1", "cloudtrail:LookupEvents")
    assert limiters.bucket(ACCOUNT, "us-east-1", "cloudtrail:LookupEvents") is east
    assert limiters.bucket(ACCOUNT, REGION, "cloudtrail:LookupEvents") is not east
    assert limiters.bucket("210987654321", "us-east-1", "cloudtrail:LookupEvents") is not east
    assert east.rate == 2.0
