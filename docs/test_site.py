"""The built site, as a reader meets it: pages opened in a real headless Chromium.

Outside the default test run (it needs Chromium, chromedriver and the built site); CI runs it
after the README's docs command (.ci/run)::

    XLOGREG_DOCS_HTML=docs/_build/html python -m pytest docs/test_site.py

For the front page, an API page and two gallery pages: the page loads with no error in the
browser's console (a missing script, stylesheet or image is one), every image on it is loaded
and drawn (``naturalWidth > 0``), the gallery pages show their figures, and a screenshot of the
page is not blank (it has many colours). The screenshots are kept in ``XLOGREG_DOCS_SHOTS`` when
that is set, for a person to look at.
"""

import functools
import http.server
import io
import os
import shutil
import threading
from pathlib import Path

import pytest

HTML = os.environ.get("XLOGREG_DOCS_HTML")
pytestmark = pytest.mark.skipif(not HTML, reason="set XLOGREG_DOCS_HTML to the built site (docs/_build/html)")

PAGES = {
    "index.html": {"min_images": 0, "text": "Getting started"},
    "api/generated/xlogreg.train.html": {"min_images": 0, "text": "xlogreg.train"},
    "auto_examples/course/plot_cat_weights.html": {"min_images": 1, "text": "The learned weights"},
    "auto_examples/course/plot_mislabelled.html": {"min_images": 1, "text": "mislabelled"},
}


@pytest.fixture(scope="module")
def site():
    """The built site served over HTTP on a free local port, as a reader's browser gets it."""
    root = Path(HTML).resolve()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    # XLOGREG_DOCS_HTML set asks for this check: a missing selenium is a failure, not a skip.
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver_path = shutil.which("chromedriver")
    if not (binary and driver_path):
        pytest.fail("Chromium and chromedriver are needed (Debian: apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    yield driver
    driver.quit()


@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_renders(site, browser, page):
    from PIL import Image

    root, url = site
    assert (root / page).is_file(), f"{page} was not built"
    browser.get(url + page)
    assert browser.execute_script("return document.readyState") == "complete"
    assert PAGES[page]["text"] in browser.find_element("tag name", "body").text

    # The browser asks every server for /favicon.ico on its own; the site does not have one.
    errors = [entry for entry in browser.get_log("browser")
              if entry["level"] == "SEVERE" and "/favicon.ico" not in entry["message"]]
    assert not errors, f"{page}: errors in the browser's console: {errors}"

    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.src, i.complete, i.naturalWidth]);")
    broken = [src for src, complete, width in images if not (complete and width > 0)]
    assert not broken, f"{page}: images not shown: {broken}"
    figures = [src for src, _, _ in images if "/_images/" in src]
    assert len(figures) >= PAGES[page]["min_images"], f"{page}: figures expected, found {images}"

    png = browser.get_screenshot_as_png()
    shot = Image.open(io.BytesIO(png)).convert("RGB")
    colours = shot.getcolors(maxcolors=1 << 20)
    assert colours is None or len(colours) > 50, f"{page}: the screenshot is (nearly) blank"
    if os.environ.get("XLOGREG_DOCS_SHOTS"):
        folder = Path(os.environ["XLOGREG_DOCS_SHOTS"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / (page.replace("/", "_") + ".png")).write_bytes(png)
