"""The classroom widgets in the front ends people use: JupyterLab 4 and Notebook 7 (ipywidgets 8).

A Jupyter server starts on 127.0.0.1 with a token, its own config and
runtime folders, and ``LRCOURSE_QUICK=1`` (live plots on: nobody sets
``LRCOURSE_HEADLESS``). For each widget cell of chapters 2, 3, 7 and 12, a
notebook holding the chapter's setup cells, the cells the widget needs and
the widget cell itself (copied, not rewritten) runs in Debian's headless
Chromium, driven by Playwright. Then the test moves a slider and checks that
the picture and the text change, clicks each button and checks what the
button promises, and finds no console error, no error output and no "Error
displaying widget". The page may not leave localhost.

These checks see what the headless widget tests (test_widgets.py) cannot: the
front end snaps a value set from Python to the slider's step and sends it
back, and it drops updates to a display inside an ``Output`` widget.
Select or skip them with ``-m frontend`` / ``-m "not frontend"``; they are
skipped, with the reason, where Chromium or the servers are missing and the
test does not run as root (``make test`` installs both as root).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"
SCREENSHOTS = ROOT / "_build" / "screenshots" / "frontends"

pytestmark = pytest.mark.frontend

# Each widget cell: its chapter, the call that makes it, and the cells it needs besides the chapter's first
# two code cells (the Colab install and the imports with cfg and the data): a pattern of their code.
WIDGETS = {
    "playground": ("02_momentum", "momentum_playground()", []),
    "schedule explorer": ("03_schedules", "schedule_explorer(", []),
    "range test explorer": ("07_lr_finder", "range_test_explorer(", [r"^lenet_result = lr_range_test\("]),
    "stability explorer": ("12_stability", "stability_explorer()", []),
}
# (server command, the URL path that opens a notebook)
FRONTENDS = {
    "JupyterLab": ("jupyterlab", "lab", "lab/tree/{}"),
    "Notebook 7": ("notebook", "notebook", "notebooks/{}"),
}


def widget_notebook(chapter: str, call: str, needs: list[str]) -> dict:
    """The chapter's notebook cut down to its two setup cells, the cells ``needs`` matches and the widget cell."""
    nb = json.loads((CHAPTERS / f"{chapter}.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    source = lambda c: "".join(c["source"])  # noqa: E731
    widget = [c for c in code if call in source(c)]
    assert len(widget) == 1, f"{chapter}: {len(widget)} cells call {call}"
    keep = code[:2] + [c for c in code if any(re.search(p, source(c), re.M) for p in needs)] + widget
    order = {id(c): i for i, c in enumerate(code)}
    keep = sorted({id(c): c for c in keep}.values(), key=lambda c: order[id(c)])
    for pattern in needs:
        assert any(re.search(pattern, source(c), re.M) for c in keep), f"{chapter}: no cell matches {pattern!r}"
    cells = [dict(c, outputs=[], execution_count=None) for c in keep]
    return dict(nb, cells=cells)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _missing(what: str) -> None:
    """Skip with the reason; as root (make test, CI) a missing piece is a failure."""
    if os.geteuid() == 0:
        pytest.fail(what, pytrace=False)
    pytest.skip(what)


@pytest.fixture(scope="module", params=list(FRONTENDS))
def server(request, tmp_path_factory):
    """A Jupyter server of one front end: ``(name, base URL, token, its notebook folder, URL template)``."""
    name = request.param
    module, app, path = FRONTENDS[name]
    try:
        __import__(module)
    except ImportError:
        _missing(f"{module} is not installed: `make test` installs requirements/lock.txt")
    home = tmp_path_factory.mktemp(module)
    notebooks = home / "notebooks"
    notebooks.mkdir()
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, LRCOURSE_QUICK="1", JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), PYTHONUNBUFFERED="1")
    env.pop("LRCOURSE_HEADLESS", None)  # the live plot and the widgets behave as for a learner
    log = (home / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter", app, "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={notebooks}",
         "--ServerApp.port_retries=0", "--ServerApp.terminals_enabled=False", "--expose-app-in-browser",
         "--allow-root", "--LabApp.extension_manager=readonly", "--LabApp.news_url=None"],
        cwd=notebooks, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}api/status?token={token}", timeout=2):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"{name} did not start: {(home / 'server.log').read_text()[-2000:]}", pytrace=False)
            time.sleep(0.3)
    yield name, base, token, notebooks, path
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


