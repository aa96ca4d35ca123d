"""The sample incidents, as data: the account, its people and services, the background, and one
:class:`~flowforensics.scenarios.model.Incident` per root-cause code."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from flowforensics.scenarios.aws_shapes import DELIVERY_ACTIONS, document, statement
from flowforensics.scenarios.cloudtrail import Actor
from flowforensics.scenarios.model import Incident, Step

ACCOUNT = "381492650217"
MANAGEMENT_ACCOUNT = "902345117638"
ORGANIZATION_ID = "o-7k2x9qfm3b"
BASE_TIME = datetime(2024, 3, 4, 8, 0, tzinfo=UTC)
SETUP_BEFORE = timedelta(days=41)  # the flow log was built 41 days before: inside LookupEvents' 90 days
ROLE_NAME = "prod-core-vpc-flow-logs-role"
LOG_GROUP = "/vpc/flow-logs/prod-core"
OTHER_ROLE = "orders-ingest-lambda-role"

_CLI = "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1016-aws exe/x86_64.ubuntu.22 prompt/off"
_TERRAFORM = (
    "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.40.0 "
    "(+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.25.3 os/linux lang/go#1.21.8 "
    "md/GOOS#linux md/GOARCH#amd64"
)
_BOTO3 = (
    "Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux#5.15.0-97-generic md/arch#x86_64 lang/python#3.10.12 "
    "md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.51"
)
_LAMBDA = "Boto3/1.34.42 md/Botocore#1.34.42 ua/2.0 os/linux#5.10.209 md/arch#x86_64 lang/python#3.11.8 exec-env/AWS_Lambda_python3.11 Botocore/1.34.42"
_SSO_PATH = "/aws-reserved/sso.amazonaws.com/"

ACTORS: dict[str, Actor] = {
    "alice": Actor("IAMUser", "alice.nguyen", user_agent=_CLI, source_ip="203.0.113.24"),
    "platform": Actor("AssumedRole", "AWSReservedSSO_PlatformAdmin_5c2b8e9a41d7f3e0", "maria.silva@example.com",
                      user_agent="console.amazonaws.com", source_ip="198.51.100.73", role_path=_SSO_PATH),
    "security": Actor("AssumedRole", "AWSReservedSSO_SecurityAudit_9a0c6d2e7b13f845", "sam.okafor@example.com",
                      user_agent=_CLI, source_ip="198.51.100.140", role_path=_SSO_PATH),
    "terraform": Actor("AssumedRole", "terraform-deployer", "terraform-run-8812", user_agent=_TERRAFORM,
                       source_ip="192.0.2.45"),
    "ci": Actor("AssumedRole", "github-actions-readonly", "GitHubActions", user_agent=_BOTO3, source_ip="192.0.2.88"),
    "app": Actor("AssumedRole", OTHER_ROLE, "orders-ingest", user_agent=_LAMBDA, source_ip="52.48.3.201"),
    "janitor": Actor("AssumedRole", "log-janitor-lambda-role", "log-janitor", user_agent=_LAMBDA,
                     source_ip="34.240.12.77"),
    "intruder": Actor("IAMUser", "svc-backup", user_agent=_BOTO3, source_ip="185.220.101.47"),
    "org-admin": Actor("AssumedRole", "AWSReservedSSO_OrgAdmin_2f4e6a8c0b1d3e5f", "li.wei@example.com",
                       user_agent="console.amazonaws.com", source_ip="198.51.100.12", role_path=_SSO_PATH,
                       account=MANAGEMENT_ACCOUNT),
    "flow-logs-service": Actor("AWSService", "vpc-flow-logs.amazonaws.com"),
    "logs-service": Actor("AWSService", "logs.amazonaws.com"),
}
COLLECTOR = ACTORS["security"]


# --- policy documents, as functions of the simulated account ------------------------------------------


def _group_arn(w: Any) -> str:
    return w.log_group["arn"]


def delivery_policy(actions: tuple[str, ...] = DELIVERY_ACTIONS, resources: Any = "*") -> Any:
    """The delivery role's permissions: ``actions`` on ``resources`` (a callable of the account)."""
    return lambda w: document(statement("Allow", list(actions), resources(w) if callable(resources) else resources))


