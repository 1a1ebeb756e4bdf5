"""Headless Chromium for the tests of pages (the site, saved step-throughs): the machine's own browser driven by
playwright, no browser downloaded, no request leaving the machine.

    from browser import browser, page   # pytest fixtures: import them into the test module

`browser` (one per session) skips, saying why, where playwright or Chromium is missing. `page` is a fresh
1400×900 page from `offline_page(browser)`: every request that is not to 127.0.0.1 or a file:, data: or blob:
address is aborted and its address listed in `page.blocked`; uncaught script errors are listed in
`page.errors`. `serve(folder)` serves a folder on 127.0.0.1 from a thread and gives its address.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import http.server
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 900}


def chromium_path() -> str | None:
    """$MICROGRAD_NN_CHROMIUM, else Debian's /usr/bin/chromium, else chromium on PATH."""
    for candidate in (os.environ.get("MICROGRAD_NN_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


_running: dict = {}  # one Playwright and one Chromium per test process, whichever module asks first


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium for the whole session; skips with the reason when there is none.

    Each test module that imports this fixture gets its own copy of it, and Playwright's sync API cannot run
    twice at once in one thread: so the first call starts one Chromium, every later one reuses it, and it is
    closed when the process ends."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need playwright: pip install 'micrograd_nn[test]'")
    executable = chromium_path()
    if executable is None:
        pytest.skip("browser tests need Chromium: apt-get install chromium (or set $MICROGRAD_NN_CHROMIUM)")
    if "chromium" not in _running:
        playwright = sync_playwright().start()
        _running["chromium"] = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        atexit.register(lambda: (_running.pop("chromium").close(), playwright.stop()))
    return _running["chromium"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def serve(folder: str | os.PathLike):
    """Serve `folder` on 127.0.0.1 (a free port) from a thread; yields the base address, e.g. http://127.0.0.1:5173/."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def offline_page(browser, **context_options):
    """A new page (1400×900) in its own context that lets through only requests to 127.0.0.1 and file:, data:
    and blob: addresses; every other request is aborted and its address appended to `page.blocked`. Uncaught
errors of the page's scripts are appended to `page.errors`."""
    context = browser.new_context(viewport=VIEWPORT, **context_options)
    page = context.new_page()
    page.blocked = []

    def route(request_route):
        url = request_route.request.url
        parts = urlparse(url)
        if parts.scheme in ("data", "blob", "file") or parts.hostname == "127.0.0.1":
            request_route.continue_()
        else:
            page.blocked.append(url)
            request_route.abort()

    context.route("**/*", route)
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    return page


@pytest.fixture
def page(browser):
    """A fresh offline page (see offline_page), closed with its context after the test."""
    offline = offline_page(browser)
    yield offline
    offline.context.close()
