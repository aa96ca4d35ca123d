"""The explorer in a live JupyterLab: ``flowforensics lab``'s server, driven by Playwright with Debian's chromium.

One session per module: JupyterLab started as ``flowforensics lab`` would (working copies set to a
sample incident, on 127.0.0.1, a token, no browser), ``investigate.ipynb`` opened and run from the Run
menu; then, as an analyst would, a click on the trigger's marker on the explorer's timeline (a plotly
``FigureWidget``), a pick of another change in the list of changes, and a mouse-drag zoom on the
timeline. What the page showed after each step is recorded once; the tests assert on it. Every wait is
bounded and the server is stopped whatever happens.
"""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from flowforensics.cli import parse_arguments
from flowforensics.cli.lab import prepare
from flowforensics.presentation.investigation import open_investigation
from flowforensics.presentation.widgets import CLICKABLE_LANE, Explorer
from flowforensics.scenarios import SCENARIOS

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = shutil.which("chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# The flags the browser tests run Chromium with: headless in a container, nothing fetched on its own.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run"]
# A sample incident whose trigger stands alone on the explorer's timeline: a click lands on it alone.
INCIDENT = "trust-edited"
EXPECTED = SCENARIOS[INCIDENT].expected
# Bounds of the waits (seconds): generous for a loaded machine, never unbounded.
SERVER_UP = 90
UI_STEP = 120
SESSION = 8 * UI_STEP
# The share of the timeline's width a drag zoom spans.
DRAGGED = 0.4
# A lab of its own: settings, workspaces and runtime files in the test's folder; no news toast over the page.
LAB_SETTINGS = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"}}
# The IAM markers of the explorer's figure, as the page has them: data index, event id, centre on screen.
MARKERS_JS = """(gd, lane) => {
    const index = gd.data.findIndex(t => t.legendgroup === lane && t.mode === 'markers');
    const group = [...gd.querySelectorAll('.scatterlayer .trace')].find(g => g.__data__[0].trace.index === index);
    // Not drawn yet: plotly draws the figure after the widget's view is attached.
    return [...(group ? group.querySelectorAll('path.point') : [])].map(p => {
        const box = p.getBoundingClientRect();
        return {i: p.__data__.i, id: gd.data[index].customdata[p.__data__.i],
                x: box.x + box.width / 2, y: box.y + box.height / 2, r: box.width / 2};
    });
}"""
# The IAM markers' trace: the points plotly.js has selected (the change highlighted), null for none.
PICKED_JS = """(gd, lane) => {
    const trace = gd.data.find(t => t.legendgroup === lane && t.mode === 'markers');
    return trace.selectedpoints === undefined ? null : [...trace.selectedpoints];
}"""
# What the figure draws: its x axis (range in ms, where its plot area lies on screen) and its traces.
AXIS_JS = """gd => {
    const xa = gd._fullLayout.xaxis, box = gd.querySelector('.main-svg').getBoundingClientRect();
    return {range: xa.range.map(v => xa.r2l(v)), type: xa.type, left: box.x + xa._offset, length: xa._length,
            top: box.y + gd._fullLayout.yaxis._offset, height: gd._fullLayout.yaxis._length,
            traces: gd.data.length, drawn: gd.querySelectorAll('.scatterlayer .trace').length,
            points: gd.querySelectorAll('.scatterlayer path.point').length};
}"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def lab(scenario: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """JupyterLab as ``flowforensics lab EVIDENCE --workdir W --no-browser --port P -- ...`` starts it."""
    port, token = _free_port(), secrets.token_hex(16)
    tmp_path = tmp_path_factory.mktemp("lab")
    evidence = scenario(INCIDENT)
    args = parse_arguments(["lab", str(evidence), "--workdir", str(tmp_path / "work"), "--no-browser",
                            "--port", str(port), "--", "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
                            "--ServerApp.port_retries=0", "--LabApp.news_url=None"])
    command, environment = prepare(args)
    for name, folder in {"JUPYTER_CONFIG_DIR": "config", "JUPYTER_RUNTIME_DIR": "runtime",
                         "JUPYTERLAB_SETTINGS_DIR": "settings", "JUPYTERLAB_WORKSPACES_DIR": "workspaces"}.items():
        environment[name] = str(tmp_path / folder)
    for relative, settings in LAB_SETTINGS.items():
        path = tmp_path / "settings" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    log = (tmp_path / "lab.log").open("w")
    # Its own process group: stopping it stops the kernels it started too.
    server = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + SERVER_UP
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start: {(tmp_path / 'lab.log').read_text()[-2000:]}")
                time.sleep(0.3)
        yield {"url": url, "token": token, "evidence": evidence, "command": command}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        log.close()


def _isolated(markers: list[dict[str, Any]], event_id: str) -> dict[str, Any] | None:
    """The marker of ``event_id`` if no other marker is under the mouse at its centre."""
    mine = next(m for m in markers if m["id"] == event_id)
    others = [m for m in markers if m is not mine]
    clear = all(abs(m["x"] - mine["x"]) > m["r"] + mine["r"] + 2 or abs(m["y"] - mine["y"]) > 2 * mine["r"] for m in others)
    return mine if clear else None


def _wait_for_text(locator: Any, wanted: str) -> str:
    """The locator's text once ``wanted`` is in it (spaces normalised); fails after UI_STEP seconds."""
    wanted, deadline = " ".join(wanted.split()), time.monotonic() + UI_STEP
    while wanted not in (shown := " ".join(locator.inner_text().split())):
        assert time.monotonic() < deadline, f"{wanted!r} never shown: {shown[:300]!r}"
        time.sleep(0.25)
    return locator.inner_text()


