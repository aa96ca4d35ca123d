"""AWS-shaped building blocks for the black-box evidence folders: CloudTrail records and CLI outputs.

Every shape follows the AWS CLI (``--output json``) or the CloudTrail record format, as documented by AWS;
nothing here is taken from flowforensics, so the cases test the tool against AWS, not against itself.
"""

from __future__ import annotations

import gzip
import io
import json
import urllib.parse
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

ACCOUNT = "111122223333"
REGION = "eu-west-1"
IAM_REGION = "us-east-1"  # IAM is global: its CloudTrail records are written in us-east-1
FLOW_SERVICE = "vpc-flow-logs.amazonaws.com"
FIVE_ACTIONS = [
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "logs:DescribeLogGroups",
    "logs:DescribeLogStreams",
]


def t(text: str) -> datetime:
    """A UTC instant from ``YYYY-MM-DDTHH:MM:SS`` (the cases are written in UTC)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def z(moment: datetime) -> str:
    """CloudTrail's own ``eventTime`` format."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cli_time(moment: datetime, offset_hours: int = 0) -> str:
    """The AWS CLI v2 rendering of a timestamp, in the analyst's local offset."""
    return moment.astimezone(timezone(timedelta(hours=offset_hours))).isoformat()


def epoch_ms(moment: datetime) -> int:
    """CloudWatch Logs' epoch milliseconds."""
    return int(moment.timestamp() * 1000)


def event_id(*parts: str) -> str:
    """A deterministic CloudTrail event id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def role_arn(name: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def log_group_arn(name: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:aws:logs:{region}:{account}:log-group:{name}"


def iam_user(name: str, account: str = ACCOUNT) -> dict[str, Any]:
    return {
        "type": "IAMUser",
        "principalId": "AIDA" + uuid.uuid5(uuid.NAMESPACE_DNS, name).hex[:16].upper(),
        "arn": f"arn:aws:iam::{account}:user/{name}",
        "accountId": account,
        "accessKeyId": "AKIA" + uuid.uuid5(uuid.NAMESPACE_OID, name).hex[:16].upper(),
        "userName": name,
    }


def assumed_role(role: str, session: str, account: str = ACCOUNT, invoked_by: str | None = None) -> dict[str, Any]:
    role_id = "AROA" + uuid.uuid5(uuid.NAMESPACE_DNS, role).hex[:17].upper()
    identity = {
        "type": "AssumedRole",
        "principalId": f"{role_id}:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role.rsplit('/', 1)[-1]}/{session}",
        "accountId": account,
        "accessKeyId": "ASIA" + uuid.uuid5(uuid.NAMESPACE_OID, role + session).hex[:16].upper(),
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": role_id,
                "arn": f"arn:aws:iam::{account}:role/{role}",
                "accountId": account,
                "userName": role.rsplit("/", 1)[-1],
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": "2024-05-01T00:00:00Z", "mfaAuthenticated": "false"},
        },
    }
    if invoked_by:
        identity["invokedBy"] = invoked_by
    return identity


def actor_arn(identity: dict[str, Any]) -> str:
    return identity["arn"]


SERVICE_IDENTITY = {"type": "AWSService", "invokedBy": FLOW_SERVICE}


def record(
    case: str,
    name: str,
    source: str,
    when: datetime,
    identity: dict[str, Any],
    request: dict[str, Any] | None,
    response: dict[str, Any] | None = None,
    *,
    region: str = REGION,
    account: str = ACCOUNT,
    error: tuple[str, str] | None = None,
    read_only: bool = False,
    resources: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One CloudTrail record, as CloudTrail writes it."""
    service_call = identity.get("type") == "AWSService" or identity.get("invokedBy") == FLOW_SERVICE
    rec: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": z(when),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": FLOW_SERVICE if service_call else "198.51.100.23",
        "userAgent": FLOW_SERVICE if service_call else "aws-cli/2.15.30 Python/3.11.8 Linux/6.5 exe/x86_64",
    }
    if error:
        rec["errorCode"], rec["errorMessage"] = error
    rec.update(
        {
            "requestParameters": request,
            "responseElements": response,
            "requestID": event_id(case, name, z(when), "request"),
            "eventID": event_id(case, name, z(when)),
            "readOnly": read_only,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": account,
            "eventCategory": "Management",
        }
    )
    if resources is not None:
        rec["resources"] = resources
    if not service_call:
        rec["tlsDetails"] = {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": f"{source.split('.')[0]}.amazonaws.com",
        }
    return rec