def service_trust(service: str = "vpc-flow-logs.amazonaws.com", conditions: Any = None) -> Any:
    """A trust policy for one service principal, optionally with conditions (a callable of the account)."""
    def build(w: Any) -> dict[str, Any]:
        extra = {"Condition": conditions(w)} if conditions else {}
        return document(statement("Allow", "sts:AssumeRole", None, Principal={"Service": service}, **extra))
    return build


def _key_policy(with_logs: bool) -> Any:
    def build(w: Any) -> dict[str, Any]:
        statements = [statement("Allow", "kms:*", "*", Sid="Enable IAM User Permissions",
                                Principal={"AWS": f"arn:aws:iam::{w.account}:root"})]
        statements.append(statement(
            "Allow", ["kms:Describe*", "kms:Get*", "kms:List*", "kms:Encrypt", "kms:Decrypt", "kms:CreateGrant"], "*",
            Sid="Allow key administrators",
            Principal={"AWS": f"arn:aws:iam::{w.account}:role{_SSO_PATH}{ACTORS['security'].name}"},
        ))
        if with_logs:
            statements.append(statement(
                "Allow", ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                "*", Sid="Allow CloudWatch Logs", Principal={"Service": f"logs.{w.region}.amazonaws.com"},
                Condition={"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                       f"arn:aws:logs:{w.region}:{w.account}:log-group:*"}},
            ))
        return document(*statements)
    return build


_BOUNDARY_V1 = document(
    statement("Allow", ["ec2:*", "s3:*", "lambda:*", "dynamodb:*", "cloudwatch:*", "sns:*", "sqs:*"], "*",
              Sid="DeveloperServices"),
    statement("Deny", ["iam:CreateUser", "iam:CreateAccessKey", "organizations:*"], "*", Sid="NoIdentityAdmin"),
)


def _boundary_v2(w: Any) -> dict[str, Any]:
    statements = list(_BOUNDARY_V1["Statement"])
    statements.insert(1, statement("Allow", list(DELIVERY_ACTIONS), "*", Sid="LogDelivery"))
    return document(*statements)


def _scp_guard(with_writes: bool) -> Any:
    def build(w: Any) -> dict[str, Any]:
        statements = [statement("Deny", ["logs:DeleteLogGroup", "logs:DeleteLogStream", "logs:PutRetentionPolicy"],
                                "arn:aws:logs:*:*:log-group:/vpc/*", Sid="DenyFlowLogTampering")]
        if with_writes:
            # Meant to stop forged records; the delivery roles are not in the exemption.
            statements.append(statement(
                "Deny", ["logs:CreateLogStream", "logs:PutLogEvents"], "arn:aws:logs:*:*:log-group:/vpc/*",
                Sid="OnlyCentralPipelineWritesFlowLogs",
                Condition={"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/central-logging-*"}},
            ))
        return document(*statements)
    return build


_GUARDRAIL = document(statement(
    "Deny", ["logs:DeleteLogGroup", "logs:DeleteLogStream", "logs:CreateLogStream", "logs:PutLogEvents"],
    "arn:aws:logs:*:*:log-group:/vpc/*", Sid="DenyFlowLogForgeryAndDeletion",
))


def _other_role_policy(w: Any) -> dict[str, Any]:
    return document(
        statement("Allow", ["s3:GetObject", "s3:PutObject"], f"arn:aws:s3:::orders-ingest-{w.account}/*"),
        statement("Allow", ["dynamodb:PutItem", "dynamodb:UpdateItem"],
                  f"arn:aws:dynamodb:{w.region}:{w.account}:table/orders"),
        statement("Allow", ["kms:Decrypt"], w.key["arn"]),
    )


