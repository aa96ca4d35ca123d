"""CloudTrail records as AWS writes them, and the two forms they reach an analyst in.

A record is built by :meth:`Trail.call` from an :class:`Actor` (who), a service, an operation and
its parameters; the field order, ``userIdentity`` blocks, ``tlsDetails`` and ids follow real records
(see the stratus-red-team and panther samples in ``tests/data/cloudtrail-samples``). Records then
leave as ``cloudtrail lookup-events`` pages (:func:`lookup_pages`) or as the gzipped log files
CloudTrail delivers to S3 (:func:`s3_log_files`).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import string
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flowforensics.evidence.values import iso

GLOBAL_REGION = "us-east-1"  # IAM, Organizations and other global services log here
LOOKUP_PAGE_SIZE = 50  # LookupEvents' MaxResults ceiling
S3_DELIVERY_DELAY = timedelta(minutes=4)  # CloudTrail delivers a file a few minutes after its events

# Services whose calls are logged in us-east-1 whatever the caller's region.
GLOBAL_SOURCES = frozenset({"iam.amazonaws.com", "organizations.amazonaws.com"})

# requestParameters keys -> the lookup-events ``Resources`` they name.
_RESOURCE_KEYS = (
    ("roleName", "AWS::IAM::Role"),
    ("policyArn", "AWS::IAM::Policy"),
    ("permissionsBoundary", "AWS::IAM::Policy"),
    ("logGroupName", "AWS::Logs::LogGroup"),
    ("keyId", "AWS::KMS::Key"),
    ("policyId", "AWS::Organizations::Policy"),
    ("functionName", "AWS::Lambda::Function"),
    ("bucketName", "AWS::S3::Bucket"),
)


def aws_id(prefix: str, *parts: str, length: int = 17) -> str:
    """A stable AWS-style unique id (``AROA...``, ``AKIA...``) derived from names, not from chance."""
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    alphabet = string.ascii_uppercase + "234567"
    return prefix + "".join(alphabet[b % len(alphabet)] for b in digest[:length])


def event_uuid(rng: random.Random) -> str:
    """A uuid4 drawn from the scenario's seeded generator (eventID, requestID, sharedEventID)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass(frozen=True)
class Actor:
    """Who makes calls: an IAM user, a role session (human, pipeline or workload) or an AWS service.

    Parameters
    ----------
    kind : str
        ``IAMUser``, ``AssumedRole`` or ``AWSService`` (the CloudTrail ``userIdentity.type``).
    name : str
        The user name, the role name, or the service principal.
    session : str
        The role session name (``AssumedRole`` only).
    user_agent, source_ip : str
        As CloudTrail records them.
    role_path : str
        The role's path, e.g. ``/aws-reserved/sso.amazonaws.com/`` for IAM Identity Center roles.
    account : str, optional
        Another account than the incident's (an Organizations management account).
    invoked_by : str, optional
        The service acting with a role session (``userIdentity.invokedBy``).
    """

    kind: str
    name: str
    session: str = ""
    user_agent: str = ""
    source_ip: str = ""
    role_path: str = "/"
    account: str | None = None
    invoked_by: str | None = None

    def arn(self, account: str) -> str:
        """The ``userIdentity.arn`` (what the diagnosis reports as the actor)."""
        if self.kind == "IAMUser":
            return f"arn:aws:iam::{self.account or account}:user/{self.name}"
        if self.kind == "AssumedRole":
            return f"arn:aws:sts::{self.account or account}:assumed-role/{self.name}/{self.session}"
        return self.name

    def identity(
        self, account: str, when: datetime, role_id: str | None = None, issued: datetime | None = None
    ) -> dict[str, Any]:
        """The ``userIdentity`` block of a call made at ``when`` (a role session issued at ``issued``)."""
        account = self.account or account
        if self.kind == "AWSService":
            return {"type": "AWSService", "invokedBy": self.name}
        if self.kind == "IAMUser":
            return {
                "type": "IAMUser",
                "principalId": aws_id("AIDA", account, self.name),
                "arn": self.arn(account),
                "accountId": account,
                "accessKeyId": aws_id("AKIA", account, self.name, length=16),
                "userName": self.name,
            }
        role_id = role_id or aws_id("AROA", account, self.name)
        issued = issued or when.replace(minute=0, second=0, microsecond=0)
        identity: dict[str, Any] = {
            "type": "AssumedRole",
            "principalId": f"{role_id}:{self.session}",
            "arn": self.arn(account),
            "accountId": account,
            "accessKeyId": aws_id("ASIA", account, self.name, self.session, iso(issued) or "", length=16),
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": role_id,
                    "arn": f"arn:aws:iam::{account}:role{self.role_path}{self.name}",
                    "accountId": account,
                    "userName": self.name,
                },
                "attributes": {"creationDate": iso(issued), "mfaAuthenticated": "false"},
            },
        }
        if self.invoked_by:
            identity["invokedBy"] = self.invoked_by
        return identity


