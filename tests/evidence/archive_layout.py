"""Lay CloudTrail records out as a trail delivers them to S3, for the archive tests."""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sample_paths import SAMPLES

from flowforensics.evidence.relevance import is_relevant

ORG = "o-a1b2c3d4e5"
ORG_ACCOUNT, PREFIXED_ACCOUNT, PLAIN_ACCOUNT = "111122223333", "444455556666", "777788889999"


def key_of(record: dict[str, Any], part: int = 0, delay: timedelta = timedelta(minutes=5), org: str | None = ORG) -> str:
    """The key CloudTrail gives the file holding ``record``: one file per account, region and hour, filed
    under the UTC day and time of its delivery, ``delay`` after the hour of its events."""
    account, region = record["recipientAccountId"], record["awsRegion"]
    hour = datetime.strptime(record["eventTime"][:13], "%Y-%m-%dT%H")
    delivered = hour + delay
    folder = f"AWSLogs/{org}/{account}" if org else f"AWSLogs/{account}"
    return (f"{folder}/CloudTrail/{region}/{delivered:%Y/%m/%d}/"
            f"{account}_CloudTrail_{region}_{delivered:%Y%m%dT%H%MZ}_part{part}.json.gz")


def write_archive(root: Path, records: list[dict[str, Any]], part: int = 0, **key: Any) -> list[Path]:
    """Write ``records`` under ``root`` in AWS's layout (``key``: :func:`key_of`'s options); return the files written."""
    files: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        files[key_of(record, part, **key)].append(record)
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


def spread(records: list[dict[str, Any]], accounts: tuple[str, ...], start: datetime, every: timedelta) -> list[dict[str, Any]]:
    """Copies of ``records`` one ``every`` apart from ``start``, their accounts in turn from ``accounts``,
    with new ids: an archive of many days and accounts from a few real records."""
    out = []
    for number, record in enumerate(records):
        clone = json.loads(json.dumps(record))
        clone.update(eventID=f"10000000-0000-4000-8000-{number:012d}",
                     eventTime=f"{start + number * every:%Y-%m-%dT%H:%M:%SZ}",
                     recipientAccountId=accounts[number % len(accounts)])
        out.append(clone)
    return out


def write_trail_bucket(root: Path, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What an organisation's trail bucket holds, from a few real records: copies of them five hours
    apart from 2024-01-30 for an account of the organisation, one under the trail's S3 key prefix
    ``custom-prefix/``, and one with its own trail (no organisation), each file delivered 40 minutes
    after its hour (the events of 23:00 filed under the next day); beside them a digest, another
    service's logs, a note, a day that is not a date. Returns the records written."""
    unique = sorted({r["eventID"]: r for r in records}.values(), key=lambda r: r["eventTime"])
    copies = spread(unique, (ORG_ACCOUNT, PREFIXED_ACCOUNT, PLAIN_ACCOUNT), datetime(2024, 1, 30, 0, 30, tzinfo=UTC),
                    timedelta(hours=5, minutes=7))
    of = {account: [r for r in copies if r["recipientAccountId"] == account] for account in (ORG_ACCOUNT, PREFIXED_ACCOUNT, PLAIN_ACCOUNT)}
    delay = timedelta(minutes=40)
    write_archive(root, of[ORG_ACCOUNT], delay=delay)
    write_archive(root / "custom-prefix", of[PREFIXED_ACCOUNT], delay=delay)
    write_archive(root, of[PLAIN_ACCOUNT], delay=delay, org=None)
    beside = {
        f"AWSLogs/{PLAIN_ACCOUNT}/CloudTrail-Digest/us-east-1/2024/02/01/digest.json.gz": b"{}",
        f"AWSLogs/{ORG}/{ORG_ACCOUNT}/vpcflowlogs/eu-west-1/2024/02/01/flows.log.gz": b"",
        "AWSLogs/README.txt": b"not a log",
        f"AWSLogs/{ORG}/{ORG_ACCOUNT}/CloudTrail/eu-west-1/2024/02/30/x.json.gz": b'{"Records": []}',
    }
    for key, data in beside.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(gzip.compress(data, mtime=0))
    return copies
