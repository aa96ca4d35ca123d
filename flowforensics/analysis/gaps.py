"""The manifest's gaps as the analysis reads them: what could not be read, where, over which window, and why.

A gap (docs/collection.md) is an API call whose answer is not in the evidence. For the diagnosis it
bears on a hypothesis only where the hypothesis's evidence lies: a CloudTrail read refused for part of
the window leaves undecided only what rests on events of that part, and the role's documents left
unread leave undecided only the verdicts that need them. :data:`UNREAD` says, per operation, what
part of the delivery documents a refused read leaves unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flowforensics.evidence.values import frame_time, scalar_text, to_second

# Gap operations name their service as the prefix of ``service:Operation``; CloudTrail archives in S3
# and CloudTrail Lake or Athena queries count as CloudTrail.
GAP_SERVICES = {"s3": "cloudtrail", "athena": "cloudtrail"}
# A read refused because the resource is gone is evidence of absence, not missing evidence (an account
# in no organization has no SCP).
ABSENT_ERRORS = ("NoSuchEntity", "NoSuchEntityException", "ResourceNotFoundException", "NotFound",
                 "AWSOrganizationsNotInUseException")
# The parameters that bound a read in time (LookupEvents; the archive and query paths' windows).
WINDOW_PARAMETERS = (("StartTime", "EndTime"), ("startTime", "endTime"), ("start", "end"))

# Operation -> (the delivery document it leaves unread, the parameter naming whose, the parameter
# naming the document itself): the role's reads of iam.py's role_details, the SCPs' of
# organizations.py, the key policy of kms.py. A ``None`` whose: the read concerns every role or policy.
UNREAD: dict[str, tuple[str, str | None, str | None]] = {
    "iam:GetRole": ("the role (its trust policy, policies and permissions boundary)", "RoleName", None),
    "iam:GetAccountAuthorizationDetails": ("the account's roles and policies", None, None),
    "iam:ListRolePolicies": ("which inline policies the role has", "RoleName", None),
    "iam:GetRolePolicy": ("an inline policy of the role", "RoleName", "PolicyName"),
    "iam:ListAttachedRolePolicies": ("which managed policies are attached to the role", "RoleName", None),
    "iam:GetPolicy": ("a managed policy of the role", "PolicyArn", "PolicyArn"),
    "iam:ListPolicyVersions": ("a managed policy of the role", "PolicyArn", "PolicyArn"),
    "iam:GetPolicyVersion": ("a managed policy of the role", "PolicyArn", "PolicyArn"),
    "organizations:ListPoliciesForTarget": ("the service control policies", None, None),
    "organizations:DescribePolicy": ("the service control policies", None, "PolicyId"),
    "organizations:ListParents": ("where the service control policies apply", None, None),
    "kms:GetKeyPolicy": ("the log group's KMS key policy", "KeyId", "KeyId"),
}


@dataclass(frozen=True)
class Gap:
    """One gap of the manifest, as the analysis reads it.

    Attributes
    ----------
    operation, service : str
        ``service:Operation`` as recorded, and the evidence source it leaves unread (``cloudtrail``...).
    region : str or None
        None for a global read (IAM, Organizations).
    error_code, error_message : str or None
    start, end : pandas.Timestamp or None
        The window the read covered; None where the call did not bound it (the whole window).
    parameters : dict
        The call's parameters, as recorded.
    """

    operation: str
    service: str
    region: str | None
    error_code: str | None
    error_message: str | None
    start: Any
    end: Any
    parameters: dict[str, Any]

    def overlaps(self, start: Any = None, end: Any = None) -> bool:
        """Whether the read's window meets ``start``..``end`` (None: unbounded on that side)."""
        return (self.start is None or end is None or self.start <= end) and (
            self.end is None or start is None or self.end >= start)

    def window(self) -> str:
        """`` between A and B`` for a read bounded in time, "" for one that covered the whole window."""
        if self.start is None and self.end is None:
            return ""
        if self.start is None:
            return f" until {to_second(self.end)}"
        if self.end is None:
            return f" from {to_second(self.start)} on"
        return f" between {to_second(self.start)} and {to_second(self.end)}"

    def said(self) -> str:
        """``OPERATION in REGION[ between A and B] (ERROR: MESSAGE)``, as a finding says it."""
        # IAM and Organizations are global: only a CloudTrail read without a region spans every region.
        where = f" in {self.region}" if self.region else (" in every region" if self.service == "cloudtrail" else "")
        return f"{self.operation}{where}{self.window()} ({self.error_code}: {self.error_message})"



def _bound(parameters: dict[str, Any], index: int) -> Any:
    import pandas as pd

    for names in WINDOW_PARAMETERS:
        moment = frame_time(parameters.get(names[index]))
        if moment is not None:
            return pd.Timestamp(moment)
    return None


def read_gaps(evidence: Any) -> list[Gap]:
    """The manifest's gaps, except reads answered "not found" (evidence of absence, not missing evidence)."""
    gaps = []
    for gap in evidence.gaps:
        operation = scalar_text(gap.get("operation")) or "an API call"
        code = scalar_text(gap.get("error_code"))
        if code in ABSENT_ERRORS:
            continue
        parameters = gap.get("parameters") if isinstance(gap.get("parameters"), dict) else {}
        service = operation.split(":", 1)[0]
        gaps.append(Gap(operation, GAP_SERVICES.get(service, service), scalar_text(gap.get("region")), code,
                        scalar_text(gap.get("error_message")), _bound(parameters, 0), _bound(parameters, 1), parameters))
    return gaps


def missing(evidence: Any, service: str, regions: set[str | None], start: Any = None, end: Any = None) -> list[Gap]:
    """The gaps of ``service`` in ``regions`` (None: global) whose window meets ``start``..``end``."""
    return [gap for gap in read_gaps(evidence) if gap.service == service and gap.region in regions
            and gap.overlaps(start, end)]


def unread(gaps: list[Gap]) -> str:
    """The gaps as evidence: ``OPERATION in REGION[ between A and B] (ERROR: MESSAGE)``, each once."""
    return "; ".join(dict.fromkeys(gap.said() for gap in gaps))


def role_reads(evidence: Any, role_name: str, policy_arns: set[str]) -> list[Gap]:
    """The gaps of :data:`UNREAD` that leave part of role ``role_name``'s delivery documents unknown.

    Its own reads (``RoleName``), those of its managed policies in ``policy_arns``, and the reads of
    every role or SCP; the key policy is the log group's, not the role's.
    """
    chosen = []
    for gap in read_gaps(evidence):
        key = UNREAD.get(gap.operation, (None, "-", None))[1]
        if gap.service == "kms" or key == "-":
            continue
        named = scalar_text(gap.parameters.get(key)) if key else None
        if key is None or (key == "RoleName" and named == role_name) or (key == "PolicyArn" and named in policy_arns):
            chosen.append(gap)
    return chosen


def unread_note(gap: Gap) -> str:
    """``WHAT could not be read: OPERATION (ERROR: MESSAGE)`` for a gap of :data:`UNREAD`."""
    what, _whose, name = UNREAD[gap.operation]
    named = scalar_text(gap.parameters.get(name)) if name else None
    return f"{what}{f' ({named})' if named else ''} could not be read: {gap.said()}"
