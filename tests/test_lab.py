"""The derivative lab: the nudge table against exact derivatives (truncation, then round-off), leaves moved on a
rebuilt copy (the user's graph untouched), and the widget's messages (in Chromium through a stand-in model)."""

import importlib
import math

import pytest
from browser import browser, page  # noqa: F401  (fixtures)

import micrograd_nn as mg
from micrograd_nn import Value
from micrograd_nn.demo import karpathy_neuron
from micrograd_nn.frames import fmt
from micrograd_nn.lab import STEPS, nudge_table

lab_module = importlib.import_module("micrograd_nn.lab")  # mg.lab is the function, this its module


def test_the_nudge_table_of_x_cubed_shows_truncation_then_round_off():
    x = Value(2.0, label="x")
    exact, rows = nudge_table(x**3, x)
    assert exact == 12.0 and [r.h for r in rows] == list(STEPS)
    # Truncation, exactly as Taylor says for a cubic, while it is far above round-off (ε·|f|/h ≈ 1.8e-15/h):
    # ((x + h)³ − x³)/h = 3x² + 3xh + h²;  ((x + h)³ − (x − h)³)/(2h) = 3x² + h²
    for r in rows[:4]:
        assert r.forward_error == pytest.approx(6 * r.h + r.h**2, rel=1e-6)
    for r in rows[:3]:
        assert r.central_error == pytest.approx(r.h**2, rel=1e-4)
    central = [r.central_error for r in rows]
    best = min(range(len(rows)), key=central.__getitem__)
    assert 1e-7 <= rows[best].h <= 1e-4  # the bottom of the V, near the cube root of ε
    assert central[-1] > 1e3 * central[best]  # at h = 1e-10 round-off, ε·|f|/h, has taken over
    assert central[-1] < 100 * 2.2e-16 * 8 / 1e-10


def test_the_neurons_nudge_table_agrees_with_backprop_where_it_should():
    o = karpathy_neuron()
    leaves = {v.label: v for v in mg.engine.topological_order(o) if not v._prev}
    before = [(v.data, v.grad) for v in leaves.values()]
    for name, expected in [("x1", -1.5), ("w1", 1.0), ("x2", 0.5), ("w2", 0.0), ("b", 0.5)]:
        exact, rows = nudge_table(o, leaves[name])
        assert exact == pytest.approx(expected, abs=1e-12)
        by_h = {r.h: r for r in rows}
        if name == "w2":  # x2 = 0: moving w2 moves nothing, every difference is exactly 0
            assert all(r.forward == r.central == 0.0 for r in rows)
        else:
            assert by_h[1e-5].central_error < 1e-8 and by_h[1e-1].forward_error > by_h[1e-3].forward_error
    assert [(v.data, v.grad) for v in leaves.values()] == before  # nothing of the user's graph changed


def test_set_recomputes_every_value_and_gradient_on_a_copy():
    x, w = Value(2.0, label="x"), Value(-3.0, label="w")
    out = (x * w).relu() + x.tanh()
    lab = mg.lab(out)
    assert lab.data(out) == out.data
    assert lab.set("x", -1.0) == (-1.0 * -3.0) + math.tanh(-1.0)
    fresh_x, fresh_w = Value(-1.0), Value(-3.0)
    fresh = (fresh_x * fresh_w).relu() + fresh_x.tanh()
    fresh.backward()
    assert (lab.grad("x"), lab.grad("w")) == (fresh_x.grad, fresh_w.grad)
    lab.set("x", 1.0)  # the relu's branch is decided again: x·w < 0 now
    assert lab.grad("w") == 0.0 and lab.grad("x") == 1 - math.tanh(1.0) ** 2
    assert (x.data, w.data, x.grad, w.grad) == (2.0, -3.0, 0.0, 0.0)


def test_bad_moves_raise_and_keep_the_numbers():
    x = Value(2.0, label="x")
    lab = mg.lab(x.log() * 3)
    with pytest.raises(ValueError, match="log"):
        lab.set("x", -1.0)
    assert lab.values[x] == 2.0 and lab.grad(x) == 1.5
    with pytest.raises(ValueError, match="no leaf named 'y'; the leaves are x"):
        lab.set("y", 1.0)
    with pytest.raises(TypeError, match="real number"):
        lab.set("x", "1")
    hand = Value(math.sin(2.0), (x,), (math.cos(2.0),), "sin")
    with pytest.raises(ValueError, match="'sin'"):
        mg.lab(hand)


