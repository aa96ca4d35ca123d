"""The explorer: controls drive the timeline, the list of changes and their diffs, without a frontend."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import flowforensics
from flowforensics.presentation.investigation import Investigation
from flowforensics.presentation.widgets import explorer
from flowforensics.scenarios import SCENARIOS


def test_explorer_follows_its_controls(scenario: Callable[[str], Path]) -> None:
    expected = SCENARIOS["permission-removed"].expected
    view = explorer(Investigation(flowforensics.load(scenario("permission-removed"))))
    assert view.flow_log.value == expected.flow_log_id
    assert "IAM" in [trace.name for trace in view.figure.data]
    (shown,) = view.output.outputs  # the figure as offline HTML, without plotly.js
    assert "Plotly.newPlot" in shown["data"]["text/html"] and "cdn" not in shown["data"]["text/html"]
    # Every change of the role is listed; picking the trigger shows its diff.
    labels = [label for label, _ in view.changes.options]
    trigger = next(i for i, label in enumerate(labels) if expected.trigger_actor in label and "16:47:23" in label)
    view.changes.value = trigger
    assert "ff-del" in view.diff.value and "ff-add" in view.diff.value
    assert "permission-missing" in view.findings.value
    # Lanes off: their traces go.
    view.lanes["iam"].value = False
    assert "IAM" not in [trace.name for trace in view.figure.data]
    view.lanes["iam"].value = True
    # A window after the trigger: only later changes remain to pick.
    moments = [value for _, value in view.window.options]
    later = [m for m in moments if m > moments[0] and str(m) > "2024-03-24 17"]
    view.window.value = (later[0], later[-1])
    assert len(view.changes.options) < len(labels)
    assert all("16:47:23" not in label for label, _ in view.changes.options)
    assert view.widget.children  # renders as a VBox
