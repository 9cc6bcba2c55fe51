"""The rendered book in a real browser: Debian's headless Chromium, driven by Playwright.

The site under test is the quick build (``make site-quick`` writes it to
``_build/quick/_build/html``; ``LRCOURSE_SITE`` points the test at another
build, e.g. the full one in ``_build/html``). It is served on localhost and
every page of ``_toc.yml`` is opened once; the checks below read what that
visit collected: no errors, links and images that resolve, a figure, the
Colab and download links, no widget noise, every formula typeset by the
book's own MathJax, and no request outside localhost. Requests that leave localhost are blocked, so the test gives
the same answer with or without a network; the pages that ask for outside
resources are listed at the end of the run. Full-page screenshots, light and
dark, go to ``_build/screenshots``. Select or skip these tests with
``-m browser`` / ``-m "not browser"``.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import threading
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("LRCOURSE_SITE", ROOT / "_build" / "quick" / "_build" / "html"))
SCREENSHOTS = ROOT / "_build" / "screenshots"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())

# Console errors that come from the pinned Sphinx stack, not from the book, each with its cause.
KNOWN_UPSTREAM_ERRORS = {
    # Sphinx 7.4 writes sphinx-thebe's inline config script twice; its second
    # `const THEBE_JS_URL` throws. Harmless: the book has no Thebe button.
    "Identifier 'THEBE_JS_URL' has already been declared",
}
# Visible text that means a widget or a progress bar did not render as intended.
WIDGET_NOISE = [
    "Error displaying widget",
    "application/vnd.jupyter.widget-view+json",
    "application/vnd.jupyter.widget-state+json",
    "model_id",
    "Loading widget",
    "HBox(children=",
    "FloatProgress(",
    "IntProgress(",
    "IProgress not found",
]

pytestmark = pytest.mark.browser


def toc_files(toc: dict) -> list[str]:
    """The toc's root, then every ``file:`` entry in reading order (parts, chapters, sections)."""
    files = [toc["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            for key in ("parts", "chapters", "sections"):
                walk(entry.get(key, []))

    walk([{key: toc.get(key, []) for key in ("parts", "chapters", "sections")}])
    return files


PAGES = toc_files(yaml.safe_load((ROOT / "_toc.yml").read_text()))
CHAPTERS = [p for p in PAGES if (ROOT / f"{p}.ipynb").exists()]


def colab_url(notebook: str) -> str:
    """Where the launch button must send a reader: the repository of _config.yml, this notebook."""
    repo = CONFIG["repository"]
    slug = urlsplit(repo["url"]).path.strip("/")
    path = "/".join(p for p in (repo.get("path_to_book", "").strip("/"), notebook) if p)
    return f"{CONFIG['launch_buttons']['colab_url']}/github/{slug}/blob/{repo['branch']}/{path}"


# --- the site, the server, the browser ---------------------------------------------------------


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # the browser drops connections it no longer needs (favicon, aborted loads)


@pytest.fixture(scope="session")
def site() -> Path:
    if not (SITE / f"{PAGES[0]}.html").is_file():
        pytest.fail(f"no built book in {SITE}: build the quick site first with `make site-quick` "
                    "(or set LRCOURSE_SITE to a built site's html folder)", pytrace=False)
    return SITE


@pytest.fixture(scope="session")
def base_url(site):
    server = _Server(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def new_page(browser, base_url):
    """``new_page()``: a page in a fresh context, 1280 px wide, that never leaves localhost.

    ``page.blocked`` lists the outside URLs it asked for; close it with ``page.context.close()``.
    """

    def make(**context_options):
        context = browser.new_context(viewport={"width": 1280, "height": 900}, **context_options)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.blocked = []

        def route(r):
            if r.request.url.startswith(base_url):
                r.continue_()
            else:
                page.blocked.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        return page

    yield make
    for context in browser.contexts:
        context.close()


# --- one visit per page --------------------------------------------------------------------------

_LOAD_IMAGES = """async () => {
  for (const img of document.images) img.loading = 'eager';
  await Promise.all([...document.images].map(img => img.complete ? null :
      new Promise(done => { img.addEventListener('load', done); img.addEventListener('error', done); })));
}"""

_COLLECT = """() => ({
  links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  brokenImages: [...document.images].filter(img => !img.complete || img.naturalWidth === 0)
      .map(img => img.getAttribute('src') ? img.getAttribute('src').slice(0, 100) : `<img id=${img.id} without src>`),
  figures: [...document.querySelectorAll('.cell_output img')]
      .filter(img => /\\.png$|^data:image\\/png/.test(img.getAttribute('src') || '') && img.naturalWidth > 0)
      .map(img => img.getAttribute('src').slice(0, 100)),
  colab: [...document.querySelectorAll('a[href*="colab.research.google.com"]')].map(a => a.href),
  downloads: [...document.querySelectorAll('a.btn-download-source-button')].map(a => a.href),
  widgetViews: document.querySelectorAll(
      '.cell_output script[type="application/vnd.jupyter.widget-view+json"]').length,
  text: document.body.innerText,
  // Sphinx writes each formula into an element of class "math"; MathJax puts its output beside it
  formulas: document.querySelectorAll('.math').length,
  typeset: document.querySelectorAll('.math mjx-container, mjx-container.MathJax').length,
  mathErrors: [...document.querySelectorAll('mjx-merror')].map(e => e.getAttribute('data-mjx-error') || e.textContent),
  mathjax: [...document.scripts].map(s => s.getAttribute('src') || '').filter(src => /mathjax/i.test(src)),
})"""

# MathJax typesets after the load event; its startup promise resolves when the page is done.
_TYPESET = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
}"""


@pytest.fixture(scope="session")
def screenshot(browser_report):
    """``screenshot(name, kind="")``: the path for page ``name``'s screenshot (``kind``: a subfolder).

    The folder is emptied once per session, so what it holds is this run's pictures.
    """
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)

    def path(name: str, kind: str = "") -> Path:
        target = SCREENSHOTS / kind / f"{name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        browser_report["screenshots"].append(target)
        return target

    return path


@pytest.fixture(scope="session")
def visit(new_page, base_url, screenshot, browser_report):
    """``visit(name)``: what opening ``name.html`` showed; each page is opened once per session."""
    seen: dict[str, dict] = {}

    def run(name):
        if name in seen:
            return seen[name]
        page = new_page()
        console, errors = [], []
        page.on("console", lambda m: m.type == "error" and console.append((m.text, m.location.get("url"))))
        page.on("pageerror", lambda e: errors.append(str(e)))
        response = page.goto(f"{base_url}{name}.html", wait_until="load")
        if response.status != 200:
            page.context.close()
            pytest.fail(f"{name}.html: HTTP {response.status} (is it in the built site {SITE}?)",
                        pytrace=False)
        page.evaluate(_LOAD_IMAGES)
        page.evaluate(_TYPESET)
        found = page.evaluate(_COLLECT)
        page.screenshot(path=screenshot(name), full_page=True)
        blocked = list(dict.fromkeys(page.blocked))
        page.context.close()
        found.update(
            blocked=blocked,
            # a blocked outside resource fails to load: listed apart, not counted as an error
            console=[f"{text} ({url})" for text, url in console if url not in blocked],
            errors=[e for e in errors if not any(k in e for k in KNOWN_UPSTREAM_ERRORS)],
        )
        if blocked:
            browser_report["blocked"][name] = blocked
        seen[name] = found
        return found

    return run


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key == "id" or (tag == "a" and key == "name"):
                self.ids.add(value)


@functools.cache
def fetch(url: str) -> tuple[int, frozenset[str], bytes]:
    """(HTTP status, the element ids of an HTML page, the body) of a local URL."""
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            status, body, kind = r.status, r.read(), r.headers.get_content_type()
    except urllib.error.HTTPError as e:
        return e.code, frozenset(), b""
    ids = _Ids()
    if kind == "text/html":
        ids.feed(body.decode("utf-8", "replace"))
    return status, frozenset(ids.ids), body


# --- the checks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PAGES)
def test_page_loads_without_errors(visit, name):
    found = visit(name)  # fails unless HTTP 200
    assert found["errors"] == [], f"uncaught JavaScript errors: {found['errors']}"
    assert found["console"] == [], f"console errors: {found['console']}"


@pytest.mark.parametrize("name", PAGES)
def test_no_request_leaves_localhost(visit, name):
    """Scripts, styles, fonts, MathJax and data all come from the book's own files."""
    assert visit(name)["blocked"] == []


def source_formulas(notebook: Path) -> int:
    """How many ``$...$`` and ``$$...$$`` formulas the markdown cells of ``notebook`` hold (code aside)."""
    import re

    count = 0
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] == "markdown":
            text = re.sub(r"```.*?```|`[^`\n]*`", "", "".join(cell["source"]), flags=re.S)
            count += len(re.findall(r"\$\$.+?\$\$|\$[^$\n]+\$", text, flags=re.S))
    return count


@pytest.mark.parametrize("name", CHAPTERS)
def test_formulas_are_typeset_by_the_books_own_mathjax(visit, name):
    found = visit(name)
    expected = source_formulas(ROOT / f"{name}.ipynb")
    assert expected > 0, f"{name}.ipynb has no formula in $...$"
    assert found["formulas"] == expected, "the page does not hold one math element per formula"
    assert found["typeset"] == found["formulas"], "MathJax did not typeset every formula"
    assert found["mathErrors"] == [] and "Math input error" not in found["text"]
    assert found["mathjax"] and all(not src.startswith(("http:", "https:", "//")) for src in found["mathjax"]), \
        f"MathJax must come from the book's own files, got {found['mathjax']}"


@pytest.mark.parametrize("name", PAGES)
def test_internal_links_resolve(visit, base_url, name):
    broken = []
    for link in dict.fromkeys(visit(name)["links"]):
        if not link.startswith(base_url):
            continue
        url, fragment = urldefrag(link)
        status, ids, _ = fetch(url)
        if status != 200:
            broken.append(f"{link}: HTTP {status}")
        elif fragment and unquote(fragment) not in ids:
            broken.append(f"{link}: no element with id {unquote(fragment)!r}")
    assert broken == []


@pytest.mark.parametrize("name", PAGES)
def test_images_load(visit, name):
    assert visit(name)["brokenImages"] == []


@pytest.mark.parametrize("name", PAGES)
def test_no_widget_or_progress_bar_noise(visit, name):
    found = visit(name)
    assert [noise for noise in WIDGET_NOISE if noise in found["text"]] == [], "widget noise in the text"
    # a live widget (a tqdm.auto bar in a notebook, an explorer) has nothing to show on a static page
    assert found["widgetViews"] == 0, "widget outputs on the page: they need a kernel"


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_shows_a_figure(visit, name):
    assert visit(name)["figures"], "no PNG figure in the cell outputs"


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_has_colab_and_download_links(visit, name):
    found = visit(name)
    assert colab_url(f"{name}.ipynb") in found["colab"]
    notebooks = [u for u in found["downloads"] if u.endswith(f"/{name}.ipynb")]
    assert notebooks, f"no download button for {name}.ipynb (found {found['downloads']})"
    status, _, body = fetch(notebooks[0])
    assert status == 200 and "cells" in json.loads(body)


def test_momentum_animation_responds_to_its_slider(new_page, base_url, screenshot):
    name = "chapters/02_momentum"
    page = new_page()
    page.goto(f"{base_url}{name}.html", wait_until="load")
    animation = page.locator("div.animation")
    assert animation.count() == 1, "chapter 2 should hold one matplotlib animation"
    frame, slider = animation.locator("img"), animation.locator("input.anim-slider")
    last = int(slider.get_attribute("max"))
    assert last >= 2, "the animation has hardly any frames"
    first_src = frame.get_attribute("src")
    slider.fill(str(last // 2))  # moves the range input and fires its input event, as a drag does
    middle_src = frame.get_attribute("src")
    assert middle_src != first_src, "moving the slider did not change the frame"
    assert frame.evaluate("img => img.complete && img.naturalWidth > 0")
    slider.fill("0")
    assert frame.get_attribute("src") == first_src
    animation.scroll_into_view_if_needed()
    slider.fill(str(last // 2))
    animation.screenshot(path=screenshot(f"{name}-animation-frame-{last // 2}"))
    page.context.close()


_OPAQUE = """imgs => imgs.filter(img => img.naturalWidth > 0).map(img => {
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d');
  g.drawImage(img, 0, 0);
  const data = g.getImageData(0, 0, c.width, c.height).data;
  let transparent = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] < 255) transparent++;
  return [img.getAttribute('src').slice(0, 100), transparent / (data.length / 4)];
})"""


# The colour MathJax draws each formula in, as [r, g, b] (its glyphs take the text colour).
_FORMULA_COLOURS = """els => els.map(el => {
  const c = getComputedStyle(el).color;
  return c.slice(c.indexOf('(') + 1, -1).split(',').slice(0, 3).map(Number);
})"""


def _rgb(css: str) -> list[int]:
    return [int(float(v)) for v in css[css.index("(") + 1:-1].split(",")[:3]]


@pytest.mark.parametrize("name", CHAPTERS)
def test_dark_mode_keeps_figures_and_formulas_readable(new_page, base_url, screenshot, name):
    """Every pixel of every figure is opaque, and every formula is drawn in a light colour."""
    page = new_page(color_scheme="dark")
    page.goto(f"{base_url}{name}.html", wait_until="load")
    page.evaluate("document.documentElement.dataset.theme = 'dark'")
    page.evaluate(_LOAD_IMAGES)
    page.evaluate(_TYPESET)
    background = _rgb(page.evaluate("getComputedStyle(document.body).backgroundColor"))
    assert sum(background) < 3 * 80, f"the page did not turn dark: body background {background}"
    page.screenshot(path=screenshot(name, "dark"), full_page=True)
    figures = page.locator(".cell_output img").evaluate_all(_OPAQUE)
    colours = page.locator("mjx-container").evaluate_all(_FORMULA_COLOURS)
    page.context.close()
    assert figures, "no figure to check"
    assert [(src, f"{share:.0%} transparent") for src, share in figures if share > 0] == []
    assert colours, "no typeset formula to check"
    dim = [c for c in colours if sum(c) < sum(background) + 3 * 100]  # too close to the background
    assert dim == [], f"{len(dim)} of {len(colours)} formulas are dark on the dark page, e.g. {dim[0]}"
