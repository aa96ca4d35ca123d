"""The root-cause codes of docs/contracts.md, as data."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RootCause:
    """One root cause: its contract code and what it means to a reader."""

    code: str
    meaning: str
    security: bool = False  # also a defense-evasion finding (MITRE ATT&CK T1562.008)


ROOT_CAUSES: dict[str, RootCause] = {
    rc.code: rc
    for rc in (
        RootCause("trust-missing-service", "the trust policy does not let vpc-flow-logs.amazonaws.com assume the role"),
        RootCause("trust-condition-mismatch", "the trust policy's conditions (aws:SourceAccount, aws:SourceArn) exclude this flow log"),
        RootCause("permission-missing", "no identity policy allows a required logs: action on the log group or stream"),
        RootCause("explicit-deny", "an identity policy of the role denies a required action"),
        RootCause("boundary-deny", "the permissions boundary does not allow, or denies, a required action"),
        RootCause("scp-deny", "a service control policy denies a required action"),
        RootCause("role-deleted", "the delivery role no longer exists"),
        RootCause("role-recreated", "the role was deleted and created again under the same name (new role id)"),
        RootCause("log-group-deleted", "the log group was deleted and the role may not create it again", security=True),
        RootCause("kms-key-denied", "the log group's KMS key policy does not let CloudWatch Logs use the key"),
        RootCause("rate-limited", "CloudWatch Logs throttling or the log-group quota (Rate limited)"),
        RootCause("flow-log-deleted", "the flow log itself was deleted", security=True),
        RootCause("none", "delivery is healthy over the window"),
        RootCause("inconclusive", "the evidence cannot decide; the findings say what is missing"),
    )
}
