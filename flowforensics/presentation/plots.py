"""Plotly figures of an incident: the timeline with lanes, the verdict over time, ingestion, metrics.

Every string from evidence that reaches a figure (hover text, legend names, tick labels) is escaped:
plotly renders them as HTML-like markup, and evidence is written by whoever made the calls. Times are
shown in UTC (plotly.js has no time zones, so aware times are converted to naive UTC first).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import plotly.graph_objects as go

from flowforensics.presentation.markup import is_missing, text, when
from flowforensics.presentation.page import figure_html

# Colours are Okabe-Ito's (told apart with every common colour-vision deficiency), and every mark says
# in the legend what it is: a false alarm must not look like a failure, in colour or in print.
# Lanes top to bottom, their labels, colours and what their point marks are: the same in every figure.
LANES: dict[str, tuple[str, str]] = {
    "iam": ("IAM", "#cc79a7"),
    "flow-log": ("Flow log", "#0072b2"),
    "log-group": ("Log group", "#000000"),
    "delivery": ("Delivery", "#d55e00"),
    "alarm": ("Alarm", "#e69f00"),
}
POINT_NAMES: dict[str, str] = {
    "iam": "IAM change",
    "flow-log": "flow log created / deleted",
    "log-group": "log group change",
    "delivery": "delivery signal",
    "alarm": "alarm change",
}
# Span kinds with a colour and a legend name of their own (alarm states, delivery states, IAM verdicts).
STATE_COLOURS: dict[str, str] = {
    "delivery-failed": "#d55e00",
    "alarm-only": "#56b4e9",
    "ALARM": "#e69f00",
    "OK": "#009e73",
    "INSUFFICIENT_DATA": "#999999",
    "allowed": "#009e73",
    "denied": "#d55e00",
    "unknown": "#999999",
}
STATE_NAMES: dict[str, str] = {
    "delivery-failed": "Delivery: failure observed",
    "alarm-only": "Delivery: alarm only, no failure observed",
    "ALARM": "Alarm: ALARM",
    "OK": "Alarm: OK",
    "INSUFFICIENT_DATA": "Alarm: INSUFFICIENT_DATA",
}
# The changes the diagnosis names, labelled on the figure itself (a printed report has no hover).
MARKS: dict[str, tuple[str, str, str]] = {  # role -> (legend name, colour, symbol)
    "trigger": ("trigger: the change that broke delivery", "#d55e00", "star"),
    "recovery": ("recovery: the change that restored it", "#009e73", "star-triangle-up"),
}
FAILURE_FILL = "rgba(213, 94, 0, 0.10)"
TECHNIQUE_COLOUR = "#d55e00"  # an actor's action that impairs logging (MITRE ATT&CK T1562.008)
# The gap between the metrics figure's panels, as a share of its plot's height.
PANEL_SPACING = 0.12
# The overview under the timeline (the whole evidence window), in pixels.
OVERVIEW_HEIGHT = 270
FONT = dict(family="Helvetica, Arial, sans-serif", size=13)
# The pixels a figure's title takes at its top, above the legend.
TITLE_ROOM = 40
TIME_AXIS = dict(
    type="date",
    title=dict(text="time (UTC)"),
    tickformat="%H:%M\n%b %d, %Y",
    hoverformat="%Y-%m-%d %H:%M:%S UTC",
    showgrid=True,
    gridcolor="#eeeeee",
    showline=True,
    linecolor="#888888",
)


class Figure(go.Figure):
    """A plotly figure that displays as offline HTML (plotly.js comes from :func:`page.page_setup`).

    The figures below pass their traces as dicts and their whole layout to the constructor: plotly then
    validates each property once (a ``go.Scatter`` is validated again when added to a figure, and each
    ``update_layout`` runs the relayout machinery). Their data are lists, not Series or arrays: plotly
    hands every array to narwhals when serialising, and narwhals, not knowing numpy arrays, scans every
    installed package's entry points for a plugin (tenths of a second in a fresh kernel).
    """

    def _repr_html_(self) -> str:
        return figure_html(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict[str, str]:
        return {"text/html": figure_html(self)}

    def _ipython_display_(self) -> None:
        # plotly's own hook would go through plotly.io.renderers (CDN MathJax, nbformat import).
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)


def naive_utc(values: Any) -> Any:
    """Aware times (a Series, a Timestamp or a datetime) as naive UTC, which plotly.js draws as they are."""
    import pandas as pd

    if isinstance(values, pd.Series):
        series = pd.to_datetime(values, utc=True)
        return series.dt.tz_convert("UTC").dt.tz_localize(None)
    if is_missing(values):
        return None
    return pd.Timestamp(values).tz_convert("UTC").tz_localize(None) if pd.Timestamp(values).tzinfo else pd.Timestamp(values)


def hover(lines: Iterable[tuple[str, Any]], title: Any = None) -> str:
    """Hover text: a bold title, then (label, value) lines; values escaped, missing ones left out."""
    shown = [f"<b>{text(title)}</b>"] if not is_missing(title) else []
    shown += [
        f"<b>{text(label)}</b> {text(value)}" if label else text(value)
        for label, value in lines
        if not is_missing(value) and value != ""
    ]
    return "<br>".join(shown)


def _layout(title: str | None, height: int, *, x_range: Any = None, **more: Any) -> dict[str, Any]:
    """The layout every figure shares, with ``more`` (axes, shapes...) merged in.

    Figures get their whole layout at construction: each ``update_layout`` or ``update_*axes`` call
    runs plotly's relayout machinery, about ten times the cost of validating the same properties once.
    """
    xaxis = {**TIME_AXIS, **({"range": x_range} if x_range is not None else {}), **more.pop("xaxis", {})}
    # The title at the very top, the legend hung from just under it: placed on the figure (container), a
    # legend reserves the top margin it needs, so however many rows it wraps into at a narrow width, it
    # meets neither the title above it nor the plot below it.
    return dict(
        title=dict(text=text(title), x=0.01, xanchor="left", yref="container", y=0.985, yanchor="top") if title else None,
        height=height,
        margin=dict(l=10, r=20, t=TITLE_ROOM + 20 if title else 60, b=50),
        font=FONT,
        plot_bgcolor="white",
        hoverlabel=dict(align="left", font=dict(size=12)),
        legend=dict(orientation="h", yref="container", y=1 - (TITLE_ROOM if title else 0) / height, yanchor="top",
                    xanchor="left", x=0),
        xaxis=xaxis,
        **more,
    )


def _text_side(moment: Any, shown: list[Any] | None) -> str:
    """Where a mark's label goes: under it, towards the middle of the axis, so it never runs off a side."""
    if not shown or shown[1] <= shown[0]:
        return "bottom center"
    return "bottom right" if naive_utc(moment) - shown[0] < shown[1] - naive_utc(moment) else "bottom left"