def test_nudge_text_prints_every_step():
    x = Value(0.5, label="x")
    text = mg.lab(x.exp()).nudge_text("x")
    assert f"by backprop = {math.exp(0.5)!r}" in text and text.count("e-") >= 10


def test_repr_says_what_to_do_and_what_to_install(monkeypatch):
    lab = mg.lab(karpathy_neuron())
    assert "lab.set(name, x)" in repr(lab) and "lab.nudge(name)" in repr(lab)
    monkeypatch.setitem(__import__("sys").modules, "anywidget", None)  # as if it were not installed
    assert "pip install 'micrograd_nn[live]'" in repr(lab)
    with pytest.raises(ImportError, match=r"micrograd_nn\[live\]"):
        lab.widget()


@pytest.fixture
def widget():
    pytest.importorskip("anywidget", reason="the widget needs anywidget: pip install 'micrograd_nn[live]'")
    o = karpathy_neuron()
    lab = mg.lab(o)
    w = lab.widget()
    w.sent = []
    w.send = w.sent.append
    return lab, w


def test_the_widget_answers_moves_and_nudges(widget):
    lab, w = widget
    assert [leaf["name"] for leaf in w.leaves] == ["x1", "w1", "x2", "w2", "b"]
    root_id = w.payload["frames"][0]["current"]
    assert w.payload["texts"][root_id][1] == "data 0.7071"
    lab._handle({"type": "set", "leaf": "x1", "value": 1.0})
    message = w.sent[-1]
    assert message["type"] == "numbers" and message["ok"]
    assert message["texts"][root_id][1] == f"data {fmt(math.tanh(-3.0 + 6.8813735870195432))}"
    lab._handle({"type": "nudge", "leaf": "w1"})
    nudge = w.sent[-1]
    assert nudge["leaf"] == "w1" and nudge["grad"] == lab.grad("w1") and len(nudge["rows"]) == 10
    lab._handle({"type": "set", "leaf": "b", "value": 1e6})  # tanh is fine there; nothing to refuse
    assert w.sent[-1]["ok"]


def test_the_lab_module_in_chromium(page, tmp_path, widget):  # noqa: F811
    lab, w = widget
    (tmp_path / "lab.html").write_text("<!DOCTYPE html><html><body><div id='out'></div></body></html>")
    page.goto((tmp_path / "lab.html").as_uri())
    page.evaluate("""async ([source, payload, leaves]) => {
      const module = await import(URL.createObjectURL(new Blob([source], {type: 'text/javascript'})));
      const listeners = {};
      window.sent = [];
      const model = { get: (k) => ({payload, leaves})[k], on: (e, f) => { listeners[e] = f; }, off: () => {},
        send: (m) => window.sent.push(m) };
      window.deliver = (m) => listeners['msg:custom'](m);
      await module.default.render({ model, el: document.getElementById('out') });
    }""", [w._esm, w.payload, w.leaves])
    page.wait_for_selector(".mg-current")
    page.locator("input[data-leaf=x1]").fill("1")
    page.wait_for_function("window.sent.length > 0")
    assert page.evaluate("window.sent")[-1] == {"type": "set", "leaf": "x1", "value": 1}
    lab._handle(page.evaluate("window.sent")[-1])
    page.evaluate("(m) => window.deliver(m)", w.sent[-1])
    root = page.locator(".mg-current")
    assert f"data {fmt(lab.data(lab.root))}" in root.text_content()
    page.select_option("select[data-nudge=leaf]", "w1")
    page.click("[data-nudge=go]")
    lab._handle(page.evaluate("window.sent")[-1])
    page.evaluate("(m) => window.deliver(m)", w.sent[-1])
    assert page.locator(".mg-nudge table tr").count() == 11
    assert page.locator("svg.mg-nudge-plot path.mg-forward").count() == 1
    assert page.locator("svg.mg-nudge-plot path.mg-central").count() == 1
    page.screenshot(path=str(tmp_path / "lab.png"))
    assert page.errors == [] and page.blocked == []
