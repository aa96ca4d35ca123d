"""One collection run: what to collect for flow logs, roles or a whole fleet, and in which order."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flowforensics.collection import cloudtrail, cloudwatch, ec2, fleet, iam, kms, logs, organizations
from flowforensics.collection.cloudtrail import Subject
from flowforensics.collection.progress import Progress
from flowforensics.collection.recorder import CollectionResult, Recorder
from flowforensics.collection.session import CONNECT_TIMEOUT, READ_TIMEOUT, ClientFactory, make_session
from flowforensics.collection.stopping import Stop, run_bounded
from flowforensics.errors import CollectionError, EvidenceError
from flowforensics.evidence.manifest import MANIFEST_NAME, EvidenceWriter, read_manifest
from flowforensics.evidence.values import iso, window_time

CLOUDWATCH_LOGS = "cloud-watch-logs"
# The whole run's time limit by default: a fleet of regions at CloudTrail's 2 lookups a second fits.
DEFAULT_DEADLINE = 30 * 60.0


class CollectionInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a collection; the manifest was written, with what was cut short as gaps.

    Attributes
    ----------
    result : CollectionResult
        What was collected before the interrupt.
    """

    def __init__(self, result: CollectionResult) -> None:
        super().__init__("collection interrupted")
        self.result = result


