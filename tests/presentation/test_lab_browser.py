"""The explorer in a live JupyterLab: ``flowforensics lab``'s server, driven by Playwright with Debian's chromium.

The test starts JupyterLab as ``flowforensics lab`` would (working copies set to a sample incident, on
127.0.0.1, a token, no browser), opens ``investigate.ipynb``, runs every cell from the Run menu, clicks the
trigger's marker on the explorer's timeline (a plotly ``FigureWidget``) and checks that the diff below the
list of changes becomes the trigger's. Every wait is bounded and the server is stopped whatever happens.
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def lab(scenario: Callable[[str], Path], tmp_path: Path) -> Iterator[dict[str, Any]]:
    """JupyterLab as ``flowforensics lab EVIDENCE --workdir W --no-browser --port P -- ...`` starts it."""
    port, token = _free_port(), secrets.token_hex(16)
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


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium (Debian's chromium package) is not installed")
def test_clicking_an_iam_change_in_jupyterlab_shows_its_diff(lab: dict[str, Any]) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package (test extras) is not installed")
    assert "--allow-root" in lab["command"] or os.geteuid() != 0
    # What the explorer in the kernel will show for each change: the label of its diff, by event id.
    view = Explorer(open_investigation(lab["evidence"]))
    trigger = next(diff for diff in view._diffs if diff.event_id == EXPECTED.trigger_event_id)
    trigger_label = trigger.label
    changed = next(line for line in html.unescape(re.sub(r"<[^>]+>", "\n", trigger._repr_html_())).splitlines()
                   if line[:1] in "-+" and not line.startswith(("---", "+++")))
    assert trigger_label != view.changes.label, "the trigger must not be the change shown first"

    def browse() -> str:
        shown = ""
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
                plot = cell.locator(".js-plotly-plot")
                plot.wait_for()
                plot.scroll_into_view_if_needed()
                page.wait_for_function("s => s.options.length > 0", arg=cell.locator(".widget-select select").element_handle())
                page.wait_for_function(f"([gd, lane]) => ({MARKERS_JS})(gd, lane).length > 0",
                                       arg=[plot.element_handle(), CLICKABLE_LANE])

                markers = plot.evaluate(MARKERS_JS, CLICKABLE_LANE)
                assert EXPECTED.trigger_event_id in {m["id"] for m in markers}
                target = _isolated(markers, EXPECTED.trigger_event_id)
                assert target is not None, f"the trigger's marker is not alone under the mouse: {markers}"

                page.mouse.move(target["x"], target["y"])
                page.mouse.click(target["x"], target["y"])
                # The diff below the list follows the pick: the trigger's, where the first change's was shown.
                diff = cell.locator(".widget-html", has=page.locator("pre.ff-diff"))
                wanted, deadline = " ".join(trigger_label.split()), time.monotonic() + UI_STEP
                while wanted not in (shown := " ".join(diff.inner_text().split())):
                    assert time.monotonic() < deadline, f"the diff shown is not the trigger's {wanted!r}: {shown[:300]!r}"
                    time.sleep(0.25)
                shown = diff.inner_text()
                page.mouse.move(5, 5)  # the hover label off the figure, for the screenshot
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "lab-click.png"))
            except Exception:
                # What the page showed when a step failed, for whoever reads the failure.
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "lab-failure.png"))
                raise
            finally:
                browser.close()
        return shown

    # A thread of its own: Playwright's sync API refuses a thread whose asyncio loop runs (the kernel clients
    # of other tests in this worker may leave one), and the whole session is bounded there.
    with ThreadPoolExecutor(max_workers=1) as pool:
        shown = pool.submit(browse).result(timeout=SESSION)
    # The trigger's diff: the lines it changed in the trust policy.
    assert changed.strip() in shown
