"""Which CloudTrail events an investigation needs: the kept-events rule, as data.

An organisation trail holds millions of records a day, nearly all of them data-plane noise (KMS
``Decrypt``, S3 reads, EC2 describes). The analysis reads only a few event sources and names; this
module says which, so that the archive reader and the SQL of the Athena and
CloudTrail Lake paths keep exactly the same events. The tables are plain frozensets and dicts so that
SQL can be generated from them:

- :data:`KEPT_SOURCES`: event sources kept whole (every event name).
- :data:`KEPT_EVENTS`: for other sources, the event names kept.
- :data:`KEPT_ERROR_WORDS`: an event of any source is kept when its ``errorCode``, lower-cased, contains
  one of these words (the AccessDenied and throttling families: ``AccessDenied``,
  ``AccessDeniedException``, ``Client.UnauthorizedOperation``, ``ThrottlingException``,
  ``RequestLimitExceeded``, ``TooManyRequestsException``...). In SQL: ``lower(errorCode) LIKE '%word%'``.

An event is kept when any of the three says so (:func:`is_relevant`). Matching of sources and names is
exact and case-sensitive, as CloudTrail writes them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

# Sources whose every event the analysis may read: IAM and Organizations changes rebuild the role's
# and the SCPs' history; STS AssumeRole (refused or not) is the delivery service taking the role; every
# CloudWatch Logs call of the delivery role is a delivery signal, and log group changes
# (Create/DeleteLogGroup, Associate/DisassociateKmsKey, PutRetentionPolicy...) are on the timeline.
KEPT_SOURCES: frozenset[str] = frozenset({
    "iam.amazonaws.com",
    "sts.amazonaws.com",
    "logs.amazonaws.com",
    "organizations.amazonaws.com",
})

# source -> event names kept from it.
KEPT_EVENTS: dict[str, frozenset[str]] = {
    # The flow logs' own lifecycle (reconstruction, region inference, the DeleteFlowLogs root cause).
    # ReplaceNetworkAclEntry and the like change traffic, not delivery: not needed.
    "ec2.amazonaws.com": frozenset({"CreateFlowLogs", "DeleteFlowLogs"}),
    # Key policy and key state: what decides whether CloudWatch Logs can use the log group's key.
    # Grants also give or take that use. Not the torrent of Decrypt/Encrypt/GenerateDataKey.
    "kms.amazonaws.com": frozenset({
        "PutKeyPolicy",
        "DisableKey",
        "EnableKey",
        "ScheduleKeyDeletion",
        "CancelKeyDeletion",
        "CreateGrant",
        "RevokeGrant",
        "RetireGrant",
    }),
    # An attacker who stops flow logs often blinds the trail as well (MITRE ATT&CK T1562.008).
    "cloudtrail.amazonaws.com": frozenset({
        "StopLogging",
        "StartLogging",
        "DeleteTrail",
        "UpdateTrail",
        "PutEventSelectors",
        "PutInsightSelectors",
    }),
    # The alarms that follow a delivery failure: who created, changed, muted or deleted them.
    "monitoring.amazonaws.com": frozenset({
        "PutMetricAlarm",
        "DeleteAlarms",
        "DisableAlarmActions",
        "EnableAlarmActions",
        "SetAlarmState",
    }),
}

# Lower-case words; an errorCode containing one is of the AccessDenied or throttling families.
KEPT_ERROR_WORDS: tuple[str, ...] = (
    "accessdenied",
    "unauthorized",
    "throttl",
    "requestlimitexceeded",
    "toomanyrequests",
)


def is_relevant_error(error_code: Any) -> bool:
    """Whether ``error_code`` is of the AccessDenied or throttling families (see :data:`KEPT_ERROR_WORDS`).

    Parameters
    ----------
    error_code : Any
        The record's ``errorCode``; anything but a non-empty string is no error.

    Returns
    -------
    bool
    """
    return isinstance(error_code, str) and _error_kept(error_code)


@lru_cache(maxsize=4096)  # an archive holds a few dozen distinct error codes, millions of times
def _error_kept(code: str) -> bool:
    lowered = code.lower()
    return any(word in lowered for word in KEPT_ERROR_WORDS)


def is_relevant(event_source: Any, event_name: Any, error_code: Any = None) -> bool:
    """Whether an investigation needs this CloudTrail event.

    Parameters
    ----------
    event_source : Any
        ``eventSource``, e.g. ``iam.amazonaws.com``.
    event_name : Any
        ``eventName``, e.g. ``PutRolePolicy``.
    error_code : Any, optional
        ``errorCode``, if any.

    Returns
    -------
    bool
        True when the source is kept whole, the name is kept for its source, or the error is of the
        AccessDenied or throttling families. Non-string values (attacker-controlled records) are never
        kept by source or name.

    Examples
    --------
    >>> is_relevant("kms.amazonaws.com", "PutKeyPolicy", None)
    True
    >>> is_relevant("kms.amazonaws.com", "Decrypt", None)
    False
    >>> is_relevant("s3.amazonaws.com", "GetObject", "AccessDenied")
    True
    """
    # Called for every record of an archive: exact type checks, the cheapest in CPython.
    if event_source.__class__ is str:
        if event_source in KEPT_SOURCES:
            return True
        names = KEPT_EVENTS.get(event_source)
        if names is not None and event_name.__class__ is str and event_name in names:
            return True
    return error_code.__class__ is str and _error_kept(error_code)
