"""The delivery verdict: may this role deliver a flow log to this log group, and if not, why not.

VPC Flow Logs assumes the role as ``vpc-flow-logs.amazonaws.com`` (the trust policy, with
``aws:SourceAccount`` and ``aws:SourceArn`` in the request context) and then calls five CloudWatch
Logs actions, each on its own resource (VPC User Guide, "IAM role for publishing flow logs to
CloudWatch Logs"): ``CreateLogGroup`` and ``DescribeLogStreams`` on the log group,
``CreateLogStream`` and ``PutLogEvents`` on its log streams, ``DescribeLogGroups`` on ``*``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from flowforensics.analysis.iam.documents import (
    CompiledPolicy,
    compile_levels,
    compile_many,
    compile_policy,
    labelled,
)
from flowforensics.analysis.iam.evaluate import EXPLICIT, IMPLICIT, Decision, Layers, Request, decide
from flowforensics.analysis.iam.explain import Explanation, explain

SERVICE_PRINCIPAL = "vpc-flow-logs.amazonaws.com"
TRUST_ACTION = "sts:AssumeRole"
TRUST_CHECK = "trust"
LOG_GROUP_ARN = "arn:{partition}:logs:{region}:{account}:log-group:{log_group}"
# action -> the resource it is authorised on (a format over LOG_GROUP_ARN's fields)
DELIVERY_ACTIONS: dict[str, str] = {
    "logs:CreateLogGroup": LOG_GROUP_ARN,
    "logs:CreateLogStream": LOG_GROUP_ARN + ":log-stream:*",
    "logs:PutLogEvents": LOG_GROUP_ARN + ":log-stream:*",
    "logs:DescribeLogGroups": "*",
    "logs:DescribeLogStreams": LOG_GROUP_ARN,
}
FLOW_LOG_ARN = "arn:{partition}:ec2:{region}:{account}:vpc-flow-log/{flow_log_id}"
# Delivery to an existing log group stops only when one of these is denied; the other recommended
# actions (CreateLogGroup, DescribeLogGroups, DescribeLogStreams) matter once the group is gone.
BLOCKING_CHECKS = (TRUST_CHECK, "logs:CreateLogStream", "logs:PutLogEvents")

# (check kind, decision, deciding layer, whether conditions decided it) -> root cause. ``None`` in
# the last place matches either way.
ROOT_CAUSE_TABLE: dict[tuple[str, str, str, bool | None], str] = {
    ("trust", IMPLICIT, "resource", True): "trust-condition-mismatch",
    ("trust", IMPLICIT, "resource", False): "trust-missing-service",
    ("trust", IMPLICIT, "none", None): "trust-missing-service",
    ("trust", EXPLICIT, "resource", True): "trust-condition-mismatch",
    ("trust", EXPLICIT, "resource", False): "trust-missing-service",
    ("permission", IMPLICIT, "identity", None): "permission-missing",
    ("permission", IMPLICIT, "none", None): "permission-missing",
    ("permission", EXPLICIT, "identity", None): "explicit-deny",
    ("permission", IMPLICIT, "boundary", None): "boundary-deny",
    ("permission", EXPLICIT, "boundary", None): "boundary-deny",
    ("permission", IMPLICIT, "scp", None): "scp-deny",
    ("permission", EXPLICIT, "scp", None): "scp-deny",
}
# When several checks fail, the cause to fix first: nothing works until the service can assume the
# role, and an allow cannot override a deny.
ROOT_CAUSE_PRECEDENCE = (
    "trust-missing-service",
    "trust-condition-mismatch",
    "scp-deny",
    "explicit-deny",
    "boundary-deny",
    "permission-missing",
    "inconclusive",
)
LAYER_NAMES = {
    "identity": "an identity policy of the role",
    "resource": "the trust policy",
    "boundary": "the permissions boundary",
    "scp": "a service control policy",
    "rcp": "a resource control policy",
    "session": "the session policy",
    "none": "no policy",
}
# Layer -> why it implicitly denies, in words: "no X allows it" where no policy of the layer allows,
# "X does not allow it" for the one document of its layer (never "no policy does not allow it").
IMPLICIT_DENIALS = {
    "identity": "no identity policy of the role allows it",
    "resource": "the trust policy does not allow it",
    "boundary": "the permissions boundary does not allow it",
    "scp": "a service control policy does not allow it",
    "rcp": "a resource control policy does not allow it",
    "session": "the session policy does not allow it",
    "none": "no policy allows it",
}


def flow_log_arn(*, flow_log_id: str, region: str, account_id: str, partition: str = "aws") -> str:
    """The ARN of a flow log, as VPC Flow Logs puts it in ``aws:SourceArn``."""
    return FLOW_LOG_ARN.format(partition=partition, region=region, account=account_id, flow_log_id=flow_log_id)


@dataclass(frozen=True)
class Check:
    """One request of delivery (the trust, or one ``logs:`` action) and AWS's decision on it."""

    name: str  # "trust" or the action
    principal: str
    action: str
    resource: str
    decision: Decision
    hint: str | None = None  # a known pitfall that explains the denial

    @property
    def kind(self) -> str:
        return "trust" if self.name == TRUST_CHECK else "permission"

    @property
    def conditional(self) -> bool:
        """Whether conditions decided a denial: an allow missed only on them, or a deny held by them."""
        decision = self.decision
        if decision.decision == IMPLICIT:
            return any(s.effect == "Allow" and s.layer == decision.decided_by for s in decision.unmet_conditions)
        return any(s.conditional for s in decision.deciding_statements)

    def root_cause(self) -> str | None:
        decision = self.decision
        if decision.allowed:
            return None
        table = ROOT_CAUSE_TABLE
        key = (self.kind, decision.decision, decision.decided_by)
        return table.get((*key, self.conditional)) or table.get((*key, None)) or "inconclusive"

    def reason(self, verdict: DeliveryVerdict) -> str:
        """One line naming what denies this check (statement and layer), or what is missing."""
        decision = self.decision
        what = f"{self.action} on {self.resource}"
        if decision.decision == EXPLICIT:
            names = ", ".join(s.label for s in decision.deciding_statements)
            return f"{what} is explicitly denied by {LAYER_NAMES[decision.decided_by]}: {names}"
        closest = self._closest(verdict)
        if self.kind == "trust" and self.conditional:
            names = ", ".join(s.label for s in decision.unmet_conditions if s.effect == "Allow")
            source_arn = verdict.flow_log_arn or "unknown (no flow log ARN given)"
            return (
                f"the trust policy lets {SERVICE_PRINCIPAL} assume the role only under conditions this flow log "
                f"does not meet ({names}; aws:SourceAccount={verdict.account_id}, aws:SourceArn={source_arn})"
                + closest
            )
        if self.kind == "trust":
            return f"no statement of the trust policy lets {SERVICE_PRINCIPAL} call {TRUST_ACTION}{closest}"
        line = f"{what} is implicitly denied: {IMPLICIT_DENIALS[decision.decided_by]}"
        return f"{line} ({self.hint})" if self.hint else line + closest

    def _closest(self, verdict: DeliveryVerdict) -> str:
        """The evaluator's closest statement and what of it does not match, as a clause ("" if none)."""
        explanation = self.explain(verdict)
        if explanation.mismatch is None or explanation.statement is None:
            return ""
        return f"; the closest is {explanation.statement.label}: {explanation.mismatch.words()}"

    def explain(self, verdict: DeliveryVerdict) -> Explanation:
        """Why this check was decided as it was (the closest statement and what did not match, the
        deny and its layer, or what allowed it)."""
        layers = verdict.trust_layers if self.kind == "trust" else verdict.permission_layers
        request = Request(self.principal, self.action, self.resource, verdict.account_id,
                          _trust_context(verdict.account_id, verdict.flow_log_arn) if self.kind == "trust"
                          else permission_context(verdict.region))
        return explain(request, layers, self.decision)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.name,
            "principal": self.principal,
            "action": self.action,
            "resource": self.resource,
            **self.decision.to_dict(),
        }


