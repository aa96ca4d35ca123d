"""The explorer: controls drive the timeline, the list of changes and their diffs, without a frontend.

Clicks are replayed the way plotly's frontend delivers them: a ``plotly_click`` message on the
FigureWidget (plotly then calls every trace's ``on_click`` handlers with the trace, its points and
the input device state), or a direct call of the handler with those three.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import pytest
from plotly.callbacks import InputDeviceState, Points

import flowforensics
from flowforensics.presentation.investigation import Investigation
from flowforensics.presentation.markup import when
from flowforensics.presentation.widgets import Explorer, actor_pivot, explorer
from flowforensics.scenarios import SCENARIOS

from .conftest import IMG, SCRIPT

EXPECTED = SCENARIOS["permission-removed"].expected


@pytest.fixture(scope="module")
def view(scenario: Callable[[str], Path]) -> Explorer:
    return explorer(Investigation(flowforensics.load(scenario("permission-removed"))))


def _iam_markers(view: Explorer) -> tuple[int, Any]:
    """The index and the trace of the figure's IAM change markers."""
    return next((i, t) for i, t in enumerate(view.figure.data) if t.legendgroup == "iam" and t.mode == "markers")


def _click(view: Explorer, trace_index: int, point_index: int) -> None:
    """What plotly's frontend sends when a point is clicked (see plotly.basewidget's pointsCallback)."""
    trace = view.figure.data[trace_index]
    view.figure._js2py_pointsCallback = {
        "event_type": "plotly_click",
        "points": {"trace_indexes": [trace_index], "point_indexes": [point_index],
                   "xs": [trace.x[point_index]], "ys": [trace.y[point_index]]},
        "device_state": {"ctrl": False, "alt": False, "shift": False, "meta": False, "button": 0, "buttons": 1},
        "selector": None,
    }


def test_explorer_follows_its_controls(scenario: Callable[[str], Path]) -> None:
    view = explorer(Investigation(flowforensics.load(scenario("permission-removed"))))
    assert view.flow_log.value == EXPECTED.flow_log_id
    assert isinstance(view.figure, go.FigureWidget) and view.timeline.children == (view.figure,)
    assert "IAM change" in [trace.name for trace in view.figure.data]
    # Every change of the role is listed; picking the trigger shows its diff.
    labels = [label for label, _ in view.changes.options]
    trigger = next(i for i, label in enumerate(labels) if EXPECTED.trigger_actor in label and "16:47:23" in label)
    view.changes.value = trigger
    assert "ff-del" in view.diff.value and "ff-add" in view.diff.value
    assert "permission-missing" in view.findings.value
    # Lanes off: their traces go, and the figure shown is the new one (the old widget is closed).
    first = view.figure
    view.lanes["iam"].value = False
    assert "IAM change" not in [trace.name for trace in view.figure.data]
    assert view.timeline.children == (view.figure,) and first.comm is None
    view.lanes["iam"].value = True
    # A window after the trigger: only later changes remain to pick.
    moments = [value for _, value in view.window.options]
    later = [m for m in moments if m > moments[0] and str(m) > "2024-03-24 17"]
    view.window.value = (later[0], later[-1])
    assert len(view.changes.options) < len(labels)
    assert all("16:47:23" not in label for label, _ in view.changes.options)
    assert view.widget.children  # renders as a VBox


def test_the_timeline_opens_its_comm_with_its_traces_and_layout(scenario: Callable[[str], Path], monkeypatch: Any) -> None:
    # plotly's FigureWidget opens its comm with no traces and no layout and sends them in a later message; a
    # view the frontend renders before that message is applied is plotly's empty plot (-1..6, no traces),
    # and plotly's view never redraws on a later _widget_data. The explorer's figure opens with both.
    from ipywidgets.widgets import widget

    opened: list[dict[str, Any]] = []
    create = widget.comm.create_comm
    monkeypatch.setattr(widget.comm, "create_comm", lambda **args: opened.append(args["data"]["state"]) or create(**args))
    view = explorer(Investigation(flowforensics.load(scenario("permission-removed"))))
    (state,) = [state for state in opened if "_widget_data" in state]
    assert len(state["_widget_data"]) == len(view.figure.data) > 0
    assert state["_widget_layout"]["xaxis"]["type"] == "date" and state["_widget_layout"]["modebar"]["remove"]
    assert view.figure.comm is not None and isinstance(view.figure, go.FigureWidget)


def test_clicking_a_change_on_the_timeline_shows_its_diff(view: Explorer) -> None:
    trace_index, markers = _iam_markers(view)
    assert markers._click_callbacks == [view.on_change_click]
    # Only the IAM changes are clickable: the other lanes' markers and spans have no handler.
    assert [t.name for t in view.figure.data if t._click_callbacks] == ["IAM change"]
    view.changes.value = 0
    _click(view, trace_index, list(markers.customdata).index(EXPECTED.trigger_event_id))
    label = view.changes.label
    assert "16:47:23" in label and EXPECTED.trigger_actor in label
    assert view._diffs[view.changes.value].event_id == EXPECTED.trigger_event_id
    # The trigger scoped the policy to the log group without ":*" (the streams are no longer covered).
    assert "ff-del" in view.diff.value and '-      "Resource": "*"' in html.unescape(view.diff.value)
    # The list stays the other way in: picking another change there shows that one's diff.
    view.changes.value = 0
    assert "CreateRole" in view.changes.label and "sts:AssumeRole" in view.diff.value
    # Every IAM change clicked selects a change made by that event.
    for point, event_id in enumerate(markers.customdata):
        _click(view, trace_index, point)
        assert view._diffs[view.changes.value].event_id == event_id


