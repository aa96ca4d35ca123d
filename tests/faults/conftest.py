"""The fault suite's shared folder (one sample incident, written once) and its figures.

Every test that feeds the tool a hostile input records what it tried in ``figures``; run the suite with
``FLOWFORENSICS_FAULT_FIGURES=FILE`` to have the figures appended to FILE as JSON lines, and
``python -m tests.faults.figures FILE`` to sum them (the numbers in the README's reliability section).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

from flowforensics.scenarios import write_scenario


@pytest.fixture(scope="session")
def incident(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete evidence folder (permission removed from the delivery role), never modified."""
    return write_scenario("permission-removed", tmp_path_factory.mktemp("incident") / "permission-removed")


@pytest.fixture
def copy_of(incident: Path, tmp_path: Path):
    """A fresh copy of the incident to add hostile files to."""

    def make(name: str = "evidence") -> Path:
        return Path(shutil.copytree(incident, tmp_path / name, symlinks=True))

    return make


def digest_tree(root: Path) -> dict[str, str]:
    """SHA-256 of every regular file under ``root`` (links and special files are not followed)."""
    found = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                found[os.fsencode(path.relative_to(root)).hex()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


class Figures(Counter):
    """Inputs tried, faults injected, records lost, evidence files changed, payloads executed, hangs."""

    def evidence_unchanged(self, before: dict[str, str], root: Path) -> None:
        after = digest_tree(root)
        self["evidence files checked"] += len(before)
        self["evidence files changed"] += sum(1 for key, value in before.items() if after.get(key) != value)


@pytest.fixture
def figures(request: pytest.FixtureRequest):
    counts = Figures()
    yield counts
    target = os.environ.get("FLOWFORENSICS_FAULT_FIGURES")
    if target and counts:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"test": request.node.nodeid, **counts}) + "\n")
