"""Bounded reading: special files never opened, links only inside the folder, size/depth/record limits,
the encodings a PowerShell redirect writes, duplicate keys said, and warnings summarised."""

from __future__ import annotations

import codecs
import contextlib
import gzip
import io
import json
import os
import socket
import threading

import pytest

import flowforensics
from flowforensics.cli import main
from flowforensics.evidence.reader import LIMITS, Limits, LoadProblem, read_folder, summarise
from tests.faults.test_isolation import GOOD, record


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


def reasons(evidence, path) -> list[str]:
    return [p.reason for p in evidence.problems if p.path == str(path)]


def test_a_fifo_is_skipped_unopened_and_never_hangs(tmp_path, figures):
    (tmp_path / "trail.json").write_text(json.dumps({"Records": [GOOD]}))
    os.mkfifo(tmp_path / "pipe.json")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tmp_path / "sock.json"))
    figures["inputs tried"] += 2
    figures["faults injected"] += 2
    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(evidence=flowforensics.load(tmp_path)), daemon=True)
    worker.start()
    worker.join(120)  # a hang fails the test instead of the suite (no timing is asserted)
    figures["hangs"] += worker.is_alive()
    assert not worker.is_alive()
    evidence = result["evidence"]
    assert reasons(evidence, tmp_path / "pipe.json") == ["a FIFO, not a regular file: not read"]
    assert reasons(evidence, tmp_path / "sock.json") == ["a socket, not a regular file: not read"]
    assert list(evidence.events["event_id"]) == [GOOD["eventID"]]
    listener.close()


def test_a_fifo_given_as_the_path_is_one_line(tmp_path):
    os.mkfifo(tmp_path / "pipe.json")
    status, out, err = run("diagnose", str(tmp_path / "pipe.json"))
    assert (status, out, err) == (1, "", f"flowforensics: {tmp_path / 'pipe.json'}: a FIFO, not a regular file: not read\n")


