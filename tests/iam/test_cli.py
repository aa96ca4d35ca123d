"""``flowforensics iam simulate REQUEST.json|-``: the contract from the shell."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from flowforensics.cli import main

TRUST_CASE = {
    "request": {
        "principal": "vpc-flow-logs.amazonaws.com",
        "action": "sts:AssumeRole",
        "resource": "arn:aws:iam::111122223333:role/flow",
        "resource_account": "111122223333",
        "context": {"aws:SourceAccount": "111122223333"},
    },
    "identity_policies": [],
    "resource_policy": json.dumps({"Version": "2012-10-17", "Statement": {
        "Sid": "Flow", "Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": "111122223333"}}}}),
    "permissions_boundaries": [],
    "scp_levels": [],
    "rcp_levels": [],
    "session_policy": None,
}
ALLOWED = {"decision": "Allowed", "decided_by": "resource", "statements": [{"source": "resource_policy", "sid": "Flow", "effect": "Allow"}]}


def contract(answer: dict) -> dict:
    """The answer's three original fields (the others are additive)."""
    return {key: answer[key] for key in ALLOWED}


def test_one_request_from_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "request.json"
    path.write_text(json.dumps(TRUST_CASE))
    assert main(["iam", "simulate", str(path)]) == 0
    assert contract(json.loads(capsys.readouterr().out)) == ALLOWED


def test_an_array_from_stdin_answers_in_order(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    other = json.loads(json.dumps(TRUST_CASE))
    other["request"]["context"]["aws:SourceAccount"] = "444455556666"
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps([TRUST_CASE, other])))
    assert main(["iam", "simulate", "-"]) == 0
    answers = json.loads(capsys.readouterr().out)
    assert [a["decision"] for a in answers] == ["Allowed", "ImplicitlyDenied"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "not JSON"),
        ('{"request": {"principal": "*"}}', "request.action is required"),
        ('{"request": {"action": "s3:GetObject"}, "identity_policies": [{"Statement": [{"Effect": "Maybe", "Action": "*"}]}]}',
         "Effect must be Allow or Deny"),
        ('{"request": {"action": "s3:GetObject"}, "identity_policies": [{"Statement": [{"Effect": "Allow", "Action": "*", '
         '"Condition": {"StringSorta": {"k": "v"}}}]}]}', "unknown condition operator"),
        ('{"request": {"action": "s3:GetObject"}, "scp_levels": {"Statement": []}}', "scp_levels must be a list"),
        ('"just a string"', "a case must be a JSON object"),
        ('{"request": {"action": "s3:GetObject"}, "identity_policies": [{"Statement": {"Effect": "Allow", "Action": "*", '
         '"NotAction": "iam:*"}}]}', "both Action and NotAction"),
        ('{"request": {"action": "sts:AssumeRole"}, "resource_policy": {"Statement": {"Effect": "Allow", "Action": "*", '
         '"Principal": {"Robot": "r2d2"}}}}', "unknown Principal type"),
    ],
)
def test_bad_requests_are_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, reason: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    assert main(["iam", "simulate", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and reason in lines[0]


def test_a_missing_file_is_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["iam", "simulate", str(tmp_path / "nope.json")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_usage_errors_are_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["iam"])
    assert exit_info.value.code == 2


def test_through_a_subprocess(tmp_path: Path) -> None:
    path = tmp_path / "request.json"
    path.write_text(json.dumps([TRUST_CASE]))
    done = subprocess.run([sys.executable, "-m", "flowforensics", "iam", "simulate", str(path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert [contract(answer) for answer in json.loads(done.stdout)] == [ALLOWED]


def test_a_batch_survives_its_malformed_cases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = [TRUST_CASE, {"request": {"action": "s3:GetObject"}, "identity_policies": ["%7Bnope"]}, "not a case", TRUST_CASE]
    path = tmp_path / "batch.json"
    path.write_text(json.dumps(batch))
    assert main(["iam", "simulate", str(path)]) == 1
    captured = capsys.readouterr()
    answers = json.loads(captured.out)
    assert [a.get("decision") for a in answers] == ["Allowed", None, None, "Allowed"]
    assert answers[1] == {"error": answers[1]["error"]} and answers[1]["error"].startswith("case 1: bad policy")
    assert answers[2] == {"error": "case 2: a case must be a JSON object"}
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "cases 1, 2 " in lines[0]


def test_a_bare_arn_principal_is_read_as_aws_with_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    role = "arn:aws:iam::111122223333:role/app"
    case = {
        "request": {"principal": role, "action": "sts:AssumeRole", "resource": "arn:aws:iam::111122223333:role/flow",
                    "resource_account": "111122223333"},
        "identity_policies": [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}],
        "resource_policy": {"Version": "2012-10-17", "Statement": [
            {"Sid": "Pasted", "Effect": "Allow", "Principal": role, "Action": "sts:AssumeRole"}]},
    }
    path = tmp_path / "request.json"
    path.write_text(json.dumps([case, {**case, "resource_policy": {"Statement": [{**case["resource_policy"]["Statement"][0],
                                                                                  "Principal": "nobody"}]}}]))
    assert main(["iam", "simulate", str(path)]) == 1
    first, second = json.loads(capsys.readouterr().out)
    assert first["decision"] == "Allowed"
    assert first["warnings"] == [f'resource_policy statement #0: Principal "{role}" is a bare string; read as {{"AWS": "{role}"}}']
    assert "Principal must be" in second["error"]
