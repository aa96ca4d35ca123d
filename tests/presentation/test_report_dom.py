"""Every sample incident's report, read as an incident commander reads it: the DOM in headless Chromium.

The reports are rendered once per session, each as a user gets it: ``flowforensics report EVIDENCE``
(argument checks, papermill and a kernel, nbconvert), two at a time. Playwright drives Debian's
chromium (``executable_path``); nothing is downloaded. Screenshots of full pages go to
``test-artifacts/``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from flowforensics.cli import main
from flowforensics.presentation.summary import STATE_WORDS
from flowforensics.scenarios import DEFAULT_SCENARIO, SCENARIOS

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = shutil.which("chromium")
# Full-page screenshots: the default incident, one still failing, the alarm flap.
SCREENSHOTS = (DEFAULT_SCENARIO, "trust-edited", "healthy")
WIDTHS = (1400, 800)
# Reports rendered at once (a kernel each).
REPORTS_AT_ONCE = 2
# Words that mean a missing value leaked into the page as Python or pandas spells it.
LEAKED_MISSING = re.compile(r"(?<![\w-])(None|NaT|nan|<NA>)(?![\w-])")
# What every element of a table or a code block must not do: break a word anywhere ("confirme/d").
BREAKING_STYLES = """() => [...document.querySelectorAll('.ff-table td, .ff-table th, pre, .ff-summary td')]
  .map(e => getComputedStyle(e)).filter(s => s.overflowWrap === 'anywhere' || s.wordBreak === 'break-all'
  || s.wordBreak === 'break-word').length"""
UNBOXED_TABLES = """() => [...document.querySelectorAll('table.ff-table')]
  .filter(t => getComputedStyle(t.parentElement).overflowX !== 'auto').length"""
FIGURES = """() => [...document.querySelectorAll('.js-plotly-plot')].map(g => ({
  title: (g.layout.title && g.layout.title.text) || '', range: g.layout.xaxis.range || null,
  traces: g.data.map(t => ({name: t.name, mode: t.mode, x: t.x, text: t.text || null})),
  svgText: [...g.querySelectorAll('text')].map(e => e.textContent)}))"""
# What of the timeline a reader cannot read: labels of marks cut off at the plot area's sides, and a title
# drawn over the legend.
CUT_OFF = """() => {
  const gd = [...document.querySelectorAll('.js-plotly-plot')].find(g => ((g.layout.title && g.layout.title.text) || '')
    .startsWith('What happened'));
  const svg = gd.querySelector('.main-svg').getBoundingClientRect(), xa = gd._fullLayout.xaxis;
  const left = svg.x + xa._offset, right = left + xa._length;
  const cut = [...gd.querySelectorAll('.scatterlayer text, .annotation text')].filter(t => t.textContent)
    .filter(t => { const b = t.getBoundingClientRect(); return b.left < left - 1 || b.right > right + 1; })
    .map(t => t.textContent);
  const box = e => e.getBoundingClientRect(), title = box(gd.querySelector('.gtitle')), legend = box(gd.querySelector('.legend'));
  const overlap = !(title.right < legend.left || legend.right < title.left || title.bottom < legend.top
    || legend.bottom < title.top);
  return {cut, titleOverLegend: overlap};
}"""


def report(evidence: Path, out: Path) -> Path:
    """The report ``flowforensics report EVIDENCE --out OUT`` writes (its page to open), as a user runs it."""
    status = main(["report", str(evidence), "--out", str(out)])
    assert status == 0, f"flowforensics report {evidence.name} exited {status}"
    # Several flow logs: an index page and a report each; the one checked is the first reported.
    return out / "report.html" if (out / "report.html").is_file() else sorted(out.glob("*/report.html"))[0]


@pytest.fixture(scope="session")
def reports(scenario: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """Every sample incident's report through ``flowforensics report``: name -> (report.html, its evidence)."""
    evidence = {name: scenario(name) for name in SCENARIOS}
    outs = {name: tmp_path_factory.mktemp(f"dom-{name}") / "report" for name in SCENARIOS}
    # A kernel each: two at a time keep both cores busy (each report waits on its kernel most of the time).
    with ThreadPoolExecutor(max_workers=REPORTS_AT_ONCE) as pool:
        pages = dict(zip(SCENARIOS, pool.map(lambda name: report(evidence[name], outs[name]), SCENARIOS), strict=True))
    return {name: (pages[name], evidence[name]) for name in SCENARIOS}


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("headless Chromium (Debian's chromium package) is not installed")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright (the test extra) is not installed")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", "--host-resolver-rules=MAP * ~NOTFOUND"],
        )
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def pages(reports: dict[str, tuple[Path, Path]], browser: Any) -> dict[str, dict[str, Any]]:
    """What each report's page shows once plotly.js has drawn it, read once per session."""
    read: dict[str, dict[str, Any]] = {}
    ARTIFACTS.mkdir(exist_ok=True)
    for name, (html, _evidence) in reports.items():
        page = browser.new_page(viewport={"width": WIDTHS[0], "height": 1000})
        dialogs: list[str] = []
        page.on("dialog", lambda dialog, seen=dialogs: (seen.append(dialog.message), dialog.dismiss()))
        page.goto(html.as_uri(), wait_until="load")
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 2")
        read[name] = {
            "text": page.inner_text("body"),
            "state": page.inner_text(".ff-state-word"),
            "summary": page.inner_text(".ff-summary"),
            "fix": page.inner_text(".ff-summary pre.ff-fix") if page.query_selector(".ff-summary pre.ff-fix") else None,
            "no_fix": page.inner_text(".ff-no-fix") if page.query_selector(".ff-no-fix") else None,
            "breaking": page.evaluate(BREAKING_STYLES),
            "unboxed": page.evaluate(UNBOXED_TABLES),
            "figures": page.evaluate(FIGURES),
            "pwned": page.evaluate("() => document.body.hasAttribute('data-pwned')"),
            "dialogs": dialogs,
        }
        if name in SCREENSHOTS:
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 1000})
                page.wait_for_timeout(150)  # plotly's responsive figures redraw at the new width
                read[name][f"unreadable-{width}"] = page.evaluate(CUT_OFF)
                if width == WIDTHS[-1]:
                    # Narrow: the page itself does not scroll sideways; wide tables scroll in their box.
                    read[name]["overflow"] = page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
                    # nor does the summary card's content run past its border (an ARN widened its table)
                    read[name]["card_overflow"] = page.evaluate(
                        "() => { const card = document.querySelector('.ff-summary'); return card.scrollWidth - card.clientWidth }")
                page.screenshot(path=str(ARTIFACTS / f"report-{name}-{width}.png"), full_page=True)
        page.close()
    return read


