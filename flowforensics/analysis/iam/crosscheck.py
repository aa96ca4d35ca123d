"""Cross-check: where the evidence holds ``SimulatePrincipalPolicy`` results, does AWS agree with us?

Each simulation row (the ``simulations`` frame) is re-decided offline for the delivery role on the
verdict's policies; any row where the two disagree becomes a finding. A disagreement where AWS
reported missing context values is ``inconclusive`` (the simulation lacked what the real request
carries); otherwise it is ``confirmed``.
"""

from __future__ import annotations

from typing import Any

from flowforensics.analysis.iam.delivery import DeliveryVerdict
from flowforensics.analysis.iam.evaluate import ALLOWED, EXPLICIT, IMPLICIT
from flowforensics.analysis.results import Finding
from flowforensics.evidence.values import text

FINDING_CODE = "iam-simulation-mismatch"
# EvalDecision of SimulatePrincipalPolicy -> the evaluator's decision
EVAL_DECISIONS = {"allowed": ALLOWED, "implicitdeny": IMPLICIT, "explicitdeny": EXPLICIT}


def cross_check(simulations: Any, verdict: DeliveryVerdict) -> list[Finding]:
    """Compare ``SimulatePrincipalPolicy`` results with the offline decisions.

    Parameters
    ----------
    simulations : pandas.DataFrame
        The ``simulations`` frame (:mod:`flowforensics.frames.schema`).
    verdict : DeliveryVerdict
        The offline verdict for the role whose simulations these are.

    Returns
    -------
    list of Finding
        One finding per disagreement; rows of other principals, and rows whose decision is not
        one of AWS's three, are skipped.
    """
    findings = []
    for row in simulations.to_dict("records"):
        principal = text(row.get("principal_arn"))
        if principal and principal != verdict.role_arn:
            continue
        action, aws_decision = text(row.get("action")), EVAL_DECISIONS.get((text(row.get("decision")) or "").lower())
        if not action or aws_decision is None:
            continue
        resource = text(row.get("resource")) or "*"
        ours = verdict.evaluate_permission(action, resource)
        if ours.decision == aws_decision:
            continue
        missing = row.get("missing_context")
        missing = list(missing) if isinstance(missing, (list, tuple)) else []
        source = text(row.get("source_file")) or "simulations"
        summary = (
            f"SimulatePrincipalPolicy says {aws_decision} for {action} on {resource}, "
            f"the offline evaluation says {ours.decision} (decided by {ours.decided_by})"
        )
        if missing:
            summary += f"; the simulation lacked context values {', '.join(map(str, missing))}"
        evidence = [f"{source}: SimulatePrincipalPolicy {action} {resource}"]
        evidence += [statement.label for statement in ours.statements]
        findings.append(Finding(FINDING_CODE, "inconclusive" if missing else "confirmed", summary, evidence))
    return findings
