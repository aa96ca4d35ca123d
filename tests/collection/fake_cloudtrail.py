"""A CloudTrail ``LookupEvents`` endpoint on 127.0.0.1 that throttles like AWS: above 2 requests a second
per account and region it answers ``ThrottlingException``. Used by the limiter tests and the benchmark.

It speaks the real JSON protocol (botocore serialises and parses every request), pages 50 events at a
time newest first, filters by one lookup attribute and the time window, and counts what it served.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PAGE_SIZE = 50


class FakeClock:
    """Monotonic seconds that only move when someone sleeps: tests share it between client and server."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def attributes(event: dict[str, Any]) -> Iterable[tuple[str, str]]:
    """The lookup attributes an event can be found by."""
    yield "EventName", event["EventName"]
    yield "EventSource", event["EventSource"]
    yield "EventId", event["EventId"]
    yield "ReadOnly", event["ReadOnly"]
    if event.get("Username"):
        yield "Username", event["Username"]
    for resource in event.get("Resources", []):
        yield "ResourceName", resource["ResourceName"]
        yield "ResourceType", resource["ResourceType"]


class FakeCloudTrail:
    """The endpoint.

    Parameters
    ----------
    events : dict of region -> list of LookupEvents entries (``EventTime`` as aware datetimes)
    rate, burst : float
        The server's own token bucket per region: ``rate`` requests a second, ``burst`` at once.
    clock : callable
        Monotonic seconds.
    """

    def __init__(
        self,
        events: dict[str, list[dict[str, Any]]],
        *,
        rate: float = 2.0,
        burst: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.index: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for region, items in events.items():
            for event in sorted(items, key=lambda e: e["EventTime"], reverse=True):
                for key, value in attributes(event):
                    self.index.setdefault((region, key, value), []).append(event)
        self.requests = 0
        self.throttled = 0
        self.served_pages = 0
        self.request_times: list[float] = []
        self.region_times: dict[str, list[float]] = {}
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeCloudTrail:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def index_events(self, region: str) -> list[dict[str, Any]]:
        """Every event of a region, each once."""
        found = {}
        for (where, key, _), events in self.index.items():
            if where == region and key == "EventSource":
                found.update((e["EventId"], e) for e in events)
        return list(found.values())

    def matching(
        self, region: str, key: str, value: str, start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        """The events one lookup returns over a window, newest first."""
        return [e for e in self.index.get((region, key, value), []) if start <= e["EventTime"] <= end]

    def pages(self, region: str, key: str, value: str, start: datetime, end: datetime) -> int:
        """Pages one lookup takes (an empty result still takes one call)."""
        return max(1, math.ceil(len(self.matching(region, key, value, start, end)) / PAGE_SIZE))

    def _admit(self, region: str) -> bool:
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.get(region, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            self.requests += 1
            self.request_times.append(now)
            self.region_times.setdefault(region, []).append(now)
            if tokens < 1:
                self._buckets[region] = (tokens, now)
                self.throttled += 1
                return False
            self._buckets[region] = (tokens - 1, now)
            return True

    def _lookup(self, region: str, request: dict[str, Any]) -> dict[str, Any]:
        [attribute] = request["LookupAttributes"]
        start = datetime.fromtimestamp(request["StartTime"], tz=UTC)
        end = datetime.fromtimestamp(request["EndTime"], tz=UTC)
        found = self.matching(region, attribute["AttributeKey"], attribute["AttributeValue"], start, end)
        offset = int(request.get("NextToken") or 0)
        size = min(PAGE_SIZE, request.get("MaxResults") or PAGE_SIZE)
        page = found[offset : offset + size]
        with self._lock:
            self.served_pages += 1
        answer: dict[str, Any] = {"Events": [e | {"EventTime": e["EventTime"].timestamp()} for e in page]}
        if offset + size < len(found):
            answer["NextToken"] = str(offset + size)
        return answer

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                region = self.headers["Authorization"].split("Credential=")[1].split("/")[2]
                if fake._admit(region):
                    status, answer = 200, fake._lookup(region, body)
                else:
                    status, answer = 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
