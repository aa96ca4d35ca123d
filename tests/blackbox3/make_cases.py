"""Write the third round of black-box folders under ``tests/blackbox3/data/``: CloudTrail and nothing else.

Run ``python tests/blackbox3/make_cases.py`` to regenerate them; the output is deterministic. docs/contracts.md promises
that "with CloudTrail alone the kit still works: flow logs, roles and their policies are reconstructed from
CreateFlowLogs, CreateRole, PutRolePolicy and the other events", so no folder here holds describe-flow-logs,
get-role, authorization details, log groups or metrics: only lookup-events output (one file per region), S3
``.json.gz`` trees, a CloudTrail Lake JSON array or a JSON Lines export. The records come from round one's
AWS-shaped builders (``tests/blackbox/aws.py``) plus the few shapes it lacked (below). Every expectation is
decided from AWS's documentation and docs/contracts.md, never from the tool's output; each case's docstring cites the page.
"""

from __future__ import annotations

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
    allow,
    assumed_role,
    attach_role_policy,
    create_flow_logs,
    create_policy_version,
    create_role,
    delete_flow_logs,
    delete_role,
    delete_role_policy,
    deny,
    detach_role_policy,
    event_id,
    iam_user,
    json_lines,
    log_group_arn,
    logs_call,
    lookup_events,
    policy,
    put_role_permissions_boundary,
    put_role_policy,
    record,
    role_arn,
    s3_log_file,
    service_assume_role,
    t,
    trust,
    update_assume_role_policy,
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
ROLE_ID = "AROAQX2EXAMPLEFLOWC3D"
VPC = "vpc-0e3c1a2b3c4d5e6f7"
OPS = iam_user("ops-admin")
ALICE = assumed_role("AWSReservedSSO_PowerUser_5f2a9c1e", "alice@example.com")
BOB = iam_user("bob")
SETUP_DAY = "2024-06-03"
NO_ALLOW = "because no identity-based policy allows the logs:{} action"
EXPLICIT = "with an explicit deny in an identity-based policy"
CASES, case = registry()




# ---- shapes round one did not need ----


def java_date(when: datetime) -> str:
    """IAM's responseElements dates in CloudTrail, e.g. ``Jul 10, 2023 12:09:21 PM``."""
    return when.strftime("%b %-d, %Y %-I:%M:%S %p")


def create_policy(case_name, when, who, name, document):
    """``iam:CreatePolicy``: the document in the request (a JSON string), v1 in the response."""
    arn = f"arn:aws:iam::{ACCOUNT}:policy/{name}"
    return record(
        case_name, "CreatePolicy", "iam.amazonaws.com", when, who,
        {"policyName": name, "policyDocument": json.dumps(document, indent=4), "path": "/"},
        {"policy": {"policyName": name, "policyId": "ANPA" + event_id(name).replace("-", "")[:17].upper(),
                    "arn": arn, "path": "/", "defaultVersionId": "v1", "attachmentCount": 0,
                    "permissionsBoundaryUsageCount": 0, "isAttachable": True,
                    "createDate": java_date(when), "updateDate": java_date(when)}},
        region=IAM_REGION,
    )


def create_log_group(case_name, when, who, group=LG):
    return record(case_name, "CreateLogGroup", "logs.amazonaws.com", when, who, {"logGroupName": group})








