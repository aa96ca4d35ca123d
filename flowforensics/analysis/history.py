"""A delivery role's history, replayed from CloudTrail on the table of :mod:`flowforensics.frames.iam_changes`.

When the evidence holds the role's current state (``get-account-authorization-details`` or
``get-role``), the history is anchored on it and walked back event by event: what an event
overwrote is not in the event, so it becomes a hole (``UNKNOWN``) until an earlier event shows it.
A collection that shows the role absent (``get-role``'s ``NoSuchEntity``, a whole account listing
without it) is a current state too: the role does not exist.
Without a current state, the history starts unknown and is known from ``CreateRole`` on. Either way
every state says what it does not know (:meth:`RoleSnapshot.holes`) instead of guessing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowforensics.analysis.cache import per_evidence
from flowforensics.analysis.gaps import ABSENT_ERRORS, Gap, role_reads, unread_note
from flowforensics.evidence.values import text
from flowforensics.frames.iam_changes import (
    TABLES,
    UNKNOWN,
    IamState,
    ManagedPolicyState,
    RoleState,
    ScpState,
)

GLOBAL_REGION = "us-east-1"  # where CloudTrail records IAM
# The collected SCPs of describe-policy apply, but the evidence does not say to which target.
COLLECTED_TARGET = "(collected)"
# The SCPs of the account, when reading them failed: unknown, never "none".
UNREAD_SCPS = "(not read)"
UNREAD_SCPS_HOLE = "the service control policies that apply to the account"


def _unread_list(role: RoleState, gap: Gap) -> None:
    role.complete = False


def _unread_inline(role: RoleState, gap: Gap) -> None:
    name = text(gap.parameters.get("PolicyName"))
    if name is None:
        role.complete = False
    elif role.inline_policies.get(name) is None:
        role.inline_policies[name] = UNKNOWN


# A refused read of the collected role -> what it leaves unknown in the role as collected (collection
# writes what it could read: a list refused reads as empty, a policy refused is left out).
UNREAD_EFFECTS: dict[str, Callable[[RoleState, Gap], None]] = {
    "iam:ListRolePolicies": _unread_list,
    "iam:ListAttachedRolePolicies": _unread_list,
    "iam:GetRolePolicy": _unread_inline,
}


def _key(request: Any, name: str) -> str | None:
    return text(request.get(name)) if isinstance(request, Mapping) else None


@dataclass
class RoleSnapshot:
    """The role, its managed policies and the SCPs in force from one event until the next.

    Attributes
    ----------
    start : pandas.Timestamp or None
        When this state began; ``None`` for the state before the first event of the evidence.
    event_id, event_name, event_source, actor : str or None
        The event that began it.
    state : IamState
        The role (under ``role_name``), its managed policies and the SCPs, with ``UNKNOWN`` holes.
    """

    role_name: str
    start: Any
    event_id: str | None
    event_name: str | None
    event_source: str | None
    actor: str | None
    state: IamState
    unread: tuple[str, ...] = ()  # the reads of its documents that failed, said (gaps.unread_note)

    @property
    def role(self) -> RoleState:
        """The role as it was in this state."""
        return self.state.roles.get(self.role_name) or RoleState(role_name=self.role_name)

    def managed_document(self, arn: str | None) -> Any:
        """The default document of the managed policy ``arn`` (``UNKNOWN`` when not shown)."""
        policy = self.state.managed.get(arn) if isinstance(arn, str) else None
        return policy.document if policy is not None and policy.exists else UNKNOWN

    def identity_policies(self) -> list[tuple[str, Any]]:
        """(label, document) of every inline and attached managed policy; documents may be ``UNKNOWN``."""
        role = self.role
        inline = [(f"inline:{name}", document) for name, document in sorted(role.inline_policies.items())]
        managed = [(arn, self.managed_document(arn)) for arn in role.attached_policy_arns]
        return inline + managed

    def boundary(self) -> Any:
        """The permissions boundary document: ``None`` without one, ``UNKNOWN`` when not shown."""
        arn = self.role.permissions_boundary_arn
        if arn is None:
            return None
        return UNKNOWN if arn is UNKNOWN else self.managed_document(arn)

    def scps(self) -> list[tuple[str, Any]]:
        """(policy id, document) of the SCPs attached somewhere in the organisation in this state."""
        return [(scp.policy_id, scp.document) for scp in self.state.scps.values() if scp.exists and scp.targets]

    def unplaced_scps(self) -> list[tuple[str, Any]]:
        """(policy id, document) of the SCPs that may be attached: no event shows where, nor that they are not."""
        return [(scp.policy_id, scp.document) for scp in self.state.scps.values() if scp.attached is None]

    def scp_levels(self) -> list[list[tuple[str, Any]]] | None:
        """The SCPs in force by level, root first, when every one of them says where it is attached."""
        in_force = [scp for scp in self.state.scps.values() if scp.exists and scp.targets]
        if not in_force or not all(scp.levels for scp in in_force):
            return None
        depth = max(level for scp in in_force for level in scp.levels)
        return [[(scp.policy_id, scp.document) for scp in in_force if level in scp.levels] for level in range(depth + 1)]

    def holes(self) -> list[str]:
        """What this state does not know, one phrase each (empty when fully known)."""
        role = self.role
        if not role.exists:
            return []
        name = self.role_name
        why = "" if self.unread else " (no CreateRole event and no current role state)"
        missing = [] if role.complete else [f"which policies role {name} had{why}"]
        if role.trust_policy is UNKNOWN:
            missing.append(f"the trust policy of role {name}")
        missing += [f"the document of {label} of role {name}" for label, doc in self.identity_policies() if doc is UNKNOWN]
        if role.permissions_boundary_arn is not None and self.boundary() is UNKNOWN:
            missing.append(f"the permissions boundary of role {name}")
        missing += [f"the document of SCP {policy_id}" if policy_id != UNREAD_SCPS else UNREAD_SCPS_HOLE
                    for policy_id, doc in self.scps() if doc is UNKNOWN]
        # One of known document is a hole only if it would deny delivery: the verdict decides that.
        missing += [f"the document of SCP {policy_id} and where it is attached" for policy_id, doc in self.unplaced_scps()
                    if doc is UNKNOWN]
        # Why: the reads that failed (said only where something is unknown).
        return missing + list(self.unread) if missing else missing

    def key(self) -> str:
        """A text that is equal for two snapshots exactly when their IAM content is equal."""
        import json

        role = self.role

        def shown(value: Any) -> Any:
            return "UNKNOWN" if value is UNKNOWN else value

        content = {
            "exists": role.exists,
            "complete": role.complete,
            "trust": shown(role.trust_policy),
            "identity": [(label, shown(doc)) for label, doc in self.identity_policies()],
            "boundary": shown(self.boundary()),
            "scps": [(policy_id, shown(doc)) for policy_id, doc in self.scps()],
            "unplaced_scps": [(policy_id, shown(doc)) for policy_id, doc in self.unplaced_scps()],
        }
        return json.dumps(content, sort_keys=True, default=str)


@dataclass
class RoleHistory:
    """Every state of one role over the evidence, oldest first.

    Attributes
    ----------
    role_name, role_arn : str
    anchor : str or None
        Where the current state came from (``get-account-authorization-details``, ``get-role``), or
        ``None`` when the history was built forward from CloudTrail alone.
    snapshots : list of RoleSnapshot
        The state before the first event, then one per change event.
    events : pandas.DataFrame
        The CloudTrail events replayed (a slice of the ``events`` frame).
    """

    role_name: str
    role_arn: str | None
    anchor: str | None
    snapshots: list[RoleSnapshot] = field(default_factory=list)
    events: Any = None
    unread: list[Gap] = field(default_factory=list)  # the failed reads of its documents (gaps.role_reads)

    def at(self, when: Any) -> RoleSnapshot:
        """The state in force at ``when`` (the last one begun at or before it)."""
        current = self.snapshots[0]
        for snapshot in self.snapshots[1:]:
            if snapshot.start is not None and snapshot.start <= when:
                current = snapshot
            else:
                break
        return current


def _request_column(events: Any, name: str) -> Any:
    import pandas as pd

    # Object dtype: a value may hold a lone surrogate (JSON's "\ud800"), which the Arrow strings pandas infers cannot.
    return pd.Series([_key(request, name) for request in events["request"]], index=events.index, dtype=object)


def relevant_iam_events(events: Any, role_name: str, policy_arns: set[str] = frozenset()) -> Any:
    """The successful IAM and Organizations change events that concern one role.

    Parameters
    ----------
    events : pandas.DataFrame
        The ``events`` frame.
    role_name : str
        The role.
    policy_arns : set of str
        Managed policies known to concern it (the current state's attachments and boundary); the
        role's own attach and boundary events add theirs.

    Returns
    -------
    pandas.DataFrame
        The events to replay, oldest first: the role's, its managed policies' and every SCP change.
        A change without a time cannot be placed among the others and is left out (the loader warns of it).
    """
    import pandas as pd

    changes = events[events["event_source"].isin(list(TABLES)) & events["error_code"].isna() & events["event_time"].notna()]
    known = [name in TABLES[source] for source, name in zip(changes["event_source"], changes["event_name"], strict=True)]
    changes = changes.loc[changes.index[known]]
    iam = changes["event_source"] == "iam.amazonaws.com"
    of_role = iam & (_request_column(changes, "roleName") == role_name)
    arns = set(policy_arns)
    for column in ("policyArn", "permissionsBoundary"):
        arns |= {arn for arn in _request_column(changes[of_role], column) if arn}
    made = [r.get("policy") if isinstance(r, Mapping) else None for r in changes["response"]]
    created = pd.Series([policy.get("arn") if isinstance(policy, Mapping) else None for policy in made], index=changes.index,
                        dtype=object)
    of_policies = iam & (_request_column(changes, "policyArn").isin(arns) | created.isin(arns))
    scps = changes["event_source"] == "organizations.amazonaws.com"
    return changes[of_role | of_policies | scps]


def _anchor(evidence: Any, role_name: str, role_arn: str | None) -> tuple[IamState | None, str | None]:
    import pandas as pd

    roles = evidence.roles
    current = roles[(roles["role_name"] == role_name) & (roles["source"] != "cloudtrail")]
    if role_arn and len(current):
        same_arn = current[current["arn"] == role_arn]
        current = same_arn if len(same_arn) else current
    if not len(current):
        return None, None
    row = current.iloc[-1]
    policies = evidence.policies[evidence.policies["source"] != "cloudtrail"]
    inline = policies[(policies["policy_type"] == "inline") & (policies["role_name"] == role_name)]
    role = RoleState(
        role_name=role_name,
        role_id=row["role_id"] if isinstance(row["role_id"], str) else None,
        arn=row["arn"] if isinstance(row["arn"], str) else role_arn,
        created=row["created"],
        trust_policy=row["trust_policy"] if isinstance(row["trust_policy"], dict) else UNKNOWN,
        inline_policies={
            name: UNKNOWN for name in (row["inline_policy_names"] if isinstance(row["inline_policy_names"], list) else [])
        },
        attached_policy_arns=list(row["attached_policy_arns"]) if isinstance(row["attached_policy_arns"], list) else [],
        permissions_boundary_arn=text(row["permissions_boundary_arn"]),
        complete=True,
    )
    for policy in inline.itertuples(index=False):
        role.inline_policies[policy.policy_name] = policy.document if isinstance(policy.document, dict) else UNKNOWN
    state = IamState(roles={role_name: role})
    managed = policies[policies["policy_type"] == "managed"]
    for policy in managed.itertuples(index=False):
        known = state.managed.setdefault(
            policy.policy_arn, ManagedPolicyState(arn=policy.policy_arn, name=policy.policy_name, all_versions_known=True)
        )
        known.versions[policy.version_id] = policy.document if isinstance(policy.document, dict) else UNKNOWN
        if not pd.isna(policy.is_default) and bool(policy.is_default):
            known.default_version = policy.version_id
    for policy in policies[policies["policy_type"] == "scp"].itertuples(index=False):
        policy_id = str(text(policy.policy_arn) or text(policy.policy_name)).rsplit("/", 1)[-1]
        state.scps[policy_id] = ScpState(
            policy_id=policy_id,
            name=policy.policy_name,
            document=policy.document if isinstance(policy.document, dict) else UNKNOWN,
            targets={COLLECTED_TARGET},
            levels={target["Level"] for target in policy.applies_to or [] if isinstance(target.get("Level"), int)},
            targets_known=True,
        )
    return state, str(row["source"])


# get-account-authorization-details lists every role when its Filter names Role, or when it has none.
ROLES_FILTER = "Role"


def _same_account(entry: dict[str, Any], account: str | None) -> bool:
    return text(entry.get("account")) in (None, account) or account is None


def collected_absence(evidence: Any, role_name: str, role_arn: str | None) -> tuple[str, Any] | None:
    """Where the collection says the role does not exist, and when it was read.

    Only an answer about the role counts: ``get-role``'s ``NoSuchEntity`` for it, or a
    ``get-account-authorization-details`` of its account whose Filter lists roles and which does not
    list it, read whole (no page of it is a gap). A role merely not collected is not absent.

    Parameters
    ----------
    evidence : Evidence
        Loaded evidence; its manifest says what was asked and what was answered.
    role_name, role_arn : str
        The role, and its ARN (for its account) when known.

    Returns
    -------
    (str, pandas.Timestamp or None) or None
        The answer, in words an auditor can look up, and when it was read; None when the
        evidence does not say the role is absent.
    """
    from flowforensics.evidence.values import parse_time

    manifest = evidence.manifest or {}
    account = role_arn.split(":")[4] if role_arn and role_arn.count(":") >= 5 else None
    gaps = [gap for gap in manifest.get("gaps") or [] if isinstance(gap, dict) and _same_account(gap, account)]
    for gap in gaps:
        parameters = gap.get("parameters") if isinstance(gap.get("parameters"), dict) else {}
        if (gap.get("operation") == "iam:GetRole" and text(gap.get("error_code")) in ABSENT_ERRORS
                and text(parameters.get("RoleName")) == role_name):
            return f"get-role: {gap['error_code']}", parse_time(gap.get("collected_at"))
    if any(gap.get("operation") == "iam:GetAccountAuthorizationDetails" for gap in gaps):
        return None  # a page of the listing could not be read: the role may be on it
    root = Path(evidence.path)
    read = {path for path, kind in evidence.files if kind == "authorization_details"}
    named = set(evidence.roles.loc[evidence.roles["role_name"] == role_name, "source_file"].dropna())
    for entry in manifest.get("files") or []:
        if not isinstance(entry, dict) or entry.get("operation") != "iam:GetAccountAuthorizationDetails":
            continue
        parameters = entry.get("parameters") if isinstance(entry.get("parameters"), dict) else {}
        kinds = parameters.get("Filter")
        path = str(root / str(entry.get("path")))
        if (kinds is None or (isinstance(kinds, list) and ROLES_FILTER in kinds)) and _same_account(entry, account) \
                and path in read and path not in named:
            return "get-account-authorization-details, which does not list it", parse_time(entry.get("collected_at"))
    return None


def _iam_coverage_start(evidence: Any) -> Any:
    events = evidence.events
    times = events.loc[events["region"] == GLOBAL_REGION, "event_time"].dropna()
    return times.min() if len(times) else None


def _collected_at(evidence: Any, role_name: str) -> Any:
    from flowforensics.analysis.observed import collection_times

    roles = evidence.roles
    files = roles.loc[(roles["role_name"] == role_name) & (roles["source"] != "cloudtrail"), "source_file"]
    times = collection_times(evidence)
    known = [times[file] for file in files if times.get(file) is not None]
    return max(known) if known else None


@per_evidence
def role_history(evidence: Any, role_arn: str, *, until: Any = None) -> RoleHistory:
    """Replay the history of the delivery role ``role_arn`` (once per loaded evidence: callers share it).

    Parameters
    ----------
    evidence : Evidence
        Loaded evidence (see :func:`flowforensics.load`).
    role_arn : str
        The flow log's ``DeliverLogsPermissionArn``.
    until : datetime-like, optional
        Ignore events after this time (the evidence as of then). With it, a current state from a
        dump is not used as anchor, since it shows the role later than ``until``.

    Returns
    -------
    RoleHistory
    """
    role_name = role_arn.rsplit("/", 1)[-1]
    anchor, source = _anchor(evidence, role_name, role_arn) if until is None else (None, None)
    absence = collected_absence(evidence, role_name, role_arn) if until is None and anchor is None else None
    if absence is not None:  # the collection shows the role absent: that is its current state
        source = absence[0]
        anchor = IamState(roles={role_name: RoleState(role_name=role_name, arn=role_arn, exists=False, complete=True)})
    known_arns: set[str] = set()
    if anchor is not None:
        role = anchor.roles[role_name]
        known_arns = set(role.attached_policy_arns) | ({role.permissions_boundary_arn} if role.permissions_boundary_arn else set())
    events = relevant_iam_events(evidence.events, role_name, known_arns)
    if until is not None:
        events = events[events["event_time"] <= until]
    state = anchor.copy() if anchor is not None else IamState(roles={role_name: RoleState(role_name=role_name, arn=role_arn)})
    unread = role_reads(evidence, role_name, known_arns)
    for gap in unread:
        if anchor is not None and gap.operation in UNREAD_EFFECTS:
            UNREAD_EFFECTS[gap.operation](state.roles[role_name], gap)
        if gap.service == "organizations":
            state.scps.setdefault(UNREAD_SCPS, ScpState(policy_id=UNREAD_SCPS, targets={COLLECTED_TARGET}, targets_known=True))
    notes = tuple(dict.fromkeys(unread_note(gap) for gap in unread))
    rows = list(events.itertuples(index=False))
    for row in reversed(rows):
        try:
            state.undo(row.event_name, row.request, row.response, row.event_source)
        except (KeyError, TypeError, AttributeError):
            continue  # a change that does not name its role or policy cannot be walked back
    history = RoleHistory(role_name=role_name, role_arn=role_arn, anchor=source, events=events, unread=unread)
    unknown = IamState(roles={role_name: RoleState(role_name=role_name, arn=role_arn)})
    if anchor is None:
        history.snapshots.append(RoleSnapshot(role_name, None, None, None, None, None, state.copy(), notes))
    else:
        # The current state holds back in time only as far as CloudTrail shows IAM; before, it is unknown.
        covered_from = _iam_coverage_start(evidence)
        if covered_from is None:
            covered_from = _collected_at(evidence, role_name) if absence is None else absence[1]
        history.snapshots.append(RoleSnapshot(role_name, None, None, None, None, None, unknown, notes))
        if covered_from is not None:
            history.snapshots.append(RoleSnapshot(role_name, covered_from, None, None, None, None, state.copy(), notes))
    for row in rows:
        try:
            state.apply(row.event_name, row.request, row.response, row.event_time, row.event_source)
        except (KeyError, TypeError, AttributeError):
            continue
        history.snapshots.append(
            RoleSnapshot(role_name, row.event_time, row.event_id, row.event_name, row.event_source, row.actor, state.copy(),
                         notes)
        )
    return history
