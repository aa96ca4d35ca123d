"""AWS's words against what the evidence shows: SCPs of unknown attachment, an evaluator that finds delivery
allowed, and the fix AWS's "no identity-based policy allows" justifies when the role's earlier policies are unseen.

Each test writes an evidence folder as the AWS CLI and CloudTrail give it and reads ``diagnose``'s answer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

import flowforensics
from analysis.test_stated import (
    ACCOUNT,
    ADMIN,
    DELIVERY,
    GROUP,
    IMPLICIT,
    ROLE_NAME,
    _at,
    _create_stream,
    _evidence,
    _findings,
    _flow_log,
    _iam,
)
from flowforensics.analysis.diagnosis import diagnose
from flowforensics.frames.iam_changes import IamState

ORG_ADMIN = "arn:aws:sts::999988887777:assumed-role/OrgAdmin/henry"
SCP_ID = "p-3k9x2h7q"
DENY_VPC_LOGS = {"Version": "2012-10-17", "Statement": [
    {"Sid": "ProtectVpcLogGroups", "Effect": "Deny", "Action": "logs:*", "Resource": "arn:aws:logs:*:*:log-group:/vpc/*"}]}
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
SCP_DENY = "with an explicit deny in a service control policy"


def _org(event_id: str, minute: float, name: str, request: dict, response: dict | None = None) -> dict:
    """An Organizations call of the management account, as its trail records it (us-east-1)."""
    return {"eventVersion": "1.09", "eventID": event_id, "eventTime": _at(minute), "eventSource": "organizations.amazonaws.com",
            "eventName": name, "awsRegion": "us-east-1", "recipientAccountId": "999988887777", "requestParameters": request,
            "responseElements": response, "userIdentity": {"type": "AssumedRole", "arn": ORG_ADMIN, "accountId": "999988887777"}}


def _update(event_id: str, minute: float, content: dict) -> dict:
    return _org(event_id, minute, "UpdatePolicy", {"policyId": SCP_ID, "content": json.dumps(content)})


def _scp_attached(records: list[dict]) -> bool | None:
    frame = pd.DataFrame([{"event_source": r["eventSource"], "event_name": r["eventName"], "request": r["requestParameters"],
                           "response": r["responseElements"] or {}} for r in records])
    state = IamState()
    for row in frame.itertuples(index=False):
        state.apply(row.event_name, row.request, row.response, None, row.event_source)
    return state.scps[SCP_ID].attached


def test_an_scp_first_seen_changed_may_be_attached_one_seen_created_is_not() -> None:
    created = _org("create", 0, "CreatePolicy", {"name": "ProtectLogging", "type": "SERVICE_CONTROL_POLICY",
                                                 "content": json.dumps(DENY_VPC_LOGS)},
                   {"policy": {"policySummary": {"id": SCP_ID}}})
    attach = _org("attach", 2, "AttachPolicy", {"policyId": SCP_ID, "targetId": ACCOUNT})
    detach = _org("detach", 3, "DetachPolicy", {"policyId": SCP_ID, "targetId": ACCOUNT})
    assert _scp_attached([_update("update", 1, DENY_VPC_LOGS)]) is None
    assert _scp_attached([created]) is False
    assert _scp_attached([created, attach]) is True
    assert _scp_attached([created, attach, detach]) is False
    # detached from one target, it may still be attached to others the evidence does not show
    assert _scp_attached([_update("update", 1, DENY_VPC_LOGS), detach]) is None


def test_an_scp_update_of_unknown_attachment_and_aws_words_confirm_scp_deny(tmp_path: Path) -> None:
    records = [_create_stream("worked", 2, denied=False), _update("update", 5, DENY_VPC_LOGS),
               _create_stream("denied", 13.5, SCP_DENY)]
    [entry] = diagnose(_evidence(tmp_path / "evidence", records, inline=DELIVERY)).flow_logs
    assert (entry.root_cause, entry.confidence, entry.trigger.event_id) == ("scp-deny", "likely", "update")
    found = {finding.code: finding for finding in entry.findings}
    assert found["scp-deny"].verdict == "confirmed" and SCP_ID in found["scp-deny"].summary
    assert found["permission-missing"].verdict == found["explicit-deny"].verdict == "ruled_out"


def test_an_scp_of_unknown_attachment_that_allows_leaves_no_hole(tmp_path: Path) -> None:
    records = [_create_stream("worked", 2, denied=False), _update("update", 5, ALLOW_ALL),
               _create_stream("works", 13.5, denied=False)]
    flow_log = _flow_log(error=None)
    flow_log["DeliverLogsStatus"] = "SUCCESS"
    [entry] = diagnose(_evidence(tmp_path / "evidence", records, inline=DELIVERY, flow_logs=[flow_log])).flow_logs
    assert entry.root_cause == "none"
    assert _findings(entry)["scp-deny"][0] == "ruled_out"


def test_aws_words_prevail_over_an_evaluator_that_finds_delivery_allowed(tmp_path: Path) -> None:
    # every document of the role is known and allows; the SCP's refusal comes from a policy the evidence lacks
    records = [_create_stream("worked", 2, denied=False),
               _iam("put", 4, "PutRolePolicy", {"roleName": ROLE_NAME, "policyName": "extra",
                                                 "policyDocument": json.dumps(ALLOW_ALL)}),
               _update("update", 5, ALLOW_ALL),
               _org("attach", 6, "AttachPolicy", {"policyId": SCP_ID, "targetId": ACCOUNT}),
               _create_stream("denied", 13.5, SCP_DENY)]
    [entry] = diagnose(_evidence(tmp_path / "evidence", records, inline=DELIVERY)).flow_logs
    assert (entry.root_cause, entry.confidence) == ("scp-deny", "likely")
    assert entry.trigger.event_id == "attach"  # the last change to the SCPs before the failure
    found = {finding.code: finding for finding in entry.findings}
    assert found["scp-deny"].verdict == "confirmed"
    assert "offline evaluation" in found["scp-deny"].summary and "does not show" in found["scp-deny"].summary
    assert found["permission-missing"].verdict == "ruled_out"


def _cloudtrail_only(folder: Path, records: list[dict]):
    folder.mkdir(parents=True)
    (folder / "describe-flow-logs.json").write_text(json.dumps({"FlowLogs": [_flow_log()]}))
    (folder / "trail.json").write_text(json.dumps({"Records": records}))
    return flowforensics.load(folder)


def test_no_identity_policy_allows_justifies_the_grant_when_earlier_policies_are_unseen(tmp_path: Path) -> None:
    records = [_create_stream("worked", 2, denied=False),
               _iam("delete", 30, "DeleteRolePolicy", {"roleName": ROLE_NAME, "policyName": "LegacyVpcLogging"}),
               _create_stream("denied", 38.5, IMPLICIT)]
    [entry] = diagnose(_cloudtrail_only(tmp_path / "evidence", records)).flow_logs
    assert (entry.root_cause, entry.trigger.event_id) == ("permission-missing", "delete")
    assert [c.split(" --policy-name")[0] for c in entry.remediation.commands] == [f"aws iam put-role-policy --role-name {ROLE_NAME}"]
    assert entry.remediation.trust_policy == {}  # the role's own session shows the trust admitted the service
    policy = json.dumps(entry.remediation.permissions_policy)
    assert "logs:PutLogEvents" in policy and GROUP in policy
    summary = next(f.summary for f in entry.findings if f.code == "permission-missing")
    assert "AWS's own words" in summary and f"delivery last worked at {_at(2)}" in summary


def test_a_boundary_change_since_delivery_worked_leaves_the_grant_unproven(tmp_path: Path) -> None:
    boundary = f"arn:aws:iam::{ACCOUNT}:policy/VpcLoggingBoundary"
    records = [_create_stream("worked", 2, denied=False),
               _iam("boundary", 20, "PutRolePermissionsBoundary", {"roleName": ROLE_NAME, "permissionsBoundary": boundary},
                    actor=ADMIN),
               _iam("delete", 30, "DeleteRolePolicy", {"roleName": ROLE_NAME, "policyName": "LegacyVpcLogging"}),
               _create_stream("denied", 38.5, IMPLICIT)]
    [entry] = diagnose(_cloudtrail_only(tmp_path / "evidence", records)).flow_logs
    assert entry.root_cause == "permission-missing"
    # AWS names one policy type when several refuse: the new boundary may refuse too
    assert entry.remediation.commands == []
