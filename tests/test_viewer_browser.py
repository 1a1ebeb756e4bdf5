"""The step-through viewer in a real browser (headless Chromium): keys from page load, buttons, slider, zoom and
fit, the current node in view and readable at every step, one numbering, folded long steps, windows, no network."""

import random

import pytest
from browser import browser, page  # noqa: F401  (fixtures)

import micrograd_nn.functional as F
from micrograd_nn import Value
from micrograd_nn.demo import karpathy_neuron
from micrograd_nn.graph import show_steps
from micrograd_nn.nn import MLP


def open_page(page, steps, tmp_path, name="steps.html"):  # noqa: F811
    path = steps.save(tmp_path / name)
    page.goto(path.as_uri())
    page.wait_for_selector(".mg-steps .mg-current")
    return page


def shown_step(page):  # noqa: F811
    return int(page.get_attribute(".mg-steps", "data-step"))


def current_in_view(page):  # noqa: F811
    """(inside the drawing's box, the height in px of the current node's first text, how many are current)."""
    return page.evaluate("""() => {
      const drawing = document.querySelector('.mg-drawing').getBoundingClientRect();
      const current = document.querySelectorAll('.mg-current');
      const box = current[0].getBoundingClientRect();
      const text = current[0].querySelector('text').getBoundingClientRect();
      const inside = box.left >= drawing.left - 1 && box.right <= drawing.right + 1 &&
                     box.top >= drawing.top - 1 && box.bottom <= drawing.bottom + 1;
      return [inside, text.height, current.length, current[0].getAttribute('data-node')];
    }""")


def mlp_loss():
    random.seed(1)
    model = MLP(2, [16, 16, 1])
    return model, F.binary_cross_entropy(model([0.5, -1.0]), 1.0)


def test_keys_work_from_page_load_and_every_step_of_the_neuron_is_in_view(page, tmp_path):  # noqa: F811
    steps = show_steps(karpathy_neuron())
    open_page(page, steps, tmp_path)
    assert shown_step(page) == 0
    for k in range(len(steps)):
        inside, text_px, count, name = current_in_view(page)
        assert (inside, count, name) == (True, 1, steps.frames[k].name)
        assert text_px >= 10
        assert page.inner_text(".mg-ledger").startswith(f"step {k}:")
        page.keyboard.press("ArrowRight")  # no click first: the page listens from load
        assert shown_step(page) == min(k + 1, len(steps) - 1)
    page.keyboard.press("ArrowLeft")
    assert shown_step(page) == len(steps) - 2
    assert page.blocked == [] and page.errors == []


def test_numbers_appear_as_the_pass_reaches_them(page, tmp_path):  # noqa: F811
    open_page(page, show_steps(karpathy_neuron()), tmp_path)
    x1 = '[data-node="x1"] text'
    assert page.locator(x1).all_text_contents() == ["x1", "data 2", "grad"]
    page.locator("[data-go=last]").click()
    assert page.locator(x1).all_text_contents()[2] == "grad -1.5"
    page.locator("[data-go=first]").click()  # and back: no gradient is known at step 0
    assert page.locator(x1).all_text_contents()[2] == "grad"
    assert page.locator(".mg-done").count() == 0
    page.locator("[data-go=next]").click()
    assert page.locator(".mg-done").count() == 1 and page.get_attribute(".mg-done", "data-node") == "o"
    hot = page.locator(".edge.mg-hot").count()
    assert hot == 3  # add2 has two inputs and one edge to its record


def test_space_plays_and_pauses_buttons_slider_and_zoom(page, tmp_path):  # noqa: F811
    steps = show_steps(karpathy_neuron())
    open_page(page, steps, tmp_path)
    page.keyboard.press(" ")
    page.wait_for_function("() => +document.querySelector('.mg-steps').dataset.step >= 2", timeout=5000)
    page.keyboard.press(" ")
    paused = shown_step(page)
    page.wait_for_timeout(1200)
    assert shown_step(page) == paused
    page.locator("[data-go=last]").click()
    assert shown_step(page) == 9
    page.locator("[data-go=prev]").click()
    assert shown_step(page) == 8
    page.locator(".mg-slider").fill("4")
    assert shown_step(page) == 4
    assert page.inner_text(".mg-label") == "backward step 4 / 9"

    def scale():
        return page.evaluate("() => new DOMMatrix(getComputedStyle(document.querySelector('.mg-canvas')).transform).a")

    before = scale()
    page.locator("[data-go=zoom-in]").click()
    assert scale() == pytest.approx(before * 1.25, rel=1e-4)  # the computed style keeps 6 digits
    page.locator("[data-go=zoom-out]").click()
    page.locator("[data-go=zoom-out]").click()
    assert scale() == pytest.approx(before * 0.8, rel=1e-4)
    page.locator("[data-go=fit]").click()
    whole = page.evaluate("""() => {
      const d = document.querySelector('.mg-drawing').getBoundingClientRect();
      const s = document.querySelector('.mg-canvas svg').getBoundingClientRect();
      return s.left >= d.left - 1 && s.right <= d.right + 1 && s.top >= d.top - 1 && s.bottom <= d.bottom + 1;
    }""")
    assert whole
    box = page.locator(".mg-drawing").bounding_box()
    page.mouse.move(box["x"] + 300, box["y"] + 200)
    page.mouse.wheel(0, -300)
    assert scale() > 0
    page.mouse.down()
    page.mouse.move(box["x"] + 400, box["y"] + 250)
    page.mouse.up()
    assert page.errors == []