def test_the_change_picked_is_the_marker_highlighted(view: Explorer) -> None:
    trace_index, markers = _iam_markers(view)
    ids = list(markers.customdata)
    # Picked in the list: its marker is the one selected (drawn larger, the others dimmed).
    for index, diff in enumerate(view._diffs):
        view.changes.value = index
        assert view.figure.data[trace_index].selectedpoints == (ids.index(diff.event_id),)
    sizes = markers.marker.size
    assert markers.selected.marker.size > max(sizes if isinstance(sizes, tuple) else [sizes]) and markers.unselected.marker.opacity < 1
    # Clicked on the timeline: the same, the list following.
    _click(view, trace_index, ids.index(EXPECTED.trigger_event_id))
    assert view.figure.data[trace_index].selectedpoints == (ids.index(EXPECTED.trigger_event_id),)
    # Nothing picked (no change in the window): nothing dimmed.
    view.changes.value = None
    assert view.figure.data[trace_index].selectedpoints is None


def test_the_window_is_said_in_full_beside_its_slider(view: Explorer) -> None:
    # The slider's own readout cut "2024-03-24 16:47:23 UTC - ..." off at its edge.
    assert view.window.readout is False
    low, high = view.window.value
    assert view.window_said.value == f"{when(low)} to {when(high)}"


def test_a_click_without_a_change_leaves_the_selection(view: Explorer) -> None:
    trace_index, markers = _iam_markers(view)
    view.changes.value = 1
    shown = view.diff.value
    # A click beside the markers: plotly calls the handler with no points.
    view.on_change_click(markers, Points(point_inds=[], xs=[], ys=[], trace_name="IAM", trace_index=trace_index),
                         InputDeviceState(ctrl=False, alt=False, shift=False, meta=False, button=0, buttons=1))
    assert view.changes.value == 1 and view.diff.value == shown
    # A click on another lane's marker reaches no handler.
    other = next(i for i, t in enumerate(view.figure.data) if t.legendgroup == "flow-log" and t.mode == "markers")
    _click(view, other, 0)
    assert view.changes.value == 1 and view.diff.value == shown


def test_a_clicked_event_without_a_diff_is_said_escaped(view: Explorer) -> None:
    # Event ids come from the evidence like everything else: the note about them is escaped.
    hostile = go.Scatter(x=["2024-03-24"], y=["IAM"], customdata=[f"{SCRIPT}{IMG}"])
    view.on_change_click(hostile, Points(point_inds=[0], xs=["2024-03-24"], ys=["IAM"], trace_name="IAM", trace_index=0))
    assert view.changes.value is None
    assert SCRIPT not in view.diff.value and IMG not in view.diff.value
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in view.diff.value and "changed none" in view.diff.value


def test_clicked_diffs_of_hostile_evidence_stay_escaped(hostile: Path) -> None:
    view = explorer(Investigation(flowforensics.load(hostile)))
    trace_index, markers = _iam_markers(view)
    for point in range(len(markers.customdata)):
        _click(view, trace_index, point)
        assert view.changes.value is not None
        assert SCRIPT not in view.diff.value and IMG not in view.diff.value
    # The hostile policy name reached the diff, as text.
    assert "flow-logs-delivery&lt;script&gt;" in view.diff.value
    for trace in view.figure.data:
        assert not any(SCRIPT in str(tip) or IMG in str(tip) for tip in (trace.hovertext or ()))


def test_actor_section_and_pivot_on_any_principal(scenario: Callable[[str], Path], hostile: Path) -> None:
    expected = SCENARIOS["flow-log-deleted"].expected
    case = Investigation(flowforensics.load(scenario("flow-log-deleted")))
    assert case.principals == {expected.trigger_actor: "trigger"}
    section = case.actor_section().markup
    assert "<td class='ff-technique'>T1562.008 impairs logging</td>" in section and "DeleteFlowLogs" in section
    lanes = set(case.actor_timeline["lane"])
    assert lanes == {f"trigger's actor: {expected.trigger_actor.rsplit('/', 1)[-1][:28]}"}
    figure = case.timeline_figure()
    assert any(trace.legendgroup in lanes for trace in figure.data)  # the actor's lane is drawn
    # The pivot offers the named principals first, then every other actor; picking one shows its activity.
    pivot = actor_pivot(case)
    assert pivot.principal.options[0] == expected.trigger_actor and len(pivot.principal.options) > 1
    other = pivot.principal.options[-1]
    pivot.principal.value = other
    assert html.escape(other) in pivot.activity.value and "Picked" in pivot.activity.value
    # Hostile principals are text.
    evil = actor_pivot(Investigation(flowforensics.load(hostile)))
    for option in evil.principal.options:
        evil.principal.value = option
        assert SCRIPT not in evil.activity.value and IMG not in evil.activity.value