def _timeline(page: dict[str, Any]) -> dict[str, Any]:
    return next(figure for figure in page["figures"] if figure["title"].startswith("What happened"))


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_first_screen_tells_the_story(name: str, pages: dict[str, dict[str, Any]]) -> None:
    expected = SCENARIOS[name].expected
    page = pages[name]
    assert page["state"].lower() == STATE_WORDS[expected.state][0]
    assert expected.root_cause in page["summary"]
    if expected.trigger_event_id:
        assert expected.trigger_event_id in page["summary"] and "Who and when" in page["summary"]
    # The fix, or which of the two reasons there is none.
    if page["fix"] is not None:
        assert page["fix"].startswith("aws ")
    else:
        assert re.match(r"(recovered|healthy), no fix needed|no fix could be proven because \w", page["no_fix"])
        assert (expected.state in ("recovered", "healthy")) == ("no fix needed" in page["no_fix"])
    if expected.state == "recovered":
        assert "SUCCESS: AWS reports delivery working again; the cause above is what had stopped it" in page["summary"]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_timeline_labels_what_print_cannot_hover(name: str, pages: dict[str, dict[str, Any]]) -> None:
    expected = SCENARIOS[name].expected
    timeline = _timeline(pages[name])
    labels = " ".join(timeline["svgText"])
    if expected.trigger_event_id:
        assert "trigger: " in labels and "trigger: the change that broke delivery" in labels  # on the figure, in the legend
    if expected.recovery_event_id:
        assert "recovery: " in labels
    # Every mark has a name in the legend that says what it is (never a bare lane label).
    names = {trace["name"] for trace in timeline["traces"]}
    assert not names & {"IAM", "Delivery", "Alarm", "Flow log", "Log group"}
    assert any(figure["title"] == "The whole evidence window" for figure in pages[name]["figures"])


