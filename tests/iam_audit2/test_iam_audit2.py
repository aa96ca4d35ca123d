"""Second independent audit of ``flowforensics iam simulate`` against AWS's documented behaviour.

Each case in ``tests/data/iam_audit2/*.json`` is the docs/contracts.md input plus ``name``, ``expected``
(``decision``, ``decided_by``) and ``doc`` (the AWS page that decides it). The case goes through the
real command line, as a file, so parsing, evaluation and the JSON answer are all exercised.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flowforensics.cli import main

DATA = Path(__file__).resolve().parents[1] / "data" / "iam_audit2"
_META = ("name", "expected", "doc")


def _cases() -> list[Any]:
    params = []
    for path in sorted(DATA.glob("*.json")):
        for case in json.loads(path.read_text(encoding="utf-8")):
            params.append(pytest.param(case, id=f"{path.stem}:{case['name']}"))
    return params


CASES = _cases()


def test_the_audit_is_large_enough() -> None:
    assert len(CASES) >= 200


@pytest.mark.parametrize("case", CASES)
def test_simulate_matches_aws(case: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    request = tmp_path / "request.json"
    request.write_text(json.dumps({k: v for k, v in case.items() if k not in _META}), encoding="utf-8")
    assert main(["iam", "simulate", str(request)]) == 0
    answer = json.loads(capsys.readouterr().out)
    got = {"decision": answer["decision"], "decided_by": answer["decided_by"]}
    assert got == case["expected"], f"{case['name']} (see {case['doc']}): {answer['statements']}"
    # An Allowed or ExplicitlyDenied answer names at least one statement of the deciding effect.
    if answer["decision"] != "ImplicitlyDenied":
        effect = "Allow" if answer["decision"] == "Allowed" else "Deny"
        assert any(s["effect"] == effect for s in answer["statements"])
