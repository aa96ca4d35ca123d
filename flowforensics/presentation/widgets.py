"""The interactive explorer for JupyterLab: pick a flow log, a window and lanes; pick a change to see its diff.

Nothing waits on a widget: the explorer is built from the notebook's parameters and draws itself
once at construction, so under papermill it only renders. Callbacks redraw when a user changes a
control. Option labels of ipywidgets are plain text; everything shown as HTML is escaped.

The timeline is a ``plotly.graph_objects.FigureWidget`` (plotly's widget, built on ``anywidget``):
clicking an IAM change on it selects that change in the list below it, which shows its diff. The list
stays the keyboard-accessible way to the same diffs; whichever way a change is picked, its marker is
the one highlighted on the timeline (the others dimmed).
"""

from __future__ import annotations

import functools
from typing import Any

from flowforensics.presentation.investigation import Investigation
from flowforensics.presentation.markup import paragraph, text, when
from flowforensics.presentation.plots import LANES

# The figure's markers a click on selects a change: the IAM lane's events (their customdata is the event id).
CLICKABLE_LANE = "iam"
CLICKABLE = {"legendgroup": CLICKABLE_LANE, "mode": "markers"}
# The share of the window shown beyond each of its ends.
EDGE_MARGIN = 0.03
# Box and lasso selection mean nothing on a timeline (as in the report's figures).
MODEBAR_REMOVE = ["select2d", "lasso2d"]
# How the change picked stands out among the IAM markers: the others dimmed, it drawn larger.
PICKED_MARKER = {"size": 22}
UNPICKED_OPACITY = 0.3


@functools.cache
def timeline_widget_class() -> type:
    """plotly's ``FigureWidget``, its comm opened once its traces and layout are set.

    plotly's own opens its comm with neither and sends them in a second message; a view the frontend
    renders before that message is applied is plotly's empty plot (axis -1..6, no trace), and plotly's
    view never redraws on a later ``_widget_data`` (seen as a blank explorer in JupyterLab).
    """
    import plotly.graph_objects as go

    class TimelineWidget(go.FigureWidget):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._opening = True
            super().__init__(*args, **kwargs)
            self._opening = False
            self.open()

        def open(self) -> None:
            if not self._opening:
                super().open()

    return TimelineWidget


def _highlight(figure: Any, event_id: str | None) -> None:
    """Select the IAM marker of ``event_id`` (drawn larger, the others dimmed); none picked, none dimmed."""
    for trace in figure.select_traces(selector=CLICKABLE):
        ids = list(trace.customdata) if trace.customdata is not None else []
        trace.selectedpoints = [ids.index(event_id)] if event_id in ids else None


