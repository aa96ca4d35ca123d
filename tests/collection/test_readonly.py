"""Read-only by construction: every collector driven against moto, with moto recording what reaches it."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import boto3
import pytest

from flowforensics.collection import collect
from flowforensics.collection.readonly import (
    ALLOWED_OPERATIONS,
    INDIRECT_ACTIONS,
    QUERY_OPERATIONS,
    ReadOnlyViolation,
    allowed_actions,
)
from flowforensics.collection.session import ClientFactory

from .conftest import Recording
from .helpers import ACCOUNT, REGION, stubbed

POLICY = Path(__file__).resolve().parents[2] / "docs" / "investigator-policy.json"
# The Athena and CloudTrail Lake path's actions.
QUERY_PATH = {
    *(f"athena:{op}" for op in ALLOWED_OPERATIONS["athena"]),
    "cloudtrail:StartQuery",
    "cloudtrail:DescribeQuery",
    "cloudtrail:GetQueryResults",
    "cloudtrail:CancelQuery",
}
# Signing names that differ from botocore's service names.
SIGNING_NAMES = {"monitoring": "cloudwatch"}


def _policy_actions() -> set[str]:
    document = json.loads(POLICY.read_text())
    assert all(s["Effect"] == "Allow" for s in document["Statement"])
    return {action for s in document["Statement"] for action in s["Action"]}


def _actions(recorded: list[dict[str, Any]]) -> list[str]:
    """The IAM action of every request moto received while recording."""
    actions = []
    for request in recorded:
        headers = request["headers"]
        service = headers["Authorization"].split("Credential=")[1].split("/")[3]
        if "X-Amz-Target" in headers:  # JSON protocols
            operation = headers["X-Amz-Target"].rsplit(".", 1)[1]
        elif "/operation/" in request["url"]:  # Smithy RPC v2 CBOR
            operation = request["url"].rsplit("/", 1)[1]
        else:  # query protocols
            body = (
                base64.b64decode(request["body"]).decode() if request.get("body_encoded") else request["body"]
            )
            operation = parse_qs(body)["Action"][0]
        actions.append(f"{SIGNING_NAMES.get(service, service)}:{operation}")
    return actions


def test_the_policy_grants_exactly_the_allow_list_and_what_athena_does_on_the_callers_behalf() -> None:
    assert _policy_actions() == allowed_actions() | set(INDIRECT_ACTIONS)
    # Every allowed operation exists in botocore's model of its service.
    session = boto3.Session(region_name=REGION)
    for service, operations in ALLOWED_OPERATIONS.items():
        model = session.client(service).meta.service_model
        assert operations <= set(model.operation_names), service


def test_the_query_calls_are_the_only_admitted_operations_that_are_not_reads() -> None:
    not_reads = {
        f"{service}:{op}"
        for service, ops in ALLOWED_OPERATIONS.items()
        for op in ops
        if not op.startswith(("Describe", "Get", "List", "Lookup"))
    }
    queries = {f"{service}:{op}" for service, ops in QUERY_OPERATIONS.items() for op in ops}
    assert queries == {
        "athena:StartQueryExecution",
        "athena:StopQueryExecution",
        "cloudtrail:StartQuery",
        "cloudtrail:CancelQuery",
    }
    # SimulatePrincipalPolicy is a read in IAM's service authorization reference (access level Read).
    assert not_reads == queries | {"iam:SimulatePrincipalPolicy"}


def test_every_collector_sends_only_read_operations_all_in_the_policy(
    incident: dict[str, Any], recording: Recording, tmp_path: Path
) -> None:
    endpoint = incident["endpoint"]
    cloudwatch = boto3.Session(region_name=REGION).client("cloudwatch", endpoint_url=endpoint)
    cloudwatch.put_metric_alarm(  # an alarm on the flow log's group: its history is collected too
        AlarmName="flow-logs-stopped",
        Namespace="AWS/Logs",
        MetricName="IncomingLogEvents",
        Dimensions=[{"Name": "LogGroupName", "Value": incident["log_group"]}],
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=3,
        Threshold=1,
        ComparisonOperator="LessThanThreshold",
    )
    trails = {}
    for region in ("us-east-1", REGION):
        client, stub = stubbed("cloudtrail", region)
        for _ in range(3):
            stub.add_response("lookup_events", {"Events": []})
        trails[("cloudtrail", region)] = client
    organizations, stub = stubbed("organizations", "us-east-1")
    stub.add_response("list_parents", {"Parents": [{"Id": "r-ab12", "Type": "ROOT"}]})
    full_access = {
        "Id": "p-FullAWSAccess",
        "Arn": "arn",
        "Name": "FullAWSAccess",
        "Type": "SERVICE_CONTROL_POLICY",
    }
    for _ in range(2):
        stub.add_response("list_policies_for_target", {"Policies": [full_access]})
    stub.add_response(
        "describe_policy",
        {"Policy": {"PolicySummary": full_access, "Content": '{"Version":"2012-10-17","Statement":[]}'}},
    )
    recording.start()
    result = collect(
        tmp_path / "evidence",
        flow_log_ids=[incident["flow_log_id"]],
        regions=[REGION],
        simulate=True,
        endpoint_url=endpoint,
        clients={**trails, "organizations": organizations},
    )

    sent = _actions(recording.requests())
    called = set(result.calls)
    # What reached AWS (moto) and what the clients made (Stubber included) are all allowed, all in the policy.
    assert set(sent) <= allowed_actions() <= _policy_actions()
    assert called <= _policy_actions()
    # Every collector ran: every allowed action was called, except the one moto cannot answer
    # (SimulatePrincipalPolicy and DescribeAlarmHistory reach moto, which answers 500: a gap), the
    # Athena and CloudTrail Lake queries, a collection of their own (tests/collection/test_query.py), and
    # collect --from-archive's S3 reads (tests/collection/test_archive_s3.py).
    assert called == allowed_actions() - QUERY_PATH - {"s3:ListBucket", "s3:GetObject"}
    gaps = {
        gap["operation"] for gap in json.loads((tmp_path / "evidence" / "manifest.json").read_text())["gaps"]
    }
    assert gaps == {"iam:SimulatePrincipalPolicy", "cloudwatch:DescribeAlarmHistory"}


@pytest.mark.parametrize(
    ("service", "method", "params"),
    [
        ("ec2", "delete_flow_logs", {"FlowLogIds": ["fl-1"]}),
        ("iam", "put_role_policy", {"RoleName": "r", "PolicyName": "p", "PolicyDocument": "{}"}),
        ("logs", "delete_log_group", {"logGroupName": "/vpc/flow"}),
        ("cloudtrail", "stop_logging", {"Name": "trail"}),
        # Beside its queries, nothing else of Athena or CloudTrail Lake that is not a read.
        ("athena", "create_named_query", {"Name": "q", "Database": "d", "QueryString": "SELECT 1"}),
        ("athena", "delete_work_group", {"WorkGroup": "primary"}),
        ("cloudtrail", "create_event_data_store", {"Name": "eds"}),
        ("cloudtrail", "delete_event_data_store", {"EventDataStore": "eds"}),
        ("s3", "put_object", {"Bucket": "flow-archive", "Key": "k", "Body": b"x"}),
    ],
)
def test_the_hook_refuses_writes_before_sending(
    incident: dict[str, Any],
    recording: Recording,
    service: str,
    method: str,
    params: dict[str, Any],
) -> None:
    endpoint = incident["endpoint"]
    factory = ClientFactory(boto3.Session(region_name=REGION), endpoint_url=endpoint)
    factory.account = ACCOUNT
    client = factory.client(service)
    recording.start()

    with pytest.raises(ReadOnlyViolation, match="read-only"):
        getattr(client, method)(**params)

    assert recording.requests() == []  # nothing was sent
    assert factory.calls == {}


def test_a_write_through_a_stubbed_client_is_refused_before_the_stub_answers() -> None:
    client, stub = stubbed("ec2", REGION)
    stub.add_response("delete_flow_logs", {"Unsuccessful": []})
    factory = ClientFactory(boto3.Session(region_name=REGION), clients={"ec2": client})

    with pytest.raises(ReadOnlyViolation):
        factory.client("ec2").delete_flow_logs(FlowLogIds=["fl-1"])


def test_only_a_query_the_collection_started_may_be_stopped(moto: str, recording: Recording) -> None:
    # Someone else's query, in the same account.
    other = boto3.Session(region_name=REGION).client("athena", endpoint_url=moto)
    theirs = other.start_query_execution(QueryString="SELECT 1")["QueryExecutionId"]
    factory = ClientFactory(boto3.Session(region_name=REGION), endpoint_url=moto)
    athena = factory.client("athena")
    recording.start()

    with pytest.raises(ReadOnlyViolation, match="only a query this collection started"):
        athena.stop_query_execution(QueryExecutionId=theirs)
    assert recording.requests() == []

    ours = athena.start_query_execution(QueryString="SELECT 1")["QueryExecutionId"]
    athena.stop_query_execution(QueryExecutionId=ours)
    assert _actions(recording.requests()) == ["athena:StartQueryExecution", "athena:StopQueryExecution"]
    assert other.get_query_execution(QueryExecutionId=theirs)["QueryExecution"]["Status"]["State"] != "CANCELLED"


def test_cloudtrail_lake_cancels_only_its_own_query() -> None:
    client, stub = stubbed("cloudtrail", REGION)
    stub.add_response("cancel_query", {"QueryId": "9" * 36, "QueryStatus": "CANCELLED"})
    factory = ClientFactory(boto3.Session(region_name=REGION), clients={"cloudtrail": client})

    with pytest.raises(ReadOnlyViolation, match="only a query this collection started"):
        factory.client("cloudtrail").cancel_query(QueryId="9" * 36)
    assert factory.calls == {}
