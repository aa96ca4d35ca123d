"""collect --from-archive and diagnose of an archive: local, and in S3 through moto server over real HTTP."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from flowforensics import load
from flowforensics.analysis.diagnosis import diagnose
from flowforensics.cli import main
from flowforensics.collection import readonly
from flowforensics.collection.archive import ArchiveCollection
from flowforensics.evidence.archive import Selection, read_archive
from flowforensics.evidence.manifest import verify
from flowforensics.scenarios import write_scenario

sys.path.insert(0, str(Path(__file__).parents[1] / "scenarios"))
sys.path.insert(0, str(Path(__file__).parents[1] / "evidence"))
from archive_layout import ORG, ORG_ACCOUNT, PLAIN_ACCOUNT, noise, write_archive, write_trail_bucket  # noqa: E402
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
    assert manifest["archive"]["listed"][:2] == [{"prefix": f"s3://{BUCKET}/AWSLogs/", "depth": "one level"},
                                                 {"prefix": f"s3://{BUCKET}/AWSLogs/o-a1b2c3d4e5/", "depth": "one level"}]

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




@pytest.fixture(scope="module")
def trail_bucket(tmp_path_factory: pytest.TempPathFactory, moto_endpoint: str) -> dict[str, Any]:
    """An organisation's trail bucket in moto (tests/evidence/archive_layout.py), and its local copy."""
    folder = write_scenario(SCENARIO, tmp_path_factory.mktemp("scenario") / SCENARIO)
    root = tmp_path_factory.mktemp("bucket")
    records = write_trail_bucket(root, cloudtrail_records(folder))
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                      region_name="eu-west-1")
    s3.create_bucket(Bucket="org-trail-layout", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        s3.put_object(Bucket="org-trail-layout", Key=path.relative_to(root).as_posix(), Body=path.read_bytes())
    return {"root": root, "records": records}


def _counted(endpoint: str) -> tuple[Any, list[tuple[str, str | None]]]:
    """A read-only S3 client, and every ListObjectsV2 request it sends (one a page): (Prefix, Delimiter)."""
    client = boto3.client("s3", endpoint_url=endpoint)
    readonly.install(client)
    calls: list[tuple[str, str | None]] = []
    client.meta.events.register(
        "provide-client-params.s3.ListObjectsV2", lambda params, **_: calls.append((params["Prefix"], params.get("Delimiter"))))
    return client, calls


def _every_choice(endpoint: str, selection: Selection) -> list[str]:
    """What listing the whole bucket and choosing by key gives."""
    client = boto3.client("s3", endpoint_url=endpoint)
    keys = [item["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket="org-trail-layout")
            for item in page.get("Contents", [])]
    return [f"s3://org-trail-layout/{key}" for key in keys if selection.skip_reason(key) is None]


DAY = "2024-02-06"
TRAIL = f"AWSLogs/{ORG}/{ORG_ACCOUNT}/CloudTrail"
NEXT = "2024/02/07/"  # the delivery margin's day


@pytest.mark.parametrize(("source", "selection", "listed"), [
    # One account, region and day of the organisation: the organisation's folder, the day and the next.
    (f"AWSLogs/{ORG}", {"accounts": [ORG_ACCOUNT], "regions": ["eu-west-1"]},
     [(f"AWSLogs/{ORG}", "/"), (f"{TRAIL}/eu-west-1/2024/02/06/", None), (f"{TRAIL}/eu-west-1/{NEXT}", None)]),
    # Organisations, accounts and regions found one level at a time; the other account's folders not listed.
    ("AWSLogs/", {"accounts": [ORG_ACCOUNT]},
     [("AWSLogs/", "/"), (f"{TRAIL}/", "/"),
      *[(f"{TRAIL}/{region}/{day}", None) for region in ("eu-west-1", "us-east-1") for day in ("2024/02/06/", NEXT)]]),
    # The whole bucket: the trail's key prefix found too; every account's regions listed.
    ("", {"regions": ["us-east-1"]},
     [("", "/"), ("AWSLogs/", "/"),
      *[(f"AWSLogs/{PLAIN_ACCOUNT}/CloudTrail/us-east-1/{day}", None) for day in ("2024/02/06/", NEXT)],
      (f"AWSLogs/{ORG}/", "/"),
      *[(f"AWSLogs/{ORG}/{ORG_ACCOUNT}/CloudTrail/us-east-1/{day}", None) for day in ("2024/02/06/", NEXT)],
      ("custom-prefix/", "/"), ("custom-prefix/AWSLogs/", "/"), (f"custom-prefix/AWSLogs/{ORG}/", "/"),
      *[(f"custom-prefix/AWSLogs/{ORG}/444455556666/CloudTrail/us-east-1/{day}", None) for day in ("2024/02/06/", NEXT)]]),
])
def test_an_s3_archive_is_listed_only_where_the_selection_can_be(
    trail_bucket: dict[str, Any], moto_endpoint: str, source: str, selection: dict[str, Any], listed: list[Any]
) -> None:
    client, calls = _counted(moto_endpoint)
    chosen = Selection.of(**selection, start=f"{DAY}T00:00Z", end=f"{DAY}T23:59:59Z")
    read = read_archive(f"s3://org-trail-layout/{source}", chosen, s3_client=client, workers=1)
    assert calls == listed
    assert [entry["prefix"] for entry in read.listed] == [f"s3://org-trail-layout/{prefix}" for prefix, _ in listed]
    assert read.read and [e["key"] for e in read.read] == [
        key for key in _every_choice(moto_endpoint, chosen) if key.startswith(f"s3://org-trail-layout/{source}")]
    # The same records as the same files read from a local copy of the bucket.
    top = trail_bucket["root"].resolve()
    local = read_archive(top, chosen, workers=1)
    assert [(d.path, d.content) for d in read.documents] == [
        (f"s3://org-trail-layout/{Path(d.path).relative_to(top).as_posix()}", d.content) for d in local.documents
        if Path(d.path).relative_to(top).as_posix().startswith(source)]


def test_a_prefix_s3_refuses_is_reported_and_the_rest_read(trail_bucket: dict[str, Any], moto_endpoint: str) -> None:
    from botocore.awsrequest import AWSResponse

    # A bucket policy that denies one account's folder to the investigator: S3 answers AccessDenied there.
    def deny(params: dict[str, Any], **_: Any) -> Any:
        if params["query_string"].get("prefix", "").startswith(f"AWSLogs/{PLAIN_ACCOUNT}/"):
            error = {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}, "ResponseMetadata": {"HTTPStatusCode": 403}}
            return AWSResponse(params["url"], 403, {}, None), error
        return None

    client, _calls = _counted(moto_endpoint)
    client.meta.events.register("before-call.s3.ListObjectsV2", deny)
    chosen = Selection.of(regions=["us-east-1"], start=f"{DAY}T00:00Z", end=f"{DAY}T23:59:59Z")
    read = read_archive("s3://org-trail-layout/AWSLogs/", chosen, s3_client=client, workers=1)
    denied = f"s3://org-trail-layout/AWSLogs/{PLAIN_ACCOUNT}/CloudTrail/us-east-1/"
    assert [e for e in read.skipped if "cannot" in e["reason"]] == [
        {"key": f"{denied}{day}", "reason": "cannot be listed (AccessDenied: Access Denied): not read"} for day in ("2024/02/06/", NEXT)]
    assert {p.path for p in read.problems} == {f"{denied}2024/02/06/", f"{denied}{NEXT}"}
    assert read.read and all(f"/{ORG_ACCOUNT}/" in e["key"] for e in read.read)
    # collect says so on the terminal too.
    assert ", 2 of them not readable (listed with the reason under archive.files_skipped in manifest.json)" in (
        ArchiveCollection(Path("evidence"), read).summary())
