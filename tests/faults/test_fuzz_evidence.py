"""Fuzzing every evidence kind the loader recognises: real-shaped documents with any of their fields replaced.

Each kind starts from a document of a sample incident (or one built from the incident's own, for the
kinds the incidents do not write: get-role-policy, get-policy-version, a managed-policies dump, a
simulation, a JSON array of CloudTrail records, and list-attached-role-policies, which is not evidence).
Up to four of its values, anywhere (inside the JSON text of a lookup-events ``CloudTrailEvent`` or a
policy document too), are replaced by any JSON, have hostile text inserted, are removed, or have their
key renamed; the file is written as UTF-8 (escaped or not, with or without a byte-order mark) or UTF-16.

The properties: no exception escapes ``flowforensics.load``, ``diagnose``, or what ``diagnose``,
``diagnose --verbose``, ``diagnose --json``, ``timeline`` (text, JSON, CSV) and ``report`` (the index of several
flow logs, and every section its notebook shows, run here without a kernel) make of the loaded evidence, and
the report's HTML and figures can be written as UTF-8; nothing the commands print carries a control
character (the command line's safety net is off here, so what is checked is what the tool itself writes),
and what goes to stdout can be encoded (a lone surrogate there would stop the command).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import gzip
import io
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

import flowforensics.cli
from flowforensics.analysis import diagnosis
from flowforensics.analysis import timeline as timeline_module
from flowforensics.analysis.diagnosis import diagnose
from flowforensics.analysis.results import Diagnosis
from flowforensics.analysis.timeline import timeline
from flowforensics.cli import main
from flowforensics.evidence.reader import read_folder
from flowforensics.presentation.investigation import Investigation
from flowforensics.presentation.markup import Html
from flowforensics.presentation.reports import index_page
from flowforensics.presentation.terminal import for_terminal
from flowforensics.scenarios import write_scenario
from tests.faults.strategies import JSON, KEYS, TEXT
from tests.faults.test_fuzz import EXPLORE, FUZZ

# The characters for_terminal shows as escapes: none may reach the terminal but the line breaks the tool writes.
RAW = re.compile("[" + "".join(re.escape(chr(code)) for code in range(0x3000) if for_terminal(chr(code)) != chr(code)
                                and chr(code) != "\n") + "]")
INCIDENTS = ("permission-removed", "trust-edited", "boundary-deny", "kms-key-denied", "scp-deny")
SIMULATION = Path(__file__).parents[1] / "blackbox" / "data" / "c18-broken-files-mixed-in" / "evidence" / "simulate.json"
# The report's sections, in the order its notebook shows them.
REPORT_SECTIONS = re.findall(r"^case\.(\w+)\(\)$", "\n".join(
    "".join(cell["source"]) for cell in json.loads((Path(__file__).parents[2] / "notebooks" / "investigate.ipynb").read_text())["cells"]),
    re.MULTILINE)
# Several flow logs make diagnose print its fleet and report write its index.
SECOND_FLOW_LOG = "fl-0ffeeda7a5e1f0002"


@dataclass
class Embedded:
    """JSON written inside a JSON string (a ``CloudTrailEvent``, a policy document), fuzzed as JSON."""

    content: Any
    url_encoded: bool = False


def _expand(value: Any) -> Any:
    """``value`` with every string that holds a JSON object or array turned into :class:`Embedded`."""
    if isinstance(value, dict):
        return {key: _expand(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item) for item in value]
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "[") or isinstance(value, str) and value.startswith("%7B"):
        url_encoded = value.startswith("%7B")
        try:
            return Embedded(_expand(json.loads(unquote(value) if url_encoded else value)), url_encoded)
        except ValueError:
            return value
    return value


def _collapse(value: Any) -> Any:
    if isinstance(value, Embedded):
        written = json.dumps(_collapse(value.content))
        return quote(written) if value.url_encoded else written
    if isinstance(value, dict):
        return {key: _collapse(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_collapse(item) for item in value]
    return value


def _children(node: Any) -> list[tuple[Any, Any]]:
    """(container, key) of each value directly under ``node``."""
    if isinstance(node, Embedded):
        return [(node, "content")]
    if isinstance(node, dict):
        return [(node, key) for key in node]
    if isinstance(node, list):
        return [(node, position) for position in range(len(node))]
    return []


def _get(container: Any, key: Any) -> Any:
    return container.content if isinstance(container, Embedded) else container[key]


def _set(container: Any, key: Any, value: Any) -> None:
    if isinstance(container, Embedded):
        container.content = value
    else:
        container[key] = value


@st.composite
def mutated(draw: st.DrawFn, document: Any) -> Any:
    """``document`` with up to four values changed; each is reached by a random walk from the top, so that
    every level (a whole list, one item, one field deep inside) is as likely to be hit."""
    tree = {"": _expand(copy.deepcopy(document))}
    for _ in range(draw(st.integers(1, 4))):
        container, key = tree, ""
        while _children(_get(container, key)) and draw(st.integers(0, 3)):
            container, key = draw(st.sampled_from(_children(_get(container, key))))
        value = _get(container, key)
        how = draw(st.sampled_from(["replace", "insert", "remove", "rename"]))
        if how == "insert" and isinstance(value, str):
            at = draw(st.integers(0, len(value)))
            _set(container, key, value[:at] + draw(TEXT) + value[at:])
        elif how == "remove" and isinstance(container, (dict, list)) and container is not tree:
            del container[key]
        elif how == "rename" and isinstance(container, dict) and container is not tree:
            container[draw(KEYS)] = container.pop(key)
        else:
            _set(container, key, draw(JSON))
    return _collapse(tree[""])


ENCODINGS = {"utf-8": ("utf-8", True), "utf-8 unescaped": ("utf-8", False), "utf-8 with BOM": ("utf-8-sig", True),
             "utf-16": ("utf-16", False)}


def written(document: Any, how: str, gzipped: bool) -> bytes:
    """``document`` as a file's bytes; unescaped text keeps a lone surrogate as its (invalid) UTF-8 bytes."""
    encoding, escaped = ENCODINGS[how]
    data = json.dumps(document, ensure_ascii=escaped).encode(encoding, "surrogatepass")
    return gzip.compress(data, mtime=0) if gzipped else data