def earlier_manifest(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The manifest an earlier run left in ``folder``, or ``None`` when there is none that can be read
    (this run then resumes nothing)."""
    if not (Path(folder) / MANIFEST_NAME).is_file():
        return None
    try:
        return read_manifest(folder)
    except EvidenceError:
        return None


def unfinished_run(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The folder's last collection run when it did not finish (interrupted, deadline, credentials), else ``None``."""
    runs = (earlier_manifest(folder) or {}).get("runs")
    last = runs[-1] if isinstance(runs, list) and runs and isinstance(runs[-1], dict) else None
    return last if last is not None and last.get("outcome") != "complete" else None


def option_time(value: datetime | str | None, option: str) -> datetime | None:
    """Parse a time given to ``option`` (any AWS time format); ``None`` stays ``None``.

    Raises
    ------
    CollectionError
        When ``value`` is not a time.
    """
    try:
        return window_time(value)
    except ValueError as exc:
        raise CollectionError(f"{option} {exc}") from None


def _role_name(arn: str | None) -> str | None:
    # arn:aws:iam::111122223333:role/path/name -> name
    return arn.rsplit("/", 1)[-1] if arn and ":role/" in arn else None


def log_group_of(flow_log: dict[str, Any]) -> str | None:
    """The CloudWatch Logs group a ``DescribeFlowLogs`` entry delivers to, or ``None``."""
    if flow_log.get("LogGroupName"):
        return flow_log["LogGroupName"]
    destination = flow_log.get("LogDestination") or ""
    if flow_log.get("LogDestinationType") == CLOUDWATCH_LOGS and ":log-group:" in destination:
        return destination.split(":log-group:", 1)[1].removesuffix(":*")
    return None


def _skip_reason(flow_log: dict[str, Any], *, fleet_mode: bool) -> str | None:
    """Why a flow log found by ``--all`` needs no more evidence than its DescribeFlowLogs entry."""
    if not fleet_mode:
        return None
    if flow_log.get("LogDestinationType", CLOUDWATCH_LOGS) != CLOUDWATCH_LOGS:
        return f"delivers to {flow_log['LogDestinationType']}, not CloudWatch Logs"
    if flow_log.get("DeliverLogsStatus") == "SUCCESS":
        return "delivering (DeliverLogsStatus SUCCESS): only its role is read, to tell whether it is at risk"
    return None


def collect(
    out: str | os.PathLike[str],
    *,
    flow_log_ids: Sequence[str] = (),
    role_names: Sequence[str] = (),
    all_flow_logs: bool = False,
    regions: str | Sequence[str] | None = None,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    profile: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    simulate: bool = False,
    session: Any = None,
    clients: Mapping[Any, Any] | None = None,
    clock: Callable[[], datetime] | None = None,
    progress: Progress | None = None,
    deadline: float | None = DEFAULT_DEADLINE,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
) -> CollectionResult:
    """Collect, read-only, the evidence of an investigation into an evidence folder.

    Parameters
    ----------
    out : str or os.PathLike
        The evidence folder (created; an existing manifest is extended).
    flow_log_ids : sequence of str
        Flow logs to investigate (``fl-...``); their CloudTrail history is looked up even when they no
        longer exist.
    role_names : sequence of str
        Delivery roles to investigate, with the flow logs of the visited regions that use them.
    all_flow_logs : bool
        Fleet triage: list every flow log, and collect the evidence of each that is not delivering to
        CloudWatch Logs.
    regions : "all", list of str, comma-separated str, or None
        Regions to visit (``None``: the session's region).
    start, end : datetime or str, optional
        The CloudTrail and metrics window; ``end`` defaults to now, ``start`` to 7 days before it,
        and may not be more than 90 days ago.
    profile, region, endpoint_url : str, optional
        As the AWS CLI's ``--profile``, ``--region`` and ``--endpoint-url``.
    simulate : bool
        Also ask ``iam:SimulatePrincipalPolicy`` about the five delivery actions.
    session : boto3.Session, optional
        A session to use instead of resolving ``profile`` and ``region``.
    clients : mapping, optional
        Clients to use instead of making them, keyed by ``(service, region)`` or ``service``
        (tests inject Stubber-driven clients); they are guarded read-only like the others.
    clock : callable, optional
        Returns now as an aware datetime.
    progress : Progress, optional
        The progress bar; one that shows on a TTY only by default.
    deadline : float or None, default 30 minutes
        Seconds the whole run may take (``None``: no limit). When it passes, no call is sent
        again, every call not made or not answered becomes a gap (``kind: "deadline"``), and the
        manifest is written.
    connect_timeout, read_timeout : float
        Seconds to open a connection, and to wait for each read of an answer, per attempt.

    Returns
    -------
    CollectionResult
        The folder and the counts of files, API pages, gaps, and what was skipped.

    Raises
    ------
    CollectionError
        Nothing to collect, a bad window, no region, or credentials missing, expired or refused
        (one line). Before the caller identity is known nothing is written; after, what was
        collected so far stays in the folder with its manifest, and every call not made is a gap.
    CollectionInterrupted
        On Ctrl-C, once the manifest is written (a ``KeyboardInterrupt``).

    Notes
    -----
    When the folder's last run did not finish, this run resumes it: the same window unless
    ``start`` or ``end`` is given, and the files whose SHA-256 still matches the manifest are kept
    instead of fetched again.
    """
    if not (flow_log_ids or role_names or all_flow_logs):
        raise CollectionError("nothing to collect: give --flow-log-id, --role-name or --all")
    now = (clock or (lambda: datetime.now(UTC)))()
    previous = unfinished_run(out)
    if previous and start is None and end is None:
        start, end = (previous.get("window") or {}).get("start"), (previous.get("window") or {}).get("end")
    start_at, end_at = cloudtrail.window(option_time(start, "--start"), option_time(end, "--end"), now)
    stop = Stop()
    factory = ClientFactory(
        session or make_session(profile, region),
        region=region,
        endpoint_url=endpoint_url,
        clients=clients,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        stop=stop,
    )
    bar = progress or Progress()

    def make(writer: EvidenceWriter) -> Recorder:
        rec = Recorder(writer, factory, resume=previous is not None)
        rec.run = {"started": iso(now), "window": {"start": iso(start_at), "end": iso(end_at)}}
        rec.on_call = bar.note
        return rec

    def work(rec: Recorder) -> None:
        _collect(
            rec,
            bar,
            flow_log_ids=list(flow_log_ids),
            role_names=list(role_names),
            all_flow_logs=all_flow_logs,
            regions=regions,
            start=start_at,
            end=end_at,
            now=now,
            simulate=simulate,
        )

    result = record_bounded(factory, out, stop, deadline, make, work, clock=clock, closing=bar.close)
    if stop.reason is not None and stop.reason.kind == "credentials":
        raise CollectionError(
            f"{stop.reason.message}; the collection stopped with {result.gaps_counted}, listed in "
            f"{result.folder / MANIFEST_NAME}: run the same command again to resume"
        )
    return result


def record_bounded(
    factory: ClientFactory,
    out: str | os.PathLike[str],
    stop: Stop,
    deadline: float | None,
    make: Callable[[EvidenceWriter], Recorder],
    work: Callable[[Recorder], None],
    *,
    clock: Callable[[], datetime] | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    closing: Callable[[], None] = lambda: None,
) -> CollectionResult:
    """Run ``work`` on a recorder into ``out``, bounded by ``deadline`` and Ctrl-C (:func:`run_bounded`).

    The caller identity is asked first: nothing is written before it is known. Then ``make`` makes the
    recorder on the folder's writer, and ``work`` runs on it; however the run ends, its manifest is
    written (``closing`` runs first, e.g. to close a progress bar).

    Returns
    -------
    CollectionResult

    Raises
    ------
    CollectionInterrupted
        On Ctrl-C, once the manifest is written.
    CollectionError
        When the run stopped before the caller identity was known (nothing is written).
    """
    made: list[Recorder] = []
    lock = threading.Lock()

    def run() -> None:
        identity = factory.caller_identity()
        with lock:
            if stop.reason is not None:
                return  # stopped before anyone was known: nothing is written
            writer = EvidenceWriter(out, clock=clock)
            writer.set_caller_identity(identity)
            rec = make(writer)
            made.append(rec)
        work(rec)

    try:
        run_bounded(run, stop, deadline, monotonic=monotonic)
    except KeyboardInterrupt:
        closing()
        with lock:
            if not made:
                raise
            raise CollectionInterrupted(made[0].finish()) from None
    finally:
        closing()
        with lock:
            result = made[0].finish() if made else None
    if result is None:
        reason = stop.reason.message if stop.reason else "the run stopped"
        raise CollectionError(f"sts:GetCallerIdentity: no answer before {reason}; nothing was written")
    return result


def _collect(
    rec: Recorder,
    bar: Progress,
    *,
    flow_log_ids: list[str],
    role_names: list[str],
    all_flow_logs: bool,
    regions: str | Sequence[str] | None,
    start: datetime,
    end: datetime,
    now: datetime,
    simulate: bool,
) -> None:
    account = rec.factory.account or ""
    visited = rec.result.regions
    visited.extend(fleet.resolve_regions(rec, regions))
    bar.add(len(visited))

    def describe(region: str) -> list[dict[str, Any]] | None:
        # Roles: every flow log of the region, then those delivering with the role.
        found = ec2.describe_flow_logs(rec, region, flow_log_ids if not (all_flow_logs or role_names) else ())
        bar.step(f"flow logs {region}")
        return found

    targets: list[tuple[str, dict[str, Any]]] = []
    delivering_roles: list[str | None] = []  # still delivering: their roles tell whether they are at risk
    found_ids = set()
    unread: list[str] = []  # regions whose DescribeFlowLogs became a gap: absence there is unknown
    for region, described in fleet.map_regions(describe, visited).items():
        if described is None:
            unread.append(region)
        flow_logs = described or []
        rec.result.flow_logs += len(flow_logs)
        for flow_log in flow_logs:
            wanted = (
                all_flow_logs
                or flow_log["FlowLogId"] in flow_log_ids
                or _role_name(flow_log.get("DeliverLogsPermissionArn")) in role_names
            )
            reason = _skip_reason(
                flow_log, fleet_mode=all_flow_logs and flow_log["FlowLogId"] not in flow_log_ids
            )
            if wanted and reason:
                rec.skip(f"{flow_log['FlowLogId']} ({region}): {reason}")
                if flow_log.get("DeliverLogsStatus") == "SUCCESS":
                    delivering_roles.append(_role_name(flow_log.get("DeliverLogsPermissionArn")))
            elif wanted:
                targets.append((region, flow_log))
                found_ids.add(flow_log["FlowLogId"])

    # The delivery roles, each once.
    names = list(
        dict.fromkeys([*role_names, *(_role_name(f.get("DeliverLogsPermissionArn")) for _, f in targets),
                       *delivering_roles])
    )
    names = [name for name in names if name]
    bar.add(len(names))
    details: dict[str, dict[str, Any] | None] = {}
    for name in names:
        details[name] = iam.role_details(rec, name)
        bar.step(f"role {name}")

    subjects = []
    for region, flow_log in targets:
        role = _role_name(flow_log.get("DeliverLogsPermissionArn"))
        detail = details.get(role or "") or {}
        subjects.append(
            Subject(
                region=region,
                flow_log_id=flow_log["FlowLogId"],
                log_group=log_group_of(flow_log),
                role_name=role,
                role_arn=flow_log.get("DeliverLogsPermissionArn"),
                policy_arns=tuple(iam.managed_policy_arns(detail)),
            )
        )
    for missing in (i for i in flow_log_ids if i not in found_ids):
        read = [region for region in visited if region not in unread]
        where = f"not found by DescribeFlowLogs in {', '.join(read)}" if read else ""
        if unread:
            where += f"{'; ' if read else ''}DescribeFlowLogs could not be read in {', '.join(unread)} (a gap)"
        rec.skip(f"{missing}: {where}; only its CloudTrail history")
        subjects.extend(Subject(region=region, flow_log_id=missing) for region in visited)
    covered_roles = {s.role_name for s in subjects}
    for name in role_names:
        if name not in covered_roles:
            detail = details.get(name) or {}
            subjects.append(
                Subject(
                    region=rec.factory.region,
                    role_name=name,
                    role_arn=detail.get("Arn"),
                    policy_arns=tuple(iam.managed_policy_arns(detail)),
                )
            )

    by_region: dict[str, list[Subject]] = {}
    for subject in subjects:
        by_region.setdefault(subject.region, []).append(subject)
    bar.add(len(subjects))

    def resources(region: str) -> None:
        alarms = None
        done_groups: set[str] = set()
        for subject in by_region[region]:
            group_name = subject.log_group
            if group_name and group_name not in done_groups:
                done_groups.add(group_name)
                _log_group_evidence(
                    rec, region, subject, group_name, start, end, now, simulate, details, account
                )
                if alarms is None:
                    alarms = cloudwatch.describe_alarms(rec, region)
                for alarm_name in cloudwatch.alarms_on_log_group(alarms, group_name):
                    cloudwatch.alarm_history(rec, region, alarm_name, start, end)
            bar.step(f"{subject.flow_log_id or subject.role_name} {region}")

    fleet.map_regions(resources, by_region)

    bar.add(1)
    organizations.service_control_policies(rec, account)
    bar.step("service control policies")

    lookups = cloudtrail.plan(subjects)
    by_lookup_region: dict[str, list[cloudtrail.Lookup]] = {}
    for lookup in lookups:
        by_lookup_region.setdefault(lookup.region, []).append(lookup)
    bar.add(len(lookups))
    seen = cloudtrail.EventIds()

    def events(region: str) -> None:
        for lookup in by_lookup_region[region]:
            cloudtrail.lookup_events(rec, [lookup], start, end, seen)
            bar.step(f"CloudTrail {lookup.value} {region}")

    fleet.map_regions(events, by_lookup_region)


def _log_group_evidence(
    rec: Recorder,
    region: str,
    subject: Subject,
    group_name: str,
    start: datetime,
    end: datetime,
    now: datetime,
    simulate: bool,
    details: dict[str, dict[str, Any] | None],
    account: str,
) -> None:
    groups = logs.log_groups(rec, region, group_name)
    group = logs.find(groups, group_name)
    streams = logs.log_streams(rec, region, group_name) if group else []
    if groups is None:
        rec.skip(f"{group_name} ({region}): DescribeLogGroups could not be read (a gap); no streams described")
    elif group is None:
        rec.skip(f"{group_name} ({region}): log group not found; no streams to describe")
    elif group.get("kmsKeyId"):
        kms.key_policy(rec, region, group["kmsKeyId"])
    cloudwatch.metric_data(rec, region, group_name, start, end, now)
    if simulate and subject.role_arn and details.get(subject.role_name or ""):
        iam.simulate_delivery(
            rec,
            subject.role_arn,
            region=region,
            account=account,
            log_group=group_name,
            stream=streams[0]["logStreamName"] if streams else "*",
        )