def seed_account(incident: Incident, rng: random.Random) -> dict[str, Any]:
    """The account before the setup runs: resources not yet created, and those older than the evidence."""
    region = incident.region
    long_ago = BASE_TIME - timedelta(days=400)
    boundary_arn = f"arn:aws:iam::{ACCOUNT}:policy/DeveloperBoundary"
    other = {
        "name": OTHER_ROLE, "arn": f"arn:aws:iam::{ACCOUNT}:role/{OTHER_ROLE}", "path": "/", "exists": True,
        "id": "AROAVQ3ZK7P2M4HXW6N5T", "created": long_ago + timedelta(days=31, seconds=rng.randint(0, 86399)),
        "trust": service_trust("lambda.amazonaws.com")(None), "inline": {}, "attached": [], "boundary": None,
        "tags": {"team": "orders"}, "description": "orders-ingest Lambda execution role",
        "last_used": BASE_TIME + timedelta(days=20), "last_used_region": region,
    }
    return {
        "role": {
            "name": ROLE_NAME, "arn": f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}", "path": "/", "exists": False,
            "id": None, "created": None, "trust": None, "inline": {}, "attached": [], "boundary": None,
            "tags": {"team": "network", "managed-by": "terraform"}, "description": "",
            "last_used": None, "last_used_region": None,
        },
        "other_roles": [other],
        "policies": {"developer-boundary": {
            "name": "DeveloperBoundary", "arn": boundary_arn, "id": "ANPAVQ3ZK7P2BOUNDARY1", "attachments": 0,
            "boundary_uses": 4, "default_version": "v1",
            "versions": [{"id": "v1", "document": _BOUNDARY_V1, "created": long_ago}],
        }},
        "log_group": {
            "name": LOG_GROUP, "arn": f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{LOG_GROUP}", "exists": False,
            "created": None, "retention": None, "kms_key": None, "stored_bytes": rng.randint(2, 9) * 10**9,
        },
        "flow_log": {
            "id": None, "resource_id": None, "exists": False, "created": None,
            "role_arn": f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}", "log_group": LOG_GROUP,
            "log_group_arn": f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{LOG_GROUP}",
            "tags": {"Name": "prod-core-vpc-flow-logs", "team": "network"}, "status": "SUCCESS", "error": None,
        },
        "key": {"id": None, "arn": None, "policy": _key_policy(with_logs=True)},
        "scps": {
            "full": {"id": "p-FullAWSAccess", "name": "FullAWSAccess", "aws_managed": True,
                     "arn": "arn:aws:organizations::aws:policy/service_control_policy/p-FullAWSAccess",
                     "description": "Allows access to every operation",
                     "content": document(statement("Allow", "*", "*"))},
            "guard": {"id": "p-3n7ud9xk", "name": "DenyLogTampering", "aws_managed": False,
                      "arn": f"arn:aws:organizations::{MANAGEMENT_ACCOUNT}:policy/{ORGANIZATION_ID}/"
                             "service_control_policy/p-3n7ud9xk",
                      "description": "Protect network and audit logs", "content": _scp_guard(False)(None)},
        },
    }


def _baseline(w: Any, key: str, default: Any) -> dict[str, Any]:
    return w.incident.baseline.get(key, default)(w)


# The flow log as Terraform built it, 41 days before the incident.
SETUP: tuple[Step, ...] = (
    Step(timedelta(0), "terraform", "create-log-group"),
    Step(timedelta(seconds=2), "terraform", "put-retention-policy", {"days": 90}),
    Step(timedelta(seconds=3), "terraform", "create-role",
         {"trust": lambda w: _baseline(w, "trust", service_trust()),
          "description": "Delivers prod-core VPC flow logs to CloudWatch Logs"}),
    Step(timedelta(seconds=9), "terraform", "put-role-policy",
         {"policy_name": "flow-logs-delivery", "document": lambda w: _baseline(w, "policy", delivery_policy())}),
    Step(timedelta(seconds=24), "terraform", "create-flow-logs"),
)


def _red_herring(after: timedelta, actor: str = "alice") -> Step:
    # An unrelated change to another role, close to the failure: a tempting but wrong culprit.
    return Step(after, actor, "put-role-policy",
                {"role": OTHER_ROLE, "policy_name": "orders-ingest-access", "document": _other_role_policy},
                part="red-herring")


def _minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


