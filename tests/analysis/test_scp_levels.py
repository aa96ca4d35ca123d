"""SCPs collected with the level they are attached at: every level must allow on its own."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

import flowforensics
from flowforensics.analysis.history import role_history
from flowforensics.analysis.verdicts import scp_levels
from flowforensics.evidence.manifest import EvidenceWriter

ACCOUNT, REGION = "444455556666", "eu-west-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/flow-logs-delivery"
GROUP = "/vpc/flow-logs/main"
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
PERMISSIONS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups", "logs:DescribeLogStreams", "logs:CreateLogGroup"], "Resource": "*"}]}
FULL_ACCESS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
# An OU that allow-lists services: logs is not among them.
ALLOW_LIST = {"Version": "2012-10-17", "Statement": [{"Sid": "OnlyStorage", "Effect": "Allow", "Action": ["s3:*", "ec2:*"], "Resource": "*"}]}


def _scp(policy_id: str, name: str, document: dict) -> dict:
    return {"Policy": {"PolicySummary": {"Id": policy_id, "Arn": f"arn:aws:organizations::111111111111:policy/o-abc/service_control_policy/{policy_id}",
                                         "Name": name, "Type": "SERVICE_CONTROL_POLICY", "AwsManaged": policy_id == "p-FullAWSAccess"},
                       "Content": json.dumps(document)}}


@pytest.fixture
def folder(tmp_path):
    writer = EvidenceWriter(tmp_path / "ev", clock=lambda: datetime(2025, 6, 1, 12, tzinfo=UTC))
    writer.write("iam:GetAccountAuthorizationDetails", {"RoleDetailList": [{
        "RoleName": "flow-logs-delivery", "RoleId": "AROAEXAMPLEEXAMPLE001", "Arn": ROLE, "Path": "/",
        "CreateDate": "2025-01-01T00:00:00Z", "AssumeRolePolicyDocument": TRUST,
        "RolePolicyList": [{"PolicyName": "deliver", "PolicyDocument": PERMISSIONS}], "AttachedManagedPolicies": []}], "Policies": []},
        account=ACCOUNT)
    root = [{"TargetId": "r-ab12", "TargetType": "ROOT", "Level": 0}]
    workloads = [{"TargetId": "ou-ab12-workload", "TargetType": "ORGANIZATIONAL_UNIT", "Level": 1}]
    account = [{"TargetId": ACCOUNT, "TargetType": "ACCOUNT", "Level": 2}]
    writer.write("organizations:DescribePolicy", _scp("p-FullAWSAccess", "FullAWSAccess", FULL_ACCESS),
                 parameters={"PolicyId": "p-FullAWSAccess", "AppliesTo": root + account})
    writer.write("organizations:DescribePolicy", _scp("p-allowlist1", "storage-only", ALLOW_LIST),
                 parameters={"PolicyId": "p-allowlist1", "AppliesTo": workloads})
    writer.close()
    return tmp_path / "ev"


def test_scps_are_evaluated_level_by_level(folder):
    evidence = flowforensics.load(folder)
    assert evidence.policies.loc[evidence.policies["policy_type"] == "scp", "applies_to"].map(len).sort_values().tolist() == [1, 2]
    history = role_history(evidence, ROLE)
    levels = scp_levels(history.snapshots[-1])
    assert [[policy_id for policy_id, _ in level] for level in levels] == [["p-FullAWSAccess"], ["p-allowlist1"], ["p-FullAWSAccess"]]


def test_an_ou_allow_list_without_logs_denies_delivery(folder):
    from flowforensics.analysis.verdicts import Target, state_verdict

    evidence = flowforensics.load(folder)
    snapshot = role_history(evidence, ROLE).snapshots[-1]
    verdict = state_verdict(snapshot, Target(ROLE, GROUP, REGION, ACCOUNT))
    assert (verdict.allowed, verdict.root_cause) == (False, "scp-deny")
