"""The summary box, the fleet tables and SQL over the frames, on sample incidents diagnosed for real."""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd
import pytest

import flowforensics
from flowforensics.analysis.diagnosis import diagnose
from flowforensics.analysis.results import EventRef, FlowLogDiagnosis, Recovery
from flowforensics.presentation import explore, fleet
from flowforensics.presentation.investigation import open_investigation
from flowforensics.presentation.markup import CSS, table, text
from flowforensics.presentation.summary import duration, summary_box
from flowforensics.scenarios import SCENARIOS

from .conftest import IMG, SCRIPT


def test_summary_box_of_the_sample_incident(scenario: Callable[[str], Path]) -> None:
    expected = SCENARIOS["permission-removed"].expected
    (entry,) = diagnose(flowforensics.load(scenario("permission-removed"))).flow_logs
    box = summary_box(entry).markup
    assert "<b>permission-missing</b>" in box and ">recovered</span>" in box
    assert expected.trigger_event_name in box and expected.trigger_actor in box
    assert "2024-03-24 16:47:23 UTC" in box  # the trigger's time, as a reader reads it
    assert "resumed at 2024-03-24 18:30:00 UTC" in box and "from the fix until delivery resumed" in box
    # SUCCESS beside a root cause says what it means; no fix, and why none.
    assert "SUCCESS</b>: AWS reports delivery working again" in box and "recovered, no fix needed" in box


def test_summary_box_escapes_every_evidence_string() -> None:
    evil = FlowLogDiagnosis(
        flow_log_id=f"fl-1{SCRIPT}", region="eu-west-1", account_id="1", role_arn=IMG, log_group=SCRIPT,
        status="FAILED", root_cause="permission-missing", confidence="likely", failure_started="2024-03-24T16:52:31Z",
        trigger=EventRef("e<1>", f"PutRolePolicy{SCRIPT}", "2024-03-24T16:47:23Z", IMG),
        recovery=Recovery("r", "PutRolePolicy", "2024-03-24T18:00:00Z", None, None, None), state="failing",
    )
    box = summary_box(evil, changes={"e<1>": f"inline:{SCRIPT}: +Allow {IMG}"}, end_of_evidence="2024-03-25T00:00:00Z").markup
    assert "<script>" not in box and "<img" not in box and "+Allow &lt;img" in box
    assert ">still failing</span>" in box and "not recovered</b> by the end of the evidence (2024-03-25 00:00:00 UTC)" in box
    assert "no fix could be proven because" in box


@pytest.mark.parametrize(("seconds", "shown"), [(454.0, "7 min 34 s"), (5, "5 s"), (7260, "2 h 01 min"), (None, "\u2014")])
def test_duration(seconds: float | None, shown: str) -> None:
    assert duration(seconds) == shown


def test_fleet_groups_by_root_cause(scenario: Callable[[str], Path]) -> None:
    diagnosis = diagnose(flowforensics.load(scenario("flow-log-deleted")))
    first = diagnose(flowforensics.load(scenario("permission-removed")))
    diagnosis.flow_logs += first.flow_logs
    rows = fleet.fleet_table(diagnosis)
    assert list(rows.columns) == fleet.FLEET_COLUMNS
    assert len(rows) == 2 and rows["failure_started"].dt.tz is not None
    groups = fleet.by_root_cause(diagnosis).set_index("root_cause")
    assert groups.loc["flow-log-deleted", "security"] and not groups.loc["permission-missing", "security"]
    figure = fleet.root_cause_figure(diagnosis)
    assert sum(sum(trace.x) for trace in figure.data) == 2


def test_sql_over_the_frames_with_json_columns(scenario: Callable[[str], Path]) -> None:
    evidence = flowforensics.load(scenario("permission-removed"))
    changes = explore.sql(
        evidence,
        "select event_name, request ->> '$.policyName' as policy from events "
        "where event_source = 'iam.amazonaws.com' and event_name = 'PutRolePolicy' and error_code is null order by event_time",
    )
    assert set(changes["policy"]) >= {"flow-logs-delivery"}
    documents = explore.sql(evidence, "select json_extract(document, '$.Version') as v from policies where document is not null")
    assert set(documents["v"]) == {'"2012-10-17"'}
    assert set(explore.tables(evidence)["table"]) == set(evidence.frames)
    # The analysis frames can be added by name.
    con = explore.connect({**evidence.frames, "extra": pd.DataFrame({"x": [1]})})
    assert con.sql("select count(*) from extra").fetchall() == [(1,)]
    # The frames themselves are untouched (JSON stays objects in pandas; a record, its text read as a mapping).
    record = evidence.events["record"].iloc[0]
    assert isinstance(record, Mapping) and record == json.loads(record.text) and record["eventID"]
    assert json.loads(explore.sql_ready("events", evidence.events)["record"].iloc[0])["eventID"]


