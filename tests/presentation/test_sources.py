"""Where the notebooks' evidence comes from: a folder, a live collection, or the sample incident."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from flowforensics.collection import CollectionResult
from flowforensics.errors import EvidenceError
from flowforensics.presentation.sources import EVIDENCE_ENV, evidence_folder
from flowforensics.scenarios import DEFAULT_SCENARIO, SCENARIOS


@pytest.fixture(autouse=True)
def _temporary_folders_under(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def test_default_is_the_sample_incident(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(EVIDENCE_ENV, raising=False)
    folder = evidence_folder()
    assert folder.parent == tmp_path and (folder / "manifest.json").is_file() and DEFAULT_SCENARIO in folder.name
    assert SCENARIOS[DEFAULT_SCENARIO].expected.flow_log_id in (folder / "ec2" / "eu-west-1" / "describe-flow-logs.json").read_text()


def test_a_folder_given_or_set_by_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert evidence_folder(tmp_path) == tmp_path
    monkeypatch.setenv(EVIDENCE_ENV, str(tmp_path))
    assert evidence_folder() == tmp_path
    with pytest.raises(EvidenceError, match="no such file or folder"):
        evidence_folder(tmp_path / "missing")


def test_live_settings_collect_into_a_new_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def collect(out: Path, **options: Any) -> CollectionResult:
        calls.append({"out": Path(out), **options})
        return CollectionResult(folder=Path(out))

    monkeypatch.setattr("flowforensics.collection.collect", collect)
    one = evidence_folder(None, flow_log_id="fl-0123456789abcdef0", profile="audit", region="eu-west-1", start="2024-03-24T00:00:00Z")
    fleet = evidence_folder(None, region="eu-west-1")
    assert one == calls[0]["out"] and fleet == calls[1]["out"] and one != fleet
    assert calls[0]["flow_log_ids"] == ["fl-0123456789abcdef0"] and not calls[0]["all_flow_logs"]
    assert calls[0]["profile"] == "audit" and calls[0]["region"] == "eu-west-1" and calls[0]["start"] == "2024-03-24T00:00:00Z"
    assert calls[1]["all_flow_logs"] and calls[1]["flow_log_ids"] == ()
