"""Every flow log of an evidence folder: which fail, grouped by root cause (the ``fleet`` notebook)."""

from __future__ import annotations

from typing import Any

from flowforensics.analysis.results import Diagnosis
from flowforensics.analysis.root_causes import ROOT_CAUSES
from flowforensics.presentation.markup import Html, table, text

STATUS_COLOURS = {"FAILED": "#c0392b", "DELETED": "#7b241c", "UNKNOWN": "#95a5a6", "SUCCESS": "#27ae60"}
# Failing first, then at risk (still delivering, but what was collected refuses it), then the rest.
STATE_ORDER = {"failing": 0, "at-risk": 1, "unknown": 2, "recovered": 3, "healthy": 4}
FLEET_COLUMNS = [
    "flow_log_id", "state", "status", "root_cause", "confidence", "region", "account_id", "log_group", "role_arn",
    "failure_started", "trigger_event", "trigger_actor", "trigger_time", "recovery_event", "delivery_resumed",
]


def fleet_table(diagnosis: Diagnosis) -> Any:
    """One row per flow log: its state, status, root cause, trigger and recovery; failing, then at-risk ones first.

    Parameters
    ----------
    diagnosis : Diagnosis
        The diagnosis of every flow log (:func:`flowforensics.analysis.diagnosis.diagnose`).

    Returns
    -------
    pandas.DataFrame
        With the columns of :data:`FLEET_COLUMNS`; times as UTC timestamps.
    """
    import pandas as pd

    rows = []
    for entry in diagnosis.flow_logs:
        trigger, recovery = entry.trigger, entry.recovery
        rows.append(
            {
                "flow_log_id": entry.flow_log_id,
                "state": entry.state,
                "status": entry.status,
                "root_cause": entry.root_cause,
                "confidence": entry.confidence,
                "region": entry.region,
                "account_id": entry.account_id,
                "log_group": entry.log_group,
                "role_arn": entry.role_arn,
                "failure_started": entry.failure_started,
                "trigger_event": trigger.event_name if trigger else None,
                "trigger_actor": trigger.actor if trigger else None,
                "trigger_time": trigger.event_time if trigger else None,
                "recovery_event": recovery.event_name if recovery else None,
                "delivery_resumed": recovery.delivery_resumed if recovery else None,
            }
        )
    table = pd.DataFrame(rows, columns=FLEET_COLUMNS)
    for column in ("failure_started", "trigger_time", "delivery_resumed"):
        table[column] = pd.to_datetime(table[column], utc=True, errors="coerce", format="ISO8601")
    order = table["state"].map(STATE_ORDER).fillna(9)
    return table.assign(_order=order).sort_values(["_order", "root_cause", "flow_log_id"]).drop(columns="_order").reset_index(drop=True)


def by_root_cause(diagnosis: Diagnosis) -> Any:
    """The fleet grouped by root cause: how many flow logs, how many failing, which ones.

    Returns
    -------
    pandas.DataFrame
        Columns ``root_cause``, ``meaning``, ``flow_logs``, ``failing``, ``at_risk``, ``security`` (also a
        defense-evasion finding) and ``ids``; most flow logs first.
    """
    import pandas as pd

    table = fleet_table(diagnosis)
    groups = []
    for code, rows in table.groupby("root_cause", sort=False):
        cause = ROOT_CAUSES.get(str(code))
        groups.append(
            {
                "root_cause": code,
                "meaning": cause.meaning if cause else "",
                "flow_logs": len(rows),
                "failing": int((rows["state"] == "failing").sum()),
                "at_risk": int((rows["state"] == "at-risk").sum()),
                "security": bool(cause and cause.security),
                "ids": ", ".join(rows["flow_log_id"]),
            }
        )
    columns = ["root_cause", "meaning", "flow_logs", "failing", "at_risk", "security", "ids"]
    return pd.DataFrame(groups, columns=columns).sort_values(["failing", "at_risk", "flow_logs"], ascending=False).reset_index(drop=True)


def fleet_view(diagnosis: Diagnosis) -> Html:
    """:func:`fleet_table` as the notebook shows it: escaped, times in UTC, blanks for what is missing,
    scrolling sideways inside its own box when wider than the page."""
    return table(fleet_table(diagnosis), empty="No flow log in the evidence.", max_rows=1000)


def by_root_cause_view(diagnosis: Diagnosis) -> Html:
    """:func:`by_root_cause` as the notebook shows it (see :func:`fleet_view`)."""
    return table(by_root_cause(diagnosis), empty="No flow log in the evidence.")


def root_cause_figure(diagnosis: Diagnosis, *, title: str | None = "Flow logs by root cause") -> Any:
    """A bar per root cause, stacked by delivery status.

    Returns
    -------
    flowforensics.presentation.plots.Figure
    """
    import plotly.graph_objects as go

    from flowforensics.presentation.plots import FONT, Figure

    table = fleet_table(diagnosis)
    counts = table.groupby(["root_cause", "status"]).size().unstack(fill_value=0)
    fig = Figure()
    for status, colour in STATUS_COLOURS.items():
        if status in counts:
            fig.add_trace(go.Bar(y=[text(code) for code in counts.index], x=counts[status], name=status,
                                 orientation="h", marker_color=colour,
                                 hovertemplate="%{y}: %{x} " + status + "<extra></extra>"))
    fig.update_layout(
        barmode="stack", title=dict(text=text(title), x=0.01) if title else None, font=FONT, plot_bgcolor="white",
        height=max(220, 120 + 34 * len(counts)), margin=dict(l=10, r=20, t=60, b=40),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
        xaxis=dict(title=dict(text="flow logs"), dtick=1, gridcolor="#eeeeee"),
        yaxis=dict(automargin=True, categoryorder="total ascending"),
    )
    return fig
