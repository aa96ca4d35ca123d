"""AWS's own words as evidence, the flow log's own life, throttling windows and S3 destinations.

Each test writes an evidence folder as the AWS CLI and CloudTrail give it (describe-flow-logs, get-role,
get-role-policy, CloudTrail ``Records``) and reads ``diagnose``'s answer.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sample_paths import SAMPLES

import flowforensics
from flowforensics.analysis.diagnosis import diagnose
from flowforensics.analysis.stated import stated_denial

ACCOUNT, REGION = "111122223333", "eu-west-1"
ROLE_NAME = "FlowLogsDeliveryRole"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE_NAME}/vpc-flow-logs-delivery"
GROUP = "/vpc/flow-logs/prod"
FLOW_LOG = "fl-0aa11bb22cc33dd44"
DENY_ALL = "arn:aws:iam::aws:policy/AWSDenyAll"
READ_ONLY = "arn:aws:iam::aws:policy/CloudWatchLogsReadOnlyAccess"
ADMIN = f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_Admin_77ab01c2/olga@example.com"
T0 = datetime(2024, 6, 5, 2, 0, tzinfo=UTC)
TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"}, "Action": "sts:AssumeRole",
    "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT},
                  "ArnLike": {"aws:SourceArn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc-flow-log/*"}}}]}
GROUP_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{GROUP}"
DELIVERY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
     "Resource": [GROUP_ARN, f"{GROUP_ARN}:*"]},
    {"Effect": "Allow", "Action": "logs:DescribeLogGroups", "Resource": "*"}]}
EXPLICIT = "with an explicit deny in an identity-based policy"
IMPLICIT = "because no identity-based policy allows the logs:CreateLogStream action"


def _at(minute: float) -> str:
    return (T0 + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")


def _iam(event_id: str, minute: float, name: str, request: dict, actor: str = ADMIN) -> dict:
    """An IAM change as CloudTrail records it (in us-east-1)."""
    return {"eventVersion": "1.09", "eventID": event_id, "eventTime": _at(minute), "eventSource": "iam.amazonaws.com",
            "eventName": name, "awsRegion": "us-east-1", "recipientAccountId": ACCOUNT, "requestParameters": request,
            "responseElements": None, "userIdentity": {"type": "AssumedRole", "arn": actor, "accountId": ACCOUNT}}


def _create_stream(event_id: str, minute: float, reason: str | None = None, denied: bool = True) -> dict:
    """The delivery role's CreateLogStream; a refused one names the stream only in its message."""
    stream = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{GROUP}:log-stream:eni-0d03bb22cc33dd44e-all"
    record = {"eventVersion": "1.09", "eventID": event_id, "eventTime": _at(minute), "eventSource": "logs.amazonaws.com",
              "eventName": "CreateLogStream", "awsRegion": REGION, "recipientAccountId": ACCOUNT,
              "sourceIPAddress": "vpc-flow-logs.amazonaws.com", "userAgent": "vpc-flow-logs.amazonaws.com",
              "requestParameters": None if denied else {"logGroupName": GROUP, "logStreamName": "eni-0d03bb22cc33dd44e-all"},
              "responseElements": None,
              "userIdentity": {"type": "AssumedRole", "arn": SESSION, "accountId": ACCOUNT, "sessionContext": {
                  "sessionIssuer": {"type": "Role", "arn": ROLE, "userName": ROLE_NAME, "accountId": ACCOUNT}}}}
    if denied:
        record["errorCode"] = "AccessDenied"
        record["errorMessage"] = " ".join(filter(None, [
            f"User: {SESSION} is not authorized to perform: logs:CreateLogStream on resource: {stream}", reason]))
    return record


def _assume_role(event_id: str, minute: float, denied: bool) -> dict:
    """The flow logs service's sts:AssumeRole, as recorded in the flow log's region."""
    record = {"eventVersion": "1.08", "eventID": event_id, "eventTime": _at(minute), "eventSource": "sts.amazonaws.com",
              "eventName": "AssumeRole", "awsRegion": REGION, "recipientAccountId": ACCOUNT,
              "userIdentity": {"type": "AWSService", "invokedBy": "vpc-flow-logs.amazonaws.com"},
              "requestParameters": {"roleArn": ROLE, "roleSessionName": str(minute)}, "responseElements": None}
    if denied:
        record["errorCode"] = "AccessDenied"
        record["errorMessage"] = f"Not authorized to perform sts:AssumeRole on resource {ROLE}"
    return record


