"""Write the black-box evidence folders under ``tests/blackbox/data/``, each with its ``expected.json``.

Run ``python tests/blackbox/make_cases.py`` to regenerate them; the output is deterministic. Each case is
what an analyst would drop in a folder from the AWS CLI (any file names, no manifest), and its expectation
is decided from AWS's documented behaviour and docs/contracts.md, never from the tool's output.
"""

from __future__ import annotations

import gzip
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from aws import (  # noqa: E402  (run as a script: its folder is put on the path first)
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
    create_flow_logs,
    create_policy_version,
    create_role,
    delete_flow_logs,
    delete_role,
    delete_role_policy,
    deny,
    detach_role_policy,
    every_minute,
    flow_log,
    get_role,
    get_role_policy,
    iam_user,
    json_lines,
    log_group,
    log_group_arn,
    log_groups,
    log_stream,
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
ROLE_ID = "AROAQX2EXAMPLEFLOWA1B"
ENI = "eni-0f3e2d1c0b9a87654"
ALICE = assumed_role("AWSReservedSSO_PowerUser_5f2a9c1e", "alice@example.com")
BOB = iam_user("bob")
NOISE_ROLE = "app-orders-task-role"
CASES, case = registry()
NO_IDENTITY_ALLOW = "because no identity-based policy allows the logs:{} action"










def history(case_name: str, flow_log_id: str, role: str = ROLE, group: str = LG, role_id: str = ROLE_ID,
            trust_doc: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """How the delivery was set up six weeks earlier: role, inline policy, flow log."""
    ops = iam_user("ops-admin")
    return [
        create_role(case_name, t("2024-04-02T08:10:02"), ops, role, trust_doc or trust(), role_id),
        put_role_policy(case_name, t("2024-04-02T08:11:40"), ops, role, "FlowLogsDelivery", DELIVERY_POLICY),
        create_flow_logs(case_name, t("2024-04-02T08:15:31"), ops, flow_log_id, "vpc-0a1b2c3d4e5f60718", role,
                         group),
    ]


def noise(case_name: str, day: str) -> list[dict[str, Any]]:
    """Unrelated changes the same day: another role's policy, a console login."""
    return [
        put_role_policy(case_name, t(f"{day}T09:58:12"), ALICE, NOISE_ROLE, "orders-dynamodb",
                        policy(allow(["dynamodb:GetItem", "dynamodb:PutItem"],
                                     f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders"))),
        record(case_name, "ConsoleLogin", "signin.amazonaws.com", t(f"{day}T07:31:00"), iam_user("bob"), None,
               {"ConsoleLogin": "Success"}, region=IAM_REGION),
    ]


@case
def case_c01_permission_removed_restored():
    """The inline policy is deleted, delivery fails, the policy is put back, delivery resumes minutes later."""
    name, fl = "c01", "fl-01aa2bb3cc4dd5ee6"
    removed = delete_role_policy(name, t("2024-05-14T10:02:40"), ALICE, ROLE, "FlowLogsDelivery")
    restored = put_role_policy(name, t("2024-05-14T10:41:03"), BOB, ROLE, "FlowLogsDelivery", DELIVERY_POLICY)
    denied = logs_call(name, t("2024-05-14T10:09:55"), "CreateLogStream", ROLE, LG, "eni-0aa11bb22cc33dd44-all",
                       denied_because=NO_IDENTITY_ALLOW.format("CreateLogStream"))
    resumed = logs_call(name, t("2024-05-14T10:47:31"), "CreateLogStream", ROLE, LG, "eni-0aa11bb22cc33dd44-all")
    iam = [removed, restored, *noise(name, "2024-05-14")]
    regional = [denied, resumed, service_assume_role(name, t("2024-05-14T10:40:00"), ROLE)]
    points = every_minute(t("2024-05-14T09:30:00"), t("2024-05-14T10:02:00")) + every_minute(
        t("2024-05-14T10:47:00"), t("2024-05-14T11:30:00"))
    files = {
        # two lookups, one per region, as the analyst ran them from a laptop in UTC+2
        "lookup-us-east-1.json": lookup_events(iam, offset_hours=2),
        "lookup-eu-west-1.json": lookup_events(regional, offset_hours=2),
        "fl.json": {"FlowLogs": [flow_log(fl, ROLE, LG, "SUCCESS", "2024-04-02T08:15:31.402000+00:00")]},
        "role.json": get_role(ROLE, ROLE_ID, trust(), "2024-04-02T08:10:02+00:00"),
        "role-policy.json": get_role_policy(ROLE, "FlowLogsDelivery", DELIVERY_POLICY),
        "incoming.json": metric_data(points, offset_hours=2),
        "streams.json": {"logStreams": [log_stream(LG, ENI, t("2024-04-02T08:25:00"), t("2024-04-02T08:25:00"),
                                                   t("2024-05-14T11:30:40"))]},
    }
    expected = entry(
        fl, "SUCCESS", "permission-missing",
        trigger=ref(removed),
        recovery={**ref(restored), "delivery_resumed": window(t("2024-05-14T10:46:00"), t("2024-05-14T10:48:31"))},
        failure_started=window(t("2024-05-14T10:02:40"), t("2024-05-14T10:09:55")),
        confirmed_finding="permission-missing",
    )
    return files, {"flow_logs": [expected]}


@case
def case_c02_resource_scope_without_star():
    """The inline policy is 'tightened' to the log-group ARN without ':*': streams are no longer covered."""
    name, fl = "c02", "fl-02bb3cc4dd5ee6ff7"
    carol = iam_user("carol")
    scoped = policy(allow(FIVE_ACTIONS, log_group_arn(LG), sid="FlowLogsToProdGroup"))
    before = policy(allow(FIVE_ACTIONS, log_group_arn(LG) + ":*", sid="FlowLogsToProdGroup"))
    tightened = put_role_policy(name, t("2024-05-14T14:20:05"), carol, ROLE, "FlowLogsDelivery", scoped)
    denied = logs_call(name, t("2024-05-14T14:31:44"), "CreateLogStream", ROLE, LG, "eni-0bb22cc33dd44ee55-all",
                       denied_because=NO_IDENTITY_ALLOW.format("CreateLogStream"))
    ok = logs_call(name, t("2024-05-14T13:05:10"), "CreateLogStream", ROLE, LG, "eni-0cc33dd44ee55ff66-all")
    prefix = f"AWSLogs/{ACCOUNT}/CloudTrail"
    files = {
        f"{prefix}/us-east-1/2024/05/14/{ACCOUNT}_CloudTrail_us-east-1_20240514T1425Z_Vf3kq0bN8sYp2Tx1.json.gz":
            s3_log_file([tightened, *noise(name, "2024-05-14")]),
        f"{prefix}/us-east-1/2024/04/02/{ACCOUNT}_CloudTrail_us-east-1_20240402T0815Z_a81kQpZ0Lx9cM2dE.json.gz":
            s3_log_file(history(name, fl)[:1] + [put_role_policy(name, t("2024-04-02T08:11:40"),
                                                                  iam_user("ops-admin"), ROLE,
                                                                  "FlowLogsDelivery", before)]),
        f"{prefix}/eu-west-1/2024/04/02/{ACCOUNT}_CloudTrail_eu-west-1_20240402T0820Z_Q0b1Mx8sLr4tYe2W.json.gz":
            s3_log_file(history(name, fl)[2:]),
        f"{prefix}/eu-west-1/2024/05/14/{ACCOUNT}_CloudTrail_eu-west-1_20240514T1435Z_Zk2n8WcQe1LpT0aY.json.gz":
            s3_log_file([ok, denied]),
        "iam/authz.json": authorization_details([
            role_detail(ROLE, ROLE_ID, url_encoded(trust()), "2024-04-02T08:10:02+00:00",
                        inline={"FlowLogsDelivery": url_encoded(scoped)}),
        ]),
        "ec2/flowlogs.json": {"FlowLogs": [flow_log(fl, ROLE, LG, "FAILED", "2024-04-02T08:15:31+00:00",
                                                    error="Access error")]},
        "logs/groups.json": log_groups(log_group(LG, t("2024-04-02T08:15:40"))),
    }
    expected = entry(
        fl, "FAILED", "permission-missing",
        trigger=ref(tightened),
        failure_started=window(t("2024-05-14T14:20:05"), t("2024-05-14T14:31:44")),
        confirmed_finding="permission-missing",
        remediation_allows_streams=True,
    )
    return files, {"flow_logs": [expected]}


@case
def case_c03_trust_principal_changed():
    """A copy-paste puts ec2.amazonaws.com in the trust policy: the flow logs service can no longer assume."""
    name, fl = "c03", "fl-03cc4dd5ee6ff7a08"
    dave = assumed_role("AWSReservedSSO_Admin_77ab01c2", "dave@example.com")
    edited = update_assume_role_policy(name, t("2024-05-15T07:12:09"), dave, ROLE,
                                       trust(service="ec2.amazonaws.com", region=None))
    failures = [service_assume_role(name, t("2024-05-15T07:20:00") + timedelta(minutes=10 * i), ROLE, denied=True)
                for i in range(3)]
    before = [service_assume_role(name, t("2024-05-15T07:00:00"), ROLE)]
    files = {
        "export-cloudtrail-lake.json": [*before, edited, *failures, *noise(name, "2024-05-15")],
        "account-authz.json": authorization_details([
            role_detail(ROLE, ROLE_ID, trust(service="ec2.amazonaws.com", region=None),
                        "2024-04-02T08:10:02+00:00", inline={"FlowLogsDelivery": DELIVERY_POLICY}),
        ]),
        "describe-flow-logs.json": {"FlowLogs": [flow_log(fl, ROLE, LG, "FAILED",
                                                          "2024-04-02T08:15:31.000000+00:00",
                                                          error="Access error")]},
    }
    expected = entry(
        fl, "FAILED", "trust-missing-service",
        trigger=ref(edited),
        failure_started=window(t("2024-05-15T07:12:09"), t("2024-05-15T07:20:00")),
        confirmed_finding="trust-missing-service",
        remediation_trust_service=True,
    )
    return files, {"flow_logs": [expected]}


@case
def case_c04_trust_source_arn_other_region():
    """The confused-deputy conditions are added, but with the SourceArn of another region."""
    name, fl = "c04", "fl-04dd5ee6ff7a08b19"
    hardened = trust(region="us-east-1")
    pat = assumed_role("AWSReservedSSO_SecurityEngineer_0c1d", "pat@example.com")
    edited = update_assume_role_policy(name, t("2024-05-16T16:45:30"), pat, ROLE, hardened)
    failed = service_assume_role(name, t("2024-05-16T16:52:10"), ROLE, denied=True)
    files = {
        "trail-iam.json": lookup_events([edited]),
        "trail-eu.json": lookup_events([service_assume_role(name, t("2024-05-16T16:40:00"), ROLE), failed]),
        "get-role.json": get_role(ROLE, ROLE_ID, hardened, "2024-04-02T08:10:02+00:00"),
        "get-role-policy.json": get_role_policy(ROLE, "FlowLogsDelivery", json.dumps(DELIVERY_POLICY)),
        "flowlogs.json": {"FlowLogs": [flow_log(fl, ROLE, LG, "FAILED", "2024-04-02T08:15:31+00:00",
                                                error="Access error")]},
    }
    expected = entry(
        fl, "FAILED", "trust-condition-mismatch",
        trigger=ref(edited),
        failure_started=window(t("2024-05-16T16:45:30"), t("2024-05-16T16:52:10")),
        confirmed_finding="trust-condition-mismatch",
        remediation_trust_source_arn_region=REGION,
    )
    return files, {"flow_logs": [expected]}


@case
def case_c05_deny_in_managed_policy_version():
    """CI publishes a new default version of the attached managed policy with a Deny on logs:Put*."""
    name, fl = "c05", "fl-05ee6ff7a08b19c2a"
    arn = f"arn:aws:iam::{ACCOUNT}:policy/network/VpcFlowLogsDelivery"
    v1 = policy(allow(FIVE_ACTIONS, "*", sid="Delivery"))
    v2 = policy(allow(FIVE_ACTIONS, "*", sid="Delivery"),
                deny(["logs:Put*", "logs:Delete*"], "*", sid="ProtectLogConfiguration"))
    ci = assumed_role("terraform-ci", "gha-run-8812")
    published = create_policy_version(name, t("2024-05-17T11:03:27"), ci, arn, v2, "v2")
    attached = attach_role_policy(name, t("2024-04-02T08:11:40"), iam_user("ops-admin"), ROLE, arn)
    points = every_minute(t("2024-05-17T10:30:00"), t("2024-05-17T11:03:00"))
    files = {
        "athena-results.jsonl": json_lines([attached, published, *noise(name, "2024-05-17")]),
        "gaad.json": authorization_details(
            [role_detail(ROLE, ROLE_ID, trust(), "2024-04-02T08:10:02+00:00", attached=[arn])],
            [managed_policy(arn, [("v1", url_encoded(v1), "2024-04-02T08:11:00+00:00"),
                                  ("v2", url_encoded(v2), "2024-05-17T11:03:27+00:00")], "v2")],
        ),
        "flow-logs.json": {"FlowLogs": [flow_log(fl, ROLE, LG, "FAILED", "2024-04-02T08:15:31+00:00",
                                                 error="Access error")]},
        "cw/incoming-log-events.json": metric_data(points),
    }
    expected = entry(
        fl, "FAILED", "explicit-deny",
        trigger=ref(published),
        region_may_be_null=True,  # nothing regional in this folder names eu-west-1
        # only get-metric-data shows when delivery stopped, and its answer does not name the log group
        failure_started_may_be_null=True,
        failure_started=window(t("2024-05-17T11:03:27"), t("2024-05-17T11:20:00")),
        confirmed_finding="explicit-deny",
    )
    return files, {"flow_logs": [expected]}


@case
def case_c06_permissions_boundary_attached():
    """A developer boundary without logs:CreateLogStream/PutLogEvents is put on the delivery role."""
    name, fl = "c06", "fl-06ff7a08b19c2ad3b"
    boundary_arn = f"arn:aws:iam::{ACCOUNT}:policy/DeveloperBoundary"
    boundary = policy(allow(["ec2:*", "s3:*", "cloudwatch:*", "logs:Describe*", "logs:Get*"], "*"))
    erin = iam_user("erin")
    attached = put_role_permissions_boundary(name, t("2024-05-18T09:30:00"), erin, ROLE, boundary_arn)
    denied = logs_call(name, t("2024-05-18T09:41:13"), "CreateLogStream", ROLE, LG, "eni-0dd44ee55ff66aa77-all",
                       denied_because="because no permissions boundary allows the logs:CreateLogStream action")
    files = {
        f"{ACCOUNT}_CloudTrail_us-east-1_20240518T0935Z_9xQm2Lw8Tr0pBv3K.json.gz": s3_log_file([attached]),
        f"{ACCOUNT}_CloudTrail_eu-west-1_20240518T0945Z_Hc8Ye2Nq4Wm1Zt7U.json.gz": s3_log_file([denied]),
        "role.json": get_role(ROLE, ROLE_ID, url_encoded(trust()), "2024-04-02T08:10:02+00:00",
                              boundary=boundary_arn),
        "inline.json": get_role_policy(ROLE, "FlowLogsDelivery", url_encoded(DELIVERY_POLICY)),
        "gaad.json": authorization_details(
            [role_detail(ROLE, ROLE_ID, url_encoded(trust()), "2024-04-02T08:10:02+00:00",
                         inline={"FlowLogsDelivery": url_encoded(DELIVERY_POLICY)}, boundary=boundary_arn)],
            [managed_policy(boundary_arn, [("v1", boundary, "2024-03-01T12:00:00+00:00")], "v1")],
        ),
        "flow-logs.json": {"FlowLogs": [flow_log(fl, ROLE, LG, "FAILED", "2024-04-02T08:15:31+00:00",
                                                 error="Access error")]},
    }
    expected = entry(
        fl, "FAILED", "boundary-deny",
        trigger=ref(attached),
        failure_started=window(t("2024-05-18T09:30:00"), t("2024-05-18T09:41:13")),
        confirmed_finding="boundary-deny",
    )
    return files, {"flow_logs": [expected]}


@case
def case_c07_scp_updated():
    """The management account widens an SCP meant to protect VPC log groups: it now denies delivery too."""
    name, fl = "c07", "fl-07a08b19c2ad3be4c"
    mgmt = "999988887777"
    frank = assumed_role("OrgAdmin", "frank", account=mgmt)
    scp_id = "p-7h2kq9x1"
    scp_arn = f"arn:aws:organizations::{mgmt}:policy/o-a1b2c3d4e5/service_control_policy/{scp_id}"
    content = policy(deny("logs:*", "arn:aws:logs:*:*:log-group:/vpc/*", sid="ProtectVpcLogGroups",
                          condition={"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/SecurityAdmin"}}))
    updated = record(
        name, "UpdatePolicy", "organizations.amazonaws.com", t("2024-05-19T13:05:41"), frank,
        {"policyId": scp_id, "content": json.dumps(content)},
        {"policy": {"policySummary": {"id": scp_id, "arn": scp_arn, "name": "ProtectLogging",
                                      "description": "Protect security logging", "type": "SERVICE_CONTROL_POLICY",
                                      "awsManaged": False},
                    "content": json.dumps(content)}},
        region=IAM_REGION, account=mgmt,
    )
    denied = logs_call(name, t("2024-05-19T13:14:02"), "CreateLogStream", ROLE, LG, "eni-0ee55ff66aa77bb88-all",
                       denied_because="with an explicit deny in a service control policy")
    files = {
        f"org-trail/AWSLogs/o-a1b2c3d4e5/{mgmt}/CloudTrail/us-east-1/2024/05/19/"
        f"{mgmt}_CloudTrail_us-east-1_20240519T1310Z_Lq0Wc3Ne8Rt2Yb6M.json.gz": s3_log_file([updated]),
        "member-lookup-eu-west-1.json": lookup_events([denied], offset_hours=-4),
        "scp-protect-logging.json": {"Policy": {
            "PolicySummary": {"Id": scp_id, "Arn": scp_arn, "Name": "ProtectLogging",
                              "Description": "Protect security logging", "Type": "SERVICE_CONTROL_POLICY",
                              "AwsManaged": False},
            "Content": json.dumps(content)}},
        "scp-full-access.json": {"Policy": {
            "PolicySummary": {"Id": "p-FullAWSAccess",
                              "Arn": "arn:aws:organizations::aws:policy/service_control_policy/p-FullAWSAccess",
                              "Name": "FullAWSAccess", "Description": "Allows access to every operation",
                              "Type": "SERVICE_CONTROL_POLICY", "AwsManaged": True},
            "Content": json.dumps(policy(allow("*", "*")))}},
        "role.json": get_role(ROLE, ROLE_ID, trust(), "2024-04-02T08:10:02+00:00"),
        "role-inline.json": get_role_policy(ROLE, "FlowLogsDelivery", DELIVERY_POLICY),
        "flowlogs.json": {"FlowLogs": [flow_log(fl, ROLE, LG, "FAILED", "2024-04-02T08:15:31+00:00",
                                                error="Access error")]},
    }
    expected = entry(
        fl, "FAILED", "scp-deny",
        trigger=ref(updated),
        failure_started=window(t("2024-05-19T13:05:41"), t("2024-05-19T13:14:02")),
        confirmed_finding="scp-deny",
    )
    return files, {"flow_logs": [expected]}


@case
def case_c08_role_deleted():
    """The console's 'Delete role': the managed policy is detached, then the role is deleted."""
    name, fl = "c08", "fl-08b19c2ad3be4cf5d"
    grace = assumed_role("AWSReservedSSO_Admin_77ab01c2", "grace@example.com")
    arn = f"arn:aws:iam::{ACCOUNT}:policy/VpcFlowLogsDelivery"
    detached = detach_role_policy(name, t("2024-05-20T17:22:10"), grace, ROLE, arn)
    deleted = delete_role(name, t("2024-05-20T17:22:11"), grace, ROLE)
    failures = [service_assume_role(name, t("2024-05-20T17:30:00") + timedelta(minutes=10 * i), ROLE, denied=True)
                for i in range(2)]
    other = "ops-readonly"
    files = {
        "ct-us-east-1.json": lookup_events([detached, deleted]),
        "ct-eu-west-1.json": lookup_events([service_assume_role(name, t("2024-05-20T17:10:00"), ROLE), *failures]),
        "flow-logs.json": {"FlowLogs": [flow_log(fl, ROLE, LG, "FAILED", "2024-04-02T08:15:31+00:00",
                                                 error="Access error")]},
        # collected after the deletion: the role is no longer in the account
        "authz.json": authorization_details(
            [role_detail(other, "AROAQX2EXAMPLEOPSRO01", trust(service="ec2.amazonaws.com", region=None),
                         "2023-11-02T10:20:30+00:00", attached=["arn:aws:iam::aws:policy/ReadOnlyAccess"])],
            [managed_policy(arn, [("v1", url_encoded(DELIVERY_POLICY), "2024-04-02T08:11:00+00:00")], "v1", 0)],
        ),
    }
    expected = entry(
        fl, "FAILED", "role-deleted",
        trigger=ref(deleted),
        failure_started=window(t("2024-05-20T17:22:10"), t("2024-05-20T17:30:00")),
        confirmed_finding="role-deleted",
    )
    return files, {"flow_logs": [expected]}


@case
def case_c09_role_recreated():
    """CloudFormation replaces the role: deleted, created again under the same name with a new RoleId."""
    name, fl = "c09", "fl-09c2ad3be4cf5d06e"
    cfn = assumed_role("cfn-exec-role", "AWSCloudFormation", invoked_by="cloudformation.amazonaws.com")
    new_id = "AROAQX2EXAMPLEFLOWN3W"
    setup = history(name, fl)
    old_policy_deleted = delete_role_policy(name, t("2024-05-21T02:10:05"), cfn, ROLE, "FlowLogsDelivery")
    deleted = delete_role(name, t("2024-05-21T02:10:06"), cfn, ROLE)
    created = create_role(name, t("2024-05-21T02:10:40"), cfn, ROLE, trust(), new_id)
    completed = put_role_policy(name, t("2024-05-21T02:12:55"), cfn, ROLE, "FlowLogsDelivery", DELIVERY_POLICY)
    failed = service_assume_role(name, t("2024-05-21T02:10:30"), ROLE, denied=True)
    points = every_minute(t("2024-05-21T01:40:00"), t("2024-05-21T02:09:00")) + every_minute(
        t("2024-05-21T02:19:00"), t("2024-05-21T02:40:00"))
    prefix = f"AWSLogs/{ACCOUNT}/CloudTrail"
    files = {
        f"{prefix}/us-east-1/{ACCOUNT}_CloudTrail_us-east-1_20240402T0815Z_p0Q9w8E7r6T5y4U3.json.gz":
            s3_log_file(setup[:2]),
        f"{prefix}/eu-west-1/{ACCOUNT}_CloudTrail_eu-west-1_20240402T0820Z_m1N2b3V4c5X6z7L8.json.gz":
            s3_log_file(setup[2:]),
        f"{prefix}/us-east-1/{ACCOUNT}_CloudTrail_us-east-1_20240521T0215Z_k9J8h7G6f5D4s3A2.json.gz":
            s3_log_file([old_policy_deleted, deleted, created, completed]),
        f"{prefix}/eu-west-1/{ACCOUNT}_CloudTrail_eu-west-1_20240521T0215Z_q1W2e3R4t5Y6u7I8.json.gz":
            s3_log_file([failed]),
        "gaad.json": authorization_details([
            role_detail(ROLE, new_id, url_encoded(trust()), "2024-05-21T02:10:40+00:00",
                        inline={"FlowLogsDelivery": url_encoded(DELIVERY_POLICY)}),
        ]),
        "fl.json": {"FlowLogs": [flow_log(fl, ROLE, LG, "SUCCESS", "2024-04-02T08:15:31+00:00")]},
        "metric.json": metric_data(points),
    }
    expected = entry(
        fl, "SUCCESS", "role-recreated",
        trigger=ref(deleted),
        recovery={**ref(completed), "delivery_resumed": window(t("2024-05-21T02:18:00"), t("2024-05-21T02:20:00"))},
        failure_started=window(t("2024-05-21T02:10:05"), t("2024-05-21T02:10:30")),
        confirmed_finding="role-recreated",
    )
    return files, {"flow_logs": [expected]}


@case
def case_c10_log_group_deleted():
    """A leaked key deletes the log group; the least-privilege role may not create it again (T1562.008)."""
    name, fl = "c10", "fl-10d3be4cf5d06e17f"
    intruder = iam_user("svc-backup")
    no_create = policy(allow(["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                             [log_group_arn(LG), log_group_arn(LG) + ":*"]),
                       allow("logs:DescribeLogGroups", "*"))
    deleted = record(name, "DeleteLogGroup", "logs.amazonaws.com", t("2024-05-22T03:47:19"), intruder,
                     {"logGroupName": LG})
    deleted["sourceIPAddress"] = "185.220.101.4"
    denied = logs_call(name, t("2024-05-22T03:55:02"), "CreateLogGroup", ROLE, LG,
                       denied_because=NO_IDENTITY_ALLOW.format("CreateLogGroup"))
    files = {
        "cloudtrail-eu-west-1.json": lookup_events([deleted, denied]),
        "describe-log-groups.json": log_groups(log_group("/vpc/flow-logs/staging", t("2024-04-02T09:00:00"))),
        "get-role.json": get_role(ROLE, ROLE_ID, trust(), "2024-04-02T08:10:02+00:00"),
        "get-role-policy.json": get_role_policy(ROLE, "FlowLogsDelivery", no_create),
        "describe-flow-logs.json": {"FlowLogs": [flow_log(fl, ROLE, LG, "FAILED", "2024-04-02T08:15:31+00:00",
                                                          error="Access error")]},
    }
    expected = entry(
        fl, "FAILED", "log-group-deleted",
        trigger=ref(deleted),
        failure_started=window(t("2024-05-22T03:47:19"), t("2024-05-22T03:55:02")),
        confirmed_finding="log-group-deleted",
    )
    return files, {"flow_logs": [expected]}


@case
def case_c11_kms_key_policy_revoked():
    """The log group's KMS key policy is rewritten without the CloudWatch Logs service statement."""
    name, fl = "c11", "fl-11e4cf5d06e17f280"
    key_id = "1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b"
    key_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"
    root = {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}
    admins = {"Sid": "KeyAdministrators", "Effect": "Allow",
              "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/KeyAdmins"},
              "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
                         "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:ScheduleKeyDeletion",
                         "kms:CancelKeyDeletion"],
              "Resource": "*"}
    hardened = {"Version": "2012-10-17", "Id": "key-policy-hardened", "Statement": [root, admins]}
    henry = assumed_role("AWSReservedSSO_SecurityEngineer_0c1d", "henry@example.com")
    rewritten = record(name, "PutKeyPolicy", "kms.amazonaws.com", t("2024-05-23T12:00:00"), henry,
                       {"keyId": key_arn, "policyName": "default", "policy": json.dumps(hardened, indent=4),
                        "bypassPolicyLockoutSafetyCheck": False},
                       resources=[{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": key_arn}])
    points = every_minute(t("2024-05-23T11:30:00"), t("2024-05-23T11:59:00"))
    files = {
        "lake-export.json": [rewritten, *noise(name, "2024-05-23")],
        "log-groups.json": log_groups(log_group(LG, t("2024-04-02T08:15:40"), kms_key=key_arn)),
        "key-policy.json": {"Policy": json.dumps(hardened, indent=4), "PolicyName": "default"},
        "role.json": get_role(ROLE, ROLE_ID, trust(), "2024-04-02T08:10:02+00:00"),
        "inline-policy.json": get_role_policy(ROLE, "FlowLogsDelivery", DELIVERY_POLICY),
        "flowlogs.json": {"FlowLogs": [flow_log(fl, ROLE, LG, "FAILED", "2024-04-02T08:15:31+00:00",
                                                error="Access error")]},
        "incoming.json": metric_data(points),
    }
    expected = entry(
        fl, "FAILED", "kms-key-denied",
        trigger=ref(rewritten),
        failure_started=window(t("2024-05-23T12:00:00"), t("2024-05-23T12:10:00")),
        confirmed_finding="kms-key-denied",
    )
    return files, {"flow_logs": [expected]}


@case
def case_c12_rate_limited():
    """EC2 reports 'Rate limited'; the role, its trust and its policy are intact and nothing changed."""
    name, fl = "c12", "fl-12f5d06e17f2803a1"
    trail = [service_assume_role(name, t("2024-05-24T06:00:00") + timedelta(hours=i), ROLE) for i in range(4)]
    points = every_minute(t("2024-05-24T06:00:00"), t("2024-05-24T07:12:00"), value=250000.0)
    files = {
        "events.json": lookup_events([*trail, *noise(name, "2024-05-24")]),
        "flow-logs.json": {"FlowLogs": [flow_log(fl, ROLE, LG, "FAILED", "2024-04-02T08:15:31+00:00",
                                                 error="Rate limited")]},
        "role.json": get_role(ROLE, ROLE_ID, trust(), "2024-04-02T08:10:02+00:00"),
        "role-policy.json": get_role_policy(ROLE, "FlowLogsDelivery", DELIVERY_POLICY),
        "metric.json": metric_data(points),
        "alarms.json": {"MetricAlarms": [alarm("vpc-flow-logs-silent", LG, "ALARM", t("2024-05-24T07:20:00"))],
                        "CompositeAlarms": []},
        "alarm-history.json": alarm_history("vpc-flow-logs-silent", [(t("2024-05-24T07:20:00"), "OK", "ALARM")]),
    }
    expected = entry(
        fl, "FAILED", "rate-limited",
        region_may_be_null=True,  # only the service's AssumeRole events, which a rate limit does not implicate
        failure_started=window(t("2024-05-24T07:12:00"), t("2024-05-24T07:20:00")),
        confirmed_finding="rate-limited",
    )
    return files, {"flow_logs": [expected]}


@case
def case_c13_flow_log_deleted():
    """An intruder on a bastion deletes the flow log (T1562.008); describe-flow-logs no longer lists it."""
    name, fl = "c13", "fl-13a06e17f2803a1b2"
    intruder = assumed_role("ec2-bastion-role", "i-0abc123def4567890")
    deleted = delete_flow_logs(name, t("2024-05-24T22:13:07"), intruder, fl)
    files = {
        "siem-export.json": [*history(name, fl), deleted],
        "describe-flow-logs.json": {"FlowLogs": []},
        "get-role.json": get_role(ROLE, ROLE_ID, trust(), "2024-04-02T08:10:02+00:00"),
        "get-role-policy.json": get_role_policy(ROLE, "FlowLogsDelivery", DELIVERY_POLICY),
    }
    expected = entry(fl, "DELETED", "flow-log-deleted", trigger=ref(deleted), confirmed_finding="flow-log-deleted")
    return files, {"flow_logs": [expected]}


@case
def case_c14_stratus_flow_log_removed():
    """The real Stratus Red Team capture of a flow log being deleted: CloudTrail only, one record."""
    sample = "stratus-red-team/aws.defense-evasion.vpc-remove-flow-logs.json"
    expected = {
        "flow_log_id": "fl-0e17aa62a21d4bbfe",
        "status": "DELETED",
        "root_cause": "flow-log-deleted",
        "region": "megov-south-1r",
        "account_id": "498376118699",
        "trigger": {
            "event_id": "ded2f5af-f3a5-46d2-a170-a23206a32c36",
            "event_name": "DeleteFlowLogs",
            "event_time": "2024-07-31T15:07:49Z",
            "actor": "arn:aws:iam::498376118699:user/christophe",
        },
        "recovery": None,
        "confirmed_finding": "flow-log-deleted",
    }
    return {}, {"shared_samples": [sample], "flow_logs": [expected]}


@case
def case_c15_cloudtrail_only_trust():
    """CloudTrail alone (JSON Lines): set-up, then a 'break-glass' trust edit that drops the service."""
    name, fl = "c15", "fl-15b17f2803a1b2c3d"
    kim = iam_user("kim")
    glass = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": "sts:AssumeRole"})
    edited = update_assume_role_policy(name, t("2024-05-25T15:00:12"), kim, ROLE, glass)
    ok = [service_assume_role(name, t("2024-05-25T14:00:00") + timedelta(minutes=20 * i), ROLE) for i in range(3)]
    failed = [service_assume_role(name, t("2024-05-25T15:05:00") + timedelta(minutes=20 * i), ROLE, denied=True)
              for i in range(3)]
    files = {"trail.jsonl": json_lines([*history(name, fl), *ok, edited, *failed])}
    expected = entry(
        fl, "FAILED", "trust-missing-service",
        trigger=ref(edited),
        failure_started=window(t("2024-05-25T15:00:12"), t("2024-05-25T15:05:00")),
        confirmed_finding="trust-missing-service",
    )
    return files, {"flow_logs": [expected]}


@case
def case_c16_no_cloudtrail():
    """describe-flow-logs, the log group and the alarm, but no CloudTrail and no IAM: nothing says why."""
    fl = "fl-16c2803a1b2c3d4e5"
    points = every_minute(t("2024-05-26T04:00:00"), t("2024-05-26T04:37:00"))
    files = {
        "flowlogs.json": {"FlowLogs": [flow_log(fl, ROLE, LG, "FAILED", "2024-04-02T08:15:31+00:00",
                                                error="Access error")]},
        "groups.json": log_groups(log_group(LG, t("2024-04-02T08:15:40"))),
        "alarms.json": {"MetricAlarms": [alarm("vpc-flow-logs-silent", LG, "ALARM", t("2024-05-26T04:45:00"))],
                        "CompositeAlarms": []},
        "history.json": alarm_history("vpc-flow-logs-silent", [(t("2024-05-26T04:45:00"), "OK", "ALARM")]),
        "incoming.json": metric_data(points, offset_hours=-7),
    }
    expected = entry(
        fl, "FAILED", "inconclusive",
        failure_started=window(t("2024-05-26T04:37:00"), t("2024-05-26T04:45:00")),
        inconclusive_finding_mentions="cloudtrail",
    )
    return files, {"flow_logs": [expected]}


@case
def case_c17_several_flow_logs():
    """Three flow logs, two regions; a shared role is scoped down to one log group and breaks the other."""
    name = "c17"
    shared_role, dr_role = "VpcFlowLogsShared", "FlowLogsDR"
    fl_prod, fl_shared, fl_dr = "fl-17a1b2c3d4e5f6071", "fl-17b2c3d4e5f607182", "fl-17c3d4e5f60718293"
    lg_shared, lg_dr = "/vpc/flow-logs/shared", "/vpc/flow-logs/dr"
    nina = iam_user("nina")
    scoped = policy(allow(FIVE_ACTIONS, [log_group_arn(lg_shared), log_group_arn(lg_shared) + ":*"]))
    edit = put_role_policy(name, t("2024-05-27T10:10:10"), nina, shared_role, "Delivery", scoped)
    denied = logs_call(name, t("2024-05-27T10:18:40"), "CreateLogStream", shared_role, LG,
                       "eni-0ff66aa77bb88cc99-all", denied_because=NO_IDENTITY_ALLOW.format("CreateLogStream"))
    dr_policy = policy(allow(FIVE_ACTIONS, "*"))
    files = {
        "lookup/iam.json": lookup_events([edit]),
        "lookup/eu-west-1.json": lookup_events([denied, logs_call(name, t("2024-05-27T10:20:00"), "CreateLogStream",
                                                                  shared_role, lg_shared,
                                                                  "eni-0aa77bb88cc99dd00-all")]),
        "ec2/eu-west-1.json": {"FlowLogs": [
            flow_log(fl_prod, shared_role, LG, "FAILED", "2024-04-02T08:15:31+00:00", error="Access error"),
            flow_log(fl_shared, shared_role, lg_shared, "SUCCESS", "2024-04-03T10:00:00+00:00",
                     resource_id="vpc-0b2c3d4e5f6071829"),
        ]},
        "ec2/us-west-2.json": {"FlowLogs": [
            flow_log(fl_dr, dr_role, lg_dr, "SUCCESS", "2024-04-04T10:00:00+00:00",
                     resource_id="vpc-0c3d4e5f607182930"),
        ]},
        "iam/gaad.json": authorization_details([
            role_detail(shared_role, "AROAQX2EXAMPLESHARED1", trust(region=None), "2024-04-02T08:10:02+00:00",
                        inline={"Delivery": url_encoded(scoped)}),
            role_detail(dr_role, "AROAQX2EXAMPLEDRROLE1", trust(region="us-west-2"), "2024-04-04T09:50:00+00:00",
                        inline={"Delivery": url_encoded(dr_policy)}),
        ]),
    }
    prod = entry(fl_prod, "FAILED", "permission-missing", role_arn=role_arn(shared_role), trigger=ref(edit),
                 failure_started=window(t("2024-05-27T10:10:10"), t("2024-05-27T10:18:40")),
                 confirmed_finding="permission-missing")
    shared = entry(fl_shared, "SUCCESS", "none", role_arn=role_arn(shared_role), log_group=lg_shared,
                   failure_started=None)
    dr = entry(fl_dr, "SUCCESS", "none", role_arn=role_arn(dr_role), log_group=lg_dr, region="us-west-2",
               failure_started=None, region_may_be_null=True)
    return files, {"flow_logs": [prod, shared, dr], "only": fl_prod}


@case
def case_c18_broken_files_mixed_in():
    """An explicit Deny inline policy, with broken and foreign files in the same folder."""
    name, fl = "c18", "fl-18d4e5f607182930a"
    ivan = iam_user("ivan")
    deny_doc = policy(deny(["logs:CreateLogStream", "logs:PutLogEvents"], "*", sid="FreezeLogging"))
    added = put_role_policy(name, t("2024-05-28T08:08:08"), ivan, ROLE, "FreezeLogging", deny_doc)
    denied = logs_call(name, t("2024-05-28T08:15:00"), "CreateLogStream", ROLE, LG, "eni-0bb88cc99dd00ee11-all",
                       denied_because="with an explicit deny in an identity-based policy")
    stream_arn = f"{log_group_arn(LG)}:log-stream:{ENI}-all"
    simulation = {"EvaluationResults": [
        {"EvalActionName": action, "EvalResourceName": stream_arn, "EvalDecision": "explicitDeny",
         "MatchedStatements": [{"SourcePolicyId": "FreezeLogging", "SourcePolicyType": "IAM Policy",
                                "StartPosition": {"Line": 1, "Column": 41}, "EndPosition": {"Line": 1, "Column": 167}}],
         "MissingContextValues": [], "EvalDecisionDetails": {}, "ResourceSpecificResults": []}
        for action in ("logs:CreateLogStream", "logs:PutLogEvents")
    ]}
    good = json.dumps(lookup_events([added, denied]), indent=2)
    files = {
        "cloudtrail.json": json.loads(good),
        "simulate.json": simulation,
        "role.json": get_role(ROLE, ROLE_ID, trust(), "2024-04-02T08:10:02+00:00"),
        "policy-delivery.json": get_role_policy(ROLE, "FlowLogsDelivery", DELIVERY_POLICY),
        "policy-freeze.json": get_role_policy(ROLE, "FreezeLogging", deny_doc),
        "flowlogs.json": {"FlowLogs": [flow_log(fl, ROLE, LG, "FAILED", "2024-04-02T08:15:31+00:00",
                                                error="Access error")]},
        # what else ends up in an analyst's folder
        "truncated.json": good[: len(good) // 2].encode(),
        # a download cut short: the gzip header and a few bytes of the deflate stream
        "truncated-download.json.gz": s3_log_file([added, denied])[:40],
        "empty.json": b"",
        "notes.txt": b"ticket INC-4471: flow logs silent since this morning\n",
        "instances.json": {"Reservations": []},
    }
    expected = entry(
        fl, "FAILED", "explicit-deny",
        trigger=ref(added),
        failure_started=window(t("2024-05-28T08:08:08"), t("2024-05-28T08:15:00")),
        confirmed_finding="explicit-deny",
    )
    broken = ["truncated.json", "truncated-download.json.gz", "empty.json", "notes.txt", "instances.json"]
    return files, {"flow_logs": [expected], "broken_alone": broken}


@case
def case_c19_healthy():
    """A healthy flow log: delivery steady, only unrelated IAM changes, collected with a manifest."""
    name, fl = "c19", "fl-19e5f607182930a1b"
    trail = [service_assume_role(name, t("2024-05-29T06:00:00") + timedelta(hours=i), ROLE) for i in range(3)]
    streams = [logs_call(name, t("2024-05-29T07:14:02"), "CreateLogStream", ROLE, LG, "eni-0cc99dd00ee11ff22-all")]
    points = every_minute(t("2024-05-29T06:00:00"), t("2024-05-29T08:00:00"))
    files = {
        "cloudtrail/us-east-1/lookup-events.json": lookup_events(noise(name, "2024-05-29")),
        "cloudtrail/eu-west-1/lookup-events.json": lookup_events([*trail, *streams]),
        "ec2/eu-west-1/describe-flow-logs.json": {"FlowLogs": [flow_log(fl, ROLE, LG, "SUCCESS",
                                                                        "2024-04-02T08:15:31+00:00")]},
        "iam/global/get-role.json": get_role(ROLE, ROLE_ID, trust(), "2024-04-02T08:10:02+00:00"),
        "iam/global/get-role-policy.json": get_role_policy(ROLE, "FlowLogsDelivery", DELIVERY_POLICY),
        "logs/eu-west-1/describe-log-groups.json": log_groups(log_group(LG, t("2024-04-02T08:15:40"))),
        "cloudwatch/eu-west-1/get-metric-data.json": metric_data(points),
        "cloudwatch/eu-west-1/describe-alarms.json": {
            "MetricAlarms": [alarm("vpc-flow-logs-silent", LG, "OK", t("2024-04-02T08:40:00"))],
            "CompositeAlarms": []},
    }
    expected = entry(fl, "SUCCESS", "none", failure_started=None)
    return files, {"flow_logs": [expected], "manifest": "2024-05-29T08:05:00"}


def _records(files: dict[str, Any]) -> list[dict[str, Any]]:
    """Every CloudTrail record of a hand-filled case (JSON Lines or S3 log files)."""
    found = []
    for relative, content in files.items():
        if relative.endswith(".jsonl"):
            found += [json.loads(line) for line in content.decode().splitlines()]
        elif relative.endswith(".json.gz"):
            found += json.loads(gzip.decompress(content))["Records"]
    return found


def _by_region(records: list[dict[str, Any]]) -> dict[str, Any]:
    """What ``collect`` keeps of CloudTrail: one LookupEvents answer per region."""
    regions = sorted({r["awsRegion"] for r in records})
    return {f"cloudtrail/{region}/lookup-events.json": lookup_events([r for r in records if r["awsRegion"] == region])
            for region in regions}


@case
def case_c21_collected_deny_in_managed_policy_version():
    """c05 again, as ``collect`` lays it out (regions known from the manifest)."""
    files, expected = case_c05_deny_in_managed_policy_version()
    collected = {
        **_by_region(_records(files)),
        "iam/global/get-account-authorization-details.json": files["gaad.json"],
        "ec2/eu-west-1/describe-flow-logs.json": files["flow-logs.json"],
        "cloudwatch/eu-west-1/get-metric-data.json": files["cw/incoming-log-events.json"],
    }
    (entry_,) = expected["flow_logs"]
    entry_.pop("region_may_be_null")
    entry_.pop("failure_started_may_be_null")
    return collected, {**expected, "manifest": "2024-05-17T12:30:00"}


@case
def case_c22_collected_role_recreated():
    """c09 again, as ``collect`` lays it out (regions known from the manifest)."""
    files, expected = case_c09_role_recreated()
    collected = {
        **_by_region(_records(files)),
        "iam/global/get-account-authorization-details.json": files["gaad.json"],
        "ec2/eu-west-1/describe-flow-logs.json": files["fl.json"],
        "cloudwatch/eu-west-1/get-metric-data.json": files["metric.json"],
    }
    return collected, {**expected, "manifest": "2024-05-21T02:45:00"}


@case
def case_c20_empty_folder():
    """An empty folder: no evidence at all (the test creates it; git cannot hold an empty folder)."""
    return {}, {"empty": True, "exit_code": 1}




def write_case(name: str, files: dict[str, Any], expected: dict[str, Any]) -> None:
    folder = DATA / name
    fresh(folder)
    if files and expected.get("manifest"):
        _write_with_manifest(folder / "evidence", files, expected["manifest"])
    else:
        write_files(folder / "evidence", files)
    write_expected(folder, expected)


def _write_with_manifest(evidence: Path, files: dict[str, Any], collected_at: str) -> None:
    """Lay the folder out as ``collect`` does, through the shared ``EvidenceWriter``, with a fixed clock."""
    from flowforensics.evidence.manifest import EvidenceWriter

    operations = {"lookup-events": "cloudtrail:LookupEvents", "describe-flow-logs": "ec2:DescribeFlowLogs",
                  "get-role": "iam:GetRole", "get-role-policy": "iam:GetRolePolicy",
                  "describe-log-groups": "logs:DescribeLogGroups", "get-metric-data": "cloudwatch:GetMetricData",
                  "describe-alarms": "cloudwatch:DescribeAlarms",
                  "get-account-authorization-details": "iam:GetAccountAuthorizationDetails"}
    writer = EvidenceWriter(evidence, clock=lambda: t(collected_at))
    writer.set_caller_identity({"UserId": "AIDAEXAMPLEANALYST01", "Account": ACCOUNT,
                                "Arn": f"arn:aws:iam::{ACCOUNT}:user/analyst"})
    # what collect asked for; get-metric-data's answer alone does not say which log group it measured
    metric_query = {"MetricDataQueries": [{"Id": "incoming", "MetricStat": {
        "Metric": {"Namespace": "AWS/Logs", "MetricName": "IncomingLogEvents",
                   "Dimensions": [{"Name": "LogGroupName", "Value": LG}]},
        "Period": 60, "Stat": "Sum"}}]}
    for relative, content in files.items():
        _service, region, stem = relative.removesuffix(".json").split("/")
        writer.write(operations[stem], content, region=None if region == "global" else region, account=ACCOUNT,
                     name=relative, parameters=metric_query if stem == "get-metric-data" else None)
    writer.close()


def main() -> None:
    write_all(CASES, DATA, write_case)


if __name__ == "__main__":
    main()
