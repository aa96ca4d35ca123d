"""The analysis a report shares: computed once per loaded evidence, never across loads, never stale."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import flowforensics
from flowforensics.analysis import history, observed
from flowforensics.analysis.cache import per_evidence
from flowforensics.analysis.diagnosis import diagnose
from flowforensics.analysis.timeline import timeline
from flowforensics.presentation.investigation import Investigation
from flowforensics.scenarios import SCENARIOS


class Loaded:
    """An evidence-like object: any object with instance attributes can carry the results."""


def test_results_are_shared_whatever_the_spelling_of_the_arguments() -> None:
    calls: Counter[tuple[Any, ...]] = Counter()

    @per_evidence
    def analysis(evidence: Any, name: str, *, until: Any = None) -> list[str]:
        calls[(name, until)] += 1
        return [name]

    evidence = Loaded()
    first = analysis(evidence, "role")
    assert analysis(evidence, "role", until=None) is first and analysis(evidence, name="role") is first
    assert analysis(evidence, "role", until=3) == ["role"] and calls == {("role", None): 1, ("role", 3): 1}
    # Another evidence object (another load) computes again: nothing outlives the object it came from.
    assert analysis(Loaded(), "role") is not first and calls[("role", None)] == 2


def test_unhashable_arguments_and_slotted_evidence_are_computed_every_time() -> None:
    calls = []

    @per_evidence
    def analysis(evidence: Any, names: Any) -> int:
        calls.append(names)
        return len(calls)

    evidence = Loaded()
    assert analysis(evidence, ["a"]) == 1 and analysis(evidence, ["a"]) == 2
    assert analysis(object(), "a") == 3 and analysis(object(), "a") == 4


@pytest.mark.parametrize("name", ["permission-removed", "trust-edited", "kms-key-denied"])
def test_a_report_replays_the_role_and_reads_the_signals_once(
    name: str, scenario_folder: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    anchors: Counter[str] = Counter()
    reads: Counter[str] = Counter()
    anchor = history._anchor
    monkeypatch.setattr(history, "_anchor", lambda evidence, role_name, role_arn: anchors.update([role_arn]) or anchor(evidence, role_name, role_arn))
    first_source, *others = observed.SIGNAL_SOURCES
    monkeypatch.setattr(observed, "SIGNAL_SOURCES",
                        (lambda evidence, subject: reads.update([subject.flow_log_id]) or first_source(evidence, subject), *others))

    evidence = flowforensics.load(scenario_folder(name))
    case = Investigation(evidence)
    case.title(), case.summary(), case.timeline_figure(), case.overview_figure(), case.delivery_verdict()
    timeline(evidence)
    flow_log_id = SCENARIOS[name].expected.flow_log_id
    assert reads[flow_log_id] == 1 and max(anchors.values()) == 1
    # Shared, and the same as what a fresh load computes.
    assert case.diagnosis.to_dict() == diagnose(flowforensics.load(scenario_folder(name))).to_dict()
    assert anchors[case.entry.role_arn] == 2 and reads[flow_log_id] == 2