# Wait until the kernel is idle and every code cell has run; say which cell failed if one did.
_RAN = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = panel.content.widgets.filter(c => c.model.type === 'code');
  const errors = cells.flatMap(c => c.model.sharedModel.outputs.filter(o => o.output_type === 'error')
      .map(o => `${o.ename}: ${o.evalue}`));
  if (errors.length) return {errors};
  const done = kernel && kernel.status === 'idle' && cells.length > 0
      && cells.every(c => c.model.executionCount !== null);
  return done ? {errors: []} : null;
}"""
_RUN_ALL = """async () => {
  const panel = window.jupyterapp.shell.currentWidget;
  await panel.sessionContext.ready;
  await window.jupyterapp.commands.execute('notebook:run-all-cells');
}"""
# How many pixels of an image are near a colour: a drawn curve has hundreds, a legend sample a few dozen.
_COLOUR_PIXELS = """([img, rgb]) => {
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d');
  g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4)
    if (Math.abs(d[i] - rgb[0]) + Math.abs(d[i + 1] - rgb[1]) + Math.abs(d[i + 2] - rgb[2]) < 60) n++;
  return n;
}"""
# Errors of the front ends themselves, thrown while the page loads, before any cell runs; each with its cause.
KNOWN_UPSTREAM_ERRORS = {
    # Notebook 7.6.5 with JupyterLab 4.6.6 installed beside it: loading the settings of a plugin whose schema
    # Notebook does not ship throws in notebook_core.js (the tree page logs "Settings failed to load for
    # (@jupyterlab/logconsole-extension:plugin)"). It happens with an empty notebook too.
    "Notebook 7": {"Cannot read properties of undefined (reading 'schema')"},
}
C0 = (31, 119, 180)  # matplotlib's first colour: the live plot's training-loss line


class Session:
    """One widget notebook open in one front end, run to its end; what the page reported."""

    def __init__(self, browser, server, widget: str):
        name, base, token, notebooks, path = server
        chapter, call, needs = WIDGETS[widget]
        file = f"{chapter}-{widget.replace(' ', '-')}.ipynb"
        (notebooks / file).write_text(json.dumps(widget_notebook(chapter, call, needs)))
        self.name, self.widget = name, widget
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = page = self.context.new_page()
        page.set_default_timeout(60_000)
        self.console, self.blocked = [], []
        page.on("console", lambda m: m.type == "error" and self.console.append(m.text))
        page.on("pageerror", lambda e: self.console.append(str(e)))
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(base)
                   else (self.blocked.append(r.request.url), r.abort()))
        self.base, self.token = base, token
        # "reset": JupyterLab opens this notebook alone, not the workspace a previous test left
        page.goto(f"{base}{path.format(file)}?token={token}&reset", wait_until="load")
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget "
                               "&& window.jupyterapp.shell.currentWidget.sessionContext", timeout=120_000)
        page.evaluate(_RUN_ALL)
        ran = page.wait_for_function(_RAN, timeout=300_000, polling=500).json_value()
        assert ran["errors"] == [], f"{name}: a cell failed: {ran['errors']}"
        self.view = page.locator(".jp-Cell").last.locator(".widget-vbox").first
        self.view.wait_for(state="visible")
        self.view.scroll_into_view_if_needed()

    def text(self) -> str:
        return self.view.locator(".widget-html").first.inner_text()

    def image(self) -> str:
        return self.view.locator(".widget-image").first.get_attribute("src")

    def wait_changed(self, read, before, what: str):
        deadline = time.monotonic() + 30
        while (now := read()) == before:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}, {self.widget}: {what} did not change")
            self.page.wait_for_timeout(200)
        return now

    def settle(self, read, quiet_ms: int = 1500):
        """Wait until ``read()`` stops changing (a redraw, a value sent back by the front end)."""
        last, since = read(), time.monotonic()
        while time.monotonic() - since < quiet_ms / 1000:
            self.page.wait_for_timeout(200)
            if (now := read()) != last:
                last, since = now, time.monotonic()
        return last

    def slider(self, index: int):
        """The handle of the ``index``-th slider of the widget (ipywidgets 8 draws them with noUiSlider)."""
        return self.view.locator(".widget-slider").nth(index).locator(".noUi-handle").first

    def move(self, index: int, value: str, what: str) -> tuple[str, str]:
        """Type ``value`` into slider ``index``'s readout and press Enter, as a reader may; the picture and
        then the text must change: ``(picture, text)``."""
        image, text = self.image(), self.text()
        self.view.locator(".widget-slider").nth(index).locator(".widget-readout").first.click()
        self.page.keyboard.press("Control+A")
        self.page.keyboard.type(value)
        self.page.keyboard.press("Enter")
        image = self.wait_changed(self.image, image, f"the picture after moving {what}")
        return image, self.wait_changed(self.text, text, f"the text after moving {what}")

    def shut_down_kernels(self):
        """End every session of the server (REST API), so the next notebook has the machine to itself."""
        def call(method, path):
            request = urllib.request.Request(f"{self.base}api/{path}", method=method,
                                             headers={"Authorization": f"token {self.token}"})
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"null")

        for session in call("GET", "sessions"):
            call("DELETE", f"sessions/{session['id']}")

    def close(self, shot: str):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=SCREENSHOTS / f"{shot}.png", full_page=True)
        text = self.page.locator("body").inner_text()
        self.context.close()
        self.shut_down_kernels()
        noise = [n for n in ("Error displaying widget", "Loading widget...") if n in text]
        assert noise == [], f"{self.name}, {self.widget}: {noise}"
        errors = [e for e in self.console if e not in KNOWN_UPSTREAM_ERRORS.get(self.name, ())]
        assert errors == [], f"{self.name}, {self.widget}: console errors {errors}"
        assert self.blocked == [], f"{self.name}, {self.widget}: requests outside localhost {self.blocked}"


def _slug(server, widget):
    return f"{server[0].replace(' ', '-').lower()}-{widget.replace(' ', '-')}"


def test_playground_sliders_redraw_and_buttons_land_on_the_promised_rate(browser, server):
    s = Session(browser, server, "playground")
    try:
        assert "κ = 50: rate ρ = 0.9800" in s.text()  # α = 1, β = 0
        _, text = s.move(1, "0.5", "β")
        assert "rate ρ = 0.9800" not in text and "κ = 50" in text
        for kappa in ("50", "1000"):
            if kappa == "1000":
                s.slider(2).press("End")  # κ to its largest value
                text = s.settle(s.text)
                assert "κ = 1000:" in text, text
            for button, which in (("best α, β", 1), ("best α (plain GD)", 0)):
                s.view.get_by_role("button", name=re.compile(re.escape(button))).click()
                # the front end snaps the values to the sliders' steps and sends them back: wait for the last redraw
                shown = s.settle(s.text)
                rate = float(re.search(r"rate ρ = ([\d.]+)", shown).group(1))
                exact = float(re.findall(r"[Bb]est (?:plain GD|momentum): ρ = ([\d.]+)", shown)[which])
                assert "diverges" not in shown, f"κ = {kappa}, {button}: {shown}"
                assert exact - 5e-5 <= rate <= exact + 0.003, \
                    f"κ = {kappa}, {button}: the text promises ρ = {exact}, the sliders give {rate}: {shown}"
                on_grid = re.findall(r"\(sliders: ([\d.]+)\)", shown)
                assert on_grid and float(on_grid[which]) == rate, shown
    finally:
        s.close(_slug(server, "playground"))


def test_schedule_explorer_redraws_and_its_train_button_draws_the_live_plot(browser, server):
    s = Session(browser, server, "schedule explorer")
    try:
        assert s.text().startswith("lr(0) = 0.2")  # cosine from 0.2
        _, text = s.move(0, "0.1", "base_lr")
        assert text.startswith("lr(0) = 0.1")
        button = s.view.get_by_role("button", name="train 10 epochs")
        assert button.evaluate("b => b.scrollWidth <= b.clientWidth"), "the button's label is cut off"
        button.click()
        s.view.get_by_text("test acc").wait_for(timeout=240_000)
        plots = s.view.locator("img").all()[1:]  # below the schedule's picture
        assert plots, "no live plot below the train button"
        plot = plots[-1]
        plot.wait_for(state="visible")
        pixels = plot.evaluate("img => img.complete && img.naturalWidth") and \
            s.page.evaluate(_COLOUR_PIXELS, [plot.element_handle(), C0])
        assert pixels > 300, f"the live plot shows no training curve ({pixels} pixels of its colour)"
    finally:
        s.close(_slug(server, "schedule explorer"))


def test_range_test_explorer_redraws_when_the_smoothing_or_the_rule_moves(browser, server):
    s = Session(browser, server, "range test explorer")
    try:
        assert s.text().startswith("valley at smooth = ")
        image, text = s.move(0, "0.5", "smooth")
        assert text.startswith("valley at smooth = 0.5")
        s.view.locator("select").first.select_option("steepest")
        s.wait_changed(s.image, image, "the picture after choosing another rule")
        assert s.wait_changed(s.text, text, "the text after choosing another rule").startswith("steepest at")
    finally:
        s.close(_slug(server, "range test explorer"))


def test_stability_explorer_redraws_when_the_rate_moves(browser, server):
    s = Session(browser, server, "stability explorer")
    try:
        assert s.text().startswith("η = 0.5, 2/η = 4: λ_max from 2.77")
        _, text = s.move(0, "0.3", "η")
        assert text.startswith("η = 0.3, 2/η = 6.67: λ_max from 2.77"), text
        _, text = s.move(0, "1.2", "η")
        assert text.startswith("η = 1.2, 2/η = 1.67") and "diverged after" in text, text
    finally:
        s.close(_slug(server, "stability explorer"))