class Explorer:
    """An ipywidgets explorer of one evidence folder.

    Parameters
    ----------
    investigation : Investigation
        What is shown first: its evidence, its flow log and its window (the whole timeline when it
        has none). Other flow logs picked get an investigation of their own.

    Attributes
    ----------
    flow_log, window, lanes, changes : ipywidgets widgets
        The controls (a dropdown, a range slider over the timeline's moments, a checkbox per lane,
        the list of IAM changes).
    findings, diff : ipywidgets.HTML
        The findings of the flow log and the diff of the change picked.
    figure : plotly.graph_objects.FigureWidget or None
        The timeline last drawn; a click on one of its IAM changes calls :meth:`on_change_click`.
    """

    def __init__(self, investigation: Investigation) -> None:
        import ipywidgets as w

        self.evidence = investigation.evidence
        first = investigation
        self._investigations: dict[str | None, Investigation] = {
            first.entry.flow_log_id if first.entry else None: first
        }
        ids = list(self.evidence.flow_logs["flow_log_id"].dropna().unique())
        self.flow_log = w.Dropdown(options=ids, value=first.entry.flow_log_id if first.entry else None,
                                   description="Flow log", layout=w.Layout(width="340px"))
        # The slider's own readout cuts two timestamps off at its edge: the window is said beside it instead.
        self.window = w.SelectionRangeSlider(options=[("", None)], description="Window", continuous_update=False,
                                             readout=False, layout=w.Layout(width="560px"))
        self.window_said = w.HTML()
        self.lanes = {lane: w.Checkbox(value=True, description=label, indent=False, layout=w.Layout(width="110px"))
                      for lane, (label, _colour) in LANES.items()}
        self.changes = w.Select(options=[], description="Changes", rows=6, layout=w.Layout(width="760px"))
        self.findings = w.HTML()
        self.diff = w.HTML()
        self.timeline = w.Box(layout=w.Layout(width="100%"))  # holds the figure, a new one each redraw
        self.figure: Any = None
        self._diffs: list[Any] = []
        self._set_window_options(first.start, first.end)
        self.flow_log.observe(self._on_flow_log, names="value")
        self.window.observe(lambda _change: self.refresh(), names="value")
        for box in self.lanes.values():
            box.observe(lambda _change: self.refresh(), names="value")
        self.changes.observe(lambda _change: self._show_diff(), names="value")
        self.widget = w.VBox(
            [
                w.HBox([self.flow_log]),
                w.HBox([self.window, self.window_said]),
                w.HBox(list(self.lanes.values())),
                self.timeline,
                self.changes,
                self.diff,
                w.HTML("<h4>Findings</h4>"),
                self.findings,
            ]
        )
        self.refresh()

    def investigation(self, flow_log_id: str | None) -> Investigation:
        """The investigation of one flow log over the whole evidence (computed once, then reused)."""
        if flow_log_id not in self._investigations:
            self._investigations[flow_log_id] = Investigation(self.evidence, flow_log_id)
        return self._investigations[flow_log_id]

    @property
    def current(self) -> Investigation:
        """The investigation of the flow log picked."""
        return self.investigation(self.flow_log.value)

    def _set_window_options(self, start: Any = None, end: Any = None) -> None:
        moments = sorted(set(self.current.timeline["time"].dropna()) | set(self.current.timeline["end"].dropna()))
        if not moments:
            self.window.options = [("", None)]
            return
        self.window.options = [(when(moment), moment) for moment in moments]
        low = next((m for m in moments if start is None or m >= start), moments[0])
        high = next((m for m in reversed(moments) if end is None or m <= end), moments[-1])
        self.window.value = (low, high) if low <= high else (moments[0], moments[-1])

    def _on_flow_log(self, _change: Any) -> None:
        self._set_window_options()
        self.refresh()

    def selected_timeline(self) -> Any:
        """The timeline rows of the flow log picked, in the window and lanes picked."""
        frame = self.current.timeline
        low, high = self.window.value
        if low is not None:
            frame = frame[(frame["end"].fillna(frame["time"]) >= low) & (frame["time"] <= high)]
        shown = [lane for lane, box in self.lanes.items() if box.value]
        return frame[frame["lane"].isin(shown) | ~frame["lane"].isin(list(LANES))]

    def refresh(self) -> None:
        """Redraw the figure, the list of changes and the findings from the controls' values."""
        from flowforensics.presentation.plots import timeline_figure

        investigation = self.current
        frame = self.selected_timeline()
        low, high = self.window.value
        self.window_said.value = text(f"{when(low)} to {when(high)}") if low is not None else ""
        if low is not None:
            # The first and last changes sit inside the axis, not half cut off on its edges, where no click reaches them.
            margin = (high - low) * EDGE_MARGIN
            low, high = low - margin, high + margin
        diffs = investigation.policy_diffs(frame)
        drawn = timeline_figure(frame, investigation.failure_windows, start=low, end=high)
        drawn.update_layout(modebar_remove=MODEBAR_REMOVE)
        drawn.update_traces(selector=CLICKABLE, selected={"marker": PICKED_MARKER},
                            unselected={"marker": {"opacity": UNPICKED_OPACITY}})
        figure = timeline_widget_class()(drawn)
        for trace in figure.select_traces(selector=CLICKABLE):
            trace.on_click(self.on_change_click)
        # A new widget rather than edits to the old one: plotly sends no partial updates to go stale.
        previous, self.figure, self._diffs = self.figure, figure, diffs
        self.timeline.children = (figure,)
        if previous is not None:
            previous.close()
        self.changes.options = [(d.label, i) for i, d in enumerate(diffs)]
        self.changes.value = 0 if diffs else None
        self._show_diff()
        self.findings.value = investigation.findings().markup

    def _show_diff(self) -> None:
        index = self.changes.value
        picked = self._diffs[index] if index is not None and index < len(self._diffs) else None
        self.diff.value = picked._repr_html_() if picked is not None else ""
        _highlight(self.figure, picked.event_id if picked is not None else None)

    def on_change_click(self, trace: Any, points: Any, _state: Any = None) -> None:
        """Select the change clicked on the figure in the list of changes, which shows its diff.

        plotly calls it as ``on_click`` handlers are called: with the trace, a
        :class:`plotly.callbacks.Points` and the input device state; for a click elsewhere on the
        figure, with no points.

        Parameters
        ----------
        trace : plotly.graph_objects.Scatter
            The IAM markers of the figure; their ``customdata`` are event ids.
        points : plotly.callbacks.Points
            The points clicked (``point_inds`` index the trace).
        _state : plotly.callbacks.InputDeviceState, optional
            Keys and buttons held (unused).
        """
        event_ids = [trace.customdata[index] for index in points.point_inds if trace.customdata[index] is not None]
        if not event_ids:
            return
        picked = next((i for i, diff in enumerate(self._diffs) if diff.event_id in event_ids), None)
        if picked is not None:
            self.changes.value = picked
            return
        self.changes.value = None
        self.diff.value = paragraph(f"Event {event_ids[0]} changed none of the role's policy documents.", "ff-muted").markup
        _highlight(self.figure, event_ids[0])

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def explorer(investigation: Investigation) -> Explorer:
    """Build the explorer on an investigation (see :class:`Explorer`); display it to use it."""
    return Explorer(investigation)


class ActorPivot:
    """Pick any principal of the evidence and see what it did around the incident.

    Parameters
    ----------
    investigation : Investigation
        Its evidence's principals are offered (most active first), those the diagnosis names first of
        all; the table is :meth:`Investigation.actor_section` for the one picked.

    Attributes
    ----------
    principal : ipywidgets.Dropdown
        The principal picked (option labels are plain text).
    activity : ipywidgets.HTML
        Its activity, escaped, actions that impair logging marked.
    """

    def __init__(self, investigation: Investigation) -> None:
        import ipywidgets as w

        self.investigation = investigation
        actors = investigation.evidence.events["actor"].dropna().astype(str)
        named = list(investigation.principals)
        others = [actor for actor in actors.value_counts().index if actor not in named]
        options = named + others
        self.principal = w.Dropdown(options=options, value=options[0] if options else None, description="Principal",
                                    layout=w.Layout(width="760px"))
        self.activity = w.HTML()
        self.principal.observe(lambda _change: self.refresh(), names="value")
        self.widget = w.VBox([self.principal, self.activity])
        self.refresh()

    def refresh(self) -> None:
        """Show the activity of the principal picked."""
        picked = self.principal.value
        self.activity.value = (self.investigation.actor_section(picked) if picked
                               else paragraph("No principal in the evidence's CloudTrail events.", "ff-muted")).markup

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def actor_pivot(investigation: Investigation) -> ActorPivot:
    """Build the pivot on principals (see :class:`ActorPivot`); display it to use it."""
    return ActorPivot(investigation)
