"""Read-only by construction: a botocore hook refuses, before it is sent, any operation not listed here.

The allow-list is data: every operation any collector may call, by botocore service name. The least
IAM policy the collector needs (``docs/investigator-policy.json``) is checked against it by the tests.
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
    "cloudtrail": frozenset({"LookupEvents"}),
    "organizations": frozenset({"ListParents", "ListPoliciesForTarget", "DescribePolicy"}),
}


class ReadOnlyViolation(CollectionError):
    """An operation outside the allow-list was attempted; it was refused before being sent."""


def iam_action(service: str, operation: str) -> str:
    """The IAM action (``prefix:Operation``) of a botocore service's operation.

    For every service in :data:`READ_OPERATIONS` botocore's service name is also the IAM prefix.
    """
    return f"{service}:{operation}"


def allowed_actions() -> set[str]:
    """Every IAM action the collectors may call, e.g. ``{"ec2:DescribeFlowLogs", ...}``."""
    return {iam_action(service, op) for service, ops in READ_OPERATIONS.items() for op in ops}


def install(client: Any, on_allowed: Callable[[str], None] | None = None) -> None:
    """Make a boto3 client refuse every operation outside :data:`READ_OPERATIONS`.

    The hook runs on ``before-call``, registered first so that it also runs ahead of a botocore
    ``Stubber``, and raises before the request is signed or sent.

    Parameters
    ----------
    client : botocore.client.BaseClient
        The client to guard.
    on_allowed : callable, optional
        Called with the IAM action of every call let through (once per call, pages included), so a
        run can count and prove what it called.
    """
    service = client.meta.service_model.service_name

    def refuse_writes(model: Any, **_: Any) -> None:
        action = iam_action(service, model.name)
        if model.name not in READ_OPERATIONS.get(service, frozenset()):
            raise ReadOnlyViolation(f"refused {action}: flowforensics collection is read-only")
        if on_allowed is not None:
            on_allowed(action)

    client.meta.events.register_first(
        "before-call.*.*", refuse_writes, unique_id=f"flowforensics-readonly-{id(client)}"
    )
