"""The IAM delivery verdict at every state of the role's history: the ``verdicts`` frame.

Each distinct state is evaluated once (the IAM evaluator of :mod:`flowforensics.analysis.iam` is
given the known documents). A state with holes still gets a verdict when what is known already
decides it: an explicit deny, or a known trust policy that refuses the service, holds whatever the
unknown policies say; an allow does not, since an unknown policy could deny.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowforensics.analysis.history import RoleHistory, RoleSnapshot
from flowforensics.analysis.iam.delivery import (
    BLOCKING_CHECKS,
    ROOT_CAUSE_PRECEDENCE,
    DeliveryVerdict,
    delivery_verdict,
)
from flowforensics.frames.iam_changes import UNKNOWN
from flowforensics.frames.schema import frame

FULL_AWS_ACCESS_ID = "p-FullAWSAccess"
# AWS attaches FullAWSAccess to every root, OU and account; collected SCPs often leave it out.
FULL_AWS_ACCESS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@dataclass(frozen=True)
class Target:
    """Where a flow log delivers: what the IAM verdict is asked about."""

    role_arn: str
    log_group: str
    region: str
    account_id: str
    flow_log_arn: str | None = None
    partition: str = "aws"


@dataclass
class StateVerdict:
    """The verdict of one role state.

    Attributes
    ----------
    allowed : bool or None
        ``None`` when the evidence cannot decide (see ``holes``).
    root_cause : str or None
        The IAM root-cause code (``role-deleted`` when the role does not exist); None when allowed.
    reason : str
        The statement and layer responsible, or what is unknown, in one line.
    verdict : DeliveryVerdict or None
        The evaluator's verdict on the known documents (None when the role does not exist).
    holes : list of str
        What the state does not know.
    explanations : list of dict
        For a denied state: the evaluator's explanation of each check that denies it (``check`` names it).
    """

    allowed: bool | None
    root_cause: str | None
    reason: str
    verdict: DeliveryVerdict | None = None
    holes: list[str] = field(default_factory=list)
    explanations: list[dict[str, Any]] = field(default_factory=list)  # why each denying check was denied


@dataclass
class Verdicts:
    """The ``verdicts`` frame of one role and flow log, with each row's :class:`StateVerdict`."""

    frame: Any
    states: list[StateVerdict]