# Background: unrelated calls of people, pipelines and workloads (actor, source, name, readOnly, request).
NOISE: tuple[tuple[str, str, str, bool, Any], ...] = (
    ("app", "kms.amazonaws.com", "Decrypt", True,
     lambda w: {"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "keyId": w.key["arn"]}),
    ("app", "logs.amazonaws.com", "CreateLogStream", False,
     lambda w: {"logGroupName": "/aws/lambda/orders-ingest",
                "logStreamName": f"{w.anchor:%Y/%m/%d}/[$LATEST]{w.rng.getrandbits(128):032x}"}),
    ("app", "sts.amazonaws.com", "GetCallerIdentity", True, None),
    ("security", "ec2.amazonaws.com", "DescribeInstances", True,
     {"instancesSet": {}, "filterSet": {}}),
    ("security", "ec2.amazonaws.com", "DescribeVpcs", True, {"vpcSet": {}, "filterSet": {}}),
    ("security", "iam.amazonaws.com", "ListRoles", True, None),
    ("security", "iam.amazonaws.com", "GetRole", True, {"roleName": OTHER_ROLE}),
    ("ci", "sts.amazonaws.com", "GetCallerIdentity", True, None),
    ("ci", "ec2.amazonaws.com", "DescribeFlowLogs", True, {"DescribeFlowLogsRequest": ""}),
    ("ci", "ec2.amazonaws.com", "DescribeSecurityGroups", True, {"securityGroupSet": {}, "securityGroupIdSet": {},
                                                                 "filterSet": {}}),
    ("terraform", "iam.amazonaws.com", "GetRolePolicy", True,
     {"roleName": ROLE_NAME, "policyName": "flow-logs-delivery"}),
    ("terraform", "logs.amazonaws.com", "DescribeLogGroups", True, {"logGroupNamePrefix": LOG_GROUP}),
    ("terraform", "lambda.amazonaws.com", "GetFunction20150331v2", True, {"functionName": "orders-ingest"}),
    ("alice", "s3.amazonaws.com", "ListBuckets", True, {"Host": "s3.amazonaws.com"}),
    ("alice", "ec2.amazonaws.com", "DescribeNetworkInterfaces", True, {"networkInterfaceIdSet": {},
                                                                      "filterSet": {}}),
    ("janitor", "logs.amazonaws.com", "DescribeLogGroups", True, None),
)

# Gaps: (operation, region: None (global), "home" (the flow log's) or a name, error code, message).
_ROLE_GONE = ("iam:GetRole", None, "NoSuchEntity", "The role with name {role} cannot be found.")
_LOOKUP_DENIED = (
    "User: {collector} is not authorized to perform: cloudtrail:LookupEvents because no identity-based policy "
    "allows the cloudtrail:LookupEvents action"
)

_DESCRIBE_DENIED = (
    "You are not authorized to perform this operation. User: {collector} is not authorized to perform: "
    "ec2:DescribeFlowLogs because no identity-based policy allows the ec2:DescribeFlowLogs action"
)

INCIDENTS: tuple[Incident, ...] = (
    Incident(
        name="permission-removed",
        title="Delivery policy scoped to the log group without :*",
        description=(
            "An engineer tightened the delivery role's inline policy with PutRolePolicy, scoping it to the log "
            "group ARN without ':*', so logs:CreateLogStream and logs:PutLogEvents (which act on log-stream "
            "ARNs) were no longer allowed and delivery failed with 'Access error'. A platform admin restored "
            "the ':*' resource about 95 minutes later and delivery resumed some minutes after the fix."
        ),
        root_cause="permission-missing",
        region="eu-west-1",
        steps=(
            _red_herring(_minutes(-12), "platform"),
            Step(_minutes(0), "alice", "put-role-policy",
                 {"policy_name": "flow-logs-delivery", "document": delivery_policy(resources=_group_arn)},
                 part="trigger"),
            Step(_minutes(95), "platform", "put-role-policy",
                 {"policy_name": "flow-logs-delivery",
                  "document": delivery_policy(resources=lambda w: [_group_arn(w), _group_arn(w) + ":*"])},
                 part="recovery"),
        ),
        breaks="request",
        symptom="identity",
        trail="both",
    ),
    Incident(
        name="trust-edited",
        title="Trust policy now names ec2.amazonaws.com",
        description=(
            "A Terraform run replaced the delivery role's trust policy (UpdateAssumeRolePolicy) with one for "
            "ec2.amazonaws.com, copied from an instance-role module. The flow-logs service kept its current "
            "session until it expired, then every AssumeRole by vpc-flow-logs.amazonaws.com was denied; "
            "delivery is still failing at collection time, and only get-role output was collected for IAM."
        ),
        root_cause="trust-missing-service",
        region="us-west-2",
        steps=(
            Step(_minutes(0), "terraform", "update-assume-role-policy",
                 {"document": service_trust("ec2.amazonaws.com")}, part="trigger"),
            _red_herring(_minutes(25)),
        ),
        breaks="session",
        symptom="assume",
        iam_evidence="get-role",
    ),
    Incident(
        name="trust-condition-mismatch",
        title="Confused-deputy conditions name the wrong region",
        description=(
            "A platform admin hardened the delivery role's trust policy as AWS recommends, adding "
            "aws:SourceAccount and aws:SourceArn conditions, but copied the SourceArn from a us-east-1 template "
            "(arn:aws:ec2:us-east-1:...:vpc-flow-log/*) while the flow log lives in eu-central-1. When the "
            "service's session expired, AssumeRole was denied; CloudTrail here comes only from the S3 bucket."
        ),
        root_cause="trust-condition-mismatch",
        region="eu-central-1",
        steps=(
            Step(_minutes(0), "platform", "update-assume-role-policy",
                 {"document": service_trust(conditions=lambda w: {
                     "StringEquals": {"aws:SourceAccount": w.account},
                     "ArnLike": {"aws:SourceArn": f"arn:aws:ec2:us-east-1:{w.account}:vpc-flow-log/*"},
                 })}, part="trigger"),
            _red_herring(_minutes(20)),
        ),
        breaks="session",
        symptom="assume",
        session_left=_minutes(41),
        trail="s3",
    ),
    Incident(
        name="explicit-deny",
        title="A guardrail policy denies log writes",
        description=(
            "The security team created a managed guardrail policy meant to stop forged or deleted flow-log "
            "records and attached it to the delivery role; its Deny statement covers logs:CreateLogStream and "
            "logs:PutLogEvents on /vpc/* log groups, which an explicit deny makes final. Delivery fails from the "
            "next batch and is still failing at collection time."
        ),
        root_cause="explicit-deny",
        region="eu-west-1",
        steps=(
            Step(_minutes(-21), "security", "create-policy",
                 {"policy": "guardrail", "name": "GuardrailDenyFlowLogForgery", "document": _GUARDRAIL,
                  "description": "Nobody forges or deletes VPC flow log records"}),
            _red_herring(_minutes(-8)),
            Step(_minutes(0), "security", "attach-role-policy", {"policy": "guardrail"}, part="trigger"),
        ),
        breaks="request",
        symptom="identity-deny",
    ),
    Incident(
        name="boundary-deny",
        title="A permissions boundary without logs:",
        description=(
            "A Terraform rollout put the DeveloperBoundary permissions boundary on every role, including the "
            "delivery role; the boundary allows ec2, s3, lambda and other services but no logs: action, so "
            "delivery failed although the inline policy still allows it. A platform admin published a new "
            "default version of the boundary with the delivery actions and delivery resumed."
        ),
        root_cause="boundary-deny",
        region="ap-southeast-2",
        steps=(
            _red_herring(_minutes(-10)),
            Step(_minutes(0), "terraform", "put-role-permissions-boundary", {"policy": "developer-boundary"},
                 part="trigger"),
            Step(_minutes(70), "platform", "create-policy-version",
                 {"policy": "developer-boundary", "document": _boundary_v2}, part="recovery"),
        ),
        breaks="request",
        symptom="boundary",
        trail="both",
    ),
    Incident(
        name="scp-deny",
        title="A service control policy denies log writes",
        description=(
            "In the Organizations management account, an admin updated the DenyLogTampering SCP so that only "
            "central-logging roles may write to /vpc/* log groups; the flow-log delivery role is not exempt, so "
            "CreateLogStream and PutLogEvents are explicitly denied. The change is only in the organization "
            "trail (management account); the SCPs that apply were collected with describe-policy."
        ),
        root_cause="scp-deny",
        region="eu-west-1",
        steps=(
            _red_herring(_minutes(-15)),
            Step(_minutes(0), "org-admin", "update-scp", {"scp": "guard", "document": _scp_guard(True)},
                 part="trigger"),
        ),
        breaks="request",
        symptom="scp",
        trail="both",
        organization_trail=True,
        collect_scps=True,
    ),
    Incident(
        name="role-deleted",
        title="The delivery role was deleted",
        description=(
            "A Terraform run from a stale workspace destroyed the delivery role: DeleteRolePolicy, then "
            "DeleteRole seconds later. The service's session lost its permissions at once, and once it expired "
            "AssumeRole failed for a role that no longer exists; get-role returns NoSuchEntity."
        ),
        root_cause="role-deleted",
        region="us-east-2",
        steps=(
            _red_herring(_minutes(-14)),
            Step(_minutes(0), "terraform", "delete-role-policy", {"policy_name": "flow-logs-delivery"}),
            Step(timedelta(seconds=4), "terraform", "delete-role", part="trigger"),
        ),
        breaks="request",
        symptom="identity",
        symptom_after_refresh="assume",
        session_left=_minutes(30),
        gaps=(_ROLE_GONE,),
    ),
    Incident(
        name="role-recreated",
        title="The delivery role was deleted and recreated without its policy",
        description=(
            "Terraform replaced the delivery role: it deleted the inline policy and the role, then created a role "
            "with the same name and trust policy (a new role id, AROA...). In AWS a recreated role works again "
            "for new sessions once its policies are back, but the inline policy lived in another Terraform "
            "module that was not applied, so the new role allows nothing and delivery keeps failing."
        ),
        root_cause="role-recreated",
        region="eu-west-2",
        steps=(
            _red_herring(_minutes(-9)),
            Step(_minutes(0), "terraform", "delete-role-policy", {"policy_name": "flow-logs-delivery"}),
            Step(timedelta(seconds=4), "terraform", "delete-role", part="trigger"),
            Step(_minutes(2), "terraform", "create-role",
                 {"trust": service_trust(), "description": "Delivers prod-core VPC flow logs to CloudWatch Logs"}),
        ),
        breaks="request",
        symptom="identity",
        trail="s3",
    ),
    Incident(
        name="log-group-deleted",
        title="The log group was deleted and cannot be recreated",
        description=(
            "A log-janitor Lambda deleted the flow log's log group (DeleteLogGroup). The flow-logs service tries "
            "to recreate it, but the delivery role was granted every delivery action except "
            "logs:CreateLogGroup, so delivery keeps failing and no log group exists at collection time."
        ),
        root_cause="log-group-deleted",
        region="eu-north-1",
        steps=(
            _red_herring(_minutes(-11)),
            Step(_minutes(0), "janitor", "delete-log-group", part="trigger"),
        ),
        breaks="request",
        symptom="log-group-missing",
        baseline={"policy": delivery_policy(DELIVERY_ACTIONS[1:])},
    ),
    Incident(
        name="kms-key-denied",
        title="The log group's KMS key policy no longer admits CloudWatch Logs",
        description=(
            "The log group had been encrypted with a customer managed key (AssociateKmsKey) whose policy let "
            "logs.eu-west-1.amazonaws.com use it; a security engineer then rewrote the key policy (PutKeyPolicy) "
            "without that statement. AWS refuses AssociateKmsKey with a key CloudWatch Logs cannot use, so the "
            "break comes from the later key-policy edit; delivery fails with 'Unknown error' and the role is fine."
        ),
        root_cause="kms-key-denied",
        region="eu-west-1",
        steps=(
            Step(_minutes(-125), "alice", "associate-kms-key"),
            _red_herring(_minutes(-13)),
            Step(_minutes(0), "security", "put-key-policy", {"document": _key_policy(with_logs=False)},
                 part="trigger"),
        ),
        breaks="request",
        symptom="kms",
        error_message="Unknown error",
        propagation=_minutes(4),
        collect_key_policy=True,
    ),
    Incident(
        name="rate-limited",
        title="CloudWatch Logs throttles delivery",
        description=(
            "Delivery fails with 'Rate limited': CloudWatch Logs throttles the log group while other producers "
            "share its account quota. No IAM, flow-log or log-group change explains it, and CloudTrail shows no "
            "denied call; it is still failing at collection time."
        ),
        root_cause="rate-limited",
        region="eu-west-1",
        steps=(_red_herring(_minutes(-10)),),
        breaks="spontaneous",
        error_message="Rate limited",
        trail="both",
    ),
    Incident(
        name="flow-log-deleted",
        title="The flow log was deleted by an unusual principal (T1562.008)",
        description=(
            "The long-unused IAM user svc-backup, calling from an unfamiliar address with a Python SDK, listed "
            "the flow logs and deleted this one (DeleteFlowLogs): MITRE ATT&CK T1562.008, impair defenses by "
            "disabling cloud logs. Records stop at the deletion; describe-flow-logs no longer returns the flow "
            "log, which only CloudTrail's CreateFlowLogs and DeleteFlowLogs describe."
        ),
        root_cause="flow-log-deleted",
        region="eu-west-1",
        steps=(
            _red_herring(_minutes(-14)),
            Step(_minutes(-6), "intruder", "describe-flow-logs"),
            Step(_minutes(0), "intruder", "delete-flow-logs", part="trigger"),
        ),
        breaks="stop",
        error_message="",
        trail="both",
    ),
    Incident(
        name="healthy",
        title="Healthy delivery with a flapping alarm",
        description=(
            "The flow log delivers without a gap over the whole window. The alarm flapped hours earlier because "
            "data points arrived late (missing data is treated as breaching), and an unrelated role policy "
            "changed; neither is a delivery failure."
        ),
        root_cause="none",
        region="us-east-1",
        steps=(_red_herring(_minutes(0)),),
        breaks="none",
        error_message="",
        trail="s3",
    ),
    Incident(
        name="no-cloudtrail",
        title="A failing flow log without CloudTrail",
        description=(
            "The flow log fails with 'Access error' while its role, trust policy and log group look correct; the "
            "collector could read neither CloudTrail (LookupEvents denied) nor the organization's SCPs. The "
            "evidence cannot decide the cause: the findings must say what is missing."
        ),
        root_cause="inconclusive",
        region="eu-west-1",
        steps=(),
        breaks="spontaneous",
        trail="none",
        gaps=(
            ("cloudtrail:LookupEvents", "home", "AccessDeniedException", _LOOKUP_DENIED),
            ("cloudtrail:LookupEvents", "us-east-1", "AccessDeniedException", _LOOKUP_DENIED),
            ("organizations:ListPoliciesForTarget", None, "AccessDeniedException",
             "You don't have permissions to access this resource."),
        ),
    ),)

# The incidents caught before delivery failed: the same change, collected minutes after it while
# DeliverLogsStatus still says SUCCESS (the flow log is at risk): one per cause the role, its boundary,
# the SCPs or the key policy decide.
LATENT_COLLECT = _minutes(3)
LATENT_OF = ("trust-edited", "trust-condition-mismatch", "permission-removed", "explicit-deny", "boundary-deny",
             "scp-deny", "role-deleted", "role-recreated", "kms-key-denied")
# When a change that refuses delivery stops it, by root cause. A trust policy is read only when the service
# assumes the role; AWS evaluates a session's permissions on every request, and a role is deleted only
# once its policies are (DeleteConflict otherwise), so a deleted or replaced role's session has none left.
_SESSION_EXPIRY = ("The service keeps delivering on the session it assumed before the change, and fails when that "
                   "session expires and its AssumeRole is refused.")
_NEXT_REQUEST = ("AWS evaluates these policies on every delivery request, so the next delivery is refused; "
                 "DeliverLogsStatus does not show it yet.")
_ROLE_GONE_NEXT = ("The role's policies went with the old role, and AWS evaluates a session's permissions on every "
                   "request, so the next delivery is refused; DeliverLogsStatus does not show it yet.")
LATENT_WHEN: dict[str, str] = {
    **dict.fromkeys(("trust-missing-service", "trust-condition-mismatch"), _SESSION_EXPIRY),
    **dict.fromkeys(("permission-missing", "explicit-deny", "boundary-deny", "scp-deny"), _NEXT_REQUEST),
    **dict.fromkeys(("role-deleted", "role-recreated"), _ROLE_GONE_NEXT),
    "kms-key-denied": ("KMS evaluates the key policy on every request, so CloudWatch Logs is refused the key at its "
                       "next data-key request; DeliverLogsStatus does not show it yet."),
}


def latent(incident: Incident, *, name: str | None = None, trail: str | None = None,
           gaps: tuple[tuple[str, str | None, str, str], ...] | None = None) -> Incident:
    """``incident`` caught before it failed: its steps up to collection, no recovery, delivery still working."""
    steps = tuple(step for step in incident.steps if step.part != "recovery" and step.after <= LATENT_COLLECT)
    where = " without CloudTrail (the collector could read only the current documents)" if trail == "none" else ""
    return replace(
        incident,
        name=name or f"latent-{incident.name}",
        title=f"At risk, not yet failing{' (no CloudTrail)' if trail == 'none' else ''}: "
              f"{incident.title[0].lower()}{incident.title[1:]}",
        description=(f"The change of the {incident.name} incident, collected {int(LATENT_COLLECT.total_seconds() // 60)} "
                     f"minutes after it{where}, while DeliverLogsStatus still says SUCCESS. "
                     f"{LATENT_WHEN[incident.root_cause]} The diagnosis says the flow log is at risk, names the cause "
                     "that will stop it, the change when CloudTrail shows it, and the fix."),
        steps=steps,
        breaks="latent",
        symptom="",
        symptom_after_refresh="",
        error_message="",
        collect_after=LATENT_COLLECT,
        trail=trail or incident.trail,
        gaps=incident.gaps if gaps is None else gaps,
    )


_BY_NAME = {incident.name: incident for incident in INCIDENTS}
# Collection gaps: the trust-edited incident with CloudTrail throttled in the flow log's region (its IAM
# events, in us-east-1, were read), for the whole lookup and for a window; and an API refused outright
# (ec2:DescribeFlowLogs), so that the flow log is known only from its CreateFlowLogs record.
INCIDENTS += (replace(
    _BY_NAME["trust-edited"],
    name="lookups-throttled",
    title="Trust policy edited, CloudTrail throttled in the flow log's region",
    description=(
        "The trust-edited incident, collected while LookupEvents in the flow log's region was throttled "
        "(ThrottlingException after retries), so only us-east-1's events were read. The trust change is still "
        "proven from them, and describe-flow-logs and describe-log-groups rule out a deleted flow log or log group "
        "and a KMS key without the region's events; without those answers, the findings would say that CloudTrail "
        "could not be read there."
    ),
    gaps=(("cloudtrail:LookupEvents", "home", "ThrottlingException", "Rate exceeded"),),
), replace(
    _BY_NAME["trust-edited"],
    name="lookups-throttled-window",
    title="Trust policy edited, CloudTrail throttled for two hours in the flow log's region",
    description=(
        "The trust-edited incident, collected while LookupEvents in the flow log's region was throttled for the two "
        "hours around the change (ThrottlingException after retries); that region's events before and after them, "
        "and us-east-1's, were read. The trust change is still proven, the failed AssumeRole calls after the window "
        "show delivery failing, and describe-flow-logs and describe-log-groups rule out a deleted flow log or log "
        "group and a KMS key; manifest.json lists the unread window with its StartTime and EndTime."
    ),
    gaps=(("cloudtrail:LookupEvents", "home", "ThrottlingException", "Rate exceeded"),),
    gap_window=(-_minutes(60), _minutes(60)),
), replace(
    _BY_NAME["permission-removed"],
    name="log-destination-arn",
    title="Delivery policy scoped without :*, the flow log known only from CloudTrail's LogDestination",
    description=(
        "The permission-removed incident on a flow log Terraform created with log_destination set to the log "
        "group's ARN, so its CreateFlowLogs record names the log group only as LogDestination (LogDestinationType "
        "cloud-watch-logs). The collector was refused ec2:DescribeFlowLogs (UnauthorizedOperation), so the flow "
        "log, its role and its log group are known only from that record, and the fix must name that log group."
    ),
    destination="arn",
    gaps=(("ec2:DescribeFlowLogs", "home", "UnauthorizedOperation", _DESCRIBE_DENIED),),
),)
INCIDENTS += tuple(latent(_BY_NAME[name]) for name in LATENT_OF) + (
    latent(_BY_NAME["trust-edited"], name="latent-trust-no-cloudtrail", trail="none",
           gaps=(("cloudtrail:LookupEvents", "home", "AccessDeniedException", _LOOKUP_DENIED),
                 ("cloudtrail:LookupEvents", "us-east-1", "AccessDeniedException", _LOOKUP_DENIED))),
)
