"""The report engine end to end: papermill, nbconvert, the contract JSON, hostile evidence, a browser."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from plotly.offline import get_plotlyjs

import flowforensics
from flowforensics.analysis.diagnosis import diagnose
from flowforensics.presentation.investigation import Investigation
from flowforensics.presentation.report import (
    INTERACTIVE_TAG,
    KERNEL_GC_THRESHOLDS,
    PLOTLY_JS_MARKER,
    REPORT_NOTEBOOK,
    ReportFiles,
    run_notebook,
    to_html,
    write_report,
)
from flowforensics.presentation.widgets import explorer
from flowforensics.scenarios import SCENARIOS

from .conftest import IMG, SCRIPT

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = shutil.which("chromium")
# Hosts Chromium itself calls (updates, accounts) even with background networking disabled.
CHROMIUM_OWN_HOSTS = ("google.com", "googleapis.com", "gstatic.com", "gvt1.com")


@pytest.fixture(scope="module")
def default_report(scenario: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory) -> ReportFiles:
    return write_report(scenario("permission-removed"), tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def hostile_report(hostile: Path, tmp_path_factory: pytest.TempPathFactory) -> ReportFiles:
    return write_report(hostile, tmp_path_factory.mktemp("hostile-report"))


class Sources(HTMLParser):
    """Every URL the page would load: src and href of tags, and url(...) in styles."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        for name, value in attrs:
            if name in ("src", "href", "data", "poster", "srcset") and value and tag != "a":
                self.urls.append((tag, value))

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.urls += [("style", url) for url in re.findall(r"url\(\s*['\"]?([^)'\"]+)", data)]
            self.urls += [("style", url) for url in re.findall(r"@import\s+['\"]([^'\"]+)", data)]


def test_report_files_and_contract_json(default_report: ReportFiles, scenario: Callable[[str], Path]) -> None:
    assert default_report.html.is_file() and default_report.notebook.is_file()
    written = json.loads(default_report.results.read_text())
    assert written == diagnose(flowforensics.load(scenario("permission-removed"))).to_dict()
    expected = SCENARIOS["permission-removed"].expected
    (entry,) = [fl for fl in written["flow_logs"] if fl["flow_log_id"] == expected.flow_log_id]
    assert entry["root_cause"] == expected.root_cause and entry["trigger"]["event_id"] == expected.trigger_event_id


def test_report_is_self_contained_without_code(default_report: ReportFiles) -> None:
    page = default_report.html.read_text()
    parser = Sources()
    parser.feed(page)
    remote = [(tag, url) for tag, url in parser.urls if re.match(r"\s*(https?:)?//", url)]
    assert remote == [], f"the report loads from the network: {remote}"
    assert page.count(get_plotlyjs()[:500]) == 1, "plotly.js must be embedded exactly once"
    # No code: neither the cells' input areas nor their source, nor the intro on how to run it.
    assert 'class="jp-CodeMirrorEditor' not in page and "case.timeline_figure()" not in page
    assert "page.page_setup()" not in page and "papermill notebooks/investigate.ipynb" not in page
    assert "require.min.js" not in page


def test_plotly_js_goes_in_the_head_whatever_the_title_says(default_report: ReportFiles, tmp_path: Path) -> None:
    # plotly.js replaces a marker once nbconvert is done: a title (the evidence folder's name) that spells
    # the marker is still only a title.
    page = to_html(default_report.notebook, tmp_path / "report.html", title=f"{PLOTLY_JS_MARKER} <b>x</b>").read_text()
    head, body = page.split("</head>", 1)
    assert head.count(get_plotlyjs()) == 1 and get_plotlyjs()[:500] not in body and PLOTLY_JS_MARKER not in page
    assert f"<title>{html.escape(PLOTLY_JS_MARKER, quote=False)} &lt;b&gt;x&lt;/b&gt;</title>" in head


def test_report_leaves_the_interactive_explorer_out(default_report: ReportFiles) -> None:
    # The explorer's FigureWidget ships plotly's widget bundle (with CDN URLs in it) as widget state:
    # a headless run never executes that cell, so neither the notebook nor the page carries it.
    notebook = nbformat.read(default_report.notebook, as_version=4)
    assert not [cell for cell in notebook.cells if INTERACTIVE_TAG in cell.metadata.get("tags", [])]
    assert "widgets" not in notebook.metadata
    assert not [out for cell in notebook.cells for out in cell.get("outputs", [])
                if "application/vnd.jupyter.widget-view+json" in out.get("data", {})]
    page = default_report.html.read_text()
    assert "Explore interactively" not in page and "widget-view" not in page and "anywidget" not in page