def _flow_log(flow_log_id: str = FLOW_LOG, error: str = "Access error", created: str = "2024-04-02T08:15:31+00:00") -> dict:
    return {"CreationTime": created, "DeliverLogsErrorMessage": error, "DeliverLogsPermissionArn": ROLE,
            "DeliverLogsStatus": "FAILED", "FlowLogId": flow_log_id, "FlowLogStatus": "ACTIVE", "LogGroupName": GROUP,
            "ResourceId": "vpc-0a1b2c3d4e5f60718", "TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs"}


def _evidence(folder: Path, records: list[dict], *, flow_logs: list[dict] | None = None, inline: dict | None = None,
              trust: dict = TRUST, extra: dict[str, dict] | None = None):
    folder.mkdir(parents=True, exist_ok=True)
    files = {"describe-flow-logs.json": {"FlowLogs": flow_logs or [_flow_log()]},
             "trail.json": {"Records": records},
             "get-role.json": {"Role": {"Path": "/", "RoleName": ROLE_NAME, "RoleId": "AROAQX2EXAMPLEFLOWB2C", "Arn": ROLE,
                                        "CreateDate": "2024-04-02T08:10:02+00:00", "AssumeRolePolicyDocument": trust}},
             **(extra or {})}
    if inline is not None:
        files["get-role-policy.json"] = {"RoleName": ROLE_NAME, "PolicyName": "FlowLogsDelivery", "PolicyDocument": inline}
    for name, document in files.items():
        (folder / name).write_text(json.dumps(document))
    return flowforensics.load(folder)


def _findings(entry) -> dict[str, tuple[str, list[str]]]:
    return {finding.code: (finding.verdict, finding.evidence) for finding in entry.findings}


def test_an_explicit_deny_named_by_aws_confirms_the_cause_when_the_policy_text_is_missing(tmp_path) -> None:
    attach = _iam("attach", 14, "AttachRolePolicy", {"roleName": ROLE_NAME, "policyArn": DENY_ALL})
    denied = _create_stream("denied", 21.5, EXPLICIT)
    folder = tmp_path / "evidence"
    evidence = _evidence(folder, [attach, denied], inline=DELIVERY)
    # real records of unrelated activity in the same folder change nothing
    shutil.copy(SAMPLES / "stratus-red-team" / "aws.persistence.iam-backdoor-role.json", folder / "stratus.json")
    evidence = flowforensics.load(folder)
    [entry] = diagnose(evidence).flow_logs
    assert (entry.root_cause, entry.confidence) == ("explicit-deny", "likely")
    assert entry.trigger.event_id == "attach" and entry.failure_started == _at(21.5)
    found = _findings(entry)
    assert found["explicit-deny"] == ("confirmed", ["attach", "denied"])
    # the refused call was made by the role's own session: the service had assumed it
    assert found["trust-missing-service"] == ("ruled_out", ["denied"])
    assert found["trust-condition-mismatch"] == ("ruled_out", ["denied"])
    assert found["permission-missing"][0] == "ruled_out"
    # the one fix that does not depend on the missing text, proven on the known documents
    assert entry.remediation.commands == [f"aws iam detach-role-policy --role-name {ROLE_NAME} --policy-arn {DENY_ALL}"]


def test_no_identity_policy_allows_confirms_permission_missing_and_grants_beside_the_unknown_policy(tmp_path) -> None:
    records = [_iam("attach", -60 * 24, "AttachRolePolicy", {"roleName": ROLE_NAME, "policyArn": READ_ONLY}),
               _create_stream("worked", 10, denied=False),
               _iam("delete", 30, "DeleteRolePolicy", {"roleName": ROLE_NAME, "policyName": "FlowLogsDelivery"}),
               _create_stream("denied", 38.5, IMPLICIT)]
    gaad = {"RoleDetailList": [{"RoleName": ROLE_NAME, "RoleId": "AROAQX2EXAMPLEFLOWB2C", "Arn": ROLE, "Path": "/",
                                "CreateDate": "2024-04-02T08:10:02+00:00", "AssumeRolePolicyDocument": TRUST,
                                "RolePolicyList": [], "AttachedManagedPolicies": [
                                    {"PolicyName": "CloudWatchLogsReadOnlyAccess", "PolicyArn": READ_ONLY}]}],
            "Policies": []}
    evidence = _evidence(tmp_path / "evidence", records, extra={"gaad.json": gaad})
    [entry] = diagnose(evidence).flow_logs
    assert (entry.root_cause, entry.confidence, entry.trigger.event_id) == ("permission-missing", "likely", "delete")
    assert _findings(entry)["permission-missing"] == ("confirmed", ["delete", "denied"])
    assert any(command.startswith(f"aws iam put-role-policy --role-name {ROLE_NAME}") for command in entry.remediation.commands)
    assert "logs:PutLogEvents" in json.dumps(entry.remediation.permissions_policy)


