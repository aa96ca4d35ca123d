"""Broken input: one clear message naming the file and the reason; the rest still loads."""

from __future__ import annotations

import gzip
import json
import shutil

import pytest

import flowforensics
from flowforensics.cli import main
from flowforensics.errors import EvidenceError

RECORD = {
    "eventVersion": "1.09",
    "eventID": "8f0c4c44-5b6e-4d0b-9d3c-2a4f1e6b7c80",
    "eventTime": "2025-03-04T10:02:44Z",
    "eventSource": "ec2.amazonaws.com",
    "eventName": "DescribeFlowLogs",
    "awsRegion": "eu-west-1",
    "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::210987654321:user/ops", "accountId": "210987654321"},
    "recipientAccountId": "210987654321",
}


@pytest.fixture
def folder(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"Records": [RECORD]}))
    return tmp_path


def _reason(evidence, name):
    return {p.path.rsplit("/", 1)[-1]: p.reason for p in evidence.problems}[name]


def test_truncated_gzip(folder):
    data = gzip.compress(json.dumps({"Records": [RECORD]}).encode())
    (folder / "cut.json.gz").write_bytes(data[: len(data) // 2])
    evidence = flowforensics.load(folder)
    assert _reason(evidence, "cut.json.gz") == (
        "truncated or corrupt gzip (Compressed file ended before the end-of-stream marker was reached)"
    )
    assert len(evidence.events) == 1


def test_invalid_json(folder):
    (folder / "broken.json").write_text('{"Records": [\n{"eventName": "X",\n')
    evidence = flowforensics.load(folder)
    assert _reason(evidence, "broken.json") == "invalid JSON at line 3 column 1: Expecting property name enclosed in double quotes"
    assert len(evidence.events) == 1


def test_json_of_another_kind(folder):
    (folder / "buckets.json").write_text(json.dumps({"Buckets": [], "Owner": {"ID": "abc"}}))
    evidence = flowforensics.load(folder)
    assert _reason(evidence, "buckets.json") == (
        "not evidence: a JSON object with keys [Buckets, Owner] matches no AWS output flowforensics reads"
    )


def test_records_missing_event_time_are_kept_and_counted(folder):
    undated = {k: v for k, v in RECORD.items() if k != "eventTime"} | {"eventID": "4d0e8a52-8c1b-4a55-9a0e-77d1b2c3e4f5"}
    (folder / "export.json").write_text(json.dumps([RECORD | {"eventID": "0b7e5a1c-2d3f-4e5a-8b6c-7d8e9f0a1b2c"}, undated]))
    evidence = flowforensics.load(folder)
    assert _reason(evidence, "export.json") == (
        "1 of 2 CloudTrail records have no usable eventTime, missing or unreadable (kept, with no time)"
    )
    assert len(evidence.events) == 3
    assert evidence.events["event_time"].isna().sum() == 1


def test_strict_mode_stops_at_the_first_bad_file(folder):
    (folder / "broken.json").write_text("{")
    with pytest.raises(EvidenceError) as raised:
        flowforensics.load(folder, strict=True)
    assert str(raised.value) == f"{folder / 'broken.json'}: invalid JSON at line 1 column 2: Expecting property name enclosed in double quotes"


def test_a_missing_path_is_one_line(tmp_path, capsys):
    with pytest.raises(EvidenceError, match="no such file or folder"):
        flowforensics.load(tmp_path / "nowhere")


def test_recognised_but_malformed_content_is_reported(folder):
    (folder / "flow.json").write_text(json.dumps({"FlowLogs": "not a list"}))
    evidence = flowforensics.load(folder)
    assert _reason(evidence, "flow.json").startswith("recognised as flow_logs but malformed:")


def test_evidence_is_never_modified(folder):
    (folder / "broken.json").write_text("{")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    flowforensics.load(folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_verify_reports_changed_missing_and_added_files(tmp_path, capsys):
    from flowforensics.evidence.manifest import EvidenceWriter

    writer = EvidenceWriter(tmp_path / "ev")
    writer.write("ec2:DescribeFlowLogs", {"FlowLogs": []}, region="eu-west-1", account="210987654321")
    writer.write("iam:GetRole", {"Role": {"RoleName": "r"}}, account="210987654321")
    writer.close()
    assert main(["verify", str(tmp_path / "ev")]) == 0
    (tmp_path / "ev" / "ec2" / "eu-west-1" / "describe-flow-logs.json").write_text('{"FlowLogs": [{}]}')
    (tmp_path / "ev" / "iam" / "global" / "get-role.json").unlink()
    (tmp_path / "ev" / "extra.json").write_text("{}")
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "ev")]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"changed: {tmp_path / 'ev'}/ec2/eu-west-1/describe-flow-logs.json",
        f"missing: {tmp_path / 'ev'}/iam/global/get-role.json",
        f"added: {tmp_path / 'ev'}/extra.json",
    ]
    assert err == f"flowforensics: {tmp_path / 'ev'}/manifest.json: 3 file(s) do not match the manifest\n"


