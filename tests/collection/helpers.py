"""Helpers of the collection tests: the moto account, third-party CloudTrail samples, Stubber-driven clients."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.stub import Stubber
from sample_paths import SAMPLES

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's account

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        }
    ],
}


def delivery_policy(group: str, actions: list[str]) -> dict[str, Any]:
    """A delivery policy scoped to one log group."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": actions,
                "Resource": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:*",
            }
        ],
    }


def lookup_event(record: dict[str, Any]) -> dict[str, Any]:
    """A LookupEvents entry for a CloudTrail record, as the API gives it."""
    return {
        "EventId": record["eventID"],
        "EventName": record["eventName"],
        "ReadOnly": str(record.get("readOnly", False)).lower(),
        "EventTime": datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00")),
        "EventSource": record["eventSource"],
        "Username": record.get("userIdentity", {}).get("userName", ""),
        "Resources": [],
        "CloudTrailEvent": json.dumps(record),
    }


def sample_records(name: str) -> list[dict[str, Any]]:
    """The records of one third-party sample file (stratus-red-team)."""
    return json.loads((SAMPLES / "stratus-red-team" / name).read_text())


def stubbed(service: str, region: str) -> tuple[Any, Stubber]:
    """A client of ``service`` driven by a botocore Stubber (which checks shapes against the model)."""
    client = boto3.Session(region_name=region).client(service, region_name=region)
    stubber = Stubber(client)
    stubber.activate()
    return client, stubber


def window(days: int = 7) -> tuple[datetime, datetime]:
    """A fixed-width window ending now."""
    end = datetime.now(UTC).replace(microsecond=0)
    return end - timedelta(days=days), end


def recorder(folder: Path, clients: dict[Any, Any]) -> Any:
    """A Recorder over injected clients, for one collector at a time."""
    from flowforensics.collection.recorder import Recorder
    from flowforensics.collection.session import ClientFactory
    from flowforensics.evidence.manifest import EvidenceWriter

    factory = ClientFactory(boto3.Session(region_name=REGION), clients=clients)
    factory.account = ACCOUNT
    return Recorder(EvidenceWriter(folder), factory)
