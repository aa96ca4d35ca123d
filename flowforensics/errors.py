"""Errors a user sees: one line, naming the file and the reason."""

from __future__ import annotations

import os


class FlowForensicsError(Exception):
    """Base class of the errors reported to the user as one line, without a traceback."""


class EvidenceError(FlowForensicsError):
    """A file of evidence (or a request) that cannot be used.

    Parameters
    ----------
    path : str or os.PathLike
        The file at fault.
    reason : str
        Why, in a few words a user can act on.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class CollectionError(FlowForensicsError):
    """Live collection could not start (no credentials, a bad region, a refused call)."""


class UsageError(FlowForensicsError):
    """A command-line argument that is not what its option takes (exit status 2, as argparse's own)."""
