"""Remediation, proven: each IAM root cause gets a fix that the evaluator confirms, as real AWS CLI commands."""

from __future__ import annotations

import json
import shlex

import pytest
from aws_cli import check_cli_command
from iam_states import ACCOUNT, GROUP_ARN, REGION, documented_policy, trust_policy

from flowforensics.analysis.iam import delivery_verdict, evaluate, propose_fix
from flowforensics.analysis.iam.remediation import scp_guard_kept, trust_admits_only_the_service

SCP_ARN = "arn:aws:organizations::999988887777:policy/o-a1b2c3d4e5/service_control_policy/p-examplepolicy"
FULL_ACCESS = ("FullAWSAccess", {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
BOUNDARY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/s3-only"
S3_ONLY = {"Version": "2012-10-17", "Statement": [{"Sid": "S3", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
ANOTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/another-role"


def _state_after(healthy: dict, commands: list[str]) -> dict:
    """Apply the IAM and Organizations commands of a fix to the state, as AWS would."""
    state = dict(healthy)
    created: dict[str, dict] = {}
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
        elif verb == "create-policy":
            created[f"arn:aws:iam::{ACCOUNT}:policy/{options['PolicyName']}"] = json.loads(options["PolicyDocument"])
        elif verb == "put-role-permissions-boundary":
            arn = options["PermissionsBoundary"]
            state["permissions_boundary"] = (arn, created[arn])
        elif verb == "create-policy-version":
            arn, document = options["PolicyArn"], json.loads(options["PolicyDocument"])
            state["identity_policies"] = [(src, document if src == arn else doc) for src, doc in state["identity_policies"]]
            if state.get("permissions_boundary") and state["permissions_boundary"][0] == arn:
                state["permissions_boundary"] = (arn, document)
        elif verb == "update-policy":
            content = json.loads(options["Content"])
            state["scp_levels"] = [[(src, content if src.endswith("/" + options["PolicyId"]) else doc) for src, doc in level]
                                   for level in state["scp_levels"]]
    return state


def _scp_decision(state: dict, principal: str, action: str = "logs:PutLogEvents") -> str:
    """What the SCPs alone decide for ``principal`` writing to the log group's streams."""
    request = {"principal": principal, "action": action, "resource": f"{GROUP_ARN}:log-stream:eni-1-all",
               "resource_account": ACCOUNT, "context": {"aws:RequestedRegion": REGION}}
    allow_all = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    return evaluate(request, identity_policies=[allow_all], scp_levels=state["scp_levels"]).decision


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


@pytest.mark.parametrize(("label", "verb"), [
    (f"arn:aws:iam::{ACCOUNT}:policy/guardrail", "detach-role-policy"),
    ("guardrail", "delete-role-policy"),
])
def test_a_policy_holding_only_the_deny_is_removed_not_emptied(healthy: dict, label: str, verb: str) -> None:
    deny = {"Version": "2012-10-17", "Statement": [{"Sid": "NoLogs", "Effect": "Deny", "Action": "logs:*", "Resource": "*"}]}
    healthy["identity_policies"] = [*healthy["identity_policies"], (label, deny)]
    fix = propose_fix(**healthy)
    assert fix is not None
    (command,) = fix.commands
    assert shlex.split(command)[2] == verb
    check_cli_command(command)


def test_no_commands_for_an_unnamed_denying_policy(healthy: dict) -> None:
    deny = {"Statement": [{"Effect": "Deny", "Action": "logs:*", "Resource": "*"}]}
    healthy["identity_policies"] = [*healthy["identity_policies"], deny]
    assert propose_fix(**healthy) is None


def test_a_boundary_that_does_not_allow_delivery_is_kept_and_extended(healthy: dict) -> None:
    healthy["permissions_boundary"] = (BOUNDARY_ARN, S3_ONLY)
    fix = propose_fix(**healthy)
    assert fix is not None
    (command,) = fix.commands
    options = check_cli_command(command)
    assert command.startswith("aws iam create-policy-version ") and options["PolicyArn"] == BOUNDARY_ARN
    assert options["SetAsDefault"] == "true"
    after = _state_after(healthy, fix.commands)
    boundary = after["permissions_boundary"][1]
    assert boundary["Statement"][0] == S3_ONLY["Statement"][0]  # what the boundary allowed, it still allows
    assert delivery_verdict(**after).allowed
    # ...and it still bounds the role: nothing else is let through.
    request = {"principal": healthy["role_arn"], "action": "ec2:RunInstances", "resource": "*"}
    assert evaluate(request, identity_policies=[{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}],
                    permissions_boundaries=[boundary]).decided_by == "boundary"


def test_only_the_denying_statement_of_a_boundary_is_removed(healthy: dict) -> None:
    guard = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Everything", "Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Sid": "NoLogs", "Effect": "Deny", "Action": "logs:*", "Resource": "*"},
        {"Sid": "NoUsers", "Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"},
    ]}
    healthy["permissions_boundary"] = (BOUNDARY_ARN, guard)
    fix = propose_fix(**healthy)
    assert fix is not None
    after = _state_after(healthy, fix.commands)
    assert [s["Sid"] for s in after["permissions_boundary"][1]["Statement"]] == ["Everything", "NoUsers"]
    assert delivery_verdict(**after).allowed


def test_a_boundary_at_five_versions_loses_its_oldest_first(healthy: dict) -> None:
    healthy["permissions_boundary"] = (BOUNDARY_ARN, S3_ONLY)
    fix = propose_fix(**healthy, policy_versions={BOUNDARY_ARN: ["v3", "v10", "v4", "v2"]})
    assert fix is not None
    deleted, created = (check_cli_command(command) for command in fix.commands)
    assert shlex.split(fix.commands[0])[2] == "delete-policy-version"
    assert (deleted["PolicyArn"], deleted["VersionId"]) == (BOUNDARY_ARN, "v2")
    assert created["PolicyArn"] == BOUNDARY_ARN
    assert len(propose_fix(**healthy, policy_versions={BOUNDARY_ARN: ["v1", "v2", "v3"]}).commands) == 1


def test_an_aws_managed_boundary_is_copied_into_the_account(healthy: dict) -> None:
    managed = "arn:aws:iam::aws:policy/AmazonS3FullAccess"
    healthy["permissions_boundary"] = (managed, S3_ONLY)
    fix = propose_fix(**healthy)
    assert fix is not None
    assert [shlex.split(c)[2] for c in fix.commands] == ["create-policy", "put-role-permissions-boundary"]
    after = _state_after(healthy, fix.commands)
    assert after["permissions_boundary"][0] == f"arn:aws:iam::{ACCOUNT}:policy/flow-logs-delivery-boundary"
    assert delivery_verdict(**after).allowed


def test_scp_deny_exempts_the_role_and_keeps_the_guard(healthy: dict) -> None:
    healthy["scp_levels"] = [[FULL_ACCESS, (SCP_ARN, {"Statement": [
        {"Sid": "NoLogs", "Effect": "Deny", "Action": "logs:*", "Resource": "*"},
        {"Sid": "NoLeave", "Effect": "Deny", "Action": "organizations:LeaveOrganization", "Resource": "*"}]})]]
    fix = propose_fix(**healthy)
    assert fix is not None
    (command,) = fix.commands
    options = check_cli_command(command)
    assert options["PolicyId"] == "p-examplepolicy"
    statements = json.loads(options["Content"])["Statement"]
    assert [s["Sid"] for s in statements] == ["NoLogs", "NoLeave"]
    assert statements[0]["Condition"] == {"ArnNotLike": {"aws:PrincipalArn": healthy["role_arn"]}}
    after = _state_after(healthy, fix.commands)
    assert delivery_verdict(**after).allowed
    assert _scp_decision(after, ANOTHER_ROLE) == "ExplicitlyDenied"
    assert _scp_decision(after, healthy["role_arn"]) == "Allowed"


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        # an exemption list already there: the role joins it (ArnNotLike must match none of the values)
        ({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/SecurityAdmin"}},
         {"ArnNotLike": {"aws:PrincipalArn": ["arn:aws:iam::*:role/SecurityAdmin", "ROLE"]}}),
        # other conditions: the exemption is one more, ANDed with them
        ({"StringEquals": {"aws:RequestedRegion": REGION}},
         {"StringEquals": {"aws:RequestedRegion": REGION}, "ArnNotLike": {"aws:PrincipalArn": "ROLE"}}),
        ({"ArnNotLike": {"aws:SourceArn": "arn:aws:ec2:*:*:instance/*"}},
         {"ArnNotLike": {"aws:SourceArn": "arn:aws:ec2:*:*:instance/*", "aws:PrincipalArn": "ROLE"}}),
    ],
    ids=["exemption-list", "other-operator", "same-operator-other-key"],
)
def test_scp_exemption_combines_with_the_statements_conditions(healthy: dict, condition: dict, expected: dict) -> None:
    admin = f"arn:aws:iam::{ACCOUNT}:role/SecurityAdmin"
    healthy["scp_levels"] = [[FULL_ACCESS, (SCP_ARN, {"Statement": [
        {"Sid": "ProtectLogs", "Effect": "Deny", "Action": "logs:*", "Resource": "*", "Condition": condition}]})]]
    before = _scp_decision(healthy, ANOTHER_ROLE), _scp_decision(healthy, admin)
    fix = propose_fix(**healthy)
    assert fix is not None
    (statement,) = json.loads(check_cli_command(fix.commands[0])["Content"])["Statement"]
    assert json.loads(json.dumps(statement["Condition"]).replace(healthy["role_arn"], "ROLE")) == expected
    after = _state_after(healthy, fix.commands)
    assert delivery_verdict(**after).allowed
    assert (_scp_decision(after, ANOTHER_ROLE), _scp_decision(after, admin)) == before
    assert before[0] == "ExplicitlyDenied"


def test_removing_the_guard_is_not_keeping_it(healthy: dict) -> None:
    guard = (SCP_ARN, {"Statement": [{"Sid": "NoLogs", "Effect": "Deny", "Action": "logs:*", "Resource": "*"}]})
    healthy["scp_levels"] = [[FULL_ACCESS, guard]]
    verdict = delivery_verdict(**healthy)
    assert verdict.root_cause == "scp-deny"
    assert not scp_guard_kept(healthy["scp_levels"], [[FULL_ACCESS]], verdict)
    assert scp_guard_kept(healthy["scp_levels"], healthy["scp_levels"], verdict)


def test_no_commands_for_an_unnamed_boundary(healthy: dict) -> None:
    healthy["permissions_boundary"] = S3_ONLY
    assert propose_fix(**healthy) is None


def test_no_fix_without_an_scp_allow(healthy: dict) -> None:
    healthy["scp_levels"] = [[{"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}]]
    assert propose_fix(**healthy) is None


def test_several_causes_are_fixed_together(healthy: dict) -> None:
    healthy.update(trust_policy=trust_policy(service="ec2.amazonaws.com"), identity_policies=[],
                   permissions_boundary=(BOUNDARY_ARN, {"Statement": [{"Effect": "Deny", "Action": "logs:*", "Resource": "*"}]}))
    fix = propose_fix(**healthy)
    assert fix is not None
    verbs = [shlex.split(c)[2] for c in fix.commands]
    assert verbs == ["update-assume-role-policy", "create-policy-version", "put-role-policy"]
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
