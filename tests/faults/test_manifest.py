"""The manifest is protected: its own content is sealed, its entries never reach outside the folder,
and a broken or edited one is a warning while the evidence still loads."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import pytest

import flowforensics
from flowforensics.cli import main
from flowforensics.errors import EvidenceError
from flowforensics.evidence.manifest import EvidenceWriter, verify


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


def edit_manifest(folder: Path, change) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest, indent=2))


def test_editing_only_the_account_fails_verify_and_warns_in_diagnose(copy_of, figures):
    folder = copy_of()
    status, out, err = run("verify", str(folder))
    assert status == 0
    assert out.endswith("every file matches manifest.json; the manifest matches its SHA-256 seal "
                        "(no HMAC: anyone could have recomputed it)\n")

    def other_account(manifest):
        for entry in manifest["files"]:
            entry["account"] = "999999999999"

    edit_manifest(folder, other_account)
    figures["faults injected"] += 1
    status, out, err = run("verify", str(folder))
    assert status == 1
    assert out == (f"changed: {folder}/manifest.json (the manifest's content does not match its SHA-256 seal: "
                   "it was edited after collection)\n")
    assert err == f"flowforensics: {folder}/manifest.json: 1 file(s) do not match the manifest\n"
    status, out, err = run("diagnose", str(folder), "--json")
    assert status == 0
    assert (f"flowforensics: warning: {folder}/manifest.json: the manifest's content does not match its SHA-256 "
            "seal: it was edited after collection") in err.splitlines()


def test_an_hmac_seal_proves_who_wrote_the_manifest(tmp_path, monkeypatch):
    key_file = tmp_path / "seal.key"
    key_file.write_text("correct horse battery staple\n")
    monkeypatch.setenv("FLOWFORENSICS_SEAL_KEY_FILE", str(key_file))
    writer = EvidenceWriter(tmp_path / "ev")
    writer.write("ec2:DescribeFlowLogs", {"FlowLogs": []}, region="eu-west-1", account="210987654321")
    writer.close()
    assert "hmac_sha256" in json.loads((tmp_path / "ev" / "manifest.json").read_text())["seal"]
    status, out, _err = run("verify", str(tmp_path / "ev"))
    assert status == 0 and out.endswith("the manifest matches its HMAC-SHA256 seal (key checked)\n")

    # Whoever edits the manifest can recompute its SHA-256, not its HMAC.
    def forged(manifest):
        from flowforensics.evidence.manifest import make_seal

        manifest["files"][0]["account"] = "999999999999"
        manifest["seal"] = make_seal(manifest, None) | {"hmac_sha256": manifest["seal"]["hmac_sha256"]}

    edit_manifest(tmp_path / "ev", forged)
    status, out, _err = run("verify", str(tmp_path / "ev"))
    assert status == 1
    assert "the manifest's HMAC-SHA256 seal does not match with this key" in out
    # Without the key, verify says what it could not check.
    monkeypatch.delenv("FLOWFORENSICS_SEAL_KEY_FILE")
    status, out, _err = run("verify", str(tmp_path / "ev"))
    assert status == 0 and "its HMAC was not checked" in out
    status, out, _err = run("verify", str(tmp_path / "ev"), "--key-file", str(key_file))
    assert status == 1


def test_the_key_may_be_given_in_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWFORENSICS_SEAL_KEY", "s3cret")
    writer = EvidenceWriter(tmp_path)
    writer.write("iam:GetRole", {"Role": {"RoleName": "r"}})
    writer.close()
    assert verify(tmp_path) == []
    monkeypatch.setenv("FLOWFORENSICS_SEAL_KEY", "another")
    assert [str(p) for p in verify(tmp_path)] == [
        "manifest.json: changed (the manifest's HMAC-SHA256 seal does not match with this key: edited, or sealed with another key)"]


def test_a_manifest_without_a_seal_still_verifies_and_says_so(copy_of):
    folder = copy_of()
    edit_manifest(folder, lambda manifest: manifest.pop("seal"))
    status, out, _err = run("verify", str(folder))
    assert status == 0
    assert out.endswith("the manifest has no seal (written by an older flowforensics, or by hand): "
                        "its own content is not checked\n")


def test_the_writer_will_not_seal_an_edited_manifest(copy_of):
    folder = copy_of()
    edit_manifest(folder, lambda manifest: manifest.update(caller_identity={"Arn": "arn:aws:iam::1:user/x"}))
    with pytest.raises(EvidenceError, match="edited after collection; not extending it"):
        EvidenceWriter(folder)


@pytest.mark.parametrize("entry_path", ["../outside.json", "/etc/passwd", "ec2/../../outside.json", "link/passwd"])
def test_verify_refuses_entries_outside_the_folder(copy_of, tmp_path, entry_path, figures):
    folder = copy_of()
    (tmp_path / "outside.json").write_text("{}")
    (folder / "link").symlink_to("/etc")
    passwd_hash = __import__("hashlib").sha256(Path("/etc/passwd").read_bytes()).hexdigest()
    edit_manifest(folder, lambda manifest: manifest["files"].append({"path": entry_path, "sha256": passwd_hash}))
    figures["faults injected"] += 1
    problems = [p for p in verify(folder) if p.path == entry_path]
    assert [(p.problem, p.detail.split(";")[0]) for p in problems] in (
        [("refused", "the path leaves the evidence folder")], [("refused", "it resolves outside the evidence folder")])
    status, out, err = run("verify", str(folder))
    assert status == 1 and f"refused: {folder}/{entry_path}" in out and "Traceback" not in err


MALFORMED = ["a string", {"sha256": "ab"}, {"path": 5}, {"path": "ec2/x.json"}, None]


def test_each_malformed_entry_is_one_clear_line(copy_of, figures):
    folder = copy_of()
    edit_manifest(folder, lambda manifest: manifest["files"].extend(MALFORMED))
    figures["faults injected"] += len(MALFORMED)
    status, out, err = run("verify", str(folder))
    assert status == 1
    assert "Traceback" not in err
    malformed = [line for line in out.splitlines() if line.startswith("malformed: ")]
    count = len(json.loads((folder / "manifest.json").read_text())["files"])
    assert malformed == [
        *(f"malformed: {folder}/entry #{n} (not an object with a 'path')" for n in (count - 4, count - 3, count - 2)),
        f"malformed: {folder}/ec2/x.json (no 'sha256')",
        f"malformed: {folder}/entry #{count} (not an object with a 'path')",
    ]
    # The evidence still loads, and is still diagnosed, with one warning for the entries left out.
    status, _out, err = run("diagnose", str(folder))
    assert status == 0 and "Traceback" not in err
    assert f"flowforensics: warning: {folder}/manifest.json: 4 malformed entries (not objects with a 'path'): ignored" in err


@pytest.mark.parametrize("content", ['{"files": ', "[1, 2]", '{"files": "all"}'])
def test_a_broken_manifest_is_a_warning_and_the_evidence_loads(incident, copy_of, content, figures):
    folder = copy_of()
    (folder / "manifest.json").write_text(content)
    figures["faults injected"] += 1
    evidence = flowforensics.load(folder)
    assert len(evidence.events) == len(flowforensics.load(incident).events)
    assert [p.reason.endswith("the evidence is read without it") for p in evidence.problems if p.path.endswith("manifest.json")] == [True]
    with pytest.raises(EvidenceError):
        flowforensics.load(folder, strict=True)


@pytest.mark.parametrize("gaps", [1.0, "none", {"operation": "x"}])
def test_gaps_that_are_not_a_list_are_a_warning_and_the_evidence_loads(incident, copy_of, gaps, figures):
    # Found by the manifest fuzz: a number as "gaps" stopped load with a TypeError.
    folder = copy_of()
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "gaps": gaps}))
    figures["faults injected"] += 1
    evidence = flowforensics.load(folder)
    assert len(evidence.events) == len(flowforensics.load(incident).events)


def test_a_broken_manifest_does_not_stop_diagnose(copy_of):
    folder = copy_of()
    (folder / "manifest.json").write_text('{"files": ')
    status, out, err = run("diagnose", str(folder), "--json")
    assert status == 0 and json.loads(out)["flow_logs"] and "Traceback" not in err


def test_a_file_that_differs_from_its_hash_is_a_warning(copy_of, figures):
    folder = copy_of()
    target = folder / "ec2" / "eu-west-1" / "describe-flow-logs.json"
    target.write_bytes(target.read_bytes() + b"\n")
    figures["faults injected"] += 1
    status, _out, err = run("diagnose", str(folder))
    assert status == 0
    assert (f"flowforensics: warning: {target}: differs from the SHA-256 recorded in manifest.json "
            "(changed since collection)") in err.splitlines()


def test_symlinks_are_treated_alike_by_load_and_verify(copy_of, tmp_path):
    folder = copy_of()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "fl.json").write_text(json.dumps({"FlowLogs": [{"FlowLogId": "fl-0123456789abcdef0"}]}))
    (folder / "out").symlink_to(outside)
    (folder / "inside").symlink_to(folder / "ec2")
    evidence = flowforensics.load(folder)
    assert {p.reason for p in evidence.problems if p.path == str(folder / "out")} == {
        "a symbolic link to outside the evidence folder: not followed"}
    assert "fl-0123456789abcdef0" not in set(evidence.flow_logs["flow_log_id"])
    # The folder linked inside was already walked under its own name: read once.
    assert not any("inside" in path for path, _kind in evidence.files)
    assert [str(p) for p in verify(folder)] == ["out: added"]
    assert os.path.islink(folder / "out")


def test_a_lone_surrogate_in_the_manifest_is_sealed_and_checked(tmp_path, figures):
    # JSON may hold "\ud800" alone (a parameter the collector was given, or an edit of the manifest); UTF-8
    # cannot, and the seal, taken over the manifest's UTF-8, stopped every load and verify with a traceback.
    writer = EvidenceWriter(tmp_path)
    writer.write("iam:GetRole", {"Role": {"RoleName": "r\ud800"}}, parameters={"RoleName": "r\ud800"})
    writer.close()
    assert verify(tmp_path) == []
    assert flowforensics.load(tmp_path).problems == []

    def other_surrogate(manifest):
        manifest["files"][0]["parameters"]["RoleName"] = "r\udfff"

    edit_manifest(tmp_path, other_surrogate)
    figures["faults injected"] += 1
    assert [str(problem) for problem in verify(tmp_path)] == [
        "manifest.json: changed (the manifest's content does not match its SHA-256 seal: it was edited after collection)"]
    assert [problem.reason for problem in flowforensics.load(tmp_path).problems] == [
        "the manifest's content does not match its SHA-256 seal: it was edited after collection"]
