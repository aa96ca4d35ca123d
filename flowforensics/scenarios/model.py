"""The sample incidents as data: what happens (steps), how delivery reacts, and what a diagnosis must find."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any


@dataclass(frozen=True)
class Step:
    """One API call made during an incident.

    Parameters
    ----------
    after : timedelta
        When, from the incident's anchor (about the trigger's time); seconds of jitter are added from
        the scenario's generator.
    actor : str
        A key of :data:`flowforensics.scenarios.incidents.ACTORS`.
    action : str
        A key of :data:`flowforensics.scenarios.world.ACTIONS` (``put-role-policy``, ``delete-role``...).
    params : mapping
        The action's parameters; callables are called with the simulated account (``World``) so that
        documents can name its ARNs.
    part : str
        ``trigger``, ``recovery`` or ``red-herring``: what the step is to the diagnosis ("" for none).
    """

    after: timedelta
    actor: str
    action: str
    params: Mapping[str, Any] = field(default_factory=dict)
    part: str = ""


@dataclass(frozen=True)
class Incident:
    """How one incident unfolds; :func:`flowforensics.scenarios.world.simulate` plays it.

    Parameters
    ----------
    name, title, description, root_cause
        The scenario's name, a title, 2-3 sentences, and its root-cause code.
    region : str
        The flow log's region.
    steps : tuple of Step
        The calls around the incident (besides the shared setup and the background noise).
    breaks : str
        How delivery breaks: ``request`` (at the next delivery after the trigger: permissions are
        evaluated per request), ``session`` (at the next session refresh: a trust policy is checked
        only when the service assumes the role again), ``spontaneous`` (no trigger, at
        ``failure_after``), ``stop`` (the flow log is deleted), ``latent`` (the trigger refuses delivery,
        but the service's session still delivers when evidence is collected) or ``none``.
    symptom : str
        A key of :data:`flowforensics.scenarios.world.SYMPTOMS`: the CloudTrail calls that fail at
        each failed delivery ("" for none).
    symptom_after_refresh : str
        The symptom once the session in use expires (a deleted role cannot be assumed again).
    error_message : str
        ``DeliverLogsErrorMessage`` while failing.
    resume_lag : (int, int)
        Minutes from the recovery step to the first delivery, drawn in this range.
    baseline : mapping
        Overrides of the healthy account (``delivery_actions``, ``trust``).
    session_left : timedelta
        For ``session`` breaks, how long the service's current session still runs after the trigger.
    propagation : timedelta
        How long a change takes to reach the delivery path (IAM: seconds; KMS key policies: minutes).
    failure_after : timedelta
        For ``spontaneous`` breaks, when delivery starts failing.
    collect_after : timedelta
        When evidence is collected, from the anchor.
    trail : str
        ``lookup`` (lookup-events pages), ``s3`` (delivered log files), ``both`` or ``none``.
    organization_trail : bool
        S3 files come from an organization trail (``AWSLogs/o-.../ACCT/...``, management account too).
    iam_evidence : str
        ``authorization-details``, ``get-role`` or ``none`` (the role is gone).
    collect_scps, collect_key_policy : bool
        Whether the folder holds ``organizations describe-policy`` / ``kms get-key-policy`` output.
    gaps : tuple of (operation, region, error code, message)
        APIs collection could not read; region is ``None`` (a global API), ``home`` (the flow log's)
        or a region name; the message may name ``{role}`` and ``{collector}``. An operation with a gap
        has no evidence file, except ``cloudtrail:LookupEvents`` with ``gap_window`` set.
    gap_window : (timedelta, timedelta) or None
        When set, the ``cloudtrail:LookupEvents`` gaps cover only this window (from the anchor): the
        region's events before and after it were read.
    destination : str
        How ``CreateFlowLogs`` named the log group: ``name`` (``LogGroupName``) or ``arn``
        (``LogDestination``, the log group's ARN, with ``LogDestinationType`` ``cloud-watch-logs``).
    """

    name: str
    title: str
    description: str
    root_cause: str
    region: str
    steps: tuple[Step, ...]
    breaks: str
    symptom: str = ""
    symptom_after_refresh: str = ""
    error_message: str = "Access error"
    resume_lag: tuple[int, int] = (7, 11)
    baseline: Mapping[str, Any] = field(default_factory=dict)
    session_left: timedelta = timedelta(minutes=35)
    propagation: timedelta = timedelta(seconds=20)
    failure_after: timedelta = timedelta(0)
    collect_after: timedelta = timedelta(hours=3)
    trail: str = "lookup"
    organization_trail: bool = False
    iam_evidence: str = "authorization-details"
    collect_scps: bool = False
    collect_key_policy: bool = False
    gaps: tuple[tuple[str, str | None, str, str], ...] = ()
    gap_window: tuple[timedelta, timedelta] | None = None
    destination: str = "name"


@dataclass(frozen=True)
class Expected:
    """What a correct diagnosis of the scenario's flow log finds (the ``diagnose --json`` fields).

    ``failure_started`` is the time of the first failed delivery: where CloudTrail shows the delivery
    path failing (a denied ``CreateLogStream``, ``AssumeRole`` or ``GenerateDataKey``), the first such
    event's time; ``None`` when delivery never failed, including a deleted flow log (it stops, it does
    not fail). ``trigger_actor`` is the trigger's ``userIdentity.arn``. ``delivery_resumed`` is the
    first delivery after the recovery event. ``red_herring_event_ids`` are unrelated changes close to
    the failure (another role's policy) that a diagnosis must not name. ``state`` is the flow log's
    state (:data:`flowforensics.analysis.results.STATES`).
    """

    flow_log_id: str
    region: str
    account_id: str
    role_arn: str
    log_group: str
    status: str
    root_cause: str
    failure_started: str | None
    trigger_event_id: str | None
    trigger_event_name: str | None
    trigger_actor: str | None
    recovery_event_id: str | None
    recovery_event_name: str | None
    delivery_resumed: str | None
    red_herring_event_ids: tuple[str, ...] = ()
    state: str = "unknown"


@dataclass(frozen=True)
class Scenario:
    """A sample incident: its name, title, description and what the diagnosis must find."""

    name: str
    title: str
    description: str
    expected: Expected