def _window_label(opens: Any, closes: Any, shown: list[Any] | None) -> dict[str, Any] | None:
    """Where a failure window's label is anchored: at the side of the window's visible part that faces
    the middle of the axis, its words running inwards; None for a window outside the axis."""
    if not shown:
        return dict(x=opens, xanchor="left")
    low, high = max(opens, shown[0]), min(closes, shown[1])
    if high < low:
        return None
    if opens - shown[0] <= shown[1] - opens:
        return dict(x=low, xanchor="left")
    return dict(x=high, xanchor="right")


def _row_hover(row: Any) -> str:
    lines: list[tuple[str, Any]] = [("time", when(row.time))]
    if not is_missing(row.end):
        lines.append(("until", when(row.end)))
    lines += [("actor", row.actor), ("event", row.event_id), ("", row.summary)]
    changes = row.detail.get("diff") if isinstance(row.detail, Mapping) else None
    if isinstance(changes, Mapping):
        # The one-line diff of each document changed, a statement a hover line (ARNs make them long).
        for what, diff in changes.items():
            first, *rest = str(diff).split("; ")
            lines += [(f"{what}:", first)] + [("", part) for part in rest]
    return hover(lines, title=row.kind)


def _span_traces(spans: list[Any], lane: str, right_edge: Any, *, hover: bool = True) -> list[Any]:
    """A trace per kind of span of one lane (timeline rows, in order); a span still open (no end) runs to
    ``right_edge``. Rows without a kind are not drawn. ``hover=False`` leaves the hover text out."""
    label, colour = LANES.get(lane, (lane, "#555555"))
    kinds: dict[Any, list[Any]] = {}
    for row in spans:
        if not is_missing(row.kind):
            kinds.setdefault(row.kind, []).append(row)
    traces = []
    for kind, group in kinds.items():
        xs: list[Any] = []
        ys: list[Any] = []
        texts: list[Any] = []
        for row in group:
            end = row.end if not is_missing(row.end) else right_edge
            xs += [naive_utc(row.time), naive_utc(end), None]
            ys += [text(label), text(label), None]
            texts += [_row_hover(row) if hover else None] * 2 + [None]
        traces.append(
            dict(
                type="scatter",
                x=xs,
                y=ys,
                mode="lines",
                line=dict(width=16, color=STATE_COLOURS.get(str(kind), colour)),
                name=text(STATE_NAMES.get(str(kind), f"{label}: {kind}")),
                legendgroup=lane,
                hovertext=texts,
                hovertemplate="%{hovertext}<extra></extra>",
                connectgaps=False,
            )
        )
    return traces


