"""What each IAM CloudTrail event does to a role and its policies, as a table of state changes.

The same table reconstructs the ``roles`` and ``policies`` frames from CloudTrail alone and replays a
role's history for the diagnosis. Only successful events (no ``errorCode``) change anything.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flowforensics.evidence.records import parsed
from flowforensics.evidence.values import parse_document, parse_time


class _Unknown:
    """A document the evidence does not show (a hole in the history): never guessed."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __deepcopy__(self, memo: dict[int, Any]) -> _Unknown:
        return self


UNKNOWN: Any = _Unknown()


@dataclass
class RoleState:
    """A role as IAM would show it at one moment. ``UNKNOWN`` marks what the evidence cannot tell."""

    role_name: str
    exists: bool = True
    role_id: str | None = None
    arn: str | None = None
    created: Any = None
    trust_policy: Any = UNKNOWN
    inline_policies: dict[str, Any] = field(default_factory=dict)
    attached_policy_arns: list[str] = field(default_factory=list)
    permissions_boundary_arn: str | None = None
    # Whether every policy of the role is known (seen created, or anchored on a current dump).
    complete: bool = False


@dataclass
class ManagedPolicyState:
    """A customer-managed policy: its versions' documents and which one is the default."""

    arn: str
    name: str | None = None
    versions: dict[str, Any] = field(default_factory=dict)
    default_version: str | None = None
    exists: bool = True
    # Whether ``versions`` lists every version (a dump shows them all; events show only their own).
    all_versions_known: bool = False

    @property
    def document(self) -> Any:
        """The default version's document, ``UNKNOWN`` when the evidence lacks it."""
        return self.versions.get(self.default_version, UNKNOWN) if self.default_version else UNKNOWN


@dataclass
class ScpState:
    """A service control policy of AWS Organizations: its document and the targets it is attached to."""

    policy_id: str
    name: str | None = None
    document: Any = UNKNOWN
    targets: set[str] = field(default_factory=set)
    exists: bool = True
    # The levels of the organisation (0 the root, then each OU down to the account) it is attached at,
    # when collection recorded them; each level must allow on its own.
    levels: set[int] = field(default_factory=set)
    # Whether ``targets`` lists every attachment (seen created, or collected). An SCP first seen by a
    # later event may be attached where no event of the evidence shows: unknown, not "nowhere".
    targets_known: bool = False

    @property
    def attached(self) -> bool | None:
        """Whether it is attached somewhere: None when the evidence cannot tell."""
        if not self.exists or self.targets:
            return self.exists
        return False if self.targets_known else None


@dataclass
class IamState:
    """Roles, managed policies and service control policies, changed event by event."""

    roles: dict[str, RoleState] = field(default_factory=dict)
    managed: dict[str, ManagedPolicyState] = field(default_factory=dict)
    scps: dict[str, ScpState] = field(default_factory=dict)

    def copy(self) -> IamState:
        """A deep copy, for snapshots of the history."""
        return copy.deepcopy(self)

    def role(self, name: str) -> RoleState:
        """The role named ``name``, created as an unknown-state role on first mention."""
        return self.roles.setdefault(name, RoleState(role_name=name))

    def policy(self, arn: str) -> ManagedPolicyState:
        """The managed policy ``arn``, created on first mention."""
        return self.managed.setdefault(arn, ManagedPolicyState(arn=arn))

    def scp(self, policy_id: str) -> ScpState:
        """The service control policy ``policy_id``, created on first mention."""
        return self.scps.setdefault(policy_id, ScpState(policy_id=policy_id))

    def apply(
        self, event_name: str, request: Any, response: Any, event_time: Any = None, source: str = "iam.amazonaws.com"
    ) -> str | None:
        """Apply one successful IAM (or Organizations) event.

        Returns
        -------
        str or None
            The role name the event changed, ``"policy:ARN"`` for a managed-policy change, ``"scp:ID"``
            for a service control policy, or ``None`` when the event is not a change this table knows.
        """
        handler = TABLES.get(source, {}).get(event_name)
        if handler is None or (request := parsed(request)) is None:
            return None
        return handler(self, request, parsed(response) or {}, event_time)

    def undo(self, event_name: str, request: Any, response: Any, source: str = "iam.amazonaws.com") -> str | None:
        """Walk one successful event back: set what it changed to what must have been before.

        What the event overwrote is not in the event, so it becomes ``UNKNOWN`` (a hole), unless
        the event itself tells (a role did not exist before ``CreateRole``; a detached policy was
        attached). Returns what :meth:`apply` returns.
        """
        handler = UNDO.get(source, {}).get(event_name)
        if handler is None or (request := parsed(request)) is None:
            return None
        return handler(self, request, parsed(response) or {}, None)


