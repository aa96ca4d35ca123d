"""Write the second round of black-box evidence folders under ``tests/blackbox2/data/``, with ``expected.json``.

Run ``python tests/blackbox2/make_cases.py`` to regenerate them; the output is deterministic. The CloudTrail
records and CLI outputs come from the first round's AWS-shaped builders (``tests/blackbox/aws.py``) plus the few
shapes round one did not need (below). Every expectation is decided from AWS's documentation and docs/contracts.md,
never from the tool's output; the docstring of each case says which page.
"""

from __future__ import annotations

import gzip
import io
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "blackbox"))

from aws import (  # noqa: E402  (run as a script: round one's folder is put on the path first)
    ACCOUNT,
    DELIVERY_POLICY,
    FIVE_ACTIONS,
    IAM_REGION,
    REGION,
    alarm,
    alarm_history,
    allow,
    assumed_role,
    attach_role_policy,
    authorization_details,
    cli_time,
    create_role,
    delete_flow_logs,
    delete_role_policy,
    deny,
    detach_role_policy,
    epoch_ms,
    event_id,
    every_minute,
    flow_log,
    get_role,
    get_role_policy,
    iam_user,
    json_lines,
    log_group,
    log_group_arn,
    log_groups,
    logs_call,
    lookup_events,
    managed_policy,
    metric_data,
    policy,
    put_role_permissions_boundary,
    put_role_policy,
    record,
    role_arn,
    role_detail,
    s3_log_file,
    service_assume_role,
    t,
    trust,
    update_assume_role_policy,
    url_encoded,
    z,
)
from cases import (  # noqa: E402  (run as a script, like aws)
    LG,
    ROLE,
    entry,
    fresh,
    ref,
    registry,
    window,
    write_all,
    write_expected,
    write_files,
)

DATA = Path(__file__).resolve().parent / "data"
ROLE_ID = "AROAQX2EXAMPLEFLOWB2C"
VPC = "vpc-0a1b2c3d4e5f60718"
OPS = iam_user("ops-admin")
BOB = iam_user("bob")
NO_ALLOW = "because no identity-based policy allows the logs:{} action"
EXPLICIT = "with an explicit deny in an identity-based policy"
DENY_ALL_ARN = "arn:aws:iam::aws:policy/AWSDenyAll"
# https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSDenyAll.html (v2, the default)
DENY_ALL = {"Version": "2012-10-17", "Statement": [{"Sid": "DenyAll", "Effect": "Deny", "Action": ["*"],
                                                    "Resource": "*"}]}
CASES, case = registry()




# ---- shapes round one did not need ----


def set_default_policy_version(case_name, when, who, policy_arn, version_id):
    """``iam:SetDefaultPolicyVersion``: no response elements, the version in the request."""
    return record(case_name, "SetDefaultPolicyVersion", "iam.amazonaws.com", when, who,
                  {"policyArn": policy_arn, "versionId": version_id}, region=IAM_REGION)


def create_policy_version(case_name, when, who, policy_arn, document, version_id, set_default=True):
    return record(
        case_name, "CreatePolicyVersion", "iam.amazonaws.com", when, who,
        {"policyArn": policy_arn, "policyDocument": json.dumps(document, indent=4), "setAsDefault": set_default},
        {"policyVersion": {"versionId": version_id, "isDefaultVersion": set_default,
                           "createDate": when.strftime("%b %-d, %Y %-I:%M:%S %p")}},
        region=IAM_REGION,
    )


def create_flow_logs(case_name, when, who, flow_log_id, resource_type, resource_id, role, group, region=REGION):
    """``ec2:CreateFlowLogs`` for a VPC, a subnet or a network interface (EC2's nested query parameters)."""
    return record(
        case_name, "CreateFlowLogs", "ec2.amazonaws.com", when, who,
        {"CreateFlowLogsRequest": {
            "ResourceId": {"tag": 1, "content": resource_id},
            "ResourceType": resource_type,
            "TrafficType": "ALL",
            "LogDestinationType": "cloud-watch-logs",
            "LogGroupName": group,
            "DeliverLogsPermissionArn": role_arn(role),
            "MaxAggregationInterval": 60,
        }},
        {"CreateFlowLogsResponse": {"xmlns": "http://ec2.amazonaws.com/doc/2016-11-15/",
                                    "requestId": event_id(case_name, "CreateFlowLogs", flow_log_id),
                                    "unsuccessful": "", "flowLogIdSet": {"item": flow_log_id}}},
        region=region,
    )


def s3_flow_log(flow_log_id: str, bucket_arn: str, status: str, created: str, error: str | None = None):
    """A ``describe-flow-logs`` entry publishing to S3: no role, no log group (EC2 FlowLog API reference)."""
    entry: dict[str, Any] = {"CreationTime": created}
    if error:
        entry["DeliverLogsErrorMessage"] = error
    entry.update({
        "DeliverLogsStatus": status,
        "FlowLogId": flow_log_id,
        "FlowLogStatus": "ACTIVE",
        "ResourceId": VPC,
        "TrafficType": "ALL",
        "LogDestinationType": "s3",
        "LogDestination": bucket_arn,
        "LogFormat": "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} "
                     "${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}",
        "Tags": [],
        "MaxAggregationInterval": 600,
        "DestinationOptions": {"FileFormat": "plain-text", "HiveCompatiblePartitions": False,
                               "PerHourPartition": False},
    })
    return entry


def stream(group: str, name: str, created: datetime, last_event: datetime, last_ingestion: datetime,
           region: str = REGION) -> dict[str, Any]:
    """One ``describe-log-streams`` entry; CloudWatch Logs gives every time in epoch milliseconds."""
    return {
        "logStreamName": name,
        "creationTime": epoch_ms(created),
        "firstEventTimestamp": epoch_ms(created),
        "lastEventTimestamp": epoch_ms(last_event),
        "lastIngestionTime": epoch_ms(last_ingestion),
        "uploadSequenceToken": "49654796026243824240318171692305216662718669063406487010",
        "arn": f"{log_group_arn(group, region)}:log-stream:{name}",
        "storedBytes": 0,
    }


def metric_epoch_seconds(points: list[tuple[datetime, float]]) -> dict[str, Any]:
    """``get-metric-data`` as an SDK dump with epoch-second timestamps, newest first."""
    points = sorted(points, reverse=True)
    return {"MetricDataResults": [{"Id": "incoming", "Label": "IncomingLogEvents",
                                   "Timestamps": [int(p[0].timestamp()) for p in points],
                                   "Values": [p[1] for p in points], "StatusCode": "Complete"}],
            "Messages": []}


def gzip_json(document: Any) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as handle:
        handle.write(json.dumps(document).encode())
    return buffer.getvalue()


def digest_file(region: str, start: datetime, end: datetime, log_files: list[str]) -> bytes:
    """A CloudTrail digest file (log file integrity validation), which sits beside the logs in S3.

    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-digest-file-structure.html
    """
    stamp = end.strftime("%Y%m%dT%H%M%SZ")
    return gzip_json({
        "awsAccountId": ACCOUNT,
        "digestStartTime": z(start),
        "digestEndTime": z(end),
        "digestS3Bucket": "acme-org-cloudtrail",
        "digestS3Object": f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/{region}/{end:%Y/%m/%d}/"
                          f"{ACCOUNT}_CloudTrail-Digest_{region}_org-trail_{region}_{stamp}.json.gz",
        "digestPublicKeyFingerprint": "31e8b5433410dfb61a9dc45cc65b22ff",
        "digestSignatureAlgorithm": "SHA256withRSA",
        "newestEventTime": z(end - timedelta(minutes=3)),
        "oldestEventTime": z(start + timedelta(minutes=2)),
        "previousDigestS3Bucket": "acme-org-cloudtrail",
        "previousDigestS3Object": None,
        "previousDigestHashValue": None,
        "previousDigestHashAlgorithm": None,
        "previousDigestSignature": None,
        "logFiles": [{"s3Bucket": "acme-org-cloudtrail", "s3Object": name,
                      "hashValue": "9bb6196fc6b84d6f075a56548feca262bd99ba3c2de41b618e5b6e22c1fc71f6",
                      "hashAlgorithm": "SHA-256", "newestEventTime": z(end - timedelta(minutes=3)),
                      "oldestEventTime": z(start + timedelta(minutes=2))} for name in log_files],
    })


