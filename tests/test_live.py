"""Live training: a view's steps are fit's steps bit for bit, watching changes nothing, the saved page holds the
run (checked in Chromium), and the widget's messages carry the right numbers."""

import importlib
import json
import math
import re

import pytest
from browser import browser, page  # noqa: F401  (fixtures)

import micrograd_nn as mg
import micrograd_nn.functional as F
from micrograd_nn.data import blobs, moons
from micrograd_nn.frames import fmt
from micrograd_nn.live import LiveView, _Throttle, region_grid
from micrograd_nn.nn import MLP
from micrograd_nn.optim import SGD, Adam
from micrograd_nn.train import fit

live_module = importlib.import_module("micrograd_nn.live")  # mg.live is the function, this its module


def setup(seed=0, hidden=(6,), n=40, optimizer=Adam, lr=0.05):
    mg.manual_seed(seed)
    X, y = moons(n, noise=0.1, seed=seed)
    model = MLP(2, [*hidden, 1])
    return model, X, y, optimizer(model.parameters(), lr=lr)


def parameters(model):
    return [p.data for p in model.parameters()]


def test_k_full_batch_steps_equal_fit_with_k_epochs_bit_for_bit():
    model, X, y, opt = setup()
    view = mg.live(model, X, y, F.binary_cross_entropy, opt)
    view.step(3)
    view.step()
    view.step(2)
    reference, X, y, ref_opt = setup()
    history = fit(reference, X, y, F.binary_cross_entropy, ref_opt, epochs=6, batch_size=len(X))
    assert view.steps == 6
    assert view.history.loss == history.loss and view.history.accuracy == history.accuracy
    assert parameters(model) == parameters(reference)
    assert [p.grad for p in model.parameters()] == [p.grad for p in reference.parameters()]
    assert view.losses == history.loss  # one step is one epoch here


def test_mini_batch_steps_follow_fits_batches_and_close_epochs_like_fit():
    model, X, y, opt = setup(optimizer=SGD, lr=0.1)
    view = mg.live(model, X, y, F.binary_cross_entropy, opt, batch_size=15)  # 3 batches an epoch (15, 15, 10)
    view.step(7)
    assert len(view.history.loss) == 2  # two epochs complete, the third one started
    view.step(2)
    reference, X, y, ref_opt = setup(optimizer=SGD, lr=0.1)
    history = fit(reference, X, y, F.binary_cross_entropy, ref_opt, epochs=3, batch_size=15)
    assert view.history.loss == history.loss and view.history.accuracy == history.accuracy
    assert parameters(model) == parameters(reference)


@pytest.fixture
def in_jupyter(monkeypatch):
    """Pretend to run in Jupyter, redraw after every step and keep what the widget sends."""
    sent = []
    monkeypatch.setattr(live_module, "in_jupyter", lambda: True)
    monkeypatch.setattr(_Throttle, "due", lambda self: True)
    monkeypatch.setattr(LiveView, "show", lambda self: self.widget())
    original = live_module._make_widget

    def recording(view):
        widget = original(view)
        widget.send = sent.append
        return widget

    monkeypatch.setattr(live_module, "_make_widget", recording)
    return sent


@pytest.mark.parametrize("compiled", [False, True], ids=["interpreted", "compiled"])
def test_fit_live_trains_bit_for_bit_as_without_it_while_redrawing_every_step(in_jupyter, compiled):
    pytest.importorskip("anywidget", reason="the widget needs anywidget: pip install 'micrograd_nn[live]'")
    runs = []
    for live in (False, True):
        model, X, y, opt = setup(hidden=(5, 4))
        history = fit(model, X, y, F.binary_cross_entropy, opt, epochs=4, batch_size=16, live=live,
                      penalty=lambda ps: 1e-3 * F.l2(ps), compile=compiled)
        runs.append((history, parameters(model), [p.grad for p in model.parameters()]))
    assert runs[0] == runs[1]
    updates = [m for m in in_jupyter if m["type"] == "update"]
    assert len(updates) == 4 * 3 + 1  # every step (3 batches an epoch), and the last numbers once more
    assert updates[-1]["step"] == 12 and updates[-1]["frame"]["step"] == 12