@dataclass(frozen=True)
class DeliveryVerdict:
    """Whether the role can deliver flow logs to the log group, check by check, and why not.

    Attributes
    ----------
    allowed : bool
        Every check is allowed: the trust and all five recommended actions.
    delivers : bool
        Delivery to the existing log group works: the checks of ``BLOCKING_CHECKS`` are allowed.
    checks : tuple of Check
        The trust decision, then the five ``logs:`` actions.
    root_cause : str or None
        An IAM root-cause code of :mod:`flowforensics.analysis.root_causes`; None when allowed.
    reasons : tuple of str
        One line per denied check, naming the statement or layer responsible.
    """

    role_arn: str
    log_group: str
    region: str
    account_id: str
    partition: str
    flow_log_arn: str | None
    checks: tuple[Check, ...]
    permission_layers: Layers = field(repr=False)
    trust_layers: Layers = field(repr=False)

    @property
    def allowed(self) -> bool:
        return all(check.decision.allowed for check in self.checks)

    @property
    def delivers(self) -> bool:
        return all(check.decision.allowed for check in self.checks if check.name in BLOCKING_CHECKS)

    @property
    def trust(self) -> Check:
        return self.checks[0]

    def check(self, name: str) -> Check:
        """The check named ``name`` (``trust`` or an action such as ``logs:PutLogEvents``)."""
        for check in self.checks:
            if check.name.lower() == name.lower():
                return check
        raise KeyError(name)

    @property
    def root_cause(self) -> str | None:
        causes = {check.root_cause() for check in self.checks} - {None}
        return next((code for code in ROOT_CAUSE_PRECEDENCE if code in causes), None)

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(check.reason(self) for check in self.checks if not check.decision.allowed)

    def evaluate_permission(self, action: str, resource: str) -> Decision:
        """Decide another request of the role (as SimulatePrincipalPolicy would) on the same policies."""
        request = Request(self.role_arn, action, resource, self.account_id, permission_context(self.region))
        return decide(request, self.permission_layers)

    def to_dict(self) -> dict[str, Any]:
        """The verdict as JSON-ready data."""
        return {
            "allowed": self.allowed,
            "delivers": self.delivers,
            "root_cause": self.root_cause,
            "reasons": list(self.reasons),
            "role_arn": self.role_arn,
            "log_group": self.log_group,
            "region": self.region,
            "account_id": self.account_id,
            "flow_log_arn": self.flow_log_arn,
            "checks": [{**check.to_dict(), "explanation": check.explain(self).to_dict()} for check in self.checks],
        }

    def _repr_html_(self) -> str:
        esc = html.escape
        if self.allowed:
            verdict = "delivery allowed"
        elif self.delivers:
            verdict = "delivery works, but not every recommended action is allowed"
        else:
            verdict = f"delivery denied: {esc(self.root_cause or '')}"
        rows = "".join(
            f"<tr><td>{esc(c.action)}</td><td><code>{esc(c.resource)}</code></td><td>{esc(c.decision.decision)}</td>"
            f"<td>{esc(c.decision.decided_by)}</td>"
            f"<td>{esc('; '.join(s.label + ' (' + s.effect + ')' for s in c.decision.statements))}</td></tr>"
            for c in self.checks
        )
        reasons = "".join(f"<li>{esc(reason)}</li>" for reason in self.reasons)
        return (
            f"<div class='ff-iam-verdict'><h4>{verdict}</h4>"
            f"<p>role <code>{esc(self.role_arn)}</code> to log group <code>{esc(self.log_group)}</code> "
            f"({esc(self.region)}, {esc(self.account_id)})</p>"
            f"<table><tr><th>action</th><th>resource</th><th>decision</th><th>decided by</th>"
            f"<th>matched statements</th></tr>{rows}</table>"
            + (f"<ul>{reasons}</ul>" if reasons else "")
            + "</div>"
        )


