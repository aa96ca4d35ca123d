"""Properties of the evaluation order, over generated policies and requests (hypothesis)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from flowforensics.analysis.iam import evaluate
from flowforensics.analysis.iam.simulate import simulate_case

ACCOUNT = "111122223333"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/flow"
GROUP = f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/vpc/flow"
ACTIONS = ["logs:PutLogEvents", "logs:CreateLogGroup", "logs:DescribeLogGroups", "s3:GetObject", "sts:AssumeRole"]
RESOURCES = [GROUP, f"{GROUP}:log-stream:eni-1", "*", "arn:aws:s3:::bucket/key", ROLE]
PRINCIPALS = [ROLE, f"arn:aws:sts::{ACCOUNT}:assumed-role/flow/s", "vpc-flow-logs.amazonaws.com", "*",
              "arn:aws:iam::444455556666:role/partner", f"arn:aws:iam::{ACCOUNT}:user/alice"]
CONDITIONS = [
    {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
    {"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}},
    {"Bool": {"aws:SecureTransport": "true"}},
    {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
    {"ArnLike": {"aws:SourceArn": f"arn:aws:ec2:*:{ACCOUNT}:vpc-flow-log/*"}},
    {"ForAnyValue:StringLike": {"aws:TagKeys": ["cost-*"]}},
    {"Null": {"aws:TokenIssueTime": "true"}},
]
CONTEXT = st.fixed_dictionaries({}, optional={
    "aws:SourceAccount": st.sampled_from([ACCOUNT, "444455556666"]),
    "aws:RequestedRegion": st.sampled_from(["eu-west-1", "us-east-1"]),
    "aws:SecureTransport": st.booleans(),
    "aws:SourceIp": st.sampled_from(["203.0.113.9", "198.51.100.1"]),
    "aws:SourceArn": st.just(f"arn:aws:ec2:eu-west-1:{ACCOUNT}:vpc-flow-log/fl-1"),
    "aws:TagKeys": st.lists(st.sampled_from(["cost-center", "env", "owner"]), max_size=3),
    "aws:TokenIssueTime": st.just("2024-01-01T00:00:00Z"),
})


def statements(effect: str, *, principal: bool) -> st.SearchStrategy[dict[str, Any]]:
    action = st.sampled_from(["*", "logs:*", "logs:Put*", "s3:GetObject", "sts:AssumeRole", "logs:CreateLogGroup"])
    resource = st.sampled_from(["*", f"{GROUP}", f"{GROUP}:*", "arn:aws:logs:*:*:*", "arn:aws:s3:::bucket/*", ROLE])
    principal_element = st.sampled_from(["*", {"AWS": ACCOUNT}, {"AWS": ROLE}, {"Service": "vpc-flow-logs.amazonaws.com"}])

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        statement: dict[str, Any] = {"Effect": effect}
        statement["NotAction" if draw(st.integers(0, 9)) == 0 else "Action"] = draw(action)
        statement["NotResource" if draw(st.integers(0, 9)) == 0 else "Resource"] = draw(resource)
        if principal:
            statement["Principal"] = draw(principal_element)
        if draw(st.booleans()):
            statement["Condition"] = draw(st.sampled_from(CONDITIONS))
        return statement

    return build()


def policy(*, principal: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    any_statement = st.one_of(statements("Allow", principal=principal), statements("Deny", principal=principal))
    return st.builds(lambda s: {"Version": "2012-10-17", "Statement": s}, st.lists(any_statement, max_size=4))


CASES = st.fixed_dictionaries({
    "request": st.fixed_dictionaries({
        "principal": st.sampled_from(PRINCIPALS),
        "action": st.sampled_from(ACTIONS),
        "resource": st.sampled_from(RESOURCES),
        "resource_account": st.just(ACCOUNT),
        "context": CONTEXT,
    }),
    "identity_policies": st.lists(policy(), max_size=2),
    "resource_policy": st.one_of(st.none(), policy(principal=True)),
    "permissions_boundaries": st.lists(policy(), max_size=1),
    "scp_levels": st.lists(st.lists(policy(), min_size=1, max_size=2), max_size=2),
    "rcp_levels": st.lists(st.lists(policy(principal=True), min_size=1, max_size=2), max_size=1),
    "session_policy": st.one_of(st.none(), policy()),
})
LAYERS = ["identity", "resource", "boundary", "scp", "rcp", "session"]


def decide(case: dict[str, Any]) -> str:
    return evaluate(case["request"], **{k: v for k, v in case.items() if k != "request"}).decision


def with_statement(case: dict[str, Any], layer: str, statement: dict[str, Any]) -> dict[str, Any]:
    """The case with ``statement`` added to ``layer`` (a new policy or level where there is none)."""
    changed = copy.deepcopy(case)
    extra = {"Version": "2012-10-17", "Statement": [statement]}
    if layer == "identity":
        changed["identity_policies"].append(extra)
    elif layer == "boundary":
        changed["permissions_boundaries"].append(extra)
    elif layer in ("resource", "session"):
        key = f"{layer}_policy"
        changed[key] = extra if changed[key] is None else {**changed[key], "Statement": [*changed[key]["Statement"], statement]}
    else:
        levels = changed[f"{layer}_levels"]
        if levels:
            levels[-1].append(extra)
        else:
            levels.append([extra])
    return changed


@settings(max_examples=300, deadline=None)
@given(CASES, st.sampled_from(LAYERS))
def test_a_deny_that_applies_makes_it_explicitly_denied(case: dict[str, Any], layer: str) -> None:
    deny = {"Effect": "Deny", "Action": "*", "Resource": "*"}
    if layer in ("resource", "rcp"):
        deny["Principal"] = "*"
    assert decide(with_statement(case, layer, deny)) == "ExplicitlyDenied"


@settings(max_examples=300, deadline=None)
@given(CASES, st.sampled_from(LAYERS), st.data())
def test_adding_any_deny_never_turns_a_decision_into_allowed(case: dict[str, Any], layer: str, data: st.DataObject) -> None:
    deny = data.draw(statements("Deny", principal=layer in ("resource", "rcp")))
    before, after = decide(case), decide(with_statement(case, layer, deny))
    assert after != "Allowed" or before == "Allowed"
    assert before != "ExplicitlyDenied" or after == "ExplicitlyDenied"


@settings(max_examples=300, deadline=None)
@given(CASES, st.data())
def test_adding_an_identity_allow_never_turns_allowed_into_a_deny(case: dict[str, Any], data: st.DataObject) -> None:
    allow = data.draw(statements("Allow", principal=False))
    before, after = decide(case), decide(with_statement(case, "identity", allow))
    if before == "Allowed":
        assert after == "Allowed"
    if before == "ExplicitlyDenied":
        assert after == "ExplicitlyDenied"


@settings(max_examples=300, deadline=None)
@given(CASES)
def test_every_answer_explains_itself_consistently(case: dict[str, Any]) -> None:
    answer = simulate_case(case)
    explanation = answer["explanation"]
    assert explanation["sentence"] and explanation["layer"] == answer["decided_by"]
    if answer["decision"] == "ExplicitlyDenied":
        # the deny and its layer (no AWS-owned resource is among these requests)
        assert explanation["statement"]["effect"] == "Deny" and explanation["statement"]["layer"] == answer["decided_by"]
    elif answer["decision"] == "Allowed":
        assert explanation["allowed_by"] and all(s["effect"] == "Allow" for s in explanation["allowed_by"])
        assert answer["decided_by"] in {s["layer"] for s in explanation["allowed_by"]}
    elif explanation["statement"] is not None:
        assert explanation["statement"]["effect"] == "Allow"
    if answer["resource_pattern"] is not None:  # the pattern's readings never contradict the decision
        readings = answer["resource_pattern"]
        assert readings["as_written"]["decision"] == answer["decision"]
        assert readings["every"]["decision"] != "Allowed" or answer["decision"] == "Allowed"
