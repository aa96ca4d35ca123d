"""The delivery verdict: the five actions on their resources, the trust, the root cause and its reasons."""

from __future__ import annotations

import json

import pytest
from iam_states import ACCOUNT, ACTIONS, GROUP_ARN, REGION, ROLE_ARN, documented_policy, trust_policy

from flowforensics.analysis.iam import delivery_verdict, flow_log_arn
from flowforensics.analysis.root_causes import ROOT_CAUSES


def test_the_documented_role_delivers(healthy: dict) -> None:
    verdict = delivery_verdict(**healthy)
    assert verdict.allowed and verdict.root_cause is None and verdict.reasons == ()
    assert [c.name for c in verdict.checks] == ["trust", *ACTIONS]
    resources = {c.action: c.resource for c in verdict.checks}
    assert resources == {
        "sts:AssumeRole": ROLE_ARN,
        "logs:CreateLogGroup": GROUP_ARN,
        "logs:CreateLogStream": f"{GROUP_ARN}:log-stream:*",
        "logs:PutLogEvents": f"{GROUP_ARN}:log-stream:*",
        "logs:DescribeLogGroups": "*",
        "logs:DescribeLogStreams": GROUP_ARN,
    }
    assert verdict.trust.decision.statements[0].source == "trust"


def test_flow_log_arn_is_the_source_arn_format() -> None:
    assert flow_log_arn(flow_log_id="fl-1", region="cn-north-1", account_id=ACCOUNT, partition="aws-cn") == (
        f"arn:aws-cn:ec2:cn-north-1:{ACCOUNT}:vpc-flow-log/fl-1"
    )


def test_group_scoped_policy_without_star_fails_the_stream_actions(healthy: dict) -> None:
    healthy["identity_policies"] = [("scoped", documented_policy(GROUP_ARN))]
    verdict = delivery_verdict(**healthy)
    denied = [c.action for c in verdict.checks if not c.decision.allowed]
    assert denied == ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups"]
    assert verdict.root_cause == "permission-missing"
    assert any("without ':*'" in reason for reason in verdict.reasons)
    assert any('Resource "*"' in reason for reason in verdict.reasons)


def test_least_privilege_scoping_delivers(healthy: dict) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": [a for a in ACTIONS if a != "logs:DescribeLogGroups"],
             "Resource": [GROUP_ARN, f"{GROUP_ARN}:*"]},
            {"Effect": "Allow", "Action": "logs:DescribeLogGroups", "Resource": "*"},
        ],
    }
    healthy["identity_policies"] = [json.dumps(policy)]
    assert delivery_verdict(**healthy).allowed


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"trust_policy": trust_policy(service="ec2.amazonaws.com")}, "trust-missing-service"),
        ({"trust_policy": None}, "trust-missing-service"),
        ({"flow_log_arn": f"arn:aws:ec2:{REGION}:444455556666:vpc-flow-log/fl-1"}, "trust-condition-mismatch"),
        ({"account_id": "444455556666"}, "trust-condition-mismatch"),
        ({"identity_policies": []}, "permission-missing"),
        ({"permissions_boundary": ("arn:aws:iam::111122223333:policy/boundary",
                                   {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})},
         "boundary-deny"),
        ({"scp_levels": [[{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
                          {"Statement": [{"Sid": "NoLogs", "Effect": "Deny", "Action": "logs:*", "Resource": "*"}]}]]},
         "scp-deny"),
    ],
)
def test_each_iam_root_cause(healthy: dict, change: dict, code: str) -> None:
    verdict = delivery_verdict(**{**healthy, **change})
    assert not verdict.allowed
    assert verdict.root_cause == code
    assert code in ROOT_CAUSES
    assert verdict.reasons


def test_explicit_deny_names_the_statement(healthy: dict) -> None:
    deny = {"Version": "2012-10-17", "Statement": [{"Sid": "StopFlowLogs", "Effect": "Deny", "Action": "logs:PutLogEvents", "Resource": "*"}]}
    healthy["identity_policies"] = [*healthy["identity_policies"], ("quarantine", deny)]
    verdict = delivery_verdict(**healthy)
    assert verdict.root_cause == "explicit-deny"
    assert verdict.check("logs:PutLogEvents").decision.decision == "ExplicitlyDenied"
    assert verdict.reasons == (
        f"logs:PutLogEvents on {GROUP_ARN}:log-stream:* is explicitly denied by an identity policy of the role: "
        "statement 'StopFlowLogs' of quarantine",
    )