def _document(value: Any) -> Any:
    try:
        return parse_document(value) if value not in (None, "") else UNKNOWN
    except ValueError:
        return UNKNOWN


def _create_role(state: IamState, req: dict, resp: dict, when: Any) -> str:
    made = resp.get("role") or {}
    name = req.get("roleName") or made.get("roleName")
    role = RoleState(
        role_name=name,
        role_id=made.get("roleId"),
        arn=made.get("arn"),
        created=parse_time(made.get("createDate")) or when,
        trust_policy=_document(req.get("assumeRolePolicyDocument") or made.get("assumeRolePolicyDocument")),
        permissions_boundary_arn=req.get("permissionsBoundary"),
        complete=True,
    )
    state.roles[name] = role
    return name


def _delete_role(state: IamState, req: dict, resp: dict, when: Any) -> str:
    role = state.role(req["roleName"])
    role.exists = False
    role.inline_policies.clear()
    role.attached_policy_arns.clear()
    role.permissions_boundary_arn = None
    return role.role_name


def _update_trust(state: IamState, req: dict, resp: dict, when: Any) -> str:
    role = state.role(req["roleName"])
    role.trust_policy = _document(req.get("policyDocument"))
    return role.role_name


def _put_inline(state: IamState, req: dict, resp: dict, when: Any) -> str:
    role = state.role(req["roleName"])
    role.inline_policies[req["policyName"]] = _document(req.get("policyDocument"))
    return role.role_name


def _delete_inline(state: IamState, req: dict, resp: dict, when: Any) -> str:
    role = state.role(req["roleName"])
    role.inline_policies.pop(req["policyName"], None)
    return role.role_name


def _attach(state: IamState, req: dict, resp: dict, when: Any) -> str:
    role = state.role(req["roleName"])
    if req["policyArn"] not in role.attached_policy_arns:
        role.attached_policy_arns.append(req["policyArn"])
    return role.role_name


def _detach(state: IamState, req: dict, resp: dict, when: Any) -> str:
    role = state.role(req["roleName"])
    if req["policyArn"] in role.attached_policy_arns:
        role.attached_policy_arns.remove(req["policyArn"])
    return role.role_name


def _put_boundary(state: IamState, req: dict, resp: dict, when: Any) -> str:
    role = state.role(req["roleName"])
    role.permissions_boundary_arn = req.get("permissionsBoundary")
    return role.role_name


def _delete_boundary(state: IamState, req: dict, resp: dict, when: Any) -> str:
    role = state.role(req["roleName"])
    role.permissions_boundary_arn = None
    return role.role_name


def _create_policy(state: IamState, req: dict, resp: dict, when: Any) -> str | None:
    made = resp.get("policy") or {}
    arn = made.get("arn")
    if not arn:
        return None
    version = made.get("defaultVersionId") or "v1"
    state.managed[arn] = ManagedPolicyState(
        arn=arn, name=req.get("policyName"), versions={version: _document(req.get("policyDocument"))}, default_version=version
    )
    return f"policy:{arn}"


def _create_version(state: IamState, req: dict, resp: dict, when: Any) -> str:
    policy = state.policy(req["policyArn"])
    made = resp.get("policyVersion") or {}
    version = made.get("versionId") or f"v{len(policy.versions) + 1}"
    policy.versions[version] = _document(req.get("policyDocument"))
    set_default = req.get("setAsDefault")
    if made.get("isDefaultVersion") or set_default is True or str(set_default).lower() == "true":
        policy.default_version = version
    return f"policy:{policy.arn}"


def _set_default(state: IamState, req: dict, resp: dict, when: Any) -> str:
    policy = state.policy(req["policyArn"])
    policy.default_version = req.get("versionId")
    return f"policy:{policy.arn}"


def _delete_version(state: IamState, req: dict, resp: dict, when: Any) -> str:
    policy = state.policy(req["policyArn"])
    policy.versions.pop(req.get("versionId"), None)
    return f"policy:{policy.arn}"