def test_space_on_a_button_presses_that_button_only(page, tmp_path):  # noqa: F811
    open_page(page, show_steps(karpathy_neuron()), tmp_path)
    page.locator("[data-go=next]").focus()
    page.keyboard.press(" ")
    page.wait_for_timeout(1100)
    assert shown_step(page) == 1  # one step, not playback


@pytest.mark.parametrize("collapsed", [False, True])
def test_mlp_steps_keep_their_node_in_view_readable(page, tmp_path, collapsed):  # noqa: F811
    model, loss = mlp_loss()
    steps = show_steps(loss, parameters=model, collapsed=collapsed)
    open_page(page, steps, tmp_path)
    last = len(steps) - 1
    for k in sorted({0, 1, 2, 40, 120, 200, 320, 390, last}):
        page.locator(".mg-slider").fill(str(k))
        assert shown_step(page) == steps.frames[k].step == k  # slider, label and ledger: one numbering
        assert page.inner_text(".mg-label").startswith(f"backward step {k} / {last}")
        assert page.inner_text(".mg-ledger").startswith(f"step {k}:")
        inside, text_px, count, name = current_in_view(page)
        assert inside and count == 1 and text_px >= 10
        frame = steps.frames[k]
        if collapsed and not frame.node._prev and frame.name.startswith("layers."):
            assert name.startswith(frame.name.rsplit(".", 2)[0])  # a weight's step highlights its neuron's box
        else:
            assert name == frame.name
    assert page.blocked == [] and page.errors == []


def test_a_long_step_folds_its_lines(page, tmp_path):  # noqa: F811
    model, loss = mlp_loss()
    steps = show_steps(loss, parameters=model, collapsed=True)
    k = next(f.step for f in steps.frames if len(f.edges) == 33)  # a second-layer z: 16 w, 16 x and b
    open_page(page, steps, tmp_path)
    page.locator(".mg-slider").fill(str(k))
    assert page.locator(".mg-ledger summary").inner_text() == "… 28 more"
    assert page.locator(".mg-ledger details").get_attribute("open") is None
    ledger = page.locator(".mg-ledger").bounding_box()
    assert ledger["y"] + ledger["height"] <= 900  # the ledger is on screen with the drawing and the controls


def test_a_graph_drawn_in_windows_follows_the_pass(page, tmp_path):  # noqa: F811
    x = Value(0.5, label="x")
    y = x
    for _ in range(600):
        y = (y * 0.999 + 0.001).tanh()
    steps = show_steps(y, max_nodes=300)
    assert len(steps.payload()["windows"]) > 2
    open_page(page, steps, tmp_path)
    for k in (0, 700, len(steps) - 1):
        page.locator(".mg-slider").fill(str(k))
        inside, text_px, count, name = current_in_view(page)
        assert inside and text_px >= 10 and count == 1 and name == steps.frames[k].name
        assert "part" in page.inner_text(".mg-label")


def test_without_a_dot_binary_the_page_lays_the_drawing_out_itself(page, tmp_path):  # noqa: F811
    import micrograd_nn.graph as G

    G.set_dot_binary(tmp_path / "missing")
    try:
        steps = show_steps(karpathy_neuron())
        assert steps.payload()["windows"][0]["svg"] is None
        open_page(page, steps, tmp_path)  # Graphviz compiled to WebAssembly, inlined in the page
    finally:
        G.set_dot_binary(None)
    page.keyboard.press("End")
    assert page.locator('[data-node="x1"] text').all_text_contents() == ["x1", "data 2", "grad -1.5"]
    inside, text_px, count, name = current_in_view(page)
    assert inside and text_px >= 10 and count == 1 and name == "x1"
    assert page.blocked == [] and page.errors == []


