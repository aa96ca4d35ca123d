"""Fixes for the root causes outside the role's policies, as a table: root cause -> proven fix.

The IAM causes are fixed by :func:`flowforensics.analysis.iam.propose_fix`; the causes here need
something else put back (the role, the flow log, the log group, the key policy's grant to CloudWatch
Logs). Each fix is checked with the offline evaluator where a policy is involved, and a fix is
given only when the evidence names everything its commands need.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flowforensics.analysis.iam import PolicyError, delivery_verdict, evaluate
from flowforensics.analysis.iam.delivery import LOG_GROUP_ARN
from flowforensics.analysis.iam.remediation import (
    DEFAULT_POLICY_NAME,
    edits_aws_owned,
    least_privilege_policy,
    recommended_trust_policy,
    trust_admits_only_the_service,
)
from flowforensics.analysis.results import Remediation

# The id prefix of what a flow log watches -> the --resource-type of create-flow-logs.
RESOURCE_TYPES = {
    "vpc-": "VPC",
    "subnet-": "Subnet",
    "eni-": "NetworkInterface",
    "tgw-attach-": "TransitGatewayAttachment",
    "tgw-": "TransitGateway",
}
# What CloudWatch Logs needs of a customer managed key (CloudWatch Logs User Guide, "Encrypt log
# data in CloudWatch Logs using AWS KMS"), scoped to the one log group by its encryption context.
LOGS_KEY_ACTIONS = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
LOGS_KEY_CALLS = ("kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt")


@dataclass(frozen=True)
class FlowLogFacts:
    """What the evidence says of a flow log and its destination, for the commands of a fix."""

    flow_log_id: str
    region: str | None
    account_id: str | None
    role_arn: str | None
    log_group: str | None
    resource_id: str | None = None
    traffic_type: str | None = None
    log_format: str | None = None
    kms_key_id: str | None = None
    key_policy: dict[str, Any] | None = None
    partition: str = "aws"

    @property
    def log_group_arn(self) -> str | None:
        if not (self.log_group and self.region and self.account_id):
            return None
        return LOG_GROUP_ARN.format(partition=self.partition, region=self.region, account=self.account_id, log_group=self.log_group)


def _quote(document: dict[str, Any]) -> str:
    return shlex.quote(json.dumps(document, separators=(",", ":")))


def _role_name(role_arn: str) -> str:
    return role_arn.rsplit("/", 1)[-1]


def _role_path(role_arn: str) -> str:
    resource = role_arn.split(":", 5)[5]  # role/PATH/NAME
    inner = resource.split("/")[1:-1]
    return "/" + "/".join(inner) + "/" if inner else "/"


def _recreate_role(facts: FlowLogFacts) -> Remediation | None:
    """Create the role again under the same name: its ARN, which the flow log names, is the same."""
    if not (facts.role_arn and facts.log_group and facts.region and facts.account_id):
        return None
    trust = recommended_trust_policy(account_id=facts.account_id, region=facts.region, partition=facts.partition)
    permissions = least_privilege_policy(
        log_group=facts.log_group, region=facts.region, account_id=facts.account_id, partition=facts.partition
    )
    verdict = delivery_verdict(
        role_arn=facts.role_arn,
        trust_policy=("trust policy", trust),
        identity_policies=[(DEFAULT_POLICY_NAME, permissions)],
        log_group=facts.log_group,
        region=facts.region,
        account_id=facts.account_id,
        flow_log_arn=f"arn:{facts.partition}:ec2:{facts.region}:{facts.account_id}:vpc-flow-log/{facts.flow_log_id}",
        partition=facts.partition,
    )
    if not (verdict.allowed and trust_admits_only_the_service(trust, account_id=facts.account_id, partition=facts.partition)):
        return None
    name = shlex.quote(_role_name(facts.role_arn))
    return Remediation(
        permissions_policy=permissions,
        trust_policy=trust,
        commands=[
            f"aws iam create-role --role-name {name} --path {shlex.quote(_role_path(facts.role_arn))} "
            f"--assume-role-policy-document {_quote(trust)}",
            f"aws iam put-role-policy --role-name {name} --policy-name {DEFAULT_POLICY_NAME} "
            f"--policy-document {_quote(permissions)}",
        ],
    )


def _recreate_flow_log(facts: FlowLogFacts) -> Remediation | None:
    """Create the flow log again as it was (EC2 has no call to restore or modify one)."""
    resource_type = next(
        (kind for prefix, kind in RESOURCE_TYPES.items() if (facts.resource_id or "").startswith(prefix)), None
    )
    if not (resource_type and facts.role_arn and facts.log_group and facts.region):
        return None
    command = (
        f"aws ec2 create-flow-logs --region {shlex.quote(facts.region)} --resource-type {resource_type} "
        f"--resource-ids {shlex.quote(facts.resource_id or '')} --traffic-type {shlex.quote(facts.traffic_type or 'ALL')} "
        f"--log-destination-type cloud-watch-logs --log-group-name {shlex.quote(facts.log_group)} "
        f"--deliver-logs-permission-arn {shlex.quote(facts.role_arn)}"
    )
    if facts.log_format:
        command += f" --log-format {shlex.quote(facts.log_format)}"
    return Remediation(commands=[command])


def _recreate_log_group(facts: FlowLogFacts) -> Remediation | None:
    """Create the log group again, so delivery does not depend on the role's logs:CreateLogGroup."""
    if not (facts.log_group and facts.region):
        return None
    return Remediation(
        commands=[f"aws logs create-log-group --region {shlex.quote(facts.region)} --log-group-name {shlex.quote(facts.log_group)}"]
    )