def _trust_context(account_id: str, flow_log_arn: str | None) -> dict[str, Any]:
    """The context VPC Flow Logs sends when it assumes the role."""
    context = {"aws:SourceAccount": account_id}
    if flow_log_arn:
        context["aws:SourceArn"] = flow_log_arn
    return context


def permission_context(region: str) -> dict[str, Any]:
    """The context of the role's own ``logs:`` calls (the region they go to)."""
    return {"aws:RequestedRegion": region}


def delivery_verdict(
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
) -> DeliveryVerdict:
    """Decide whether the role can deliver flow logs to ``log_group``, as AWS would.

    Parameters
    ----------
    role_arn : str
        The flow log's delivery role (``DeliverLogsPermissionArn``).
    trust_policy : dict or str or None
        The role's ``AssumeRolePolicyDocument``.
    identity_policies : iterable
        The role's inline and attached managed policies, bare or as ``(name or ARN, document)``.
    permissions_boundary : optional
        The boundary's document (or ``(ARN, document)``).
    scp_levels : iterable of iterables
        The SCPs that apply to the role's account, one list per level from the root down.
    log_group, region, account_id, partition : str
        Where the flow log delivers.
    flow_log_arn : str, optional
        The flow log's ARN, which VPC Flow Logs sends as ``aws:SourceArn`` (see :func:`flow_log_arn`);
        without it, trust conditions on ``aws:SourceArn`` cannot hold.

    Returns
    -------
    DeliveryVerdict
        Cached: the same state (same documents, same target) returns the same verdict.
    """
    trust_source, trust_document = labelled(trust_policy, "trust_policy")
    trust = None if trust_document is None else compile_policy(trust_document, trust_source)
    identity = compile_many(identity_policies, "identity_policies")
    boundary_source, boundary_document = labelled(permissions_boundary, "permissions_boundary")
    boundary = () if boundary_document is None else (compile_policy(boundary_document, boundary_source),)
    scps = compile_levels(scp_levels, "scp_levels")
    return _verdict(role_arn, trust, identity, boundary, scps, log_group, region, account_id, flow_log_arn, partition)