def _delete_policy(state: IamState, req: dict, resp: dict, when: Any) -> str:
    policy = state.policy(req["policyArn"])
    policy.exists = False
    return f"policy:{policy.arn}"


# eventName -> how it changes the state (iam.amazonaws.com events only).
CHANGES: dict[str, Callable[[IamState, dict, dict, Any], str | None]] = {
    "CreateRole": _create_role,
    "DeleteRole": _delete_role,
    "UpdateAssumeRolePolicy": _update_trust,
    "PutRolePolicy": _put_inline,
    "DeleteRolePolicy": _delete_inline,
    "AttachRolePolicy": _attach,
    "DetachRolePolicy": _detach,
    "PutRolePermissionsBoundary": _put_boundary,
    "DeleteRolePermissionsBoundary": _delete_boundary,
    "CreatePolicy": _create_policy,
    "CreatePolicyVersion": _create_version,
    "SetDefaultPolicyVersion": _set_default,
    "DeletePolicyVersion": _delete_version,
    "DeletePolicy": _delete_policy,
}


def _scp_id(req: dict, resp: dict) -> str | None:
    summary = ((resp.get("policy") or {}).get("policySummary")) or {}
    return req.get("policyId") or summary.get("id")


def _org_create(state: IamState, req: dict, resp: dict, when: Any) -> str | None:
    policy_id = _scp_id(req, resp)
    if not policy_id or req.get("type", "SERVICE_CONTROL_POLICY") != "SERVICE_CONTROL_POLICY":
        return None
    state.scps[policy_id] = ScpState(policy_id=policy_id, name=req.get("name"), document=_document(req.get("content")),
                                     targets_known=True)
    return f"scp:{policy_id}"


def _org_update(state: IamState, req: dict, resp: dict, when: Any) -> str:
    scp = state.scp(req["policyId"])
    if "content" in req:  # an update of the name or description alone keeps the document
        scp.document = _document(req.get("content"))
    return f"scp:{scp.policy_id}"


def _org_attach(state: IamState, req: dict, resp: dict, when: Any) -> str:
    scp = state.scp(req["policyId"])
    scp.targets.add(req["targetId"])
    return f"scp:{scp.policy_id}"


def _org_detach(state: IamState, req: dict, resp: dict, when: Any) -> str:
    scp = state.scp(req["policyId"])
    scp.targets.discard(req["targetId"])
    return f"scp:{scp.policy_id}"


def _org_delete(state: IamState, req: dict, resp: dict, when: Any) -> str:
    scp = state.scp(req["policyId"])
    scp.exists = False
    scp.targets.clear()
    return f"scp:{scp.policy_id}"


# eventName -> how it changes the state (organizations.amazonaws.com events).
ORGANIZATIONS_CHANGES: dict[str, Callable[[IamState, dict, dict, Any], str | None]] = {
    "CreatePolicy": _org_create,
    "UpdatePolicy": _org_update,
    "AttachPolicy": _org_attach,
    "DetachPolicy": _org_detach,
    "DeletePolicy": _org_delete,
}

# eventSource -> its table.
TABLES = {"iam.amazonaws.com": CHANGES, "organizations.amazonaws.com": ORGANIZATIONS_CHANGES}


def _undo_create_role(state: IamState, req: dict, resp: dict, when: Any) -> str:
    name = req.get("roleName") or (resp.get("role") or {}).get("roleName")
    state.roles[name] = RoleState(role_name=name, exists=False, complete=True)
    return name


def _undo_delete_role(state: IamState, req: dict, resp: dict, when: Any) -> str:
    # AWS deletes only an emptied role, but what it held before being emptied is not in the event.
    name = req["roleName"]
    state.roles[name] = RoleState(role_name=name)
    return name


def _undo_trust(state: IamState, req: dict, resp: dict, when: Any) -> str:
    role = state.role(req["roleName"])
    role.trust_policy = UNKNOWN
    return role.role_name


def _undo_inline(state: IamState, req: dict, resp: dict, when: Any) -> str:
    role = state.role(req["roleName"])
    role.inline_policies[req["policyName"]] = UNKNOWN
    return role.role_name


def _undo_boundary(state: IamState, req: dict, resp: dict, when: Any) -> str:
    role = state.role(req["roleName"])
    role.permissions_boundary_arn = UNKNOWN
    return role.role_name