# ---- IAM events (requestParameters as CloudTrail records them: documents are JSON strings) ----


def put_role_policy(case, when, who, role, policy_name, document):
    return record(
        case, "PutRolePolicy", "iam.amazonaws.com", when, who,
        {"roleName": role, "policyName": policy_name, "policyDocument": json.dumps(document, indent=4)},
        region=IAM_REGION,
    )


def delete_role_policy(case, when, who, role, policy_name):
    return record(
        case, "DeleteRolePolicy", "iam.amazonaws.com", when, who,
        {"roleName": role, "policyName": policy_name}, region=IAM_REGION,
    )


def update_assume_role_policy(case, when, who, role, document):
    return record(
        case, "UpdateAssumeRolePolicy", "iam.amazonaws.com", when, who,
        {"roleName": role, "policyDocument": json.dumps(document)}, region=IAM_REGION,
    )


def create_role(case, when, who, role, trust, role_id, account=ACCOUNT):
    return record(
        case, "CreateRole", "iam.amazonaws.com", when, who,
        {"roleName": role, "assumeRolePolicyDocument": json.dumps(trust, indent=2)},
        {
            "role": {
                "path": "/",
                "roleName": role,
                "roleId": role_id,
                "arn": role_arn(role, account),
                # CloudTrail keeps IAM responses URL-encoded and in Java's date format
                "createDate": when.strftime("%b %-d, %Y %-I:%M:%S %p"),
                "assumeRolePolicyDocument": urllib.parse.quote(json.dumps(trust, indent=2), safe=""),
            }
        },
        region=IAM_REGION,
        account=account,
    )


def delete_role(case, when, who, role):
    return record(case, "DeleteRole", "iam.amazonaws.com", when, who, {"roleName": role}, region=IAM_REGION)


def attach_role_policy(case, when, who, role, policy_arn):
    return record(
        case, "AttachRolePolicy", "iam.amazonaws.com", when, who,
        {"roleName": role, "policyArn": policy_arn}, region=IAM_REGION,
    )


def detach_role_policy(case, when, who, role, policy_arn):
    return record(
        case, "DetachRolePolicy", "iam.amazonaws.com", when, who,
        {"roleName": role, "policyArn": policy_arn}, region=IAM_REGION,
    )


def create_policy_version(case, when, who, policy_arn, document, version_id):
    return record(
        case, "CreatePolicyVersion", "iam.amazonaws.com", when, who,
        {"policyArn": policy_arn, "policyDocument": json.dumps(document, indent=2), "setAsDefault": True},
        {"policyVersion": {"versionId": version_id, "isDefaultVersion": True,
                           "createDate": when.strftime("%b %-d, %Y %-I:%M:%S %p")}},
        region=IAM_REGION,
    )


def put_role_permissions_boundary(case, when, who, role, boundary_arn):
    return record(
        case, "PutRolePermissionsBoundary", "iam.amazonaws.com", when, who,
        {"roleName": role, "permissionsBoundary": boundary_arn}, region=IAM_REGION,
    )


# ---- EC2, Logs, STS, KMS and Organizations events ----


def create_flow_logs(case, when, who, flow_log_id, resource_id, role, log_group, region=REGION, account=ACCOUNT):
    # EC2 records nest their parameters the way the EC2 query API names them
    return record(
        case, "CreateFlowLogs", "ec2.amazonaws.com", when, who,
        {
            "CreateFlowLogsRequest": {
                "ResourceId": {"tag": 1, "content": resource_id},
                "ResourceType": "VPC",
                "TrafficType": "ALL",
                "LogDestinationType": "cloud-watch-logs",
                "LogGroupName": log_group,
                "DeliverLogsPermissionArn": role_arn(role, account),
                "MaxAggregationInterval": 600,
            }
        },
        {
            "CreateFlowLogsResponse": {
                "xmlns": "http://ec2.amazonaws.com/doc/2016-11-15/",
                "requestId": event_id(case, "CreateFlowLogs", "response"),
                "unsuccessful": "",
                "flowLogIdSet": {"item": flow_log_id},
            }
        },
        region=region,
        account=account,
    )


def delete_flow_logs(case, when, who, flow_log_id, region=REGION):
    return record(
        case, "DeleteFlowLogs", "ec2.amazonaws.com", when, who,
        {"DeleteFlowLogsRequest": {"FlowLogId": {"content": flow_log_id, "tag": 1}}},
        {"DeleteFlowLogsResponse": {"requestId": event_id(case, "DeleteFlowLogs", "response"), "unsuccessful": "",
                                    "xmlns": "http://ec2.amazonaws.com/doc/2016-11-15/"}},
        region=region,
    )


