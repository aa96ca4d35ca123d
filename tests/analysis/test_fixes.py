"""Fixes outside the role's policies: each is a real AWS CLI command, and each policy in it is proven."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aws_cli import check_cli_command

import flowforensics
from flowforensics.analysis.diagnosis import diagnose
from flowforensics.analysis.fixes import FlowLogFacts, fix_for
from flowforensics.analysis.iam import evaluate
from flowforensics.evidence.manifest import EvidenceWriter

# scenario -> the AWS CLI operations its fix runs, in order
EXPECTED_OPERATIONS = {
    "role-deleted": ["CreateRole", "PutRolePolicy"],
    "flow-log-deleted": ["CreateFlowLogs"],
    "log-group-deleted": ["PutRolePolicy", "CreateLogGroup"],
    "kms-key-denied": ["PutKeyPolicy"],
    "rate-limited": ["ListServiceQuotas"],
    "trust-edited": ["UpdateAssumeRolePolicy"],
    # the guardrail policy holds only the deny: detached, not emptied
    "explicit-deny": ["DetachRolePolicy"],
    # the role exempted from the SCP's denying statement, the guard kept
    "scp-deny": ["UpdatePolicy"],
}


def _operations(commands: list[str]) -> list[str]:
    return ["".join(part.capitalize() for part in command.split()[2].split("-")) for command in commands]


@pytest.mark.parametrize("name", sorted(EXPECTED_OPERATIONS))
def test_each_failing_incident_gets_its_fix_as_valid_commands(scenario_folder, name):
    entry = diagnose(flowforensics.load(scenario_folder(name))).flow_logs[0]
    commands = entry.remediation.commands
    assert _operations(commands) == EXPECTED_OPERATIONS[name]
    for command in commands:
        check_cli_command(command)
    assert not any("modify-flow-log" in command for command in commands)


def test_the_recreated_flow_log_is_the_one_that_was_deleted(scenario_folder):
    evidence = flowforensics.load(scenario_folder("flow-log-deleted"))
    entry = diagnose(evidence).flow_logs[0]
    options = check_cli_command(entry.remediation.commands[0])
    assert options["LogGroupName"] == entry.log_group
    assert options["DeliverLogsPermissionArn"] == entry.role_arn
    assert options["ResourceType"] == "VPC" and options["ResourceIds"].startswith("vpc-")


def test_the_key_policy_fix_lets_cloudwatch_logs_use_the_key_for_this_group_only(scenario_folder):
    evidence = flowforensics.load(scenario_folder("kms-key-denied"))
    entry = diagnose(evidence).flow_logs[0]
    options = check_cli_command(entry.remediation.commands[0])
    policy, key = json.loads(options["Policy"]), options["KeyId"]
    group_arn = f"arn:aws:logs:{entry.region}:{entry.account_id}:log-group:{entry.log_group}"

    def decide(group: str) -> str:
        request = {
            "principal": f"logs.{entry.region}.amazonaws.com",
            "action": "kms:GenerateDataKey",
            "resource": key,
            "resource_account": entry.account_id,
            "context": {"kms:EncryptionContext:aws:logs:arn": group},
        }
        return evaluate(request, identity_policies=[], resource_policy=policy).decision

    assert decide(group_arn) == "Allowed"
    assert decide(group_arn + "-other") == "ImplicitlyDenied"
    # The statements that were there are kept.
    assert len(policy["Statement"]) == 3


def test_no_fix_is_given_when_the_evidence_does_not_name_what_it_needs():
    facts = FlowLogFacts(flow_log_id="fl-0e17aa62a21d4bbfe", region="us-east-1", account_id="498376118699", role_arn=None, log_group=None)
    for code in ("flow-log-deleted", "role-deleted", "log-group-deleted", "kms-key-denied"):
        assert fix_for(code, facts).commands == []


def test_a_recovered_flow_log_needs_no_fix(scenario_folder):
    entry = diagnose(flowforensics.load(scenario_folder("permission-removed"))).flow_logs[0]
    assert entry.status == "SUCCESS" and entry.remediation.commands == []


def _without_cloudtrail(source, target, *, keep_manifest: bool):
    import shutil

    shutil.copytree(source, target, ignore=shutil.ignore_patterns("cloudtrail", *([] if keep_manifest else ["manifest.json"])))
    return target


@pytest.mark.parametrize("keep_manifest", [True, False], ids=["collected", "hand-filled"])
def test_a_key_policy_that_refuses_cloudwatch_logs_is_found_without_cloudtrail(scenario_folder, tmp_path, keep_manifest):
    folder = _without_cloudtrail(scenario_folder("kms-key-denied"), tmp_path / "ev", keep_manifest=keep_manifest)
    entry = diagnose(flowforensics.load(folder)).flow_logs[0]
    assert (entry.root_cause, entry.confidence, entry.trigger) == ("kms-key-denied", "likely", None)
    finding = next(f for f in entry.findings if f.code == "kms-key-denied")
    assert finding.verdict == "confirmed" and finding.evidence[0].endswith("get-key-policy.json")
    assert _operations(entry.remediation.commands) == ["PutKeyPolicy"]


def test_the_scp_fix_keeps_every_statement_and_exempts_only_the_role(scenario_folder):
    evidence = flowforensics.load(scenario_folder("scp-deny"))
    entry = diagnose(evidence).flow_logs[0]
    (command,) = entry.remediation.commands
    statements = json.loads(check_cli_command(command)["Content"])["Statement"]
    scp = evidence.policies[evidence.policies["policy_type"] == "scp"]
    before = next(json.dumps(d) for d in scp["document"] if "OnlyCentralPipelineWritesFlowLogs" in json.dumps(d))
    assert [s["Sid"] for s in statements] == [s["Sid"] for s in json.loads(before)["Statement"]]
    exempted = [s for s in statements if entry.role_arn in json.dumps(s.get("Condition"))]
    assert len(exempted) == 1 and entry.role_arn in exempted[0]["Condition"]["ArnNotLike"]["aws:PrincipalArn"]


def _boundary_evidence(folder, versions: int):
    """A failing flow log whose role's permissions boundary (shown with all its versions) refuses logs."""
    account, role = "111122223333", "arn:aws:iam::111122223333:role/FlowLogsDeliveryRole"
    boundary = f"arn:aws:iam::{account}:policy/DeveloperBoundary"
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                                                     "Action": "sts:AssumeRole"}]}
    delivery = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
        "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups", "logs:DescribeLogStreams"],
        "Resource": "*"}]}
    developer = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ec2:*", "s3:*"], "Resource": "*"}]}
    writer = EvidenceWriter(folder, clock=lambda: datetime(2024, 5, 18, 10, tzinfo=UTC))
    writer.write("iam:GetAccountAuthorizationDetails", {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [{
        "Path": "/", "RoleName": "FlowLogsDeliveryRole", "RoleId": "AROAQX2EXAMPLEFLOWA1B", "Arn": role,
        "CreateDate": "2024-04-02T08:10:02+00:00", "AssumeRolePolicyDocument": trust, "InstanceProfileList": [],
        "RolePolicyList": [{"PolicyName": "FlowLogsDelivery", "PolicyDocument": delivery}], "AttachedManagedPolicies": [],
        "PermissionsBoundary": {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": boundary}}],
        "Policies": [{"PolicyName": "DeveloperBoundary", "Arn": boundary, "Path": "/", "DefaultVersionId": f"v{versions}",
                      "AttachmentCount": 0, "PermissionsBoundaryUsageCount": 1, "IsAttachable": True,
                      "PolicyVersionList": [{"Document": developer, "VersionId": f"v{n}", "IsDefaultVersion": n == versions,
                                             "CreateDate": f"2024-03-0{n}T12:00:00+00:00"} for n in range(1, versions + 1)]}]},
                 account=account)
    writer.write("ec2:DescribeFlowLogs", {"FlowLogs": [{
        "FlowLogId": "fl-06ff7a08b19c2ad3b", "DeliverLogsPermissionArn": role, "LogGroupName": "/vpc/flow-logs/prod",
        "ResourceId": "vpc-0a1b2c3d4e5f60718", "TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs",
        "FlowLogStatus": "ACTIVE", "DeliverLogsStatus": "FAILED", "DeliverLogsErrorMessage": "Access error",
        "CreationTime": "2024-04-02T08:15:31Z"}]}, region="eu-west-1", account=account)
    writer.close()
    return folder, boundary


@pytest.mark.parametrize(("versions", "operations"), [
    (2, ["CreatePolicyVersion"]),
    (5, ["DeletePolicyVersion", "CreatePolicyVersion"]),  # IAM's limit: the oldest version goes first
])
def test_the_boundary_is_kept_and_extended_in_a_new_version(tmp_path, versions, operations):
    folder, boundary = _boundary_evidence(tmp_path / "ev", versions)
    entry = diagnose(flowforensics.load(folder)).flow_logs[0]
    # no CloudTrail says when the boundary was attached, but the role's state as collected is known
    assert next(f for f in entry.findings if f.code == "boundary-deny").verdict == "inconclusive"
    commands = entry.remediation.commands
    assert _operations(commands) == operations
    options = [check_cli_command(command) for command in commands]
    assert all(option["PolicyArn"] == boundary for option in options)
    if versions == 5:
        assert options[0]["VersionId"] == "v1"
    document = json.loads(options[-1]["PolicyDocument"])
    assert document["Statement"][0]["Action"] == ["ec2:*", "s3:*"]  # the boundary still bounds the role


@pytest.mark.parametrize("statement", [{"Sid": "Enable IAM User Permissions", "Effect": None}, None], ids=["effect-null", "null"])
def test_a_key_policy_that_is_not_a_policy_gets_no_fix_and_stops_nothing(scenario_folder, tmp_path, statement):
    # A key policy whose statement has no Effect, or is not an object, cannot be evaluated: the proof of the
    # key policy fix stopped every diagnosis on it (PolicyError). No fix is proven from it.
    import shutil

    folder = Path(shutil.copytree(scenario_folder("kms-key-denied"), tmp_path / "ev"))
    path = folder / "kms/eu-west-1/get-key-policy.json"
    document = json.loads(path.read_text())
    policy = json.loads(document["Policy"])
    policy["Statement"][0] = {**policy["Statement"][0], **statement} if statement else statement
    path.write_text(json.dumps({**document, "Policy": json.dumps(policy)}))
    entry = diagnose(flowforensics.load(folder)).flow_logs[0]
    assert "PutKeyPolicy" not in _operations(entry.remediation.commands)