def test_html_tables_escape_and_show_utc() -> None:
    frame = pd.DataFrame({"who": [SCRIPT], "when": pd.to_datetime(["2024-03-24T16:47:23Z"], utc=True)})
    markup = table(frame).markup
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    assert "2024-03-24\u00a016:47:23\u00a0UTC" in markup  # one word: a time never wraps in a table
    assert text(None) == "\u2014" and text(pd.NA) == "\u2014" and text(float("nan")) == "\u2014"


def test_tables_fit_blank_missing_values_local_paths_whole_words(tmp_path: Path) -> None:
    folder = tmp_path / "case-42"
    frame = pd.DataFrame({"source": [f"{folder}/cloudtrail/us-east-1/lookup-events.json", None],
                          "when": pd.to_datetime(["2024-03-24T16:47:23Z", None], utc=True),
                          "n": [1.0, float("nan")]})
    markup = table(frame, root=folder).markup
    assert str(tmp_path) not in markup and "cloudtrail/us-east-1/lookup-events.json" in markup
    assert not any(word in markup for word in ("None", "NaT", "nan", "&lt;NA&gt;"))
    assert markup.startswith("<div class='ff-scroll'>")  # a wide table scrolls inside its own box
    # No rule of the page breaks a word anywhere (what squeezed "confirmed" into "confirme/d").
    assert "anywhere" not in CSS and "break-all" not in CSS and ".ff-scroll { overflow-x: auto" in CSS


def test_fleet_view_shows_blanks_not_none(scenario: Callable[[str], Path]) -> None:
    diagnosis = diagnose(flowforensics.load(scenario("healthy")))
    assert fleet.fleet_table(diagnosis)["trigger_event"].isna().all()  # nothing triggered: the cells are empty
    markup = fleet.fleet_view(diagnosis).markup + fleet.by_root_cause_view(diagnosis).markup
    assert ">None<" not in markup and ">NaT<" not in markup and "ff-scroll" in markup


@pytest.mark.parametrize(("name", "recreated"), [("role-recreated", True), ("permission-removed", False)])
def test_role_section_says_recreated_only_of_a_recreated_role(name: str, recreated: bool,
                                                             scenario: Callable[[str], Path]) -> None:
    case = open_investigation(scenario(name))
    markup = case.role_section().markup
    assert ("deleted and created again" in markup) is recreated
    assert str(case.root) not in markup and str(case.root) not in case.findings().markup + case.appendix().markup


@pytest.mark.parametrize(
    ("name", "word", "fix"),
    [("trust-edited", "still failing", "aws iam update-assume-role-policy"),
     ("healthy", "healthy", "healthy, no fix needed"),
     ("no-cloudtrail", "still failing", "no fix could be proven because no root cause is confirmed")],
)
def test_first_screen_tells_the_story(name: str, word: str, fix: str, scenario: Callable[[str], Path]) -> None:
    case = open_investigation(scenario(name))
    box = case.summary().markup
    assert f"<span class='ff-state-word'>{word}</span>" in box and fix in box
    trigger = case.entry.trigger
    if trigger is not None:  # what the change did: its diff, from the timeline
        assert "What the change did" in box and case.change_of(trigger.event_id).split("; ")[0] in html.unescape(box)


def test_fleet_lists_at_risk_flow_logs_after_the_failing_ones(scenario: Callable[[str], Path]) -> None:
    diagnosis = diagnose(flowforensics.load(scenario("healthy")))
    for name in ("latent-trust-edited", "role-deleted"):
        diagnosis.flow_logs += diagnose(flowforensics.load(scenario(name))).flow_logs
    rows = fleet.fleet_table(diagnosis)
    assert list(rows["state"]) == ["failing", "at-risk", "healthy"]
    groups = fleet.by_root_cause(diagnosis).set_index("root_cause")
    assert groups.loc["trust-missing-service", "at_risk"] == 1 and groups.loc["role-deleted", "failing"] == 1
