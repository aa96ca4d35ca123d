"""IAM, offline: a policy evaluator that explains itself, the delivery verdict, and a proven fix.

- :func:`evaluate` decides one request across identity, resource-based, boundary, SCP, RCP and
  session policies (:mod:`.evaluate`, on :mod:`.documents`, :mod:`.matching`, :mod:`.conditions`).
- :func:`delivery_verdict` decides whether a role can deliver a flow log to its log group
  (:mod:`.delivery`); :func:`propose_fix` proves the smallest fix (:mod:`.remediation`).
- :func:`parse_access_denied` reads the layer an AccessDenied message names (:mod:`.denial`);
  :func:`cross_check` compares SimulatePrincipalPolicy results with the offline decisions
  (:mod:`.crosscheck`); :mod:`.simulate` is the ``iam simulate`` contract.
"""

from __future__ import annotations

from flowforensics.analysis.iam.crosscheck import cross_check
from flowforensics.analysis.iam.delivery import DeliveryVerdict, delivery_verdict, flow_log_arn
from flowforensics.analysis.iam.denial import Denial, parse_access_denied
from flowforensics.analysis.iam.documents import PolicyError
from flowforensics.analysis.iam.evaluate import Decision, MatchedStatement, Request, evaluate
from flowforensics.analysis.iam.remediation import propose_fix

__all__ = [
    "Decision",
    "DeliveryVerdict",
    "Denial",
    "MatchedStatement",
    "PolicyError",
    "Request",
    "cross_check",
    "delivery_verdict",
    "evaluate",
    "flow_log_arn",
    "parse_access_denied",
    "propose_fix",
]
