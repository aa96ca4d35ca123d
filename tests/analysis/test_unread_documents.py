"""A flow log still delivering whose delivery documents could not be read is never ``healthy``.

The healthy sample incident collected as ``collect`` would have written it when IAM, Organizations
or CloudTrail refused some reads: what the refused read returns is left out of the file it composes
(docs/collection.md), and the manifest lists the gap. The documents read are evidence; those not read
are unknown, never "no policy".
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from flowforensics.presentation.digest import digest
from flowforensics.scenarios import SCENARIOS

from .finding_rules import diagnosed

ROLE = SCENARIOS["healthy"].expected.role_arn.rsplit("/", 1)[-1]
DETAILS = "iam/global/get-account-authorization-details.json"
DENIED = "User: arn:aws:sts::381492650217:assumed-role/Investigator/ir is not authorized to perform: {action}"


def gap(operation: str, parameters: dict, *, region: str | None = None, code: str = "AccessDenied") -> dict:
    return {"operation": operation, "parameters": parameters, "region": region, "account": "381492650217",
            "error_code": code, "error_message": DENIED.format(action=operation), "collected_at": "2024-03-20T14:10:00Z",
            "kind": "denied", "attempted": True}


def collected(source: Path, folder: Path, *gaps: dict, role_edit=None, drop_iam: bool = False) -> Path:
    """``source`` as a collection with ``gaps``: the role's document edited as the refused reads leave it.

    The CloudTrail files of the role's creation are left out (a 7-day lookup window would not reach
    them): the role's documents come from the dump alone.
    """
    shutil.copytree(source, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    created = [entry for entry in manifest["files"] if "/2024/02/" in entry["path"]]
    for entry in created:
        (folder / entry["path"]).unlink()
    manifest["files"] = [entry for entry in manifest["files"] if entry not in created]
    details = folder / DETAILS
    if drop_iam:
        details.unlink()
        manifest["files"] = [entry for entry in manifest["files"] if entry["path"] != DETAILS]
    elif role_edit is not None:
        document = json.loads(details.read_text())
        role_edit(next(role for role in document["RoleDetailList"] if role["RoleName"] == ROLE))
        details.write_text(json.dumps(document))
    manifest["gaps"] += list(gaps)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _undecided_state(entry, words: str) -> None:
    assert (entry.status, entry.root_cause, entry.state) == ("SUCCESS", "none", "unknown")
    said = [f for f in entry.findings if f.code == "inconclusive"]
    assert len(said) == 1 and said[0].summary.startswith("delivery works at the latest observation, but whether it "
                                                         "keeps working (or is at risk) is undecided: ")
    assert words in said[0].summary, said[0].summary
    assert not any(f.verdict == "confirmed" and f.code not in ("none", "inconclusive") for f in entry.findings)
    lines = "\n".join(digest(entry))
    assert "UNKNOWN" in lines.splitlines()[0] and words in lines


def test_the_healthy_incident_read_whole_stays_healthy(scenario_folder, tmp_path) -> None:
    entry = diagnosed(collected(scenario_folder("healthy"), tmp_path / "evidence"))
    assert (entry.root_cause, entry.state) == ("none", "healthy")


def test_get_role_refused_leaves_the_state_undecided(scenario_folder, tmp_path) -> None:
    folder = collected(scenario_folder("healthy"), tmp_path / "evidence", gap("iam:GetRole", {"RoleName": ROLE}),
                       drop_iam=True)
    entry = diagnosed(folder)
    _undecided_state(entry, "the role (its trust policy, policies and permissions boundary) could not be read: "
                            "iam:GetRole (AccessDenied: ")
    trust = next(f for f in entry.findings if f.code == "trust-missing-service")
    assert trust.verdict == "inconclusive" and trust.summary.startswith("the role's state now is unknown: ")
    assert "manifest.json gaps: iam:GetRole" in trust.evidence


def test_list_role_policies_refused_is_not_a_missing_permission(scenario_folder, tmp_path) -> None:
    # collect writes RolePolicyList empty when ListRolePolicies is refused: the role is not "without policy".
    folder = collected(scenario_folder("healthy"), tmp_path / "evidence", gap("iam:ListRolePolicies", {"RoleName": ROLE}),
                       role_edit=lambda role: role.update(RolePolicyList=[]))
    _undecided_state(diagnosed(folder), "which inline policies the role has could not be read: iam:ListRolePolicies "
                                     "(AccessDenied: ")


def test_get_role_policy_refused_leaves_that_policy_unknown(scenario_folder, tmp_path) -> None:
    folder = collected(scenario_folder("healthy"), tmp_path / "evidence",
                       gap("iam:GetRolePolicy", {"RoleName": ROLE, "PolicyName": "flow-logs-delivery"}),
                       role_edit=lambda role: role.update(RolePolicyList=[]))
    entry = diagnosed(folder)
    _undecided_state(entry, f"the document of inline:flow-logs-delivery of role {ROLE}")
    assert "an inline policy of the role (flow-logs-delivery) could not be read: iam:GetRolePolicy" in \
        next(f for f in entry.findings if f.code == "inconclusive").summary


def test_the_scps_refused_leave_the_state_undecided(scenario_folder, tmp_path) -> None:
    folder = collected(scenario_folder("healthy"), tmp_path / "evidence",
                       gap("organizations:ListPoliciesForTarget", {"TargetId": "381492650217", "Filter": "SERVICE_CONTROL_POLICY"}))
    entry = diagnosed(folder)
    _undecided_state(entry, "the service control policies could not be read: organizations:ListPoliciesForTarget "
                            "(AccessDenied")
    assert "the service control policies that apply to the account" in \
        next(f for f in entry.findings if f.code == "inconclusive").summary


def test_the_fix_of_an_at_risk_role_is_proven_beside_unread_scps(scenario_folder, tmp_path) -> None:
    # A member account may not read Organizations: the role's own fix is still proven on what was read, and says so.
    folder = tmp_path / "evidence"
    shutil.copytree(scenario_folder("latent-permission-removed"), folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["gaps"].append(gap("organizations:ListParents", {"ChildId": "381492650217"}, code="AccessDeniedException"))
    (folder / "manifest.json").write_text(json.dumps(manifest))
    entry = diagnosed(folder)
    assert (entry.root_cause, entry.state) == ("permission-missing", "at-risk") and entry.remediation.commands
    assert ("the fix is proven on the documents read; the service control policies could not be read "
            "(organizations:ListParents (AccessDeniedException: ") in \
        next(f for f in entry.findings if f.code == "permission-missing").summary


def test_an_account_in_no_organization_has_no_scp(scenario_folder, tmp_path) -> None:
    folder = collected(scenario_folder("healthy"), tmp_path / "evidence",
                       gap("organizations:ListPoliciesForTarget", {"TargetId": "381492650217"},
                           code="AWSOrganizationsNotInUseException"))
    assert diagnosed(folder).state == "healthy"


def test_documents_that_refuse_delivery_decide_despite_unread_ones(scenario_folder, tmp_path) -> None:
    # The collected trust refuses the service whatever the unread inline policies say: at risk.
    source = scenario_folder("latent-trust-edited")
    folder = tmp_path / "evidence"
    shutil.copytree(source, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["gaps"].append(gap("iam:ListRolePolicies", {"RoleName": ROLE}))
    (folder / "manifest.json").write_text(json.dumps(manifest))
    entry = diagnosed(folder)
    assert (entry.root_cause, entry.state) == ("trust-missing-service", "at-risk")


def test_a_key_policy_refused_leaves_the_state_undecided(scenario_folder, tmp_path) -> None:
    key = "arn:aws:kms:us-east-1:381492650217:key/0f3b4c1e-8a2d-4b7e-9c51-6d2e7f8a9b10"
    folder = collected(scenario_folder("healthy"), tmp_path / "evidence",
                       gap("kms:GetKeyPolicy", {"KeyId": key, "PolicyName": "default"}, region="us-east-1",
                           code="AccessDeniedException"))
    groups = folder / "logs" / "us-east-1" / "describe-log-groups.json"
    document = json.loads(groups.read_text())
    document["logGroups"][0]["kmsKeyId"] = key
    groups.write_text(json.dumps(document))
    _undecided_state(diagnosed(folder), f"the log group's KMS key policy ({key}) could not be read: kms:GetKeyPolicy in us-east-1 "
                                     "(AccessDeniedException: ")


def test_a_healthy_flow_log_whose_cloudtrail_was_refused_says_what_that_leaves_open(scenario_folder, tmp_path) -> None:
    # Delivery observed working is a fact; "nothing changed" is not, without CloudTrail.
    folder = collected(scenario_folder("healthy"), tmp_path / "evidence",
                       gap("cloudtrail:LookupEvents", {"LookupAttributes": [{"AttributeKey": "ResourceName",
                                                                             "AttributeValue": ROLE}]},
                           region="us-east-1", code="AccessDeniedException"))
    entry = diagnosed(folder)
    assert (entry.status, entry.root_cause, entry.confidence, entry.state) == ("SUCCESS", "none", "confirmed", "healthy")
    none = next(f for f in entry.findings if f.code == "none")
    assert none.verdict == "confirmed"
    assert "CloudTrail could not be read: cloudtrail:LookupEvents in us-east-1 (AccessDeniedException: " in none.summary
    assert none.summary.endswith("is undecided: delivery observed working does not show that nothing changed")
    assert "manifest.json gaps: cloudtrail:LookupEvents" in none.evidence
    assert "CloudTrail could not be read" in "\n".join(digest(entry))
