"""Output that cannot attack the analyst: terminal escapes, forged lines, spreadsheet formulas, closed pipes."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flowforensics.cli import main
from flowforensics.presentation.terminal import TerminalSafeWriter, for_spreadsheet, for_terminal

# An actor whose ARN sets the terminal's title, writes its clipboard (OSC 52), rings the bell, forges a
# line of the summary and, opened in a spreadsheet, runs a formula.
PAYLOAD = ('=HYPERLINK("http://attacker.example/x","open")\x1b]0;pwned\x07\x1b]52;c;ZWNobyBwd25lZA==\x07'
           "\x9b31m\r\nfl-00000000000000000 SUCCESS none (confirmed)\u202e")
ACTOR = re.compile(r"arn:aws:iam::\d+:user/alice\.nguyen")
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _poison(value: Any) -> Any:
    """Every string in a JSON value with the trigger's actor replaced by the payload (nested JSON too)."""
    if isinstance(value, dict):
        return {key: _poison(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_poison(item) for item in value]
    if isinstance(value, str):
        if value.startswith("{") and ACTOR.search(value):  # lookup-events' CloudTrailEvent: JSON in a string
            return json.dumps(_poison(json.loads(value)))
        return ACTOR.sub(PAYLOAD, value)
    return value


@pytest.fixture(scope="module")
def poisoned(scenario: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The permission-removed incident, its trigger's actor replaced by the payload (no manifest: hand-filled)."""
    folder = tmp_path_factory.mktemp("poisoned") / "evidence"
    shutil.copytree(scenario("permission-removed"), folder)
    (folder / "manifest.json").unlink()
    for path in folder.rglob("*.json*"):
        zipped = path.name.endswith(".gz")
        data = json.loads(gzip.decompress(path.read_bytes()) if zipped else path.read_bytes())
        text = json.dumps(_poison(data)).encode()
        path.write_bytes(gzip.compress(text, mtime=0) if zipped else text)
    return folder


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flowforensics", *args], capture_output=True, text=True,
                          encoding="utf-8", errors="surrogateescape", timeout=120, check=False)


def test_for_terminal_shows_every_control_character_as_a_visible_escape() -> None:
    assert for_terminal("a\x1b[2Jb\nc\r\td\x07\x9b\u202ee") == "a\\x1b[2Jb\\nc\\r\\td\\x07\\x9b\\u202ee"
    assert for_terminal(None) == ""
    assert for_terminal("plain arn:aws:iam::111122223333:role/R é") == "plain arn:aws:iam::111122223333:role/R é"


@pytest.mark.parametrize("cell", ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_a_cell_a_spreadsheet_would_run_is_shown_as_text(cell: str) -> None:
    shown = for_spreadsheet(cell)
    assert shown.startswith("'") and not CONTROL.search(shown)


def test_cells_that_are_not_formulas_stay_as_they_are() -> None:
    assert for_spreadsheet("PutRolePolicy by arn:aws:iam::1:user/a") == "PutRolePolicy by arn:aws:iam::1:user/a"
    assert for_spreadsheet(-3) == -3
    assert for_spreadsheet(None) is None


def test_the_stream_net_keeps_the_tools_own_layout_and_escapes_the_rest() -> None:
    sink = io.StringIO()
    TerminalSafeWriter(sink).write("line 1\n\tprogress\r\x1b]0;title\x07\x9b\n")
    assert sink.getvalue() == "line 1\n\tprogress\r\\x1b]0;title\\x07\\x9b\n"


def test_diagnose_prints_evidence_values_without_their_control_characters(poisoned: Path) -> None:
    run = _run("diagnose", str(poisoned))
    assert run.returncode == 0, run.stderr
    assert "permission-missing (confirmed)" in run.stdout, "the poisoned actor must not change the diagnosis"
    assert "\\x1b]0;pwned\\x07" in run.stdout, "the actor is shown, escaped"
    assert not CONTROL.search(run.stdout + run.stderr)
    assert not any(line.startswith("fl-00000000000000000") for line in run.stdout.splitlines()), "a forged line"


def test_diagnose_json_is_ascii_and_keeps_the_value_exact(poisoned: Path) -> None:
    run = _run("diagnose", str(poisoned), "--json")
    assert run.returncode == 0, run.stderr
    assert run.stdout.isascii() and not CONTROL.search(run.stdout)
    assert json.loads(run.stdout)["flow_logs"][0]["trigger"]["actor"] == PAYLOAD


def test_timeline_text_has_one_line_per_row(poisoned: Path) -> None:
    text = _run("timeline", str(poisoned)).stdout
    rows = json.loads(_run("timeline", str(poisoned), "--json").stdout)
    assert len(text.splitlines()) == len(rows)
    assert not CONTROL.search(text)


def test_timeline_csv_runs_no_formula_in_a_spreadsheet(poisoned: Path) -> None:
    run = _run("timeline", str(poisoned), "--csv")
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    assert any(row["actor"].startswith("'=HYPERLINK(") for row in rows), "the payload is in the file, as text"
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row.values())
    assert not CONTROL.search(run.stdout)


@pytest.mark.parametrize("command", [["diagnose"], ["timeline"], ["timeline", "--csv"], ["diagnose", "--json"]])
def test_a_reader_that_closes_the_pipe_early_gets_no_traceback(poisoned: Path, command: list[str]) -> None:
    pipeline = subprocess.run(
        f"{sys.executable} -m flowforensics {command[0]} {poisoned} {' '.join(command[1:])} | head -c 10 >/dev/null;"
        " echo ${PIPESTATUS[0]} >&2",
        shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=120, check=False)
    assert "Traceback" not in pipeline.stderr and "BrokenPipe" not in pipeline.stderr, pipeline.stderr
    assert pipeline.stderr.strip().splitlines()[-1] in {"0", "141"}


def test_an_error_message_naming_a_hostile_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hostile = tmp_path / "evil\x1b]0;pwned\x07\nflowforensics: every file matches.json"
    hostile.write_text("not json")
    assert main(["diagnose", str(hostile)]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and not CONTROL.search(err)


def test_a_lone_surrogate_is_shown_as_its_escape_on_a_terminal_and_in_html() -> None:
    # JSON's "\ud800" is a lone surrogate in Python: UTF-8 cannot write it, so printing or saving it stopped.
    from flowforensics.presentation import markup

    assert for_terminal("role-\ud800\udfff") == "role-\\ud800\\udfff"
    assert markup.text("<role-\ud800>") == "&lt;role-\\ud800&gt;"
    assert for_terminal("ok \U0001f600") == "ok \U0001f600"  # a character outside the BMP is text
