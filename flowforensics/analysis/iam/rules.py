"""AWS's authorisation rules that the policy grammar does not express, as tables of data.

Each row cites the AWS page that states it; :func:`flowforensics.analysis.iam.evaluate.decide`
applies them:

- :data:`RESOURCE_POLICY_REQUIRED`: resources whose own policy must allow even within one account
  (an identity policy alone is not enough): a role's trust policy for ``sts:AssumeRole*``, a KMS key's
  key policy, which may delegate to the account's IAM policies by naming the account;
- :data:`NO_PERMISSION_NEEDED`: actions that succeed whatever the policies say;
- :data:`AWS_OWNED`: resources AWS owns, which refuse customer writes whatever the policies allow
  (and which a proposed fix never edits).

A resource-based policy's statement without ``Principal`` matches nobody: that rule lives in the
evaluator's resource layer (IAM User Guide, "IAM JSON policy elements: Principal": "You must use the
Principal element in resource-based policies").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from flowforensics.analysis.iam.matching import Glob, compile_glob
from flowforensics.analysis.iam.reference import access_levels

PRINCIPAL_DOC = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html"
# Access levels of the Service Authorization Reference that change a resource.
WRITE_LEVELS = frozenset("WPT")


@lru_cache(maxsize=256)
def _glob(pattern: str, ignore_case: bool) -> Glob:
    return compile_glob(pattern, ignore_case)  # linear time: the requests are the evidence's


@dataclass(frozen=True)
class ResourcePolicyRequired:
    """Requests of ``actions`` on resources matching ``resource`` need ``policy`` to allow them."""

    actions: tuple[str, ...]
    resource: str
    policy: str
    doc: str

    def applies(self, action: str, resource: str) -> bool:
        return any(_glob(a, True).match(action) for a in self.actions) and bool(_glob(self.resource, False).match(resource))


@dataclass(frozen=True)
class AwsOwned:
    """Resources matching ``resource`` are AWS's: no customer write (an action of ``service`` whose
    access level is Write, Permissions management or Tagging, but ``allowed``) succeeds."""

    resource: str
    what: str
    service: str
    allowed: tuple[str, ...]
    doc: str

    def refuses(self, action: str, resource: str) -> bool:
        prefix, _, name = action.partition(":")
        if prefix.lower() != self.service or not _glob(self.resource, False).match(resource):
            return False
        if any(action.lower() == allowed.lower() for allowed in self.allowed):
            return False
        return bool(WRITE_LEVELS & set(access_levels(action) or ""))


EVALUATION_DOC = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html"
RESOURCE_POLICY_REQUIRED: tuple[ResourcePolicyRequired, ...] = (
    # "IAM role trust policies and KMS key policies are exceptions to this logic, because they must
    # explicitly allow access for principals."
    ResourcePolicyRequired(("sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:AssumeRoleWithWebIdentity"),
                           "arn:*:iam::*:role/*", "the role's trust policy", EVALUATION_DOC),
    # "Unless the key policy explicitly allows it, you cannot use IAM policies to allow access to a KMS key."
    ResourcePolicyRequired(("kms:*",), "arn:*:kms:*:*:key/*", "the key policy",
                           "https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html"),
)

# action (lower case) -> the page that says it needs no permission ("If an administrator attaches a
# policy to your identity that explicitly denies access to the sts:GetCallerIdentity action, you can
# still perform this operation").
NO_PERMISSION_NEEDED: dict[str, str] = {
    "sts:getcalleridentity": "https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html",
}

AWS_OWNED: tuple[AwsOwned, ...] = (
    # "You cannot change the permissions defined in AWS managed policies."
    AwsOwned("arn:*:iam::aws:policy/*", "an AWS managed policy", "iam", (),
             "https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_managed-vs-inline.html#aws-managed-policies"),
    # A service-linked role's permissions and trust are the service's; only its description can be
    # edited, and it is deleted through iam:DeleteServiceLinkedRole.
    AwsOwned("arn:*:iam::*:role/aws-service-role/*", "a service-linked role", "iam",
             ("iam:DeleteServiceLinkedRole", "iam:UpdateRoleDescription", "iam:PassRole", "iam:CreateServiceLinkedRole"),
             "https://docs.aws.amazon.com/IAM/latest/UserGuide/using-service-linked-roles.html"),
    # Roles under /aws-reserved/ (IAM Identity Center's AWSReservedSSO_ roles) are provisioned and
    # edited by the service's own service-linked role (AWSSSOServiceRolePolicy), not by customers.
    AwsOwned("arn:*:iam::*:role/aws-reserved/*", "an AWS-reserved role (IAM Identity Center)", "iam", ("iam:PassRole",),
             "https://docs.aws.amazon.com/singlesignon/latest/userguide/referencingpermissionsets.html"),
    # "You cannot create, update or delete aliases that begin with alias/aws/: they are reserved for
    # AWS managed keys."
    AwsOwned("arn:*:kms:*:*:alias/aws/*", "an AWS managed key's alias", "kms", (),
             "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html"),
)


@lru_cache(maxsize=4096)
def resource_policy_required(action: str, resource: str) -> ResourcePolicyRequired | None:
    """The rule that makes the resource's own policy necessary for this request, if any."""
    return next((rule for rule in RESOURCE_POLICY_REQUIRED if rule.applies(action, resource)), None)


@lru_cache(maxsize=4096)
def aws_owned(action: str, resource: str) -> AwsOwned | None:
    """The AWS-owned resource pattern that refuses this write, if any."""
    return next((rule for rule in AWS_OWNED if rule.refuses(action, resource)), None)


def owned_by_aws(arn: str) -> AwsOwned | None:
    """The AWS-owned pattern ``arn`` falls under (whatever the action), if any: a fix never edits it."""
    return next((rule for rule in AWS_OWNED if _glob(rule.resource, False).match(arn)), None)


def no_permission_needed(action: str) -> str | None:
    """The page saying ``action`` needs no permission, or None."""
    return NO_PERMISSION_NEEDED.get(action.lower())
