"""Fixtures of the diagnosis tests: the real CloudTrail samples and the sample incidents, written once."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def scenario_folder(tmp_path_factory: pytest.TempPathFactory):
    """Write a sample incident's evidence folder once per session; return its path."""
    from flowforensics.scenarios import write_scenario

    written: dict[str, Path] = {}

    def folder(name: str) -> Path:
        if name not in written:
            written[name] = write_scenario(name, tmp_path_factory.mktemp(name) / name)
        return written[name]

    return folder