@lru_cache(maxsize=4096)
def _verdict(
    role_arn: str,
    trust: CompiledPolicy | None,
    identity: tuple[CompiledPolicy, ...],
    boundary: tuple[CompiledPolicy, ...],
    scps: tuple[tuple[CompiledPolicy, ...], ...],
    log_group: str,
    region: str,
    account_id: str,
    flow_log_arn: str | None,
    partition: str,
) -> DeliveryVerdict:
    # Compiled policies are cached by content, so equal states arrive here as the same objects.
    fields = {"partition": partition, "region": region, "account": account_id, "log_group": log_group}
    trust_layers = Layers(resource=trust)
    permission_layers = Layers(identity=identity, boundaries=boundary, scp_levels=scps)
    trust_context = _trust_context(account_id, flow_log_arn)
    # SCPs govern the account's own principals, never a service principal assuming the role.
    checks = [Check(TRUST_CHECK, SERVICE_PRINCIPAL, TRUST_ACTION, role_arn,
                    decide(Request(SERVICE_PRINCIPAL, TRUST_ACTION, role_arn, account_id, trust_context), trust_layers))]
    context = permission_context(region)
    for action, template in DELIVERY_ACTIONS.items():
        resource = template.format(**fields)
        decision = decide(Request(role_arn, action, resource, account_id, context), permission_layers)
        hint = None
        if decision.decision == IMPLICIT and decision.decided_by == "identity":
            hint = _pitfall(role_arn, action, resource, fields, account_id, context, permission_layers)
        checks.append(Check(action, role_arn, action, resource, decision, hint))
    return DeliveryVerdict(
        role_arn, log_group, region, account_id, partition, flow_log_arn, tuple(checks), permission_layers, trust_layers
    )


def _pitfall(
    role_arn: str, action: str, resource: str, fields: dict[str, str], account_id: str, context: dict[str, Any], layers: Layers
) -> str | None:
    """Name the resource-scoping mistake behind a denial, when the same action is allowed on the
    log group's own ARN (docs/contracts.md, "Facts that are easy to get wrong")."""
    group_arn = LOG_GROUP_ARN.format(**fields)
    if resource == group_arn or not decide(Request(role_arn, action, group_arn, account_id, context), layers).allowed:
        return None
    if resource == "*":
        return f"a statement allows it on {group_arn}, but {action} is authorised only on Resource \"*\""
    return (
        f"a statement allows it on {group_arn} without ':*', but {action} acts on the log streams "
        f"({resource})"
    )
