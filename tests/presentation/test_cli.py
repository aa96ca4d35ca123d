"""``flowforensics demo``, ``report`` and ``lab`` as a user runs them."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

from flowforensics.cli import main
from flowforensics.errors import FlowForensicsError
from flowforensics.presentation.report import NOTEBOOKS, write_report
from flowforensics.presentation.sources import EVIDENCE_ENV
from flowforensics.scenarios import SCENARIOS

README = Path(__file__).resolve().parents[2] / "README.md"


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
    # one column of titles, however long a name
    assert len({line.index(SCENARIOS[line.split()[0]].title) for line in listed}) == 1


def test_the_readme_lists_every_sample_incident() -> None:
    listed = README.read_text().split("## Sample incidents")[1].split("\n## ")[0]
    assert set(re.findall(r"`([a-z-]+)`", listed)) >= set(SCENARIOS)


def test_the_readme_tour_shows_what_diagnose_prints(scenario: Callable[[str], Path],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    tour = README.read_text().split("`diagnose` says first what an analyst needs in ten seconds (`trust-edited`")[1]
    shown = tour.split("```\n")[1].splitlines()
    assert main(["diagnose", str(scenario("trust-edited"))]) == 0
    # word for word, but the fix's policy document, which the README shortens to '{...}'
    printed = [re.sub(r"'\{.*\}'", "'{...}'", line) for line in capsys.readouterr().out.splitlines()]
    assert shown == printed


@pytest.fixture
def lab_started(monkeypatch: pytest.MonkeyPatch) -> dict:
    """What ``lab`` would start: the JupyterLab command and its environment (nothing is started)."""
    started: dict = {}

    def call(command: list[str], env: dict[str, str]) -> int:
        started.update(command=command, env=env)
        return 0

    monkeypatch.setattr("subprocess.call", call)
    return started


def _installed() -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in NOTEBOOKS.glob("*.ipynb")}


def _option(command: list[str], name: str) -> str:
    return next(arg.split("=", 1)[1] for arg in command if arg.startswith(f"{name}="))


def test_lab_opens_working_copies_on_the_evidence(
    scenario: Callable[[str], Path], tmp_path: Path, lab_started: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed = _installed()
    folder = tmp_path / "evidence"
    shutil.copytree(scenario("permission-removed"), folder)
    monkeypatch.chdir(tmp_path)
    assert main(["lab", "evidence", "--no-browser", "--port", "8899", "--", "--ServerApp.ip=127.0.0.1", "--debug"]) == 0
    command = lab_started["command"]
    assert command[1:3] == ["-m", "jupyterlab"] and "--no-browser" in command and "--port=8899" in command
    # JupyterLab's own arguments, after --, come last and as given.
    assert command[-2:] == ["--ServerApp.ip=127.0.0.1", "--debug"]
    # A working copy beside the evidence, never the installed notebooks.
    workdir = Path(_option(command, "--ServerApp.root_dir"))
    assert workdir == tmp_path / "evidence-lab"
    assert sorted(p.name for p in workdir.glob("*.ipynb")) == sorted(installed)
    assert _installed() == installed
    # Each copy opens the evidence by itself (papermill's injected parameters), as the environment says.
    for name in installed:
        copy = nbformat.read(workdir / name, as_version=4)
        (injected,) = [c for c in copy.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert f"evidence = {json.dumps(str(folder.resolve()))}" in injected.source
    assert lab_started["env"][EVIDENCE_ENV] == str(folder.resolve())
    assert _option(command, "--LabApp.default_url") == "/lab/tree/investigate.ipynb"


def test_lab_keeps_the_analysts_work(scenario: Callable[[str], Path], tmp_path: Path, lab_started: dict) -> None:
    workdir = tmp_path / "case-42"
    assert main(["lab", str(scenario("trust-edited")), "--workdir", str(workdir)]) == 0
    notebook = nbformat.read(workdir / "investigate.ipynb", as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("case.diagnosis  # the analyst's own cell"))
    nbformat.write(notebook, workdir / "investigate.ipynb")
    # Opened again, on other evidence: the analyst's cells stay, the evidence follows the command.
    assert main(["lab", str(scenario("role-recreated")), "--workdir", str(workdir)]) == 0
    again = nbformat.read(workdir / "investigate.ipynb", as_version=4)
    assert again.cells[-1].source == "case.diagnosis  # the analyst's own cell"
    (injected,) = [c for c in again.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert str(scenario("role-recreated").resolve()) in injected.source
    assert Path(_option(lab_started["command"], "--ServerApp.root_dir")) == workdir.resolve()


@pytest.mark.parametrize(("uid", "allowed"), [(0, True), (1000, False)])
def test_lab_runs_as_root_where_containers_do(
    uid: int, allowed: bool, tmp_path: Path, lab_started: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("os.geteuid", lambda: uid)
    monkeypatch.chdir(tmp_path)
    assert main(["lab"]) == 0
    assert ("--allow-root" in lab_started["command"]) is allowed
    # Without evidence the copies open the sample incident; they are made in the current folder.
    assert Path(_option(lab_started["command"], "--ServerApp.root_dir")) == tmp_path / "flowforensics-lab"
    assert EVIDENCE_ENV not in lab_started["env"] or lab_started["env"][EVIDENCE_ENV] == ""


def test_lab_never_writes_into_the_install(lab_started: dict, capsys: pytest.CaptureFixture[str]) -> None:
    installed = _installed()
    assert main(["lab", "--workdir", str(NOTEBOOKS)]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "installed notebooks" in error
    assert lab_started == {} and _installed() == installed
