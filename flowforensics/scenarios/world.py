"""Play an :class:`~flowforensics.scenarios.model.Incident` on a simulated account and write its evidence.

The account starts healthy (a VPC flow log delivering to CloudWatch Logs through its role), the
shared setup and the incident's steps run through :data:`ACTIONS` (each mutates the account and
records its CloudTrail event), then the delivery path is replayed on a 5-minute grid: the flow-logs
service refreshes its role session every hour and delivers each ENI's batch every 5 minutes; failed
deliveries leave the CloudTrail traces of :data:`SYMPTOMS`. Everything is drawn from one generator
seeded by the scenario's name, and the collection clock is fixed, so a folder is reproducible byte
for byte.
"""

from __future__ import annotations

import json
import os
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flowforensics.evidence.manifest import EvidenceWriter
from flowforensics.evidence.values import iso
from flowforensics.scenarios import aws_shapes as shapes
from flowforensics.scenarios.cloudtrail import (
    GLOBAL_REGION,
    Actor,
    Trail,
    aws_id,
    event_uuid,
    lookup_pages,
    s3_log_files,
)
from flowforensics.scenarios.incidents import (
    ACCOUNT,
    ACTORS,
    BASE_TIME,
    COLLECTOR,
    NOISE,
    ORGANIZATION_ID,
    SETUP,
    SETUP_BEFORE,
    seed_account,
)
from flowforensics.scenarios.model import Expected, Incident, Step

PERIOD = timedelta(minutes=5)  # flow logs deliver (and the metric is read) every 5 minutes
SESSION_CYCLES = 12  # the service assumes its role again every 12 deliveries (1 hour)
HISTORY_WINDOW = timedelta(hours=6)  # background activity, metrics and alarm history before the anchor
ALARM_EVALUATION_DELAY = timedelta(seconds=70)
LOOKUP_REACH = timedelta(days=90)  # how far back LookupEvents reaches
FLOW_LOGS_SERVICE = "vpc-flow-logs.amazonaws.com"


@dataclass
class World:
    """The simulated account: its resources as dicts (the shapes in ``aws_shapes`` read them)."""

    incident: Incident
    rng: random.Random
    anchor: datetime
    trail: Trail
    role: dict[str, Any]
    other_roles: list[dict[str, Any]]
    policies: dict[str, dict[str, Any]]
    log_group: dict[str, Any]
    flow_log: dict[str, Any]
    key: dict[str, Any]
    scps: dict[str, dict[str, Any]]
    enis: list[str]
    eni_offsets: list[timedelta]
    role_ids: list[tuple[datetime, str]] = field(default_factory=list)
    parts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    account: str = ACCOUNT

    @property
    def region(self) -> str:
        """The flow log's region."""
        return self.incident.region

    def role_id_at(self, moment: datetime) -> str:
        """The delivery role's id at a moment (it changes when the role is recreated)."""
        current = self.role_ids[0][1]
        for since, role_id in self.role_ids:
            if since <= moment:
                current = role_id
        return current

    def call(self, when: datetime, actor: Actor, source: str, name: str, request: Any = None,
             response: Any = None, **kwargs: Any) -> dict[str, Any]:
        """Record a call in the flow log's region (global services land in us-east-1 by themselves)."""
        return self.trail.call(when, actor, source, name, self.region, request, response, **kwargs)


def _resolve(value: Any, world: World) -> Any:
    return value(world) if callable(value) else value


def _policy_text(actor: Actor, document: dict[str, Any]) -> str:
    # Terraform sends minified JSON; the CLI and the console send what the user wrote.
    if "Terraform" in actor.user_agent:
        return json.dumps(document, separators=(",", ":"))
    return json.dumps(document, indent=4)


def _iam_response_date(moment: datetime) -> str:
    # IAM responseElements write dates as "Mar 12, 2024 9:41:02 AM".
    return f"{moment:%b} {moment.day}, {moment.year} {int(moment.strftime('%I'))}:{moment:%M:%S %p}"


def _sts_expiration(moment: datetime) -> str:
    # STS responseElements: "Jun 2, 2024, 10:37:12 PM".
    return f"{moment:%b} {moment.day}, {moment.year}, {int(moment.strftime('%I'))}:{moment:%M:%S %p}"


def _role_target(world: World, params: dict[str, Any]) -> dict[str, Any]:
    name = params.get("role")
    if name is None:
        return world.role
    return next(r for r in world.other_roles if r["name"] == name)


# --- actions: each mutates the world and records its CloudTrail event -------------------------------


def _put_role_policy(w: World, when: datetime, actor: Actor, p: dict[str, Any]) -> dict[str, Any]:
    role = _role_target(w, p)
    document = _resolve(p["document"], w)
    role["inline"][p["policy_name"]] = document
    request = {"roleName": role["name"], "policyName": p["policy_name"], "policyDocument": _policy_text(actor, document)}
    return w.call(when, actor, "iam.amazonaws.com", "PutRolePolicy", request)


def _delete_role_policy(w: World, when: datetime, actor: Actor, p: dict[str, Any]) -> dict[str, Any]:
    role = _role_target(w, p)
    role["inline"].pop(p["policy_name"])
    return w.call(when, actor, "iam.amazonaws.com", "DeleteRolePolicy",
                  {"roleName": role["name"], "policyName": p["policy_name"]})