def flow_service_session(role: str) -> dict[str, Any]:
    """The identity the flow logs service uses after assuming the delivery role."""
    return assumed_role(role, "vpc-flow-logs-delivery", invoked_by=FLOW_SERVICE)


def logs_call(case, when, name, role, log_group, stream=None, *, denied_because=None, region=REGION):
    """A CloudWatch Logs call by the flow logs service under the delivery role, denied or not."""
    request = {"logGroupName": log_group}
    resource = log_group_arn(log_group, region)
    if stream:
        request["logStreamName"] = stream
        resource += f":log-stream:{stream}"
    error = None
    if denied_because:
        session = flow_service_session(role)["arn"]
        error = (
            "AccessDenied",
            f"User: {session} is not authorized to perform: logs:{name} on resource: {resource} {denied_because}",
        )
    return record(case, name, "logs.amazonaws.com", when, flow_service_session(role), None if error else request,
                  None, region=region, error=error)


def service_assume_role(case, when, role, *, denied=False, region=REGION, account=ACCOUNT):
    """``sts:AssumeRole`` by the flow logs service, as recorded in the flow log's region."""
    arn = role_arn(role, account)
    response = None
    error = None
    if denied:
        error = ("AccessDenied", f"Not authorized to perform sts:AssumeRole on resource {arn}")
    else:
        response = {
            "credentials": {
                "accessKeyId": "ASIA" + uuid.uuid5(uuid.NAMESPACE_OID, z(when)).hex[:16].upper(),
                "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE",
                "expiration": (when + timedelta(hours=1)).strftime("%b %-d, %Y, %-I:%M:%S %p"),
            },
            "assumedRoleUser": {
                "assumedRoleId": f"AROAEXAMPLE:{int(when.timestamp())}",
                "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{int(when.timestamp())}",
            },
        }
    return record(
        case, "AssumeRole", "sts.amazonaws.com", when, SERVICE_IDENTITY,
        {"roleArn": arn, "roleSessionName": str(int(when.timestamp()))}, response,
        region=region, account=account, error=error, read_only=True,
        resources=[{"accountId": account, "type": "AWS::IAM::Role", "ARN": arn}],
    )


# ---- files ----


def lookup_events(records: list[dict[str, Any]], offset_hours: int = 0) -> dict[str, Any]:
    """``aws cloudtrail lookup-events`` output: newest first, ``CloudTrailEvent`` a JSON string."""
    events = []
    for rec in sorted(records, key=lambda r: r["eventTime"], reverse=True):
        identity = rec["userIdentity"]
        resources = [{"ResourceType": r["type"], "ResourceName": r["ARN"]} for r in rec.get("resources", [])]
        event = {
            "EventId": rec["eventID"],
            "EventName": rec["eventName"],
            "ReadOnly": str(rec["readOnly"]).lower(),
            "EventTime": cli_time(datetime.fromisoformat(rec["eventTime"]), offset_hours),
            "EventSource": rec["eventSource"],
            "Resources": resources,
            "CloudTrailEvent": json.dumps(rec),
        }
        if "accessKeyId" in identity:
            event["AccessKeyId"] = identity["accessKeyId"]
        if "userName" in identity or "arn" in identity:
            event["Username"] = identity.get("userName") or identity["arn"].rsplit("/", 1)[-1]
        events.append(event)
    return {"Events": events}