def ct_key(region: str, when: datetime, suffix: str) -> str:
    """Where CloudTrail puts a log file in its S3 bucket."""
    return (f"AWSLogs/{ACCOUNT}/CloudTrail/{region}/{when:%Y/%m/%d}/"
            f"{ACCOUNT}_CloudTrail_{region}_{when:%Y%m%dT%H%M}Z_{suffix}.json.gz")


# ---- expectations ----








def noise(case_name: str, day: str) -> list[dict[str, Any]]:
    """Unrelated IAM activity the same day."""
    alice = assumed_role("AWSReservedSSO_PowerUser_5f2a9c1e", "alice@example.com")
    return [
        put_role_policy(case_name, t(f"{day}T06:58:12"), alice, "app-orders-task-role", "orders-dynamodb",
                        policy(allow(["dynamodb:GetItem", "dynamodb:PutItem"],
                                     f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders"))),
        record(case_name, "ConsoleLogin", "signin.amazonaws.com", t(f"{day}T06:31:00"), iam_user("bob"), None,
               {"ConsoleLogin": "Success"}, region=IAM_REGION),
    ]


def flow_logs(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"FlowLogs": list(entries)}


def failed(flow_log_id: str, role: str = ROLE, group: str = LG, error: str = "Access error", **kw: Any):
    return flow_log(flow_log_id, role, group, "FAILED", "2024-04-02T08:15:31+00:00", error=error, **kw)


# ---- the cases ----


@case
def case_d01_managed_policy_rollback():
    """A rollback makes v1 of the attached managed policy the default again; v1 never had logs:PutLogEvents.

    SetDefaultPolicyVersion changes which version applies at once:
    https://docs.aws.amazon.com/IAM/latest/APIReference/API_SetDefaultPolicyVersion.html
    Required actions: https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html
    """
    name, fl = "d01", "fl-0d01a2b3c4d5e6f70"
    arn = f"arn:aws:iam::{ACCOUNT}:policy/network/VpcFlowLogsDelivery"
    v1 = policy(allow(["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogGroups",
                       "logs:DescribeLogStreams"], "*", sid="Delivery"))
    v2 = policy(allow(FIVE_ACTIONS, "*", sid="Delivery"))
    ci = assumed_role("terraform-ci", "gha-run-9120")
    fixed_once = create_policy_version(name, t("2024-05-02T10:00:00"), ci, arn, v2, "v2")
    rollback = set_default_policy_version(name, t("2024-06-03T14:02:11"), ci, arn, "v1")
    points = every_minute(t("2024-06-03T13:30:00"), t("2024-06-03T14:01:00"))
    files = {
        "lookup-iam.json": lookup_events([fixed_once, rollback, *noise(name, "2024-06-03")]),
        "gaad.json": authorization_details(
            [role_detail(ROLE, ROLE_ID, url_encoded(trust()), "2024-04-02T08:10:02+00:00", attached=[arn])],
            [managed_policy(arn, [("v1", url_encoded(v1), "2024-04-02T08:11:00+00:00"),
                                  ("v2", url_encoded(v2), "2024-05-02T10:00:00+00:00")], "v1")]),
        "describe-flow-logs.json": flow_logs(failed(fl)),
        "describe-log-groups.json": log_groups(log_group(LG, t("2024-04-02T08:15:40"))),
        "incoming.json": metric_data(points),
        "alarms.json": {"MetricAlarms": [alarm("vpc-flow-logs-silent", LG, "ALARM", t("2024-06-03T14:10:00"))],
                        "CompositeAlarms": []},
        "alarm-history.json": alarm_history("vpc-flow-logs-silent", [(t("2024-06-03T14:10:00"), "OK", "ALARM")]),
    }
    expected = entry(fl, "FAILED", "permission-missing", trigger=ref(rollback),
                     failure_started=window(t("2024-06-03T14:02:11"), t("2024-06-03T14:10:00")),
                     confirmed_finding="permission-missing", remediation_allows_streams=True)
    return files, {"flow_logs": [expected]}


@case
def case_d02_managed_policy_detached():
    """The managed policy that granted delivery is detached; the inline policy left only describes.

    https://docs.aws.amazon.com/IAM/latest/APIReference/API_DetachRolePolicy.html
    """
    name, fl = "d02", "fl-0d02b3c4d5e6f7081"
    arn = f"arn:aws:iam::{ACCOUNT}:policy/VpcFlowLogsDelivery"
    tomas = iam_user("tomas")
    detached = detach_role_policy(name, t("2024-06-04T09:20:44"), tomas, ROLE, arn)
    describe_only = policy(allow(["logs:DescribeLogGroups", "logs:DescribeLogStreams"], "*"))
    ok = logs_call(name, t("2024-06-04T09:02:10"), "CreateLogStream", ROLE, LG, "eni-0d02aa11bb22cc33d-all")
    denied = logs_call(name, t("2024-06-04T09:31:05"), "CreateLogStream", ROLE, LG, "eni-0d02aa11bb22cc33e-all",
                       denied_because=NO_ALLOW.format("CreateLogStream"))
    files = {
        "ct/us-east-1.json": lookup_events([detached, *noise(name, "2024-06-04")]),
        "ct/eu-west-1.json": lookup_events([ok, denied]),
        "iam/gaad.json": authorization_details(
            [role_detail(ROLE, ROLE_ID, url_encoded(trust()), "2024-04-02T08:10:02+00:00",
                         inline={"DescribeOnly": url_encoded(describe_only)})],
            [managed_policy(arn, [("v1", url_encoded(DELIVERY_POLICY), "2024-04-02T08:11:00+00:00")], "v1", 0)]),
        "ec2/flow-logs.json": flow_logs(failed(fl)),
    }
    expected = entry(fl, "FAILED", "permission-missing", trigger=ref(detached),
                     failure_started=window(t("2024-06-04T09:20:44"), t("2024-06-04T09:31:05")),
                     confirmed_finding="permission-missing", remediation_allows_streams=True)
    return files, {"flow_logs": [expected]}


def _quarantine(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """An automated quarantine attaches AWSDenyAll to the delivery role, and CloudWatch Logs refuses."""
    bot = assumed_role("secops-quarantine-lambda", "quarantine-fn")
    attached = attach_role_policy(name, t("2024-06-05T02:14:00"), bot, ROLE, DENY_ALL_ARN)
    denied = logs_call(name, t("2024-06-05T02:21:30"), "CreateLogStream", ROLE, LG, "eni-0d03bb22cc33dd44e-all",
                       denied_because=EXPLICIT)
    return attached, denied


@case
def case_d03_aws_deny_all_attached():
    """A quarantine automation attaches AWSDenyAll to the delivery role; its document is in the IAM dump.

    AWSDenyAll denies every action: https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSDenyAll.html
    An explicit deny wins over any allow:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
    """
    name, fl = "d03", "fl-0d03c4d5e6f708192"
    attached, denied = _quarantine(name)
    files = {
        "lookup-us-east-1.json": lookup_events([attached]),
        "lookup-eu-west-1.json": lookup_events([denied]),
        "gaad.json": authorization_details(
            [role_detail(ROLE, ROLE_ID, url_encoded(trust()), "2024-04-02T08:10:02+00:00",
                         inline={"FlowLogsDelivery": url_encoded(DELIVERY_POLICY)}, attached=[DENY_ALL_ARN])],
            [managed_policy(DENY_ALL_ARN, [("v1", url_encoded(DENY_ALL), "2019-05-01T22:36:00+00:00"),
                                           ("v2", url_encoded(DENY_ALL), "2023-12-18T16:42:00+00:00")], "v2", 1)]),
        "flowlogs.json": flow_logs(failed(fl)),
    }
    expected = entry(fl, "FAILED", "explicit-deny", trigger=ref(attached),
                     failure_started=window(t("2024-06-05T02:14:00"), t("2024-06-05T02:21:30")),
                     confirmed_finding="explicit-deny", remediation_commands_mention="AWSDenyAll")
    return files, {"flow_logs": [expected]}


@case
def case_d04_aws_deny_all_document_not_collected():
    """d03 without the IAM dump: no document of AWSDenyAll, but AWS's own denial says explicit identity deny.

    The AccessDenied message names the policy type that denied:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html
    """
    name, fl = "d04", "fl-0d04d5e6f708192a3"
    attached, denied = _quarantine(name)
    files = {
        "events-iam.json": lookup_events([attached, *noise(name, "2024-06-05")], offset_hours=2),
        "events-eu-west-1.json": lookup_events([denied], offset_hours=2),
        "get-role.json": get_role(ROLE, ROLE_ID, trust(), "2024-04-02T08:10:02+00:00"),
        "get-role-policy.json": get_role_policy(ROLE, "FlowLogsDelivery", DELIVERY_POLICY),
        "describe-flow-logs.json": flow_logs(failed(fl)),
    }
    expected = entry(fl, "FAILED", "explicit-deny", trigger=ref(attached),
                     failure_started=window(t("2024-06-05T02:14:00"), t("2024-06-05T02:21:30")),
                     remediation_commands_mention="AWSDenyAll")
    return files, {"flow_logs": [expected]}


@case
def case_d05_boundary_deny_only_in_gaad():
    """A platform boundary that denies writes to /vpc/* log groups is put on the role; its text is only in GAAD.

    A boundary's explicit deny applies to the role:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html
    """
    name, fl = "d05", "fl-0d05e6f708192a3b4"
    boundary_arn = f"arn:aws:iam::{ACCOUNT}:policy/boundaries/PlatformBoundary"
    boundary = policy(allow("*", "*", sid="AllowAll"),
                      deny(["logs:CreateLogStream", "logs:PutLogEvents", "logs:DeleteLogGroup"],
                           "arn:aws:logs:*:*:log-group:/vpc/*", sid="ProtectVpcLogGroups"))
    platform = assumed_role("platform-pipeline", "codebuild-4471")
    attached = put_role_permissions_boundary(name, t("2024-06-06T11:00:05"), platform, ROLE, boundary_arn)
    files = {
        ct_key("us-east-1", t("2024-06-06T11:05:00"), "Pb7Xq2Lm9Rt4Wv1Z"): s3_log_file([attached]),
        "iam/get-account-authorization-details.json": authorization_details(
            [role_detail(ROLE, ROLE_ID, url_encoded(trust()), "2024-04-02T08:10:02+00:00",
                         inline={"FlowLogsDelivery": url_encoded(DELIVERY_POLICY)}, boundary=boundary_arn)],
            [managed_policy(boundary_arn, [("v1", url_encoded(boundary), "2024-02-11T09:00:00+00:00")], "v1")]),
        "ec2/describe-flow-logs.json": flow_logs(failed(fl)),
        "logs/describe-log-groups.json": log_groups(log_group(LG, t("2024-04-02T08:15:40"))),
        "cw/get-metric-data.json": metric_data(every_minute(t("2024-06-06T10:30:00"), t("2024-06-06T11:00:00"))),
        "cw/describe-alarm-history.json": alarm_history("vpc-flow-logs-silent",
                                                        [(t("2024-06-06T11:09:00"), "OK", "ALARM")]),
        "cw/describe-alarms.json": {"MetricAlarms": [alarm("vpc-flow-logs-silent", LG, "ALARM",
                                                           t("2024-06-06T11:09:00"))], "CompositeAlarms": []},
    }
    expected = entry(fl, "FAILED", "boundary-deny", trigger=ref(attached),
                     failure_started=window(t("2024-06-06T11:00:05"), t("2024-06-06T11:09:00")),
                     confirmed_finding="boundary-deny")
    return files, {"flow_logs": [expected]}


@case
def case_d06_trust_source_account_other_account():
    """The trust policy's aws:SourceAccount is pasted from the staging account; SourceArn still says ours.

    https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html (confused deputy conditions)
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-sourceaccount
    """
    name, fl = "d06", "fl-0d06f708192a3b4c5"
    staging = "444455556666"
    edited_doc = trust()
    edited_doc["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"] = staging
    pat = assumed_role("AWSReservedSSO_PlatformEngineer_9e8d", "pat@example.com")
    edited = update_assume_role_policy(name, t("2024-06-07T08:45:00"), pat, ROLE, edited_doc)
    before = service_assume_role(name, t("2024-06-07T08:30:00"), ROLE)
    after = [service_assume_role(name, t("2024-06-07T08:52:00") + timedelta(minutes=10 * i), ROLE, denied=True)
             for i in range(3)]
    files = {
        "cloudtrail-lake-export.json": [before, edited, *after, *noise(name, "2024-06-07")],
        "get-role.json": get_role(ROLE, ROLE_ID, url_encoded(edited_doc), "2024-04-02T08:10:02+00:00"),
        "get-role-policy.json": get_role_policy(ROLE, "FlowLogsDelivery", url_encoded(DELIVERY_POLICY)),
        "describe-flow-logs.json": flow_logs(failed(fl)),
    }
    expected = entry(fl, "FAILED", "trust-condition-mismatch", trigger=ref(edited),
                     failure_started=window(t("2024-06-07T08:45:00"), t("2024-06-07T08:52:00")),
                     confirmed_finding="trust-condition-mismatch", remediation_trust_service=True,
                     remediation_trust_source_account=ACCOUNT, remediation_trust_never_mentions=staging)
    return files, {"flow_logs": [expected]}


@case
def case_d07_log_groups_deleted_one_role_recreates():
    """A leaked key deletes two log groups: one role may create its group again (and does), the other may not.

    With logs:CreateLogGroup the flow logs service creates a missing group itself:
    https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html
    """
    name = "d07"
    fl_prod, fl_stage = "fl-0d07a8192a3b4c5d6", "fl-0d07b8192a3b4c5d7"
    role_lp, role_std = "FlowLogsLeastPrivilege", "FlowLogsStandard"
    lg_stage = "/vpc/flow-logs/staging"
    intruder = iam_user("svc-backup")
    gone_prod = record(name, "DeleteLogGroup", "logs.amazonaws.com", t("2024-06-08T03:10:00"), intruder,
                       {"logGroupName": LG})
    gone_stage = record(name, "DeleteLogGroup", "logs.amazonaws.com", t("2024-06-08T03:10:09"), intruder,
                        {"logGroupName": lg_stage})
    for rec in (gone_prod, gone_stage):
        rec["sourceIPAddress"] = "185.220.101.4"
    recreated = logs_call(name, t("2024-06-08T03:19:30"), "CreateLogGroup", role_std, lg_stage)
    restream = logs_call(name, t("2024-06-08T03:19:31"), "CreateLogStream", role_std, lg_stage,
                         "eni-0d07aa11bb22cc33d-all")
    refused = logs_call(name, t("2024-06-08T03:19:40"), "CreateLogGroup", role_lp, LG,
                        denied_because=NO_ALLOW.format("CreateLogGroup"))
    no_create = policy(allow(["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                             [log_group_arn(LG), log_group_arn(LG) + ":*"]),
                       allow("logs:DescribeLogGroups", "*"))
    files = {
        "cloudtrail/eu-west-1.json": lookup_events([gone_prod, gone_stage, recreated, restream, refused]),
        "logs/describe-log-groups.json": log_groups(log_group(lg_stage, t("2024-06-08T03:19:30"))),
        "iam/gaad.json": authorization_details([
            role_detail(role_lp, "AROAQX2EXAMPLELEASTP1", url_encoded(trust()), "2024-04-02T08:10:02+00:00",
                        inline={"Delivery": url_encoded(no_create)}),
            role_detail(role_std, "AROAQX2EXAMPLESTAND01", url_encoded(trust()), "2024-04-02T08:10:05+00:00",
                        inline={"Delivery": url_encoded(DELIVERY_POLICY)}),
        ]),
        "ec2/describe-flow-logs.json": flow_logs(
            failed(fl_prod, role=role_lp),
            flow_log(fl_stage, role_std, lg_stage, "SUCCESS", "2024-04-02T08:16:00+00:00",
                     resource_id="vpc-0b1c2d3e4f5a60719")),
    }
    prod = entry(fl_prod, "FAILED", "log-group-deleted", role_arn=role_arn(role_lp), trigger=ref(gone_prod),
                 failure_started=window(t("2024-06-08T03:10:00"), t("2024-06-08T03:19:40")),
                 confirmed_finding="log-group-deleted")
    stage = entry(fl_stage, "SUCCESS", "none", role_arn=role_arn(role_std), log_group=lg_stage,
                  not_confirmed=["log-group-deleted"])
    return files, {"flow_logs": [prod, stage]}


@case
def case_d08_rate_limited_red_herring():
    """EC2 says 'Rate limited'; three minutes earlier the role's policy was re-scoped, still granting delivery.

    'Rate limited' is CloudWatch Logs throttling or the log-group quota, not permissions:
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_FlowLog.html
    """
    name, fl = "d08", "fl-0d08b92a3b4c5d6e7"
    rescoped = policy(allow(FIVE_ACTIONS[:3], [log_group_arn(LG), log_group_arn(LG) + ":*"], sid="Write"),
                      allow(FIVE_ACTIONS[3:], "*", sid="Describe"))
    herring = put_role_policy(name, t("2024-06-09T07:55:00"), OPS, ROLE, "FlowLogsDelivery", rescoped)
    trail = [service_assume_role(name, t("2024-06-09T05:00:00") + timedelta(hours=i), ROLE) for i in range(4)]
    ok_after = logs_call(name, t("2024-06-09T08:05:12"), "CreateLogStream", ROLE, LG, "eni-0d08cc33dd44ee55f-all")
    files = {
        "lookup-events-us-east-1.json": lookup_events([herring, *noise(name, "2024-06-09")]),
        "lookup-events-eu-west-1.json": lookup_events([*trail, ok_after]),
        "describe-flow-logs.json": flow_logs(failed(fl, error="Rate limited")),
        "get-role.json": get_role(ROLE, ROLE_ID, trust(), "2024-04-02T08:10:02+00:00"),
        "get-role-policy.json": get_role_policy(ROLE, "FlowLogsDelivery", rescoped),
        "describe-log-groups.json": log_groups(log_group(LG, t("2024-04-02T08:15:40"))),
        "get-metric-data.json": metric_data(every_minute(t("2024-06-09T07:00:00"), t("2024-06-09T07:58:00"),
                                                         value=480000.0)),
        "describe-alarms.json": {"MetricAlarms": [alarm("vpc-flow-logs-silent", LG, "ALARM",
                                                        t("2024-06-09T08:04:00"))], "CompositeAlarms": []},
        "describe-alarm-history.json": alarm_history("vpc-flow-logs-silent",
                                                     [(t("2024-06-09T08:04:00"), "OK", "ALARM")]),
    }
    expected = entry(fl, "FAILED", "rate-limited",
                     failure_started=window(t("2024-06-09T07:58:00"), t("2024-06-09T08:04:00")),
                     confirmed_finding="rate-limited", not_confirmed=["permission-missing", "explicit-deny"])
    return files, {"flow_logs": [expected]}


@case
def case_d09_attacker_session_deletes_flow_log():
    """Stolen CI keys assume a deploy role from a VPS and delete the flow log (MITRE ATT&CK T1562.008).

    https://attack.mitre.org/techniques/T1562/008/ ; DeleteFlowLogs is a management event in the flow log's region.
    """
    name, fl, region = "d09", "fl-0d09c2a3b4c5d6e7f", "us-east-2"
    bot = iam_user("build-bot")
    session = assumed_role("ci-deployer", "x1337")
    agent = ("Boto3/1.34.11 md/Botocore#1.34.11 ua/2.0 os/linux#6.6.9-kali1-amd64 md/arch#x86_64 "
             "lang/python#3.11.7 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.11")
    assume = record(name, "AssumeRole", "sts.amazonaws.com", t("2024-06-09T23:41:02"), bot,
                    {"roleArn": role_arn("ci-deployer"), "roleSessionName": "x1337"},
                    {"credentials": {"accessKeyId": session["accessKeyId"], "sessionToken": "IQoJb3JpZ2luEXAMPLE",
                                     "expiration": "Jun 10, 2024, 12:41:02 AM"},
                     "assumedRoleUser": {"assumedRoleId": session["principalId"], "arn": session["arn"]}},
                    region=region, read_only=True)
    look = record(name, "DescribeFlowLogs", "ec2.amazonaws.com", t("2024-06-09T23:42:40"), session,
                  {"DescribeFlowLogsRequest": {"MaxResults": 1000}}, None, region=region, read_only=True)
    deleted = delete_flow_logs(name, t("2024-06-09T23:43:15"), session, fl, region=region)
    for rec in (assume, look, deleted):
        rec["sourceIPAddress"], rec["userAgent"] = "45.146.164.110", agent
    created = create_flow_logs(name, t("2024-04-02T08:15:31"), OPS, fl, "VPC", "vpc-0c2d3e4f5a6b70812", ROLE,
                               "/vpc/flow-logs/ohio", region=region)
    files = {
        "siem-export.json": [created, assume, look, deleted],
        "describe-flow-logs-us-east-2.json": flow_logs(),
        "get-role.json": get_role(ROLE, ROLE_ID, trust(region=region), "2024-04-02T08:10:02+00:00"),
        "get-role-policy.json": get_role_policy(ROLE, "FlowLogsDelivery", DELIVERY_POLICY),
    }
    expected = entry(fl, "DELETED", "flow-log-deleted", region=region, log_group="/vpc/flow-logs/ohio",
                     trigger=ref(deleted), confirmed_finding="flow-log-deleted",
                     finding_names_actor=session["arn"])
    return files, {"flow_logs": [expected]}


@case
def case_d10_one_lake_jsonl_file():
    """ONE file: a CloudTrail Lake export (JSON Lines) of the whole story; a 'clean-up' drops the write actions.

    With CloudTrail alone the role and flow log are rebuilt from CreateRole (its responseElements keep the trust
    policy URL-encoded), PutRolePolicy and CreateFlowLogs (docs/contracts.md, Evidence).
    """
    name, fl = "d10", "fl-0d10d3b4c5d6e7f80"
    dmitri = iam_user("dmitri")
    cleanup = policy(allow(["logs:CreateLogGroup", "logs:DescribeLogGroups", "logs:DescribeLogStreams"], "*"))
    setup = [
        create_role(name, t("2024-04-02T08:10:02"), OPS, ROLE, trust(), ROLE_ID),
        put_role_policy(name, t("2024-04-02T08:11:40"), OPS, ROLE, "FlowLogsDelivery", DELIVERY_POLICY),
        create_flow_logs(name, t("2024-04-02T08:15:31"), OPS, fl, "VPC", VPC, ROLE, LG),
    ]
    ok = [logs_call(name, t("2024-06-10T14:00:00") + timedelta(minutes=20 * i), "CreateLogStream", ROLE, LG,
                    f"eni-0d10aa11bb22cc3{i}d-all") for i in range(3)]
    trigger = put_role_policy(name, t("2024-06-10T15:30:00"), dmitri, ROLE, "FlowLogsDelivery", cleanup)
    denied = [logs_call(name, t("2024-06-10T15:38:12") + timedelta(minutes=10 * i), "CreateLogStream", ROLE, LG,
                        f"eni-0d10aa11bb22cc4{i}d-all", denied_because=NO_ALLOW.format("CreateLogStream"))
              for i in range(2)]
    files = {"lake-export.jsonl": json_lines([*setup, *ok, *noise(name, "2024-06-10"), trigger, *denied])}
    expected = entry(fl, "FAILED", "permission-missing", trigger=ref(trigger),
                     failure_started=window(t("2024-06-10T15:30:00"), t("2024-06-10T15:38:12")),
                     confirmed_finding="permission-missing", remediation_allows_streams=True)
    return files, {"flow_logs": [expected], "single_file": "lake-export.jsonl"}


@case
def case_d11_s3_tree_of_gz_only():
    """A synced CloudTrail bucket (.json.gz only, digest files beside the logs): the inline policy is deleted.

    Digest files sit beside the log files under AWSLogs/ACCOUNT/CloudTrail-Digest/ and are not CloudTrail records:
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-digest-file-structure.html
    """
    name, fl = "d11", "fl-0d11e4c5d6e7f8091"
    olga = assumed_role("AWSReservedSSO_Admin_77ab01c2", "olga@example.com")
    setup_iam = [create_role(name, t("2024-04-02T08:10:02"), OPS, ROLE, trust(), ROLE_ID),
                 put_role_policy(name, t("2024-04-02T08:11:40"), OPS, ROLE, "FlowLogsDelivery", DELIVERY_POLICY)]
    setup_ec2 = [create_flow_logs(name, t("2024-04-02T08:15:31"), OPS, fl, "VPC", VPC, ROLE, LG)]
    removed = delete_role_policy(name, t("2024-06-11T16:40:00"), olga, ROLE, "FlowLogsDelivery")
    ok = logs_call(name, t("2024-06-11T16:20:00"), "CreateLogStream", ROLE, LG, "eni-0d11bb22cc33dd44e-all")
    denied = logs_call(name, t("2024-06-11T16:48:30"), "CreateLogStream", ROLE, LG, "eni-0d11bb22cc33dd44f-all",
                       denied_because=NO_ALLOW.format("CreateLogStream"))
    keys = {
        "iam-setup": ct_key("us-east-1", t("2024-04-02T08:15:00"), "a1B2c3D4e5F6g7H8"),
        "ec2-setup": ct_key("eu-west-1", t("2024-04-02T08:20:00"), "i9J8k7L6m5N4o3P2"),
        "iam-change": ct_key("us-east-1", t("2024-06-11T16:45:00"), "q1R2s3T4u5V6w7X8"),
        "regional": ct_key("eu-west-1", t("2024-06-11T16:50:00"), "y9Z8a7B6c5D4e3F2"),
    }
    files = {
        keys["iam-setup"]: s3_log_file(setup_iam),
        keys["ec2-setup"]: s3_log_file(setup_ec2),
        keys["iam-change"]: s3_log_file([removed, *noise(name, "2024-06-11")]),
        keys["regional"]: s3_log_file([ok, denied]),
        f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2024/06/11/"
        f"{ACCOUNT}_CloudTrail-Digest_us-east-1_org-trail_us-east-1_20240611T170000Z.json.gz":
            digest_file("us-east-1", t("2024-06-11T16:00:00"), t("2024-06-11T17:00:00"), [keys["iam-change"]]),
        f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/eu-west-1/2024/06/11/"
        f"{ACCOUNT}_CloudTrail-Digest_eu-west-1_org-trail_eu-west-1_20240611T170000Z.json.gz":
            digest_file("eu-west-1", t("2024-06-11T16:00:00"), t("2024-06-11T17:00:00"), [keys["regional"]]),
    }
    expected = entry(fl, "FAILED", "permission-missing", trigger=ref(removed),
                     failure_started=window(t("2024-06-11T16:40:00"), t("2024-06-11T16:48:30")),
                     confirmed_finding="permission-missing", remediation_allows_streams=True)
    return files, {"flow_logs": [expected]}


@case
def case_d12_offsets_and_epochs():
    """A typo in the log-group name breaks delivery, a fix restores it; every time is in a different format.

    Times as ISO with +02:00 / -05:00 offsets, epoch seconds (metric data) and epoch milliseconds (log streams)
    must all load (docs/contracts.md, Evidence); CloudWatch Logs times are epoch ms:
    https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_LogStream.html
    """
    name, fl = "d12", "fl-0d12f5d6e7f8091a2"
    carol = assumed_role("AWSReservedSSO_NetworkAdmin_3c4d", "carol@example.com")
    typo = policy(allow(FIVE_ACTIONS, [log_group_arn("/vpc/flowlogs/prod"), log_group_arn("/vpc/flowlogs/prod")
                                       + ":*"]))
    right = policy(allow(FIVE_ACTIONS, [log_group_arn(LG), log_group_arn(LG) + ":*"]))
    broke = put_role_policy(name, t("2024-06-12T13:20:00"), carol, ROLE, "FlowLogsDelivery", typo)
    fixed = put_role_policy(name, t("2024-06-12T14:07:30"), BOB, ROLE, "FlowLogsDelivery", right)
    denied = logs_call(name, t("2024-06-12T13:27:41"), "CreateLogStream", ROLE, LG, "eni-0d12cc33dd44ee55a-all",
                       denied_because=NO_ALLOW.format("CreateLogStream"))
    resumed = logs_call(name, t("2024-06-12T14:16:02"), "CreateLogStream", ROLE, LG, "eni-0d12cc33dd44ee55a-all")
    points = every_minute(t("2024-06-12T12:30:00"), t("2024-06-12T13:19:00")) + every_minute(
        t("2024-06-12T14:16:00"), t("2024-06-12T15:00:00"))
    role = get_role(ROLE, ROLE_ID, trust(), cli_time(t("2024-04-02T08:10:02"), 2))
    role["Role"]["RoleLastUsed"] = {"LastUsedDate": cli_time(t("2024-06-12T14:59:00"), 2), "Region": REGION}
    history = alarm_history("vpc-flow-logs-silent", [(t("2024-06-12T13:30:00"), "OK", "ALARM"),
                                                     (t("2024-06-12T14:20:00"), "ALARM", "OK")])
    for item in history["AlarmHistoryItems"]:
        item["Timestamp"] = cli_time(datetime.fromisoformat(item["Timestamp"]), -5)
    files = {
        "iam-events.json": lookup_events([broke, fixed, *noise(name, "2024-06-12")], offset_hours=2),
        "regional-events.json": lookup_events([denied, resumed], offset_hours=2),
        "flow-logs.json": flow_logs(flow_log(fl, ROLE, LG, "SUCCESS", cli_time(t("2024-04-02T08:15:31"), 2))),
        "role.json": role,
        "role-policy.json": get_role_policy(ROLE, "FlowLogsDelivery", url_encoded(right)),
        "metric-epoch-seconds.json": metric_epoch_seconds(points),
        "streams.json": {"logStreams": [stream(LG, "eni-0d12cc33dd44ee55a-all", t("2024-04-02T08:25:00"),
                                               t("2024-06-12T14:59:00"), t("2024-06-12T15:00:40"))]},
        "alarm-history.json": history,
    }
    expected = entry(fl, "SUCCESS", "permission-missing", trigger=ref(broke),
                     recovery={**ref(fixed), "delivery_resumed": window(t("2024-06-12T14:15:00"),
                                                                        t("2024-06-12T14:17:00"))},
                     failure_started=window(t("2024-06-12T13:20:00"), t("2024-06-12T13:27:41")),
                     confirmed_finding="permission-missing")
    return files, {"flow_logs": [expected]}


D13 = {"vpc": ("fl-0d13a6e7f8091a2b3", "eu-west-1", "VPC", "vpc-0d13aa11bb22cc33d"),
       "subnet": ("fl-0d13b6e7f8091a2b4", "us-east-2", "Subnet", "subnet-0d13bb22cc33dd44e"),
       "eni": ("fl-0d13c6e7f8091a2b5", "ap-southeast-2", "NetworkInterface", "eni-0d13cc33dd44ee55f")}


@case
def case_d13_vpc_subnet_eni_three_regions():
    """Three flow logs (VPC, subnet, ENI) in three regions; a shared role is scoped to eu-west-1 only.

    Collected with a manifest. logs:CreateLogStream acts on the stream ARN, whose region is the flow log's:
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html
    """
    name = "d13"
    shared, apac = "FlowLogsShared", "FlowLogsApac"
    (fl_vpc, r_vpc, _, res_vpc), (fl_sub, r_sub, _, res_sub), (fl_eni, r_eni, _, res_eni) = D13.values()
    lg_vpc, lg_sub, lg_eni = "/vpc/flow-logs/dublin", "/vpc/flow-logs/ohio", "/vpc/flow-logs/sydney"
    nina = iam_user("nina")
    scoped = policy(allow(FIVE_ACTIONS, f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:*", sid="OnlyDublin"))
    trigger = put_role_policy(name, t("2024-06-13T12:00:00"), nina, shared, "Delivery", scoped)
    denied = logs_call(name, t("2024-06-13T12:08:20"), "CreateLogStream", shared, lg_sub,
                       "eni-0d13dd44ee55ff66a-all", denied_because=NO_ALLOW.format("CreateLogStream"), region=r_sub)
    ok_vpc = logs_call(name, t("2024-06-13T12:09:00"), "CreateLogStream", shared, lg_vpc,
                       "eni-0d13ee55ff66aa77b-all", region=r_vpc)
    ok_eni = logs_call(name, t("2024-06-13T12:10:00"), "CreateLogStream", apac, lg_eni, f"{res_eni}-all",
                       region=r_eni)

    def described(fl, res, role, group):
        return flow_logs(flow_log(fl, role, group, "FAILED" if fl == fl_sub else "SUCCESS",
                                  "2024-04-03T10:00:00+00:00", resource_id=res,
                                  error="Access error" if fl == fl_sub else None))

    files = {
        "cloudtrail/us-east-1/lookup-events.json": lookup_events([trigger]),
        f"cloudtrail/{r_sub}/lookup-events.json": lookup_events([denied]),
        f"cloudtrail/{r_vpc}/lookup-events.json": lookup_events([ok_vpc]),
        f"cloudtrail/{r_eni}/lookup-events.json": lookup_events([ok_eni]),
        f"ec2/{r_vpc}/describe-flow-logs.json": described(fl_vpc, res_vpc, shared, lg_vpc),
        f"ec2/{r_sub}/describe-flow-logs.json": described(fl_sub, res_sub, shared, lg_sub),
        f"ec2/{r_eni}/describe-flow-logs.json": described(fl_eni, res_eni, apac, lg_eni),
        "iam/global/get-account-authorization-details.json": authorization_details([
            role_detail(shared, "AROAQX2EXAMPLESHARED2", trust(region=None), "2024-04-02T08:10:02+00:00",
                        inline={"Delivery": url_encoded(scoped)}),
            role_detail(apac, "AROAQX2EXAMPLEAPACRL1", trust(region=r_eni), "2024-04-03T09:50:00+00:00",
                        inline={"Delivery": url_encoded(DELIVERY_POLICY)}),
        ]),
    }
    sub = entry(fl_sub, "FAILED", "permission-missing", region=r_sub, role_arn=role_arn(shared), log_group=lg_sub,
                trigger=ref(trigger), failure_started=window(t("2024-06-13T12:00:00"), t("2024-06-13T12:08:20")),
                confirmed_finding="permission-missing")
    vpc = entry(fl_vpc, "SUCCESS", "none", region=r_vpc, role_arn=role_arn(shared), log_group=lg_vpc,
                failure_started=None)
    eni = entry(fl_eni, "SUCCESS", "none", region=r_eni, role_arn=role_arn(apac), log_group=lg_eni,
                failure_started=None)
    return files, {"flow_logs": [vpc, sub, eni], "manifest": ["2024-06-13T12:30:00"],
                   "select_each": True, "unknown_id": "fl-0d13ffffffffffff0"}


@case
def case_d14_s3_destination():
    """Two flow logs that publish to S3 (one healthy, one failing after a bucket-policy edit): no role, no group.

    With LogDestinationType s3 there is no DeliverLogsPermissionArn nor LogGroupName:
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateFlowLogs.html
    None of docs/contracts.md's root causes is an S3 bucket policy, so the failing one is 'inconclusive'.
    """
    name = "d14"
    fl_ok, fl_bad = "fl-0d14a7f8091a2b3c4", "fl-0d14b7f8091a2b3c5"
    bucket_ok, bucket_bad = "acme-vpc-flow-logs", "acme-vpc-flow-logs-dr"
    edited_policy = policy({"Sid": "DenyNonOrg", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                            "Resource": f"arn:aws:s3:::{bucket_bad}/*",
                            "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}})
    sam = iam_user("sam")
    bucket_edit = record(name, "PutBucketPolicy", "s3.amazonaws.com", t("2024-06-14T10:00:00"), sam,
                         {"bucketPolicy": edited_policy, "bucketName": bucket_bad,
                          "Host": f"{bucket_bad}.s3.eu-west-1.amazonaws.com", "policy": ""})
    files = {
        "describe-flow-logs.json": flow_logs(
            s3_flow_log(fl_ok, f"arn:aws:s3:::{bucket_ok}/prod/", "SUCCESS", "2024-04-02T08:15:31+00:00"),
            s3_flow_log(fl_bad, f"arn:aws:s3:::{bucket_bad}", "FAILED", "2024-04-02T08:16:02+00:00",
                        error="Access error")),
        "lookup-events.json": lookup_events([bucket_edit]),
    }
    # describe-flow-logs names neither region nor account, and nothing ties the bucket event to these flow logs
    ok = entry(fl_ok, "SUCCESS", "none", role_arn=None, log_group=None, failure_started=None,
               may_be_null=["region", "account_id"])
    bad = entry(fl_bad, "FAILED", "inconclusive", role_arn=None, log_group=None, may_be_null=["region", "account_id"],
                trigger_unchecked=True,
                # a destination without a role or a log group cannot fail for their sake
                ruled_out=["trust-missing-service", "trust-condition-mismatch", "role-deleted", "role-recreated",
                           "log-group-deleted"])
    return files, {"flow_logs": [ok, bad]}


D15_FIX = t("2024-06-15T09:45:00")
D15_SNAPSHOTS = [D15_FIX + timedelta(minutes=m, seconds=30) for m in range(1, 17, 2)]  # watch polls every 2 min


@case
def case_d15_watch_recovery_lag():
    """A typo ('logs:PutLogEvent') breaks delivery; after the fix, `watch` snapshots show ingestion 11 min later.

    lastIngestionTime is when CloudWatch Logs received the stream's latest event:
    https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_LogStream.html
    The flow log's DeliverLogsStatus turns SUCCESS only in a later snapshot; delivery resumed earlier.
    """
    name, fl = "d15", "fl-0d15c8091a2b3c4d5"
    ravi = iam_user("ravi")
    typo = policy(allow(["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvent",
                         "logs:DescribeLogGroups", "logs:DescribeLogStreams"], "*"))
    broke = put_role_policy(name, t("2024-06-15T09:00:00"), ravi, ROLE, "FlowLogsDelivery", typo)
    fixed = put_role_policy(name, D15_FIX, BOB, ROLE, "FlowLogsDelivery", DELIVERY_POLICY)
    enis = ["eni-0d15aa11bb22cc33d-all", "eni-0d15aa11bb22cc33e-all"]
    stalled = t("2024-06-15T08:59:41")
    first = {
        "cloudtrail/us-east-1/lookup-events.json": lookup_events([broke, *noise(name, "2024-06-15")]),
        "iam/global/get-account-authorization-details.json": authorization_details(
            [role_detail(ROLE, ROLE_ID, url_encoded(trust()), "2024-04-02T08:10:02+00:00",
                         inline={"FlowLogsDelivery": url_encoded(typo)})]),
        "ec2/eu-west-1/describe-flow-logs.json": flow_logs(failed(fl)),
        "logs/eu-west-1/describe-log-streams.json": {"logStreams": [
            stream(LG, eni, t("2024-04-02T08:25:00"), stalled - timedelta(minutes=1), stalled) for eni in enis]},
    }
    resumed = {enis[0]: D15_FIX + timedelta(minutes=11, seconds=0.412), enis[1]: D15_FIX + timedelta(minutes=12,
                                                                                                   seconds=10)}
    observations = []
    for moment in D15_SNAPSHOTS:
        streams = [stream(LG, eni, t("2024-04-02T08:25:00"),
                          (resumed[eni] if resumed[eni] <= moment else stalled) - timedelta(minutes=1),
                          resumed[eni] if resumed[eni] <= moment else stalled) for eni in enis]
        status_ok = moment >= D15_FIX + timedelta(minutes=15)
        observations.append((moment, {
            "logs/eu-west-1/describe-log-streams.json": {"logStreams": streams},
            "ec2/eu-west-1/describe-flow-logs.json": flow_logs(
                flow_log(fl, ROLE, LG, "SUCCESS", "2024-04-02T08:15:31+00:00") if status_ok else failed(fl)),
        }))
    expected = entry(fl, "SUCCESS", "permission-missing", trigger=ref(broke),
                     recovery={**ref(fixed), "delivery_resumed": window(D15_FIX + timedelta(minutes=9, seconds=30),
                                                                        D15_FIX + timedelta(minutes=11, seconds=1))},
                     # the trigger, up to the last ingestion + the 10-minute aggregation interval + 5 min publishing
                     failure_started=window(t("2024-06-15T09:00:00"), t("2024-06-15T09:15:00")),
                     failure_started_may_be_null=True, confirmed_finding="permission-missing",
                     lag_seconds={"min": 570, "max": 661})
    # the fix itself is in a second lookup, the way an analyst re-collects CloudTrail after the change
    observations.insert(0, (D15_FIX + timedelta(seconds=20),
                            {"cloudtrail/us-east-1/lookup-events.json": lookup_events([fixed])}))
    return {"first": first, "observations": observations}, {
        "flow_logs": [expected], "manifest": ["2024-06-15T09:40:00"] + [z(m) for m, _ in observations]}


@case
def case_d16_redundant_inline_deleted():
    """The inline policy is deleted, but an attached managed policy still grants delivery: nothing breaks.

    Permissions are the union of the role's identity policies:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
    """
    name, fl = "d16", "fl-0d16d91a2b3c4d5e6"
    arn = f"arn:aws:iam::{ACCOUNT}:policy/VpcFlowLogsDelivery"
    scoped = policy(allow(FIVE_ACTIONS, [log_group_arn(LG), log_group_arn(LG) + ":*"]))
    removed = delete_role_policy(name, t("2024-06-16T10:00:00"), iam_user("quinn"), ROLE, "LegacyDelivery")
    after = [logs_call(name, t("2024-06-16T10:20:00"), "CreateLogStream", ROLE, LG, "eni-0d16aa11bb22cc33d-all"),
             *[service_assume_role(name, t("2024-06-16T08:00:00") + timedelta(hours=i), ROLE) for i in range(5)]]
    files = {
        "ct-iam.json": lookup_events([removed, *noise(name, "2024-06-16")]),
        "ct-eu-west-1.json": lookup_events(after),
        "gaad.json": authorization_details(
            [role_detail(ROLE, ROLE_ID, url_encoded(trust()), "2024-04-02T08:10:02+00:00", attached=[arn])],
            [managed_policy(arn, [("v1", url_encoded(scoped), "2024-04-02T08:11:00+00:00")], "v1")]),
        "flow-logs.json": flow_logs(flow_log(fl, ROLE, LG, "SUCCESS", "2024-04-02T08:15:31+00:00")),
        "log-groups.json": log_groups(log_group(LG, t("2024-04-02T08:15:40"))),
        "metric.json": metric_data(every_minute(t("2024-06-16T09:00:00"), t("2024-06-16T12:00:00"))),
    }
    expected = entry(fl, "SUCCESS", "none", failure_started=None)
    return files, {"flow_logs": [expected]}


@case
def case_d17_flow_log_replaced_trust_pinned():
    """Terraform replaces the flow log (new id); the trust policy's SourceArn was pinned to the old id.

    aws:SourceArn is the flow log's ARN, arn:aws:ec2:REGION:ACCOUNT:vpc-flow-log/fl-...:
    https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html
    """
    name, old, new = "d17", "fl-0d17e1a2b3c4d5e6f", "fl-0d17f2b3c4d5e6f70"
    pinned = trust()
    pinned["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"] = f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc-flow-log/{old}"
    sec = assumed_role("AWSReservedSSO_SecurityEngineer_0c1d", "uma@example.com")
    ci = assumed_role("terraform-ci", "gha-run-9377")
    pin = update_assume_role_policy(name, t("2024-05-20T11:00:00"), sec, ROLE, pinned)
    created_old = create_flow_logs(name, t("2024-04-02T08:15:31"), OPS, old, "VPC", VPC, ROLE, LG)
    deleted = delete_flow_logs(name, t("2024-06-17T08:00:00"), ci, old)
    created_new = create_flow_logs(name, t("2024-06-17T08:00:05"), ci, new, "VPC", VPC, ROLE, LG)
    refused = [service_assume_role(name, t("2024-06-17T08:10:00") + timedelta(minutes=10 * i), ROLE, denied=True)
               for i in range(2)]
    files = {
        "lookup-us-east-1.json": lookup_events([pin]),
        "lookup-eu-west-1.json": lookup_events([created_old, deleted, created_new, *refused]),
        "get-role.json": get_role(ROLE, ROLE_ID, url_encoded(pinned), "2024-04-02T08:10:02+00:00"),
        "get-role-policy.json": get_role_policy(ROLE, "FlowLogsDelivery", DELIVERY_POLICY),
        "describe-flow-logs.json": flow_logs(flow_log(new, ROLE, LG, "FAILED", "2024-06-17T08:00:05+00:00",
                                                      error="Access error")),
    }
    gone = entry(old, "DELETED", "flow-log-deleted", trigger=ref(deleted), confirmed_finding="flow-log-deleted")
    replacement = entry(new, "FAILED", "trust-condition-mismatch", trigger_unchecked=True,
                        failure_started=window(t("2024-06-17T08:00:05"), t("2024-06-17T08:10:00")),
                        confirmed_finding="trust-condition-mismatch", remediation_trust_service=True,
                        remediation_trust_covers_source_arn=f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc-flow-log/{new}")
    return files, {"flow_logs": [gone, replacement]}


@case
def case_d18_healthy_among_real_attack_records():
    """A healthy flow log; the folder also holds real Stratus Red Team records of unrelated attacks.

    Only flow logs the evidence names are diagnosed; other accounts' IAM events are not about this role.
    """
    name, fl = "d18", "fl-0d18a2b3c4d5e6f71"
    trail = [service_assume_role(name, t("2024-07-31T10:00:00") + timedelta(hours=i), ROLE) for i in range(4)]
    files = {
        "ct-eu-west-1.json": lookup_events(trail),
        "ct-iam.json": lookup_events(noise(name, "2024-07-31")),
        "describe-flow-logs.json": flow_logs(flow_log(fl, ROLE, LG, "SUCCESS", "2024-04-02T08:15:31+00:00")),
        "get-role.json": get_role(ROLE, ROLE_ID, trust(), "2024-04-02T08:10:02+00:00"),
        "get-role-policy.json": get_role_policy(ROLE, "FlowLogsDelivery", DELIVERY_POLICY),
        "describe-log-groups.json": log_groups(log_group(LG, t("2024-04-02T08:15:40"))),
        "get-metric-data.json": metric_data([(t("2024-07-31T10:00:00") + timedelta(minutes=5 * i), 9200.0 + i % 7)
                                             for i in range(337)], offset_hours=1),
    }
    expected = entry(fl, "SUCCESS", "none", failure_started=None)
    samples = ["stratus-red-team/aws.defense-evasion.cloudtrail-stop.json",
               "stratus-red-team/aws.persistence.iam-backdoor-role.json",
               "stratus-red-team/aws.persistence.iam-create-admin-user.json"]
    return files, {"flow_logs": [expected], "shared_samples": samples}


@case
def case_d19_managed_document_not_collected():
    """The inline policy is deleted; the role keeps AWS's CloudWatchLogsReadOnlyAccess, whose text was not collected.

    AWS's own AccessDenied says no identity-based policy allows the action, whatever that document holds:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html
    (and the managed policy grants no write:
    https://docs.aws.amazon.com/aws-managed-policy/latest/reference/CloudWatchLogsReadOnlyAccess.html)
    """
    name, fl = "d19", "fl-0d19b3c4d5e6f7182"
    readonly = "arn:aws:iam::aws:policy/CloudWatchLogsReadOnlyAccess"
    olga = assumed_role("AWSReservedSSO_Admin_77ab01c2", "olga@example.com")
    attached = attach_role_policy(name, t("2024-05-02T08:10:30"), OPS, ROLE, readonly)
    removed = delete_role_policy(name, t("2024-06-19T16:40:00"), olga, ROLE, "FlowLogsDelivery")
    ok = logs_call(name, t("2024-06-19T16:20:00"), "CreateLogStream", ROLE, LG, "eni-0d19bb22cc33dd44e-all")
    denied = logs_call(name, t("2024-06-19T16:48:30"), "CreateLogStream", ROLE, LG, "eni-0d19bb22cc33dd44f-all",
                       denied_because=NO_ALLOW.format("CreateLogStream"))
    files = {
        "lookup-us-east-1.json": lookup_events([attached, removed, *noise(name, "2024-06-19")]),
        "lookup-eu-west-1.json": lookup_events([ok, denied]),
        # `get-account-authorization-details --filter Role`: the attachment, not the managed policy's text
        "gaad-roles.json": authorization_details(
            [role_detail(ROLE, ROLE_ID, url_encoded(trust()), "2024-04-02T08:10:02+00:00", attached=[readonly])]),
        "describe-flow-logs.json": flow_logs(failed(fl)),
    }
    expected = entry(fl, "FAILED", "permission-missing", trigger=ref(removed),
                     failure_started=window(t("2024-06-19T16:40:00"), t("2024-06-19T16:48:30")),
                     remediation_allows_streams=True)
    return files, {"flow_logs": [expected]}


# ---- writing ----




OPERATIONS = {"lookup-events": "cloudtrail:LookupEvents", "describe-flow-logs": "ec2:DescribeFlowLogs",
              "describe-log-streams": "logs:DescribeLogStreams",
              "get-account-authorization-details": "iam:GetAccountAuthorizationDetails"}
PARAMETERS = {"describe-log-streams": {"logGroupName": LG, "orderBy": "LastEventTime", "descending": True},
              "lookup-events": {"LookupAttributes": [{"AttributeKey": "ReadOnly", "AttributeValue": "false"}]}}


def _collect(evidence: Path, files: dict[str, Any], when: datetime, *, default_names: bool) -> None:
    """Write one collection (or one ``watch`` observation) through the shared ``EvidenceWriter``."""
    from flowforensics.evidence.manifest import EvidenceWriter

    writer = EvidenceWriter(evidence, clock=lambda: when)
    if writer.manifest["caller_identity"] is None:
        writer.set_caller_identity({"UserId": "AIDAEXAMPLEANALYST02", "Account": ACCOUNT,
                                    "Arn": f"arn:aws:iam::{ACCOUNT}:user/analyst"})
    for relative, content in files.items():
        _service, region, stem = relative.removesuffix(".json").split("/")
        writer.write(OPERATIONS[stem], content, region=None if region == "global" else region, account=ACCOUNT,
                     parameters=PARAMETERS.get(stem), name=None if default_names else relative)
    writer.close()


def write_case(name: str, files: dict[str, Any], expected: dict[str, Any]) -> None:
    folder = DATA / name
    evidence = folder / "evidence"
    fresh(folder)
    if "observations" in files:  # a collection, then `watch` appending observations to the same manifest
        _collect(evidence, files["first"], t(expected["manifest"][0]), default_names=False)
        for moment, observed in files["observations"]:
            _collect(evidence, observed, moment, default_names=True)
    elif expected.get("manifest"):
        _collect(evidence, files, t(expected["manifest"][0]), default_names=False)
    else:
        write_files(evidence, files)
    write_expected(folder, expected)


def main() -> None:
    write_all(CASES, DATA, write_case)


if __name__ == "__main__":
    main()
