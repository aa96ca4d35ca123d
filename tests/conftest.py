"""Shared fixtures: the third-party CloudTrail samples copied into ``tests/data``."""

from __future__ import annotations

from pathlib import Path

import pytest
from sample_paths import SAMPLES


@pytest.fixture(scope="session")
def samples() -> Path:
    """The real CloudTrail samples of ``tests/data/cloudtrail-samples`` (read-only)."""
    if not SAMPLES.is_dir():
        pytest.fail(f"the CloudTrail samples are missing at {SAMPLES}")
    return SAMPLES
