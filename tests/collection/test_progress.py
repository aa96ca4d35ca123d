"""The progress bar shows on a terminal only."""

from __future__ import annotations

import io

from flowforensics.collection.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_quiet_when_not_a_tty() -> None:
    stream = io.StringIO()
    bar = Progress(stream)
    bar.add(3)
    bar.step("flow logs eu-west-1")
    bar.close()
    assert stream.getvalue() == ""


def test_a_bar_on_a_terminal() -> None:
    stream = Terminal()
    bar = Progress(stream)
    bar.add(2)
    bar.step("flow logs eu-west-1")
    bar.close()
    assert "/2" in stream.getvalue()  # tqdm redraws at most every 0.1 s: the bar, not every step