def _update_assume_role_policy(w: World, when: datetime, actor: Actor, p: dict[str, Any]) -> dict[str, Any]:
    document = _resolve(p["document"], w)
    w.role["trust"] = document
    return w.call(when, actor, "iam.amazonaws.com", "UpdateAssumeRolePolicy",
                  {"roleName": w.role["name"], "policyDocument": _policy_text(actor, document)})


def _put_role_permissions_boundary(w: World, when: datetime, actor: Actor, p: dict[str, Any]) -> dict[str, Any]:
    policy = w.policies[p["policy"]]
    w.role["boundary"] = policy["arn"]
    policy["boundary_uses"] += 1
    return w.call(when, actor, "iam.amazonaws.com", "PutRolePermissionsBoundary",
                  {"roleName": w.role["name"], "permissionsBoundary": policy["arn"]})


def _create_policy(w: World, when: datetime, actor: Actor, p: dict[str, Any]) -> dict[str, Any]:
    document = _resolve(p["document"], w)
    arn = f"arn:aws:iam::{w.account}:policy/{p['name']}"
    policy = {
        "name": p["name"], "arn": arn, "id": aws_id("ANPA", arn), "attachments": 0, "boundary_uses": 0,
        "default_version": "v1", "versions": [{"id": "v1", "document": document, "created": when}],
    }
    w.policies[p["policy"]] = policy
    response = {"policy": {
        "policyName": p["name"], "policyId": policy["id"], "arn": arn, "path": "/", "defaultVersionId": "v1",
        "attachmentCount": 0, "permissionsBoundaryUsageCount": 0, "isAttachable": True,
        "createDate": _iam_response_date(when), "updateDate": _iam_response_date(when),
    }}
    request = {"policyName": p["name"], "policyDocument": _policy_text(actor, document),
               "description": p.get("description", "")}
    return w.call(when, actor, "iam.amazonaws.com", "CreatePolicy", request, response)


def _create_policy_version(w: World, when: datetime, actor: Actor, p: dict[str, Any]) -> dict[str, Any]:
    policy = w.policies[p["policy"]]
    document = _resolve(p["document"], w)
    version = f"v{len(policy['versions']) + 1}"
    policy["versions"].append({"id": version, "document": document, "created": when})
    policy["default_version"] = version
    request = {"policyArn": policy["arn"], "policyDocument": _policy_text(actor, document), "setAsDefault": True}
    response = {"policyVersion": {"versionId": version, "isDefaultVersion": True, "createDate": _iam_response_date(when)}}
    return w.call(when, actor, "iam.amazonaws.com", "CreatePolicyVersion", request, response)


def _attach_role_policy(w: World, when: datetime, actor: Actor, p: dict[str, Any]) -> dict[str, Any]:
    policy = w.policies[p["policy"]]
    w.role["attached"].append(policy["arn"])
    policy["attachments"] += 1
    return w.call(when, actor, "iam.amazonaws.com", "AttachRolePolicy",
                  {"roleName": w.role["name"], "policyArn": policy["arn"]})


def _create_role(w: World, when: datetime, actor: Actor, p: dict[str, Any]) -> dict[str, Any]:
    trust = _resolve(p["trust"], w)
    role_id = aws_id("AROA", w.account, w.role["name"], iso(when) or "")
    w.role.update(exists=True, id=role_id, created=when, trust=trust, inline={}, attached=[], boundary=None,
                  description=p.get("description", ""))
    w.role_ids.append((when, role_id))
    text = _policy_text(actor, trust)
    response = {"role": {
        "path": "/", "roleName": w.role["name"], "roleId": role_id, "arn": w.role["arn"],
        "createDate": _iam_response_date(when), "assumeRolePolicyDocument": quote(text, safe=""),
    }}
    request = {"roleName": w.role["name"], "assumeRolePolicyDocument": text, "description": p.get("description", "")}
    return w.call(when, actor, "iam.amazonaws.com", "CreateRole", request, response)


def _delete_role(w: World, when: datetime, actor: Actor, p: dict[str, Any]) -> dict[str, Any]:
    w.role["exists"] = False
    return w.call(when, actor, "iam.amazonaws.com", "DeleteRole", {"roleName": w.role["name"]})


def _create_log_group(w: World, when: datetime, actor: Actor, p: dict[str, Any]) -> dict[str, Any]:
    w.log_group.update(exists=True, created=when)
    return w.call(when, actor, "logs.amazonaws.com", "CreateLogGroup", {"logGroupName": w.log_group["name"]})


def _put_retention_policy(w: World, when: datetime, actor: Actor, p: dict[str, Any]) -> dict[str, Any]:
    w.log_group["retention"] = p["days"]
    return w.call(when, actor, "logs.amazonaws.com", "PutRetentionPolicy",
                  {"logGroupName": w.log_group["name"], "retentionInDays": p["days"]})


def _delete_log_group(w: World, when: datetime, actor: Actor, p: dict[str, Any]) -> dict[str, Any]:
    w.log_group["exists"] = False
    return w.call(when, actor, "logs.amazonaws.com", "DeleteLogGroup", {"logGroupName": w.log_group["name"]})


def _associate_kms_key(w: World, when: datetime, actor: Actor, p: dict[str, Any]) -> dict[str, Any]:
    w.log_group["kms_key"] = w.key["arn"]
    return w.call(when, actor, "logs.amazonaws.com", "AssociateKmsKey",
                  {"logGroupName": w.log_group["name"], "kmsKeyId": w.key["arn"]})


