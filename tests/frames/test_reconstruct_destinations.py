"""Flow logs rebuilt from CreateFlowLogs in every request shape of the EC2 API reference (CreateFlowLogs)."""

from __future__ import annotations

import json

import pytest

import flowforensics

ACCOUNT = "111122223333"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/flow-logs-delivery"
GROUP_ARN = f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/vpc/flow-logs/prod"


def _record(request: dict) -> dict:
    """A CreateFlowLogs record as CloudTrail delivers it (EC2 wraps values in content/tag)."""
    return {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
                         "accountId": ACCOUNT, "userName": "alice"},
        "eventTime": "2024-03-04T08:00:24Z",
        "eventSource": "ec2.amazonaws.com",
        "eventName": "CreateFlowLogs",
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "203.0.113.24",
        "userAgent": "aws-cli/2.15.30",
        "requestParameters": {"CreateFlowLogsRequest": {
            "ResourceId": {"content": "vpc-0a1b2c3d4e5f60718", "tag": 1}, "ResourceType": "VPC",
            "TrafficType": "ALL", **request}},
        "responseElements": {"CreateFlowLogsResponse": {"flowLogIdSet": {"item": "fl-0123456789abcdef0"},
                                                        "requestId": "8a3f1c2e-5b6d-4e7f-8a9b-0c1d2e3f4a5b",
                                                        "unsuccessful": ""}},
        "requestID": "8a3f1c2e-5b6d-4e7f-8a9b-0c1d2e3f4a5b",
        "eventID": "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }


@pytest.mark.parametrize(
    ("request_shape", "kind", "group"),
    [
        ({"LogGroupName": "/vpc/flow-logs/prod", "DeliverLogsPermissionArn": ROLE}, "cloud-watch-logs",
         "/vpc/flow-logs/prod"),
        ({"LogDestinationType": "cloud-watch-logs", "LogDestination": GROUP_ARN, "DeliverLogsPermissionArn": ROLE},
         "cloud-watch-logs", "/vpc/flow-logs/prod"),
        ({"LogDestinationType": "cloud-watch-logs", "LogDestination": GROUP_ARN + ":*",
          "DeliverLogsPermissionArn": ROLE}, "cloud-watch-logs", "/vpc/flow-logs/prod"),
        # LogDestinationType defaults to cloud-watch-logs
        ({"LogDestination": GROUP_ARN, "DeliverLogsPermissionArn": ROLE}, "cloud-watch-logs", "/vpc/flow-logs/prod"),
        ({"LogDestinationType": "s3", "LogDestination": "arn:aws:s3:::flow-log-bucket/prod/"}, "s3", None),
        ({"LogDestinationType": "kinesis-data-firehose",
          "LogDestination": f"arn:aws:firehose:eu-west-1:{ACCOUNT}:deliverystream:flow-logs",
          "DeliverCrossAccountRole": ROLE}, "kinesis-data-firehose", None),
    ],
)
def test_the_log_group_of_every_create_flow_logs_shape(tmp_path, request_shape, kind, group) -> None:
    path = tmp_path / "trail.json"
    path.write_text(json.dumps({"Records": [_record(request_shape)]}))
    (flow_log,) = flowforensics.load(path).flow_logs.to_dict("records")
    assert flow_log["flow_log_id"] == "fl-0123456789abcdef0"
    assert flow_log["log_destination_type"] == kind
    assert (flow_log["log_group"] if isinstance(flow_log["log_group"], str) else None) == group
    assert flow_log["log_destination"] == request_shape.get("LogDestination")


def test_a_log_destination_only_flow_log_is_diagnosed_against_its_log_group(tmp_path) -> None:
    from flowforensics.analysis.diagnosis import diagnose

    path = tmp_path / "trail.json"
    path.write_text(json.dumps({"Records": [_record({"LogDestinationType": "cloud-watch-logs",
                                                     "LogDestination": GROUP_ARN,
                                                     "DeliverLogsPermissionArn": ROLE})]}))
    (entry,) = diagnose(flowforensics.load(path)).flow_logs
    assert (entry.log_group, entry.role_arn, entry.region) == ("/vpc/flow-logs/prod", ROLE, "eu-west-1")