def test_a_message_without_a_reason_leaves_the_cause_open(tmp_path) -> None:
    attach = _iam("attach", 14, "AttachRolePolicy", {"roleName": ROLE_NAME, "policyArn": DENY_ALL})
    evidence = _evidence(tmp_path / "evidence", [attach, _create_stream("denied", 21.5)], inline=DELIVERY)
    [entry] = diagnose(evidence).flow_logs
    assert (entry.root_cause, entry.trigger, entry.remediation.commands) == ("inconclusive", None, [])
    found = _findings(entry)
    assert found["explicit-deny"][0] == "inconclusive"
    assert found["trust-missing-service"] == ("ruled_out", ["denied"])


def test_a_detach_is_not_proven_when_another_document_is_missing_too(tmp_path) -> None:
    records = [_iam("attach-1", 10, "AttachRolePolicy", {"roleName": ROLE_NAME, "policyArn": READ_ONLY}),
               _iam("attach", 14, "AttachRolePolicy", {"roleName": ROLE_NAME, "policyArn": DENY_ALL}),
               _create_stream("denied", 21.5, EXPLICIT)]
    evidence = _evidence(tmp_path / "evidence", records, inline=DELIVERY)
    [entry] = diagnose(evidence).flow_logs
    assert (entry.root_cause, entry.trigger.event_id) == ("explicit-deny", "attach")
    assert entry.remediation.commands == []  # either unknown document could hold the deny


def test_refused_assume_role_names_the_trust_but_not_which_trust_cause(tmp_path) -> None:
    records = [_assume_role("refused-1", 20, True), _assume_role("refused-2", 30, True)]
    window = {"signals": [{"signal": "assume-role-denied", "source": "refused-1"},
                          {"signal": "assume-role-denied", "source": "refused-2"}]}
    evidence = _evidence(tmp_path / "evidence", records, inline=DELIVERY)
    stated = stated_denial(evidence, window)
    assert stated is not None and stated.layer == "trust" and stated.event_ids == ["refused-1", "refused-2"]
    assert set(stated.codes) == {"trust-missing-service", "trust-condition-mismatch"}


def test_aws_naming_two_layers_in_one_window_decides_nothing(tmp_path) -> None:
    records = [_create_stream("a", 20, EXPLICIT), _create_stream("b", 30, IMPLICIT)]
    evidence = _evidence(tmp_path / "evidence", records, inline=DELIVERY)
    window = {"signals": [{"signal": "access-denied", "source": "a"}, {"signal": "access-denied", "source": "b"}]}
    assert stated_denial(evidence, window) is None


def test_a_new_log_stream_does_not_end_a_throttling_failure(tmp_path) -> None:
    alarm = {"MetricAlarms": [{"AlarmName": "silent", "MetricName": "IncomingLogEvents", "Namespace": "AWS/Logs",
                               "Dimensions": [{"Name": "LogGroupName", "Value": GROUP}], "StateValue": "ALARM"}]}
    history = {"AlarmHistoryItems": [{"AlarmName": "silent", "Timestamp": _at(64), "HistoryItemType": "StateUpdate",
                                      "HistoryData": json.dumps({"oldState": {"stateValue": "OK"},
                                                                 "newState": {"stateValue": "ALARM"}})}]}
    extra = {"alarms.json": alarm, "alarm-history.json": history}
    records = [_create_stream("stream", 65.2, denied=False)]
    throttled = _evidence(tmp_path / "throttled", records, inline=DELIVERY, extra=extra,
                          flow_logs=[_flow_log(error="Rate limited")])
    [entry] = diagnose(throttled).flow_logs
    assert (entry.root_cause, entry.failure_started) == ("rate-limited", _at(64))
    # for an access error, the same call shows the permissions work again: the alarm alone stands contradicted
    refused = _evidence(tmp_path / "refused", records, inline=DELIVERY, extra=extra)
    [entry] = diagnose(refused).flow_logs
    assert entry.failure_started is None


