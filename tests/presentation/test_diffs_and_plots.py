"""Policy diffs and plotly figures, on frames shaped by the schema (the analysis is tested elsewhere)."""

from __future__ import annotations

import json

import pandas as pd
import plotly.io as pio
import pytest

from flowforensics.frames.schema import frame
from flowforensics.presentation.diffs import PolicyDiff, render_document
from flowforensics.presentation.plots import (
    LANES,
    PANEL_SPACING,
    STATE_COLOURS,
    ingestion_figure,
    metrics_figure,
    overview_figure,
    panels_layout,
    timeline_figure,
    verdict_figure,
)

ROLE = "arn:aws:iam::381492650217:role/prod-core-vpc-flow-logs-role"
ALICE = "arn:aws:iam::381492650217:user/alice.nguyen"
GROUP = "arn:aws:logs:eu-west-1:381492650217:log-group:/vpc/flow-logs/prod-core"
ACTIONS = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups", "logs:DescribeLogStreams"]


def policy(actions: list[str], resource: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]}


BEFORE = policy(ACTIONS, GROUP + ":*")
AFTER = policy(ACTIONS, GROUP)  # the classic mistake: the log group's ARN without ":*"


@pytest.fixture
def timeline() -> pd.DataFrame:
    rows = [
        {"time": "2024-03-24T16:35:28Z", "lane": "iam", "kind": "AttachRolePolicy", "summary": "red herring",
         "actor": "arn:aws:sts::381492650217:assumed-role/AWSReservedSSO_Dev/bob", "event_id": "a6bd8e0a"},
        {"time": "2024-03-24T16:47:23Z", "lane": "iam", "kind": "PutRolePolicy", "summary": "flow-logs-delivery<script>alert(1)</script>",
         "actor": ALICE, "event_id": "bba8420e",
         "detail": {"diff": {"inline:flow-logs-delivery": f"-Allow logs:PutLogEvents on {GROUP}:*; +Allow logs:PutLogEvents on {GROUP}"}}},
        {"time": "2024-03-24T16:52:31Z", "end": "2024-03-24T18:30:00Z", "lane": "delivery", "kind": "delivery-failed",
         "summary": "Access error"},
        {"time": "2024-03-24T17:02:00Z", "end": "2024-03-24T18:40:00Z", "lane": "alarm", "kind": "ALARM",
         "summary": "Threshold Crossed"},
        {"time": "2024-03-24T18:22:26Z", "lane": "iam", "kind": "PutRolePolicy", "summary": "fix", "actor": ALICE,
         "event_id": "0346c0fc", "detail": {"diff": {"inline:flow-logs-delivery": "-<script>x</script>"}}},
        {"time": "2024-03-24T16:55:00Z", "lane": "delivery", "kind": "CreateLogStream",
         "summary": "AccessDenied <img src=x onerror=alert(1)>", "actor": ROLE, "event_id": "e1"},
    ]
    return frame("timeline", [{**row, "flow_log_id": "fl-9eb3adacf7417b96c"} for row in rows])


def test_diff_shows_the_resource_that_lost_its_stream_wildcard() -> None:
    change = PolicyDiff("PutRolePolicy", BEFORE, AFTER)
    assert f'-      "Resource": "{GROUP}:*"' in change.lines
    assert f'+      "Resource": "{GROUP}"' in change.lines
    assert change.one_line == f"-Resource: {GROUP}:*; +Resource: {GROUP}"


def test_diff_of_created_deleted_and_unknown_documents() -> None:
    assert PolicyDiff("x", None, BEFORE).one_line == "policy created"
    assert PolicyDiff("x", BEFORE, None).one_line == "policy removed"
    assert PolicyDiff("x", BEFORE, json.dumps(BEFORE)).one_line == "no change to the document"
    # A document CloudTrail carried URL-encoded diffs like the object.
    encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D"
    assert render_document(encoded) == render_document({"Version": "2012-10-17", "Statement": []})
    assert render_document(object()) == ["(not in the evidence)"]


def test_one_line_is_cut_for_a_hover() -> None:
    many = policy([f"logs:Action{i}" for i in range(60)], "*")
    assert len(PolicyDiff("x", BEFORE, many).one_line) <= 240


