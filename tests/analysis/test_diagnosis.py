"""The diagnosis on real third-party CloudTrail records and on every sample incident."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from sample_paths import SAMPLES

import flowforensics
from flowforensics.analysis.diagnosis import diagnose
from flowforensics.analysis.iam.remediation import edits_aws_owned
from flowforensics.analysis.results import CONFIDENCES, STATES, STATUSES, VERDICTS
from flowforensics.analysis.root_causes import ROOT_CAUSES
from flowforensics.errors import EvidenceError
from flowforensics.scenarios import SCENARIOS
from flowforensics.scenarios.incidents import INCIDENTS, LATENT_WHEN

VPC_REMOVE_FLOW_LOGS = SAMPLES / "stratus-red-team" / "aws.defense-evasion.vpc-remove-flow-logs.json"
# Metrics come in 5-minute periods: the evidence bounds when delivery failed or resumed only that closely.
METRIC_PERIOD = pd.Timedelta(minutes=5)


def _close(got: str | None, expected: str | None) -> bool:
    if got is None or expected is None:
        return got == expected
    return abs(pd.Timestamp(got) - pd.Timestamp(expected)) <= METRIC_PERIOD


def _check_contract(entry: dict) -> None:
    assert entry["status"] in STATUSES
    assert entry["root_cause"] in ROOT_CAUSES
    assert entry["confidence"] in CONFIDENCES
    assert entry["state"] in STATES
    assert {f["code"] for f in entry["findings"]} >= set(ROOT_CAUSES) - {"inconclusive"}
    assert all(f["verdict"] in VERDICTS for f in entry["findings"])
    assert set(entry["remediation"]) == {"permissions_policy", "trust_policy", "commands"}


def test_real_vpc_remove_flow_logs_is_a_deleted_flow_log() -> None:
    result = diagnose(flowforensics.load(VPC_REMOVE_FLOW_LOGS)).to_dict()
    (entry,) = result["flow_logs"]
    _check_contract(entry)
    assert entry["flow_log_id"] == "fl-0e17aa62a21d4bbfe"
    assert entry["status"] == "DELETED"
    assert entry["root_cause"] == "flow-log-deleted"
    assert entry["trigger"]["event_id"] == "ded2f5af-f3a5-46d2-a170-a23206a32c36"
    assert entry["trigger"]["event_name"] == "DeleteFlowLogs"
    assert entry["trigger"]["actor"] == "arn:aws:iam::498376118699:user/christophe"
    assert entry["recovery"] is None
    findings = {f["code"]: f for f in entry["findings"]}
    deleted = findings["flow-log-deleted"]
    assert deleted["verdict"] == "confirmed" and "T1562.008" in deleted["summary"] and "christophe" in deleted["summary"]
    assert deleted["evidence"] == ["ded2f5af-f3a5-46d2-a170-a23206a32c36"]
    # The file holds only DeleteFlowLogs: the role is unknown, and said so rather than guessed.
    assert findings["permission-missing"]["verdict"] == "inconclusive"
    assert "role" in findings["permission-missing"]["summary"] and "unknown" in findings["permission-missing"]["summary"]


def test_whole_samples_folder_gives_one_entry_per_flow_log() -> None:
    evidence = flowforensics.load(SAMPLES)
    result = diagnose(evidence).to_dict()
    assert sorted(e["flow_log_id"] for e in result["flow_logs"]) == sorted(evidence.flow_logs["flow_log_id"])
    for entry in result["flow_logs"]:
        _check_contract(entry)
    json.dumps(result)  # the contract is JSON as it is


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_sample_incident_is_diagnosed_right(name: str, scenario_folder) -> None:
    expected = SCENARIOS[name].expected
    result = diagnose(flowforensics.load(scenario_folder(name)), expected.flow_log_id).to_dict()
    (entry,) = result["flow_logs"]
    _check_contract(entry)
    assert edits_aws_owned(entry["remediation"]["commands"], entry["role_arn"]) is None  # the fix never edits AWS's own
    assert (entry["status"], entry["root_cause"], entry["state"]) == (expected.status, expected.root_cause, expected.state)
    assert (entry["role_arn"], entry["log_group"], entry["region"]) == (expected.role_arn, expected.log_group, expected.region)
    trigger, recovery = entry["trigger"] or {}, entry["recovery"] or {}
    assert (trigger.get("event_id"), trigger.get("event_name"), trigger.get("actor")) == (
        expected.trigger_event_id, expected.trigger_event_name, expected.trigger_actor
    )
    assert (recovery.get("event_id"), recovery.get("event_name")) == (expected.recovery_event_id, expected.recovery_event_name)
    assert _close(entry["failure_started"], expected.failure_started)
    assert _close(recovery.get("delivery_resumed"), expected.delivery_resumed)
    if recovery.get("delivery_resumed"):
        lag = pd.Timestamp(recovery["delivery_resumed"]) - pd.Timestamp(recovery["event_time"])
        assert recovery["lag_seconds"] == lag.total_seconds() > 0
    red_herrings = set(expected.red_herring_event_ids)
    assert not red_herrings & {trigger.get("event_id"), recovery.get("event_id")}
    if expected.root_cause not in ("none", "inconclusive"):
        assert entry["confidence"] == "confirmed"
        confirmed = {f["code"] for f in entry["findings"] if f["verdict"] == "confirmed"}
        assert expected.root_cause in confirmed


@pytest.mark.parametrize("name", ["flow-log-deleted", "log-group-deleted"])
def test_deletions_are_security_findings_naming_the_actor(name: str, scenario_folder) -> None:
    expected = SCENARIOS[name].expected
    (entry,) = diagnose(flowforensics.load(scenario_folder(name)), expected.flow_log_id).flow_logs
    finding = next(f for f in entry.findings if f.code == name)
    assert "T1562.008" in finding.summary and expected.trigger_actor in finding.summary


def test_cloudtrail_removed_gives_inconclusive_naming_what_is_missing(scenario_folder, tmp_path) -> None:
    folder = tmp_path / "no-trail"
    shutil.copytree(scenario_folder("permission-removed"), folder)
    shutil.rmtree(folder / "cloudtrail")
    (folder / "manifest.json").unlink()  # the files no longer match it
    expected = SCENARIOS["permission-removed"].expected
    (entry,) = diagnose(flowforensics.load(folder), expected.flow_log_id).flow_logs
    assert entry.root_cause == "inconclusive" and entry.trigger is None and entry.recovery is None
    missing = next(f for f in entry.findings if f.code == "inconclusive")
    assert f"no CloudTrail events for role {expected.role_arn.rsplit('/', 1)[-1]} in us-east-1 between" in missing.summary


def test_no_cloudtrail_scenario_names_the_gap(scenario_folder) -> None:
    (entry,) = diagnose(flowforensics.load(scenario_folder("no-cloudtrail"))).flow_logs
    assert entry.root_cause == "inconclusive" and entry.confidence == "possible"
    undecided = [f.summary for f in entry.findings if f.verdict == "inconclusive"]
    # CloudTrail was refused: the findings say it could not be read, with AWS's error, not that no event shows it.
    assert not any("no CloudTrail events" in summary for summary in undecided)
    assert any("CloudTrail could not be read: cloudtrail:LookupEvents in us-east-1 (AccessDeniedException: "
               in summary for summary in undecided)


def test_at_risk_without_cloudtrail_rests_on_the_collected_role(scenario_folder) -> None:
    (entry,) = diagnose(flowforensics.load(scenario_folder("latent-trust-no-cloudtrail"))).flow_logs
    assert (entry.status, entry.state, entry.root_cause, entry.trigger) == ("SUCCESS", "at-risk", "trust-missing-service", None)
    finding = next(f for f in entry.findings if f.code == "trust-missing-service")
    assert finding.verdict == "confirmed" and "CloudTrail could not be read" in finding.summary
    assert entry.failure_started is None and entry.remediation.trust_policy


def test_unknown_flow_log_id_is_an_evidence_error() -> None:
    with pytest.raises(EvidenceError, match="fl-00000000000000000"):
        diagnose(flowforensics.load(VPC_REMOVE_FLOW_LOGS), "fl-00000000000000000")


def test_end_ignores_what_came_after(scenario_folder) -> None:
    expected = SCENARIOS["permission-removed"].expected
    evidence = flowforensics.load(scenario_folder("permission-removed"))
    before_fix = pd.Timestamp(expected.failure_started) + pd.Timedelta(minutes=30)
    (entry,) = diagnose(evidence, expected.flow_log_id, end=before_fix).flow_logs
    assert entry.root_cause == "permission-missing" and entry.status == "FAILED"
    assert entry.trigger.event_id == expected.trigger_event_id and entry.recovery is None


def test_a_region_s_cloudtrail_gap_leaves_what_rests_on_it_undecided(scenario_folder, tmp_path) -> None:
    expected = SCENARIOS["lookups-throttled"].expected
    (entry,) = diagnose(flowforensics.load(scenario_folder("lookups-throttled"))).flow_logs
    # the trust change is in us-east-1, which was read: still proven, with its trigger
    assert (entry.root_cause, entry.state, entry.trigger.event_id) == ("trust-missing-service", "failing",
                                                                       expected.trigger_event_id)
    # Without describe-log-groups, only the region's events could show the log group deleted: they were not read.
    folder = tmp_path / "evidence"
    shutil.copytree(scenario_folder("lookups-throttled"), folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    groups = [f for f in manifest["files"] if f["operation"] == "logs:DescribeLogGroups"]
    for entry_file in groups:
        (folder / entry_file["path"]).unlink()
    manifest["files"] = [f for f in manifest["files"] if f not in groups]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (entry,) = diagnose(flowforensics.load(folder)).flow_logs
    finding = next(f for f in entry.findings if f.code == "log-group-deleted")
    assert finding.verdict == "inconclusive"
    assert f"CloudTrail could not be read: cloudtrail:LookupEvents in {expected.region} (ThrottlingException" in finding.summary


AT_RISK = sorted(name for name, scenario in SCENARIOS.items() if scenario.expected.state == "at-risk")
SESSION_EXPIRES = "session expires"


@pytest.mark.parametrize("name", AT_RISK)
def test_at_risk_says_when_delivery_will_fail_as_the_incident_does(name: str, scenario_folder) -> None:
    # A trust policy is read only when the service assumes the role again; identity policies, boundaries,
    # SCPs and key policies on every request, and a role is deleted only once its policies are (AWS's
    # DeleteConflict), so a deleted or replaced role's session is refused at its next request too.
    expected = SCENARIOS[name].expected
    (entry,) = diagnose(flowforensics.load(scenario_folder(name))).flow_logs
    finding = next(f for f in entry.findings if f.code == expected.root_cause)
    at_risk = finding.summary.split("so the flow log is at risk: ", 1)[1]
    incident = next(i for i in INCIDENTS if i.name == name)
    assert LATENT_WHEN[expected.root_cause] in incident.description
    assert (SESSION_EXPIRES in at_risk) == (SESSION_EXPIRES in LATENT_WHEN[expected.root_cause]), at_risk
    assert (SESSION_EXPIRES in at_risk) == (expected.root_cause in ("trust-missing-service", "trust-condition-mismatch"))


def test_a_flow_log_known_only_from_a_log_destination_arn_is_diagnosed_on_its_log_group(scenario_folder) -> None:
    expected = SCENARIOS["log-destination-arn"].expected
    evidence = flowforensics.load(scenario_folder("log-destination-arn"))
    (flow_log,) = evidence.flow_logs.to_dict("records")
    group_arn = f"arn:aws:logs:{expected.region}:{expected.account_id}:log-group:{expected.log_group}"
    assert (flow_log["source"], flow_log["log_destination"], flow_log["log_group"]) == ("cloudtrail", group_arn,
                                                                                       expected.log_group)
    (entry,) = diagnose(evidence).flow_logs
    assert (entry.log_group, entry.root_cause, entry.state) == (expected.log_group, "permission-missing", "recovered")
    # the fix it proved for the failure scopes the delivery actions to that log group's streams
    finding = next(f for f in entry.findings if f.code == "permission-missing")
    assert f"{group_arn}:log-stream:*" in finding.summary


def test_rate_limited_quotes_only_what_aws_said(scenario_folder) -> None:
    # describe-flow-logs was refused: no DeliverLogsErrorMessage is in the evidence to quote
    (entry,) = diagnose(flowforensics.load(scenario_folder("log-destination-arn"))).flow_logs
    finding = next(f for f in entry.findings if f.code == "rate-limited")
    assert "delivery failed with '" not in finding.summary
    assert "ec2:DescribeFlowLogs" in finding.summary and "UnauthorizedOperation" in finding.summary


def test_a_delivering_flow_log_is_not_asked_whether_it_was_throttled(scenario_folder, capsys) -> None:
    from flowforensics.cli import main

    folder = scenario_folder("latent-permission-removed")
    (entry,) = diagnose(flowforensics.load(folder)).flow_logs
    assert next(f for f in entry.findings if f.code == "rate-limited").verdict != "inconclusive"
    assert main(["diagnose", str(folder)]) == 0
    assert "aws ec2 describe-flow-logs" not in capsys.readouterr().out


def test_a_trigger_whose_record_names_no_principal_has_a_null_actor(log_group_deleted, capsys) -> None:
    # A DeleteLogGroup whose record carries no userIdentity (an export that dropped it, or a forged record)
    # left the trigger's actor NA: diagnose --json stopped on it ("NAType is not JSON serializable").
    from flowforensics.cli import main

    tmp_path = log_group_deleted("userIdentity")
    assert main(["diagnose", str(tmp_path), "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)["flow_logs"]
    assert (entry["root_cause"], entry["trigger"]["event_id"], entry["trigger"]["actor"]) == ("log-group-deleted", "e-0", None)
    # No sentence names a principal the record does not name (pandas' NA said "<NA> deleted log group ...").
    finding = next(f for f in entry["findings"] if f["code"] == "log-group-deleted")
    assert finding["summary"].startswith("log group /vpc/flow-logs/prod was deleted at 2024-03-24T10:00:00Z and the role may not ")
    assert main(["diagnose", str(tmp_path), "--verbose"]) == main(["timeline", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "<NA>" not in printed and "DeleteLogGroup /vpc/flow-logs/prod\n" in printed


def test_a_lone_surrogate_in_a_request_or_response_does_not_stop_the_diagnosis(tmp_path, capsys) -> None:
    # JSON may hold "\ud800" alone. The events' request and response keep the record's values as read; a
    # column of them built by pandas (Arrow strings, which UTF-8 backs) stopped every diagnosis on it.
    from flowforensics.cli import main

    role = "arn:aws:iam::381492650217:role/flow-logs-role"
    flow_logs = {"FlowLogs": [{"FlowLogId": "fl-0a1b2c3d4e5f60718", "ResourceId": "vpc-0a1b2c3d", "LogGroupName": "/vpc/flow-logs/prod",
                               "DeliverLogsPermissionArn": role, "DeliverLogsStatus": "FAILED",
                               "DeliverLogsErrorMessage": "Access error", "CreationTime": "2024-02-12T16:47:49Z"}]}
    base = {"eventVersion": "1.09", "eventSource": "iam.amazonaws.com", "awsRegion": "us-east-1", "eventTime": "2024-03-24T10:00:00Z",
            "recipientAccountId": "381492650217", "readOnly": False, "responseElements": None}
    records = [
        {**base, "eventID": "e-put", "eventName": "PutRolePolicy",
         "requestParameters": {"roleName": "flow-logs-role\ud800", "policyName": "delivery\udfff", "policyDocument": "{}"}},
        {**base, "eventID": "e-attach", "eventName": "AttachRolePolicy",
         "requestParameters": {"roleName": "flow-logs-role", "policyArn": "arn:aws:iam::381492650217:policy/p\ud800"}},
        {**base, "eventID": "e-create", "eventName": "CreatePolicy", "requestParameters": {"policyName": "p", "policyDocument": "{}"},
         "responseElements": {"policy": {"arn": "arn:aws:iam::381492650217:policy/p\ud800"}}},
        {**base, "eventID": "e-delete", "eventName": "DeleteLogGroup", "eventSource": "logs.amazonaws.com", "awsRegion": "eu-west-1",
         "requestParameters": {"logGroupName": "/vpc/flow-logs/prod\ud800"}},
    ]
    (tmp_path / "describe-flow-logs.json").write_text(json.dumps(flow_logs))
    (tmp_path / "trail.json").write_text(json.dumps({"Records": records}))
    (entry,) = diagnose(flowforensics.load(tmp_path)).flow_logs
    assert entry.root_cause == "inconclusive"
    assert main(["diagnose", str(tmp_path)]) == main(["timeline", str(tmp_path)]) == 0
    capsys.readouterr().out.encode("utf-8")


def test_a_response_of_another_shape_does_not_stop_the_role_history(tmp_path) -> None:
    # CreatePolicy's responseElements.policy is an object; one that is a string (or a list) stopped the
    # replay of every role ("'str' object has no attribute 'get'"): the change cannot be placed, and is not.
    role = "arn:aws:iam::381492650217:role/flow-logs-role"
    flow_logs = {"FlowLogs": [{"FlowLogId": "fl-0a1b2c3d4e5f60718", "ResourceId": "vpc-0a1b2c3d", "LogGroupName": "/vpc/flow-logs/prod",
                               "DeliverLogsPermissionArn": role, "DeliverLogsStatus": "FAILED",
                               "DeliverLogsErrorMessage": "Access error", "CreationTime": "2024-02-12T16:47:49Z"}]}
    base = {"eventVersion": "1.09", "eventSource": "iam.amazonaws.com", "awsRegion": "us-east-1", "eventTime": "2024-03-24T10:00:00Z",
            "recipientAccountId": "381492650217", "readOnly": False}
    arn = "arn:aws:iam::381492650217:policy/p"
    records = [
        {**base, "eventID": "e-create", "eventName": "CreatePolicy", "requestParameters": {"policyName": "p", "policyDocument": "{}"},
         "responseElements": {"policy": arn}},
        {**base, "eventID": "e-version", "eventName": "CreatePolicyVersion", "requestParameters": {"policyArn": arn, "policyDocument": "{}"},
         "responseElements": {"policyVersion": ["v2"]}},
        {**base, "eventID": "e-attach", "eventName": "AttachRolePolicy", "requestParameters": {"roleName": "flow-logs-role", "policyArn": arn},
         "responseElements": None},
    ]
    (tmp_path / "describe-flow-logs.json").write_text(json.dumps(flow_logs))
    (tmp_path / "trail.json").write_text(json.dumps({"Records": records}))
    (entry,) = diagnose(flowforensics.load(tmp_path)).flow_logs
    assert entry.flow_log_id == "fl-0a1b2c3d4e5f60718"


def test_an_scp_without_its_summary_does_not_stop_the_role_history(scenario_folder, tmp_path) -> None:
    # describe-policy's PolicySummary holds the SCP's ARN; without it the ARN is NA, and "NA or name" raised
    # (pandas' NA has no truth value) in every diagnosis of the account.
    folder = shutil.copytree(scenario_folder("scp-deny"), tmp_path / "ev")
    for path in sorted(folder.glob("organizations/global/describe-policy*.json")):
        document = json.loads(path.read_text())
        path.write_text(json.dumps({"Policy": {**document["Policy"], "PolicySummary": None}}))
    (entry,) = diagnose(flowforensics.load(folder)).flow_logs
    assert entry.flow_log_id == SCENARIOS["scp-deny"].expected.flow_log_id
