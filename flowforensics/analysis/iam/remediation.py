"""Remediation, proven: the smallest change that restores delivery, checked by the evaluator first.

From the role's current state, each denial's root cause has a fix (a table below): the recommended
trust policy with the confused-deputy conditions, a least-privilege permissions policy scoped to the
log group, or the statements to remove from an identity policy or an SCP, or the boundary to
detach. Fixes are applied one cause at a time and the state re-evaluated, until delivery is allowed
or no fix is known. A remediation is returned only when the fixed state allows delivery and its
trust policy admits no principal but ``vpc-flow-logs.amazonaws.com``.

The commands are AWS CLI v2 commands with the documents inline, quoted for POSIX shells (bash,
zsh: Linux and macOS). There is no command to change a flow log's role: the role is repaired in
place.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from flowforensics.analysis.iam.delivery import (
    DELIVERY_ACTIONS,
    LOG_GROUP_ARN,
    SERVICE_PRINCIPAL,
    DeliveryVerdict,
    delivery_verdict,
)
from flowforensics.analysis.iam.documents import compile_policy, labelled, normalise
from flowforensics.analysis.iam.evaluate import Layers, Request, decide
from flowforensics.analysis.results import Remediation

DEFAULT_POLICY_NAME = "flow-logs-delivery"
# Who else might try to assume the role: the fixed trust must refuse every one of them.
PROBE_PRINCIPALS = (
    "*",
    "arn:{partition}:iam::{account}:root",
    "arn:{partition}:iam::{other}:root",
    "arn:{partition}:iam::{account}:role/another-role",
    "ec2.amazonaws.com",
    "lambda.amazonaws.com",
    "delivery.logs.amazonaws.com",
    "cognito-identity.amazonaws.com",
)
PROBE_ACTIONS = ("sts:AssumeRole", "sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWithSAML")
_MANAGED_ARN = re.compile(r"^arn:[^:]+:iam::(?P<account>aws|\d{12}):policy/")
_ORG_POLICY_ID = re.compile(r"(?:^|/)(?P<id>p-[0-9a-z]+)$")
# The label the evaluator gives a bare document (its place in the request), which names no policy.
_POSITIONAL_LABEL = re.compile(r"^[a-z_]+(?:\[\d+\])+$")
_MAX_STEPS = 6


class NoProvenFix(Exception):
    """No fix is known for a cause, or a fix cannot be expressed as commands."""


@dataclass(frozen=True)
class RoleState:
    """The documents that decide delivery, labelled as the evaluator reports them."""

    trust_policy: tuple[str, Any]
    identity_policies: tuple[tuple[str, Any], ...]
    permissions_boundary: tuple[str, Any] | None
    scp_levels: tuple[tuple[tuple[str, Any], ...], ...]

    def verdict(self, target: dict[str, Any]) -> DeliveryVerdict:
        return delivery_verdict(
            trust_policy=self.trust_policy,
            identity_policies=self.identity_policies,
            permissions_boundary=self.permissions_boundary,
            scp_levels=self.scp_levels,
            **target,
        )


@dataclass
class _Plan:
    state: RoleState
    policy_name: str
    permissions_policy: dict[str, Any] = field(default_factory=dict)
    trust_policy: dict[str, Any] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)


def recommended_trust_policy(*, account_id: str, region: str, partition: str = "aws") -> dict[str, Any]:
    """The trust policy AWS recommends for flow logs, with ``aws:SourceAccount`` and ``aws:SourceArn``
    against the confused deputy."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowVpcFlowLogsForThisAccount",
                "Effect": "Allow",
                "Principal": {"Service": SERVICE_PRINCIPAL},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {"aws:SourceArn": f"arn:{partition}:ec2:{region}:{account_id}:vpc-flow-log/*"},
                },
            }
        ],
    }


def least_privilege_policy(*, log_group: str, region: str, account_id: str, partition: str = "aws") -> dict[str, Any]:
    """The five delivery actions, scoped to the log group and its streams (``DescribeLogGroups``
    is authorised only on ``*``)."""
    group = LOG_GROUP_ARN.format(partition=partition, region=region, account=account_id, log_group=log_group)
    scoped = [action for action, resource in DELIVERY_ACTIONS.items() if resource != "*"]
    unscoped = [action for action, resource in DELIVERY_ACTIONS.items() if resource == "*"]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "DeliverToTheLogGroup", "Effect": "Allow", "Action": scoped, "Resource": [group, f"{group}:*"]},
            {"Sid": "ListLogGroups", "Effect": "Allow", "Action": unscoped, "Resource": "*"},
        ],
    }