def s3_log_file(records: list[dict[str, Any]]) -> bytes:
    """A CloudTrail log file as delivered to S3 (gzip, ``{"Records": [...]}``), byte-for-byte reproducible."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as handle:
        handle.write(json.dumps({"Records": records}).encode())
    return buffer.getvalue()


def json_lines(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def url_encoded(document: dict[str, Any]) -> str:
    """How the IAM API (and boto3) returns policy documents: URL-encoded JSON."""
    return urllib.parse.quote(json.dumps(document), safe="")


def flow_log(
    flow_log_id: str,
    role: str | None,
    log_group: str,
    status: str,
    created: str,
    resource_id: str = "vpc-0a1b2c3d4e5f60718",
    error: str | None = None,
    account: str = ACCOUNT,
) -> dict[str, Any]:
    """One entry of ``aws ec2 describe-flow-logs``."""
    entry: dict[str, Any] = {"CreationTime": created}
    if error:
        entry["DeliverLogsErrorMessage"] = error
    if role:
        entry["DeliverLogsPermissionArn"] = role_arn(role, account)
    entry.update(
        {
            "DeliverLogsStatus": status,
            "FlowLogId": flow_log_id,
            "FlowLogStatus": "ACTIVE",
            "LogGroupName": log_group,
            "ResourceId": resource_id,
            "TrafficType": "ALL",
            "LogDestinationType": "cloud-watch-logs",
            "LogFormat": "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} "
            "${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}",
            "Tags": [{"Key": "Name", "Value": "prod-vpc-flow-logs"}],
            "MaxAggregationInterval": 600,
        }
    )
    return entry


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(actions: list[str] | str, resources: list[str] | str = "*", sid: str | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": actions, "Resource": resources}
    if sid:
        statement = {"Sid": sid, **statement}
    return statement


def deny(actions: list[str] | str, resources: list[str] | str = "*", sid: str | None = None,
         condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Deny", "Action": actions, "Resource": resources}
    if sid:
        statement = {"Sid": sid, **statement}
    if condition:
        statement["Condition"] = condition
    return statement


DELIVERY_POLICY = policy(allow(FIVE_ACTIONS, "*"))


def trust(service: str = FLOW_SERVICE, region: str | None = REGION, account: str = ACCOUNT) -> dict[str, Any]:
    """A trust policy; with a region, AWS's recommended confused-deputy conditions."""
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if region:
        statement["Condition"] = {
            "StringEquals": {"aws:SourceAccount": account},
            "ArnLike": {"aws:SourceArn": f"arn:aws:ec2:{region}:{account}:vpc-flow-log/*"},
        }
    return policy(statement)


def get_role(name: str, role_id: str, trust_doc: Any, created: str, boundary: str | None = None) -> dict[str, Any]:
    role: dict[str, Any] = {
        "Path": "/",
        "RoleName": name,
        "RoleId": role_id,
        "Arn": role_arn(name),
        "CreateDate": created,
        "AssumeRolePolicyDocument": trust_doc,
        "Description": "Lets VPC Flow Logs publish to CloudWatch Logs",
        "MaxSessionDuration": 3600,
    }
    if boundary:
        role["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": boundary}
    role["RoleLastUsed"] = {"LastUsedDate": "2024-05-13T23:58:02+00:00", "Region": REGION}
    return {"Role": role}


def get_role_policy(role: str, name: str, document: Any) -> dict[str, Any]:
    return {"RoleName": role, "PolicyName": name, "PolicyDocument": document}


def role_detail(name, role_id, trust_doc, created, inline=None, attached=None, boundary=None, account=ACCOUNT):
    """One ``RoleDetailList`` entry of ``get-account-authorization-details``."""
    detail: dict[str, Any] = {
        "Path": "/",
        "RoleName": name,
        "RoleId": role_id,
        "Arn": role_arn(name, account),
        "CreateDate": created,
        "AssumeRolePolicyDocument": trust_doc,
        "InstanceProfileList": [],
        "RolePolicyList": [{"PolicyName": n, "PolicyDocument": d} for n, d in (inline or {}).items()],
        "AttachedManagedPolicies": [{"PolicyName": a.rsplit("/", 1)[-1], "PolicyArn": a} for a in (attached or [])],
        "Tags": [],
        "RoleLastUsed": {},
    }
    if boundary:
        detail["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": boundary}
    return detail


def managed_policy(arn: str, versions: list[tuple[str, Any, str]], default: str, attachments: int = 1):
    """One ``Policies`` entry of ``get-account-authorization-details``: (version id, document, created)."""
    name = arn.rsplit("/", 1)[-1]
    path = "/" + arn.split(":policy/", 1)[1].rsplit("/", 1)[0] + "/" if arn.count("/") > 1 else "/"
    return {
        "PolicyName": name,
        "PolicyId": "ANPA" + uuid.uuid5(uuid.NAMESPACE_URL, arn).hex[:17].upper(),
        "Arn": arn,
        "Path": path,
        "DefaultVersionId": default,
        "AttachmentCount": attachments,
        "PermissionsBoundaryUsageCount": 0,
        "IsAttachable": True,
        "CreateDate": versions[0][2],
        "UpdateDate": versions[-1][2],
        "PolicyVersionList": [
            {"Document": doc, "VersionId": vid, "IsDefaultVersion": vid == default, "CreateDate": created}
            for vid, doc, created in versions
        ],
    }


