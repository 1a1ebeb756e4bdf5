"""Graphviz in the page (vizjs.viz_layout_html): a step-through whose drawing has no SVG, as where no dot binary
exists, is laid out in the browser by viz.js, offline, once for all the viewers of a page."""

import pytest
from browser import browser, page  # noqa: F401  (fixtures)

from micrograd_nn.demo import karpathy_neuron
from micrograd_nn.graph import set_dot_binary, show_steps
from micrograd_nn.graph.viewer import viewer_html
from micrograd_nn.graph.vizjs import viz_layout_html, viz_script


@pytest.fixture
def no_graphviz():
    set_dot_binary("/nonexistent/dot")  # a path that does not exist: no other binary is tried
    yield
    set_dot_binary(None)


def test_viz_script_is_the_es_module_with_its_wasm():
    text = viz_script()
    assert text.startswith("/*!\nViz.js 3.31.0") and "export { engines, formats, graphvizVersion, instance };" in text
    assert "\x00asm" in text  # the wasm travels inside the module: nothing else is fetched


def test_a_page_lays_out_step_throughs_that_have_no_svg(page, tmp_path, no_graphviz):  # noqa: F811
    payload = show_steps(karpathy_neuron()).payload()
    assert [window["svg"] for window in payload["windows"]] == [None] and payload["windows"][0]["dot"]
    # Two viewers, each with its copy of the script (as two notebook outputs would be): one mgLayout serves both.
    body = viz_layout_html() + viewer_html(payload) + viz_layout_html() + viewer_html(payload)
    path = tmp_path / "two_viewers.html"
    path.write_text(f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{body}</body></html>')
    page.goto(path.as_uri())
    page.wait_for_function("document.querySelectorAll('.mg-steps .mg-current').length === 2", timeout=30_000)
    drawn = page.evaluate("[...document.querySelectorAll('.mg-steps')].map(v => v.querySelectorAll('svg g.node"
                          "[data-node]').length)")
    assert drawn == [len(set(payload["nodes"].values()))] * 2
    assert page.locator(".mg-steps").first.locator(".mg-current").get_attribute("data-node") == "o"
    assert page.blocked == [] and page.errors == []