@pytest.fixture(scope="module")
def incidents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sample incidents the documents come from, each with a second flow log, written once."""
    folders = {}
    for name in INCIDENTS:
        root = write_scenario(name, tmp_path_factory.mktemp("incidents") / name)
        flow_logs = next(root.glob("ec2/*/describe-flow-logs.json"))
        content = json.loads(flow_logs.read_text())
        content["FlowLogs"].append({**content["FlowLogs"][0], "FlowLogId": SECOND_FLOW_LOG,
                                    "ResourceId": "vpc-0ffeeda7a5e1f0002", "DeliverLogsStatus": "SUCCESS"})
        flow_logs.write_text(json.dumps(content))
        folders[name] = root
    return folders


def _documents(folders: dict[str, Path]) -> dict[str, tuple[str, str, Any]]:
    """Kind -> (incident, path in it, document): the first of each kind the incidents hold, and those built
    from them."""
    found: dict[str, tuple[str, str, Any]] = {}
    for name, root in folders.items():
        documents, _problems, _manifest = read_folder(root)
        for document in documents:
            relative = Path(document.path).relative_to(root).as_posix()
            if document.kind not in found and document.kind not in ("cloudtrail_log", "lookup_events"):
                found[document.kind] = (name, relative, json.loads(Path(document.path).read_text()))
    root = folders["permission-removed"]
    # The CloudTrail files that hold the incident's IAM change, and the lookup of its log group's region.
    trail = min(root.glob("cloudtrail/s3/AWSLogs/*/CloudTrail/us-east-1/*/*/*/*.json.gz"))
    records = json.loads(gzip.decompress(trail.read_bytes()))
    found["cloudtrail_log"] = ("permission-removed", trail.relative_to(root).as_posix(), records)
    found["cloudtrail_records"] = ("permission-removed", "athena-export.json", records["Records"])
    lookup = root / "cloudtrail/us-east-1/lookup-events.json"
    found["lookup_events"] = ("permission-removed", "cloudtrail/us-east-1/lookup-events.json", json.loads(lookup.read_text()))
    details = found["authorization_details"][2]
    role = details["RoleDetailList"][0]
    inline = role["RolePolicyList"][0]
    found["role_policy"] = ("permission-removed", "get-role-policy.json",
                            {"RoleName": role["RoleName"], "PolicyName": inline["PolicyName"], "PolicyDocument": quote(json.dumps(inline["PolicyDocument"]))})
    found["attached_role_policies (not evidence)"] = ("permission-removed", "list-attached-role-policies.json", {"AttachedPolicies": [
        {"PolicyName": "CloudWatchLogsFullAccess", "PolicyArn": "arn:aws:iam::aws:policy/CloudWatchLogsFullAccess"}]})
    boundary = json.loads((folders["boundary-deny"] / "iam/global/get-account-authorization-details.json").read_text())["Policies"]
    found["managed_policies"] = ("boundary-deny", "managed-policies.json", {"Policies": boundary})
    found["policy_version"] = ("boundary-deny", "get-policy-version.json", {"PolicyVersion": boundary[0]["PolicyVersionList"][0]})
    found["simulation"] = ("permission-removed", "simulate-principal-policy.json", json.loads(SIMULATION.read_text()))
    return found


KINDS = sorted(["alarm_history", "alarms", "authorization_details", "cloudtrail_log", "cloudtrail_records", "flow_logs",
                "key_policy", "log_groups", "log_streams", "lookup_events", "managed_policies", "metric_data",
                "policy_version", "role", "role_policy", "scp", "simulation", "attached_role_policies (not evidence)"])


class Documents(dict):
    """The documents by kind, shown short where hypothesis reports a failing example."""

    def __repr__(self) -> str:
        return f"<{len(self)} documents>"


@pytest.fixture(scope="module")
def documents(incidents: dict[str, Path]) -> Documents:
    return Documents(_documents(incidents))


def test_every_kind_the_loader_recognises_is_fuzzed(documents):
    from flowforensics.evidence.shapes import SHAPES

    assert set(SHAPES) | {"cloudtrail_records"} <= set(documents) == set(KINDS)
    assert len(REPORT_SECTIONS) > 10 and "summary" in REPORT_SECTIONS


def _printed(argv: list[str]) -> tuple[str, str]:
    """What ``flowforensics ARGV`` writes to stdout and stderr, without the terminal's safety net."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    assert status == 0 or (status == 1 and err.getvalue().count("\n") == 1), err.getvalue()
    return out.getvalue(), err.getvalue()