def test_report_sections_in_order(default_report: ReportFiles) -> None:
    page = default_report.html.read_text()
    expected = SCENARIOS["permission-removed"].expected
    marks = [
        f"Flow log {expected.flow_log_id}: delivery to CloudWatch Logs",  # the title
        'class="ff-summary',
        "What happened, lane by lane",  # the timeline
        "The differential diagnosis",
        "The delivery verdict",
        "The proven fix",
        "The history replayed",
        "Appendix: the evidence",
        "Files and their SHA-256",
        "Load problems",
    ]
    positions = [page.find(mark) for mark in marks]
    assert -1 not in positions, [m for m, p in zip(marks, positions, strict=True) if p == -1]
    assert positions == sorted(positions)
    # What the diagnosis says is what the page shows: the trigger, every finding and every command.
    (entry,) = json.loads(default_report.results.read_text())["flow_logs"]
    shown = html.unescape(page)
    assert entry["trigger"]["event_id"] in shown
    for finding in entry["findings"]:
        assert finding["summary"] in shown
    for command in entry["remediation"]["commands"]:
        assert command in shown


def test_hostile_evidence_is_shown_as_text(hostile_report: ReportFiles, hostile: Path) -> None:
    page = hostile_report.html.read_text()
    for payload in (SCRIPT, IMG):
        assert payload not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown, escaped
    # The executed notebook's HTML outputs are escaped too.
    notebook = nbformat.read(hostile_report.notebook, as_version=4)
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            markup = output.get("data", {}).get("text/html", "")
            assert SCRIPT not in markup and IMG not in markup
    # And so are the widgets.
    widget = explorer(Investigation(flowforensics.load(hostile)))
    shown = [widget.findings.value, widget.diff.value] + [label for label, _ in widget.changes.options]
    assert widget.changes.options, "the hostile incident has policy changes to pick"
    assert not any(IMG in value for value in shown[:2]) and not any(SCRIPT in value for value in shown[:2])
    for trace in widget.figure.data:
        assert not any(SCRIPT in str(tip) or IMG in str(tip) for tip in (trace.hovertext or ()))


@pytest.mark.parametrize("name", ["trust-edited", "role-recreated", "flow-log-deleted", "no-cloudtrail"])
def test_investigate_runs_on_sample_incidents(name: str, scenario: Callable[[str], Path], tmp_path: Path) -> None:
    expected = SCENARIOS[name].expected
    results = tmp_path / "diagnosis.json"
    run_notebook(
        REPORT_NOTEBOOK,
        tmp_path / "out.ipynb",
        {"evidence": str(scenario(name)), "flow_log_id": expected.flow_log_id, "results_json": str(results)},
    )
    (entry,) = json.loads(results.read_text())["flow_logs"]
    assert entry["flow_log_id"] == expected.flow_log_id and entry["root_cause"] == expected.root_cause


def test_the_report_kernel_collects_garbage_in_batches(tmp_path: Path) -> None:
    # A report's kernel allocates a few million objects in seconds and keeps most of them: collecting
    # every 700 allocations spent a tenth of its time walking the same long-lived objects again.
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import gc\nprint(gc.get_threshold())")])
    notebook.metadata.kernelspec = nbformat.read(REPORT_NOTEBOOK, as_version=4).metadata.kernelspec
    nbformat.write(notebook, tmp_path / "gc.ipynb")
    executed = nbformat.read(run_notebook(tmp_path / "gc.ipynb", tmp_path / "gc.out.ipynb", {}), as_version=4)
    assert executed.cells[-1].outputs[0]["text"].strip() == str(KERNEL_GC_THRESHOLDS)


def _chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--window-size=1400,2400", "--virtual-time-budget=5000",
            # Networking off: every host unresolvable, every connection sent to a closed port.
            "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
            "--enable-logging=stderr", "--v=0", *extra, page.as_uri(),
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium (Debian's chromium package) is not installed")
def test_browser_renders_the_report_offline(hostile_report: ReportFiles, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "report.png"
    screenshot.unlink(missing_ok=True)
    netlog = tmp_path / "net.json"
    shot = _chromium(hostile_report.html, tmp_path / "profile-1", f"--screenshot={screenshot}", f"--log-net-log={netlog}")
    assert screenshot.is_file() and screenshot.stat().st_size > 50_000, shot.stderr[-2000:]
    console = [line for line in shot.stderr.splitlines() if ":CONSOLE" in line]
    assert not [line for line in console if re.search(r"error|uncaught|refused|failed", line, re.I)], console
    fetched = set(re.findall(r'"url":"(https?://[^/"]+)', netlog.read_text()))
    assert not [url for url in fetched if not url.endswith(CHROMIUM_OWN_HOSTS)], fetched
    dom = _chromium(hostile_report.html, tmp_path / "profile-2", "--dump-dom").stdout
    # The timeline was drawn by plotly.js: its SVG has the lanes' traces and the failure window shading.
    assert dom.count('class="trace scatter') >= 5
    for name in ("IAM", "Delivery", "Alarm: ALARM"):
        assert f'data-unformatted="{name}"' in dom, name
    assert "delivery failing" in dom
    # Nothing from the evidence ran: the <img onerror> would have marked the body.
    assert not re.search(r"<body[^>]*data-pwned", dom)