def test_verify_without_manifest_is_one_line(tmp_path, capsys):
    assert main(["verify", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (
        f"flowforensics: {tmp_path / 'manifest.json'}: no manifest: this folder was not collected by flowforensics\n"
    )


def test_a_copy_of_the_samples_is_unchanged_after_loading(samples, tmp_path):
    copy = shutil.copytree(samples / "stratus-red-team", tmp_path / "s")
    before = sorted((p.name, p.read_bytes()) for p in copy.iterdir())
    flowforensics.load(copy)
    assert sorted((p.name, p.read_bytes()) for p in copy.iterdir()) == before


@pytest.mark.parametrize("command", ["diagnose", "timeline", "report"])
def test_a_broken_file_alone_is_one_line_and_exit_1(tmp_path, capsys, command):
    broken = tmp_path / "broken.json"
    broken.write_text('{"FlowLogs": [\n')
    assert main([command, str(broken)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"flowforensics: {broken}: invalid JSON at line 2 column 1: Expecting value\n"


def test_a_folder_with_a_broken_file_is_diagnosed_with_a_warning(folder, capsys):
    (folder / "cut.json.gz").write_bytes(b"\x1f\x8b\x08\x00")
    assert main(["diagnose", str(folder), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"flow_logs": []}
    assert err == (
        f"flowforensics: warning: {folder / 'cut.json.gz'}: truncated or corrupt gzip "
        "(Compressed file ended before the end-of-stream marker was reached)\n"
    )


def test_a_lone_surrogate_in_json_text_is_shown_as_its_escape_not_a_crash(tmp_path):
    # JSON may hold "\ud800" alone; Python reads it as a lone surrogate, which UTF-8 (and so an Arrow
    # string column) cannot hold. It crashed every load: the text is kept as the escape the file wrote.
    lone = {**RECORD, "eventID": "id-\ud800", "eventName": "Put\udfffRolePolicy", "userAgent": "agent \ud83d"}
    (tmp_path / "trail.json").write_text(json.dumps({"Records": [lone, RECORD]}))
    flow_logs = {"FlowLogs": [{"FlowLogId": "fl-\ud800", "LogGroupName": "g", "DeliverLogsStatus": "SUCCESS"}]}
    (tmp_path / "flow-logs.json").write_text(json.dumps(flow_logs))
    evidence = flowforensics.load(tmp_path)
    row = evidence.events.set_index("event_id").loc["id-\\ud800"]
    assert (row["event_name"], row["user_agent"]) == ("Put\\udfffRolePolicy", "agent \\ud83d")
    assert row["record"]["eventID"] == "id-\ud800"  # the record itself as read
    assert list(evidence.flow_logs["flow_log_id"]) == ["fl-\\ud800"]
    assert main(["diagnose", str(tmp_path)]) == 0


def test_a_load_problem_quoting_a_lone_surrogate_shows_its_escape(tmp_path):
    # A file that is not evidence is reported with its keys; a key "\ud800" made a reason UTF-8 cannot hold,
    # and the report's appendix (a table of the load problems) stopped on it.
    from flowforensics.presentation.investigation import Investigation

    (tmp_path / "odd.json").write_text(json.dumps({"\ud800": None, "b\udfff": 1}))
    (tmp_path / "flow-logs.json").write_text(json.dumps({"FlowLogs": [{"FlowLogId": "fl-1", "LogGroupName": "g", "DeliverLogsStatus": "SUCCESS"}]}))
    evidence = flowforensics.load(tmp_path)
    assert [problem.reason for problem in evidence.problems] == [
        "not evidence: a JSON object with keys [b\\udfff, \\ud800] matches no AWS output flowforensics reads"]
    Investigation(evidence).appendix().markup.encode("utf-8")
