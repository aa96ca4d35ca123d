"""Fixtures of the diagnosis tests: the real CloudTrail samples and the sample incidents, written once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def scenario_folder(tmp_path_factory: pytest.TempPathFactory):
    """Write a sample incident's evidence folder once per session; return its path."""
    from flowforensics.scenarios import write_scenario

    written: dict[str, Path] = {}

    def folder(name: str) -> Path:
        if name not in written:
            written[name] = write_scenario(name, tmp_path_factory.mktemp(name) / name)
        return written[name]

    return folder


@pytest.fixture
def log_group_deleted(tmp_path: Path):
    """Write a folder: a flow log failing with "Access error", and a DeleteLogGroup of its log group by
    mallory, without the record fields named in ``without``; return its path."""

    def write(*without: str) -> Path:
        flow_logs = {"FlowLogs": [{"FlowLogId": "fl-0a1b2c3d4e5f60718", "ResourceId": "vpc-0a1b2c3d", "LogGroupName": "/vpc/flow-logs/prod",
                                   "DeliverLogsPermissionArn": "arn:aws:iam::381492650217:role/flow-logs-role",
                                   "DeliverLogsStatus": "FAILED", "DeliverLogsErrorMessage": "Access error",
                                   "CreationTime": "2024-02-12T16:47:49Z"}]}
        deleted = {"eventVersion": "1.09", "eventSource": "logs.amazonaws.com", "eventName": "DeleteLogGroup", "awsRegion": "eu-west-1",
                   "eventTime": "2024-03-24T10:00:00Z", "eventID": "e-0", "recipientAccountId": "381492650217",
                   "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::381492650217:user/mallory"}, "readOnly": False,
                   "requestParameters": {"logGroupName": "/vpc/flow-logs/prod"}, "responseElements": None}
        (tmp_path / "describe-flow-logs.json").write_text(json.dumps(flow_logs))
        (tmp_path / "trail.json").write_text(json.dumps({"Records": [{k: v for k, v in deleted.items() if k not in without}]}))
        return tmp_path

    return write
