"""AccessDenied messages: the documented formats, and real messages from third-party CloudTrail captures."""

from __future__ import annotations

import json

import pytest
from sample_paths import SAMPLES

from flowforensics.analysis.iam import parse_access_denied

USER = "arn:aws:iam::123456789012:user/Matt"
HEAD = f"User: {USER} is not authorized to perform: logs:PutLogEvents on resource: arn:aws:logs:eu-west-1:123456789012:log-group:/vpc/flow:log-stream:eni-1"


@pytest.mark.parametrize(
    ("reason", "layer", "explicit", "cause"),
    [
        ("because no identity-based policy allows the logs:PutLogEvents action", "identity", False, "permission-missing"),
        ("with an explicit deny in an identity-based policy", "identity", True, "explicit-deny"),
        ("because no permissions boundary allows the logs:PutLogEvents action", "boundary", False, "boundary-deny"),
        ("with an explicit deny in a permissions boundary", "boundary", True, "boundary-deny"),
        ("with an explicit deny in a service control policy", "scp", True, "scp-deny"),
        ("because no service control policy allows the logs:PutLogEvents action", "scp", False, "scp-deny"),
        ("because no resource-based policy allows the logs:PutLogEvents action", "resource", False, None),
        ("with an explicit deny in a resource-based policy", "resource", True, None),
        ("because no session policy allows the logs:PutLogEvents action", "session", False, None),
        ("with an explicit deny in a session policy", "session", True, None),
        ("with an explicit deny in a resource control policy", "rcp", True, None),
        ("because no VPC endpoint policy allows the logs:PutLogEvents action", "vpc-endpoint", False, None),
    ],
)
def test_documented_reason_clauses(reason: str, layer: str, explicit: bool, cause: str | None) -> None:
    denial = parse_access_denied(f"{HEAD} {reason}")
    assert denial is not None
    assert (denial.layer, denial.explicit, denial.root_cause) == (layer, explicit, cause)
    assert denial.principal == USER and denial.action == "logs:PutLogEvents"
    assert denial.resource.endswith(":log-stream:eni-1")


def test_policy_arn_of_the_enhanced_message() -> None:
    message = (
        "An error occurred (AccessDenied) when calling the ListRoles operation: User: arn:aws:iam::123456789012:user/Matt "
        "is not authorized to perform: iam:ListRoles on resource: arn:aws:iam::123456789012:role/* with an explicit deny "
        "in a service control policy: arn:aws:organizations::987654321098:policy/o-qv5af4abcd/service_control_policy/p-2kgnabcd"
    )
    denial = parse_access_denied(message)
    assert denial is not None and denial.layer == "scp" and denial.explicit
    assert denial.policy_arn == "arn:aws:organizations::987654321098:policy/o-qv5af4abcd/service_control_policy/p-2kgnabcd"


def test_trust_denial_of_assume_role_points_at_the_trust() -> None:
    denial = parse_access_denied(
        "User: arn:aws:iam::123456789012:user/Matt is not authorized to perform: sts:AssumeRole on resource: "
        "arn:aws:iam::123456789012:role/flow because no resource-based policy allows the sts:AssumeRole action."
    )
    assert denial is not None and denial.root_cause == "trust-missing-service"
    assert denial.resource == "arn:aws:iam::123456789012:role/flow"


@pytest.mark.parametrize("text", ["", "Rate exceeded", "Access Denied", "The specified log group does not exist."])
def test_other_messages_are_not_denials(text: str) -> None:
    assert parse_access_denied(text) is None


def test_every_real_authorisation_failure_in_the_samples_parses() -> None:
    records = []
    for path in sorted((SAMPLES / "stratus-red-team").glob("*.json")):
        records += json.loads(path.read_text())
    failures = [r for r in records if "is not authorized to perform" in (r.get("errorMessage") or "")]
    assert failures
    for record in failures:
        denial = parse_access_denied(record["errorMessage"])
        assert denial is not None, record["errorMessage"]
        assert denial.action.split(":")[1] == record["eventName"]
        assert denial.principal.startswith("arn:aws:")
        if "because no identity-based policy" in record["errorMessage"]:
            assert (denial.layer, denial.explicit) == ("identity", False)
        else:
            assert denial.layer is None
