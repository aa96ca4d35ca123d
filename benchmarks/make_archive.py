"""Generate a CloudTrail archive in AWS's S3 layout from the real samples shipped in tests/data.

``AWSLogs/o-ORG/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_XXXX.json.gz``,
each file ``{"Records": [...]}`` as CloudTrail delivers it. Every record is a real third-party record
(stratus-red-team, panther, the AWS CLI example) with a new ``eventID``, ``requestID``, ``eventTime``,
account and region. As in a real organisation trail most records are noise the investigation does not
need (data-plane reads, describes); ``RELEVANT_SHARE`` of them are of the kept kind (IAM, STS...).

Needles: records an investigation must find (flow-log deletion, trail stopped, role policy changes,
AccessDenied of any service), with ids listed in ``needles.json`` beside ``AWSLogs/``. Deterministic
for a given size. Nothing here is committed: the corpus is made on demand.

Run: ``.venv/bin/python benchmarks/make_archive.py OUT_DIR [RECORDS]`` (default 300,000).
"""

from __future__ import annotations

import gzip
import json
import random
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flowforensics.evidence.relevance import is_relevant

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "data" / "cloudtrail-samples"
ORG = "o-a1b2c3d4e5"
ACCOUNTS = ("111122223333", "444455556666", "777788889999")
REGIONS = ("eu-west-1", "us-east-1")
RECORDS_PER_FILE = 2_500
RELEVANT_SHARE = 0.04
NEEDLES = 60
START = datetime(2025, 6, 1, tzinfo=UTC)
FILE_SPAN = timedelta(minutes=5)


def _templates() -> list[dict[str, Any]]:
    records: list[Any] = []
    for path in sorted((SAMPLES / "stratus-red-team").glob("*.json")):
        records += json.loads(path.read_text())
    records += json.loads((SAMPLES / "panther" / "panther_rule_tests_cloudtrail.json").read_text())["Records"]
    lookup = json.loads((SAMPLES / "aws-cli" / "lookup-events.example.json").read_text())["Events"]
    records += [json.loads(event["CloudTrailEvent"]) for event in lookup]
    return [r for r in records if isinstance(r, dict) and isinstance(r.get("eventSource"), str)
            and isinstance(r.get("eventName"), str) and not any(k.startswith("p_") for k in r)]


def _own_accounts(record: dict[str, Any]) -> set[str]:
    identity = record.get("userIdentity") if isinstance(record.get("userIdentity"), dict) else {}
    found = {record.get("recipientAccountId"), identity.get("accountId")}
    return {a for a in found if isinstance(a, str) and len(a) == 12 and a.isdigit()}


def _by_account(templates: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Each template serialised once per generated account, its own account ids replaced in every string."""
    out = {}
    for account in ACCOUNTS:
        texts = []
        for template in templates:
            text = json.dumps(template)
            for old in _own_accounts(template):
                text = text.replace(old, account)
            texts.append(text)
        out[account] = texts
    return out


def _stamp(record: dict[str, Any], rng: random.Random, account: str, region: str, when: datetime) -> dict[str, Any]:
    record["eventID"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    record["requestID"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    record["eventTime"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    record["awsRegion"] = region
    record["recipientAccountId"] = account
    identity = record.get("userIdentity")
    if isinstance(identity, dict) and "accountId" in identity:
        identity["accountId"] = account
    return record


def generate(out: Path, total: int = 300_000, seed: int = 10) -> dict[str, Any]:
    """Write the archive under ``out``; return what was written (files, records, bytes, needle ids)."""
    rng = random.Random(seed)
    templates = _templates()
    kept = [i for i, t in enumerate(templates) if is_relevant(t["eventSource"], t["eventName"], t.get("errorCode"))]
    noise = [i for i, t in enumerate(templates) if i not in set(kept)]
    texts = _by_account(templates)
    files = max(1, -(-total // RECORDS_PER_FILE))
    needle_slots = set(rng.sample(range(total), min(NEEDLES, total)))
    needles: list[dict[str, str]] = []
    written = compressed = 0
    for number in range(files):
        account = ACCOUNTS[number % len(ACCOUNTS)]
        region = REGIONS[(number // len(ACCOUNTS)) % len(REGIONS)]
        begins = START + FILE_SPAN * (number // (len(ACCOUNTS) * len(REGIONS)))
        count = min(RECORDS_PER_FILE, total - written)
        records = []
        for index in range(written, written + count):
            needle = index in needle_slots
            pool = kept if needle or rng.random() < RELEVANT_SHARE else noise
            record = json.loads(texts[account][rng.choice(pool)])
            when = begins + timedelta(seconds=rng.uniform(0, FILE_SPAN.total_seconds()))
            records.append(_stamp(record, rng, account, region, when))
            if needle:
                needles.append({"eventID": record["eventID"], "eventName": record["eventName"],
                                "eventSource": record["eventSource"], "errorCode": record.get("errorCode")})
        records.sort(key=lambda r: r["eventTime"])
        folder = out / "AWSLogs" / ORG / account / "CloudTrail" / region / begins.strftime("%Y/%m/%d")
        folder.mkdir(parents=True, exist_ok=True)
        tag = "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", k=16))
        name = f"{account}_CloudTrail_{region}_{(begins + FILE_SPAN).strftime('%Y%m%dT%H%MZ')}_{tag}.json.gz"
        data = gzip.compress(json.dumps({"Records": records}, separators=(",", ":")).encode(), compresslevel=6, mtime=0)
        (folder / name).write_bytes(data)
        written += count
        compressed += len(data)
    summary = {"files": files, "records": written, "compressed_bytes": compressed, "needles": needles}
    (out / "needles.json").write_text(json.dumps(summary, indent=1))
    return summary


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = Path(sys.argv[1])
    total = int(sys.argv[2]) if len(sys.argv) > 2 else 300_000
    summary = generate(out, total)
    print(f"{summary['records']:,} records in {summary['files']} files "
          f"({summary['compressed_bytes'] / 1e6:.0f} MB compressed), {len(summary['needles'])} needles -> {out}")


if __name__ == "__main__":
    main()
