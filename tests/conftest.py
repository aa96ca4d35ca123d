"""Shared fixtures: where the third-party CloudTrail samples live."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO.parent / "shared" / "data" / "cloudtrail-samples"


@pytest.fixture(scope="session")
def samples() -> Path:
    """The real CloudTrail samples of ``shared/data`` (read-only)."""
    if not SAMPLES.is_dir():
        pytest.fail(f"the shared CloudTrail samples are missing at {SAMPLES}")
    return SAMPLES
