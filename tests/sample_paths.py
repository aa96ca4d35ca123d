"""Where the third-party CloudTrail samples live: copied into the repository with their licences."""

from __future__ import annotations

from pathlib import Path

SAMPLES = Path(__file__).resolve().parent / "data" / "cloudtrail-samples"