def _put_key_policy(w: World, when: datetime, actor: Actor, p: dict[str, Any]) -> dict[str, Any]:
    w.key["policy"] = _resolve(p["document"], w)
    request = {"keyId": w.key["id"], "policyName": "default", "policy": json.dumps(w.key["policy"], indent=4),
               "bypassPolicyLockoutSafetyCheck": False}
    resources = [{"accountId": w.account, "type": "AWS::KMS::Key", "ARN": w.key["arn"]}]
    return w.call(when, actor, "kms.amazonaws.com", "PutKeyPolicy", request, resources=resources)


def _update_scp(w: World, when: datetime, actor: Actor, p: dict[str, Any]) -> dict[str, Any]:
    scp = w.scps[p["scp"]]
    scp["content"] = _resolve(p["document"], w)
    content = json.dumps(scp["content"], separators=(",", ":"))
    response = {"policy": {
        "policySummary": {"id": scp["id"], "arn": scp["arn"], "name": scp["name"], "description": scp["description"],
                          "type": "SERVICE_CONTROL_POLICY", "awsManaged": False},
        "content": content,
    }}
    return w.call(when, actor, "organizations.amazonaws.com", "UpdatePolicy",
                  {"policyId": scp["id"], "content": content}, response)


def _create_flow_logs(w: World, when: datetime, actor: Actor, p: dict[str, Any]) -> dict[str, Any]:
    fl = w.flow_log
    fl.update(exists=True, created=when)
    request = {"CreateFlowLogsRequest": {
        "ResourceId": {"content": fl["resource_id"], "tag": 1},
        "ResourceType": "VPC",
        "TrafficType": "ALL",
        "LogDestinationType": "cloud-watch-logs",
        # Terraform's aws_flow_log with log_destination = the log group's ARN sends LogDestination only.
        **({"LogDestination": fl["log_group_arn"]} if w.incident.destination == "arn" else {"LogGroupName": fl["log_group"]}),
        "DeliverLogsPermissionArn": fl["role_arn"],
        "MaxAggregationInterval": 600,
        "TagSpecification": {"ResourceType": "vpc-flow-log", "tag": 1, "Tag": [
            {"Key": k, "Value": v, "tag": i + 1} for i, (k, v) in enumerate(fl["tags"].items())
        ]},
    }}
    record = w.call(when, actor, "ec2.amazonaws.com", "CreateFlowLogs", request)
    record["responseElements"] = {"CreateFlowLogsResponse": {
        "clientToken": aws_id("", fl["id"], "token", length=32).lower(),
        "flowLogIdSet": {"item": fl["id"]},
        "requestId": record["requestID"],
        "unsuccessful": "",
        "xmlns": shapes.EC2_XMLNS,
    }}
    return record


def _delete_flow_logs(w: World, when: datetime, actor: Actor, p: dict[str, Any]) -> dict[str, Any]:
    w.flow_log["exists"] = False
    request = {"DeleteFlowLogsRequest": {"FlowLogId": {"content": w.flow_log["id"], "tag": 1}}}
    record = w.call(when, actor, "ec2.amazonaws.com", "DeleteFlowLogs", request)
    record["responseElements"] = {"DeleteFlowLogsResponse": {
        "requestId": record["requestID"], "unsuccessful": "", "xmlns": shapes.EC2_XMLNS,
    }}
    return record


def _describe_flow_logs(w: World, when: datetime, actor: Actor, p: dict[str, Any]) -> dict[str, Any]:
    return w.call(when, actor, "ec2.amazonaws.com", "DescribeFlowLogs", {"DescribeFlowLogsRequest": ""},
                  read_only=True)


ACTIONS: dict[str, Callable[[World, datetime, Actor, dict[str, Any]], dict[str, Any]]] = {
    "put-role-policy": _put_role_policy,
    "delete-role-policy": _delete_role_policy,
    "update-assume-role-policy": _update_assume_role_policy,
    "put-role-permissions-boundary": _put_role_permissions_boundary,
    "create-policy": _create_policy,
    "create-policy-version": _create_policy_version,
    "attach-role-policy": _attach_role_policy,
    "create-role": _create_role,
    "delete-role": _delete_role,
    "create-log-group": _create_log_group,
    "put-retention-policy": _put_retention_policy,
    "delete-log-group": _delete_log_group,
    "associate-kms-key": _associate_kms_key,
    "put-key-policy": _put_key_policy,
    "update-scp": _update_scp,
    "create-flow-logs": _create_flow_logs,
    "delete-flow-logs": _delete_flow_logs,
    "describe-flow-logs": _describe_flow_logs,
}

# --- what a failed delivery leaves in CloudTrail ------------------------------------------------------