@pytest.fixture(scope="module")
def session(lab: dict[str, Any]) -> dict[str, Any]:
    """What the explorer showed after a click on the trigger, a pick in the list and a drag zoom."""
    if CHROMIUM is None:
        pytest.skip("headless Chromium (Debian's chromium package) is not installed")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package (test extras) is not installed")
    # What the explorer in the kernel shows: its changes in the list's order, by event id.
    view = Explorer(open_investigation(lab["evidence"]))
    diffs = view._diffs
    trigger = next(i for i, diff in enumerate(diffs) if diff.event_id == EXPECTED.trigger_event_id)
    other = next(i for i, diff in enumerate(diffs) if i != trigger)
    seen: dict[str, Any] = {"diffs": diffs, "trigger": trigger, "other": other}

    def browse() -> None:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(UI_STEP * 1000)
                page.goto(f"{lab['url']}/lab/tree/investigate.ipynb?token={lab['token']}")
                # The kernel first: Run All before it is up makes JupyterLab ask which kernel to start.
                page.get_by_text("Python 3 (ipykernel) | Idle").wait_for()
                page.get_by_role("menuitem", name="Run", exact=True).click()
                page.locator("li[data-command='runmenu:run-all']").click()
                cell = page.locator(".jp-CodeCell", has_text="widgets.explorer(case)")
                plot, select = cell.locator(".js-plotly-plot"), cell.locator(".widget-select select")
                plot.wait_for()
                plot.scroll_into_view_if_needed()
                page.wait_for_function("s => s.options.length > 0", arg=select.element_handle())
                lane = [plot.element_handle(), CLICKABLE_LANE]
                try:
                    page.wait_for_function(f"([gd, lane]) => ({MARKERS_JS})(gd, lane).length > 0", arg=lane)
                except sync_api.TimeoutError:
                    drawn = plot.evaluate("gd => ({traces: gd.data.length, layout: JSON.stringify(gd.layout)})")
                    raise AssertionError(f"the explorer's figure was drawn without its IAM markers: {drawn}") from None
                diff = cell.locator(".widget-html", has=page.locator("pre.ff-diff"))

                # 1. A click on the trigger's marker.
                markers = plot.evaluate(MARKERS_JS, CLICKABLE_LANE)
                seen["markers"] = markers
                target = _isolated(markers, EXPECTED.trigger_event_id)
                assert target is not None, f"the trigger's marker is not alone under the mouse: {markers}"
                page.mouse.move(target["x"], target["y"])
                page.mouse.click(target["x"], target["y"])
                seen["clicked_diff"] = _wait_for_text(diff, diffs[trigger].label)
                page.wait_for_function(f"s => s.selectedIndex === {trigger}", arg=select.element_handle())
                seen["clicked_select"] = select.evaluate("s => [s.selectedIndex, s.options[s.selectedIndex].text]")
                page.wait_for_function(f"([gd, lane]) => JSON.stringify(({PICKED_JS})(gd, lane)) === '[{target['i']}]'",
                                       arg=lane)
                seen["clicked_markers"] = plot.evaluate(MARKERS_JS, CLICKABLE_LANE)
                page.mouse.move(5, 5)  # the hover label off the figure, for the screenshot
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "lab-click.png"))

                # 2. Another change picked in the list: its diff, its marker highlighted.
                select.select_option(index=other)
                seen["listed_diff"] = _wait_for_text(diff, diffs[other].label)
                point = next(m["i"] for m in markers if m["id"] == diffs[other].event_id)
                page.wait_for_function(f"([gd, lane]) => JSON.stringify(({PICKED_JS})(gd, lane)) === '[{point}]'", arg=lane)
                seen["listed_point"] = point
                seen["listed_markers"] = plot.evaluate(MARKERS_JS, CLICKABLE_LANE)

                # 3. A mouse-drag zoom across the first changes, as far right as DRAGGED of the width.
                before = plot.evaluate(AXIS_JS)
                x0 = max(before["left"] + 2, min(m["x"] for m in markers) - 20)
                x1 = x0 + DRAGGED * before["length"]
                y = before["top"] + before["height"] / 2
                page.mouse.move(x0, y)
                page.mouse.down()
                page.mouse.move(x1, y, steps=8)
                page.mouse.up()
                page.wait_for_function(f"gd => ({AXIS_JS})(gd).range[0] !== {before['range'][0]}", arg=plot.element_handle())
                page.wait_for_timeout(2000)  # what the kernel sends back after the relayout has arrived
                low, high = before["range"]
                per_pixel = (high - low) / before["length"]
                seen["zoom"] = {"before": before, "after": plot.evaluate(AXIS_JS), "per_pixel": per_pixel,
                                "dragged": [low + (x0 - before["left"]) * per_pixel, low + (x1 - before["left"]) * per_pixel]}
                page.screenshot(path=str(ARTIFACTS / "lab-zoom.png"))
            except Exception:
                # What the page showed when a step failed, for whoever reads the failure.
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "lab-failure.png"))
                raise
            finally:
                browser.close()

    # A thread of its own: Playwright's sync API refuses a thread whose asyncio loop runs (the kernel clients
    # of other tests in this worker may leave one), and the whole session is bounded there.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(browse).result(timeout=SESSION)
    return seen


