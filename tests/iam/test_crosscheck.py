"""Cross-check against SimulatePrincipalPolicy results held in the evidence."""

from __future__ import annotations

from iam_states import GROUP_ARN, ROLE_ARN, documented_policy

from flowforensics.analysis.iam import cross_check, delivery_verdict
from flowforensics.frames.schema import frame


def _simulation(action: str, resource: str, decision: str, **extra: object) -> dict:
    return {"principal_arn": ROLE_ARN, "action": action, "resource": resource, "decision": decision,
            "matched_statements": [], "missing_context": [], "source_file": "simulate-principal-policy.json", **extra}


def test_agreement_gives_no_finding(healthy: dict) -> None:
    verdict = delivery_verdict(**healthy)
    simulations = frame("simulations", [_simulation("logs:PutLogEvents", f"{GROUP_ARN}:log-stream:eni-1", "allowed"),
                                        _simulation("logs:DescribeLogGroups", "*", "allowed")])
    assert cross_check(simulations, verdict) == []


def test_disagreement_is_a_confirmed_finding(healthy: dict) -> None:
    healthy["identity_policies"] = [("scoped", documented_policy(GROUP_ARN))]
    verdict = delivery_verdict(**healthy)
    simulations = frame("simulations", [_simulation("logs:PutLogEvents", f"{GROUP_ARN}:log-stream:eni-1", "allowed"),
                                        _simulation("logs:CreateLogGroup", GROUP_ARN, "allowed")])
    findings = cross_check(simulations, verdict)
    assert len(findings) == 1
    assert findings[0].verdict == "confirmed"
    assert "ImplicitlyDenied" in findings[0].summary and "simulate-principal-policy.json" in findings[0].evidence[0]


def test_missing_context_makes_it_inconclusive(healthy: dict) -> None:
    verdict = delivery_verdict(**healthy)
    simulations = frame("simulations", [_simulation("logs:PutLogEvents", f"{GROUP_ARN}:log-stream:x", "implicitDeny",
                                                    missing_context=["aws:SourceIp"])])
    [finding] = cross_check(simulations, verdict)
    assert finding.verdict == "inconclusive" and "aws:SourceIp" in finding.summary


def test_rows_of_other_principals_and_empty_frames_are_skipped(healthy: dict) -> None:
    verdict = delivery_verdict(**healthy)
    other = _simulation("logs:PutLogEvents", "*", "explicitDeny", principal_arn="arn:aws:iam::111122223333:role/other")
    assert cross_check(frame("simulations", [other]), verdict) == []
    assert cross_check(frame("simulations"), verdict) == []
