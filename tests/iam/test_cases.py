"""The table-driven cases of tests/data/iam/: each is an ``iam simulate`` input with AWS's documented answer.

``expected`` has ``decision`` and ``decided_by``, and may have ``statements`` (exactly), ``rule`` (the
rule outside the policy grammar that decided, named in the answer's explanation) and ``warnings``
(texts each found in some warning; ``[]``: no warning at all) and ``resource_pattern`` (the decisions
of the "any" and "every" readings of a resource pattern).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowforensics.analysis.iam.simulate import simulate_case, simulate_text

DATA = Path(__file__).resolve().parents[1] / "data" / "iam"
CASES = [
    pytest.param(case, id=f"{path.stem}: {case['name']}")
    for path in sorted(DATA.glob("*.json"))
    for case in json.loads(path.read_text())["cases"]
]


def test_there_are_enough_documented_cases() -> None:
    assert len(CASES) >= 200
    assert all(case.values[0]["doc"].startswith("https://docs.aws.amazon.com/") for case in CASES)


@pytest.mark.parametrize("case", CASES)
def test_case(case: dict) -> None:
    answer = simulate_case(case["input"])
    expected = case["expected"]
    assert (answer["decision"], answer["decided_by"]) == (expected["decision"], expected["decided_by"])
    if "statements" in expected:
        assert answer["statements"] == expected["statements"]
    if "rule" in expected:  # a rule outside the policy grammar decided (rules.json)
        assert answer["explanation"]["rule"]["name"] == expected["rule"]
    if "warnings" in expected:  # each expected text is in some warning; [] means none at all
        for text in expected["warnings"]:
            assert any(text in warning for warning in answer["warnings"]), (text, answer["warnings"])
        if not expected["warnings"]:
            assert answer["warnings"] == []
    if "resource_pattern" in expected:  # a resource pattern: the "any" and "every" readings
        readings = answer["resource_pattern"]
        assert (readings["any"]["decision"], readings["every"]["decision"]) == (
            expected["resource_pattern"]["any"], expected["resource_pattern"]["every"])
        assert readings["differ"] == (readings["any"]["decision"] != readings["every"]["decision"])


def test_all_cases_as_one_array_answer_in_order() -> None:
    inputs = [case.values[0]["input"] for case in CASES]
    answers = json.loads(simulate_text(json.dumps(inputs), "cases.json"))
    assert [a["decision"] for a in answers] == [case.values[0]["expected"]["decision"] for case in CASES]
