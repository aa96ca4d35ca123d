"""Client-side rate limits: a token bucket per account, region and operation.

CloudTrail ``LookupEvents`` allows 2 requests a second per account and region; above that it answers
``ThrottlingException``. The bucket paces every HTTP attempt (it hooks ``before-send``, which botocore
emits for retries too), and botocore's standard or adaptive retries remain underneath for the throttles
that other clients of the same account cause.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

# IAM action -> documented requests a second per account and region.
DOCUMENTED_RATES: dict[str, float] = {"cloudtrail:LookupEvents": 2.0}


class TokenBucket:
    """A thread-safe token bucket that makes callers wait for their turn.

    Parameters
    ----------
    rate : float
        Tokens added per second (the sustained requests a second).
    burst : float, default 1
        Tokens the bucket holds; 1 spaces requests evenly, never exceeding ``rate`` in any window.
    clock, sleep : callable, optional
        Monotonic seconds and a sleep function, injectable so tests need no real time.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = burst
        self._last = clock()
        self._lock = threading.Lock()
        self.waited = 0.0

    def acquire(self) -> float:
        """Take one token, sleeping until it is due; return the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            # A negative balance is a queue of reservations: each caller sleeps until its own slot,
            # outside the lock, so threads sharing the bucket are served in order.
            self._tokens -= 1.0
            wait = max(0.0, -self._tokens / self.rate)
            self.waited += wait
        if wait:
            self._sleep(wait)
        return wait


class RateLimiters:
    """The buckets of one collection run, one per (account, region, action) with a documented rate.

    Parameters
    ----------
    rates : dict, optional
        IAM action -> requests a second; :data:`DOCUMENTED_RATES` by default.
    clock, sleep : callable, optional
        Passed to every bucket.
    """

    def __init__(
        self,
        rates: dict[str, float] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rates = DOCUMENTED_RATES if rates is None else rates
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[tuple[str | None, str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def bucket(self, account: str | None, region: str, action: str) -> TokenBucket:
        """The bucket of an account, region and action (created on first use)."""
        key = (account, region, action)
        with self._lock:
            if key not in self._buckets:
                self._buckets[key] = TokenBucket(self.rates[action], clock=self._clock, sleep=self._sleep)
            return self._buckets[key]

    def install(self, client: Any, account: str | None, region: str) -> None:
        """Pace a client's rate-limited operations with this run's buckets (before every HTTP attempt)."""
        service = client.meta.service_model.service_name
        event_service = client.meta.service_model.service_id.hyphenize()
        for action in self.rates:
            prefix, _, operation = action.partition(":")
            if prefix != service:
                continue
            bucket = self.bucket(account, region, action)

            def wait_turn(bucket: TokenBucket = bucket, **_: Any) -> None:
                bucket.acquire()

            client.meta.events.register(f"before-send.{event_service}.{operation}", wait_turn)
