"""watch: poll after a fix until delivery resumes, appending each observation to the evidence folder."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from flowforensics.collection import watch
from flowforensics.evidence.manifest import EvidenceWriter, read_manifest, verify

from .helpers import REGION, lookup_event, sample_records


class FakeTime:
    """A wall clock that moves only when watch sleeps."""

    def __init__(self) -> None:
        self.moment = datetime.now(UTC)
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.moment

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.moment += timedelta(seconds=seconds)


def _last_ingestion(incident: dict[str, Any]) -> datetime:
    """When moto took the incident's log events in: the moment delivery was last seen."""
    logs = boto3.client("logs", region_name=REGION, endpoint_url=incident["endpoint"],
                        aws_access_key_id="testing", aws_secret_access_key="testing")
    streams = logs.describe_log_streams(logGroupName="/vpc/flow-logs/prod")["logStreams"]
    return datetime.fromtimestamp(max(stream["lastIngestionTime"] for stream in streams) / 1000, UTC)


def test_delivery_resumed_after_the_fix_measures_the_lag(incident: dict[str, Any], tmp_path: Path) -> None:
    # The fix is placed 90 s before the ingestion moto recorded, so the lag does not depend on how long
    # the machine took between setting the incident up and this test.
    fix = _last_ingestion(incident) - timedelta(seconds=90)
    lines: list[str] = []

    result = watch(
        tmp_path,
        incident["flow_log_id"],
        since=fix,
        region=REGION,
        endpoint_url=incident["endpoint"],
        echo=lines.append,
    )

    assert result.delivery_resumed is not None and result.status == "SUCCESS"
    assert result.lag_seconds == pytest.approx(90, abs=1)
    assert result.observations == 1 and result.fix_source == "--since"
    assert len(lines) == 1 and incident["flow_log_id"] in lines[0]
    operations = [entry["operation"] for entry in read_manifest(tmp_path)["files"]]
    assert operations == ["ec2:DescribeFlowLogs", "logs:DescribeLogStreams"]
    assert verify(tmp_path) == []
    assert "s after the fix" in result.summary()


def test_no_delivery_before_the_timeout(incident: dict[str, Any], tmp_path: Path) -> None:
    clock = FakeTime()

    result = watch(
        tmp_path,
        incident["flow_log_id"],
        since=clock.now() + timedelta(hours=1),  # no ingestion can be later than this
        timeout=120,
        interval=30,
        region=REGION,
        endpoint_url=incident["endpoint"],
        clock=clock.now,
        sleep=clock.sleep,
    )

    assert result.delivery_resumed is None and result.lag_seconds is None
    assert result.observations == 5 and clock.slept == [30, 30, 30, 30]
    assert len(read_manifest(tmp_path)["files"]) == 10
    assert "has not resumed" in result.summary()


def test_watch_extends_a_collected_folder_and_takes_the_fix_from_its_latest_change(
    incident: dict[str, Any], tmp_path: Path
) -> None:
    records = sample_records("aws.persistence.iam-backdoor-role.json") + sample_records(
        "aws.persistence.iam-create-backdoor-role.json"
    )
    writer = EvidenceWriter(tmp_path)
    writer.write(
        "cloudtrail:LookupEvents", {"Events": [lookup_event(r) for r in records]}, region="us-east-1"
    )
    writer.write(
        "ec2:DescribeFlowLogs", {"FlowLogs": [{"FlowLogId": incident["flow_log_id"]}]}, region=REGION
    )
    writer.close()

    result = watch(tmp_path, incident["flow_log_id"], endpoint_url=incident["endpoint"], region=None)

    latest = max(r["eventTime"] for r in records)
    assert result.fix_time == datetime.fromisoformat(latest.replace("Z", "+00:00"))
    assert result.fix_source == "latest change event in the evidence"
    assert result.region == REGION  # from the folder's DescribeFlowLogs
    manifest = read_manifest(tmp_path)
    assert [e["operation"] for e in manifest["files"]] == [
        "cloudtrail:LookupEvents",
        "ec2:DescribeFlowLogs",
        "ec2:DescribeFlowLogs",
        "logs:DescribeLogStreams",
    ]
    assert verify(tmp_path) == []
    assert (
        json.loads((tmp_path / manifest["files"][2]["path"]).read_text())["FlowLogs"][0]["DeliverLogsStatus"]
        == "SUCCESS"
    )