_NOT_AUTHORIZED = "User: {principal} is not authorized to perform: {action} on resource: {resource} "
# symptom -> the calls that fail at each failed delivery: (call, errorCode, errorMessage template)
SYMPTOMS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "identity": (("create-log-stream", "AccessDenied",
                  _NOT_AUTHORIZED + "because no identity-based policy allows the {action} action"),),
    "identity-deny": (("create-log-stream", "AccessDenied",
                       _NOT_AUTHORIZED + "with an explicit deny in an identity-based policy"),),
    "boundary": (("create-log-stream", "AccessDenied",
                  _NOT_AUTHORIZED + "because no permissions boundary allows the {action} action"),),
    "scp": (("create-log-stream", "AccessDenied", _NOT_AUTHORIZED + "with an explicit deny in a service control policy"),),
    "assume": (("assume-role", "AccessDenied", "Not authorized to perform sts:AssumeRole"),),
    "log-group-missing": (
        ("create-log-stream", "ResourceNotFoundException", "The specified log group does not exist."),
        ("create-log-group", "AccessDenied", _NOT_AUTHORIZED + "because no identity-based policy allows the {action} action"),
    ),
    "kms": (("generate-data-key", "AccessDeniedException",
             _NOT_AUTHORIZED + "because no resource-based policy allows the {action} action"),),
}


@dataclass
class Delivery:
    """The delivery path over the window: when it failed, stopped and resumed."""

    attempts: list[tuple[datetime, int]]  # (time, ENI index), oldest first
    refreshes: list[datetime]
    failure_started: datetime | None
    stopped: datetime | None
    resumed: datetime | None

    def delivered(self, moment: datetime) -> bool:
        """Whether a delivery attempt at ``moment`` reached CloudWatch Logs."""
        if self.stopped is not None and moment >= self.stopped:
            return False
        if self.failure_started is None or moment < self.failure_started:
            return True
        return self.resumed is not None and moment >= self.resumed


@dataclass
class Simulation:
    """A played incident: the account at collection time, its CloudTrail, delivery and expectations."""

    incident: Incident
    world: World
    collected: datetime
    delivery: Delivery
    records: list[dict[str, Any]]
    expected: Expected


def _seed(name: str) -> random.Random:
    # crc32, not hash(): the same seed in every process.
    return random.Random(zlib.crc32(name.encode()))


def _hex(rng: random.Random, length: int = 17) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(length))


def _build_world(incident: Incident, rng: random.Random) -> World:
    anchor = BASE_TIME + timedelta(days=rng.randint(0, 20), hours=rng.randint(0, 8), minutes=rng.randint(0, 59),
                                   seconds=rng.randint(0, 59))
    resources = seed_account(incident, rng)
    enis = [f"eni-{_hex(rng)}" for _ in range(3)]
    offsets = sorted(timedelta(seconds=rng.randint(15, 240)) for _ in enis)
    key_id = event_uuid(rng)  # KMS key ids are uuid4s
    resources["key"].update(id=key_id, arn=f"arn:aws:kms:{incident.region}:{ACCOUNT}:key/{key_id}")
    resources["flow_log"].update(id=f"fl-{_hex(rng)}", resource_id=f"vpc-{_hex(rng)}")
    world = World(incident=incident, rng=rng, anchor=anchor, trail=Trail(ACCOUNT, rng), enis=enis,
                  eni_offsets=offsets, **resources)
    world.key["policy"] = _resolve(world.key["policy"], world)
    return world


def _step_times(world: World, steps: tuple[Step, ...], start: datetime) -> list[datetime]:
    times, previous = [], None
    for step in steps:
        moment = start + step.after + timedelta(seconds=world.rng.randint(0, 9))
        if previous is not None and moment <= previous:
            moment = previous + timedelta(seconds=2)
        times.append(moment)
        previous = moment
    return times


def _run_steps(world: World, steps: tuple[Step, ...], start: datetime) -> None:
    for step, moment in zip(steps, _step_times(world, steps, start), strict=True):
        record = ACTIONS[step.action](world, moment, ACTORS[step.actor], dict(step.params))
        if step.part:
            world.parts.setdefault(step.part, []).append(record)


