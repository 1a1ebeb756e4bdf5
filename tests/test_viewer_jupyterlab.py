"""The viewer in JupyterLab: a server on 127.0.0.1, a notebook cell showing `show_steps(o)`, run in Chromium;
the viewer is drawn in the cell's output and its `next` button steps."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager

import pytest
from browser import browser, page  # noqa: F401  (fixtures)

CELL = ("from micrograd_nn.demo import karpathy_neuron\n"
        "from micrograd_nn.graph import show_steps\n"
        "show_steps(karpathy_neuron())")


def _screenshot(page) -> None:  # noqa: F811  (page: the fixture's name)
    """A screenshot to look at, where $MG_SHOT names a .png file."""
    if os.environ.get("MG_SHOT"):
        page.screenshot(path=os.environ["MG_SHOT"])


def run_cell(page, server: str, folder, name: str, source: str) -> None:  # noqa: F811
    """Write a one-cell notebook `name`.ipynb into the server's folder, open it in JupyterLab and run the cell
    once the kernel is connected (a cell run before that is lost)."""
    notebook = {"cells": [{"cell_type": "code", "execution_count": None, "id": name, "metadata": {},
                           "outputs": [], "source": source}],
                "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
                "nbformat": 4, "nbformat_minor": 5}
    (folder / f"{name}.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    page.set_default_timeout(90_000)
    page.goto(f"{server}/lab/tree/{name}.ipynb")
    page.wait_for_selector(".jp-Notebook .jp-Cell .cm-content")
    page.get_by_text("| Idle").wait_for()
    page.locator(".jp-Notebook .jp-Cell .cm-content").first.click()
    page.keyboard.press("Shift+Enter")


@contextmanager
def cell_output(page, server: str, folder, name: str, source: str, selector: str):  # noqa: F811
    """Run `source` in a notebook cell (run_cell) and give the locator of `selector` in its output. On the way
    out a screenshot ($MG_SHOT), then: no errors in the page and no request outside it."""
    run_cell(page, server, folder, name, source)
    try:
        yield page.locator(f".jp-OutputArea {selector}")
    finally:
        _screenshot(page)
    assert page.blocked == [] and page.errors == []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    pytest.importorskip("jupyterlab", reason="JupyterLab is not installed (pip install 'micrograd_nn[test]')")
    port = free_port()
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115  (closed below; a pipe nobody reads would block)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_DATA_DIR=str(tmp_path / "data"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"))
    env.pop("JUPYTER_PATH", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--ServerApp.root_dir={tmp_path}", "--IdentityProvider.token=", "--ServerApp.password=",
         "--ServerApp.disable_check_xsrf=True", "--allow-root", "--LabApp.extension_manager=readonly",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class="
         "jupyterlab.NeverCheckForUpdate"],
        stdout=subprocess.DEVNULL, stderr=log, env=env)
    address = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{address}/api/status", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start: " +
                                       (tmp_path / "server.log").read_text()[-2000:]) from None
                time.sleep(0.5)
        yield address
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_the_viewer_runs_in_a_jupyterlab_cell(page, jupyterlab, tmp_path):  # noqa: F811
    with cell_output(page, jupyterlab, tmp_path, "steps", CELL, ".mg-steps") as viewer:
        viewer.locator(".mg-current").wait_for()
        assert viewer.get_attribute("data-step") == "0"
        assert viewer.locator(".mg-current").get_attribute("data-node") == "o"
        assert viewer.locator(".mg-current text").first.bounding_box()["height"] >= 10  # readable in the notebook
        viewer.locator("[data-go=next]").click()
        assert viewer.get_attribute("data-step") == "1"
        assert viewer.locator(".mg-current").get_attribute("data-node") == "add2"
        assert viewer.locator(".mg-ledger").inner_text().startswith("step 1:")