def _undo_create_policy(state: IamState, req: dict, resp: dict, when: Any) -> str | None:
    arn = (resp.get("policy") or {}).get("arn")
    if not arn:
        return None
    state.managed[arn] = ManagedPolicyState(arn=arn, exists=False)
    return f"policy:{arn}"


def _undo_create_version(state: IamState, req: dict, resp: dict, when: Any) -> str:
    policy = state.policy(req["policyArn"])
    version = (resp.get("policyVersion") or {}).get("versionId")
    policy.versions.pop(version, None)
    if policy.default_version == version:
        # The earlier default is not in the event; it is known only when one version is left.
        only = list(policy.versions) if policy.all_versions_known and len(policy.versions) == 1 else [None]
        policy.default_version = only[0]
    return f"policy:{policy.arn}"


def _undo_set_default(state: IamState, req: dict, resp: dict, when: Any) -> str:
    policy = state.policy(req["policyArn"])
    policy.default_version = None
    return f"policy:{policy.arn}"


def _undo_delete_version(state: IamState, req: dict, resp: dict, when: Any) -> str:
    policy = state.policy(req["policyArn"])
    policy.versions[req.get("versionId")] = UNKNOWN
    return f"policy:{policy.arn}"


def _undo_delete_policy(state: IamState, req: dict, resp: dict, when: Any) -> str:
    policy = state.policy(req["policyArn"])
    policy.exists = True
    return f"policy:{policy.arn}"


def _undo_org_update(state: IamState, req: dict, resp: dict, when: Any) -> str:
    scp = state.scp(req["policyId"])
    if "content" in req:
        scp.document = UNKNOWN
    return f"scp:{scp.policy_id}"


def _undo_org_create(state: IamState, req: dict, resp: dict, when: Any) -> str | None:
    policy_id = _scp_id(req, resp)
    if not policy_id:
        return None
    state.scps[policy_id] = ScpState(policy_id=policy_id, exists=False, targets_known=True)
    return f"scp:{policy_id}"


def _undo_org_delete(state: IamState, req: dict, resp: dict, when: Any) -> str:
    scp = state.scp(req["policyId"])
    scp.exists = True
    # Organizations deletes only a policy detached from every target (DeletePolicy, API reference).
    scp.targets.clear()
    scp.targets_known = True
    return f"scp:{scp.policy_id}"


# eventSource -> eventName -> how to walk it back (the inverse of TABLES).
UNDO: dict[str, dict[str, Callable[[IamState, dict, dict, Any], str | None]]] = {
    "iam.amazonaws.com": {
        "CreateRole": _undo_create_role,
        "DeleteRole": _undo_delete_role,
        "UpdateAssumeRolePolicy": _undo_trust,
        "PutRolePolicy": _undo_inline,
        "DeleteRolePolicy": _undo_inline,
        "AttachRolePolicy": _detach,
        "DetachRolePolicy": _attach,
        "PutRolePermissionsBoundary": _undo_boundary,
        "DeleteRolePermissionsBoundary": _undo_boundary,
        "CreatePolicy": _undo_create_policy,
        "CreatePolicyVersion": _undo_create_version,
        "SetDefaultPolicyVersion": _undo_set_default,
        "DeletePolicyVersion": _undo_delete_version,
        "DeletePolicy": _undo_delete_policy,
    },
    "organizations.amazonaws.com": {
        "CreatePolicy": _undo_org_create,
        "UpdatePolicy": _undo_org_update,
        "AttachPolicy": _org_detach,
        "DetachPolicy": _org_attach,
        "DeletePolicy": _undo_org_delete,
    },
}


def replay(events: Any, state: IamState | None = None) -> IamState:
    """Apply the successful IAM and Organizations change events of an ``events`` frame, in time order.

    Parameters
    ----------
    events : pandas.DataFrame
        An ``events`` frame (or a slice of it), sorted by time.
    state : IamState, optional
        The state to start from (changed in place); a new empty one by default.

    Returns
    -------
    IamState
    """
    state = state or IamState()
    changes = events[events["event_source"].isin(list(TABLES)) & events["error_code"].isna()]
    for row in changes.itertuples(index=False):
        try:
            state.apply(row.event_name, row.request, row.response, row.event_time, row.event_source)
        except (KeyError, TypeError, AttributeError):
            continue  # a change without the role or policy it names cannot be placed
    return state
