"""IAM: the delivery role as ``get-account-authorization-details`` gives it, and the optional simulation."""

from __future__ import annotations

from typing import Any

from flowforensics.collection.recorder import Recorder

# What get-account-authorization-details adds to a role beyond GetRole, and the call that gives it.
_ROLE_PARTS: tuple[tuple[str, str, str], ...] = (
    # (operation, response key, detail key)
    ("iam:ListRolePolicies", "PolicyNames", "RolePolicyList"),
    ("iam:ListAttachedRolePolicies", "AttachedPolicies", "AttachedManagedPolicies"),
    ("iam:ListInstanceProfilesForRole", "InstanceProfiles", "InstanceProfileList"),
)
# RoleDetailList keys copied from GetRole's Role, in the order the AWS CLI prints them.
_ROLE_KEYS = ("Path", "RoleName", "RoleId", "Arn", "CreateDate", "AssumeRolePolicyDocument")
_ROLE_TAIL_KEYS = ("PermissionsBoundary", "Tags", "RoleLastUsed")
# Policies[] keys copied from GetPolicy's Policy.
_POLICY_KEYS = (
    "PolicyName", "PolicyId", "Arn", "Path", "DefaultVersionId", "AttachmentCount",
    "PermissionsBoundaryUsageCount", "IsAttachable", "Description", "CreateDate", "UpdateDate",
)  # fmt: skip

# The five actions flow-log delivery needs, and the resource each acts on (docs/contracts.md: stream actions
# act on log-stream ARNs; DescribeLogGroups matches only a Resource covering "*").
DELIVERY_ACTIONS: dict[str, str] = {
    "logs:CreateLogGroup": "log-group",
    "logs:CreateLogStream": "log-stream",
    "logs:PutLogEvents": "log-stream",
    "logs:DescribeLogGroups": "any",
    "logs:DescribeLogStreams": "log-group",
}
_RESOURCE_ARNS: dict[str, str] = {
    "log-group": "arn:{partition}:logs:{region}:{account}:log-group:{group}",
    "log-stream": "arn:{partition}:logs:{region}:{account}:log-group:{group}:log-stream:{stream}",
    "any": "*",
}


def role_details(rec: Recorder, role_name: str) -> dict[str, Any] | None:
    """Collect one role and its policies as ``get-account-authorization-details`` would give them.

    Writes one file with ``RoleDetailList`` (trust policy, inline policies, attached managed policies,
    permissions boundary, ``RoleLastUsed``) and ``Policies`` (every attached or boundary managed policy
    with all its versions, from ``ListPolicyVersions``/``GetPolicyVersion``). The manifest lists the
    calls it was composed from.

    Returns
    -------
    dict or None
        The role's ``RoleDetailList`` entry; ``None`` when ``GetRole`` failed (the gap says why,
        ``NoSuchEntity`` for a deleted role).
    """
    # Resuming: a document composed from every one of its calls is kept; one with gaps is made again.
    kept = rec.reuse("iam:GetRole", {"RoleName": role_name, "Complete": True}, region=None, partial=True)
    if isinstance(kept, dict) and kept.get("RoleDetailList") and isinstance(kept["RoleDetailList"][0], dict):
        return kept["RoleDetailList"][0]
    calls: list[dict[str, Any]] = []
    answered: list[bool] = []

    def fetch(operation: str, parameters: dict[str, Any]) -> dict[str, Any] | None:
        calls.append({"operation": operation, "parameters": parameters})
        response = rec.fetch(operation, parameters, save=False)
        answered.append(response is not None)
        return response

    got = fetch("iam:GetRole", {"RoleName": role_name})
    if got is None:
        return None
    role = got["Role"]
    detail: dict[str, Any] = {key: role[key] for key in _ROLE_KEYS if key in role}
    for operation, response_key, detail_key in _ROLE_PARTS:
        detail[detail_key] = (fetch(operation, {"RoleName": role_name}) or {}).get(response_key, [])
    detail["RolePolicyList"] = [
        {"PolicyName": name, "PolicyDocument": answer["PolicyDocument"]}
        for name in detail["RolePolicyList"]
        if (answer := fetch("iam:GetRolePolicy", {"RoleName": role_name, "PolicyName": name})) is not None
    ]
    detail.update({key: role[key] for key in _ROLE_TAIL_KEYS if key in role})

    arns = [item["PolicyArn"] for item in detail["AttachedManagedPolicies"]]
    boundary = (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
    if boundary and boundary not in arns:
        arns.append(boundary)
    policies = []
    for arn in arns:
        policy = (fetch("iam:GetPolicy", {"PolicyArn": arn}) or {}).get("Policy")
        if policy is None:
            continue
        entry = {key: policy[key] for key in _POLICY_KEYS if key in policy}
        # ListPolicyVersions gives no documents: each version's comes from GetPolicyVersion.
        versions = (fetch("iam:ListPolicyVersions", {"PolicyArn": arn}) or {}).get("Versions", [])
        entry["PolicyVersionList"] = [
            answer["PolicyVersion"]
            for version in versions
            if (
                answer := fetch("iam:GetPolicyVersion", {"PolicyArn": arn, "VersionId": version["VersionId"]})
            )
        ]
        policies.append(entry)

    document = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [detail], "Policies": policies}
    rec.save(
        "iam:GetRole",
        document,
        parameters={"RoleName": role_name, "Complete": all(answered), "ComposedFrom": calls},
        region=None,
        name=f"iam/global/role-details-{role_name}.json",
    )
    return detail


def managed_policy_arns(detail: dict[str, Any]) -> list[str]:
    """The customer-managed policies of a role (attached or boundary): those whose changes CloudTrail shows."""
    arns = [item["PolicyArn"] for item in detail.get("AttachedManagedPolicies", [])]
    boundary = (detail.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
    if boundary:
        arns.append(boundary)
    # AWS-managed policies (account "aws") change under AWS's CloudTrail, not the customer's.
    return [arn for arn in dict.fromkeys(arns) if arn.split(":")[4] != "aws"]


def simulate_delivery(
    rec: Recorder, role_arn: str, *, region: str, account: str, log_group: str, stream: str
) -> None:
    """``iam:SimulatePrincipalPolicy`` of the five delivery actions, one call per kind of resource.

    A cross-check of the offline evaluator: AWS's own answer for the role's identity policies and
    permissions boundary, written as ``EvaluationResults`` files.
    """
    partition = role_arn.split(":")[1]
    by_resource: dict[str, list[str]] = {}
    for action, kind in DELIVERY_ACTIONS.items():
        by_resource.setdefault(kind, []).append(action)
    for kind, actions in by_resource.items():
        resource = _RESOURCE_ARNS[kind].format(
            partition=partition, region=region, account=account, group=log_group, stream=stream
        )
        rec.fetch(
            "iam:SimulatePrincipalPolicy",
            {"PolicySourceArn": role_arn, "ActionNames": actions, "ResourceArns": [resource]},
        )
