"""``flowforensics report`` refuses early (before a kernel starts) and writes one report per flow log worth one."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest

from flowforensics.cli import main
from flowforensics.presentation import report as report_engine

DATA = Path(__file__).resolve().parents[1] / "data"
BLACKBOX = Path(__file__).resolve().parents[1] / "blackbox" / "data"
BLACKBOX2 = Path(__file__).resolve().parents[1] / "blackbox2" / "data"


@pytest.fixture
def no_kernel(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Record the notebook runs instead of starting a kernel."""
    runs: list[dict] = []

    def run_notebook(notebook: Path, output: Path, parameters: dict, **_options: object) -> Path:
        runs.append(parameters)
        raise AssertionError("a kernel was started")

    monkeypatch.setattr(report_engine, "run_notebook", run_notebook)
    return runs


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error, error
    return error


def test_evidence_without_a_flow_log_is_refused_saying_what_it_holds(
    tmp_path: Path, no_kernel: list[dict], capsys: pytest.CaptureFixture[str]
) -> None:
    lookup = DATA / "cloudtrail-samples" / "aws-cli" / "lookup-events.example.json"
    assert main(["report", str(lookup), "--out", str(tmp_path / "out")]) == 1
    error = _error(capsys)
    assert "lookup-events.example.json: no flow log to report on" in error
    assert "it holds 1 file (1 aws cloudtrail lookup-events) with 1 CloudTrail event(s) and no flow log" in error
    assert "describe-flow-logs" in error
    assert no_kernel == [] and not (tmp_path / "out").exists()


def test_an_unknown_flow_log_is_refused_naming_those_found(
    no_kernel: list[dict], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = BLACKBOX / "c17-several-flow-logs" / "evidence"
    assert main(["report", str(folder), "--flow-log-id", "fl-00000000000000000"]) == 1
    error = _error(capsys)
    assert "no flow log fl-00000000000000000" in error
    assert "fl-17a1b2c3d4e5f6071, fl-17b2c3d4e5f607182, fl-17c3d4e5f60718293" in error
    assert no_kernel == []


@pytest.mark.parametrize("option", ["--start", "--end"])
@pytest.mark.parametrize("value", ["yesterday morning", "-2", "2024-13-40"])
def test_a_time_that_is_not_one_is_a_usage_error_before_anything_runs(
    option: str, value: str, scenario: Callable[[str], Path], no_kernel: list[dict], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(scenario("permission-removed")), f"{option}={value}"]) == 2
    error = _error(capsys)
    assert error.startswith(f"flowforensics report: {option} {value!r} is not a time")
    assert "ISO 8601" in error and "-2h" in error
    assert no_kernel == []


def test_times_reach_the_notebook_as_utc(scenario: Callable[[str], Path], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict] = []

    def write_report(evidence: Path, out: Path, **options: object) -> report_engine.ReportFiles:
        seen.append(options)
        return report_engine.ReportFiles(Path(out) / "report.html", Path(out) / "report.ipynb", Path(out) / "diagnosis.json")

    monkeypatch.setattr(report_engine, "write_report", write_report)
    folder = scenario("permission-removed")
    assert main(["report", str(folder), "--start", "2024-03-24T18:00:00+02:00", "--end", "1711324800"]) == 0
    assert main(["report", str(folder), "--start=-2h", "--end", "now"]) == 0
    absolute, relative = seen
    assert absolute["start"] == "2024-03-24T16:00:00Z" and absolute["end"] == "2024-03-25T00:00:00Z"
    assert relative["start"] < relative["end"] and relative["end"].endswith("Z")


class Links(HTMLParser):
    """The links of a page, and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [value for name, value in attrs if tag == "a" and name == "href" and value]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.mark.slow
def test_several_flow_logs_get_one_report_each_and_an_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evidence = tmp_path / "evidence"
    shutil.copytree(BLACKBOX2 / "d17-flow-log-replaced-trust-pinned" / "evidence", evidence)
    assert main(["report", str(evidence)]) == 0
    index = Path(capsys.readouterr().out.strip())
    assert index == tmp_path / "evidence-report" / "index.html"
    page = Links()
    page.feed(index.read_text())
    shown = " ".join(page.text)
    expected = {"fl-0d17f2b3c4d5e6f70": "trust-condition-mismatch", "fl-0d17e1a2b3c4d5e6f": "flow-log-deleted"}
    assert sorted(page.links) == sorted(f"{flow_log}/report.html" for flow_log in expected)
    for flow_log, cause in expected.items():
        (entry,) = json.loads((index.parent / flow_log / "diagnosis.json").read_text())["flow_logs"]
        assert entry["flow_log_id"] == flow_log and entry["root_cause"] == cause
        assert f"Flow log {flow_log}" in (index.parent / flow_log / "report.html").read_text()
        assert flow_log in shown and cause in shown


@pytest.mark.slow
def test_only_the_failing_one_of_several_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = BLACKBOX / "c17-several-flow-logs" / "evidence"
    assert main(["report", str(folder), "--out", str(tmp_path)]) == 0
    index = Path(capsys.readouterr().out.strip())
    page = Links()
    page.feed(index.read_text())
    assert page.links == ["fl-17a1b2c3d4e5f6071/report.html"]
    shown = " ".join(page.text)
    # The flow logs that deliver are listed, without a report.
    assert "fl-17b2c3d4e5f607182" in shown and "fl-17c3d4e5f60718293" in shown
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fl-17a1b2c3d4e5f6071", "index.html"]


def test_several_flow_logs_none_failing_are_listed(
    tmp_path: Path, no_kernel: list[dict], capsys: pytest.CaptureFixture[str]
) -> None:
    # c17's describe-flow-logs output as it was before its incident: every flow log delivering.
    evidence = tmp_path / "evidence"
    shutil.copytree(BLACKBOX / "c17-several-flow-logs" / "evidence" / "ec2", evidence)
    for path in evidence.iterdir():
        described = json.loads(path.read_text())
        for flow_log in described["FlowLogs"]:
            flow_log["DeliverLogsStatus"] = "SUCCESS"
            flow_log.pop("DeliverLogsErrorMessage", None)
        path.write_text(json.dumps(described))
    assert main(["report", str(evidence)]) == 1
    error = _error(capsys)
    assert "3 flow logs, none failing, recovered or at risk" in error
    assert "fl-17a1b2c3d4e5f6071, fl-17b2c3d4e5f607182, fl-17c3d4e5f60718293" in error and "--flow-log-id" in error
    assert no_kernel == [] and not (tmp_path / "evidence-report").exists()
