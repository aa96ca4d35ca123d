"""The timeline of a flow log: everything that happened to it, its role, its policies and its log group.

Lanes: ``iam`` (changes of the role, its managed policies and SCPs, each with a one-line policy
diff in ``detail``), ``flow-log`` (creation, deletion), ``log-group`` (changes of the group, by anyone
but the delivery role, unless the role created it again; its KMS key association and the changes of
its KMS keys), ``delivery`` (failure windows, with their signals) and ``alarm`` (alarm states).
Every event the diagnosis cites as a trigger or a recovery is in one of these lanes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flowforensics.analysis.history import RoleSnapshot, role_history
from flowforensics.analysis.hypotheses import key_changes, with_request
from flowforensics.analysis.observed import corroborated, failure_windows, signals, subject_of
from flowforensics.evidence.records import parsed
from flowforensics.evidence.values import by
from flowforensics.frames.iam_changes import UNKNOWN
from flowforensics.frames.schema import frame

LANES = ("iam", "flow-log", "log-group", "delivery", "alarm")
# The delivery role's own CloudWatch Logs calls are delivery signals, not changes of the log group,
# except these, when they succeed: the role creating a deleted log group again.
ROLE_LIFECYCLE_CALLS = ("CreateLogGroup",)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True) if not isinstance(value, str) else value


def statement_lines(document: Any) -> set[str]:
    """Each (effect, action) of a policy as one short line, with its resources, principal and conditions."""
    if not isinstance(document, dict):
        return set()
    lines = set()
    for statement in _as_list(document.get("Statement")):
        if not isinstance(statement, dict):
            continue
        negated = "Action" not in statement and "NotAction" in statement
        actions = _as_list(statement.get("NotAction" if negated else "Action"))
        tail = ""
        if "Resource" in statement or "NotResource" in statement:
            tail += " on " + ",".join(map(str, _as_list(statement.get("Resource", statement.get("NotResource")))))
        if "Principal" in statement:
            tail += " for " + _compact(statement["Principal"])
        if statement.get("Condition"):
            tail += " if " + _compact(statement["Condition"])
        for action in actions:
            lines.add(f"{statement.get('Effect')} {'not ' if negated else ''}{action}{tail}")
    return lines


def policy_diff(before: Any, after: Any) -> str:
    """A one-line diff of two policy documents (``None`` absent, ``UNKNOWN`` not shown by the evidence)."""
    if before is UNKNOWN:
        return "earlier document unknown; now " + ("absent" if after is None else "; ".join(sorted(statement_lines(after))) or "empty")
    if after is UNKNOWN:
        return "document unknown"
    removed = sorted(statement_lines(before) - statement_lines(after))
    added = sorted(statement_lines(after) - statement_lines(before))
    if before is None and after is not None:
        prefix = "created: "
    elif after is None and before is not None:
        prefix = "deleted: "
    else:
        prefix = ""
    return prefix + ("; ".join([f"-{line}" for line in removed] + [f"+{line}" for line in added]) or "no change to the statements")


def _documents(snapshot: RoleSnapshot) -> dict[str, Any]:
    role = snapshot.role
    documents: dict[str, Any] = {"role": "exists" if role.exists else None}
    if role.exists:
        documents["trust policy"] = role.trust_policy
        documents.update(dict(snapshot.identity_policies()))
        documents["permissions boundary"] = snapshot.boundary()
    documents.update({f"SCP {policy_id}": document for policy_id, document in snapshot.scps()})
    return documents


def snapshot_diff(before: RoleSnapshot, after: RoleSnapshot) -> dict[str, str]:
    """What changed between two role states: ``{what: one-line diff}``."""
    old, new = _documents(before), _documents(after)
    changes = {}
    for name in dict.fromkeys([*old, *new]):
        a, b = old.get(name), new.get(name)
        if name == "role":
            if a != b:
                changes[name] = "created" if b else "deleted"
        elif a is not b and a != b:
            changes[name] = policy_diff(a, b)
    return changes


def _iam_rows(evidence: Any, flow_log_id: str, role_arn: str | None) -> Iterator[dict[str, Any]]:
    if not role_arn:
        return
    history = role_history(evidence, role_arn)
    sources = dict(zip(history.events["event_id"], history.events["source_file"], strict=True))
    for before, after in zip(history.snapshots, history.snapshots[1:], strict=False):
        if after.event_id is None:
            continue
        changes = snapshot_diff(before, after)
        line = " | ".join(f"{what}: {diff}" for what, diff in changes.items()) or "no change to the documents"
        yield {
            "time": after.start, "lane": "iam", "kind": after.event_name,
            "summary": f"{after.event_name}{by(after.actor)}: {line}"[:300],
            "actor": after.actor, "event_id": after.event_id, "flow_log_id": flow_log_id,
            "detail": {"diff": changes}, "source": sources.get(after.event_id),
        }


def _event_row(event: Any, lane: str, flow_log_id: str, summary: str) -> dict[str, Any]:
    return {
        "time": event.event_time, "lane": lane, "kind": event.event_name, "summary": summary, "actor": event.actor,
        "event_id": event.event_id, "flow_log_id": flow_log_id, "detail": {"request": parsed(event.request)}, "source": event.source_file,
    }


def _flow_log_rows(evidence: Any, flow_log: dict[str, Any]) -> Iterator[dict[str, Any]]:
    flow_log_id = flow_log["flow_log_id"]
    ids = {flow_log.get("create_event_id"), flow_log.get("delete_event_id")} - {None}
    events = evidence.events[evidence.events["event_id"].isin(list(ids))]
    for event in events.itertuples(index=False):
        yield _event_row(event, "flow-log", flow_log_id, f"{event.event_name} {flow_log_id}{by(event.actor)}")


def _log_group_rows(evidence: Any, flow_log: dict[str, Any], role_arn: str | None) -> Iterator[dict[str, Any]]:
    group = flow_log.get("log_group")
    if not group:
        return
    events = evidence.events
    # A record without readOnly (NA) is kept: only what says it is read-only is left out.
    events = events[(events["event_source"] == "logs.amazonaws.com") & ~events["read_only"].fillna(False).astype(bool)]
    if role_arn:
        lifecycle = events["event_name"].isin(ROLE_LIFECYCLE_CALLS) & events["error_code"].isna()
        events = events[(events["session_issuer"].fillna("") != role_arn) | lifecycle]
    for event in with_request(events, lambda r: r.get("logGroupName") == group).itertuples(index=False):
        outcome = f" refused: {event.error_code}" if isinstance(event.error_code, str) else ""
        yield _event_row(event, "log-group", flow_log["flow_log_id"], f"{event.event_name} {group}{by(event.actor)}{outcome}")
    # The key association events are the group's own calls, listed above; the keys' changes are KMS calls.
    changes = key_changes(evidence, group, flow_log.get("region")).changes
    for event in changes.itertuples(index=False):
        key = event.request.get("keyId")
        yield _event_row(event, "log-group", flow_log["flow_log_id"],
                         f"{event.event_name} of KMS key {key} (of log group {group}){by(event.actor)}")


def _delivery_rows(evidence: Any, flow_log: dict[str, Any]) -> Iterator[dict[str, Any]]:
    found = signals(evidence, subject_of(evidence, flow_log))
    for window in failure_windows(found).to_dict("records"):
        kinds = sorted({entry["signal"] for entry in window["signals"]})
        yield {
            "time": window["start"], "end": window["end"], "lane": "delivery",
            "kind": "delivery-failed" if corroborated(window, found) else "alarm-only",
            "summary": f"delivery failing ({len(window['signals'])} signals: {', '.join(kinds)})",
            "flow_log_id": flow_log["flow_log_id"], "detail": {"signals": window["signals"]}, "source": "failure_windows",
        }


def _alarm_rows(evidence: Any, flow_log: dict[str, Any]) -> Iterator[dict[str, Any]]:
    alarms = evidence.alarms
    names = set(alarms.loc[alarms["log_group"] == flow_log.get("log_group"), "alarm_name"].dropna())
    history = evidence.alarm_history
    changes = history[history["alarm_name"].isin(names) & history["new_state"].notna()].sort_values("timestamp")
    for name, of_alarm in changes.groupby("alarm_name"):
        ends = list(of_alarm["timestamp"].iloc[1:]) + [None]
        for change, end in zip(of_alarm.itertuples(index=False), ends, strict=True):
            yield {
                "time": change.timestamp, "end": end, "lane": "alarm", "kind": change.new_state,
                "summary": f"alarm {name}: {change.old_state} -> {change.new_state}",
                "flow_log_id": flow_log["flow_log_id"], "detail": {"summary": change.summary}, "source": change.source_file,
            }


def timeline(evidence: Any, flow_log_id: str | None = None) -> Any:
    """Everything that happened to each flow log, its role, its policies and its log group, in order.

    Parameters
    ----------
    evidence : Evidence
        Loaded evidence (:func:`flowforensics.load`).
    flow_log_id : str, optional
        Only this flow log.

    Returns
    -------
    pandas.DataFrame
        The ``timeline`` frame, sorted by time then lane.
    """
    flow_logs = evidence.flow_logs
    if flow_log_id is not None:
        flow_logs = flow_logs[flow_logs["flow_log_id"] == flow_log_id]
    rows: list[dict[str, Any]] = []
    for flow_log in flow_logs.astype(object).where(flow_logs.notna(), None).to_dict("records"):
        role_arn = flow_log.get("role_arn")
        rows += _iam_rows(evidence, flow_log["flow_log_id"], role_arn)
        rows += _flow_log_rows(evidence, flow_log)
        rows += _log_group_rows(evidence, flow_log, role_arn)
        rows += _delivery_rows(evidence, flow_log)
        rows += _alarm_rows(evidence, flow_log)
    table = frame("timeline", rows)
    table["_lane"] = table["lane"].map({lane: n for n, lane in enumerate(LANES)})
    return table.sort_values(["time", "_lane"], kind="stable").drop(columns="_lane").reset_index(drop=True)
