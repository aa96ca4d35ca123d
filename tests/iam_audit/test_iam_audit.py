"""An independent audit of ``flowforensics iam simulate`` against AWS's documented behaviour.

Each file of ``tests/data/iam_audit`` is one case, written from the AWS documentation page its
``doc`` field cites (or from the ``iam simulate`` contract of docs/contracts.md), not from the evaluator:

- a plain case is the docs/contracts.md input object plus ``name``, ``doc`` and ``expected``
  (``decision``, ``decided_by`` and, where the page makes them certain, ``statements``: the
  ``{"sid", "effect"}`` pairs that must be among the matched statements);
- a ``batch`` case is a JSON array of inputs whose answers must come back in order;
- a ``raw`` case is text that is not a valid request (``stdin`` true feeds it through ``-``), and
  ``missing_file`` names a file that does not exist: both must exit 1 with one stderr line naming
  the source, and no traceback; a raw batch with malformed cases lists its ``answers``: the
  malformed ones are ``{"error": ...}`` at their index, the others are answered.

Every case runs through the real entry point, ``flowforensics.cli.main(["iam", "simulate", path])``.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from flowforensics.cli import main

CASES = Path(__file__).resolve().parents[1] / "data" / "iam_audit"
META = ("name", "doc", "expected")
DECISIONS = {"Allowed", "ImplicitlyDenied", "ExplicitlyDenied"}
LAYERS = {"identity", "resource", "boundary", "scp", "rcp", "session", "none"}


def _paths() -> list[Path]:
    return sorted(CASES.glob("*.json"))


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def _check_answer(answer: dict[str, Any], expected: dict[str, Any]) -> None:
    # The contract's three fields keep their meaning; later fields (warnings, explanation) are additive.
    assert {"decision", "decided_by", "statements"} <= set(answer)
    assert answer["decision"] in DECISIONS and answer["decided_by"] in LAYERS
    assert (answer["decision"], answer["decided_by"]) == (expected["decision"], expected["decided_by"])
    matched = [{"sid": s["sid"], "effect": s["effect"]} for s in answer["statements"]]
    for statement in expected.get("statements", []):
        assert statement in matched, f"{statement} not among the matched statements {matched}"


def test_the_audit_is_large_and_cited() -> None:
    cases = [json.loads(path.read_text(encoding="utf-8")) for path in _paths()]
    assert len(cases) >= 250
    assert all(case["doc"] and case["name"] in path.stem for case, path in zip(cases, _paths(), strict=True))


@pytest.mark.parametrize("path", _paths(), ids=lambda path: path.stem)
def test_case(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    expected = case["expected"]
    request = tmp_path / "request.json"

    if "raw" in case or case.get("missing_file"):
        if case.get("stdin"):
            monkeypatch.setattr(sys, "stdin", io.StringIO(case["raw"]))
            source, argv = "<stdin>", ["iam", "simulate", "-"]
        else:
            if "raw" in case:
                request.write_text(case["raw"], encoding="utf-8")
            source, argv = str(request), ["iam", "simulate", str(request)]
        status, out, err = _run(argv, capsys)
        assert status == expected["exit"]
        if "answers" in expected:
            # A batch answers every case: the malformed ones with {"error": ...} at their index.
            answers = json.loads(out)
            assert len(answers) == len(expected["answers"])
            for one, wanted in zip(answers, expected["answers"], strict=True):
                if "error" in wanted:
                    assert set(one) == {"error"} and wanted["error"] in one["error"]
                else:
                    _check_answer(one, wanted)
        else:
            assert out == ""
        lines = err.splitlines()
        assert len(lines) == 1 and source in lines[0] and "Traceback" not in err
        return

    payload = case["batch"] if "batch" in case else {k: v for k, v in case.items() if k not in META}
    request.write_text(json.dumps(payload), encoding="utf-8")
    status, out, err = _run(["iam", "simulate", str(request)], capsys)
    assert (status, err) == (0, "")
    answer = json.loads(out)
    if "batch" in case:
        assert isinstance(answer, list) and len(answer) == len(expected)
        for one, wanted in zip(answer, expected, strict=True):
            _check_answer(one, wanted)
    else:
        _check_answer(answer, expected)
