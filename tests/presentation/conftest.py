"""Fixtures of the presentation tests: sample incidents, and one made hostile."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from flowforensics.scenarios import write_scenario

# What an attacker can put in the evidence: a script, and an image whose onerror marks the page, so a
# browser test can see whether anything was interpreted.
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=document.body.setAttribute('data-pwned','1')>"
# substring of the sample incident -> the same with a payload (user agent, policy name, error message)
HOSTILE_EDITS = {
    "aws-cli/2.15.30": f"aws-cli/2.15.30 {SCRIPT}{IMG}",
    "flow-logs-delivery": f"flow-logs-delivery{SCRIPT}",
    "is not authorized to perform": f"is not authorized {IMG} to perform",
}


@pytest.fixture(scope="session")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Write a sample incident once per session; return its evidence folder."""
    written: dict[str, Path] = {}

    def make(name: str) -> Path:
        if name not in written:
            written[name] = write_scenario(name, tmp_path_factory.mktemp(name))
        return written[name]

    return make


def _edit(data: bytes) -> bytes:
    text = data.decode("utf-8")
    for plain, payload in HOSTILE_EDITS.items():
        text = text.replace(plain, payload)
    return text.encode("utf-8")


@pytest.fixture(scope="session")
def hostile(scenario: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default incident with hostile user agents, policy names and error messages (manifest re-hashed)."""
    folder = tmp_path_factory.mktemp("hostile") / "evidence"
    shutil.copytree(scenario("permission-removed"), folder)
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for entry in manifest["files"]:
        path = folder / entry["path"]
        raw = path.read_bytes()
        edited = gzip.compress(_edit(gzip.decompress(raw)), mtime=0) if path.name.endswith(".gz") else _edit(raw)
        path.write_bytes(edited)
        entry["sha256"] = hashlib.sha256(edited).hexdigest()
    manifest_path.write_text(json.dumps(manifest, indent=2))
    assert sum(SCRIPT in p.read_text() for p in folder.rglob("*.json")) >= 2, "the payloads did not land"
    return folder
