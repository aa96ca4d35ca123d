"""docs/contracts.md is true: its examples run, its tables are the code's, and every --help points to it."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from flowforensics.analysis.results import (
    CONFIDENCES,
    STATES,
    STATUSES,
    VERDICTS,
    EventRef,
    Finding,
    FlowLogDiagnosis,
    Recovery,
    Remediation,
)
from flowforensics.analysis.root_causes import ROOT_CAUSES
from flowforensics.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = ROOT / "docs" / "contracts.md"
TEXT = CONTRACTS.read_text(encoding="utf-8")
BLOCK = re.compile(r"^```json (?P<kind>request|answer|diagnose)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)
BLOCKS = [(match["kind"], match["body"]) for match in BLOCK.finditer(TEXT)]
EXAMPLES = [
    pytest.param(request, answer, id=f"example {n}")
    for n, ((kind, request), (next_kind, answer)) in enumerate(zip(BLOCKS, BLOCKS[1:], strict=False))
    if kind == "request" and next_kind == "answer"
]


def test_the_page_has_its_examples() -> None:
    assert len(EXAMPLES) >= 3
    assert sum(kind == "diagnose" for kind, _ in BLOCKS) == 1


@pytest.mark.parametrize(("request_text", "answer_text"), EXAMPLES)
def test_iam_simulate_examples_answer_as_written(
    request_text: str, answer_text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "request.json"
    path.write_text(request_text, encoding="utf-8")
    status = main(["iam", "simulate", str(path)])
    out, err = capsys.readouterr()
    expected = json.loads(answer_text)
    assert json.loads(out) == expected
    failed = [i for i, one in enumerate(expected) if "error" in one] if isinstance(expected, list) else []
    assert status == (1 if failed else 0)
    if failed:
        assert len(err.splitlines()) == 1 and str(path) in err


def _build(cls: type, data: dict[str, Any]) -> Any:
    """A dataclass from its JSON object, refusing any field the class does not have."""
    names = {f.name for f in dataclasses.fields(cls)}
    assert set(data) == names, f"{cls.__name__}: {sorted(set(data) ^ names)}"
    return cls(**data)


def test_the_diagnose_example_is_the_dataclasses() -> None:
    (body,) = [body for kind, body in BLOCKS if kind == "diagnose"]
    document = json.loads(body)
    assert set(document) == {"flow_logs"}
    for entry in document["flow_logs"]:
        data = dict(entry)
        data["trigger"] = _build(EventRef, entry["trigger"]) if entry["trigger"] else None
        data["recovery"] = _build(Recovery, entry["recovery"]) if entry["recovery"] else None
        data["findings"] = [_build(Finding, finding) for finding in entry["findings"]]
        data["remediation"] = _build(Remediation, entry["remediation"])
        diagnosis = _build(FlowLogDiagnosis, data)
        assert diagnosis.to_dict() == entry
        assert diagnosis.status in STATUSES and diagnosis.state in STATES and diagnosis.root_cause in ROOT_CAUSES
        assert diagnosis.confidence in CONFIDENCES
        assert all(finding.verdict in VERDICTS and finding.code in ROOT_CAUSES for finding in diagnosis.findings)


def _table(heading: str) -> list[str]:
    section = TEXT.split(f"### {heading}\n", 1)[1].split("\n#", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", section, re.MULTILINE)


def test_the_tables_are_the_code() -> None:
    assert _table("Root causes") == list(ROOT_CAUSES)
    assert _table("States") == list(STATES)


def _helps() -> list[tuple[str, str]]:
    parser = build_parser()
    helps = [("flowforensics", parser.format_help())]
    stack = [("flowforensics", parser)]
    while stack:
        name, current = stack.pop()
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sub in action.choices.items():
                    helps.append((f"{name} {sub_name}", sub.format_help()))
                    stack.append((f"{name} {sub_name}", sub))
    return helps


@pytest.mark.parametrize(("command", "text"), _helps(), ids=[name for name, _ in _helps()])
def test_every_help_points_to_the_contracts(command: str, text: str) -> None:
    assert "docs/contracts.md" in " ".join(text.split())


def test_the_readme_and_architecture_point_to_the_contracts() -> None:
    for doc in ("README.md", "docs/architecture.md"):
        assert "docs/contracts.md" in (ROOT / doc).read_text(encoding="utf-8"), doc


def test_nothing_points_to_a_design_document_the_repository_does_not_have() -> None:
    name = "DESIGN" + ".md"
    assert not (ROOT / name).exists()
    found = [
        str(path.relative_to(ROOT))
        for folder in ("flowforensics", "docs", "tests", "notebooks", "benchmarks", "scripts")
        for path in (ROOT / folder).rglob("*")
        if path.is_file() and path.suffix in {".py", ".md", ".json", ".ipynb", ".txt"} and name in path.read_text(errors="replace")
    ]
    found += [doc for doc in ("README.md", "Makefile", "pyproject.toml") if name in (ROOT / doc).read_text()]
    assert found == []
