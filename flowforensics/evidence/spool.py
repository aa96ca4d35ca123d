"""The kept CloudTrail records' JSON text, held off the Python heap.

A load of an archive keeps tens of thousands of records. Held as ``bytes`` objects, their text would be
most of the load's memory, and grow with the archive, although the analysis never reads it: only a
user opening an event's ``record`` does. A :class:`TextSpool` holds the texts one after another in one
buffer up to a size, then in an anonymous temporary file, which the system removes when the spool is
closed or collected. Each text is read back by its position, when asked for.
"""

from __future__ import annotations

import tempfile
import threading
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, overload

# Below this, the texts stay in memory: a folder of evidence opens no file.
IN_MEMORY = 4 << 20


class TextSpool:
    """Byte strings appended once and read back by position.

    Parameters
    ----------
    in_memory : int, optional
        Bytes held in memory (default :data:`IN_MEMORY`); past them, everything moves to an anonymous
        temporary file.
    """

    def __init__(self, in_memory: int | None = None) -> None:
        self._in_memory = IN_MEMORY if in_memory is None else in_memory
        self._buffer = bytearray()
        self._file: IO[bytes] | None = None
        self._size = 0
        self._reading = False
        self._lock = threading.Lock()  # the file has one position, shared by appends and reads

    def extend(self, texts: Iterable[bytes]) -> SpooledTexts:
        """Append ``texts``, one after another; they are read back through the result."""
        with self._lock:
            bounds = array("q", [self._size])
            for text in texts:
                bounds.append(self._write(text))
        return SpooledTexts(self, bounds)

    def append(self, text: bytes) -> tuple[int, int]:
        """Append one text; where it lies: (start, end)."""
        with self._lock:
            start = self._size
            return start, self._write(text)

    def _write(self, text: bytes) -> int:
        if self._file is None:
            self._buffer += text
            if len(self._buffer) > self._in_memory:
                self._file = tempfile.TemporaryFile(prefix="flowforensics-records-")
                self._file.write(self._buffer)
                self._buffer = bytearray()
        else:
            if self._reading:  # a read moved the position; a seek would flush every write
                self._file.seek(0, 2)
                self._reading = False
            self._file.write(text)
        self._size += len(text)
        return self._size

    def read(self, start: int, end: int) -> bytes:
        """The bytes from ``start`` to ``end``."""
        with self._lock:
            if self._file is None:
                return bytes(self._buffer[start:end])
            self._reading = True
            self._file.seek(start)
            return self._file.read(end - start)

    @property
    def on_disk(self) -> bool:
        """Whether the texts have moved to the temporary file."""
        return self._file is not None


class SpooledTexts(Sequence[bytes]):
    """Texts appended to a spool one after another: text ``i`` is its bytes ``bounds[i]:bounds[i + 1]``."""

    __slots__ = ("spool", "bounds")

    def __init__(self, spool: TextSpool, bounds: array[int]) -> None:
        self.spool = spool
        self.bounds = bounds

    def __len__(self) -> int:
        return len(self.bounds) - 1

    @overload
    def __getitem__(self, index: int) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...
    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        start, end = self.span(index)
        return self.spool.read(start, end)

    def span(self, index: int) -> tuple[int, int]:
        """Where text ``index`` lies in the spool: (start, end)."""
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("text index out of range")
        return self.bounds[index], self.bounds[index + 1]

    def __iter__(self) -> Iterator[bytes]:
        return (self[i] for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        # Equal to any sequence of the same texts, spooled or a list: what they hold, not where.
        if not isinstance(other, (SpooledTexts, list, tuple)):
            return NotImplemented
        return len(self) == len(other) and all(mine == theirs for mine, theirs in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # compared by content, like the list it stands for

    def __repr__(self) -> str:
        return f"<{len(self)} texts in a spool>"
