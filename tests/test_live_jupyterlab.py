"""The live view as a widget in JupyterLab (anywidget, a kernel, Chromium): a cell shows mg.live(...); its step
button trains one more step in the kernel, a click on a data point traces that sample, resume trains in the
background until pause; the lab widget recomputes in the kernel when a slider moves, and nudges."""


import pytest
from browser import browser, page  # noqa: F401  (fixtures)
from test_viewer_jupyterlab import cell_output, jupyterlab  # noqa: F401  (jupyterlab: a fixture)

CELL = ("import micrograd_nn as mg\n"
        "import micrograd_nn.functional as F\n"
        "from micrograd_nn.data import moons\n"
        "from micrograd_nn.nn import MLP\n"
        "from micrograd_nn.optim import Adam\n"
        "X, y = moons(40, noise=0.1, seed=0)\n"
        "mg.manual_seed(0)\n"
        "net = MLP(2, [6, 1])\n"
        "view = mg.live(net, X, y, F.binary_cross_entropy, Adam(net.parameters(), lr=0.05))\n"
        "view.step(3)\n"
        "view")


def test_the_live_widget_trains_and_traces_in_a_jupyterlab_cell(page, jupyterlab, tmp_path):  # noqa: F811
    pytest.importorskip("anywidget", reason="the widget needs anywidget: pip install 'micrograd_nn[live]'")
    with cell_output(page, jupyterlab, tmp_path, "live", CELL, ".mg-live-view") as view:
        view.locator(".mg-current").wait_for()
        page.wait_for_function("document.querySelector('.mg-live-status').textContent.startsWith('step 3')")
        assert view.locator(".mg-steps").get_attribute("data-step") == "3"
        view.locator("[data-live=step]").click()  # the kernel takes a step and sends its numbers
        page.wait_for_function("document.querySelector('.mg-live-status').textContent.startsWith('step 4')")
        assert view.locator(".mg-steps").get_attribute("data-step") == "4"
        view.locator("circle.mg-point[data-index='5']").click()  # trace sample 5: a new layout from the kernel
        page.wait_for_function("document.querySelector('circle.mg-traced').getAttribute('data-index') === '5'")
        assert view.locator(".mg-current").count() == 1
        view.locator("[data-live=resume]").click()  # the kernel trains in the background, redrawing as it goes
        page.wait_for_function("+document.querySelector('.mg-steps').getAttribute('data-step') >= 8")
        view.locator("[data-live=pause]").click()
        page.wait_for_function("!document.querySelector('.mg-live-status').textContent.includes('training')")
        stopped = view.locator(".mg-steps").get_attribute("data-step")
        page.wait_for_timeout(1500)
        assert view.locator(".mg-steps").get_attribute("data-step") == stopped  # paused: no more steps


LAB_CELL = ("import micrograd_nn as mg\n"
            "from micrograd_nn.demo import karpathy_neuron\n"
            "mg.lab(karpathy_neuron())")


def test_the_lab_widget_recomputes_in_the_kernel(page, jupyterlab, tmp_path):  # noqa: F811
    pytest.importorskip("anywidget", reason="the widget needs anywidget: pip install 'micrograd_nn[live]'")
    with cell_output(page, jupyterlab, tmp_path, "lab", LAB_CELL, ".mg-lab") as lab:
        lab.locator(".mg-current").wait_for()
        assert "data 0.7071" in lab.locator(".mg-current").text_content()
        lab.locator("input[data-leaf=x1]").fill("1")  # o = tanh(1·(−3) + 6.881) = 0.9991, computed in the kernel
        page.wait_for_function("document.querySelector('.mg-lab .mg-current').textContent.includes('data 0.9991')")
        lab.locator("select[data-nudge=leaf]").select_option("x1")
        lab.locator("[data-nudge=go]").click()
        page.wait_for_function("document.querySelectorAll('.mg-lab .mg-nudge table tr').length === 11")
        assert lab.locator("svg.mg-nudge-plot path.mg-central").count() == 1