def authorization_details(roles: list[dict[str, Any]], policies: list[dict[str, Any]] | None = None):
    return {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": roles, "Policies": policies or []}


def log_groups(*groups: dict[str, Any]) -> dict[str, Any]:
    return {"logGroups": list(groups)}


def log_group(name: str, created: datetime, kms_key: str | None = None, region: str = REGION) -> dict[str, Any]:
    group: dict[str, Any] = {
        "logGroupName": name,
        "creationTime": epoch_ms(created),
        "retentionInDays": 90,
        "metricFilterCount": 0,
        "arn": log_group_arn(name, region) + ":*",
        "storedBytes": 48213377,
    }
    if kms_key:
        group["kmsKeyId"] = kms_key
    group["logGroupClass"] = "STANDARD"
    group["logGroupArn"] = log_group_arn(name, region)
    return group


def log_stream(log_group: str, eni: str, created: datetime, first: datetime, last: datetime) -> dict[str, Any]:
    name = f"{eni}-all"
    return {
        "logStreamName": name,
        "creationTime": epoch_ms(created),
        "firstEventTimestamp": epoch_ms(first),
        "lastEventTimestamp": epoch_ms(last),
        "lastIngestionTime": epoch_ms(last + timedelta(minutes=1, seconds=7)),
        "uploadSequenceToken": "49654796026243824240318171692305216662718669063406487010",
        "arn": f"{log_group_arn(log_group)}:log-stream:{name}",
        "storedBytes": 0,
    }


def metric_data(points: list[tuple[datetime, float]], offset_hours: int = 0, label: str = "IncomingLogEvents"):
    """``aws cloudwatch get-metric-data`` output: newest first (the default ``TimestampDescending``)."""
    points = sorted(points, reverse=True)
    return {
        "MetricDataResults": [
            {
                "Id": "incoming",
                "Label": label,
                "Timestamps": [cli_time(p[0], offset_hours) for p in points],
                "Values": [p[1] for p in points],
                "StatusCode": "Complete",
            }
        ],
        "Messages": [],
    }


def every_minute(start: datetime, end: datetime, value: float = 1840.0) -> list[tuple[datetime, float]]:
    """One datapoint a minute in ``[start, end]`` (60-second periods)."""
    points = []
    moment = start
    while moment <= end:
        points.append((moment, value + (moment.minute % 7) * 13))
        moment += timedelta(minutes=1)
    return points


def alarm(name: str, log_group: str, state: str, since: datetime, region: str = REGION) -> dict[str, Any]:
    return {
        "AlarmName": name,
        "AlarmArn": f"arn:aws:cloudwatch:{region}:{ACCOUNT}:alarm:{name}",
        "AlarmDescription": "VPC flow logs stopped arriving",
        "AlarmConfigurationUpdatedTimestamp": "2024-04-02T08:30:12.551000+00:00",
        "ActionsEnabled": True,
        "OKActions": [],
        "AlarmActions": [f"arn:aws:sns:{region}:{ACCOUNT}:secops-paging"],
        "InsufficientDataActions": [],
        "StateValue": state,
        "StateReason": "Threshold Crossed: 1 datapoint [0.0] was less than the threshold (1.0)."
        if state == "ALARM" else "Threshold Crossed: 1 datapoint [9211.0] was not less than the threshold (1.0).",
        "StateUpdatedTimestamp": cli_time(since),
        "MetricName": "IncomingLogEvents",
        "Namespace": "AWS/Logs",
        "Statistic": "Sum",
        "Dimensions": [{"Name": "LogGroupName", "Value": log_group}],
        "Period": 300,
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "LessThanThreshold",
        "TreatMissingData": "breaching",
        "StateTransitionedTimestamp": cli_time(since),
    }


def alarm_history(name: str, transitions: list[tuple[datetime, str, str]]) -> dict[str, Any]:
    items = []
    for when, old, new in sorted(transitions, reverse=True):
        data = {
            "version": "1.0",
            "oldState": {"stateValue": old},
            "newState": {"stateValue": new, "stateReason": f"Threshold Crossed ({new})"},
        }
        items.append(
            {
                "AlarmName": name,
                "AlarmType": "MetricAlarm",
                "Timestamp": cli_time(when),
                "HistoryItemType": "StateUpdate",
                "HistorySummary": f"Alarm updated from {old} to {new}",
                "HistoryData": json.dumps(data),
            }
        )
    return {"AlarmHistoryItems": items}
