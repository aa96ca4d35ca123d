"""Fixtures of the collection tests: a moto server on 127.0.0.1 (real HTTP, real botocore serialisation),
an isolated AWS environment, and a realistic incident in moto."""

from __future__ import annotations

import _thread
import json
import logging
import os
import signal
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

# moto's request recorder writes to ./moto_recording unless told otherwise, when moto is imported.
os.environ.setdefault(
    "MOTO_RECORDER_FILEPATH",
    os.path.join(tempfile.gettempdir(), f"flowforensics-moto-recording-{os.getpid()}"),
)
from moto.server import ThreadedMotoServer  # noqa: E402

from .faults import FaultyEndpoint, faulty_endpoint
from .helpers import ACCOUNT, REGION, TRUST, delivery_policy


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def ctrl_c() -> Iterator[Callable[[], None]]:
    """Ctrl-C as a terminal gives it: SIGINT handled in the main thread, which raises KeyboardInterrupt there.

    A suite started in the background ignores SIGINT; the test's main thread gets Python's handler back.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield _thread.interrupt_main
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No real AWS: fake keys, no config files, no instance metadata, one attempt per call."""
    empty = tmp_path_factory.mktemp("aws-config")
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_RETRY_MODE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # moto answers 500 for what it does not implement: fail fast instead of backing off.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")


@pytest.fixture
def moto(moto_endpoint: str) -> str:
    """The moto server's URL, with its state reset."""
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=60)  # slow on a loaded machine
    return moto_endpoint


@pytest.fixture
def incident(moto: str) -> dict[str, Any]:
    """A flow log whose role lost logs:PutLogEvents in the second version of its managed policy."""
    return build_incident(moto)


def build_incident(moto: str) -> dict[str, Any]:
    """Create the incident in a moto server that was just reset.

    The role has a trust policy with aws:SourceAccount, an inline policy, a managed policy with two
    versions and a permissions boundary; the log group is KMS-encrypted and has two streams; an alarm
    watches another log group.
    """
    # Keys of its own: module-scoped fixtures build it outside any test's environment.
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)

    def client(name: str) -> Any:
        return session.client(name, endpoint_url=moto)

    iam, logs, ec2, kms, cloudwatch = (client(n) for n in ("iam", "logs", "ec2", "kms", "cloudwatch"))
    group = "/vpc/flow-logs/prod"
    iam.create_role(RoleName="flowlogs-delivery", AssumeRolePolicyDocument=json.dumps(TRUST))
    managed = iam.create_policy(
        PolicyName="flowlogs-deliver",
        PolicyDocument=json.dumps(delivery_policy(group, ["logs:CreateLogStream", "logs:PutLogEvents"])),
    )["Policy"]["Arn"]
    iam.create_policy_version(
        PolicyArn=managed,
        PolicyDocument=json.dumps(delivery_policy(group, ["logs:CreateLogStream"])),
        SetAsDefault=True,
    )
    boundary = iam.create_policy(
        PolicyName="logs-boundary", PolicyDocument=json.dumps(delivery_policy(group, ["logs:*"]))
    )["Policy"]["Arn"]
    iam.put_role_permissions_boundary(RoleName="flowlogs-delivery", PermissionsBoundary=boundary)
    iam.attach_role_policy(RoleName="flowlogs-delivery", PolicyArn=managed)
    iam.put_role_policy(
        RoleName="flowlogs-delivery",
        PolicyName="describe",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "logs:Describe*", "Resource": "*"}],
            }
        ),
    )
    role_arn = iam.get_role(RoleName="flowlogs-delivery")["Role"]["Arn"]
    # AWS refuses AssociateKmsKey unless the key policy lets CloudWatch Logs use the key for the group.
    key_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
            {
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{REGION}.amazonaws.com"},
                "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                "Resource": "*",
                "Condition": {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"}},
            },
        ],
    }
    key = kms.create_key(Description="flow logs", Policy=json.dumps(key_policy))["KeyMetadata"]["Arn"]
    logs.create_log_group(logGroupName=group, kmsKeyId=key)
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    for eni in ("eni-0a1b2c3d4e5f60001", "eni-0a1b2c3d4e5f60002"):
        logs.create_log_stream(logGroupName=group, logStreamName=eni)
        logs.put_log_events(
            logGroupName=group,
            logStreamName=eni,
            logEvents=[
                {
                    "timestamp": now_ms,
                    "message": f"2 {ACCOUNT} {eni} 10.0.0.1 10.0.0.2 443 5050 6 1 40 0 1 ACCEPT OK",
                }
            ],
        )
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    flow_log_id = ec2.create_flow_logs(
        ResourceIds=[vpc],
        ResourceType="VPC",
        TrafficType="ALL",
        LogGroupName=group,
        DeliverLogsPermissionArn=role_arn,
    )["FlowLogIds"][0]
    client("s3").create_bucket(
        Bucket="flow-archive", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    bucket_flow_log = ec2.create_flow_logs(
        ResourceIds=[vpc],
        ResourceType="VPC",
        TrafficType="REJECT",
        LogDestinationType="s3",
        LogDestination="arn:aws:s3:::flow-archive",
    )["FlowLogIds"][0]
    cloudwatch.put_metric_alarm(
        AlarmName="other-group-quiet",
        Namespace="AWS/Logs",
        MetricName="IncomingLogEvents",
        Dimensions=[{"Name": "LogGroupName", "Value": "/other/group"}],
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="LessThanThreshold",
    )
    return {
        "endpoint": moto,
        "flow_log_id": flow_log_id,
        "s3_flow_log_id": bucket_flow_log,
        "role_name": "flowlogs-delivery",
        "role_arn": role_arn,
        "policy_arn": managed,
        "boundary_arn": boundary,
        "log_group": group,
        "key_arn": key,
        "vpc": vpc,
    }


class Recording:
    """moto's request recorder: what really reached the endpoint."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def start(self) -> None:
        """Forget earlier requests and record from now on."""
        requests.post(f"{self.endpoint}/moto-api/recorder/reset-recording", timeout=60)
        requests.post(f"{self.endpoint}/moto-api/recorder/start-recording", timeout=60)

    def requests(self) -> list[dict[str, Any]]:
        """The requests recorded since :meth:`start`."""
        text = requests.get(f"{self.endpoint}/moto-api/recorder/download-recording", timeout=60).text
        return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def recording(moto: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Recording]:
    """moto's recorder, stopped and emptied after the test."""
    # Should moto have been imported before this conftest, its recording still lands in tmp_path.
    monkeypatch.chdir(tmp_path)
    recorder = Recording(moto)
    yield recorder
    requests.post(f"{moto}/moto-api/recorder/stop-recording", timeout=60)
    requests.post(f"{moto}/moto-api/recorder/reset-recording", timeout=60)


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[Counter[str]]:
    """Faults injected by a test, appended to ``FLOWFORENSICS_FAULT_FIGURES`` as the fault suite does
    (``python -m tests.faults.figures FILE`` sums them)."""
    counts: Counter[str] = Counter()
    yield counts
    target = os.environ.get("FLOWFORENSICS_FAULT_FIGURES")
    if target and counts:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"test": request.node.nodeid, **counts}) + "\n")


@pytest.fixture
def endpoint(incident: dict[str, Any], figures: Counter[str]) -> Iterator[FaultyEndpoint]:
    """A faulty endpoint in front of the requesting module's incident; its faults go to the figures."""
    with faulty_endpoint(incident["endpoint"]) as fake:
        yield fake
    figures["faults injected"] += fake.injected
    figures["hangs"] += 0  # a hang fails the test: every wait here is bounded