def test_diff_html_is_escaped() -> None:
    evil = {"Statement": [{"Sid": "<script>alert(1)</script>", "Effect": "Allow"}]}
    markup = PolicyDiff("<b>label</b>", BEFORE, evil)._repr_html_()
    assert "<script>" not in markup and "<b>label</b>" not in markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup


def test_timeline_lanes_colours_and_hover(timeline: pd.DataFrame) -> None:
    windows = frame("failure_windows", [{"start": "2024-03-24T16:52:31Z", "end": "2024-03-24T18:30:00Z"}])
    fig = timeline_figure(timeline, windows, title="<i>t</i>")
    names = [trace.name for trace in fig.data]
    assert "IAM change" in names and "Delivery: failure observed" in names and "Alarm: ALARM" in names
    iam = next(trace for trace in fig.data if trace.name == "IAM change")
    assert iam.marker.color == LANES["iam"][1]
    assert list(iam.marker.symbol) == ["diamond"] * 3
    assert list(iam.customdata) == ["a6bd8e0a", "bba8420e", "0346c0fc"]
    trigger = iam.hovertext[1]
    assert ALICE in trigger and "bba8420e" in trigger
    # The timeline's one-line diff, a statement a line.
    assert f"<b>inline:flow-logs-delivery:</b> -Allow logs:PutLogEvents on {GROUP}:*<br>+Allow logs:PutLogEvents on {GROUP}" in trigger
    assert "&lt;script&gt;" in trigger and "<script>" not in trigger
    assert "&lt;script&gt;x" in iam.hovertext[2]
    delivery = next(trace for trace in fig.data if trace.name == "delivery signal")
    assert "<img" not in delivery.hovertext[0] and "&lt;img" in delivery.hovertext[0]
    # The failure window is shaded across every lane; the axis is UTC and naive (no offset shift).
    (shade,) = [shape for shape in fig.layout.shapes if shape.type == "rect"]
    assert str(shade.x0).startswith("2024-03-24 16:52:31") and str(shade.x1).startswith("2024-03-24 18:30:00")
    assert fig.layout.xaxis.title.text == "time (UTC)"
    assert fig.layout.title.text == "&lt;i&gt;t&lt;/i&gt;"
    assert list(fig.layout.yaxis.categoryarray) == [label for label, _ in reversed(list(LANES.values()))]
    assert "+00:00" not in pio.to_json(fig)


def test_timeline_window_and_open_failure(timeline: pd.DataFrame) -> None:
    still = frame("failure_windows", [{"start": "2024-03-24T16:52:31Z"}])
    fig = timeline_figure(timeline, still, start=pd.Timestamp("2024-03-24T16:00Z"), end=pd.Timestamp("2024-03-24T20:00Z"))
    (shade,) = [shape for shape in fig.layout.shapes if shape.type == "rect"]
    assert str(shade.x1).startswith("2024-03-24 20:00")  # open window: to the right edge
    assert [str(x)[:16] for x in fig.layout.xaxis.range] == ["2024-03-24 16:00", "2024-03-24 20:00"]


def test_timeline_reads_in_print(timeline: pd.DataFrame) -> None:
    # A failure still open at the end of the evidence is a bar to that end, not a dot; an alarm-only
    # window, an observed failure and the alarm's state have colours of their own; the trigger and the
    # recovery are labelled on the figure, not only in a hover.
    ongoing = pd.concat([timeline, frame("timeline", [{"time": "2024-03-24T19:00:00Z", "lane": "delivery",
                                                        "kind": "delivery-failed", "summary": "again"},
                                                       {"time": "2024-03-24T15:00:00Z", "end": "2024-03-24T15:10:00Z",
                                                        "lane": "delivery", "kind": "alarm-only", "summary": "flap"}])])
    until = pd.Timestamp("2024-03-24T21:00:00Z")
    marks = [{"role": "trigger", "time": "2024-03-24T16:47:23Z", "lane": "iam", "label": "PutRolePolicy<b>"},
             {"role": "recovery", "time": "2024-03-24T18:22:26Z", "lane": "iam", "label": "PutRolePolicy"}]
    fig = timeline_figure(ongoing, until=until, marks=marks, start=pd.Timestamp("2024-03-24T16:30Z"),
                          end=pd.Timestamp("2024-03-24T19:30Z"))
    failed = next(trace for trace in fig.data if trace.name == "Delivery: failure observed")
    assert failed.mode == "lines" and str(failed.x[-2]).startswith("2024-03-24 21:00")  # to the end of the evidence
    colours = {trace.name: trace.line.color for trace in fig.data if trace.mode == "lines"}
    assert len({colours["Delivery: failure observed"], colours["Delivery: alarm only, no failure observed"],
                colours["Alarm: ALARM"]}) == 3
    assert colours["Alarm: ALARM"] == STATE_COLOURS["ALARM"]
    labelled = {trace.name: list(trace.text) for trace in fig.data if trace.mode == "markers+text"}
    assert labelled["trigger: the change that broke delivery"] == ["<b>trigger</b>: PutRolePolicy&lt;b&gt;"]
    assert labelled["recovery: the change that restored it"] == ["<b>recovery</b>: PutRolePolicy"]
    # The overview spans the whole evidence and outlines the window the timeline shows.
    small = overview_figure(ongoing, shown=(pd.Timestamp("2024-03-24T16:30Z"), pd.Timestamp("2024-03-24T19:30Z")),
                            until=until, marks=marks)
    assert small.layout.showlegend is False and small.layout.xaxis.range is None
    (outline,) = [shape for shape in small.layout.shapes if shape.line.dash == "dash"]
    assert str(outline.x0).startswith("2024-03-24 16:30") and str(outline.x1).startswith("2024-03-24 19:30")


