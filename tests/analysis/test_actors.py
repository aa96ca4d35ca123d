"""What else a principal did: its events in the evidence, logging-impairing ones as ATT&CK T1562.008."""

from __future__ import annotations

from pathlib import Path

from sample_paths import SAMPLES

import flowforensics
from flowforensics.analysis.actors import (
    ACTIVITY_COLUMNS,
    IMPAIRING_ACTIONS,
    activity_timeline,
    actor_activity,
    target_of,
)
from flowforensics.scenarios import SCENARIOS, write_scenario


def test_stratus_red_team_defense_evasion_is_marked_t1562_008() -> None:
    # The real records of Stratus Red Team's defense-evasion techniques, each by its own principal.
    evidence = flowforensics.load(SAMPLES / "stratus-red-team")
    events = evidence.events
    impairing = events[[(s, n) in IMPAIRING_ACTIONS for s, n in zip(events["event_source"], events["event_name"], strict=True)]]
    assert set(impairing["event_name"]) == {"DeleteTrail", "PutEventSelectors", "StopLogging", "DeleteFlowLogs"}
    activity = actor_activity(evidence, impairing["actor"])
    assert list(activity.columns) == list(ACTIVITY_COLUMNS) and activity["time"].is_monotonic_increasing
    marked = activity[activity["technique"].notna()]
    assert sorted(marked["event_name"]) == ["DeleteFlowLogs", "DeleteTrail", "PutEventSelectors", "StopLogging"]
    assert set(marked["technique"]) == {"T1562.008"}
    stop = marked[marked["event_name"] == "StopLogging"].iloc[0]
    assert stop["target"].startswith("stratus-red-team-ct-stop-trail-")
    assert set(activity["principal"]) == set(impairing["actor"])  # theirs only


def test_everything_else_a_session_did_is_listed_unmarked() -> None:
    evidence = flowforensics.load(SAMPLES / "stratus-red-team")
    session = evidence.events["actor"].value_counts().index[3]  # an assumed-role session, 30 events
    issuer = evidence.events.loc[evidence.events["actor"] == session, "session_issuer"].iloc[0]
    activity = actor_activity(evidence, [issuer])  # a role's sessions are the role's activity
    assert len(activity) == (evidence.events["session_issuer"] == issuer).sum() >= 30
    assert activity["technique"].isna().all() and set(activity["principal"]) == {issuer}


def test_activity_window_and_no_principal(tmp_path: Path) -> None:
    evidence = flowforensics.load(SAMPLES / "stratus-red-team")
    actor = evidence.events["actor"].value_counts().index[0]
    everything = actor_activity(evidence, [actor])
    middle = everything["time"].iloc[len(everything) // 2]
    later = actor_activity(evidence, [actor], start=middle)
    assert 0 < len(later) < len(everything) and (later["time"] >= middle).all()
    assert actor_activity(evidence, []).empty and actor_activity(evidence, [None]).empty


def test_activity_lanes_carry_the_technique(tmp_path: Path) -> None:
    evidence = flowforensics.load(write_scenario("flow-log-deleted", tmp_path / "evidence"))
    expected = SCENARIOS["flow-log-deleted"].expected
    activity = actor_activity(evidence, [expected.trigger_actor])
    lanes = activity_timeline(activity, {expected.trigger_actor: "trigger's actor"}, expected.flow_log_id)
    deletion = lanes[lanes["kind"] == "DeleteFlowLogs"].iloc[0]
    assert deletion["lane"] == "trigger's actor" and deletion["detail"] == {"technique": "T1562.008"}
    assert expected.flow_log_id in deletion["summary"]


def test_target_of_odd_requests() -> None:
    assert target_of({"roleName": "r"}) == "r"
    assert target_of({"DeleteFlowLogsRequest": {}, "flowLogIds": {"item": [{"content": "fl-1"}]}}) == "fl-1"
    two = {"DeleteFlowLogsRequest": {"FlowLogId": [{"content": "fl-1", "tag": 1}, {"content": "fl-2", "tag": 2}]}}
    assert target_of(two) == "fl-1, fl-2"
    assert target_of(None, [{"ARN": "arn:aws:s3:::b"}, "junk"]) == "arn:aws:s3:::b"
    assert target_of(["not", "a", "mapping"]) is None and target_of({"name": {"weird": 1}}) == "1"