def test_links_to_devices_and_outside_files_are_not_followed(tmp_path, figures):
    folder = tmp_path / "evidence"
    folder.mkdir()
    (folder / "trail.json").write_text(json.dumps({"Records": [GOOD]}))
    (folder / "zero.json").symlink_to("/dev/zero")
    (folder / "passwd.json").symlink_to("/etc/passwd")
    (folder / "loop").symlink_to(folder)
    (folder / "same.json").symlink_to(folder / "trail.json")
    figures["inputs tried"] += 4
    figures["faults injected"] += 4
    evidence = flowforensics.load(folder)
    for name in ("zero.json", "passwd.json"):
        assert reasons(evidence, folder / name) == ["a symbolic link to outside the evidence folder: not followed"]
    # A link back to the folder is not walked again; a link to a file inside is read like the file.
    assert sorted(path for path, _kind in evidence.files) == [str(folder / "same.json"), str(folder / "trail.json")]
    assert len(evidence.events) == 1


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    """The issue's gzip bomb, 1 GB of newlines: one gzip member of 1 MiB of newlines, a thousand times over
    (a reader of gzip reads every member), about a megabyte on disk."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.json.gz"
    member = gzip.compress(b"\n" * (1 << 20), compresslevel=9)
    path.write_bytes(member * 1000)
    return path


def test_a_gzip_bomb_stops_at_the_limit_with_a_clear_message(bomb, tmp_path, figures):
    (tmp_path / "trail.json").write_text(json.dumps({"Records": [GOOD]}))
    os.link(bomb, tmp_path / "bomb.json.gz")
    figures["inputs tried"] += 1
    figures["faults injected"] += 1
    # A small limit keeps the test fast; the default is 256 MiB, far below the gigabyte.
    documents, problems, _manifest = read_folder(tmp_path, limits=Limits(max_file_bytes=16 << 20))
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'bomb.json.gz'}: larger than 16 MiB once decompressed: not read (the limit on one file)"]
    assert [d.path for d in documents] == [str(tmp_path / "trail.json")]
    assert LIMITS.max_file_bytes == 256 << 20


def test_a_record_above_the_size_limit_is_skipped_and_counted(tmp_path, figures):
    huge = record("e-huge", userAgent="x" * (LIMITS.max_record_bytes + 1))
    (tmp_path / "trail.json").write_text(json.dumps({"Records": [huge, GOOD]}))
    figures["faults injected"] += 1
    evidence = flowforensics.load(tmp_path)
    assert reasons(evidence, tmp_path / "trail.json") == [
        f"1 CloudTrail records are larger than {LIMITS.max_record_bytes >> 20} MiB (skipped: the limit on one record)"]
    assert list(evidence.events["event_id"]) == [GOOD["eventID"]]


@pytest.mark.parametrize("encoding, bom", [
    ("utf-8", codecs.BOM_UTF8), ("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE),
    ("utf-32-le", codecs.BOM_UTF32_LE), ("utf-32-be", codecs.BOM_UTF32_BE),
])
def test_text_with_a_byte_order_mark_is_read(tmp_path, encoding, bom, figures):
    # What `aws cloudtrail lookup-events > events.json` writes in Windows PowerShell 5.1 (UTF-16 LE + BOM),
    # and what -Encoding utf32 or utf8 writes.
    text = json.dumps({"Records": [GOOD | {"userAgent": "aws-cli/2.15.30 Python/3.11 Windows/10 exe/AMD64 prompt/off ünï"}]}, indent=2)
    (tmp_path / "trail.json").write_bytes(bom + text.replace("\n", "\r\n").encode(encoding))
    figures["inputs tried"] += 1
    evidence = flowforensics.load(tmp_path)
    assert evidence.problems == []
    assert evidence.events["user_agent"].iloc[0].endswith("ünï")


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_utf16_and_32_without_a_mark_are_read_as_json_says(tmp_path, encoding):
    (tmp_path / "trail.json").write_bytes(json.dumps({"Records": [GOOD]}).encode(encoding))
    evidence = flowforensics.load(tmp_path)
    assert evidence.problems == [] and len(evidence.events) == 1


def test_bytes_that_are_no_text_are_refused_clearly(tmp_path):
    (tmp_path / "blob.json").write_bytes(b"\xff\xd8\xff\xe0 a JPEG")
    evidence = flowforensics.load(tmp_path)
    assert reasons(evidence, tmp_path / "blob.json") == ["not text: neither JSON nor gzipped JSON (UTF-8, UTF-16 or UTF-32)"]


def test_duplicate_keys_are_reported_not_silently_last_wins(tmp_path, figures):
    text = json.dumps({"Records": [GOOD]})
    forged = text.replace('"eventName": "DescribeFlowLogs"', '"eventName": "DeleteFlowLogs", "eventName": "DescribeFlowLogs"')
    (tmp_path / "trail.json").write_text(forged)
    figures["faults injected"] += 1
    evidence = flowforensics.load(tmp_path)
    assert reasons(evidence, tmp_path / "trail.json") == [
        "1 duplicate JSON key(s) in one object (eventName): the last value of each was used"]
    assert list(evidence.events["event_name"]) == ["DescribeFlowLogs"]


def test_ten_thousand_files_that_are_not_evidence_make_a_few_lines(tmp_path, figures):
    problems = [LoadProblem(f"notes/n{n}.json", f"not evidence: a JSON object with keys [K{n % 7}] matches no AWS output "
                            "flowforensics reads") for n in range(10_000)]
    problems.append(LoadProblem("zz.json", "invalid JSON at line 1 column 2: Expecting property name enclosed in double quotes"))
    lines = summarise(problems)
    assert len(lines) == 12
    assert lines[10:] == [
        "and 9,990 more files: not evidence: a JSON object with keys [K3] matches no AWS output flowforensics reads",
        "and 1 more file: invalid JSON at line 1 column 2: Expecting property name enclosed in double quotes",
    ]


def test_the_command_line_prints_the_summary(tmp_path, figures):
    (tmp_path / "trail.json").write_text(json.dumps({"Records": [GOOD]}))
    for n in range(300):
        (tmp_path / f"note-{n:03d}.json").write_text(json.dumps({"Owner": {"ID": n}}))
    figures["inputs tried"] += 301
    status, _out, err = run("timeline", str(tmp_path), "--json")
    assert status == 0
    assert err.splitlines()[10:] == [
        "flowforensics: warning: and 290 more files: not evidence: a JSON object with keys [Owner] matches no AWS "
        "output flowforensics reads"]


def test_summarise_keeps_every_line_when_there_are_few():
    problems = [LoadProblem(f"f{n}.json", "invalid JSON at line 1 column 1: Expecting value") for n in range(3)]
    assert summarise(problems) == [str(p) for p in problems]