def _grant_key_to_logs(facts: FlowLogFacts) -> Remediation | None:
    """Add to the key policy the statement that lets CloudWatch Logs use the key for this log group."""
    group_arn = facts.log_group_arn
    if not (facts.kms_key_id and facts.key_policy and group_arn and facts.region):
        return None
    service = f"logs.{facts.region}.amazonaws.com"
    statement = {
        "Sid": "AllowCloudWatchLogsForTheFlowLogGroup",
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": LOGS_KEY_ACTIONS,
        "Resource": "*",
        "Condition": {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": group_arn}},
    }
    statements = facts.key_policy.get("Statement") or []
    fixed = {**facts.key_policy, "Statement": [*(statements if isinstance(statements, list) else [statements]), statement]}
    key_account = facts.kms_key_id.split(":")[4] if facts.kms_key_id.startswith("arn:") else facts.account_id
    for action in LOGS_KEY_CALLS:
        try:
            decision = evaluate(
                {
                    "principal": service,
                    "action": action,
                    "resource": facts.kms_key_id,
                    "resource_account": key_account,
                    "context": {"kms:EncryptionContext:aws:logs:arn": group_arn},
                },
                identity_policies=[],
                resource_policy=("key policy", fixed),
            )
        except PolicyError:
            return None  # the collected key policy is not one AWS would hold: no fix can be proven on it
        if decision.decision != "Allowed":
            return None  # a deny in the key policy outranks the new statement: no fix to prove here
    return Remediation(
        commands=[
            f"aws kms put-key-policy --region {shlex.quote(facts.region)} --key-id {shlex.quote(facts.kms_key_id)} "
            f"--policy-name default --policy {_quote(fixed)}"
        ]
    )


def _find_the_quota(facts: FlowLogFacts) -> Remediation | None:
    """Throttling has no policy fix: list the CloudWatch Logs quotas to raise (read-only)."""
    if not facts.region:
        return None
    return Remediation(commands=[f"aws service-quotas list-service-quotas --service-code logs --region {shlex.quote(facts.region)}"])


# root cause -> how to build its fix from the facts; IAM causes are proven by propose_fix instead.
FIXES: dict[str, Callable[[FlowLogFacts], Remediation | None]] = {
    "role-deleted": _recreate_role,
    "flow-log-deleted": _recreate_flow_log,
    "log-group-deleted": _recreate_log_group,
    "kms-key-denied": _grant_key_to_logs,
    "rate-limited": _find_the_quota,
}


def fix_for(root_cause: str, facts: FlowLogFacts, iam_fix: Remediation | None = None) -> Remediation:
    """The remediation of ``root_cause``: its own fix (if any), after the role's proven IAM fix.

    Parameters
    ----------
    root_cause : str
        The diagnosed root-cause code.
    facts : FlowLogFacts
        What the evidence says of the flow log.
    iam_fix : Remediation, optional
        The role's fix from :func:`~flowforensics.analysis.iam.propose_fix`, when its current state is
        known and denies delivery.

    Returns
    -------
    Remediation
        Empty when there is nothing to change or nothing can be proven.
    """
    build = FIXES.get(root_cause)
    own = build(facts) if build else None
    if own is not None and edits_aws_owned(own.commands, facts.role_arn):
        own = None  # AWS owns what it would change (a service-linked role, an AWS managed key's alias)
    if own is None:
        return iam_fix or Remediation()
    if iam_fix is None or root_cause == "role-deleted":
        return own
    return Remediation(
        permissions_policy=iam_fix.permissions_policy or own.permissions_policy,
        trust_policy=iam_fix.trust_policy or own.trust_policy,
        commands=[*iam_fix.commands, *own.commands],
    )
