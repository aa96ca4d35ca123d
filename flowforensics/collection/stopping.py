"""Stopping a run early, boundedly: Ctrl-C, the ``--deadline``, or credentials that stopped working.

Once a run is stopped, no call is sent again: the limiter's wait ends, a retry is not attempted
(a ``before-send`` hook refuses it), and every call the collectors still ask for becomes a gap that
says it was not attempted and why. Calls already waiting for an answer become gaps when the
manifest is written; the caller does not wait for them. The one exception is the stop of a query the
run started (:data:`.readonly.STOPS`): stopping it is part of stopping the run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from flowforensics.collection.readonly import STOPS

# The operations sent even after the run has stopped, as botocore's events name them (``service.Name``).
SENT_AFTER_STOP = frozenset(f"{service}.{name}" for service, name in STOPS)


@dataclass(frozen=True)
class Reason:
    """Why a run stopped: the gap ``kind``, the error code recorded, and one line for the analyst."""

    kind: str  # "interrupted", "deadline" or "credentials"
    code: str
    message: str


class Stopped(botocore.exceptions.BotoCoreError):
    """A call refused because the run has stopped."""

    fmt = "not sent: {message}"


class Stop:
    """The run's stop signal, shared by its threads; the first reason given wins."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self.reason: Reason | None = None

    def set(self, kind: str, code: str, message: str) -> bool:
        """Stop the run; ``False`` when it had already stopped (for an earlier reason, which stays)."""
        with self._lock:
            if self.reason is not None:
                return False
            self.reason = Reason(kind, code, message)
        self._event.set()
        return True

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking when the run stops; ``True`` if it has stopped."""
        return self._event.wait(seconds)

    def refuses(self, operation: str) -> bool:
        """Whether ``operation`` (``service:Name``) may no longer be called: the run has stopped, and it
        is not the stop of a query the run started."""
        return self.reason is not None and operation.replace(":", ".", 1) not in SENT_AFTER_STOP

    def refuse_after_stop(self, event_name: str = "", **_: Any) -> None:
        """A ``before-send`` hook: no attempt, first or retry, is sent once the run has stopped."""
        if self.refuses(event_name.partition(".")[2].replace(".", ":", 1)):
            raise Stopped(message=self.reason.message if self.reason else "")

    def install(self, client: Any) -> None:
        """Guard a client's sends (after the rate limiter's wait, which :meth:`wait` ends early)."""
        client.meta.events.register_last(
            "before-send", self.refuse_after_stop, unique_id=f"flowforensics-stop-{id(self)}"
        )


# Seconds the run's threads get, once stopped, to record what they had left to do as gaps; a thread
# still waiting for an answer then is not waited for (its call is recorded as a gap too).
GRACE = 2.0
# How often the waiting thread wakes to check the deadline.
_TICK = 0.25


def run_bounded(
    function: Callable[[], None],
    stop: Stop,
    deadline: float | None,
    *,
    monotonic: Callable[[], float] = time.monotonic,
) -> None:
    """Run ``function`` in a daemon thread until it ends, the deadline passes, or Ctrl-C.

    The calling thread only waits, so Ctrl-C (``KeyboardInterrupt``, raised in the main thread) and
    the deadline take effect at once, whatever the collection's threads are blocked on.

    Parameters
    ----------
    function : callable
        The run; an exception it raises is raised here.
    stop : Stop
        Set to ``interrupted`` or ``deadline`` when the run is cut short.
    deadline : float or None
        Seconds the whole run may take; ``None`` for no limit.
    monotonic : callable, optional
        The clock the deadline and the elapsed time are read on (tests pass their own).

    Raises
    ------
    KeyboardInterrupt
        Again, after the run was stopped and given :data:`GRACE` seconds to record its gaps.
    """
    errors: list[BaseException] = []
    # The waiting thread waits on this, not on Thread.join: Python 3.11's join, interrupted by Ctrl-C,
    # takes the thread for ended (it releases the lock the running thread holds), and the grace was lost.
    ended = threading.Event()

    def target() -> None:
        try:
            function()
        except BaseException as exc:  # handed to the waiting thread, which raises it
            errors.append(exc)
        finally:
            ended.set()

    # A daemon thread: the process may exit while a call of the stopped run still waits for an answer.
    worker = threading.Thread(target=target, name="collection", daemon=True)
    started = monotonic()
    try:
        worker.start()
        while not ended.is_set():
            left = None if deadline is None else deadline - (monotonic() - started)
            if left is not None and left <= 0:
                stop.set("deadline", "DeadlineExceeded", f"the run's deadline of {duration(deadline)} passed")
                ended.wait(GRACE)
                break
            ended.wait(_TICK if left is None else min(_TICK, left))
    except KeyboardInterrupt:
        elapsed = duration(monotonic() - started)
        stop.set("interrupted", "Interrupted", f"interrupted by the user (Ctrl-C) after {elapsed}")
        ended.wait(GRACE)
        raise
    if errors:
        raise errors[0]


def duration(seconds: float) -> str:
    """Seconds as the analyst reads them: ``45 s``, ``10 min``, ``1 h 30 min``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min" + (f" {rest} s" if rest else "")
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h" + (f" {minutes} min" if minutes else "")


def parse_duration(text: str) -> float | None:
    """``--deadline``'s value: seconds (``90``), or with a unit (``90s``, ``10m``, ``1h``); ``none`` or 0: no limit.

    Raises
    ------
    ValueError
        When ``text`` is not a duration.
    """
    value = text.strip().lower()
    if value == "none":
        return None
    unit = value[-1:] if value[-1:] in _UNITS else "s"
    number = float(value[:-1] if value[-1:] in _UNITS else value)
    if not 0 <= number < float("inf"):
        raise ValueError(f"{text!r} is not a duration")
    return number * _UNITS[unit] or None


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
