"""A progress bar for long collections on a terminal; silent when stderr is not a TTY."""

from __future__ import annotations

import sys
import threading
from typing import IO, Any

from tqdm import tqdm


class Progress:
    """Steps of a collection whose number grows as it discovers work (regions, flow logs, lookups).

    Parameters
    ----------
    stream : file, optional
        Where the bar goes; ``sys.stderr`` by default. tqdm disables itself when it is not a TTY.
    enabled : bool, optional
        Force the bar on or off; ``None`` (default) decides by the TTY.
    """

    def __init__(self, stream: IO[str] | None = None, *, enabled: bool | None = None) -> None:
        stream = stream or sys.stderr
        disable = None if enabled is None else not enabled
        self._bar: Any = tqdm(
            total=0, unit="step", file=stream, disable=disable, leave=False, dynamic_ncols=True
        )
        self._lock = threading.Lock()
        self._calls = 0

    def add(self, steps: int) -> None:
        """Announce more steps."""
        with self._lock:
            self._bar.total += steps
            self._bar.refresh()

    def step(self, description: str) -> None:
        """One step done."""
        with self._lock:
            self._bar.set_description_str(description, refresh=False)
            self._bar.update(1)

    def note(self, call: str) -> None:
        """An API call answered (or recorded as a gap): shown beside the bar."""
        with self._lock:
            self._calls += 1
            self._bar.set_postfix_str(f"{self._calls} calls, last {call}")

    def close(self) -> None:
        """Remove the bar."""
        self._bar.close()
