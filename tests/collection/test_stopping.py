"""Bounded collection over real HTTP: per-call timeouts, the deadline, Ctrl-C, and resuming into the same folder.

A slow endpoint holds one operation's answer (released when the test ends, so every thread stops by
itself); moto server answers the rest.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from flowforensics.cli import main
from flowforensics.collection import collect
from flowforensics.collection.limiter import RateLimiters
from flowforensics.collection.stopping import Stop, parse_duration, run_bounded
from flowforensics.errors import CollectionError
from flowforensics.evidence.manifest import read_manifest, verify

from . import faults
from .conftest import build_incident
from .faults import FaultyEndpoint
from .test_faults import _clients

# Longer than any test waits: the answer comes only when the endpoint stops at the test's end.
SILENT = faults.Fault(200, b"{}", "application/x-amz-json-1.1", delay=120.0)


@pytest.fixture(scope="module")
def incident(moto_endpoint: str) -> dict[str, Any]:
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=60)
    return build_incident(moto_endpoint)


def _wait_for(condition: Any, process: subprocess.Popen[str] | None = None) -> None:
    """Poll until ``condition()`` (at most 120 s; sooner if the process ends)."""
    for _ in range(1200):
        if condition() or (process is not None and process.poll() is not None):
            return
        time.sleep(0.1)


def test_a_silent_endpoint_costs_the_read_timeout_and_leaves_a_gap(
    incident: dict[str, Any], endpoint: FaultyEndpoint, tmp_path: Path
) -> None:
    endpoint.faults["DescribeLogGroups"] = SILENT

    result = collect(
        tmp_path, flow_log_ids=[incident["flow_log_id"]], endpoint_url=endpoint.url, clients=_clients(), read_timeout=5
    )

    assert result.stopped is None
    [gap] = [g for g in read_manifest(tmp_path)["gaps"] if g["operation"] == "logs:DescribeLogGroups"]
    assert (gap["kind"], gap["error_code"]) == ("timeout", "ReadTimeoutError")
    assert result.calls["cloudtrail:LookupEvents"] == 6  # the run went on


def test_the_deadline_stops_the_run_and_a_rerun_resumes_it(
    incident: dict[str, Any], endpoint: FaultyEndpoint, tmp_path: Path
) -> None:
    endpoint.faults["DescribeLogGroups"] = SILENT
    options = {"flow_log_ids": [incident["flow_log_id"]], "endpoint_url": endpoint.url}

    result = collect(tmp_path, clients=_clients(), deadline=5.0, **options)

    assert result.stopped == "deadline"
    manifest = read_manifest(tmp_path)
    assert manifest["runs"][-1]["outcome"] == "deadline"
    assert {g["kind"] for g in manifest["gaps"]} == {"deadline"}
    assert all("the run's deadline of 5 s passed" in g["error_message"] for g in manifest["gaps"])
    assert not [e for e in manifest["files"] if e["operation"] == "logs:DescribeLogGroups"]
    if endpoint.seen["DescribeLogGroups"]:  # reached (a loaded machine may not get that far in 5 s)
        [waiting] = [g for g in manifest["gaps"] if g["attempted"]]
        assert (waiting["operation"], waiting["error_code"]) == ("logs:DescribeLogGroups", "DeadlineExceeded")
    collected = {e["operation"] for e in manifest["files"]}
    seen = dict(endpoint.seen)

    endpoint.faults.clear()
    resumed = collect(tmp_path, clients=_clients(), **options)

    assert resumed.stopped is None and resumed.kept == len(manifest["files"]) and resumed.replaced == 0
    for operation, fetched in (("ec2:DescribeFlowLogs", "DescribeFlowLogs"), ("iam:GetRole", "GetRole")):
        if operation in collected:
            assert endpoint.seen[fetched] == seen[fetched], operation  # kept, not fetched again
    manifest = read_manifest(tmp_path)
    assert verify(tmp_path) == []
    assert [g["operation"] for g in manifest["gaps"]] == ["organizations:ListParents"]  # only the stub's refusal
    assert {g["kind"] for g in manifest["runs"][0]["superseded_gaps"]} == {"deadline"}
    assert [r["outcome"] for r in manifest["runs"]] == ["deadline", "complete"]
    assert manifest["runs"][1]["window"] == manifest["runs"][0]["window"]  # the same window, resumed
    assert len([e for e in manifest["files"] if e["operation"] == "ec2:DescribeFlowLogs"]) == 1
    assert [e for e in manifest["files"] if e["operation"] == "logs:DescribeLogGroups"]


def test_a_changed_file_is_fetched_again_on_resume(
    incident: dict[str, Any], endpoint: FaultyEndpoint, tmp_path: Path
) -> None:
    # Credentials that expire at DescribeLogGroups stop the run there, every time.
    endpoint.fail_after = ("DescribeLogGroups", faults.aws_error("logs", "ExpiredTokenException", "expired"))
    options = {"flow_log_ids": [incident["flow_log_id"]], "endpoint_url": endpoint.url}
    with pytest.raises(CollectionError, match="run the same command again to resume"):
        collect(tmp_path, clients=_clients(), **options)
    [entry] = [e for e in read_manifest(tmp_path)["files"] if e["operation"] == "ec2:DescribeFlowLogs"]
    (tmp_path / entry["path"]).write_text('{"FlowLogs": []}\n')  # tampered after collection
    endpoint.fail_after = None

    resumed = collect(tmp_path, clients=_clients(), **options)

    assert resumed.replaced == 1 and endpoint.seen["DescribeFlowLogs"] == 2
    assert [p.path for p in verify(tmp_path)] == [entry["path"]]  # the tampered file stays flagged


def test_ctrl_c_stops_within_seconds_writes_the_gap_and_exits_130(
    incident: dict[str, Any], endpoint: FaultyEndpoint, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint.faults["DescribeLogGroups"] = SILENT
    out = tmp_path / "evidence"
    argv = ["collect", "--flow-log-id", incident["flow_log_id"], "--endpoint-url", endpoint.url, "--out", str(out)]
    process = subprocess.Popen(
        [sys.executable, "-m", "flowforensics", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
        # As a terminal's Ctrl-C finds it: a suite started in the background without job control
        # ignores SIGINT, and a child would inherit that (and Python then installs no handler).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        _wait_for(lambda: endpoint.seen["DescribeLogGroups"] > 0, process)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)  # a hang guard, not a speed check
    finally:
        process.kill()

    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == "flowforensics: interrupted; run the same command again to resume"
    assert stdout.splitlines()[-1].endswith(f'listed under "gaps" in {out / "manifest.json"}')
    manifest = read_manifest(out)
    interrupted = [g for g in manifest["gaps"] if g["kind"] == "interrupted"]
    assert [(g["operation"], g["attempted"]) for g in interrupted] == [("logs:DescribeLogGroups", True)]
    assert "interrupted by the user (Ctrl-C)" in interrupted[0]["error_message"]
    assert verify(out) == []
    seen = dict(endpoint.seen)

    del endpoint.faults["DescribeLogGroups"]
    assert main(argv) == 0

    printed = capsys.readouterr().out
    assert f"resumed: kept {len(manifest['files'])} files already collected" in printed
    assert endpoint.seen["DescribeFlowLogs"] == seen["DescribeFlowLogs"]
    assert not [g for g in read_manifest(out)["gaps"] if g["kind"] == "interrupted"]


def test_ctrl_c_leaves_the_run_its_grace_to_record_what_it_left(ctrl_c: Callable[[], None]) -> None:
    # Python 3.11's Thread.join, interrupted by Ctrl-C, took the running thread for ended: no grace was given.
    stop = Stop()
    recorded: list[str] = []

    def run() -> None:
        ctrl_c()
        assert stop.wait(60)
        recorded.append(stop.reason.kind if stop.reason else "")

    with pytest.raises(KeyboardInterrupt):
        run_bounded(run, stop, None)

    assert recorded == ["interrupted"]


def test_a_stopped_run_ends_the_limiters_wait() -> None:
    stop = Stop()
    bucket = RateLimiters({"cloudtrail:LookupEvents": 0.001}, sleep=stop.wait).bucket(None, "r", "cloudtrail:LookupEvents")
    bucket.acquire()  # the first token is free; the next is due in 1000 s
    waiter = threading.Thread(target=bucket.acquire, daemon=True)
    waiter.start()
    stop.set("interrupted", "Interrupted", "test")
    waiter.join(30)
    assert not waiter.is_alive()


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90.0), ("90s", 90.0), ("10m", 600.0), ("1.5h", 5400.0), ("none", None), ("0", None)]
)
def test_durations(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("argv", [["--deadline", "soon"], ["--deadline", "-5m"], ["--read-timeout", "0"]])
def test_bad_durations_are_usage_errors(argv: list[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["collect", "--all", "--out", str(tmp_path), *argv])
    assert exit_info.value.code == 2
