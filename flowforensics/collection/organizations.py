"""Organizations: the service control policies that apply to the account, level by level from the root."""

from __future__ import annotations

from typing import Any

from flowforensics.collection.recorder import Recorder

MAX_OU_DEPTH = 5  # Organizations nests OUs at most five deep under the root


def service_control_policies(rec: Recorder, account: str) -> int:
    """Write ``organizations:DescribePolicy`` for every SCP attached to the account, its OUs and the root.

    Each file's manifest parameters add ``AppliesTo``: the targets the policy is attached to, with their
    ``Level`` (0 for the root, then each OU down to the account), which the evaluation needs because
    every level must allow. A caller who may not read Organizations (a member account) leaves a gap.

    Returns
    -------
    int
        The number of SCPs written.
    """
    chain = [{"TargetId": account, "TargetType": "ACCOUNT"}]
    for _ in range(MAX_OU_DEPTH + 1):
        response = rec.fetch("organizations:ListParents", {"ChildId": chain[-1]["TargetId"]}, save=False)
        if not response or not response.get("Parents"):
            return 0
        parent = response["Parents"][0]
        chain.append({"TargetId": parent["Id"], "TargetType": parent["Type"]})
        if parent["Type"] == "ROOT":
            break
    applies: dict[str, list[dict[str, Any]]] = {}
    for level, target in enumerate(reversed(chain)):
        response = rec.fetch(
            "organizations:ListPoliciesForTarget",
            {"TargetId": target["TargetId"], "Filter": "SERVICE_CONTROL_POLICY"},
            save=False,
        )
        for summary in (response or {}).get("Policies", []):
            applies.setdefault(summary["Id"], []).append({**target, "Level": level})
    written = 0
    for policy_id, targets in applies.items():
        if rec.reuse("organizations:DescribePolicy", {"PolicyId": policy_id}, region=None, partial=True) is not None:
            written += 1
            continue
        response = rec.fetch("organizations:DescribePolicy", {"PolicyId": policy_id}, save=False)
        if response is not None:
            rec.save(
                "organizations:DescribePolicy",
                response,
                parameters={"PolicyId": policy_id, "AppliesTo": targets},
                region=None,
            )
            written += 1
    return written
