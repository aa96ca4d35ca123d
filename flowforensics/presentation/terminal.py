"""Text that is safe to show on a terminal or in a spreadsheet, whatever the evidence holds.

Evidence is attacker-controlled: an actor ARN, a role name or an error message can carry escape
sequences (set the window title, write the clipboard, hide text), carriage returns and newlines that
forge lines of the report, or bidirectional overrides that show text in another order. Two layers keep
them out:

- ``for_terminal`` shows every such character as a visible escape (``\\x1b``, ``\\n``, ``\\u202e``). Human
  output passes each evidence-derived value through it, so one value is always one line.
- ``terminal_safe_streams`` is the safety net of the command line: whatever reaches ``sys.stdout`` or
  ``sys.stderr`` has its escape and other control characters shown the same way, keeping only the line
  breaks, tabs and carriage returns that the tool itself writes (its JSON is ASCII-escaped by ``json``).

``for_spreadsheet`` neutralises CSV cells that a spreadsheet would run as a formula (OWASP, CSV injection).
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterator
from typing import Any, TextIO

# Characters that change what a terminal shows rather than being shown: C0 and C1 controls, DEL, and the
# Unicode line separators and bidirectional controls (Trojan Source, CVE-2021-42574). And lone surrogates
# (JSON's "\ud800"), which no encoding can write: printing one would stop the output.
_INVISIBLE = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x200E, 0x200F, *range(0x202A, 0x202F),
              *range(0x2066, 0x206A), 0x2028, 0x2029, *range(0xD800, 0xE000)]
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(codepoint: int) -> str:
    char = chr(codepoint)
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{codepoint:02x}" if codepoint < 0x100 else f"\\u{codepoint:04x}"


_VALUE_TABLE = {codepoint: _escape(codepoint) for codepoint in _INVISIBLE}
# The stream net keeps the layout characters the tool writes itself.
_STREAM_TABLE = {codepoint: text for codepoint, text in _VALUE_TABLE.items() if chr(codepoint) not in _NAMED}

# A spreadsheet runs a cell beginning with one of these as a formula or a command.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def for_terminal(value: Any) -> str:
    """Return ``value`` as one line of text with every control character shown as a visible escape.

    Parameters
    ----------
    value
        Any value taken from evidence (``None`` becomes an empty string).

    Returns
    -------
    str
        The text, with C0/C1 controls, DEL, line separators, bidirectional controls and lone surrogates
        escaped (``\\x1b``, ``\\n``, ``\\u202e``, ``\\ud800``), so that it can neither move the cursor nor
        start a new line, and can always be written.
    """
    if value is None:
        return ""
    return str(value).translate(_VALUE_TABLE)


def for_spreadsheet(value: Any) -> Any:
    """Return a CSV cell that a spreadsheet shows as text instead of running it.

    Parameters
    ----------
    value
        A cell's value; only strings are changed.

    Returns
    -------
    Any
        A string beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
        apostrophe (the OWASP recommendation) and its control characters escaped; other values unchanged.
    """
    if not isinstance(value, str):
        return value
    text = for_terminal(value)
    return f"'{text}" if value.startswith(_FORMULA_STARTS) else text


class TerminalSafeWriter(io.TextIOBase):
    """A text stream that shows control characters written to it as visible escapes.

    Line breaks, tabs and carriage returns pass, since the tool's own layout and progress bars use them;
    everything else that a terminal would interpret (ESC, C1, bidirectional controls) is escaped.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(text.translate(_STREAM_TABLE))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", "utf-8")


@contextlib.contextmanager
def terminal_safe_streams() -> Iterator[None]:
    """Route ``sys.stdout`` and ``sys.stderr`` through :class:`TerminalSafeWriter` for the ``with`` block."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = TerminalSafeWriter(sys.stdout), TerminalSafeWriter(sys.stderr)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
