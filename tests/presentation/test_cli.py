"""``flowforensics demo``, ``report`` and ``lab`` as a user runs them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

from flowforensics.cli import main
from flowforensics.errors import FlowForensicsError
from flowforensics.presentation.report import write_report
from flowforensics.presentation.sources import EVIDENCE_ENV
from flowforensics.scenarios import SCENARIOS


@pytest.mark.slow
def test_demo_writes_the_evidence_and_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--scenario", "trust-edited", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == str(tmp_path / "report" / "report.html") and Path(printed).is_file()
    assert (tmp_path / "evidence" / "manifest.json").is_file()
    (entry,) = json.loads((tmp_path / "report" / "diagnosis.json").read_text())["flow_logs"]
    assert entry["root_cause"] == SCENARIOS["trust-edited"].expected.root_cause


@pytest.mark.slow
def test_a_failed_cell_is_named_and_the_partial_notebook_kept(scenario: Callable[[str], Path], tmp_path: Path) -> None:
    # The command refuses an unknown flow log before a kernel starts (test_report_cli); the engine
    # itself, asked for one, runs the notebook until the cell that fails.
    with pytest.raises(FlowForensicsError) as raised:
        write_report(scenario("permission-removed"), tmp_path, flow_log_id="fl-00000000000000000")
    error = str(raised.value)
    assert "\n" not in error and "investigate.ipynb: cell" in error and "(case.title())" in error
    assert "EvidenceError" in error and "no flow log fl-00000000000000000" in error
    partial = nbformat.read(tmp_path / "report.ipynb", as_version=4)
    assert any(output.get("output_type") == "error" for cell in partial.cells for output in cell.get("outputs", []))
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report", "no/such/folder"], "no such file or folder"),
        (["demo", "--scenario", "no-such-incident"], "unknown scenario 'no-such-incident'"),
        (["lab", "no/such/folder"], "no such file or folder"),
    ],
)
def test_bad_input_is_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 1
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_demo_lists_the_incidents(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == list(SCENARIOS)


def test_lab_opens_the_notebooks_on_the_evidence(
    scenario: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    started = {}

    def call(command: list[str], env: dict[str, str]) -> int:
        started.update(command=command, env=env)
        return 0

    monkeypatch.setattr("subprocess.call", call)
    folder = scenario("permission-removed")
    assert main(["lab", str(folder), "--no-browser", "--port", "8899"]) == 0
    command = started["command"]
    assert command[1:3] == ["-m", "jupyterlab"] and "--no-browser" in command and "--port=8899" in command
    root = next(arg for arg in command if arg.startswith("--ServerApp.root_dir="))
    assert (Path(root.split("=", 1)[1]) / "investigate.ipynb").is_file()
    assert started["env"][EVIDENCE_ENV] == str(folder.resolve())