class Trail:
    """Builds the CloudTrail records of one scenario, in one account, from a seeded generator.

    Parameters
    ----------
    account : str
        The incident's account (``recipientAccountId`` unless the actor lives elsewhere).
    rng : random.Random
        The scenario's generator: every eventID and requestID comes from it.
    """

    def __init__(self, account: str, rng: random.Random) -> None:
        self.account = account
        self.rng = rng
        self.records: list[dict[str, Any]] = []

    def call(
        self,
        when: datetime,
        actor: Actor,
        source: str,
        name: str,
        region: str,
        request: dict[str, Any] | None = None,
        response: dict[str, Any] | None = None,
        *,
        error: tuple[str, str] | None = None,
        read_only: bool = False,
        resources: list[dict[str, str]] | None = None,
        role_id: str | None = None,
        issued: datetime | None = None,
        shared: bool = False,
        additional: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record one API call and return the record.

        Parameters
        ----------
        when : datetime
            ``eventTime`` (aware, UTC).
        actor : Actor
            The caller.
        source, name : str
            ``eventSource`` (``iam.amazonaws.com``) and ``eventName`` (``PutRolePolicy``).
        region : str
            The caller's region; global services are recorded in us-east-1 regardless.
        request, response : dict, optional
            ``requestParameters`` and ``responseElements`` (``null`` when absent, as AWS writes).
        error : (str, str), optional
            ``errorCode`` and ``errorMessage`` of a refused call (no ``responseElements`` then).
        read_only, resources, role_id, issued, shared, additional
            ``readOnly``; the ``resources`` list; the role id behind a role session (it changes when
            the role is recreated) and when the session was issued; whether to add a ``sharedEventID``
            (calls made by a service); ``additionalEventData``.
        """
        region = GLOBAL_REGION if source in GLOBAL_SOURCES else region
        account = actor.account or self.account
        request_id = event_uuid(self.rng)
        record: dict[str, Any] = {
            "eventVersion": "1.08" if actor.kind == "AWSService" else "1.09",
            "userIdentity": actor.identity(account, when, role_id, issued),
            "eventTime": iso(when.replace(microsecond=0)),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": actor.source_ip or actor.invoked_by or actor.name,
            "userAgent": actor.user_agent or actor.invoked_by or actor.name,
        }
        if error:
            record["errorCode"], record["errorMessage"] = error
        record["requestParameters"] = request
        record["responseElements"] = None if error else response
        if additional:
            record["additionalEventData"] = additional
        record["requestID"] = request_id
        record["eventID"] = event_uuid(self.rng)
        record["readOnly"] = read_only
        if resources:
            record["resources"] = resources
        record["eventType"] = "AwsApiCall"
        record["managementEvent"] = True
        record["recipientAccountId"] = account
        if shared:
            record["sharedEventID"] = event_uuid(self.rng)
        record["eventCategory"] = "Management"
        if actor.kind != "AWSService" and not actor.invoked_by:
            host = source if region == GLOBAL_REGION and source in GLOBAL_SOURCES else source.replace(
                ".amazonaws.com", f".{region}.amazonaws.com"
            )
            record["tlsDetails"] = {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": host,
            }
        self.records.append(record)
        return record

    def sorted_records(self) -> list[dict[str, Any]]:
        """All records, oldest first (stable for equal times)."""
        return sorted(self.records, key=lambda r: r["eventTime"])


def _username(record: dict[str, Any]) -> str | None:
    identity = record["userIdentity"]
    if identity.get("type") == "IAMUser":
        return identity["userName"]
    if identity.get("type") == "AssumedRole":
        return identity["arn"].rsplit("/", 1)[-1]
    return None


def lookup_event(record: dict[str, Any]) -> dict[str, Any]:
    """One entry of ``lookup-events`` ``Events``: the summary fields and the record as a JSON string."""
    request = record.get("requestParameters") or {}
    resources = [
        {"ResourceType": kind, "ResourceName": request[key]}
        for key, kind in _RESOURCE_KEYS
        if isinstance(request.get(key), str)
    ]
    event: dict[str, Any] = {
        "EventId": record["eventID"],
        "EventName": record["eventName"],
        "ReadOnly": "true" if record["readOnly"] else "false",
    }
    access_key = record["userIdentity"].get("accessKeyId")
    if access_key:
        event["AccessKeyId"] = access_key
    # The CLI prints boto3's datetimes with an explicit offset.
    event["EventTime"] = record["eventTime"].replace("Z", "+00:00")
    event["EventSource"] = record["eventSource"]
    username = _username(record)
    if username:
        event["Username"] = username
    event["Resources"] = resources
    event["CloudTrailEvent"] = json.dumps(record, separators=(",", ":"))
    return event


def lookup_pages(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """Split records into ``lookup-events`` pages: newest first, 50 a page, chained by ``NextToken``."""
    newest_first = sorted(records, key=lambda r: r["eventTime"], reverse=True)
    pages = []
    for start in range(0, len(newest_first), LOOKUP_PAGE_SIZE):
        page: dict[str, Any] = {"Events": [lookup_event(r) for r in newest_first[start : start + LOOKUP_PAGE_SIZE]]}
        if start + LOOKUP_PAGE_SIZE < len(newest_first):
            page["NextToken"] = "".join(rng.choice(string.ascii_letters + string.digits + "+/") for _ in range(88))
        pages.append(page)
    return pages or [{"Events": []}]


def s3_log_files(
    records: list[dict[str, Any]], rng: random.Random, *, organization_id: str | None = None
) -> list[tuple[str, bytes]]:
    """Group records into the gzipped files CloudTrail delivers to S3: one per account, region and hour.

    Returns
    -------
    list of (str, bytes)
        ``AWSLogs/[o-ORG/]ACCT/CloudTrail/REGION/YYYY/MM/DD/ACCT_CloudTrail_REGION_YYYYMMDDTHHMMZ_XXXX.json.gz``
        keys and the file bytes (gzip with no timestamp, so the bytes are reproducible).
    """
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for record in sorted(records, key=lambda r: r["eventTime"]):
        hour = record["eventTime"][:13]
        groups[(record["recipientAccountId"], record["awsRegion"], hour)].append(record)
    files = []
    for (account, region, hour), group in sorted(groups.items()):
        delivered = datetime.fromisoformat(hour + ":00:00+00:00") + timedelta(hours=1) + S3_DELIVERY_DELAY
        unique = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(16))
        prefix = f"AWSLogs/{organization_id}/{account}" if organization_id else f"AWSLogs/{account}"
        key = (
            f"{prefix}/CloudTrail/{region}/{delivered:%Y/%m/%d}/"
            f"{account}_CloudTrail_{region}_{delivered:%Y%m%dT%H%MZ}_{unique}.json.gz"
        )
        body = json.dumps({"Records": group}, separators=(",", ":")).encode()
        files.append((key, gzip.compress(body, mtime=0)))
    return files
