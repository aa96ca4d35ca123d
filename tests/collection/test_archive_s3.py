"""collect --from-archive and diagnose of an archive: local, and in S3 through moto server over real HTTP."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import boto3
import pytest

from flowforensics import load
from flowforensics.analysis.diagnosis import diagnose
from flowforensics.cli import main
from flowforensics.collection import readonly
from flowforensics.evidence.archive import Selection, read_archive
from flowforensics.evidence.manifest import verify
from flowforensics.scenarios import write_scenario

sys.path.insert(0, str(Path(__file__).parents[1] / "scenarios"))
sys.path.insert(0, str(Path(__file__).parents[1] / "evidence"))
from archive_layout import noise, write_archive  # noqa: E402
from helpers import cloudtrail_records  # noqa: E402

SCENARIO = "permission-removed"
BUCKET = "org-trail"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = write_scenario(SCENARIO, tmp_path_factory.mktemp("scenario") / SCENARIO)
    records = sorted({r["eventID"]: r for r in cloudtrail_records(folder)}.values(), key=lambda r: r["eventTime"])
    root = tmp_path_factory.mktemp("archive")
    write_archive(root, records)
    write_archive(root, noise(records), part=1)
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.json.gz"))}


def test_collect_from_a_local_archive_writes_evidence_that_diagnoses_as_the_archive(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "evidence"
    assert main(["collect", "--from-archive", str(archive), "--out", str(out)]) == 0
    assert "CloudTrail records kept from" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {Path(entry["key"]).relative_to(archive.resolve()).as_posix(): entry for entry in manifest["archive"]["files_read"]}
    assert set(listed) == set(_files(archive))
    for key, data in _files(archive).items():
        assert listed[key]["sha256"] == hashlib.sha256(data).hexdigest() and listed[key]["size"] == len(data)
    assert manifest["archive"]["records_kept"] < manifest["archive"]["records_read"]
    assert not verify(out)
    assert main(["diagnose", "--json", str(archive)]) == 0  # diagnose reads the archive tree directly
    from_archive = capsys.readouterr().out
    assert json.loads(from_archive)["flow_logs"][0]["root_cause"] == "permission-missing"
    assert from_archive.strip() == diagnose(load(out)).to_json()


def test_a_bad_window_is_one_line(archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Times are read as the command line is parsed: a usage error (2), before the archive is opened.
    assert main(["collect", "--from-archive", str(archive), "--start", "soon", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("flowforensics collect: --start 'soon' is not a time")
    assert not (tmp_path / "o").exists()


def test_collect_from_s3_reads_through_the_read_only_hook(
    archive: Path, moto_endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    files = _files(archive)
    for key, data in files.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    s3.put_object(Bucket=BUCKET, Key="AWSLogs/README.txt", Body=b"not a log")

    out = tmp_path / "evidence"
    code = main(["collect", "--from-archive", f"s3://{BUCKET}/AWSLogs/", "--endpoint-url", moto_endpoint, "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    read = {entry["key"]: entry for entry in manifest["archive"]["files_read"]}
    assert set(read) == {f"s3://{BUCKET}/{key}" for key in files}
    assert all(read[f"s3://{BUCKET}/{key}"]["sha256"] == hashlib.sha256(data).hexdigest() for key, data in files.items())
    assert manifest["archive"]["files_skipped"] == [
        {"key": f"s3://{BUCKET}/AWSLogs/README.txt", "reason": "not a CloudTrail log file in AWS's layout "
                                                              "(AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/*.json.gz)"}]
    assert set(load(out).events["event_id"]) == set(load(archive).events["event_id"])

    # Only the two read calls were made, each let through by the hook.
    calls: list[str] = []
    client = boto3.client("s3", endpoint_url=moto_endpoint)
    readonly.install(client, calls.append)
    read_archive(f"s3://{BUCKET}/AWSLogs/", Selection.of(regions=["eu-west-1"]), s3_client=client)
    assert set(calls) == {"s3:ListBucket", "s3:GetObject"}
    with pytest.raises(readonly.ReadOnlyViolation):
        client.delete_object(Bucket=BUCKET, Key="AWSLogs/README.txt")


def test_a_missing_bucket_is_one_line(moto_endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["collect", "--from-archive", "s3://no-such-bucket/AWSLogs", "--endpoint-url", moto_endpoint, "--out", str(tmp_path / "o")])
    assert code == 1
    assert "cannot list the archive (NoSuchBucket" in capsys.readouterr().err