def _inline(document: dict[str, Any]) -> str:
    return shlex.quote(json.dumps(document, separators=(",", ":")))


def _role_name(role_arn: str) -> str:
    return role_arn.rsplit("/", 1)[-1]


def _fix_trust(plan: _Plan, verdict: DeliveryVerdict) -> None:
    trust = recommended_trust_policy(account_id=verdict.account_id, region=verdict.region, partition=verdict.partition)
    plan.state = replace(plan.state, trust_policy=(plan.state.trust_policy[0], trust))
    plan.trust_policy = trust
    plan.commands.append(
        f"aws iam update-assume-role-policy --role-name {shlex.quote(_role_name(verdict.role_arn))} "
        f"--policy-document {_inline(trust)}"
    )


def _fix_permissions(plan: _Plan, verdict: DeliveryVerdict) -> None:
    policy = least_privilege_policy(
        log_group=verdict.log_group, region=verdict.region, account_id=verdict.account_id, partition=verdict.partition
    )
    kept = tuple(item for item in plan.state.identity_policies if item[0] != plan.policy_name)
    plan.state = replace(plan.state, identity_policies=(*kept, (plan.policy_name, policy)))
    plan.permissions_policy = policy
    plan.commands.append(
        f"aws iam put-role-policy --role-name {shlex.quote(_role_name(verdict.role_arn))} "
        f"--policy-name {shlex.quote(plan.policy_name)} --policy-document {_inline(policy)}"
    )


def _denying(verdict: DeliveryVerdict, layer: str) -> dict[str, set[int]]:
    """For each policy (by label), the indexes of its statements that deny a delivery check."""
    found: dict[str, set[int]] = {}
    for check in verdict.checks:
        if check.decision.decided_by == layer:
            for statement in check.decision.deciding_statements:
                if statement.effect == "Deny":
                    found.setdefault(statement.source, set()).add(statement.index)
    return found


def _without(document: Any, indexes: set[int]) -> dict[str, Any]:
    normalised = normalise(document)
    statements = [s for i, s in enumerate(normalised["Statement"]) if i not in indexes]
    return {**normalised, "Statement": statements}


def _fix_explicit_deny(plan: _Plan, verdict: DeliveryVerdict) -> None:
    role = shlex.quote(_role_name(verdict.role_arn))
    denying = _denying(verdict, "identity")
    policies = []
    for source, document in plan.state.identity_policies:
        if source not in denying:
            policies.append((source, document))
            continue
        if _POSITIONAL_LABEL.match(source):
            raise NoProvenFix(f"the denying policy {source} has no name to give the commands")
        edited = _without(document, denying[source])
        managed = _MANAGED_ARN.match(source)
        if managed and managed.group("account") == "aws":
            # An AWS managed policy cannot be edited: detach it (a missing allow is then fixed in turn).
            plan.commands.append(f"aws iam detach-role-policy --role-name {role} --policy-arn {shlex.quote(source)}")
            continue
        if managed:
            plan.commands.append(
                f"aws iam create-policy-version --policy-arn {shlex.quote(source)} "
                f"--policy-document {_inline(edited)} --set-as-default"
            )
        else:
            plan.commands.append(
                f"aws iam put-role-policy --role-name {role} --policy-name {shlex.quote(source)} "
                f"--policy-document {_inline(edited)}"
            )
        plan.permissions_policy = plan.permissions_policy or edited
        policies.append((source, edited))
    plan.state = replace(plan.state, identity_policies=tuple(policies))


def _fix_boundary(plan: _Plan, verdict: DeliveryVerdict) -> None:
    plan.state = replace(plan.state, permissions_boundary=None)
    plan.commands.append(
        f"aws iam delete-role-permissions-boundary --role-name {shlex.quote(_role_name(verdict.role_arn))}"
    )


def _fix_scp(plan: _Plan, verdict: DeliveryVerdict) -> None:
    denying = _denying(verdict, "scp")
    if not denying:
        raise NoProvenFix("no SCP level allows delivery; an SCP that allows it must be attached")
    levels = []
    for level in plan.state.scp_levels:
        kept = []
        for source, document in level:
            if source in denying:
                policy_id = _ORG_POLICY_ID.search(source)
                if policy_id is None:
                    raise NoProvenFix(f"cannot tell the policy id of the SCP {source!r}")
                document = _without(document, denying[source])
                plan.commands.append(
                    f"aws organizations update-policy --policy-id {policy_id.group('id')} --content {_inline(document)}"
                )
            kept.append((source, document))
        levels.append(tuple(kept))
    plan.state = replace(plan.state, scp_levels=tuple(levels))


