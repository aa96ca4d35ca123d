"""Realistic delivery-role states shared by the IAM tests (a module name no other test folder uses)."""

from __future__ import annotations

from typing import Any

ACCOUNT = "111122223333"
REGION = "eu-west-1"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/flow-logs-delivery"
LOG_GROUP = "/vpc/prod/flow-logs"
GROUP_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{LOG_GROUP}"
FLOW_LOG_ARN = f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc-flow-log/fl-0123456789abcdef0"
ACTIONS = [
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "logs:DescribeLogGroups",
    "logs:DescribeLogStreams",
]


def trust_policy(*, conditions: bool = True, service: str = "vpc-flow-logs.amazonaws.com") -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Sid": "FlowLogsAssume",
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if conditions:
        statement["Condition"] = {
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
            "ArnLike": {"aws:SourceArn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc-flow-log/*"},
        }
    return {"Version": "2012-10-17", "Statement": [statement]}


def documented_policy(resource: Any = "*") -> dict[str, Any]:
    """The permissions policy of the VPC User Guide's flow-logs role page."""
    return {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "Delivery", "Effect": "Allow", "Action": list(ACTIONS), "Resource": resource}],
    }
