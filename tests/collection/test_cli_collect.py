"""The collect and watch subcommands through flowforensics.cli.main: exit status and one-line errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from flowforensics.cli import main
from flowforensics.collection.session import ClientFactory
from flowforensics.errors import CollectionError
from flowforensics.evidence.manifest import read_manifest

from .helpers import REGION, stubbed


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_no_credentials_is_one_line_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    assert main(["collect", "--flow-log-id", "fl-0123456789abcdef0", "--out", str(tmp_path / "out")]) == 1

    assert "no AWS credentials found" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--profile", "nobody"], "AWS profile 'nobody' not found"),
        (["--start", "2001-01-01"], "90 days"),
    ],
)
def test_bad_requests_are_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["collect", "--all", "--out", str(tmp_path), *argv]) == 1
    assert message in _one_line(capsys.readouterr().err)


def test_a_time_that_is_not_one_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # Parsed before any AWS call, by the parser every command's --start/--end shares.
    assert main(["collect", "--all", "--out", str(tmp_path / "out"), "--start", "last tuesday"]) == 2
    assert "--start 'last tuesday' is not a time" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_no_region_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert main(["collect", "--all", "--out", str(tmp_path)]) == 1
    assert "no AWS region" in _one_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    "argv",
    [
        ["collect", "--all"],
        ["collect", "--all", "--flow-log-id", "fl-1", "--out", "x"],
        ["watch", "--out", "x"],
    ],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2


def test_expired_credentials_are_one_clear_line() -> None:
    sts, stub = stubbed("sts", REGION)
    stub.add_client_error(
        "get_caller_identity",
        service_error_code="ExpiredToken",
        service_message="The security token included in the request is expired",
    )
    factory = ClientFactory(boto3.Session(region_name=REGION), clients={"sts": sts})

    with pytest.raises(CollectionError, match=r"^the AWS credentials have expired \(ExpiredToken\)"):
        factory.caller_identity()


@pytest.mark.parametrize("endpoint_from", ["flag", "environment"])
def test_collect_against_moto_records_unserved_apis_as_gaps(
    incident: dict[str, Any],
    endpoint_from: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    argv = ["collect", "--flow-log-id", incident["flow_log_id"], "--out", str(tmp_path)]
    if endpoint_from == "flag":
        argv += ["--endpoint-url", incident["endpoint"]]
    else:
        monkeypatch.setenv("AWS_ENDPOINT_URL", incident["endpoint"])

    assert main(argv) == 0

    out = capsys.readouterr().out
    assert out.startswith(f"{tmp_path}: ") and "gaps" in out
    gaps = read_manifest(tmp_path)["gaps"]
    # moto serves no LookupEvents and knows no organization: gaps, and the run went on.
    assert {g["operation"] for g in gaps} == {"cloudtrail:LookupEvents", "organizations:ListParents"}
    assert len([g for g in gaps if g["operation"] == "cloudtrail:LookupEvents"]) == 6


def test_watch_prints_the_lag(
    incident: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    since = (datetime.now(UTC) - timedelta(minutes=2)).isoformat()
    argv = ["watch", "--flow-log-id", incident["flow_log_id"], "--out", str(tmp_path), "--since", since]

    assert main([*argv, "--endpoint-url", incident["endpoint"]]) == 0

    assert "delivery resumed at" in capsys.readouterr().out.splitlines()[-1]


def test_watch_timeout_is_one_line(
    incident: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    since = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    argv = [
        "watch",
        "--flow-log-id",
        incident["flow_log_id"],
        "--out",
        str(tmp_path),
        "--since",
        since,
        "--timeout",
        "0",
    ]

    assert main([*argv, "--endpoint-url", incident["endpoint"]]) == 1

    assert "has not resumed" in _one_line(capsys.readouterr().err)
    assert json.loads((tmp_path / "manifest.json").read_text())["files"]  # the observation was kept