def test_an_ongoing_failure_is_a_bar_to_the_end_of_the_evidence(pages: dict[str, dict[str, Any]]) -> None:
    (failed,) = [t for t in _timeline(pages["trust-edited"])["traces"] if t["name"] == "Delivery: failure observed"]
    assert failed["mode"] == "lines" and failed["x"][1].startswith("2024-03-05T12:00")  # collected at noon
    assert "delivery failing, still at the end of the evidence" in " ".join(_timeline(pages["trust-edited"])["svgText"])


def test_healthy_shows_the_ten_minute_alarm_flap(pages: dict[str, dict[str, Any]]) -> None:
    import pandas as pd

    low, high = (pd.Timestamp(moment) for moment in _timeline(pages["healthy"])["range"])
    assert high - low < pd.Timedelta(hours=1)  # not seven weeks
    traces = {t["name"] for t in _timeline(pages["healthy"])["traces"]}
    assert {"Delivery: alarm only, no failure observed", "Alarm: ALARM", "Alarm: OK"} <= traces
    said = pages["healthy"]["summary"]
    assert "the alarm alone said delivery failed from 2024-03-20 04:51:10 UTC" in said and "not a delivery failure" in said


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_tables_fit_and_say_nothing_of_the_analysts_machine(
    name: str, pages: dict[str, dict[str, Any]], reports: dict[str, tuple[Path, Path]]
) -> None:
    page = pages[name]
    _html, evidence = reports[name]
    assert str(evidence) not in page["text"] and str(evidence.parent) not in page["text"]
    assert not LEAKED_MISSING.findall(page["text"]), LEAKED_MISSING.findall(page["text"])[:5]
    assert page["breaking"] == 0 and page["unboxed"] == 0
    assert "A new role id under the same name means" not in page["text"]  # generic prose is not a finding
    assert not page["pwned"] and not page["dialogs"]


def test_the_actor_section_marks_impairing_actions(pages: dict[str, dict[str, Any]]) -> None:
    text = pages["flow-log-deleted"]["text"]
    assert "What else did they do?" in text and "T1562.008 impairs logging" in text
    lanes = " ".join(_timeline(pages["flow-log-deleted"])["svgText"])
    assert "trigger's actor: " in lanes


def test_screenshots_at_two_widths(pages: dict[str, dict[str, Any]]) -> None:
    for name in SCREENSHOTS:
        assert pages[name]["overflow"] <= 0, f"{name}: the page scrolls sideways at {WIDTHS[-1]} px"
        assert pages[name]["card_overflow"] <= 0, f"{name}: the summary card's content runs past it at {WIDTHS[-1]} px"
        for width in WIDTHS:
            shot = ARTIFACTS / f"report-{name}-{width}.png"
            assert shot.is_file() and shot.stat().st_size > 50_000


def test_the_timeline_labels_are_read_whole_at_both_widths(pages: dict[str, dict[str, Any]]) -> None:
    unreadable = {(name, width): pages[name][f"unreadable-{width}"] for name in SCREENSHOTS for width in WIDTHS}
    assert all(not seen["cut"] and not seen["titleOverLegend"] for seen in unreadable.values()), unreadable