def timeline_figure(
    timeline: Any,
    failure_windows: Any = None,
    *,
    start: Any = None,
    end: Any = None,
    title: str | None = None,
    until: Any = None,
    marks: Iterable[Mapping[str, Any]] = (),
    shown: tuple[Any, Any] | None = None,
    compact: int | None = None,
) -> Any:
    """The incident on one time axis: a lane each for IAM, the flow log, the log group, delivery, alarms.

    Parameters
    ----------
    timeline : pandas.DataFrame
        The ``timeline`` frame (:mod:`flowforensics.frames.schema`). Rows with an ``end``, and delivery
        and alarm states, are drawn as bars (one still open runs to ``until``), the others as markers;
        IAM changes are diamonds whose hover shows the actor, the event and a one-line diff of the policy.
        Lanes other than the five above (an actor's activity) get rows of their own, below.
    failure_windows : pandas.DataFrame, optional
        The ``failure_windows`` frame, shaded across every lane (a window still open runs to ``until``).
    start, end : datetime-like, optional
        The window shown (the incident); by default the extent of the data.
    title : str, optional
        The figure's title (escaped).
    until : datetime-like, optional
        The end of the evidence: what is still open (a failure, an alarm state) runs to it. By default
        ``end``, else the latest time of the data.
    marks : iterable of mappings, optional
        The changes the diagnosis names, labelled on the figure: ``role`` (a key of :data:`MARKS`),
        ``time``, ``lane`` (where the change is drawn) and ``label`` (the event's name, escaped).
    shown : (datetime-like, datetime-like), optional
        A window to outline (the overview outlines the one the timeline shows).
    compact : int, optional
        A height in pixels, without legend (the overview); 480 and a legend by default.

    Returns
    -------
    Figure
    """
    import pandas as pd

    traces: list[Any] = []
    marks = list(marks)
    # A few dozen rows: read once into tuples and sorted into lanes in Python (pandas' filtering and
    # row iteration, lane by lane, cost more than the figure); numpy object columns, not Arrow ones.
    timeline = timeline.astype(object)
    rows_of: dict[Any, list[Any]] = {}
    for row in timeline.itertuples(index=False):
        rows_of.setdefault(row.lane, []).append(row)
    times = pd.concat([timeline["time"], timeline["end"]]).dropna()
    if failure_windows is not None and len(failure_windows):
        times = pd.concat([times, failure_windows["start"], failure_windows["end"]]).dropna()
    right_edge = until if until is not None else end if end is not None else (times.max() if len(times) else None)
    everything = list(naive_utc(times))
    everything += [naive_utc(mark["time"]) for mark in marks if not is_missing(mark.get("time"))]
    everything += [naive_utc(right_edge)] if right_edge is not None else []
    x_range = None
    if start is not None or end is not None:
        x_range = [naive_utc(start) if start is not None else min(everything),
                   naive_utc(end) if end is not None else max(everything)]
    # Where the axis runs, to put each label on the side of its mark that keeps it inside the plot.
    shown_range = x_range or ([min(everything), max(everything)] if everything else None)
    # Every lane keeps its row even when empty, so figures of different incidents line up.
    lanes = list(LANES) + sorted(set(timeline["lane"].dropna()) - set(LANES))
    labels = [LANES.get(lane, (lane, ""))[0] for lane in lanes]
    for lane in lanes:
        rows = rows_of.get(lane, [])
        is_span = [not is_missing(row.end) or (not is_missing(row.kind) and row.kind in STATE_COLOURS) for row in rows]
        traces += _span_traces([row for row, span in zip(rows, is_span, strict=True) if span], lane, right_edge,
                               hover=not compact)
        points = [row for row, span in zip(rows, is_span, strict=True) if not span]
        if points:
            traces.append(_point_trace(points, lane, hover=not compact))
    for role, (name, colour, symbol) in MARKS.items():
        mine = [mark for mark in marks if mark.get("role") == role and not is_missing(mark.get("time"))]
        if not mine:
            continue
        traces.append(
            dict(
                type="scatter",
                x=[naive_utc(mark["time"]) for mark in mine],
                y=[text(LANES.get(mark.get("lane"), (mark.get("lane") or "IAM", ""))[0]) for mark in mine],
                mode="markers" if compact else "markers+text",
                marker=dict(size=20, symbol=symbol, color=colour, line=dict(width=1.5, color="black")),
                text=[f"<b>{text(role)}</b>: {text(mark.get('label'))}" for mark in mine],
                textposition=[_text_side(mark["time"], shown_range) for mark in mine],
                textfont=dict(size=12, color=colour),
                name=text(name),
                hovertext=[hover([("time", when(mark["time"])), ("", mark.get("label"))], title=role) for mark in mine],
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
    # Failure windows shaded across every lane, labelled at their top left (what ``add_vrect`` draws);
    # the named changes as dotted lines across every lane.
    shaded: dict[str, list[Any]] = {"shapes": [], "annotations": []}
    for window in failure_windows.itertuples(index=False) if failure_windows is not None else ():
        closes = window.end if not is_missing(window.end) else right_edge
        if is_missing(window.start) or is_missing(closes):
            continue
        shaded["shapes"].append(
            dict(type="rect", xref="x", yref="y domain", x0=naive_utc(window.start), x1=naive_utc(closes), y0=0, y1=1,
                 fillcolor=FAILURE_FILL, line=dict(width=0), layer="below")
        )
        if compact:  # the overview's windows are too narrow for words
            continue
        label = _window_label(naive_utc(window.start), naive_utc(closes), shown_range)
        if label is None:  # the window lies outside the one shown
            continue
        shaded["annotations"].append(
            dict(text="delivery failing" if not is_missing(window.end) else "delivery failing, still at the end of the evidence",
                 xref="x", yref="y domain", y=1, yanchor="top", showarrow=False, font=dict(size=11, color="#8a3c00"),
                 **label)
        )
    for mark in marks:
        if mark.get("role") in MARKS and not is_missing(mark.get("time")):
            shaded["shapes"].append(
                dict(type="line", xref="x", yref="y domain", x0=naive_utc(mark["time"]), x1=naive_utc(mark["time"]),
                     y0=0, y1=1, line=dict(width=1.5, dash="dot", color=MARKS[mark["role"]][1]), layer="below")
            )
    yaxis = dict(
        type="category",
        categoryorder="array",
        categoryarray=[text(label) for label in reversed(labels)],
        range=[-0.6, len(labels) - 0.4],
        showgrid=True,
        gridcolor="#f2f2f2",
        title=None,
        fixedrange=True,
    )
    if shown is not None and not any(is_missing(moment) for moment in shown):
        # The overview: the incident's window (drawn in full above it) outlined on the whole evidence.
        shaded["shapes"].append(
            dict(type="rect", xref="x", yref="paper", x0=naive_utc(shown[0]), x1=naive_utc(shown[1]), y0=0, y1=1,
                 line=dict(width=2, color="black", dash="dash"), fillcolor="rgba(0,0,0,0)")
        )
        shaded["annotations"].append(
            dict(text="the window shown above", xref="x", yref="paper", x=naive_utc(shown[0]), y=1, xanchor="right",
                 yanchor="bottom", showarrow=False, font=dict(size=11))
        )
    if compact:  # the overview is for the eye: no hover text to build, ship and parse twice
        traces = [{key: value for key, value in trace.items() if key not in ("hovertext", "hovertemplate", "customdata")}
                  | {"hoverinfo": "skip"} for trace in traces]
    height = (compact or 480) + 40 * (len(labels) - len(LANES))
    layout = _layout(title, height, x_range=x_range, yaxis=yaxis, **{key: value for key, value in shaded.items() if value})
    if compact:
        layout.update(showlegend=False, margin=dict(l=10, r=20, t=40 if title else 10, b=40))
    return Figure(data=traces, layout=layout)


def overview_figure(timeline: Any, failure_windows: Any = None, *, shown: tuple[Any, Any], until: Any = None,
                    marks: Iterable[Mapping[str, Any]] = (), title: str | None = None) -> Any:
    """The whole evidence window, small, with the incident's window outlined: what the timeline leaves out.

    Parameters
    ----------
    timeline, failure_windows, until, marks
        As for :func:`timeline_figure`.
    shown : (datetime-like, datetime-like)
        The window the timeline figure shows.
    title : str, optional
        The title (escaped).

    Returns
    -------
    Figure
    """
    return timeline_figure(timeline, failure_windows, until=until, marks=marks, title=title, shown=shown,
                           compact=OVERVIEW_HEIGHT)


def _point_trace(points: list[Any], lane: str, *, hover: bool = True) -> dict[str, Any]:
    """The point events of one lane (timeline rows) as markers; IAM changes are diamonds carrying their
    event id. ``hover=False`` leaves the hover text out."""
    import pandas as pd

    label, colour = LANES.get(lane, (lane, "#555555"))
    is_change = [lane == "iam" and not is_missing(row.event_id) for row in points]
    # An action the analysis marks with an ATT&CK technique (impairing logging) is a cross of its own colour.
    impairs = [isinstance(row.detail, Mapping) and bool(row.detail.get("technique")) for row in points]
    return dict(
        type="scatter",
        x=naive_utc(pd.Series([row.time for row in points], dtype=object)).tolist(),
        y=[text(label)] * len(points),
        mode="markers",
        marker=dict(
            size=[15 if change or bad else 10 for change, bad in zip(is_change, impairs, strict=True)],
            symbol=["diamond" if change else "x" if bad else "circle" for change, bad in zip(is_change, impairs, strict=True)],
            color=[TECHNIQUE_COLOUR if bad else colour for bad in impairs] if any(impairs) else colour,
            line=dict(width=1, color="white"),
        ),
        name=text(POINT_NAMES.get(lane, label)),
        legendgroup=lane,
        customdata=[None if is_missing(row.event_id) else row.event_id for row in points],
        hovertext=[_row_hover(row) for row in points] if hover else None,
        hovertemplate="%{hovertext}<extra></extra>",
    )


def verdict_figure(
    verdicts: Any, *, start: Any = None, end: Any = None, title: str | None = "Would IAM allow delivery?"
) -> Any:
    """The delivery verdict over time: one coloured span per state of the role.

    Parameters
    ----------
    verdicts : pandas.DataFrame
        The ``verdicts`` frame: a row per role state, ``allowed`` true, false or null (unknown).
    start, end : datetime-like, optional
        The window shown; the current state (``end`` NaT) runs to ``end``, by default to its own start
        plus an hour.
    title : str, optional
        The title (escaped).

    Returns
    -------
    Figure
    """
    import pandas as pd

    traces: list[Any] = []
    states = verdicts.assign(
        state=verdicts["allowed"].map({True: "allowed", False: "denied"}).astype(object).fillna("unknown")
    )
    last = states["start"].max() if len(states) else None
    right_edge = end if end is not None else (last + pd.Timedelta(hours=1) if last is not None else None)
    for state in ("allowed", "denied", "unknown"):
        rows = states[states["state"] == state]
        if not len(rows):
            continue
        xs: list[Any] = []
        texts: list[Any] = []
        for row in rows.itertuples(index=False):
            stop = row.end if not is_missing(row.end) else right_edge
            xs += [naive_utc(row.start), naive_utc(stop), None]
            tip = hover(
                [("from", when(row.start)), ("until", when(row.end) if not is_missing(row.end) else "now"),
                 ("after", row.event_name), ("actor", row.actor), ("event", row.event_id),
                 ("root cause", row.root_cause), ("", row.reason)],
                title=state,
            )
            texts += [tip, tip, None]
        traces.append(
            dict(
                type="scatter",
                x=xs,
                y=["verdict" if x is not None else None for x in xs],
                mode="lines",
                line=dict(width=28, color=STATE_COLOURS[state]),
                name=state,
                hovertext=texts,
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
    x_range = [naive_utc(start), naive_utc(end)] if start is not None and end is not None else None
    return Figure(
        data=traces,
        layout=_layout(title, 250, x_range=x_range, yaxis=dict(showticklabels=False, title=None, type="category")),
    )


def ingestion_figure(
    log_streams: Any, *, start: Any = None, end: Any = None, title: str | None = "Ingestion per log stream"
) -> Any:
    """Each log stream's span of events (first to last event) and its last ingestion time.

    Parameters
    ----------
    log_streams : pandas.DataFrame
        The ``log_streams`` frame (several observations of a stream are all shown).
    start, end : datetime-like, optional
        The window shown (all of the data can still be reached by zooming out).
    title : str, optional
        The title (escaped).

    Returns
    -------
    Figure
    """
    streams = log_streams.sort_values(["log_stream", "last_event"], na_position="first")
    names = [text(name) for name in streams["log_stream"].astype(object).fillna("?").unique()]
    xs: list[Any] = []
    ys: list[Any] = []
    texts: list[Any] = []
    for row in streams.itertuples(index=False):
        if is_missing(row.first_event) or is_missing(row.last_event):
            continue
        tip = hover(
            [("log group", row.log_group), ("first event", when(row.first_event)),
             ("last event", when(row.last_event)), ("last ingestion", when(row.last_ingestion)),
             ("observed", when(row.observed_at))],
            title=row.log_stream,
        )
        xs += [naive_utc(row.first_event), naive_utc(row.last_event), None]
        ys += [text(row.log_stream), text(row.log_stream), None]
        texts += [tip, tip, None]
    events = dict(type="scatter", x=xs, y=ys, mode="lines", line=dict(width=12, color=LANES["log-group"][1]),
                  name="events", hovertext=texts, hovertemplate="%{hovertext}<extra></extra>")
    ingested = streams[streams["last_ingestion"].notna()]
    last_ingestion = dict(
        type="scatter",
        x=naive_utc(ingested["last_ingestion"]).tolist(),
        y=[text(name) for name in ingested["log_stream"].astype(object).fillna("?")],
        mode="markers",
        marker=dict(symbol="line-ns-open", size=18, line=dict(width=3), color="#1b2631"),
        name="last ingestion",
        hovertext=[
            hover([("last ingestion", when(row.last_ingestion))], title=row.log_stream)
            for row in ingested.itertuples(index=False)
        ],
        hovertemplate="%{hovertext}<extra></extra>",
    )
    x_range = None
    if start is not None and end is not None:
        # Stretched to the last ingestion seen, which is what this figure is about.
        latest = streams["last_ingestion"].max()
        high = max(end, latest + (latest - start) * 0.03) if not is_missing(latest) and latest > start else end
        x_range = [naive_utc(start), naive_utc(high)]
    yaxis = dict(type="category", categoryorder="array", categoryarray=names, title=None, automargin=True)
    return Figure(
        data=[events, last_ingestion],
        layout=_layout(title, max(260, 160 + 32 * len(names)), x_range=x_range, yaxis=yaxis),
    )


def panels_layout(titles: list[str], spacing: float = PANEL_SPACING) -> dict[str, Any]:
    """Panels stacked top down on one shared time axis, each titled: their axes and title annotations.

    What ``make_subplots(rows=len(titles), cols=1, shared_xaxes=True, vertical_spacing=spacing,
    subplot_titles=titles)`` lays out, to the last float; built as data, the figure is made in one
    validation like the others (make_subplots and the layout update that follows it cost several
    times the figure itself). Axes are ``x``, ``x2``... top down; the upper x axes follow the bottom
    one and hide their tick labels.

    Parameters
    ----------
    titles : list of str
        One per panel (already escaped); at least one panel is laid out.
    spacing : float
        The gap between panels, as a share of the plot's height.

    Returns
    -------
    dict
        Layout properties: ``xaxis``, ``yaxis``, ``xaxis2``... and ``annotations``.
    """
    count = max(len(titles), 1)
    height = (1.0 - spacing * (count - 1)) / count
    bottom_axis = f"x{count if count > 1 else ''}"
    layout: dict[str, Any] = {}
    annotations = []
    for panel in range(1, count + 1):
        suffix = str(panel) if panel > 1 else ""
        below = count - panel
        # make_subplots' arithmetic (a sum of heights, then the gaps), clipped as it clips rounding errors.
        low = min(max(sum([height] * below) + below * spacing + 0.0, 0.0), 1.0)
        high = min(max(sum([height] * below) + below * spacing + height - 0.0, 0.0), 1.0)
        layout[f"xaxis{suffix}"] = {"anchor": f"y{suffix}", "domain": [0.0, 1.0]}
        layout[f"yaxis{suffix}"] = {"anchor": f"x{suffix}", "domain": [low, high]}
        if panel < count:
            layout[f"xaxis{suffix}"].update(matches=bottom_axis, showticklabels=False)
        if panel <= len(titles) and titles[panel - 1]:
            annotations.append({"y": high, "xref": "paper", "x": 0.5, "yref": "paper", "text": titles[panel - 1],
                                "showarrow": False, "font": {"size": 16}, "xanchor": "center", "yanchor": "bottom"})
    return {**layout, **({"annotations": annotations} if annotations else {})}


def metrics_figure(metrics: Any, *, start: Any = None, end: Any = None, title: str | None = "Metrics") -> Any:
    """Every metric series of the evidence (``IncomingLogEvents``, ``IncomingBytes``...), a panel each.

    Series of different units share the time axis, not the value axis.

    Parameters
    ----------
    metrics : pandas.DataFrame
        The ``metrics`` frame.
    start, end : datetime-like, optional
        The window shown (all of the data can still be reached by zooming out).
    title : str, optional
        The title (escaped).

    Returns
    -------
    Figure
    """
    series = metrics.assign(
        name=metrics["label"].astype(object).where(metrics["label"].notna(), metrics["metric_name"]).fillna("?")
    ).sort_values("timestamp")
    names = sorted(series["name"].unique())
    panels = range(1, max(len(names), 1) + 1)
    traces = [
        dict(
            type="scatter",
            x=naive_utc(rows["timestamp"]).tolist(),
            y=rows["value"].astype(float).tolist(),
            mode="lines+markers",
            marker=dict(size=4),
            line=dict(color=LANES["log-group"][1]),
            name=text(name),
            showlegend=False,
            hovertext=[hover([("log group", lg), ("stat", stat)], title=name)
                       for lg, stat in zip(rows["log_group"], rows["stat"], strict=True)],
            hovertemplate="%{hovertext}<br>%{x}: %{y}<extra></extra>",
            xaxis=f"x{panel if panel > 1 else ''}",
            yaxis=f"y{panel if panel > 1 else ''}",
        )
        for panel, (name, rows) in enumerate(((name, series[series["name"] == name]) for name in names), start=1)
    ]
    layout = panels_layout([text(name) for name in names])
    # Every panel's axes (x, x2, x3... top down) with the time axis' looks.
    x_range = [naive_utc(start), naive_utc(end)] if start is not None and end is not None else None
    axis = dict(showgrid=True, gridcolor="#eeeeee", tickformat=TIME_AXIS["tickformat"],
                hoverformat=TIME_AXIS["hoverformat"], title=None, **({"range": x_range} if x_range else {}))
    for panel in panels:
        suffix = str(panel) if panel > 1 else ""
        layout[f"xaxis{suffix}"].update(axis)
        layout[f"yaxis{suffix}"].update(title=None, rangemode="tozero", gridcolor="#eeeeee")
    # Only the bottom panel names the axis: a title under each panel would run into the next one's.
    layout[f"xaxis{panels[-1] if panels[-1] > 1 else ''}"]["title"] = dict(text="time (UTC)")
    return Figure(data=traces, layout=_layout(title, 140 + 190 * len(panels), xaxis=layout.pop("xaxis"), **layout))
