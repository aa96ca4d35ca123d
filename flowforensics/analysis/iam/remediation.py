"""Remediation, proven: the smallest change that restores delivery, checked by the evaluator first.

From the role's current state, each denial's root cause has a fix (a table below): the recommended
trust policy with the confused-deputy conditions, a least-privilege permissions policy scoped to the
log group, the statements to remove from an identity policy, the delivery role exempted from the
denying statements of an SCP (the guard stays for everyone else), or the permissions boundary
edited in place (its denying statements removed, the delivery actions allowed; it stays attached).
Fixes are applied one cause at a time and the state re-evaluated, until delivery is allowed or no
fix is known. A remediation is returned only when the fixed state allows delivery, its trust
policy admits no principal but ``vpc-flow-logs.amazonaws.com``, and every SCP still decides as
before for the account's other principals.

The commands are AWS CLI v2 commands with the documents inline, quoted for POSIX shells (bash,
zsh: Linux and macOS). There is no command to change a flow log's role: the role is repaired in
place.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from flowforensics.analysis.iam.delivery import (
    DELIVERY_ACTIONS,
    LOG_GROUP_ARN,
    SERVICE_PRINCIPAL,
    DeliveryVerdict,
    delivery_verdict,
    permission_context,
)
from flowforensics.analysis.iam.documents import compile_levels, compile_policy, labelled, normalise
from flowforensics.analysis.iam.evaluate import Layers, Request, decide
from flowforensics.analysis.iam.matching import as_list
from flowforensics.analysis.iam.rules import owned_by_aws
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
# Other principals of the account: an SCP the fix edits must decide for them as it did before.
GUARD_PROBES = ("arn:{partition}:iam::{account}:role/another-role", "arn:{partition}:iam::{account}:user/another-user")
# An identity policy that allows everything, to see what a guard (SCP, boundary) alone decides.
_ALLOW_ALL = compile_policy({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
                            "allow-all")
# IAM keeps at most five versions of a managed policy: a sixth needs one deleted first.
MAX_POLICY_VERSIONS = 5
_MANAGED_ARN = re.compile(r"^arn:[^:]+:iam::(?P<account>aws|\d{12}):policy/")
_ORG_POLICY_ID = re.compile(r"(?:^|/)(?P<id>p-[0-9a-z]+)$")
# The label the evaluator gives a bare document (its place in the request), which names no policy.
_POSITIONAL_LABEL = re.compile(r"^[a-z_]+(?:\[\d+\])+$")
_MAX_STEPS = 6
# AWS CLI command -> the option naming the resource it changes (a role by name, a policy or key by ARN or
# id): what a fix edits, checked against the AWS-owned resources of .rules before it is proposed.
EDITED_BY: dict[tuple[str, str], str] = {
    ("iam", "update-assume-role-policy"): "--role-name",
    ("iam", "put-role-policy"): "--role-name",
    ("iam", "delete-role-policy"): "--role-name",
    ("iam", "attach-role-policy"): "--role-name",
    ("iam", "detach-role-policy"): "--role-name",
    ("iam", "put-role-permissions-boundary"): "--role-name",
    ("iam", "create-role"): "--role-name",
    ("iam", "create-policy-version"): "--policy-arn",
    ("iam", "delete-policy-version"): "--policy-arn",
    ("kms", "put-key-policy"): "--key-id",
}


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
    policy_versions: Mapping[str, Sequence[str]] = field(default_factory=dict)
    permissions_policy: dict[str, Any] = field(default_factory=dict)
    trust_policy: dict[str, Any] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)

    def new_version(self, policy_arn: str, document: dict[str, Any]) -> None:
        """Commands making ``document`` the default version of a customer managed policy."""
        others = list(self.policy_versions.get(policy_arn) or ())
        if len(others) + 1 >= MAX_POLICY_VERSIONS:
            # At IAM's limit, CreatePolicyVersion fails (LimitExceeded) until a version is deleted: the oldest.
            oldest = min(others, key=_version_number)
            self.commands.append(
                f"aws iam delete-policy-version --policy-arn {shlex.quote(policy_arn)} --version-id {shlex.quote(oldest)}"
            )
        self.commands.append(
            f"aws iam create-policy-version --policy-arn {shlex.quote(policy_arn)} "
            f"--policy-document {_inline(document)} --set-as-default"
        )


def _version_number(version_id: str) -> tuple[int, str]:
    digits = version_id.lstrip("vV")
    return (int(digits), version_id) if digits.isdigit() else (0, version_id)


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
        if managed and (managed.group("account") == "aws" or not edited["Statement"]):
            # An AWS managed policy cannot be edited, and one left without statements grants nothing:
            # detach it from the role (a missing allow is then fixed in turn).
            plan.commands.append(f"aws iam detach-role-policy --role-name {role} --policy-arn {shlex.quote(source)}")
            continue
        if not edited["Statement"]:
            plan.commands.append(f"aws iam delete-role-policy --role-name {role} --policy-name {shlex.quote(source)}")
            continue
        if managed:
            plan.new_version(source, edited)
        else:
            plan.commands.append(
                f"aws iam put-role-policy --role-name {role} --policy-name {shlex.quote(source)} "
                f"--policy-document {_inline(edited)}"
            )
        plan.permissions_policy = plan.permissions_policy or edited
        policies.append((source, edited))
    plan.state = replace(plan.state, identity_policies=tuple(policies))


def _unique_sids(statements: list[dict[str, Any]], taken: set[str]) -> list[dict[str, Any]]:
    """``statements`` with Sids no statement in ``taken`` uses (IAM wants them unique in a policy)."""
    renamed = []
    for statement in statements:
        sid, number = statement.get("Sid"), 2
        while sid in taken:
            sid, number = f"{statement['Sid']}{number}", number + 1
        taken.add(sid)
        renamed.append({**statement, "Sid": sid})
    return renamed


def _boundary_refuses(source: str, document: dict[str, Any], verdict: DeliveryVerdict) -> set[str]:
    """The delivery actions the boundary alone does not allow the role."""
    layers = Layers(identity=(_ALLOW_ALL,), boundaries=(compile_policy(document, source),))
    context = permission_context(verdict.region)
    return {
        check.action
        for check in verdict.checks
        if check.kind == "permission"
        and not decide(Request(verdict.role_arn, check.action, check.resource, verdict.account_id, context), layers).allowed
    }


def _fix_boundary(plan: _Plan, verdict: DeliveryVerdict) -> None:
    source, document = plan.state.permissions_boundary
    managed = _MANAGED_ARN.match(source)
    if managed is None:
        raise NoProvenFix(f"the permissions boundary {source} has no ARN to give the commands")
    # Keep the boundary: drop only its statements that deny delivery, then allow what it still refuses.
    edited = _without(document, _denying(verdict, "boundary").get(source, set()))
    refused = _boundary_refuses(source, edited, verdict)
    if refused:
        delivery = least_privilege_policy(
            log_group=verdict.log_group, region=verdict.region, account_id=verdict.account_id, partition=verdict.partition
        )["Statement"]
        added = [{**statement, "Action": [a for a in statement["Action"] if a in refused]} for statement in delivery]
        taken = {statement.get("Sid") for statement in edited["Statement"]}
        edited = {**edited, "Statement": [*edited["Statement"], *_unique_sids([s for s in added if s["Action"]], taken)]}
    role = _role_name(verdict.role_arn)
    if managed.group("account") == "aws":
        # An AWS managed policy cannot be edited: the edited copy becomes the account's own boundary.
        name = f"{role}-boundary"
        source = f"arn:{verdict.partition}:iam::{verdict.account_id}:policy/{name}"
        plan.commands += [
            f"aws iam create-policy --policy-name {shlex.quote(name)} --policy-document {_inline(edited)}",
            f"aws iam put-role-permissions-boundary --role-name {shlex.quote(role)} --permissions-boundary {shlex.quote(source)}",
        ]
    else:
        plan.new_version(source, edited)
    plan.state = replace(plan.state, permissions_boundary=(source, edited))


def _exempting(document: Any, indexes: set[int], role_arn: str) -> dict[str, Any]:
    """The policy with the role exempted from statements ``indexes``: one more condition each, which
    AWS ANDs with the conditions the statement has (or one more value of its ``ArnNotLike`` on
    ``aws:PrincipalArn``, which must match none of its values)."""
    normalised = normalise(document)
    statements = []
    for index, statement in enumerate(normalised["Statement"]):
        if index in indexes:
            condition = {operator: dict(keys) for operator, keys in (statement.get("Condition") or {}).items()}
            operator = next((name for name in condition if name.lower() == "arnnotlike"), "ArnNotLike")
            keys = condition.setdefault(operator, {})
            key = next((name for name in keys if name.lower() == "aws:principalarn"), "aws:PrincipalArn")
            keys[key] = [*as_list(keys[key]), role_arn] if key in keys else role_arn
            statement = {**statement, "Condition": condition}
        statements.append(statement)
    return {**normalised, "Statement": statements}


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
                document = _exempting(document, denying[source], verdict.role_arn)
                plan.commands.append(
                    f"aws organizations update-policy --policy-id {policy_id.group('id')} --content {_inline(document)}"
                )
            kept.append((source, document))
        levels.append(tuple(kept))
    plan.state = replace(plan.state, scp_levels=tuple(levels))


def scp_guard_kept(before: Any, after: Any, verdict: DeliveryVerdict) -> bool:
    """Whether the SCP levels ``after`` decide every delivery request of the account's other
    principals (:data:`GUARD_PROBES`) as ``before`` did: an edit that exempts the role keeps the guard.

    Parameters
    ----------
    before, after : sequence of sequences of policies
        SCP levels, root first, as :func:`propose_fix` takes them.
    verdict : DeliveryVerdict
        The delivery verdict whose requests are probed.
    """
    old = Layers(identity=(_ALLOW_ALL,), scp_levels=compile_levels(before, "scp_levels"))
    new = Layers(identity=(_ALLOW_ALL,), scp_levels=compile_levels(after, "scp_levels"))
    context = permission_context(verdict.region)
    for template in GUARD_PROBES:
        principal = template.format(partition=verdict.partition, account=verdict.account_id)
        for check in verdict.checks:
            if check.kind != "permission":
                continue
            request = Request(principal, check.action, check.resource, verdict.account_id, context)
            if decide(request, old).decision != decide(request, new).decision:
                return False
    return True


# root cause -> the fix that removes it
FIXES: dict[str, Callable[[_Plan, DeliveryVerdict], None]] = {
    "trust-missing-service": _fix_trust,
    "trust-condition-mismatch": _fix_trust,
    "permission-missing": _fix_permissions,
    "explicit-deny": _fix_explicit_deny,
    "boundary-deny": _fix_boundary,
    "scp-deny": _fix_scp,
}


def edited_resources(commands: Sequence[str], role_arn: str | None) -> list[str]:
    """The resources ``commands`` change, as ARNs where the command names them by ARN (a role named
    by its name is ``role_arn`` when the names agree)."""
    edited = []
    for command in commands:
        try:
            tokens = shlex.split(command)
        except ValueError:
            continue
        option = EDITED_BY.get(tuple(tokens[1:3])) if len(tokens) > 2 and tokens[0] == "aws" else None
        if option is None or option not in tokens[:-1]:
            continue
        value = tokens[tokens.index(option) + 1]
        edited.append(role_arn if option == "--role-name" and role_arn and _role_name(role_arn) == value else value)
    return edited


def edits_aws_owned(commands: Sequence[str], role_arn: str | None) -> str | None:
    """The first resource ``commands`` would change that AWS owns (customers cannot), or None."""
    return next((arn for arn in edited_resources(commands, role_arn) if owned_by_aws(arn)), None)


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
    policy_versions: Mapping[str, Sequence[str]] | None = None,
) -> Remediation | None:
    """The smallest proven change that restores delivery, with the AWS CLI commands that apply it.

    Parameters are those of :func:`flowforensics.analysis.iam.delivery.delivery_verdict`, plus
    ``policy_name``, the inline policy that receives the least-privilege permissions, and
    ``policy_versions``: customer managed policy ARN -> the ids of its versions other than the
    default, for the policies whose every version the evidence shows (at IAM's limit of five, the
    commands delete the oldest before creating a new one). Label policies as
    ``(name or ARN, document)`` so that commands can name them: an inline policy by its name, a
    managed policy (identity or boundary) or SCP by its ARN.

    Returns
    -------
    Remediation or None
        None when delivery is already allowed, or when no fix can be proven (for example an SCP
        level without any Allow, which only the organisation's management account can change, or
        a fix that would edit a resource AWS owns: a service-linked role, an AWS managed policy).
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
    if owned_by_aws(role_arn):
        return None  # a service-linked or AWS-reserved role: only AWS may change it
    verdict = state.verdict(target)
    if verdict.allowed:
        return None
    plan = _Plan(state, policy_name, dict(policy_versions or {}))
    first = verdict
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
    proven = (
        verdict.allowed
        and trust_admits_only_the_service(plan.state.trust_policy, account_id=account_id, partition=partition)
        and scp_guard_kept(state.scp_levels, plan.state.scp_levels, first)
    )
    if not proven or edits_aws_owned(plan.commands, role_arn):
        return None
    return Remediation(
        permissions_policy=plan.permissions_policy, trust_policy=plan.trust_policy, commands=plan.commands
    )
