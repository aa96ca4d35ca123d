"""AccessDenied messages as evidence: which layer AWS says denied the request.

AWS writes (IAM User Guide, "Troubleshoot access denied error messages")
``User: ARN is not authorized to perform: ACTION on resource: RESOURCE because no TYPE policy
allows the ACTION action`` for an implicit deny and ``... with an explicit deny in a TYPE policy``
for an explicit one, since 2025 followed by ``: POLICY_ARN`` in the same account or organisation.
Older messages, and some services, stop after the resource.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The policy type as AWS names it in the message -> the evaluator's layer.
POLICY_TYPES: dict[str, str] = {
    "identity-based": "identity",
    "resource-based": "resource",
    "permissions boundary": "boundary",
    "session": "session",
    "service control": "scp",
    "resource control": "rcp",
    "vpc endpoint": "vpc-endpoint",
}
# (layer, explicit) -> the root cause it points at for a flow log's delivery role; the trust
# policy is the resource-based policy of sts:AssumeRole.
ROOT_CAUSES: dict[tuple[str, bool], str] = {
    ("identity", False): "permission-missing",
    ("identity", True): "explicit-deny",
    ("boundary", False): "boundary-deny",
    ("boundary", True): "boundary-deny",
    ("scp", False): "scp-deny",
    ("scp", True): "scp-deny",
    ("resource", False): "trust-missing-service",
    ("resource", True): "trust-missing-service",
}

_TYPE = "|".join(re.escape(name) for name in POLICY_TYPES)
_MESSAGE = re.compile(
    r"(?:(?:User|Principal):\s*)?(?P<principal>\S+) is not authorized to perform:\s*(?P<action>[\w\-*]+:[\w\-*]+)"
    r"(?:\s+on resource:\s*\"?(?P<resource>[^\s\"]+)\"?)?"
    r"(?:\s+(?:because no (?P<implicit>" + _TYPE + r")(?: policy| policies)? allows? the \S+ action"
    r"|with an explicit deny in (?:a|an|the) (?P<explicit>" + _TYPE + r")(?: policy)?)"
    r"(?::\s*(?P<policy_arn>arn:[^\s,;]+))?)?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Denial:
    """What an AccessDenied message says.

    ``layer`` is ``identity``, ``resource``, ``boundary``, ``session``, ``scp``, ``rcp`` or
    ``vpc-endpoint``, and ``explicit`` says whether a Deny statement did it; both are None when the
    message gives no reason.
    """

    principal: str
    action: str
    resource: str | None
    layer: str | None
    explicit: bool | None
    policy_arn: str | None

    @property
    def root_cause(self) -> str | None:
        """The delivery root cause the message points at, when it names a layer that has one."""
        if self.layer is None or self.explicit is None:
            return None
        action = self.action.lower()
        if self.layer == "resource" and action != "sts:assumerole":
            return None
        return ROOT_CAUSES.get((self.layer, self.explicit))


def parse_access_denied(message: str) -> Denial | None:
    """Parse an AccessDenied message into the principal, action, resource and denying layer.

    Parameters
    ----------
    message : str
        The ``errorMessage`` of a CloudTrail record or the text of a client error, with or without
        the ``An error occurred (AccessDenied) when calling ...:`` prefix.

    Returns
    -------
    Denial or None
        None when the text is not an authorisation failure of this form.
    """
    if not message:
        return None
    match = _MESSAGE.search(message)
    if match is None:
        return None
    implicit, explicit = match.group("implicit"), match.group("explicit")
    named = implicit or explicit
    return Denial(
        principal=match.group("principal"),
        action=match.group("action"),
        resource=_trim(match.group("resource")),
        layer=POLICY_TYPES[named.lower()] if named else None,
        explicit=None if named is None else explicit is not None,
        policy_arn=_trim(match.group("policy_arn")),
    )


def _trim(value: str | None) -> str | None:
    """Drop the sentence's full stop from a value that ends the message."""
    return value.rstrip(".") if value else value
