"""Every scenario is written once per session; the tests read the folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowforensics.scenarios import SCENARIOS, write_scenario


@pytest.fixture(scope="session")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("scenarios")
    return {name: write_scenario(name, root / name) for name in SCENARIOS}