def test_fit_live_outside_jupyter_prints_what_fit_prints(capsys):
    outputs = []
    for live in (False, True):
        model, X, y, opt = setup()
        fit(model, X, y, F.binary_cross_entropy, opt, epochs=3, verbose=True, live=live)
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and "epoch    3/3" in outputs[0]


def test_the_widget_sends_the_runs_numbers(in_jupyter):
    pytest.importorskip("anywidget", reason="the widget needs anywidget: pip install 'micrograd_nn[live]'")
    model, X, y, opt = setup()
    view = mg.live(model, X, y, F.binary_cross_entropy, opt, sample=3)
    widget = view.widget()
    assert "mountLive" in widget._esm and "export function mount" in widget._esm  # live.js with the viewer
    assert widget.layout_data["sample"] == 3 and len(widget.layout_data["points"]) == len(X)
    view.step(2)
    update = in_jupyter[-1]
    assert update["type"] == "update" and update["step"] == 2 and update["losses"] == view.losses[1:]
    assert update["from"] == 1 and update["accuracies"] == view.accuracies[1:]
    names = [name for name, _ in model.named_parameters()]
    assert widget.layout_data["param_names"] == names
    before = [p.data for p in model.parameters()]
    view.step(1)
    update = in_jupyter[-1]
    table = update["params"]
    assert table["value"] == [p.data for p in model.parameters()]
    assert table["grad"] == [p.grad for p in model.parameters()]
    assert table["update"] == [p.data - old for p, old in zip(model.parameters(), before)]
    # the traced graph: the loss record shows sample 3's loss at the current parameters
    expected = F.binary_cross_entropy(model([float(v) for v in X[3]]), int(y[3])).data
    frame = update["frame"]
    assert frame["texts"][frame["current"]][1] == f"data {fmt(expected)}"
    assert f"its loss {fmt(expected)}" in frame["ledger"]
    # the regions: one score per cell, as the model computes it
    grid = update["grid"]
    x0, x1, y0, y1 = grid["bounds"]
    first_cell = [x0 + (x1 - x0) * 0.5 / grid["n"], y0 + (y1 - y0) * 0.5 / grid["n"]]
    assert grid["score"][0] == pytest.approx(model(first_cell).data, abs=1e-4)
    # a click on a point traces it: a new layout, then its numbers
    in_jupyter.clear()
    view._handle({"type": "sample", "index": 7})
    assert view.sample == 7 and [m["type"] for m in in_jupyter] == ["layout", "update"]
    assert in_jupyter[0]["layout"]["sample"] == 7
    view._handle({"type": "hello"})
    assert in_jupyter[-1]["from"] == 0 and in_jupyter[-1]["losses"] == view.losses


def test_sample_is_checked_and_never_changes_the_run():
    model, X, y, opt = setup()
    view = mg.live(model, X, y, F.binary_cross_entropy, opt)
    with pytest.raises(IndexError, match="outside X's 40 samples"):
        view.sample = 40
    with pytest.raises(TypeError, match="int"):
        view.sample = True
    view.sample = -1
    assert view.sample == 39
    view.step(2)
    view.page_data()  # traces every step on the side
    reference, X, y, ref_opt = setup()
    fit(reference, X, y, F.binary_cross_entropy, ref_opt, epochs=2, batch_size=len(X))
    assert parameters(model) == parameters(reference)
    assert [p.grad for p in model.parameters()] == [p.grad for p in reference.parameters()]


