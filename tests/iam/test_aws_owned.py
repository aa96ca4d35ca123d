"""The fix proposer never edits what AWS owns: service-linked and AWS-reserved roles, AWS managed policies and key aliases."""

from __future__ import annotations

from typing import Any

import pytest
from iam_states import ACCOUNT, LOG_GROUP, REGION

from flowforensics.analysis.fixes import FlowLogFacts, fix_for
from flowforensics.analysis.iam import propose_fix
from flowforensics.analysis.iam.remediation import edited_resources, edits_aws_owned
from flowforensics.analysis.iam.rules import owned_by_aws

SLR = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/elasticloadbalancing.amazonaws.com/AWSServiceRoleForElasticLoadBalancing"
SSO = f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123456789abcdef"
DENY_LOGS = {"Version": "2012-10-17", "Statement": [{"Sid": "NoLogs", "Effect": "Deny", "Action": "logs:*", "Resource": "*"}]}


@pytest.mark.parametrize(
    ("arn", "owned"),
    [
        ("arn:aws:iam::aws:policy/AdministratorAccess", True),
        ("arn:aws:iam::aws:policy/service-role/AmazonEC2RoleforSSM", True),
        (SLR, True),
        (SSO, True),
        (f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/aws/logs", True),
        (f"arn:aws:iam::{ACCOUNT}:policy/flow-logs-delivery", False),
        (f"arn:aws:iam::{ACCOUNT}:role/flow-logs-delivery", False),
        (f"arn:aws:iam::{ACCOUNT}:role/service-role/flow-logs", False),
        (f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/flow-logs", False),
    ],
)
def test_aws_owned_patterns(arn: str, owned: bool) -> None:
    assert (owned_by_aws(arn) is not None) == owned


@pytest.mark.parametrize("role", [SLR, SSO])
def test_no_fix_is_proposed_for_a_role_aws_owns(role: str, healthy: dict[str, Any]) -> None:
    broken = {**healthy, "role_arn": role, "identity_policies": [("flow-logs-delivery", DENY_LOGS)]}
    assert propose_fix(**broken) is None
    # the same state on a customer role is fixed, so the refusal is the ownership alone
    assert propose_fix(**{**broken, "role_arn": healthy["role_arn"]}) is not None


def test_an_aws_managed_policy_that_denies_is_detached_never_edited(healthy: dict[str, Any]) -> None:
    managed = "arn:aws:iam::aws:policy/AWSDenyAll"
    fix = propose_fix(**{**healthy, "identity_policies": [*healthy["identity_policies"], (managed, DENY_LOGS)]})
    assert fix is not None
    assert any(command.startswith("aws iam detach-role-policy") and managed in command for command in fix.commands)
    assert edits_aws_owned(fix.commands, healthy["role_arn"]) is None


def test_a_role_recreated_under_a_service_linked_path_is_not_proposed() -> None:
    facts = FlowLogFacts("fl-0123456789abcdef0", REGION, ACCOUNT, SLR, LOG_GROUP)
    assert fix_for("role-deleted", facts).commands == []


def test_the_key_policy_of_an_aws_managed_key_alias_is_not_edited() -> None:
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/aws/logs"
    facts = FlowLogFacts("fl-0123456789abcdef0", REGION, ACCOUNT, None, LOG_GROUP, kms_key_id=key,
                         key_policy={"Version": "2012-10-17", "Statement": []})
    assert fix_for("kms-key-denied", facts).commands == []


def test_edited_resources_reads_the_commands() -> None:
    commands = [
        "aws iam put-role-policy --role-name flow-logs-delivery --policy-name p --policy-document '{}'",
        "aws iam create-policy-version --policy-arn arn:aws:iam::aws:policy/X --policy-document '{}' --set-as-default",
        "aws logs create-log-group --log-group-name /vpc/flow",
    ]
    role = f"arn:aws:iam::{ACCOUNT}:role/flow-logs-delivery"
    assert edited_resources(commands, role) == [role, "arn:aws:iam::aws:policy/X"]
    assert edits_aws_owned(commands, role) == "arn:aws:iam::aws:policy/X"