def test_timeline_labels_run_inwards_and_the_legend_hangs_under_the_title(timeline: pd.DataFrame) -> None:
    # Each mark's label runs from its mark towards the middle of the axis, and a failure still open at the
    # end of the evidence is labelled at its right end, its words running left: neither leaves the plot.
    # The legend hangs from under the title on the figure itself, where it reserves the rows it wraps into.
    still = frame("failure_windows", [{"start": "2024-03-24T18:50:00Z"}])
    marks = [{"role": "trigger", "time": "2024-03-24T16:35:28Z", "lane": "iam", "label": "AttachRolePolicy"},
             {"role": "recovery", "time": "2024-03-24T19:20:00Z", "lane": "iam", "label": "PutRolePolicy"}]
    fig = timeline_figure(timeline, still, marks=marks, until=pd.Timestamp("2024-03-24T19:30Z"), title="What happened",
                          start=pd.Timestamp("2024-03-24T16:30Z"), end=pd.Timestamp("2024-03-24T19:30Z"))
    sides = {trace.name: list(trace.textposition) for trace in fig.data if trace.mode == "markers+text"}
    assert sides == {"trigger: the change that broke delivery": ["bottom right"],
                     "recovery: the change that restored it": ["bottom left"]}
    (label,) = [note for note in fig.layout.annotations if note.text.startswith("delivery failing")]
    assert label.xanchor == "right" and str(label.x).startswith("2024-03-24 19:30")
    assert fig.layout.legend.yref == "container" and fig.layout.legend.yanchor == "top"
    assert fig.layout.legend.y < fig.layout.title.y
    # A window wholly outside the one shown is shaded (off the axis) but not labelled at its edge.
    earlier = frame("failure_windows", [{"start": "2024-03-24T15:00:00Z", "end": "2024-03-24T15:30:00Z"}])
    hidden = timeline_figure(timeline, earlier, start=pd.Timestamp("2024-03-24T16:30Z"), end=pd.Timestamp("2024-03-24T19:30Z"))
    assert not [note for note in hidden.layout.annotations if note.text.startswith("delivery failing")]


def test_empty_timeline_still_draws_every_lane() -> None:
    fig = timeline_figure(frame("timeline"))
    assert len(fig.data) == 0 and len(fig.layout.yaxis.categoryarray) == len(LANES)