def test_a_value_without_a_dot_binary_displays_laid_out_in_the_page(page, tmp_path):  # noqa: F811
    import micrograd_nn.graph as G

    G.set_dot_binary(tmp_path / "missing")
    try:
        bundle = karpathy_neuron()._repr_mimebundle_()
    finally:
        G.set_dot_binary(None)
    path = tmp_path / "value.html"
    path.write_text(f"<!DOCTYPE html><meta charset='utf-8'><body>{bundle['text/html']}</body>", encoding="utf-8")
    page.goto(path.as_uri())
    page.wait_for_selector(".mg-graph svg")
    assert "data 0.7071" in page.inner_text(".mg-graph")
    assert page.blocked == [] and page.errors == []


def test_predict_then_reveal(page, tmp_path):  # noqa: F811
    steps = show_steps(karpathy_neuron(), predict=True)
    open_page(page, steps, tmp_path)
    x1 = '[data-node="x1"] text'
    page.locator(".mg-slider").fill("7")  # mul1 = x1·w1 passes its gradient 0.5 to x1 and w1
    assert page.locator(".mg-ask").count() == 1 and page.locator(x1).all_text_contents()[2] == "grad"
    page.get_by_label("x1.grad").fill("-1.5015")  # not equal to 4 significant digits
    page.get_by_label("w1.grad").fill("1")
    page.locator("[data-go=check]").click()
    assert page.locator(".mg-mark").all_inner_texts() == ["✗ wrong", "✓ right"]
    page.get_by_label("x1.grad").fill("0.5")  # mul1.grad passed on as it is: w1 = ∂mul1/∂x1 forgotten
    page.get_by_label("w1.grad").fill("-1")
    page.locator("[data-go=check]").click()
    assert page.locator(".mg-mark").all_inner_texts() == [
        "✗ wrong: ∂mul1/∂x1 seems left out: multiply mul1.grad by it", "✗ wrong: the sign is flipped"]
    assert page.locator(x1).all_text_contents()[2] == "grad"  # still hidden
    page.get_by_label("w1.grad").fill("1")
    page.get_by_label("x1.grad").fill("−1.5")  # the ledger's minus sign is accepted
    page.get_by_label("x1.grad").press("Enter")
    assert page.locator(".mg-ask").count() == 0 and page.locator(x1).all_text_contents()[2] == "grad -1.5"
    assert page.inner_text(".mg-ledger").startswith("step 7:")
    page.keyboard.press("ArrowLeft")  # step 6, x2's leaf step: nothing to predict
    page.keyboard.press("ArrowRight")  # step 7 again: already answered
    assert page.locator(".mg-ask").count() == 0
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert shown_step(page) == 9 and page.errors == []
    page.locator(".mg-slider").fill("0")
    assert page.locator(".mg-ask").count() == 1
    page.locator("[data-go=reveal]").click()
    assert page.locator(".mg-ask").count() == 0 and page.inner_text(".mg-ledger").startswith("step 0:")


def test_the_anywidget_front_end_appends_frames_sent_from_python(page, tmp_path):  # noqa: F811
    """viewer.js's default export as anywidget calls it, with a stand-in for the widget's model."""
    import json

    from micrograd_nn.graph.viewer import payload_json, viewer_script

    payload = show_steps(karpathy_neuron()).payload()
    harness = f"""<!DOCTYPE html><meta charset="utf-8"><body><div id="out"></div>
<script type="application/json" id="data">{payload_json(payload)}</script>
<script type="module">
{viewer_script()}
const handlers = {{}};
const model = {{ get: () => JSON.parse(document.getElementById("data").textContent),
                 on: (name, f) => {{ handlers[name] = f; }}, off: () => {{}} }};
widget.render({{ model, el: document.getElementById("out") }});
globalThis.sendFromPython = (msg) => handlers["msg:custom"](msg);
</script>""".replace("export default {", "const widget = {")
    path = tmp_path / "widget.html"
    path.write_text(harness, encoding="utf-8")
    page.goto(path.as_uri())
    page.wait_for_selector(".mg-steps .mg-current")
    extra = {"step": 10, "window": 0, "current": payload["frames"][0]["current"], "hot": [],
             "texts": {payload["frames"][0]["current"]: ["o", "data 0.5", "grad 2"]}, "ledger": "step 10: more"}
    page.evaluate(f"sendFromPython({json.dumps({'type': 'frames', 'frames': [extra]})})")
    assert shown_step(page) == 10 and page.inner_text(".mg-ledger") == "step 10: more"
    assert page.locator('[data-node="o"] text').all_text_contents() == ["o", "data 0.5", "grad 2"]
    assert page.inner_text(".mg-label").startswith("backward step 10 / 10")
    assert page.errors == []