def test_several_classes_give_the_winning_class_and_its_probability():
    mg.manual_seed(2)
    X, y = blobs(30, seed=1)
    model = MLP(2, [5, 3])
    grid = region_grid(model, (-2.0, 2.0, -2.0, 2.0), n=4)
    scores = [s.data for s in model([-1.5, -1.5])]  # the first cell's centre
    top = max(range(3), key=scores.__getitem__)
    assert grid["kind"] == "class" and grid["class"][0] == top
    assert grid["prob"][0] == pytest.approx(math.exp(scores[top]) / sum(math.exp(s) for s in scores), abs=1e-3)
    view = mg.live(model, X, y, F.cross_entropy, SGD(model.parameters(), lr=0.1))
    view.step(3)
    assert view.page_data()["snapshots"][-1]["grid"]["kind"] == "class"


def test_repr_and_save_say_what_to_open(tmp_path, capsys):
    model, X, y, opt = setup()
    view = mg.live(model, X, y, F.binary_cross_entropy, opt)
    assert "view.step(n)" in repr(view) and "view.save('run.html')" in repr(view)
    view.step(3)
    path = view.save(tmp_path / "run.html")
    assert f"open {path.resolve()}" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"\.html"):
        view.save(tmp_path / "run.png")


def saved_run(tmp_path, steps=12, sample=4):
    model, X, y, opt = setup(hidden=(8, 8))
    view = mg.live(model, X, y, F.binary_cross_entropy, opt, sample=sample)
    view.step(steps)
    path = view.save(tmp_path / "run.html")
    return view, model, X, y, path


def page_data(text):
    """The page's data, as a browser's JSON.parse reads it (NaN or Infinity would be a syntax error there)."""
    def refuse(constant):
        raise AssertionError(f"{constant} in the page's JSON")

    return json.loads(re.search(r'id="mg-live-data">(.*?)</script>', text, re.DOTALL).group(1), parse_constant=refuse)


def test_the_saved_page_holds_every_step_in_one_drawing(tmp_path):
    view, model, X, y, path = saved_run(tmp_path)
    text = path.read_text()
    assert text.count("<svg") == 1  # one layout; steps are numbers
    assert "http://" not in text.replace("http://www.w3.org/", "") and "https://" not in text
    data = page_data(text)
    assert data["losses"] == view.losses and data["steps"] == 12
    frames = data["viewer"]["frames"]
    assert [f["step"] for f in frames] == list(range(13))
    expected = F.binary_cross_entropy(model([float(v) for v in X[4]]), int(y[4])).data
    assert frames[-1]["texts"][frames[-1]["current"]][1] == f"data {fmt(expected)}"
    assert frames[-1]["ledger"].startswith(f"step 12 (epoch 12): batch loss {fmt(view.losses[-1])}")
    assert [s["step"] for s in data["snapshots"]] == list(range(13))


def test_a_long_run_keeps_an_even_spread_of_steps(tmp_path, monkeypatch):
    monkeypatch.setattr(live_module, "MAX_PAGE_FRAMES", 5)
    monkeypatch.setattr(live_module, "MAX_PAGE_GRIDS", 3)
    model, X, y, opt = setup()
    view = mg.live(model, X, y, F.binary_cross_entropy, opt)
    view.step(8)
    data = view.page_data()
    assert [f["step"] for f in data["viewer"]["frames"]] == [0, 2, 4, 6, 8]
    assert [s["step"] for s in data["snapshots"]] == [0, 4, 8]


def test_the_saved_page_in_chromium(page, tmp_path):  # noqa: F811
    view, model, X, y, path = saved_run(tmp_path)
    page.goto(path.as_uri())
    page.wait_for_selector(".mg-steps .mg-current")
    page.wait_for_function("document.querySelector('.mg-regions canvas') !== null")
    assert page.get_attribute(".mg-steps", "data-step") == "12"
    assert page.locator(".mg-current").count() == 1 and page.locator(".mg-slider").get_attribute("max") == "12"
    assert page.locator("circle.mg-point").count() == len(X) and page.locator("circle.mg-traced").count() == 1
    rows = page.locator(".mg-params tbody tr")
    assert rows.count() == len(model.parameters())
    first = model.parameters()[0]
    assert rows.nth(0).locator("td").nth(1).inner_text() == fmt(first.data)
    page.screenshot(path=str(tmp_path / "run.png"))
    # back to step 0: the table shows the initial parameters, the ledger says so
    page.keyboard.press("Home")
    page.wait_for_function("document.querySelector('.mg-steps').getAttribute('data-step') === '0'")
    assert rows.nth(0).locator("td").nth(1).inner_text() == fmt(view._values[0][0])
    assert page.inner_text(".mg-ledger").startswith("before training")
    assert "step 0 of 12" in page.inner_text(".mg-live-status")
    painted = page.evaluate("""() => {
      const c = document.querySelector('.mg-regions canvas');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let coloured = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] !== d[i + 2]) coloured++;
      return coloured / (d.length / 4);
    }""")
    assert painted > 0.9  # every cell carries a class colour
    assert page.errors == [] and page.blocked == []