def _check_shown(text: str, where: str, stdout: bool) -> None:
    raw = RAW.search(text)
    assert raw is None, f"{where} printed a raw {raw.group()!r}: {text[max(0, raw.start() - 80):raw.end() + 80]!r}"
    if stdout:
        text.encode("utf-8")  # a lone surrogate here stops the command (stdout is strict UTF-8)


def check_report_sections(evidence: Any, result: Diagnosis) -> None:
    """Run the report's sections, as its notebook calls them, on the loaded evidence: each gives HTML or a
    figure that the notebook can hold (nbformat writes it as UTF-8 JSON: a lone surrogate would stop it)."""
    import plotly.utils

    case = Investigation(evidence)
    case.diagnosis = result  # computed above
    for section in REPORT_SECTIONS:
        shown = getattr(case, section)()
        content = shown.markup if isinstance(shown, Html) else shown.to_plotly_json()
        json.dumps(content, cls=plotly.utils.PlotlyJSONEncoder, ensure_ascii=False).encode("utf-8")


def check_everything_shown(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Load and diagnose ``root``; run every command's terminal output on the loaded evidence."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        evidence = flowforensics.cli.load_evidence(str(root))
    _check_shown(err.getvalue(), "load's warnings", stdout=False)
    result = diagnose(evidence)
    assert json.loads(result.to_json())["flow_logs"] is not None
    index_page(evidence, result, {entry.flow_log_id: "report.html" for entry in result.flow_logs}).encode("utf-8")
    check_report_sections(evidence, result)
    first = (result.flow_logs[0].flow_log_id if result.flow_logs else None) or "fl-none"
    with monkeypatch.context() as patch:
        # The commands print what was loaded and diagnosed above (each would load and diagnose again).
        patch.setattr(flowforensics.cli, "load_evidence", lambda path: evidence)
        patch.setattr(diagnosis, "diagnose", lambda _evidence, flow_log_id=None: result if flow_log_id is None else Diagnosis(
            [entry for entry in result.flow_logs if entry.flow_log_id == flow_log_id]))
        rows = functools.cache(lambda flow_log_id: timeline(evidence, flow_log_id))
        patch.setattr(timeline_module, "timeline", lambda _evidence, flow_log_id=None: rows(flow_log_id))
        patch.setattr(flowforensics.cli, "terminal_safe_streams", contextlib.nullcontext)
        for argv in (["diagnose", str(root)], ["diagnose", str(root), "--verbose"], ["diagnose", str(root), "--json"],
                     ["diagnose", str(root), "--flow-log-id", first], ["timeline", str(root)],
                     ["timeline", str(root), "--json"], ["timeline", str(root), "--csv"]):
            out, err_text = _printed(argv)
            _check_shown(out, " ".join(argv[:1] + argv[2:]), stdout=True)
            _check_shown(err_text, " ".join(argv[:1] + argv[2:]) + " (stderr)", stdout=False)


@pytest.mark.parametrize("kind", KINDS)
@settings(FUZZ, max_examples=EXPLORE or 2, phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink])
@given(data=st.data(), how=st.sampled_from(sorted(ENCODINGS)))
def test_no_document_of_any_kind_crashes_the_tool_or_writes_a_control_character(
        kind, data, how, documents, incidents, tmp_path_factory, monkeypatch, figures):
    incident, relative, document = documents[kind]
    root = Path(shutil.copytree(incidents[incident], tmp_path_factory.mktemp("fuzz") / "evidence"))
    fuzzed = data.draw(mutated(document), label="document")
    (root / relative).write_bytes(written(fuzzed, how, relative.endswith(".gz")))
    figures["inputs tried"] += 1
    figures["faults injected"] += 1
    check_everything_shown(root, monkeypatch)