def test_role_and_log_group_causes_do_not_apply_to_an_s3_destination(tmp_path) -> None:
    s3 = {"CreationTime": "2024-04-02T08:16:02+00:00", "DeliverLogsErrorMessage": "Access error", "DeliverLogsStatus": "FAILED",
          "FlowLogId": FLOW_LOG, "FlowLogStatus": "ACTIVE", "ResourceId": "vpc-0a1b2c3d4e5f60718", "TrafficType": "ALL",
          "LogDestinationType": "s3", "LogDestination": "arn:aws:s3:::acme-vpc-flow-logs-dr"}
    folder = tmp_path / "evidence"
    folder.mkdir()
    (folder / "describe-flow-logs.json").write_text(json.dumps({"FlowLogs": [s3]}))
    [entry] = diagnose(flowforensics.load(folder)).flow_logs
    found = {finding.code: finding for finding in entry.findings}
    for code in ("trust-missing-service", "trust-condition-mismatch", "permission-missing", "role-deleted",
                 "role-recreated", "log-group-deleted", "kms-key-denied"):
        assert found[code].verdict == "ruled_out" and "s3" in found[code].summary
    assert entry.root_cause == "inconclusive"


def test_a_replacement_flow_log_is_broken_by_its_own_creation(tmp_path) -> None:
    old, new = "fl-0d17e1a2b3c4d5e6f", "fl-0d17f2b3c4d5e6f70"
    pinned = json.loads(json.dumps(TRUST))
    pinned["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"] = f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc-flow-log/{old}"

    def ec2(event_id: str, minute: float, name: str, request: dict, response: dict | None = None) -> dict:
        return {"eventVersion": "1.09", "eventID": event_id, "eventTime": _at(minute), "eventSource": "ec2.amazonaws.com",
                "eventName": name, "awsRegion": REGION, "recipientAccountId": ACCOUNT, "requestParameters": request,
                "responseElements": response, "userIdentity": {"type": "AssumedRole", "arn": ADMIN, "accountId": ACCOUNT}}

    records = [
        _iam("pin", -60 * 24 * 20, "UpdateAssumeRolePolicy", {"roleName": ROLE_NAME, "policyDocument": json.dumps(pinned)}),
        ec2("create-old", -60 * 24 * 60, "CreateFlowLogs", {"CreateFlowLogsRequest": {
            "ResourceId": {"tag": 1, "content": "vpc-0a1b2c3d4e5f60718"}, "ResourceType": "VPC", "TrafficType": "ALL",
            "LogDestinationType": "cloud-watch-logs", "LogGroupName": GROUP, "DeliverLogsPermissionArn": ROLE}},
            {"CreateFlowLogsResponse": {"unsuccessful": "", "flowLogIdSet": {"item": old}}}),
        ec2("delete-old", 0, "DeleteFlowLogs", {"DeleteFlowLogsRequest": {"FlowLogId": {"tag": 1, "content": old}}}),
        ec2("create-new", 0.1, "CreateFlowLogs", {"CreateFlowLogsRequest": {
            "ResourceId": {"tag": 1, "content": "vpc-0a1b2c3d4e5f60718"}, "ResourceType": "VPC", "TrafficType": "ALL",
            "LogDestinationType": "cloud-watch-logs", "LogGroupName": GROUP, "DeliverLogsPermissionArn": ROLE}},
            {"CreateFlowLogsResponse": {"unsuccessful": "", "flowLogIdSet": {"item": new}}}),
        _assume_role("refused", 10, True),
    ]
    flow_logs = [_flow_log(new, created=_at(0.1))]
    evidence = _evidence(tmp_path / "evidence", records, inline=DELIVERY, trust=pinned, flow_logs=flow_logs)
    entries = {entry.flow_log_id: entry for entry in diagnose(evidence).flow_logs}
    replacement = entries[new]
    assert (replacement.root_cause, replacement.confidence) == ("trust-condition-mismatch", "confirmed")
    assert (replacement.trigger.event_name, replacement.trigger.event_time) == ("CreateFlowLogs", _at(0.1))
    gone = entries[old]
    assert gone.root_cause == "flow-log-deleted"
    # the service's refused AssumeRole after the old flow log was deleted was for the new one
    assert not any("refused" in finding.evidence for finding in gone.findings)
