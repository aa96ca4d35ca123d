"""Every finding of every sample incident and black-box folder keeps the rules of ``finding_rules``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sample_paths import SAMPLES

import flowforensics
from flowforensics.analysis.diagnosis import diagnose
from flowforensics.scenarios import SCENARIOS

from .finding_rules import Context, breaches

TESTS = Path(__file__).resolve().parent.parent
BLACKBOX = sorted(case for round_ in ("blackbox", "blackbox2", "blackbox3")
                  for case in (TESTS / round_ / "data").iterdir() if (case / "expected.json").is_file())


def _check(evidence, expected: dict[str, dict]) -> None:
    result = diagnose(evidence).to_dict()["flow_logs"]
    problems = [f"{entry['flow_log_id']}: {problem}" for entry in result
                for problem in breaches(entry, Context(evidence, expected.get(entry["flow_log_id"], {})))]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_sample_incident_findings_are_true(name: str, scenario_folder) -> None:
    expected = SCENARIOS[name].expected
    _check(flowforensics.load(scenario_folder(name)),
           {expected.flow_log_id: {"status": expected.status, "root_cause": expected.root_cause,
                                   "state": expected.state}})


@pytest.mark.parametrize("case", BLACKBOX, ids=[case.name for case in BLACKBOX])
def test_blackbox_findings_are_true(case: Path, tmp_path: Path) -> None:
    expected = json.loads((case / "expected.json").read_text())
    folder = tmp_path / "evidence"
    if (case / "evidence").is_dir():
        shutil.copytree(case / "evidence", folder)
    else:
        folder.mkdir()
    for sample in expected.get("shared_samples", []):
        shutil.copy(SAMPLES / sample, folder / Path(sample).name)
    wanted = {entry["flow_log_id"]: {"status": entry.get("status"), "root_cause": entry.get("root_cause"),
                                     "state": entry.get("state")} for entry in expected.get("flow_logs", [])}
    _check(flowforensics.load(folder / expected.get("single_file", "")), wanted)
