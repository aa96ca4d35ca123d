"""Lay CloudTrail records out as a trail delivers them to S3, for the archive tests."""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from sample_paths import SAMPLES

from flowforensics.evidence.relevance import is_relevant

ORG = "o-a1b2c3d4e5"


def key_of(record: dict[str, Any], part: int = 0) -> str:
    """The key CloudTrail gives the file holding ``record`` (one file per account, region and hour)."""
    account, region, when = record["recipientAccountId"], record["awsRegion"], record["eventTime"]
    day, hour = when[:10].replace("-", "/"), when[11:13]
    stamp = when[:10].replace("-", "") + f"T{hour}05Z"
    return f"AWSLogs/{ORG}/{account}/CloudTrail/{region}/{day}/{account}_CloudTrail_{region}_{stamp}_part{part}.json.gz"


def write_archive(root: Path, records: list[dict[str, Any]], part: int = 0) -> list[Path]:
    """Write ``records`` under ``root`` in AWS's layout; return the files written."""
    files: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        files[key_of(record, part)].append(record)
    written = []
    for key, kept in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(json.dumps({"Records": kept}).encode(), mtime=0))
        written.append(path)
    return written


def noise(like: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Real records that the kept-events rule drops (stratus-red-team's data-plane calls), one per record of
    ``like``, re-stamped with its account, region and time and a new id."""
    pool = [r for path in sorted((SAMPLES / "stratus-red-team").glob("*.json")) for r in json.loads(path.read_text())
            if not is_relevant(r.get("eventSource"), r.get("eventName"), r.get("errorCode"))]
    out = []
    for number, record in enumerate(like):
        clone = json.loads(json.dumps(pool[number % len(pool)]))
        clone.update(eventID=f"00000000-0000-4000-8000-{number:012d}", eventTime=record["eventTime"],
                     awsRegion=record["awsRegion"], recipientAccountId=record["recipientAccountId"])
        out.append(clone)
    return out