def test_the_widget_module_in_chromium(page, tmp_path, in_jupyter):  # noqa: F811
    """The anywidget module with a stand-in model: it draws the layout, applies updates, and a click on a data point
    asks Python to trace that sample."""
    pytest.importorskip("anywidget", reason="the widget needs anywidget: pip install 'micrograd_nn[live]'")
    model, X, y, opt = setup(hidden=(8, 8))
    view = mg.live(model, X, y, F.binary_cross_entropy, opt)
    widget = view.widget()
    view.step(3)
    update = in_jupyter[-1]
    (tmp_path / "widget.js").write_text(widget._esm)
    (tmp_path / "widget.html").write_text("<!DOCTYPE html><html><body><div id='out'></div></body></html>")
    page.goto((tmp_path / "widget.html").as_uri())
    page.evaluate("""async ([source, layout]) => {
      const url = URL.createObjectURL(new Blob([source], {type: 'text/javascript'}));
      const module = await import(url);
      const listeners = {};
      window.sent = [];
      window.model = { get: (k) => ({layout_data: layout, controls: true})[k],
        on: (e, f) => { listeners[e] = f; }, off: () => {}, send: (m) => window.sent.push(m) };
      window.deliver = (m) => listeners['msg:custom'](m);
      await module.default.render({ model: window.model, el: document.getElementById('out') });
    }""", [widget._esm, widget.layout_data])
    assert page.evaluate("window.sent") == [{"type": "hello"}]
    page.evaluate("(m) => window.deliver(m)", update)
    page.wait_for_function("document.querySelector('.mg-steps').getAttribute('data-step') === '3'")
    assert "step 3" in page.inner_text(".mg-live-status")
    assert page.locator(".mg-current").count() == 1
    page.click("circle.mg-point[data-index='9']")
    page.click("[data-live=step]")
    sent = page.evaluate("window.sent")
    assert sent[1] == {"type": "sample", "index": 9} and sent[2]["action"] == "step"
    assert page.errors == [] and page.blocked == []


def test_resume_trains_in_the_background_until_paused_as_stepping_would():
    model, X, y, opt = setup()
    view = mg.live(model, X, y, F.binary_cross_entropy, opt, batch_size=10)
    view.speed = 1000.0
    view.resume(max_steps=6)
    view._runner.join(timeout=60)
    assert view.steps == 6 and not view._running.is_set()
    view.resume()
    view.pause()  # stops after the step under way
    view.step(2)
    reference, X, y, ref_opt = setup()
    twin = mg.live(reference, X, y, F.binary_cross_entropy, ref_opt, batch_size=10)
    twin.step(view.steps)
    assert twin.losses == view.losses and parameters(model) == parameters(reference)
    assert twin.history.loss == view.history.loss


