"""The layered decision: what AWS decides for one request, which layer decided, and which statements matched.

The order is AWS's documented one (IAM User Guide, "Policy evaluation logic"): an explicit deny in
any layer wins; then resource control policies and service control policies, where every level
from the root down must allow; then resource-based and identity-based policies, either of which may
grant within one account (both must across accounts); then permissions boundaries and session
policies, which only limit. A resource-based policy that names the principal itself (not just its
account) grants users, role sessions and services on its own; for a role it still passes through
the role's boundary and session policy, unless the policy grants to ``*``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from flowforensics.analysis.iam.documents import (
    CompiledPolicy,
    CompiledStatement,
    compile_levels,
    compile_many,
    compile_policy,
    labelled,
)
from flowforensics.analysis.iam.matching import Principal, parse_principal
from flowforensics.analysis.iam.reference import request_warnings
from flowforensics.analysis.iam.rules import (
    PRINCIPAL_DOC,
    aws_owned,
    no_permission_needed,
    resource_policy_required,
)

ALLOWED = "Allowed"
IMPLICIT = "ImplicitlyDenied"
EXPLICIT = "ExplicitlyDenied"
# Layers in the order AWS looks for an explicit deny, and in which matched statements are listed.
LAYERS = ("rcp", "scp", "resource", "identity", "boundary", "session")
# Principals that a resource-based policy naming them exactly grants on their own, past boundaries
# and session policies (a role, or a role session named through its role's ARN, stays limited).
_RESOURCE_POLICY_SUFFICES = {"user", "session", "service", "anonymous", "federated"}


@dataclass(frozen=True)
class Request:
    """One request: who asks to do what on which resource, in which context.

    ``context`` keys are matched case-insensitively; AWS's own keys that follow from the principal
    and the resource (``aws:PrincipalArn``, ``aws:PrincipalAccount``, ``aws:PrincipalServiceName``,
    ``aws:PrincipalIsAWSService``, ``aws:username`` of a user, ``aws:ResourceAccount``) are added
    when the context does not give them.
    """

    principal: str
    action: str
    resource: str
    resource_account: str | None = None
    context: Mapping[str, Any] | None = None

    @classmethod
    def of(cls, value: Request | Mapping[str, Any]) -> Request:
        """A request from itself or from the ``request`` object of the ``iam simulate`` contract."""
        if isinstance(value, Request):
            return value
        return cls(
            principal=value.get("principal") or "*",
            action=value["action"],
            resource=value.get("resource") or "*",
            resource_account=value.get("resource_account"),
            context=value.get("context") or {},
        )


def request_context(request: Request, principal: Principal) -> dict[str, Any]:
    """The context as evaluated: lower-case keys, with the keys AWS derives from the request."""
    context = {key.lower(): value for key, value in (request.context or {}).items()}
    derived: dict[str, Any] = {}
    if principal.is_iam:
        derived["aws:principalaccount"] = principal.account
        # "aws:PrincipalIsAWSService": present in every signed request, false for IAM principals.
        derived["aws:principalisawsservice"] = False
        if principal.kind == "session" and principal.role_arn_name:
            derived["aws:principalarn"] = f"arn:{principal.partition}:iam::{principal.account}:role/{principal.role_arn_name}"
        elif principal.kind != "root" or principal.text.startswith("arn:"):
            derived["aws:principalarn"] = principal.text
        if principal.kind == "user":
            # "aws:username" is the user's friendly name: the last part of its ARN, after any path.
            derived["aws:username"] = principal.text.rsplit("/", 1)[-1]
    elif principal.kind == "service":
        derived["aws:principalservicename"] = principal.text
        derived["aws:principalisawsservice"] = True
    if request.resource_account:
        derived["aws:resourceaccount"] = request.resource_account
    for key, value in derived.items():
        context.setdefault(key, value)
    return context


@dataclass(frozen=True)
class MatchedStatement:
    """A statement that applied to the request, named by its policy (``source``) and ``sid``."""

    source: str
    sid: str | None
    effect: str
    layer: str
    index: int
    conditional: bool  # whether it has conditions (they held, or they are why it did not apply)

    @classmethod
    def of(cls, statement: CompiledStatement, layer: str) -> MatchedStatement:
        return cls(statement.source, statement.sid, statement.effect, layer, statement.index, bool(statement.conditions))

    @property
    def label(self) -> str:
        name = repr(self.sid) if self.sid else f"#{self.index}"
        return f"statement {name} of {self.source}"

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "sid": self.sid, "effect": self.effect}


@dataclass(frozen=True)
class Rule:
    """A rule outside the policy grammar that decided a request: its name, the sentence that says
    what it did, and the AWS page that states it."""

    name: str  # no-permission-needed | resource-policy-required | aws-owned
    sentence: str
    doc: str


@dataclass(frozen=True)
class Decision:
    """AWS's answer to one request, and why.

    Attributes
    ----------
    decision : str
        ``Allowed``, ``ImplicitlyDenied`` or ``ExplicitlyDenied``.
    decided_by : str
        The layer that decided: ``identity``, ``resource``, ``boundary``, ``scp``, ``rcp``,
        ``session``, or ``none`` when no policy could grant anything.
    statements : tuple of MatchedStatement
        Every statement that applied (action, resource, principal and conditions), layer by layer.
    unmet_conditions : tuple of MatchedStatement
        Statements that would have applied but for their conditions (why a trust "almost" allows).
    warnings : tuple of str
        What the request or its policies say outside the policy grammar, and how it was read.
    rule : Rule or None
        The rule outside the policy grammar that decided, when one did (see :mod:`.rules`).
    """

    decision: str
    decided_by: str
    statements: tuple[MatchedStatement, ...] = ()
    unmet_conditions: tuple[MatchedStatement, ...] = ()
    warnings: tuple[str, ...] = ()
    rule: Rule | None = None

    @property
    def allowed(self) -> bool:
        return self.decision == ALLOWED

    @property
    def deciding_statements(self) -> tuple[MatchedStatement, ...]:
        """The statements of the deciding layer with the deciding effect."""
        effect = "Allow" if self.allowed else "Deny"
        return tuple(s for s in self.statements if s.layer == self.decided_by and s.effect == effect)

    def to_dict(self) -> dict[str, Any]:
        """The ``iam simulate`` answer of docs/contracts.md."""
        return {
            "decision": self.decision,
            "decided_by": self.decided_by,
            "statements": [statement.to_dict() for statement in self.statements],
        }


@dataclass(frozen=True)
class Layers:
    """The compiled policies that apply to a request, layer by layer."""

    identity: tuple[CompiledPolicy, ...] = ()
    resource: CompiledPolicy | None = None
    boundaries: tuple[CompiledPolicy, ...] = ()
    scp_levels: tuple[tuple[CompiledPolicy, ...], ...] = ()
    rcp_levels: tuple[tuple[CompiledPolicy, ...], ...] = ()
    session: CompiledPolicy | None = None

    @classmethod
    def compile(
        cls,
        *,
        identity_policies: Iterable[Any] | None = (),
        resource_policy: Any = None,
        permissions_boundaries: Iterable[Any] | None = (),
        scp_levels: Iterable[Any] | None = (),
        rcp_levels: Iterable[Any] | None = (),
        session_policy: Any = None,
    ) -> Layers:
        """Compile every layer (policies bare or as ``(source_label, document)`` pairs)."""
        return cls(
            identity=compile_many(identity_policies, "identity_policies"),
            resource=_single(resource_policy, "resource_policy"),
            boundaries=compile_many(permissions_boundaries, "permissions_boundaries"),
            scp_levels=compile_levels(scp_levels, "scp_levels"),
            rcp_levels=compile_levels(rcp_levels, "rcp_levels"),
            session=_single(session_policy, "session_policy"),
        )

    def _by_layer(self) -> Iterable[tuple[str, Iterable[CompiledPolicy]]]:
        yield "rcp", (policy for level in self.rcp_levels for policy in level)
        yield "scp", (policy for level in self.scp_levels for policy in level)
        yield "resource", (self.resource,) if self.resource else ()
        yield "identity", self.identity
        yield "boundary", self.boundaries
        yield "session", (self.session,) if self.session else ()


def _single(value: Any, default: str) -> CompiledPolicy | None:
    source, document = labelled(value, default)
    return None if document in (None, "") else compile_policy(document, source)


def evaluate(
    request: Request | Mapping[str, Any],
    *,
    identity_policies: Iterable[Any] | None = (),
    resource_policy: Any = None,
    permissions_boundaries: Iterable[Any] | None = (),
    scp_levels: Iterable[Any] | None = (),
    rcp_levels: Iterable[Any] | None = (),
    session_policy: Any = None,
) -> Decision:
    """Decide a request offline, as AWS would.

    Parameters
    ----------
    request : Request or mapping
        ``{"principal", "action", "resource", "resource_account", "context"}`` (the ``request``
        object of ``iam simulate``).
    identity_policies, permissions_boundaries : iterable
        Policies as objects, JSON strings or URL-encoded JSON, bare or as ``(label, document)``.
    resource_policy, session_policy : optional
        One policy each (the trust policy is the resource policy of ``sts:AssumeRole``).
    scp_levels, rcp_levels : iterable of iterables
        One list of policies per level, root first. Every level must allow; an empty list of
        levels means none apply.

    Returns
    -------
    Decision

    Raises
    ------
    flowforensics.analysis.iam.documents.PolicyError
        When a policy cannot be parsed or is not valid.
    """
    layers = Layers.compile(
        identity_policies=identity_policies,
        resource_policy=resource_policy,
        permissions_boundaries=permissions_boundaries,
        scp_levels=scp_levels,
        rcp_levels=rcp_levels,
        session_policy=session_policy,
    )
    return decide(Request.of(request), layers)


def _match(
    policy: CompiledPolicy, layer: str, principal: Principal, request: Request, context: Mapping[str, Any]
) -> tuple[list[CompiledStatement], list[MatchedStatement]]:
    """The statements of ``policy`` that apply, and those that would but for their conditions."""
    matched, unmet = [], []
    for statement in policy.statements:
        if layer == "resource" and statement.principals is None:
            continue  # a resource-based policy's statement without Principal matches nobody
        if statement.applies(principal, request.action, request.resource, context):
            if statement.conditions_hold(context):
                matched.append(statement)
            else:
                unmet.append(MatchedStatement.of(statement, layer))
    return matched, unmet


def _levels_allow(levels: tuple[tuple[CompiledPolicy, ...], ...], allowed: set[int]) -> bool:
    return all(any(id(policy) in allowed for policy in level) for level in levels)


def decide(request: Request, layers: Layers) -> Decision:
    """Decide ``request`` against already compiled ``layers`` (see :func:`evaluate`)."""
    principal = parse_principal(request.principal)
    if principal.is_service_linked:
        # "SCPs don't affect any service-linked role" (Organizations User Guide, "Service control policies").
        layers = replace(layers, scp_levels=())
    context = request_context(request, principal)
    matched: dict[str, list[CompiledStatement]] = {}
    listed: list[MatchedStatement] = []
    unmet: list[MatchedStatement] = []
    allowing_policies: set[int] = set()  # ids of the organisation policies with an applying Allow
    warnings: list[str] = list(request_warnings(request.action, request.context))
    for layer, policies in layers._by_layer():
        statements, near = [], []
        for policy in policies:
            warnings.extend(policy.warnings)
            if layer == "resource":
                warnings.extend(
                    f"{policy.source} statement #{s.index} has no Principal: in a resource-based policy it matches "
                    f"nobody ({PRINCIPAL_DOC})"
                    for s in policy.statements if s.principals is None
                )
            found, missed = _match(policy, layer, principal, request, context)
            if any(s.allow for s in found):
                allowing_policies.add(id(policy))
            statements.extend(found)
            near.extend(missed)
        matched[layer] = statements
        listed.extend(MatchedStatement.of(s, layer) for s in statements)
        unmet.extend(near)

    def answer(decision: str, decided_by: str, rule: Rule | None = None) -> Decision:
        return Decision(decision, decided_by, tuple(listed), tuple(unmet), tuple(warnings), rule)

    free = no_permission_needed(request.action)
    if free:
        # Not even an explicit deny stops it: the same answer comes back when access is denied.
        return answer(ALLOWED, "none", Rule("no-permission-needed", f"{request.action} needs no permission: AWS "
                                             "allows it whatever the policies say, even an explicit deny", free))
    for layer in LAYERS:
        if any(not s.allow for s in matched[layer]):
            return answer(EXPLICIT, layer)
    owned = None if principal.kind == "service" or principal.is_service_linked else aws_owned(request.action, request.resource)
    if owned:
        return answer(EXPLICIT, "none", Rule("aws-owned", f"{request.resource} is {owned.what}: AWS refuses "
                                             f"{request.action} from customers whatever the policies allow", owned.doc))
    if not _levels_allow(layers.rcp_levels, allowing_policies):
        return answer(IMPLICIT, "rcp")
    if not _levels_allow(layers.scp_levels, allowing_policies):
        return answer(IMPLICIT, "scp")

    # No Deny applied past this point: every matched statement is an Allow.
    resource_allows = matched["resource"]
    identity_allows = bool(matched["identity"])
    boundary_ok = not layers.boundaries or bool(matched["boundary"])
    session_ok = layers.session is None or bool(matched["session"])
    cross_account = bool(principal.account and request.resource_account and principal.account != request.resource_account)
    names_principal = any(not s.delegates_to_account(principal) for s in resource_allows)
    names_exactly = any(s.names_exactly(principal) for s in resource_allows)
    # A grant to "*" is not limited by the boundary or session policy of a role either
    # (IAM User Guide, "Principal": "IAM role principals").
    names_everyone = any(s.names_everyone for s in resource_allows)

    required = resource_policy_required(request.action, request.resource)
    if cross_account:
        # Across accounts both sides must grant: the resource's policy and the caller's own.
        if not resource_allows:
            return answer(IMPLICIT, "resource")
        granted_by = "identity"
    elif (names_exactly and principal.kind in _RESOURCE_POLICY_SUFFICES) or names_everyone:
        return answer(ALLOWED, "resource")
    elif names_principal:
        granted_by = "resource"
    else:
        granted_by = "identity"
    if granted_by == "identity" and not identity_allows:
        # A resource policy that admits the account's principals leaves the decision to identity policies.
        delegated = any(s.delegates_to_account(principal) for s in resource_allows)
        return answer(IMPLICIT, "identity" if delegated else _nothing_granted(layers, principal))
    if required and not resource_allows:
        # Within one account too, the trust policy or key policy must allow (or delegate to the
        # account): an identity policy alone is not enough.
        missing = "no statement of it allows it" if layers.resource is not None else (
            "none was given (every such resource has one): the answer assumes it allows nothing")
        return answer(IMPLICIT, "resource", Rule(
            "resource-policy-required",
            f"{request.action} on {request.resource} needs {required.policy} to allow it, even within one account; {missing}",
            required.doc))
    if not boundary_ok:
        return answer(IMPLICIT, "boundary")
    if not session_ok:
        return answer(IMPLICIT, "session")
    return answer(ALLOWED, granted_by)


def _nothing_granted(layers: Layers, principal: Principal) -> str:
    """Which layer failed to grant, when neither a resource nor an identity policy did."""
    if layers.resource is not None and (not layers.identity or not principal.is_iam):
        return "resource"
    # Only identity policies grant an account's own principals; "none" when no policy was given at all.
    given = layers.identity or layers.boundaries or layers.session or layers.scp_levels or layers.rcp_levels
    return "identity" if given else "none"