def setup(name: str, fl: str, permissions: dict[str, Any] | None = None, *, managed: str | None = None,
          trust_doc: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The delivery as AWS's guide builds it, then one delivery cycle that works.

    Role and inline (or customer managed) policy in us-east-1; log group, flow log, the service's AssumeRole and
    the role session's first CreateLogStream in the flow log's region.
    """
    records = [create_role(name, t(f"{SETUP_DAY}T08:00:05"), OPS, ROLE, trust_doc or trust(), ROLE_ID)]
    if managed:
        records += [create_policy(name, t(f"{SETUP_DAY}T08:01:10"), OPS, managed, permissions or DELIVERY_POLICY),
                    attach_role_policy(name, t(f"{SETUP_DAY}T08:01:40"), OPS, ROLE,
                                       f"arn:aws:iam::{ACCOUNT}:policy/{managed}")]
    else:
        records.append(put_role_policy(name, t(f"{SETUP_DAY}T08:01:40"), OPS, ROLE, "FlowLogsDelivery",
                                       permissions or DELIVERY_POLICY))
    return records + [
        create_log_group(name, t(f"{SETUP_DAY}T08:03:00"), OPS),
        create_flow_logs(name, t(f"{SETUP_DAY}T08:04:31"), OPS, fl, VPC, ROLE, LG),
        service_assume_role(name, t(f"{SETUP_DAY}T08:14:02"), ROLE),
        logs_call(name, t(f"{SETUP_DAY}T08:14:05"), "CreateLogStream", ROLE, LG, "eni-0a1b2c3d4e5f60789-all"),
    ]


def denied_stream(name: str, when: datetime, because: str, eni: str = "eni-0b2c3d4e5f6078901") -> dict[str, Any]:
    return logs_call(name, when, "CreateLogStream", ROLE, LG, f"{eni}-all", denied_because=because)


# ---- the four ways CloudTrail reaches an analyst ----


def by_region(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    regions: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        regions.setdefault(rec["awsRegion"], []).append(rec)
    return regions


def as_lookups(records: list[dict[str, Any]], offset_hours: int = 0) -> dict[str, Any]:
    """``aws cloudtrail lookup-events --region R`` once per region (IAM's in us-east-1)."""
    return {f"lookup-events-{region}.json": lookup_events(recs, offset_hours)
            for region, recs in by_region(records).items()}


def as_s3_tree(records: list[dict[str, Any]], account: str = ACCOUNT, prefix: str = "") -> dict[str, Any]:
    """CloudTrail's S3 layout: ``AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/..._REGION_YYYYMMDDTHHMMZ_x.json.gz``.

    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/get-and-view-cloudtrail-log-files.html
    """
    files: dict[str, Any] = {}
    batches: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for rec in records:
        moment = datetime.fromisoformat(rec["eventTime"])
        slot = moment.replace(minute=moment.minute - moment.minute % 5, second=0)
        batches.setdefault((rec["recipientAccountId"], rec["awsRegion"], slot.strftime("%Y%m%dT%H%MZ")),
                           []).append(rec)
    for (owner, region, stamp), recs in sorted(batches.items()):
        day = f"{stamp[:4]}/{stamp[4:6]}/{stamp[6:8]}"
        unique = event_id(owner, region, stamp).replace("-", "")[:16]
        path = f"{prefix}AWSLogs/{owner}/CloudTrail/{region}/{day}/{owner}_CloudTrail_{region}_{stamp}_{unique}.json.gz"
        files[path] = s3_log_file(recs)
    return files


def as_lake(records: list[dict[str, Any]], name: str = "cloudtrail-lake-export.json") -> dict[str, Any]:
    """A CloudTrail Lake / Athena result saved as one JSON array of records, oldest first."""
    return {name: sorted(records, key=lambda r: r["eventTime"])}


def as_jsonl(records: list[dict[str, Any]], name: str = "siem-export.jsonl") -> dict[str, Any]:
    """A SIEM export: one CloudTrail record a line."""
    return {name: json_lines(sorted(records, key=lambda r: r["eventTime"]))}


# ---- the cases ----


@case
def case_e01_full_history_healthy():
    """Role, inline policy, log group and flow log built as AWS's guide says; delivery works throughout.

    Only lookup-events output, one file per region, rendered in the analyst's UTC-7. The role trusts
    vpc-flow-logs.amazonaws.com with the recommended conditions and allows the five actions: https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html
    """
    name, fl = "e01", "fl-0e01a1b2c3d4e5f60"
    later = [service_assume_role(name, t("2024-06-05T12:00:00"), ROLE),
             logs_call(name, t("2024-06-05T12:00:04"), "CreateLogStream", ROLE, LG, "eni-0c3d4e5f607890123-all")]
    files = as_lookups(setup(name, fl) + later, offset_hours=-7)
    expected = entry(fl, "SUCCESS", "none", failure_started=None, status_any_of=["SUCCESS", "UNKNOWN"])
    return files, {"flow_logs": [expected]}


@case
def case_e02_permission_removed_by_overwrite():
    """PutRolePolicy rewrites the inline policy without logs:CreateLogStream and logs:PutLogEvents.

    PutRolePolicy replaces a same-named inline policy (https://docs.aws.amazon.com/IAM/latest/APIReference/
    API_PutRolePolicy.html); the role session's CreateLogStream is then refused with 'no identity-based policy
    allows' (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html). S3 tree only.
    """
    name, fl = "e02", "fl-0e02b2c3d4e5f6071"
    carol = iam_user("carol")
    trimmed = policy(allow(["logs:CreateLogGroup", "logs:DescribeLogGroups", "logs:DescribeLogStreams"], "*"))
    broke = put_role_policy(name, t("2024-06-10T09:14:05"), carol, ROLE, "FlowLogsDelivery", trimmed)
    refused = [denied_stream(name, t("2024-06-10T09:22:31") + timedelta(minutes=10 * i),
                             NO_ALLOW.format("CreateLogStream")) for i in range(3)]
    files = as_s3_tree(setup(name, fl) + [broke, *refused])
    expected = entry(fl, "FAILED", "permission-missing", trigger=ref(broke),
                     failure_started=window(t("2024-06-10T09:14:05"), t("2024-06-10T09:22:31")),
                     confirmed_finding="permission-missing", remediation_allows_streams=True)
    return files, {"flow_logs": [expected]}


@case
def case_e03_resource_without_star():
    """The inline policy is scoped to ``...:log-group:NAME`` without ``:*``: streams are no longer covered.

    CreateLogStream and PutLogEvents act on log-stream ARNs
    (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html) and
    the facts of docs/contracts.md that are easy to get wrong. One CloudTrail Lake JSON array.
    """
    name, fl = "e03", "fl-0e03c3d4e5f607182"
    dave = assumed_role("AWSReservedSSO_SecurityEngineer_0c1d", "dave@example.com")
    scoped = policy(allow(FIVE_ACTIONS, log_group_arn(LG), sid="OnlyTheProdGroup"))
    broke = put_role_policy(name, t("2024-06-11T15:40:00"), dave, ROLE, "FlowLogsDelivery", scoped)
    refused = denied_stream(name, t("2024-06-11T15:51:12"), NO_ALLOW.format("CreateLogStream"))
    files = as_lake(setup(name, fl) + [broke, refused])
    expected = entry(fl, "FAILED", "permission-missing", trigger=ref(broke),
                     failure_started=window(t("2024-06-11T15:40:00"), t("2024-06-11T15:51:12")),
                     confirmed_finding="permission-missing", remediation_allows_streams=True)
    return files, {"flow_logs": [expected]}


@case
def case_e04_trust_principal_changed():
    """UpdateAssumeRolePolicy trusts ec2.amazonaws.com instead of vpc-flow-logs.amazonaws.com.

    The service's own sts:AssumeRole (userIdentity AWSService, invokedBy vpc-flow-logs.amazonaws.com) is refused
    from then on: https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html and
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html.
    One JSON Lines export.
    """
    name, fl = "e04", "fl-0e04d4e5f60718293"
    erin = iam_user("erin")
    edited = update_assume_role_policy(name, t("2024-06-12T07:30:10"), erin, ROLE,
                                       trust(service="ec2.amazonaws.com", region=None))
    refused = [service_assume_role(name, t("2024-06-12T07:38:00") + timedelta(minutes=10 * i), ROLE, denied=True)
               for i in range(3)]
    files = as_jsonl(setup(name, fl) + [edited, *refused])
    expected = entry(fl, "FAILED", "trust-missing-service", trigger=ref(edited),
                     failure_started=window(t("2024-06-12T07:30:10"), t("2024-06-12T07:38:00")),
                     confirmed_finding="trust-missing-service", remediation_trust_service=True)
    return files, {"flow_logs": [expected]}


@case
def case_e05_trust_source_account_typo():
    """The confused-deputy hardening has a typo in aws:SourceAccount: the service is still trusted, but the condition never matches.

    aws:SourceAccount is the flow log's account (https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html,
    https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html). lookup-events per region, UTC+2.
    """
    name, fl = "e05", "fl-0e05e5f6071829304"
    typo = "111122223334"
    hardened = policy({"Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                       "Action": "sts:AssumeRole",
                       "Condition": {"StringEquals": {"aws:SourceAccount": typo},
                                     "ArnLike": {"aws:SourceArn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc-flow-log/*"}}})
    pat = assumed_role("AWSReservedSSO_SecurityEngineer_0c1d", "pat@example.com")
    edited = update_assume_role_policy(name, t("2024-06-13T16:45:30"), pat, ROLE, hardened)
    refused = service_assume_role(name, t("2024-06-13T16:53:40"), ROLE, denied=True)
    files = as_lookups(setup(name, fl, trust_doc=trust(region=None)) + [edited, refused], offset_hours=2)
    expected = entry(fl, "FAILED", "trust-condition-mismatch", trigger=ref(edited),
                     failure_started=window(t("2024-06-13T16:45:30"), t("2024-06-13T16:53:40")),
                     confirmed_finding="trust-condition-mismatch", remediation_trust_service=True,
                     remediation_trust_source_account=ACCOUNT, remediation_trust_never_mentions=typo)
    return files, {"flow_logs": [expected]}


@case
def case_e06_inline_deny_added():
    """A second inline policy denies logs:CreateLogStream and logs:PutLogEvents: an explicit deny wins.

    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html; the refusal says
    'with an explicit deny in an identity-based policy' (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html). S3 tree only.
    """
    name, fl = "e06", "fl-0e06f6071829304a5"
    guard = policy(deny(["logs:CreateLogStream", "logs:PutLogEvents", "logs:DeleteLogGroup"], "*",
                        sid="NoLogTampering"))
    frank = assumed_role("terraform-ci", "gha-run-9921")
    added = put_role_policy(name, t("2024-06-14T11:05:00"), frank, ROLE, "GuardrailNoLogTampering", guard)
    refused = denied_stream(name, t("2024-06-14T11:13:20"), EXPLICIT)
    files = as_s3_tree(setup(name, fl) + [added, refused])
    expected = entry(fl, "FAILED", "explicit-deny", trigger=ref(added),
                     failure_started=window(t("2024-06-14T11:05:00"), t("2024-06-14T11:13:20")),
                     confirmed_finding="explicit-deny", not_confirmed=["permission-missing"])
    return files, {"flow_logs": [expected]}


@case
def case_e07_managed_version_with_deny():
    """The attached customer managed policy gets a v2 with a Deny, set as default.

    CreatePolicyVersion with setAsDefault makes v2 the policy in force
    (https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreatePolicyVersion.html). v1 is known only from
    CreatePolicy's request. One CloudTrail Lake JSON array.
    """
    name, fl = "e07", "fl-0e07a71829304a5b6"
    managed = "VpcFlowLogsDelivery"
    arn = f"arn:aws:iam::{ACCOUNT}:policy/{managed}"
    v2 = policy(allow(FIVE_ACTIONS, "*", sid="Delivery"),
                deny(["logs:Put*", "logs:Delete*"], "*", sid="ProtectLogConfiguration"))
    ci = assumed_role("terraform-ci", "gha-run-9950")
    published = create_policy_version(name, t("2024-06-15T10:20:00"), ci, arn, v2, "v2")
    refused = denied_stream(name, t("2024-06-15T10:29:45"), EXPLICIT)
    files = as_lake(setup(name, fl, managed=managed) + [published, refused])
    expected = entry(fl, "FAILED", "explicit-deny", trigger=ref(published),
                     failure_started=window(t("2024-06-15T10:20:00"), t("2024-06-15T10:29:45")),
                     confirmed_finding="explicit-deny")
    return files, {"flow_logs": [expected]}


@case
def case_e08_boundary_put():
    """A developer permissions boundary without logs writes is put on the delivery role.

    The effective permissions are the intersection of identity policies and the boundary
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html); the boundary's document
    is known from its CreatePolicy record. One JSON Lines export.
    """
    name, fl = "e08", "fl-0e08b829304a5b6c7"
    sec = iam_user("security-admin")
    bounds = policy(allow(["ec2:*", "s3:*", "cloudwatch:*", "logs:Describe*", "logs:Get*"], "*"))
    created = create_policy(name, t("2024-06-01T09:00:00"), sec, "DeveloperBoundary", bounds)
    put = put_role_permissions_boundary(name, t("2024-06-16T09:30:00"), iam_user("grace"), ROLE,
                                        f"arn:aws:iam::{ACCOUNT}:policy/DeveloperBoundary")
    refused = denied_stream(name, t("2024-06-16T09:41:13"),
                            "because no permissions boundary allows the logs:CreateLogStream action")
    files = as_jsonl([created, *setup(name, fl), put, refused])
    expected = entry(fl, "FAILED", "boundary-deny", trigger=ref(put),
                     failure_started=window(t("2024-06-16T09:30:00"), t("2024-06-16T09:41:13")),
                     confirmed_finding="boundary-deny")
    return files, {"flow_logs": [expected]}


@case
def case_e09_scp_updated():
    """The management account's UpdatePolicy (organizations.amazonaws.com) turns an SCP into a deny on delivery.

    Organizations records its calls in us-east-1 of the management account
    (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_security_incident-response.html); the member's
    refusal says 'with an explicit deny in a service control policy' (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html). An organization
    trail's S3 tree holding both accounts.
    """
    name, fl = "e09", "fl-0e09c9304a5b6c7d8"
    mgmt = "999988887777"
    henry = assumed_role("OrgAdmin", "henry", account=mgmt)
    scp_id = "p-3k9x2h7q"
    scp_arn = f"arn:aws:organizations::{mgmt}:policy/o-a1b2c3d4e5/service_control_policy/{scp_id}"
    content = policy(deny("logs:*", "arn:aws:logs:*:*:log-group:/vpc/*", sid="ProtectVpcLogGroups",
                          condition={"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/SecurityAdmin"}}))
    updated = record(
        name, "UpdatePolicy", "organizations.amazonaws.com", t("2024-06-17T13:05:41"), henry,
        {"policyId": scp_id, "content": json.dumps(content)},
        {"policy": {"policySummary": {"id": scp_id, "arn": scp_arn, "name": "ProtectLogging",
                                      "description": "Protect security logging", "type": "SERVICE_CONTROL_POLICY",
                                      "awsManaged": False},
                    "content": json.dumps(content)}},
        region=IAM_REGION, account=mgmt,
    )
    refused = denied_stream(name, t("2024-06-17T13:14:02"), "with an explicit deny in a service control policy")
    files = as_s3_tree(setup(name, fl) + [updated, refused], prefix="org-trail/")
    expected = entry(fl, "FAILED", "scp-deny", trigger=ref(updated),
                     failure_started=window(t("2024-06-17T13:05:41"), t("2024-06-17T13:14:02")),
                     confirmed_finding="scp-deny", not_confirmed=["permission-missing", "explicit-deny"])
    return files, {"flow_logs": [expected]}


@case
def case_e10_role_deleted():
    """The inline policy is deleted, then the role (IAM requires that order): the service can no longer assume it.

    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_manage_delete.html; the service's AssumeRole is
    refused. lookup-events per region.
    """
    name, fl = "e10", "fl-0e10d04a5b6c7d8e9"
    grace = assumed_role("AWSReservedSSO_Admin_77ab01c2", "grace@example.com")
    policy_gone = delete_role_policy(name, t("2024-06-18T17:22:10"), grace, ROLE, "FlowLogsDelivery")
    deleted = delete_role(name, t("2024-06-18T17:22:11"), grace, ROLE)
    refused = [service_assume_role(name, t("2024-06-18T17:30:00") + timedelta(minutes=10 * i), ROLE, denied=True)
               for i in range(2)]
    files = as_lookups(setup(name, fl) + [policy_gone, deleted, *refused])
    expected = entry(fl, "FAILED", "role-deleted", trigger=ref(deleted),
                     failure_started=window(t("2024-06-18T17:22:10"), t("2024-06-18T17:30:00")),
                     confirmed_finding="role-deleted", not_confirmed=["role-recreated"])
    return files, {"flow_logs": [expected]}


@case
def case_e11_role_recreated_without_policy():
    """A pipeline deletes the role and creates it again (new roleId in CreateRole's response) without its policy.

    A recreated role is a new principal with a new unique id
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids); its
    trust lets the service assume it again, but nothing allows the logs actions yet. One Lake JSON array.
    """
    name, fl = "e11", "fl-0e11e15b6c7d8e9fa"
    cfn = assumed_role("cfn-exec-role", "AWSCloudFormation", invoked_by="cloudformation.amazonaws.com")
    policy_gone = delete_role_policy(name, t("2024-06-19T02:10:05"), cfn, ROLE, "FlowLogsDelivery")
    deleted = delete_role(name, t("2024-06-19T02:10:06"), cfn, ROLE)
    refused = service_assume_role(name, t("2024-06-19T02:10:30"), ROLE, denied=True)
    created = create_role(name, t("2024-06-19T02:10:40"), cfn, ROLE, trust(), "AROAQX2EXAMPLEFLOWN4W")
    assumed = service_assume_role(name, t("2024-06-19T02:20:00"), ROLE)
    still = denied_stream(name, t("2024-06-19T02:20:03"), NO_ALLOW.format("CreateLogStream"))
    files = as_lake(setup(name, fl) + [policy_gone, deleted, refused, created, assumed, still])
    expected = entry(fl, "FAILED", "role-recreated", trigger=ref(deleted),
                     failure_started=window(t("2024-06-19T02:10:05"), t("2024-06-19T02:10:30")),
                     confirmed_finding="role-recreated", not_confirmed=["role-deleted"],
                     remediation_allows_streams=True)
    return files, {"flow_logs": [expected]}


@case
def case_e12_fixed_later_resumes_after_nine_minutes():
    """The inline policy is deleted; an hour and a half later it is put back; a CreateLogStream succeeds 9 min later.

    CloudTrail does not record PutLogEvents by default (data event;
    https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/logging_cw_api_calls_cwl.html), so the
    first successful CreateLogStream by the role session is the first sign of delivery: lag about 540 s. S3 tree.
    """
    name, fl = "e12", "fl-0e12f26c7d8e9fa0b"
    removed = delete_role_policy(name, t("2024-06-20T10:00:00"), ALICE, ROLE, "FlowLogsDelivery")
    refused = [denied_stream(name, t("2024-06-20T10:07:12") + timedelta(minutes=10 * i),
                             NO_ALLOW.format("CreateLogStream")) for i in range(8)]
    restored = put_role_policy(name, t("2024-06-20T11:30:00"), BOB, ROLE, "FlowLogsDelivery", DELIVERY_POLICY)
    resumed = logs_call(name, t("2024-06-20T11:39:00"), "CreateLogStream", ROLE, LG, "eni-0b2c3d4e5f6078901-all")
    files = as_s3_tree(setup(name, fl) + [removed, *refused, restored, resumed])
    expected = entry(fl, "SUCCESS", "permission-missing", trigger=ref(removed),
                     recovery={**ref(restored),
                               "delivery_resumed": window(t("2024-06-20T11:37:12"), t("2024-06-20T11:39:00"))},
                     lag_seconds={"min": 432, "max": 541},
                     failure_started=window(t("2024-06-20T10:00:00"), t("2024-06-20T10:07:12")),
                     confirmed_finding="permission-missing")
    return files, {"flow_logs": [expected]}


@case
def case_e13_log_group_deleted_role_cannot_recreate():
    """A leaked key deletes the log group; the least-privilege role lacks logs:CreateLogGroup.

    With CreateLogGroup the service would create the group again (https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html); without it the
    service's CreateLogGroup is refused. lookup-events per region.
    """
    name, fl = "e13", "fl-0e13a37d8e9fa0b1c"
    no_create = policy(allow(["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                             [log_group_arn(LG), log_group_arn(LG) + ":*"]),
                       allow("logs:DescribeLogGroups", "*"))
    intruder = iam_user("svc-backup")
    deleted = record(name, "DeleteLogGroup", "logs.amazonaws.com", t("2024-06-21T03:47:19"), intruder,
                     {"logGroupName": LG})
    deleted["sourceIPAddress"] = "185.220.101.4"
    refused = logs_call(name, t("2024-06-21T03:55:02"), "CreateLogGroup", ROLE, LG,
                        denied_because=NO_ALLOW.format("CreateLogGroup"))
    files = as_lookups(setup(name, fl, no_create) + [deleted, refused])
    expected = entry(fl, "FAILED", "log-group-deleted", trigger=ref(deleted),
                     failure_started=window(t("2024-06-21T03:47:19"), t("2024-06-21T03:55:02")),
                     confirmed_finding="log-group-deleted")
    return files, {"flow_logs": [expected]}


@case
def case_e14_flow_log_deleted_by_attacker():
    """A leaked access key, from a foreign address, deletes the flow log (MITRE ATT&CK T1562.008).

    The record follows the real Stratus Red Team detonation (cloudtrail-samples/stratus-red-team/
    aws.defense-evasion.vpc-remove-flow-logs.json); https://attack.mitre.org/techniques/T1562/008/. JSON Lines.
    """
    name, fl = "e14", "fl-0e14b48e9fa0b1c2d"
    attacker = iam_user("svc-terraform-legacy")
    recon = record(name, "DescribeFlowLogs", "ec2.amazonaws.com", t("2024-06-22T01:12:40"), attacker,
                   {"DescribeFlowLogsRequest": {"MaxResults": 1000}}, None, read_only=True)
    removed = delete_flow_logs(name, t("2024-06-22T01:13:05"), attacker, fl)
    for rec in (recon, removed):
        rec["sourceIPAddress"] = "206.90.1.223"
        rec["userAgent"] = "aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64"
    files = as_jsonl(setup(name, fl) + [recon, removed])
    expected = entry(fl, "DELETED", "flow-log-deleted", trigger=ref(removed),
                     failure_started=window(t("2024-06-22T01:13:05"), t("2024-06-22T01:23:05")),
                     failure_started_may_be_null=True, confirmed_finding="flow-log-deleted")
    return files, {"flow_logs": [expected]}


@case
def case_e15_history_starts_after_the_role():
    """The trail begins after the role was made: its policies before the window are unknown.

    The flow log is created in the window with an existing role and works; later an inline policy never seen in
    the window is deleted and the role session is refused with 'no identity-based policy allows'
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html). Absence of CreateRole is not a deleted role (the service assumed it), so nothing but
    a missing permission may be confirmed, and the only change between success and refusal may be the trigger.
    lookup-events reaches back 90 days only
    (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/view-cloudtrail-events.html).
    """
    name, fl = "e15", "fl-0e15c59fa0b1c2d3e"
    known = setup(name, fl)[3:]  # no CreateRole, no policy: they predate the trail
    gone = delete_role_policy(name, t("2024-06-23T14:00:00"), ALICE, ROLE, "LegacyVpcLogging")
    refused = denied_stream(name, t("2024-06-23T14:09:30"), NO_ALLOW.format("CreateLogStream"))
    files = as_lookups(known + [gone, refused])
    expected = entry(fl, "FAILED", "permission-missing", root_cause_any_of=["permission-missing", "inconclusive"],
                     trigger=ref(gone), trigger_may_be_null=True,
                     failure_started=window(t("2024-06-03T08:14:05"), t("2024-06-23T14:09:30")),
                     not_confirmed=["role-deleted", "role-recreated", "trust-missing-service",
                                    "trust-condition-mismatch", "explicit-deny", "boundary-deny", "scp-deny"])
    return files, {"flow_logs": [expected]}


NOISE_ROLES = ["app-orders-task-role", "lambda-invoice-exec", "eks-node-group-ng1", "batch-etl-job-role"]


def background(name: str, day: str, count: int) -> list[dict[str, Any]]:
    """Unrelated activity of a busy account, red herrings included: other roles refused on other log groups,
    other roles' trust and policies edited, read-only calls by the thousand."""
    start = t(f"{day}T00:00:00")
    step = timedelta(days=1) / count
    records = []
    for i in range(count):
        when = start + step * i
        role = NOISE_ROLES[i % len(NOISE_ROLES)]
        kind = i % 10
        key = f"{name}-{i}"
        if kind < 5:
            rec = record(key, "DescribeInstances", "ec2.amazonaws.com", when, assumed_role(role, f"s{i % 7}"),
                         {"instancesSet": {}, "filterSet": {}}, None, read_only=True)
        elif kind < 7:
            group = f"/aws/lambda/{role}"
            rec = logs_call(key, when, "CreateLogStream", role, group, f"2024/06/24/[$LATEST]{i:08x}",
                            denied_because=NO_ALLOW.format("CreateLogStream") if kind == 6 else None)
        elif kind == 7:
            rec = record(key, "AssumeRole", "sts.amazonaws.com", when, BOB,
                         {"roleArn": role_arn(role), "roleSessionName": f"s{i}"}, None, read_only=True)
        elif kind == 8:
            rec = put_role_policy(key, when, ALICE, role, "app-access",
                                  policy(allow(["dynamodb:GetItem", "s3:GetObject"], "*")))
        else:
            rec = update_assume_role_policy(key, when, ALICE, role, trust(service="ecs-tasks.amazonaws.com",
                                                                          region=None))
        records.append(rec)
    return records


@case
def case_e16_noisy_account():
    """Four thousand unrelated events around one detach of the delivery's managed policy.

    The refusals of other roles on other log groups are not this flow log's; only the delivery role's session
    on its log group counts (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html). S3 tree.
    """
    name, fl = "e16", "fl-0e16d6a0b1c2d3e4f"
    managed = "VpcFlowLogsDelivery"
    detached = detach_role_policy(name, t("2024-06-24T16:02:47"), ALICE, ROLE,
                                  f"arn:aws:iam::{ACCOUNT}:policy/{managed}")
    refused = denied_stream(name, t("2024-06-24T16:12:03"), NO_ALLOW.format("CreateLogStream"))
    files = as_s3_tree(setup(name, fl, managed=managed) + background(name, "2024-06-24", 4000)
                       + [detached, refused])
    expected = entry(fl, "FAILED", "permission-missing", trigger=ref(detached),
                     failure_started=window(t("2024-06-24T16:02:47"), t("2024-06-24T16:12:03")),
                     confirmed_finding="permission-missing", remediation_allows_streams=True,
                     not_confirmed=["trust-missing-service", "explicit-deny"])
    return files, {"flow_logs": [expected]}


def write_case(name: str, files: dict[str, Any], expected: dict[str, Any]) -> None:
    folder = DATA / name
    fresh(folder)
    write_files(folder / "evidence", files)
    write_expected(folder, expected)


def main() -> None:
    write_all(CASES, DATA, write_case)


if __name__ == "__main__":
    main()
