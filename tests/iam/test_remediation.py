"""Remediation, proven: each IAM root cause gets a fix that the evaluator confirms, as real AWS CLI commands."""

from __future__ import annotations

import json
import shlex

import pytest
from aws_cli import check_cli_command
from iam_states import ACCOUNT, GROUP_ARN, REGION, documented_policy, trust_policy

from flowforensics.analysis.iam import delivery_verdict, propose_fix
from flowforensics.analysis.iam.remediation import trust_admits_only_the_service


def _state_after(healthy: dict, commands: list[str]) -> dict:
    """Apply put-role-policy / update-assume-role-policy / delete-role-permissions-boundary to the state."""
    state = dict(healthy)
    for command in commands:
        options = check_cli_command(command)
        verb = shlex.split(command)[2]
        if verb == "put-role-policy":
            name = options["PolicyName"]
            kept = [p for p in state["identity_policies"] if p[0] != name]
            state["identity_policies"] = [*kept, (name, json.loads(options["PolicyDocument"]))]
        elif verb == "update-assume-role-policy":
            state["trust_policy"] = ("trust", json.loads(options["PolicyDocument"]))
        elif verb == "delete-role-permissions-boundary":
            state["permissions_boundary"] = None
        elif verb == "create-policy-version":
            arn = options["PolicyArn"]
            state["identity_policies"] = [
                (src, json.loads(options["PolicyDocument"]) if src == arn else doc) for src, doc in state["identity_policies"]
            ]
    return state


def test_nothing_to_fix_when_delivery_works(healthy: dict) -> None:
    assert propose_fix(**healthy) is None


def test_missing_permissions_get_a_least_privilege_policy(healthy: dict) -> None:
    healthy["identity_policies"] = [("scoped-wrong", documented_policy(GROUP_ARN))]
    fix = propose_fix(**healthy)
    assert fix is not None
    resources = {r for s in fix.permissions_policy["Statement"] for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])}
    assert resources == {GROUP_ARN, f"{GROUP_ARN}:*", "*"}
    assert len(fix.commands) == 1 and fix.commands[0].startswith("aws iam put-role-policy --role-name flow-logs-delivery ")
    assert fix.trust_policy == {}
    assert delivery_verdict(**_state_after(healthy, fix.commands)).allowed


def test_untrusting_role_gets_the_recommended_trust(healthy: dict) -> None:
    healthy["trust_policy"] = trust_policy(service="ec2.amazonaws.com")
    fix = propose_fix(**healthy)
    assert fix is not None
    condition = fix.trust_policy["Statement"][0]["Condition"]
    assert condition["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert condition["ArnLike"] == {"aws:SourceArn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc-flow-log/*"}
    assert fix.commands[0].startswith("aws iam update-assume-role-policy ")
    assert trust_admits_only_the_service(fix.trust_policy, account_id=ACCOUNT)
    assert delivery_verdict(**_state_after(healthy, fix.commands)).allowed


def test_explicit_deny_statement_is_removed_from_its_policy(healthy: dict) -> None:
    managed = f"arn:aws:iam::{ACCOUNT}:policy/guardrail"
    guard = {"Version": "2012-10-17", "Statement": [
        {"Sid": "KeepS3", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
        {"Sid": "NoLogs", "Effect": "Deny", "Action": "logs:Put*", "Resource": "*"},
    ]}
    healthy["identity_policies"] = [*healthy["identity_policies"], (managed, guard)]
    fix = propose_fix(**healthy)
    assert fix is not None
    assert fix.commands[0].startswith(f"aws iam create-policy-version --policy-arn {managed} ")
    assert [s["Sid"] for s in fix.permissions_policy["Statement"]] == ["KeepS3"]
    assert delivery_verdict(**_state_after(healthy, fix.commands)).allowed


def test_no_commands_for_an_unnamed_denying_policy(healthy: dict) -> None:
    deny = {"Statement": [{"Effect": "Deny", "Action": "logs:*", "Resource": "*"}]}
    healthy["identity_policies"] = [*healthy["identity_policies"], deny]
    assert propose_fix(**healthy) is None


def test_boundary_is_detached(healthy: dict) -> None:
    healthy["permissions_boundary"] = (f"arn:aws:iam::{ACCOUNT}:policy/s3-only",
                                       {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
    fix = propose_fix(**healthy)
    assert fix is not None
    assert fix.commands == ["aws iam delete-role-permissions-boundary --role-name flow-logs-delivery"]


def test_scp_deny_statement_is_removed_by_update_policy(healthy: dict) -> None:
    scp_arn = "arn:aws:organizations::999988887777:policy/o-a1b2c3d4e5/service_control_policy/p-examplepolicy"
    healthy["scp_levels"] = [[("FullAWSAccess", {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
                              (scp_arn, {"Statement": [{"Sid": "NoLogs", "Effect": "Deny", "Action": "logs:*", "Resource": "*"},
                                                       {"Sid": "NoLeave", "Effect": "Deny", "Action": "organizations:LeaveOrganization", "Resource": "*"}]})]]
    fix = propose_fix(**healthy)
    assert fix is not None
    options = check_cli_command(fix.commands[0])
    assert options["PolicyId"] == "p-examplepolicy"
    assert [s["Sid"] for s in json.loads(options["Content"])["Statement"]] == ["NoLeave"]


def test_no_fix_without_an_scp_allow(healthy: dict) -> None:
    healthy["scp_levels"] = [[{"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}]]
    assert propose_fix(**healthy) is None


def test_several_causes_are_fixed_together(healthy: dict) -> None:
    healthy.update(trust_policy=trust_policy(service="ec2.amazonaws.com"), identity_policies=[],
                   permissions_boundary=("b", {"Statement": [{"Effect": "Deny", "Action": "logs:*", "Resource": "*"}]}))
    fix = propose_fix(**healthy)
    assert fix is not None
    verbs = [shlex.split(c)[2] for c in fix.commands]
    assert verbs == ["update-assume-role-policy", "delete-role-permissions-boundary", "put-role-policy"]
    assert delivery_verdict(**_state_after(healthy, fix.commands)).allowed


def test_a_trust_that_admits_others_is_replaced(healthy: dict) -> None:
    shared = trust_policy(conditions=False)
    shared["Statement"].append({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"})
    healthy.update(trust_policy=shared, identity_policies=[])
    fix = propose_fix(**healthy)
    assert fix is not None
    assert fix.trust_policy and trust_admits_only_the_service(fix.trust_policy, account_id=ACCOUNT)


@pytest.mark.parametrize("name", ["it's", "a b", "$(reboot)"])
def test_commands_quote_names_for_posix_shells(healthy: dict, name: str) -> None:
    healthy["identity_policies"] = []
    fix = propose_fix(**healthy, policy_name=name)
    assert fix is not None
    options = check_cli_command(fix.commands[0])
    assert options["PolicyName"] == name
    assert json.loads(options["PolicyDocument"]) == fix.permissions_policy


def test_no_command_modifies_a_flow_log(healthy: dict) -> None:
    healthy.update(trust_policy=None, identity_policies=[])
    fix = propose_fix(**healthy)
    assert fix is not None
    assert all(" ec2 " not in command and "modify" not in command for command in fix.commands)