def test_trust_is_fixed_first_when_several_causes(healthy: dict) -> None:
    verdict = delivery_verdict(**{**healthy, "trust_policy": trust_policy(service="ec2.amazonaws.com"), "identity_policies": []})
    assert verdict.root_cause == "trust-missing-service"
    assert len(verdict.reasons) == 6


def test_missing_flow_log_arn_fails_a_source_arn_condition(healthy: dict) -> None:
    verdict = delivery_verdict(**{**healthy, "flow_log_arn": None})
    assert verdict.root_cause == "trust-condition-mismatch"
    assert "unknown" in verdict.reasons[0]
    assert delivery_verdict(**{**healthy, "flow_log_arn": None, "trust_policy": trust_policy(conditions=False)}).allowed


def test_scps_do_not_govern_the_service_principal(healthy: dict) -> None:
    deny_sts = [[{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"},
                                {"Effect": "Deny", "Action": "sts:*", "Resource": "*"}]}]]
    assert delivery_verdict(**healthy, scp_levels=deny_sts).allowed


def test_cross_partition_delivery() -> None:
    account, region = ACCOUNT, "us-gov-west-1"
    group = f"arn:aws-us-gov:logs:{region}:{account}:log-group:/vpc/flow"
    trust = trust_policy(conditions=False)
    good = {"Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": [group, f"{group}:*"]},
                          {"Effect": "Allow", "Action": "logs:DescribeLogGroups", "Resource": "*"}]}
    args = {"role_arn": f"arn:aws-us-gov:iam::{account}:role/flow", "trust_policy": trust, "log_group": "/vpc/flow",
            "region": region, "account_id": account, "partition": "aws-us-gov"}
    assert delivery_verdict(identity_policies=[good], **args).allowed
    commercial = json.loads(json.dumps(good).replace("aws-us-gov", "aws"))
    assert delivery_verdict(identity_policies=[commercial], **args).root_cause == "permission-missing"


def test_to_dict_is_json_and_names_every_check(healthy: dict) -> None:
    data = json.loads(json.dumps(delivery_verdict(**healthy).to_dict()))
    assert data["allowed"] is True and data["root_cause"] is None
    assert [c["check"] for c in data["checks"]] == ["trust", *ACTIONS]
    assert set(data["checks"][1]) == {"check", "principal", "action", "resource", "decision", "decided_by", "statements",
                                      "explanation"}
    assert data["checks"][1]["explanation"]["sentence"].startswith("logs:CreateLogGroup on ")
    assert data["checks"][1]["explanation"]["allowed_by"][0]["sid"] == "Delivery"


def test_repr_html_escapes_evidence(healthy: dict) -> None:
    evil = "<script>alert(1)</script>"
    deny = {"Statement": [{"Sid": evil, "Effect": "Deny", "Action": "logs:*", "Resource": "*"}]}
    healthy["identity_policies"] = [*healthy["identity_policies"], (f"{evil}-policy", deny)]
    healthy["log_group"] = f"/vpc/{evil}"
    page = delivery_verdict(**healthy)._repr_html_()
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


def test_repeated_states_are_served_from_cache(healthy: dict) -> None:
    first = delivery_verdict(**healthy)
    same_content = json.loads(json.dumps(healthy))  # equal documents, other objects
    same_content["trust_policy"] = tuple(same_content["trust_policy"])
    same_content["identity_policies"] = [tuple(p) for p in same_content["identity_policies"]]
    assert delivery_verdict(**same_content) is first


def test_a_document_changed_in_place_is_recompiled(healthy: dict) -> None:
    policy = documented_policy()
    healthy["identity_policies"] = [("p", policy)]
    assert delivery_verdict(**healthy).allowed
    policy["Statement"][0]["Effect"] = "Deny"
    assert delivery_verdict(**healthy).root_cause == "explicit-deny"