def test_a_function_model_and_wider_inputs_are_traced_without_regions():
    mg.manual_seed(3)
    w = [mg.Value(0.1 * k - 0.3, label=f"w{k}") for k in range(4)]

    def model(x):
        return mg.dot(w[:3], x, bias=w[3])

    X = [[0.5, -1.0, 2.0], [1.0, 0.0, -1.0], [0.2, 0.4, 0.6]]
    y = [1, 0, 1]
    view = mg.live(model, X, y, F.binary_cross_entropy, SGD(w, lr=0.1), sample=2)
    view.step(3)
    data = view.page_data()
    assert data["points"] is None and "grid" not in data["snapshots"][-1]
    assert data["param_names"] == ["w0", "w1", "w2", "w3"]
    expected = F.binary_cross_entropy(model(X[2]), 1).data
    last = data["viewer"]["frames"][-1]
    assert last["texts"][last["current"]][1] == f"data {fmt(expected)}"


def test_without_anywidget_jupyter_gets_the_page(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "anywidget", None)  # as if it were not installed
    model, X, y, opt = setup()
    view = mg.live(model, X, y, F.binary_cross_entropy, opt)
    view.step(2)
    bundle = view._repr_mimebundle_()
    assert bundle["text/html"].startswith("<iframe srcdoc=") and "mg-live-data" in bundle["text/html"]
    assert "pip install 'micrograd_nn[live]'" in repr(view)
    with pytest.raises(ImportError, match=r"micrograd_nn\[live\]"):
        view.widget()


def test_the_saved_page_follows_the_traced_loss_readably_at_every_step(page, tmp_path):  # noqa: F811
    view, model, X, y, path = saved_run(tmp_path, steps=6)
    page.goto(path.as_uri())
    page.wait_for_selector(".mg-steps .mg-current")
    for key in ["Home", "ArrowRight", "ArrowRight", "End"]:
        page.keyboard.press(key)
        page.wait_for_timeout(100)
        inside, text_px = page.evaluate("""() => {
          const drawing = document.querySelector('.mg-drawing').getBoundingClientRect();
          const current = document.querySelector('.mg-current');
          const box = current.getBoundingClientRect();
          const text = current.querySelector('text').getBoundingClientRect();
          return [box.left >= drawing.left - 1 && box.right <= drawing.right + 1 &&
                  box.top >= drawing.top - 1 && box.bottom <= drawing.bottom + 1, text.height];
        }""")
        assert inside and text_px >= 10
    assert page.get_attribute(".mg-current", "data-node") == "loss"


def test_a_run_that_diverges_is_still_saved_and_says_where_the_trace_fails(tmp_path):
    model, X, y, opt = setup(optimizer=SGD, lr=1e3)
    view = mg.live(model, X, y, F.mse, opt)
    with pytest.raises(OverflowError):  # as fit would: the step whose loss overflows raises
        view.step(30)
    assert 1 <= view.steps < 30
    data = page_data(view.save(tmp_path / "run.html").read_text())  # strict JSON: no NaN or Infinity
    assert data["losses"] == [v if math.isfinite(v) else None for v in view.losses]
    assert "cannot be computed here: power overflow" in data["viewer"]["frames"][-1]["ledger"]
    assert data["viewer"]["frames"][0]["texts"]  # the first steps are drawn as usual


@pytest.mark.parametrize("step_seconds, draw_seconds", [(0.01, 0.005), (0.1, 0.05), (0.002, 0.03)])
def test_the_throttle_keeps_drawing_under_its_share_and_at_most_ten_a_second(monkeypatch, step_seconds,
                                                                               draw_seconds):
    clock = [100.0]
    monkeypatch.setattr(live_module.time, "perf_counter", lambda: clock[0])
    throttle = _Throttle()
    draws = 0
    for _ in range(5000):
        clock[0] += step_seconds  # a training step
        if throttle.due():
            clock[0] += draw_seconds
            throttle.spent(draw_seconds)
            draws += 1
    elapsed = clock[0] - 100.0
    assert throttle.drawing <= 0.15 * (elapsed - throttle.drawing) + draw_seconds  # its share, to one redraw
    assert draws <= 10 * elapsed + 1
    # and it draws as often as both limits allow (less the steps' granularity): 10 a second, or the share
    allowed = min(10.0, 0.15 * (elapsed - throttle.drawing) / draw_seconds / elapsed)
    assert draws / elapsed >= 0.85 * allowed
