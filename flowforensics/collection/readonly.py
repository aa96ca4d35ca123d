"""Read-only by construction: a botocore hook refuses, before it is sent, any operation not listed here.

The allow-list is data: every operation any collector may call, by botocore service name. The least
IAM policy the collector needs (``docs/investigator-policy.json``) is checked against it by the tests.
Besides reads it admits only :data:`QUERY_OPERATIONS`: starting and stopping the Athena and CloudTrail
Lake queries that select the trail's events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowforensics.errors import CollectionError

# botocore service name -> operations the collectors call. All are read operations ("List", "Read" or
# "Describe" access level in the IAM service authorization reference; SimulatePrincipalPolicy is "Read").
READ_OPERATIONS: dict[str, frozenset[str]] = {
    "sts": frozenset({"GetCallerIdentity"}),
    "ec2": frozenset({"DescribeFlowLogs", "DescribeRegions"}),
    "iam": frozenset(
        {
            "GetRole",
            "ListRolePolicies",
            "GetRolePolicy",
            "ListAttachedRolePolicies",
            "ListInstanceProfilesForRole",
            "GetPolicy",
            "ListPolicyVersions",
            "GetPolicyVersion",
            "SimulatePrincipalPolicy",
        }
    ),
    "logs": frozenset({"DescribeLogGroups", "DescribeLogStreams"}),
    "kms": frozenset({"GetKeyPolicy"}),
    "cloudwatch": frozenset({"DescribeAlarms", "DescribeAlarmHistory", "GetMetricData"}),
    "cloudtrail": frozenset({"LookupEvents", "DescribeQuery", "GetQueryResults"}),
    "organizations": frozenset({"ListParents", "ListPoliciesForTarget", "DescribePolicy"}),
    "athena": frozenset({"GetQueryExecution", "GetQueryResults"}),
    # collect --from-archive s3://...: list the trail's keys, read the chosen log files.
    "s3": frozenset({"ListObjectsV2", "GetObject"}),
}
# Operations whose IAM action is not named after them (Service Authorization Reference).
IAM_ACTION_NAMES: dict[tuple[str, str], str] = {("s3", "ListObjectsV2"): "s3:ListBucket"}

# The only operations admitted that are not reads: a query over the trail, started and, when it fails,
# outlasts its deadline or is interrupted, stopped. They change nothing in the account but the query's
# own state (Athena also writes its results to the output location the investigator names).
QUERY_OPERATIONS: dict[str, frozenset[str]] = {
    "athena": frozenset({"StartQueryExecution", "StopQueryExecution"}),
    "cloudtrail": frozenset({"StartQuery", "CancelQuery"}),
}

# A stop applies only to a query the same client started: (service, stop) -> (its start, the id's key).
STOPS: dict[tuple[str, str], tuple[str, str]] = {
    ("athena", "StopQueryExecution"): ("StartQueryExecution", "QueryExecutionId"),
    ("cloudtrail", "CancelQuery"): ("StartQuery", "QueryId"),
}

# Every operation the hook lets through.
ALLOWED_OPERATIONS: dict[str, frozenset[str]] = {
    service: READ_OPERATIONS.get(service, frozenset()) | QUERY_OPERATIONS.get(service, frozenset())
    for service in READ_OPERATIONS.keys() | QUERY_OPERATIONS.keys()
}

# IAM actions the investigator needs for what AWS does on the caller's behalf, with the caller's
# permissions (a collector may also call some of them itself). action -> why.
INDIRECT_ACTIONS: dict[str, str] = {
    "glue:GetDatabase": "Athena reads the CloudTrail table's database from the Glue Data Catalog",
    "glue:GetTable": "Athena reads the CloudTrail table's definition from the Glue Data Catalog",
    "glue:GetPartitions": "Athena lists the partitions of a partitioned CloudTrail table",
    "s3:GetBucketLocation": "Athena locates the trail's bucket and the results bucket",
    "s3:PutObject": "Athena writes the query results to --athena-output (scope it to that prefix)",
    "s3:AbortMultipartUpload": "Athena abandons a partly written result file",
    "s3:ListMultipartUploadParts": "Athena writes large result files in parts",
}


class ReadOnlyViolation(CollectionError):
    """An operation outside the allow-list was attempted; it was refused before being sent."""


def iam_action(service: str, operation: str) -> str:
    """The IAM action (``prefix:Operation``) of a botocore service's operation.

    For every service in :data:`ALLOWED_OPERATIONS` botocore's service name is also the IAM prefix; the
    few operations authorised by an action of another name are in :data:`IAM_ACTION_NAMES`.
    """
    return IAM_ACTION_NAMES.get((service, operation), f"{service}:{operation}")


def allowed_actions() -> set[str]:
    """Every IAM action the collectors may call, e.g. ``{"ec2:DescribeFlowLogs", ...}``."""
    return {iam_action(service, op) for service, ops in ALLOWED_OPERATIONS.items() for op in ops}


def install(client: Any, on_allowed: Callable[[str], None] | None = None) -> None:
    """Make a boto3 client refuse every operation outside :data:`ALLOWED_OPERATIONS`.

    The hook runs on ``before-call``, registered first so that it also runs ahead of a botocore
    ``Stubber``, and raises before the request is signed or sent. A stop or cancel (:data:`STOPS`) is
    let through only for a query this client started (checked on ``before-parameter-build``).

    Parameters
    ----------
    client : botocore.client.BaseClient
        The client to guard.
    on_allowed : callable, optional
        Called with the IAM action of every call let through (once per call, pages included), so a
        run can count and prove what it called.
    """
    service = client.meta.service_model.service_name
    started: set[str] = set()  # ids of the queries this client started
    starts = {start: key for (svc, _), (start, key) in STOPS.items() if svc == service}

    def refuse_writes(model: Any, **_: Any) -> None:
        action = iam_action(service, model.name)
        if model.name not in ALLOWED_OPERATIONS.get(service, frozenset()):
            raise ReadOnlyViolation(f"refused {action}: flowforensics collection is read-only")
        if on_allowed is not None:
            on_allowed(action)

    def own_queries_only(model: Any, params: Any = None, **_: Any) -> None:
        stop = STOPS.get((service, model.name))
        if stop and (params or {}).get(stop[1]) not in started:
            action = iam_action(service, model.name)
            raise ReadOnlyViolation(f"refused {action}: only a query this collection started may be stopped")

    def remember_started(model: Any, parsed: Any = None, **_: Any) -> None:
        if model.name in starts and isinstance(parsed, dict) and parsed.get(starts[model.name]):
            started.add(parsed[starts[model.name]])

    client.meta.events.register_first(
        "before-call.*.*", refuse_writes, unique_id=f"flowforensics-readonly-{id(client)}"
    )
    # The stopped query's id is an API parameter: checked before the request is built.
    client.meta.events.register_first(
        "before-parameter-build.*.*", own_queries_only, unique_id=f"flowforensics-own-queries-{id(client)}"
    )
    client.meta.events.register(
        "after-call.*.*", remember_started, unique_id=f"flowforensics-started-queries-{id(client)}"
    )