def _attempts(world: World, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    grid = shapes.five_minute_grid(start, end)
    return sorted((t + off, i) for t in grid for i, off in enumerate(world.eni_offsets) if t + off < end)


def _plan_delivery(world: World, collected: datetime) -> Delivery:
    incident = world.incident
    start = world.anchor - HISTORY_WINDOW
    attempts = _attempts(world, start, collected)
    first = [t for t, i in attempts if i == 0]
    trigger = world.parts.get("trigger", [None])[0]
    trigger_time = datetime.fromisoformat(trigger["eventTime"]) if trigger else None
    # The session in use at the trigger runs out `session_left` later: refreshes fall on that grid.
    target = (trigger_time or world.anchor) + incident.session_left
    # (A latent incident is collected before that: the grid past collection keeps the same phase.)
    phase_index = next((k for k, t in enumerate(first) if t >= target - PERIOD), len(first))
    refreshes = first[phase_index % SESSION_CYCLES :: SESSION_CYCLES]
    failure = stopped = resumed = None
    if incident.breaks == "request":
        failure = next(t for t, _ in attempts if t >= trigger_time + incident.propagation)
    elif incident.breaks == "session":
        failure = next(t for t in refreshes if t >= trigger_time)
    elif incident.breaks == "spontaneous":
        failure = next(t for t, _ in attempts if t >= world.anchor + incident.failure_after)
    elif incident.breaks == "stop":
        stopped = trigger_time
    recovery = world.parts.get("recovery", [None])[0]
    if recovery and failure:
        lag = timedelta(seconds=world.rng.randint(incident.resume_lag[0] * 60, incident.resume_lag[1] * 60))
        resumed = datetime.fromisoformat(recovery["eventTime"]) + lag
    return Delivery(attempts, refreshes, failure, stopped, resumed)


def _delivery_actor(world: World) -> Actor:
    return Actor("AssumedRole", world.role["name"], session=world.flow_log["id"], invoked_by=FLOW_LOGS_SERVICE)


def _failed_call(world: World, delivery: Delivery, moment: datetime, eni: int, call: tuple[str, str, str]) -> None:
    kind, code, template = call
    service = ACTORS["flow-logs-service"]
    if kind == "assume-role":
        request = {"roleArn": world.role["arn"], "roleSessionName": world.flow_log["id"]}
        resources = [{"accountId": world.account, "type": "AWS::IAM::Role", "ARN": world.role["arn"]}]
        world.call(moment, service, "sts.amazonaws.com", "AssumeRole", request, error=(code, template),
                   read_only=True, resources=resources, shared=True)
        return
    if kind == "generate-data-key":
        logs = ACTORS["logs-service"]
        message = template.format(principal=f"logs.{world.region}.amazonaws.com", action="kms:GenerateDataKey",
                                  resource=world.key["arn"])
        request = {"keyId": world.key["arn"], "keySpec": "AES_256",
                   "encryptionContext": {"aws:logs:arn": world.log_group["arn"]}}
        world.call(moment, logs, "kms.amazonaws.com", "GenerateDataKey", request, error=(code, message),
                   read_only=True, shared=True)
        return
    actor = _delivery_actor(world)
    session_start = max((t for t in delivery.refreshes if t <= moment), default=moment)
    stream = world.enis[eni]
    if kind == "create-log-stream":
        action, request = "logs:CreateLogStream", {"logGroupName": world.log_group["name"], "logStreamName": stream}
        resource, name = f"{world.log_group['arn']}:log-stream:{stream}", "CreateLogStream"
    else:
        action, request = "logs:CreateLogGroup", {"logGroupName": world.log_group["name"]}
        resource, name = f"{world.log_group['arn']}:log-stream:", "CreateLogGroup"
    message = template.format(principal=actor.arn(world.account), action=action, resource=resource)
    world.call(moment, actor, "logs.amazonaws.com", name, request, error=(code, message),
               role_id=world.role_id_at(session_start), issued=session_start)


def _replay_delivery(world: World, delivery: Delivery) -> None:
    incident = world.incident
    service = ACTORS["flow-logs-service"]
    failing_refresh = next((t for t in delivery.refreshes if delivery.failure_started and t >= delivery.failure_started),
                           None)

    def symptom_at(moment: datetime) -> str:
        if incident.symptom_after_refresh and failing_refresh and moment >= failing_refresh:
            return incident.symptom_after_refresh
        return incident.symptom

    failed = [(t, i) for t, i in delivery.attempts if not delivery.delivered(t)
              and (delivery.stopped is None or t < delivery.stopped)]
    # The first failed delivery, then one failed call per 5-minute cycle (the service backs off
    # between retries), naming the ENIs in turn.
    cycles = [t for t, i in failed[1:] if i == 0]
    reported = failed[:1] + [(t, k % len(world.enis)) for k, t in enumerate(cycles)]
    for moment, eni in reported:
        for call in SYMPTOMS.get(symptom_at(moment), ()):
            _failed_call(world, delivery, moment, eni, call)
    for moment in delivery.refreshes:
        broken = not delivery.delivered(moment) and symptom_at(moment) == "assume"
        if broken or (delivery.stopped is not None and moment >= delivery.stopped):
            continue
        role_id = world.role_id_at(moment)
        session_arn = f"arn:aws:sts::{world.account}:assumed-role/{world.role['name']}/{world.flow_log['id']}"
        response = {
            "credentials": {
                "accessKeyId": aws_id("ASIA", world.account, iso(moment) or "", length=16),
                "sessionToken": aws_id("IQoJb3JpZ2luX2VjE", iso(moment) or "", length=40),
                "expiration": _sts_expiration(moment + timedelta(hours=1)),
            },
            "assumedRoleUser": {"assumedRoleId": f"{role_id}:{world.flow_log['id']}", "arn": session_arn},
        }
        request = {"roleArn": world.role["arn"], "roleSessionName": world.flow_log["id"]}
        resources = [{"accountId": world.account, "type": "AWS::IAM::Role", "ARN": world.role["arn"]}]
        world.call(moment, service, "sts.amazonaws.com", "AssumeRole", request, response, read_only=True,
                   resources=resources, shared=True)
        world.role["last_used"], world.role["last_used_region"] = moment, world.region


def _background(world: World, collected: datetime) -> None:
    start = world.anchor - HISTORY_WINDOW
    seconds = int((collected - start).total_seconds())
    for _ in range(seconds // 240):
        moment = start + timedelta(seconds=world.rng.randint(0, seconds - 1))
        template = NOISE[world.rng.randrange(len(NOISE))]
        actor_key, source, name, read_only, request = template
        # ListBuckets goes to S3's global endpoint, logged in us-east-1.
        region = GLOBAL_REGION if name == "ListBuckets" else world.region
        world.trail.call(moment, ACTORS[actor_key], source, name, region, _resolve(request, world),
                         read_only=read_only)


def _expected(world: World, delivery: Delivery, collected: datetime) -> Expected:
    def ref(part: str) -> dict[str, Any] | None:
        return world.parts.get(part, [None])[0]

    trigger, recovery = ref("trigger"), ref("recovery")
    if world.incident.trail == "none":  # no CloudTrail is collected: no event can be named
        trigger = recovery = None
    if not world.flow_log["exists"]:
        status = "DELETED"
    elif delivery.failure_started and not (delivery.resumed and delivery.resumed <= collected):
        status = "FAILED"
    else:
        status = "SUCCESS"
    if status != "SUCCESS":
        state = "failing"
    elif world.incident.breaks == "latent":
        state = "at-risk"
    else:
        state = "recovered" if delivery.failure_started else "healthy"
    return Expected(
        flow_log_id=world.flow_log["id"],
        region=world.region,
        account_id=world.account,
        role_arn=world.role["arn"],
        log_group=world.log_group["name"],
        status=status,
        root_cause=world.incident.root_cause,
        failure_started=iso(delivery.failure_started),
        trigger_event_id=trigger["eventID"] if trigger else None,
        trigger_event_name=trigger["eventName"] if trigger else None,
        trigger_actor=ACTORS[_actor_of(world, "trigger")].arn(world.account) if trigger else None,
        recovery_event_id=recovery["eventID"] if recovery else None,
        recovery_event_name=recovery["eventName"] if recovery else None,
        delivery_resumed=iso(delivery.resumed),
        red_herring_event_ids=tuple(r["eventID"] for r in world.parts.get("red-herring", [])),
        state=state,
    )


def _actor_of(world: World, part: str) -> str:
    return next(step.actor for step in world.incident.steps if step.part == part)


def simulate(incident: Incident) -> Simulation:
    """Play an incident from its seed; the same incident always gives the same simulation."""
    rng = _seed(incident.name)
    world = _build_world(incident, rng)
    setup_start = world.anchor - SETUP_BEFORE
    _run_steps(world, SETUP, setup_start)
    _run_steps(world, incident.steps, world.anchor)
    collected = (world.anchor + incident.collect_after).replace(second=0, microsecond=0)
    delivery = _plan_delivery(world, collected)
    _replay_delivery(world, delivery)
    _background(world, collected)
    world.flow_log["status"] = "FAILED" if delivery.failure_started and not delivery.delivered(collected) else "SUCCESS"
    world.flow_log["error"] = incident.error_message if world.flow_log["status"] == "FAILED" else None
    return Simulation(incident, world, collected, delivery, world.trail.sorted_records(),
                      _expected(world, delivery, collected))


# --- evidence files -----------------------------------------------------------------------------------


def _streams(world: World, delivery: Delivery, collected: datetime) -> list[dict[str, Any]]:
    streams = []
    for index, (eni, offset) in enumerate(zip(world.enis, world.eni_offsets, strict=True)):
        delivered = [t for t, i in delivery.attempts if i == index and delivery.delivered(t)]
        if delivery.resumed and delivery.resumed <= collected:
            delivered.append(delivery.resumed)  # the backlog of every ENI goes out with the first delivery
        last = max(delivered)
        created = world.flow_log["created"] + timedelta(minutes=1) + offset
        streams.append({
            "name": eni,
            "created": created,
            "first_event": created - timedelta(minutes=9),
            "last_event": last - timedelta(seconds=75 + 31 * index),
            "last_ingestion": last,
        })
    return streams


def _metrics(world: World, delivery: Delivery, collected: datetime) -> tuple[list[datetime], list[float], list[float]]:
    grid = [t for t in shapes.five_minute_grid(world.anchor - HISTORY_WINDOW, collected) if t + PERIOD <= collected]
    events, sizes = [], []
    for bucket in grid:
        count = sum(world.rng.randint(380, 520) for t, _ in delivery.attempts
                    if bucket <= t < bucket + PERIOD and delivery.delivered(t))
        if delivery.resumed and bucket <= delivery.resumed < bucket + PERIOD:
            count += sum(world.rng.randint(380, 520) for _ in world.enis)
        events.append(float(count))
        sizes.append(float(count * world.rng.randint(88, 96)))
    return grid, events, sizes


def _alarm_state(state: str, points: list[tuple[datetime, float]], missing: bool, when: datetime) -> dict[str, Any]:
    def stamp(t: datetime) -> str:
        return t.strftime("%Y-%m-%dT%H:%M:%S.000+0000")

    if missing:
        reason = ("Threshold Crossed: no datapoints were received for 3 periods and 3 missing datapoints were "
                  "treated as [Breaching].")
    elif state == "ALARM":
        shown = ", ".join(f"{v:.1f} ({t:%d/%m/%y %H:%M:%S})" for t, v in reversed(points))
        reason = f"Threshold Crossed: {len(points)} datapoints [{shown}] were less than the threshold (1.0)."
    else:
        above = [(t, v) for t, v in reversed(points) if v >= 1.0]
        shown = ", ".join(f"{v:.1f} ({t:%d/%m/%y %H:%M:%S})" for t, v in above)
        verb = "was" if len(above) == 1 else "were"
        reason = (f"Threshold Crossed: {len(above)} out of the last {len(points)} datapoints [{shown}] {verb} "
                  "not less than the threshold (1.0) (minimum 1 datapoint for ALARM -> OK transition).")
    data = {
        "version": "1.0",
        "queryDate": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000",
        "startDate": stamp(points[0][0]),
        "statistic": "Sum",
        "period": 300,
        "recentDatapoints": [] if missing else [v for _, v in points],
        "threshold": 1.0,
        "evaluatedDatapoints": [{"timestamp": stamp(t), **({} if missing else {"sampleCount": 3.0, "value": v})}
                                for t, v in reversed(points)],
    }
    return {"stateValue": state, "stateReason": reason, "stateReasonData": data}


def _alarm(world: World, grid: list[datetime], events: list[float], collected: datetime) -> tuple[dict[str, Any], list]:
    name = f"vpc-flow-logs-{world.flow_log['resource_id']}-no-data"

    def window(end: int) -> list[tuple[datetime, float]]:
        return list(zip(grid[end - 3 : end], events[end - 3 : end], strict=True))

    # A flap hours before the incident: data reached CloudWatch late, so the alarm saw missing points
    # (breaching) although the metric, read later, has no gap. A red herring for the reader.
    flap_end = len(grid) // 6
    flap = grid[flap_end] + ALARM_EVALUATION_DELAY
    flap_alarm = _alarm_state("ALARM", [(t, 0.0) for t, _ in window(flap_end)], True, flap)
    recovered_at = flap + 2 * PERIOD
    state = _alarm_state("OK", window(flap_end + 3), False, recovered_at)
    transitions = [(flap, _alarm_state("OK", window(flap_end), False, flap), flap_alarm),
                   (recovered_at, flap_alarm, state)]
    for end in range(3, len(grid) + 1):
        points = window(end)
        new = "ALARM" if all(v < 1.0 for _, v in points) else "OK"
        when = grid[end - 1] + PERIOD + ALARM_EVALUATION_DELAY
        if new != state["stateValue"] and when <= collected and grid[end - 1] > recovered_at:
            changed = _alarm_state(new, points, False, when)
            transitions.append((when, state, changed))
            state = changed
    history = [shapes.alarm_history_item(name, when, old, new) for when, old, new in transitions]
    last_change = transitions[-1][0]
    spec = {
        "name": name,
        "arn": f"arn:aws:cloudwatch:{world.region}:{world.account}:alarm:{name}",
        "description": f"No VPC flow log records reached {world.log_group['name']} for 15 minutes.",
        "configured": world.flow_log["created"] + timedelta(minutes=6),
        "topic": f"arn:aws:sns:{world.region}:{world.account}:network-oncall",
        "state": state["stateValue"],
        "reason": state["stateReason"],
        "reason_data": state["stateReasonData"],
        "updated": last_change,
        "log_group": world.log_group["name"],
    }
    return spec, list(reversed(history))


def write(simulation: Simulation, folder: str | os.PathLike[str]) -> Path:
    """Write the simulation's evidence folder through :class:`EvidenceWriter`, with a fixed clock.

    Writing draws the metric values from the simulation's generator: write a simulation once (as
    :func:`flowforensics.scenarios.write_scenario` does, from a fresh one each time).
    """
    sim, world, incident = simulation, simulation.world, simulation.incident
    ticks = iter(range(10_000))

    def clock() -> datetime:
        return sim.collected + timedelta(seconds=next(ticks))

    writer = EvidenceWriter(folder, clock=clock)
    writer.set_caller_identity({
        "UserId": f"{aws_id('AROA', ACCOUNT, COLLECTOR.name)}:{COLLECTOR.session}",
        "Account": world.account,
        "Arn": COLLECTOR.arn(world.account),
    })
    region, account = world.region, world.account
    flow_logs = [world.flow_log] if world.flow_log["exists"] else []
    if not _refused(incident, "ec2:DescribeFlowLogs"):
        writer.write("ec2:DescribeFlowLogs", shapes.describe_flow_logs(flow_logs),
                     parameters={"FlowLogIds": [world.flow_log["id"]]}, region=region, account=account)
    roles = ([world.role] if world.role["exists"] else []) + world.other_roles
    if incident.iam_evidence == "authorization-details":
        writer.write("iam:GetAccountAuthorizationDetails",
                     shapes.account_authorization_details(roles, list(world.policies.values())),
                     parameters={"Filter": ["Role", "LocalManagedPolicy"]}, account=account)
    elif incident.iam_evidence == "get-role":
        writer.write("iam:GetRole", shapes.get_role(world.role), parameters={"RoleName": world.role["name"]},
                     account=account)
    groups = [world.log_group] if world.log_group["exists"] else []
    writer.write("logs:DescribeLogGroups", shapes.describe_log_groups(groups),
                 parameters={"logGroupNamePrefix": world.log_group["name"]}, region=region, account=account)
    stream_params = {"logGroupName": world.log_group["name"], "orderBy": "LastEventTime", "descending": True}
    if world.log_group["exists"]:
        writer.write("logs:DescribeLogStreams",
                     shapes.describe_log_streams(world.log_group["arn"], _streams(world, sim.delivery, sim.collected)),
                     parameters=stream_params, region=region, account=account)
    else:
        writer.record_gap("logs:DescribeLogStreams", error_code="ResourceNotFoundException",
                          error_message="The specified log group does not exist.", parameters=stream_params,
                          region=region, account=account)
    if incident.collect_key_policy:
        writer.write("kms:GetKeyPolicy", shapes.key_policy(world.key["policy"]),
                     parameters={"KeyId": world.key["arn"], "PolicyName": "default"}, region=region, account=account)
    grid, events, sizes = _metrics(world, sim.delivery, sim.collected)
    alarm, history = _alarm(world, grid, events, sim.collected)
    writer.write("cloudwatch:DescribeAlarms", {"MetricAlarms": [shapes.alarm(alarm)], "CompositeAlarms": []},
                 parameters={"AlarmNames": [alarm["name"]]}, region=region, account=account)
    window = {"StartDate": iso(world.anchor - HISTORY_WINDOW), "EndDate": iso(sim.collected)}
    writer.write("cloudwatch:DescribeAlarmHistory", {"AlarmHistoryItems": history},
                 parameters={"AlarmName": alarm["name"], "HistoryItemType": "StateUpdate", **window},
                 region=region, account=account)
    queries = [shapes.metric_query("incoming_log_events", "IncomingLogEvents", world.log_group["name"]),
               shapes.metric_query("incoming_bytes", "IncomingBytes", world.log_group["name"])]
    writer.write("cloudwatch:GetMetricData",
                 shapes.metric_data([("incoming_log_events", "IncomingLogEvents", grid, events),
                                     ("incoming_bytes", "IncomingBytes", grid, sizes)]),
                 parameters={"MetricDataQueries": queries, "StartTime": iso(grid[0]),
                             "EndTime": iso(grid[-1] + PERIOD), "ScanBy": "TimestampDescending"},
                 region=region, account=account)
    if incident.collect_scps:
        for scp in world.scps.values():
            writer.write("organizations:DescribePolicy", shapes.describe_policy(scp),
                         parameters={"PolicyId": scp["id"]}, account=account)
    for operation, gap_region, code, message in incident.gaps:
        message = message.format(role=world.role["name"], collector=COLLECTOR.arn(account))
        window = _unread_window(sim) if operation == "cloudtrail:LookupEvents" else None
        parameters = {"StartTime": iso(window[0]), "EndTime": iso(window[1]), "MaxResults": 50} if window else None
        if operation == "iam:GetRole":  # as the collector asks
            parameters = {"RoleName": world.role["name"]}
        writer.record_gap(operation, error_code=code, error_message=message, parameters=parameters,
                          region=region if gap_region == "home" else gap_region, account=account)
    _write_cloudtrail(writer, sim)
    writer.close()
    return Path(folder)


def _refused(incident: Incident, operation: str) -> bool:
    """Whether collection could not read ``operation`` at all (it has a gap and no evidence file)."""
    return any(gap[0] == operation for gap in incident.gaps)


def _unread_window(sim: Simulation) -> tuple[datetime, datetime] | None:
    """The times the LookupEvents gaps leave unread, when they cover only a window (``gap_window``)."""
    if sim.incident.gap_window is None:
        return None
    low, high = sim.incident.gap_window
    return sim.world.anchor + low, sim.world.anchor + high


def _lookup_windows(sim: Simulation, region: str, refused: set[str]) -> list[tuple[datetime, datetime]]:
    """The windows LookupEvents was read over in ``region``: all of it, none (refused), or around the unread one."""
    start, end = sim.collected - LOOKUP_REACH, sim.collected
    if region not in refused:
        return [(start, end)]
    unread = _unread_window(sim)
    return [] if unread is None else [(start, unread[0]), (unread[1], end)]


def _write_cloudtrail(writer: EvidenceWriter, sim: Simulation) -> None:
    world, incident = sim.world, sim.incident
    own = [r for r in sim.records if r["recipientAccountId"] == world.account]
    if incident.trail in ("lookup", "both"):
        refused = {world.region if region == "home" else region
                   for operation, region, _code, _message in incident.gaps if operation == "cloudtrail:LookupEvents"}
        for region in sorted({r["awsRegion"] for r in own}):
            for start, end in _lookup_windows(sim, region, refused):
                for read_only in ("false", "true"):
                    chosen = [r for r in own if r["awsRegion"] == region and str(r["readOnly"]).lower() == read_only
                              and start <= datetime.fromisoformat(r["eventTime"]) < end]
                    attributes = [{"AttributeKey": "ReadOnly", "AttributeValue": read_only}]
                    token = None
                    for page in lookup_pages(chosen, world.rng):
                        parameters: dict[str, Any] = {"LookupAttributes": attributes, "StartTime": iso(start),
                                                      "EndTime": iso(end), "MaxResults": 50}
                        if token:
                            parameters["NextToken"] = token
                        token = page.get("NextToken")
                        writer.write("cloudtrail:LookupEvents", page, parameters=parameters, region=region,
                                     account=world.account)
    if incident.trail in ("s3", "both"):
        # With lookups as well, the bucket was read only around the incident: those events come twice.
        since = world.anchor - timedelta(hours=2) if incident.trail == "both" else None
        chosen = [r for r in sim.records if since is None or datetime.fromisoformat(r["eventTime"]) >= since]
        bucket = f"org-cloudtrail-{world.account}" if incident.organization_trail else f"cloudtrail-{world.account}"
        for key, body in s3_log_files(chosen, world.rng,
                                      organization_id=ORGANIZATION_ID if incident.organization_trail else None):
            writer.write("s3:GetObject", body, parameters={"Bucket": bucket, "Key": key},
                         region=key.split("/CloudTrail/")[1].split("/")[0], account=world.account,
                         name=f"cloudtrail/s3/{key}")