def _changed_line(diff: Any) -> str:
    """The first line a change's diff adds or removes."""
    return next(line for line in html.unescape(re.sub(r"<[^>]+>", "\n", diff._repr_html_())).splitlines()
                if line[:1] in "-+" and not line.startswith(("---", "+++"))).strip()


def _highlighted(markers: list[dict[str, Any]]) -> list[int]:
    """The markers drawn larger than the others (the change picked)."""
    smallest = min(m["r"] for m in markers)
    return [m["i"] for m in markers if m["r"] > smallest + 1]


def test_clicking_an_iam_change_in_jupyterlab_shows_its_diff(lab: dict[str, Any], session: dict[str, Any]) -> None:
    assert "--allow-root" in lab["command"] or os.geteuid() != 0
    trigger = session["diffs"][session["trigger"]]
    assert session["trigger"] != 0, "the trigger must not be the change shown first"
    # The diff below the list is the trigger's: the lines it changed in the trust policy.
    assert _changed_line(trigger) in session["clicked_diff"]
    # The list follows the click: the trigger is the option selected.
    index, label = session["clicked_select"]
    assert index == session["trigger"] and label.split() == trigger.label.split()
    # On the timeline, the trigger's marker is the one highlighted, the other changes dimmed.
    (marker,) = [m for m in session["markers"] if m["id"] == trigger.event_id]
    assert _highlighted(session["clicked_markers"]) == [marker["i"]]
    assert (ARTIFACTS / "lab-click.png").stat().st_size > 50_000


def test_a_change_picked_in_the_list_moves_the_highlight(session: dict[str, Any]) -> None:
    other = session["diffs"][session["other"]]
    assert _changed_line(other) in session["listed_diff"]
    assert _highlighted(session["listed_markers"]) == [session["listed_point"]]


def test_a_drag_zoom_keeps_the_timeline_drawn_on_the_dragged_range(session: dict[str, Any]) -> None:
    zoom = session["zoom"]
    before, after = zoom["before"], zoom["after"]
    # Still a time axis with every trace drawn (a blank figure has a -1..6 linear axis and none).
    assert after["type"] == "date" and after["traces"] == before["traces"] > 0
    assert after["drawn"] == before["drawn"] and after["points"] > 0
    # The axis spans what was dragged, to a pixel.
    for shown, dragged in zip(after["range"], zoom["dragged"], strict=True):
        assert abs(shown - dragged) <= 2 * zoom["per_pixel"]