def _known(items: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [(label, document) for label, document in items if document is not UNKNOWN]


def _definitive(check: Any, snapshot: RoleSnapshot) -> bool:
    """Whether a denial on the known documents holds whatever the unknown ones say."""
    decision = check.decision
    if check.kind == "trust":
        return snapshot.role.trust_policy is not UNKNOWN
    if decision.decision == "ExplicitlyDenied":
        return True
    if decision.decided_by == "boundary":
        return snapshot.boundary() is not UNKNOWN
    if decision.decided_by == "scp":
        return all(document is not UNKNOWN for _, document in snapshot.scps())
    role = snapshot.role
    return role.complete and all(document is not UNKNOWN for _, document in snapshot.identity_policies())


def scp_levels(snapshot: RoleSnapshot) -> tuple[tuple[Any, ...], ...]:
    """The SCPs in force by level when collection recorded where each is attached; else as one level."""
    by_level = snapshot.scp_levels()
    if by_level is not None:
        return tuple(tuple(_known(level)) for level in by_level)
    scps = _known(snapshot.scps())
    if not scps:
        return ()
    if all(policy_id != FULL_AWS_ACCESS_ID for policy_id, _ in scps):
        scps.append((f"{FULL_AWS_ACCESS_ID} (AWS default)", FULL_AWS_ACCESS))
    return (tuple(scps),)


def _unplaced_denials(snapshot: RoleSnapshot, evaluate: Any) -> list[str]:
    """The SCPs of known document but unknown attachment that would deny delivery if attached: holes.

    Each is evaluated as if attached at the first level (beside FullAWSAccess when no level is
    known), which shows its explicit denies.
    """
    holes = []
    levels = scp_levels(snapshot) or (((f"{FULL_AWS_ACCESS_ID} (AWS default)", FULL_AWS_ACCESS),),)
    for policy_id, document in snapshot.unplaced_scps():
        if document is UNKNOWN:
            continue  # already a hole of RoleSnapshot.holes
        verdict = evaluate(((*levels[0], (policy_id, document)), *levels[1:]))
        if any(not check.decision.allowed and check.decision.decided_by == "scp" for check in verdict.checks
               if check.name in BLOCKING_CHECKS):
            holes.append(f"where SCP {policy_id} is attached (it would deny delivery; the evidence shows it "
                         "changed, not where it applies)")
    return holes


def state_verdict(snapshot: RoleSnapshot, target: Target) -> StateVerdict:
    """Evaluate delivery in one role state.

    Parameters
    ----------
    snapshot : RoleSnapshot
        The state.
    target : Target
        The flow log's role, log group, region and account.

    Returns
    -------
    StateVerdict
    """
    role = snapshot.role
    if not role.exists:
        return StateVerdict(False, "role-deleted", f"role {snapshot.role_name} does not exist")
    trust = None if role.trust_policy is UNKNOWN else role.trust_policy
    boundary = snapshot.boundary()

    def evaluate(levels: tuple[tuple[Any, ...], ...]) -> DeliveryVerdict:
        return delivery_verdict(
            role_arn=target.role_arn,
            trust_policy=("trust policy", trust),
            identity_policies=_known(snapshot.identity_policies()),
            permissions_boundary=None if boundary is UNKNOWN or boundary is None else (role.permissions_boundary_arn, boundary),
            scp_levels=levels,
            log_group=target.log_group,
            region=target.region,
            account_id=target.account_id,
            flow_log_arn=target.flow_log_arn,
            partition=target.partition,
        )

    verdict = evaluate(scp_levels(snapshot))
    holes = snapshot.holes() + _unplaced_denials(snapshot, evaluate)
    denied = [check for check in verdict.checks if not check.decision.allowed and check.name in BLOCKING_CHECKS]
    held = [check for check in denied if _definitive(check, snapshot)]
    others = [check.reason(verdict) for check in verdict.checks if not check.decision.allowed and check.name not in BLOCKING_CHECKS]
    remark = f" (not needed while the log group exists: {'; '.join(others)})" if others else ""
    if held:
        causes = {check.root_cause() for check in held}
        cause = next(code for code in ROOT_CAUSE_PRECEDENCE if code in causes)
        reasons = [check.reason(verdict) for check in held if check.root_cause() == cause]
        explanations = [{"check": check.name, **check.explain(verdict).to_dict()} for check in held
                        if check.root_cause() == cause]
        return StateVerdict(False, cause, "; ".join(reasons), verdict, holes, explanations)
    if holes:
        return StateVerdict(None, None, "unknown: the evidence does not show " + "; ".join(holes), verdict, holes)
    return StateVerdict(True, None, "delivery allowed: the trust, logs:CreateLogStream and logs:PutLogEvents are allowed" + remark, verdict)


def verdicts(history: RoleHistory, target: Target) -> Verdicts:
    """The verdict at every state of ``history``: intervals of delivery allowed and denied.

    Each distinct state is evaluated once, however often it recurs.

    Returns
    -------
    Verdicts
        ``.frame`` is the ``verdicts`` frame (one row per state, oldest first).
    """
    cache: dict[str, StateVerdict] = {}
    rows, states = [], []
    snapshots = history.snapshots
    for position, snapshot in enumerate(snapshots):
        key = snapshot.key()
        if key not in cache:
            cache[key] = state_verdict(snapshot, target)
        state = cache[key]
        states.append(state)
        following = snapshots[position + 1] if position + 1 < len(snapshots) else None
        rows.append(
            {
                "start": snapshot.start,
                "end": following.start if following is not None else None,
                "allowed": state.allowed,
                "root_cause": state.root_cause,
                "reason": state.reason,
                "event_id": snapshot.event_id,
                "event_name": snapshot.event_name,
                "actor": snapshot.actor,
            }
        )
    return Verdicts(frame("verdicts", rows), states)
