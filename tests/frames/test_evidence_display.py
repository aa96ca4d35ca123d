"""What an analyst sees of the objects they touch: short reprs, escaped HTML, and no frame silently empty."""

from __future__ import annotations

from pathlib import Path

import pytest

import flowforensics
from flowforensics.analysis.diagnosis import diagnose
from flowforensics.presentation.investigation import open_investigation
from flowforensics.scenarios import SCENARIOS, write_scenario

SCRIPT = "<script>alert(1)</script>"
EXPECTED = SCENARIOS["permission-removed"].expected


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_scenario("permission-removed", tmp_path_factory.mktemp("evidence"))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A flow log id and a log group that are markup: a describe-flow-logs answer an attacker shaped.
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "describe-flow-logs.json").write_text(
        '{"FlowLogs": [{"FlowLogId": "fl-<img src=x onerror=alert(1)>", "LogGroupName": "<script>alert(1)</script>",'
        ' "DeliverLogsStatus": "FAILED", "DeliverLogsErrorMessage": "Access error", "LogDestinationType": "cloud-watch-logs",'
        ' "DeliverLogsPermissionArn": "arn:aws:iam::111122223333:role/flow\\u001b[31m", "FlowLogStatus": "ACTIVE"}]}'
    )
    return folder


def test_evidence_repr_is_one_short_line(folder: Path) -> None:
    evidence = flowforensics.load(folder)
    shown = repr(evidence)
    assert len(shown) < 300 and "\n" not in shown
    assert shown.startswith(f"<Evidence {str(folder)!r}: ") and "1 flow log(s)" in shown and "CloudTrail event(s)" in shown
    assert "DataFrame" not in shown and "frames=" not in shown


def test_derived_frames_are_computed_on_first_use(folder: Path) -> None:
    evidence = flowforensics.load(folder)
    # Before: empty frames that looked like results. Now: the analysis' frames, for every flow log.
    assert "timeline" not in evidence.frames
    timeline = evidence.timeline
    assert len(timeline) and set(timeline["flow_log_id"]) == {EXPECTED.flow_log_id}
    assert evidence.timeline is timeline  # computed once
    windows = evidence.failure_windows
    assert len(windows) and set(windows["flow_log_id"]) == {EXPECTED.flow_log_id}
    assert windows["start"].notna().all()
    verdicts = evidence.verdicts
    assert len(verdicts) and set(verdicts["flow_log_id"]) == {EXPECTED.flow_log_id}
    assert verdicts["allowed"].isin([True, False]).any()
    with pytest.raises(AttributeError):
        evidence.no_such_frame  # noqa: B018


def test_diagnosis_repr_is_short(folder: Path) -> None:
    diagnosis = diagnose(flowforensics.load(folder))
    (entry,) = diagnosis.flow_logs
    assert repr(entry).startswith(f"<FlowLogDiagnosis {EXPECTED.flow_log_id!r} ") and EXPECTED.root_cause in repr(entry)
    assert len(repr(entry)) < 400 and "findings=" not in repr(entry)
    assert repr(diagnosis).startswith("<Diagnosis of 1 flow log: ") and len(repr(diagnosis)) < 500


def test_investigation_repr_and_html(folder: Path) -> None:
    case = open_investigation(folder)
    assert repr(case).startswith("<Investigation of the first failing flow log in ") and len(repr(case)) < 300
    assert "ff-summary" in case._repr_html_()


def test_hostile_values_stay_text(hostile: Path) -> None:
    evidence = flowforensics.load(hostile)
    diagnosis = diagnose(evidence)
    for shown in (evidence._repr_html_(), diagnosis._repr_html_(), diagnosis.flow_logs[0]._repr_html_()):
        assert "<script>" not in shown and "<img" not in shown
    for shown in (repr(evidence), repr(diagnosis), repr(diagnosis.flow_logs[0])):
        assert "\x1b" not in shown and "\n" not in shown
