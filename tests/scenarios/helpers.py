"""Readers of a written scenario folder, shared by the scenario tests."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any


def manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "manifest.json").read_text())


def payloads(folder: Path, operation: str) -> list[Any]:
    """The parsed files of one operation, in manifest order."""
    return [
        json.loads((folder / entry["path"]).read_text())
        for entry in manifest(folder)["files"]
        if entry["operation"] == operation
    ]


def cloudtrail_records(folder: Path) -> list[dict[str, Any]]:
    """Every CloudTrail record of the folder, from lookup-events pages and S3 log files (duplicates kept)."""
    records = []
    for entry in manifest(folder)["files"]:
        path = folder / entry["path"]
        if entry["operation"] == "cloudtrail:LookupEvents":
            records += [json.loads(event["CloudTrailEvent"]) for event in json.loads(path.read_text())["Events"]]
        elif path.name.endswith(".json.gz"):
            records += json.loads(gzip.decompress(path.read_bytes()))["Records"]
    return records