# root cause -> the fix that removes it
FIXES: dict[str, Callable[[_Plan, DeliveryVerdict], None]] = {
    "trust-missing-service": _fix_trust,
    "trust-condition-mismatch": _fix_trust,
    "permission-missing": _fix_permissions,
    "explicit-deny": _fix_explicit_deny,
    "boundary-deny": _fix_boundary,
    "scp-deny": _fix_scp,
}


def trust_admits_only_the_service(trust_policy: Any, *, account_id: str, partition: str = "aws") -> bool:
    """Whether the trust policy lets no principal but ``vpc-flow-logs.amazonaws.com`` assume the role:
    every Allow names only that service, and the evaluator refuses every probe principal."""
    source, document = labelled(trust_policy, "trust_policy")
    compiled = compile_policy(document, source)
    for statement in compiled.statements:
        if not statement.allow:
            continue
        principals = statement.principals
        if principals is None or statement.not_principal or principals.everyone:
            return False
        if principals.accounts or principals.arns or principals.others or principals.services != {SERVICE_PRINCIPAL}:
            return False
    layers = Layers(resource=compiled)
    other = "999999999999" if account_id != "999999999999" else "111111111111"
    for template in PROBE_PRINCIPALS:
        principal = template.format(partition=partition, account=account_id, other=other)
        for action in PROBE_ACTIONS:
            request = Request(principal, action, "*", account_id, {"aws:SourceAccount": account_id})
            if decide(request, layers).allowed:
                return False
    return True


def propose_fix(
    *,
    role_arn: str,
    trust_policy: Any,
    identity_policies: Any,
    permissions_boundary: Any = None,
    scp_levels: Any = (),
    log_group: str,
    region: str,
    account_id: str,
    flow_log_arn: str | None = None,
    partition: str = "aws",
    policy_name: str = DEFAULT_POLICY_NAME,
) -> Remediation | None:
    """The smallest proven change that restores delivery, with the AWS CLI commands that apply it.

    Parameters are those of :func:`flowforensics.analysis.iam.delivery.delivery_verdict`, plus
    ``policy_name``, the inline policy that receives the least-privilege permissions. Label
    policies as ``(name or ARN, document)`` so that commands can name them: an inline policy by its
    name, a managed policy or SCP by its ARN.

    Returns
    -------
    Remediation or None
        None when delivery is already allowed, or when no fix can be proven (for example an SCP
        level without any Allow, which only the organisation's management account can change).
    """
    target = {
        "role_arn": role_arn,
        "log_group": log_group,
        "region": region,
        "account_id": account_id,
        "flow_log_arn": flow_log_arn,
        "partition": partition,
    }
    state = RoleState(
        trust_policy=labelled(trust_policy, "trust_policy"),
        identity_policies=tuple(labelled(p, f"identity_policies[{i}]") for i, p in enumerate(identity_policies or ())),
        permissions_boundary=labelled(permissions_boundary, "permissions_boundary") if permissions_boundary else None,
        scp_levels=tuple(
            tuple(labelled(p, f"scp_levels[{d}][{i}]") for i, p in enumerate(level)) for d, level in enumerate(scp_levels or ())
        ),
    )
    verdict = state.verdict(target)
    if verdict.allowed:
        return None
    plan = _Plan(state, policy_name)
    try:
        for _ in range(_MAX_STEPS):
            fix = FIXES.get(verdict.root_cause or "")
            if verdict.allowed or fix is None:
                break
            fix(plan, verdict)
            verdict = plan.state.verdict(target)
    except NoProvenFix:
        return None
    if verdict.allowed and not trust_admits_only_the_service(
        plan.state.trust_policy, account_id=account_id, partition=partition
    ):
        # Delivery works, but the trust still admits someone else: replace it with the recommended one.
        _fix_trust(plan, verdict)
        verdict = plan.state.verdict(target)
    proven = verdict.allowed and trust_admits_only_the_service(
        plan.state.trust_policy, account_id=account_id, partition=partition
    )
    if not proven:
        return None
    return Remediation(
        permissions_policy=plan.permissions_policy, trust_policy=plan.trust_policy, commands=plan.commands
    )