def test_verdict_streams_and_metrics_figures() -> None:
    verdicts = frame(
        "verdicts",
        [
            {"start": "2024-02-12T16:47:33Z", "end": "2024-03-24T16:47:23Z", "allowed": True, "event_name": "PutRolePolicy"},
            {"start": "2024-03-24T16:47:23Z", "end": "2024-03-24T18:22:26Z", "allowed": False,
             "root_cause": "permission-missing", "reason": "<b>no</b>", "event_name": "PutRolePolicy", "actor": ALICE},
            {"start": "2024-03-24T18:22:26Z", "allowed": None, "reason": "unknown"},
        ],
    )
    fig = verdict_figure(verdicts)
    assert [trace.name for trace in fig.data] == ["allowed", "denied", "unknown"]
    assert "&lt;b&gt;no&lt;/b&gt;" in fig.data[1].hovertext[0]
    streams = frame(
        "log_streams",
        [{"log_group": "/vpc/flow-logs/prod-core", "log_stream": f"eni-{i}", "first_event": "2024-03-24T10:00Z",
          "last_event": "2024-03-24T16:50Z", "last_ingestion": "2024-03-24T16:51Z"} for i in range(3)],
    )
    fig = ingestion_figure(streams)
    assert list(fig.layout.yaxis.categoryarray) == ["eni-0", "eni-1", "eni-2"]
    assert len(fig.data[1].x) == 3
    metrics = frame(
        "metrics",
        [{"label": "IncomingLogEvents", "timestamp": f"2024-03-24T16:{m:02d}Z", "value": 0 if m > 50 else 120} for m in range(40, 60, 5)],
    )
    fig = metrics_figure(metrics)
    assert fig.data[0].name == "IncomingLogEvents" and list(fig.data[0].y) == [120.0, 120.0, 120.0, 0.0]


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7])
def test_metrics_panels_are_laid_out_as_make_subplots_lays_them_out(count: int) -> None:
    from plotly.subplots import make_subplots

    titles = [f"Metric &lt;{n}&gt;" for n in range(count)]
    expected = make_subplots(rows=count, cols=1, shared_xaxes=True, vertical_spacing=PANEL_SPACING, subplot_titles=titles)
    laid_out = json.loads(expected.to_json())["layout"]
    assert panels_layout(titles) == {key: value for key, value in laid_out.items() if key != "template"}
    metrics = frame("metrics", [{"label": f"Metric <{n}>", "timestamp": f"2024-03-24T16:{m:02d}Z", "value": n * m,
                                 "log_group": "/vpc/flow-logs/prod-core", "stat": "Sum"}
                                for n in range(count) for m in range(40, 60, 5)])
    fig = metrics_figure(metrics, start=pd.Timestamp("2024-03-24T16:30Z"), end=pd.Timestamp("2024-03-24T17:00Z"))
    # A panel a series, each on its own axes, sharing the bottom panel's time axis (the only one titled).
    assert [(trace.name, trace.xaxis, trace.yaxis) for trace in fig.data] == [
        (f"Metric &lt;{n}&gt;", f"x{n + 1 if n else ''}", f"y{n + 1 if n else ''}") for n in range(count)]
    bottom = fig.layout[f"xaxis{count if count > 1 else ''}"]
    assert bottom.title.text == "time (UTC)" and list(bottom.range) == [pd.Timestamp("2024-03-24T16:30"), pd.Timestamp("2024-03-24T17:00")]
    assert [a.text for a in fig.layout.annotations] == [f"Metric &lt;{n}&gt;" for n in range(count)]


def test_a_change_whose_record_names_no_principal_is_diffed_by_an_unknown_one(tmp_path) -> None:
    # The record of a PutRolePolicy without its userIdentity: the actor is NA, and "NA or 'unknown'" raised
    # (pandas' NA has no truth value), so the report's policy diffs stopped on it.
    import flowforensics
    from flowforensics.analysis.history import role_history
    from flowforensics.presentation.diffs import history_diffs

    role = "arn:aws:iam::381492650217:role/flow-logs-role"
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}
    put = {"eventVersion": "1.09", "eventSource": "iam.amazonaws.com", "eventName": "PutRolePolicy", "awsRegion": "us-east-1",
           "eventTime": "2024-03-24T10:00:00Z", "eventID": "e-put", "recipientAccountId": "381492650217", "readOnly": False,
           "requestParameters": {"roleName": "flow-logs-role", "policyName": "delivery", "policyDocument": json.dumps(policy)},
           "responseElements": None}
    (tmp_path / "trail.json").write_text(json.dumps({"Records": [put]}))
    (tmp_path / "get-role.json").write_text(json.dumps({"Role": {
        "RoleName": "flow-logs-role", "Arn": role, "RoleId": "AROAEXAMPLE", "CreateDate": "2024-02-12T16:40:00Z",
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []}}}))
    (diff,) = history_diffs(role_history(flowforensics.load(tmp_path), role))
    assert diff.label.endswith("PutRolePolicy by unknown: policy inline:delivery"), diff.label
