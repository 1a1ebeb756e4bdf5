"""The step-through as a page: the saved HTML parsed (controls, slider, every frame with its ledger and drawing,
no external address, escaped text, readable without JavaScript), the GIF export, and the collapsed view."""

import io
import json
import random
import re
import sys
from html.parser import HTMLParser

import pytest

import micrograd_nn as mg
import micrograd_nn.functional as F
from micrograd_nn import Value
from micrograd_nn.demo import karpathy_neuron
from micrograd_nn.graph import show_steps
from micrograd_nn.nn import MLP


class Page(HTMLParser):
    """Every element with its attributes, the text inside each <pre>, and the scripts."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.elements, self.pres, self.scripts, self.styles = [], [], [], []
        self._in = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag in ("pre", "script", "style"):
            self._in = tag
            {"pre": self.pres, "script": self.scripts, "style": self.styles}[tag].append("")

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in:
            {"pre": self.pres, "script": self.scripts, "style": self.styles}[self._in][-1] += data

    def tags(self, name, **attrs):
        return [a for t, a in self.elements if t == name and all(a.get(k) == v for k, v in attrs.items())]


@pytest.fixture
def neuron_page(tmp_path):
    steps = show_steps(karpathy_neuron())
    path = steps.save(tmp_path / "steps.html")
    return steps, path.read_text(encoding="utf-8")


def payload_of(text):
    """The viewer's payload as the page holds it (the JSON script)."""
    page = Page(text)
    (data,) = [s for s, (_, a) in zip(page.scripts, [e for e in page.elements if e[0] == "script"])
               if a.get("type") == "application/json"]
    return json.loads(data)


def test_saved_page_is_one_drawing_and_frames_as_changes(neuron_page):
    steps, text = neuron_page
    page = Page(text)
    assert text.startswith("<!DOCTYPE html>") and page.tags("meta", charset="utf-8")
    (root,) = [a for t, a in page.elements if "mg-steps" in a.get("class", "")]
    assert root["data-step"] == "0" and root["tabindex"] == "0"
    assert text.count("<svg") == 1  # one layout, never one per frame
    payload = payload_of(text)
    assert [f["step"] for f in payload["frames"]] == list(range(10))
    assert [f["ledger"] for f in payload["frames"]] == [frame.text() for frame in steps.frames]
    assert [payload["nodes"][f["current"]] for f in payload["frames"]] == [frame.name for frame in steps.frames]
    # step 7 (mul1 = x1·w1) changes exactly the two records its edges reach, and highlights those edges
    seven = payload["frames"][7]
    ids = {name: i for i, name in payload["nodes"].items()}
    assert seven["texts"] == {ids["x1"]: ["x1", "data 2", "grad -1.5"], ids["w1"]: ["w1", "data -3", "grad 1"]}
    assert sorted(seven["hot"]) == sorted([f"{ids['x1']}->{ids['mul1']}_op", f"{ids['w1']}->{ids['mul1']}_op",
                                          f"{ids['mul1']}_op->{ids['mul1']}"])
    assert payload["texts"][ids["x1"]] == ["x1", "data 2", "grad"]  # no gradient before step 0
    assert seven["done"] == [ids["x2"]]  # finished at the step before
    assert "x1.grad += ∂mul1/∂x1 × mul1.grad" in seven["ledger"]
    (module,) = [s for s in page.scripts if "export function mount" in s]
    for hook in ("data-go", "mg-slider", "mg-ledger", "mg-drawing", "mg-current", "data-node", "ArrowRight"):
        assert hook in module


def test_without_javascript_the_page_reads_as_the_ledger(neuron_page):
    steps, text = neuron_page
    fallback = re.search(r"<noscript>(.*?)</noscript>", text, re.DOTALL).group(1)
    assert Page(fallback).pres == [steps.ledger()]


def test_page_needs_no_network(neuron_page):
    _, text = neuron_page
    page = Page(text)
    assert "http:" not in text and "https:" not in text
    for tag, attrs in page.elements:
        assert tag not in ("link", "img", "iframe", "object", "embed", "a", "image")
        assert "src" not in attrs and "href" not in attrs and "xlink:href" not in attrs


def test_labels_and_ops_reach_the_page_as_text_only(tmp_path):
    x = Value(2.0, label='<img src=x onerror="alert(1)">')
    evil = Value(2.0, (x,), (1.0,), '<<TABLE><TR><TD HREF="javascript:alert(1)">')
    out = evil * 3
    out.label = "</pre></script><script>alert(2)</script><!--"
    text = show_steps(out).save(tmp_path / "evil.html").read_text(encoding="utf-8")
    page = Page(text)
    assert [a.get("type") for t, a in page.elements if t == "script"] == ["application/json", "module"]
    assert "alert" not in page.scripts[1]
    for tag, attrs in page.elements:
        assert tag not in ("img", "a", "table", "td")
        assert not any("javascript" in (value or "").lower() for value in attrs.values())
        assert not any(key.startswith("on") for key in attrs)
    payload = payload_of(text)  # the labels arrive whole, as data the viewer writes as text
    assert "</pre></script><script>alert(2)</script><!--" in payload["nodes"].values()
    assert '<<TABLE><TR><TD HREF="javascript:alert(1)">(' in payload["frames"][-1]["ledger"] or any(
        '<<TABLE><TR><TD HREF="javascript:alert(1)">' in f["ledger"] for f in payload["frames"])


def test_forward_pages_and_bad_arguments(tmp_path):
    o = karpathy_neuron()
    forward = show_steps(o, direction="forward")
    payload = payload_of(forward.html(standalone=True))
    assert len(payload["frames"]) == 10 and payload["direction"] == "forward"
    assert payload["frames"][-1]["ledger"] == "step 9: o = tanh(add2) = tanh(0.8814) = 0.7071"
    ids = {name: i for i, name in payload["nodes"].items()}
    assert payload["texts"][ids["o"]] == ["o", "data"]  # not computed before its step
    assert payload["frames"][-1]["texts"] == {ids["o"]: ["o", "data 0.7071"]}
    with pytest.raises(ValueError, match="direction"):
        show_steps(o, direction="sideways")
    with pytest.raises(ValueError, match="use .html, .gif or .png"):
        forward.save(tmp_path / "steps.pdf")
    with pytest.raises(ValueError, match="max_steps"):
        show_steps(o, max_steps=0)
    with pytest.raises(ValueError, match="tangents"):
        show_steps(o, tangents={})


def test_tangent_pages_push_tangents_from_the_leaves():
    o = karpathy_neuron()
    leaves = {n.label: n for n in mg.engine.topological_order(o) if not n._prev}
    steps = show_steps(o, "tangent", tangents={leaves["x1"]: 1.0})
    payload = steps.payload()
    ids = {name: i for i, name in payload["nodes"].items()}
    assert payload["direction"] == "tangent" and payload["texts"][ids["o"]] == ["o", "data 0.7071", "tangent"]
    last = payload["frames"][-1]
    assert last["texts"][ids["o"]] == ["o", "data 0.7071", f"tangent {mg.graph.fmt(mg.jvp(o, [leaves['x1']], [1.0]))}"]
    assert all(not text[-1].endswith("…") for f in payload["frames"] for text in f["texts"].values())


def test_layer_notation_names_the_drawing_and_the_ledger():
    random.seed(1)
    model = MLP(2, [3, 1])
    loss = F.binary_cross_entropy(model([0.5, -1.0]), 1.0)
    payload = show_steps(loss, parameters=model, notation="layer").payload()
    assert {"W[2]₀,₂", "b[1]₀", "a[1]₂", "z[2]₀"} <= set(payload["nodes"].values())
    assert any(f["ledger"].startswith("step 3: a[1]₂ = relu(z[1]₂)") for f in payload["frames"])
    with pytest.raises(ValueError, match="notation"):
        show_steps(loss, parameters=model, notation="greek")


def mlp_and_loss():
    random.seed(1)
    model = MLP(2, [16, 16, 1])
    return model, F.binary_cross_entropy(model([0.5, -1.0]), 1.0)


@pytest.mark.parametrize("collapsed", [False, True])
def test_the_mlp_page_is_small_and_every_step_is_drawn(tmp_path, collapsed):
    model, loss = mlp_and_loss()
    steps = show_steps(loss, parameters=model, collapsed=collapsed)
    path = steps.save(tmp_path / "mlp.html")
    assert path.stat().st_size <= 3_000_000
    text = path.read_text(encoding="utf-8")
    assert text.count("<svg") == 1
    payload = payload_of(text)
    assert len(payload["frames"]) == len(steps) == 403  # one numbering: a frame per step, the weights' too
    svg = payload["windows"][0]["svg"]
    drawn = set(re.findall(r"<title>([^<]+)</title>", svg))
    assert all(f["current"] in drawn for f in payload["frames"])  # the current node is always drawn
    if collapsed:  # a weight's step is its neuron's box
        w = next(f for f, frame in zip(payload["frames"], steps.frames) if frame.name == "layers.1.neurons.3.w.0")
        assert payload["nodes"][w["current"]] == "layers.1.neurons.3.a"


def test_a_large_graph_is_drawn_in_windows_that_follow_the_pass():
    x = Value(0.5, label="x")
    y = x
    for _ in range(400):
        y = (y * 0.999 + 0.001).tanh()
    steps = show_steps(y, max_nodes=200)
    payload = steps.payload()
    windows = payload["windows"]
    assert 4 <= len(windows) <= 12
    for frame in payload["frames"]:
        svg = windows[frame["window"]]["svg"]
        assert f"<title>{frame['current']}</title>" in svg
        assert len(re.findall(r"<title>n\d+</title>", svg)) <= 200  # the records of at most max_nodes Values
    assert [f["window"] for f in payload["frames"]] == sorted(f["window"] for f in payload["frames"])


def test_a_page_holds_at_most_max_steps_frames_and_says_so():
    x = Value(0.5, label="x")
    y = x
    for _ in range(30):
        y = y * 1.01
    with pytest.warns(UserWarning, match="holds the first 20"):
        payload = show_steps(y, max_steps=20).payload()
    assert len(payload["frames"]) == 20 and "31 steps" in payload["note"]
    assert len(str(show_steps(y, max_steps=20)).splitlines()) == 31 * 2 - 1  # the ledger stays whole


def test_gif_export(tmp_path):
    from PIL import Image

    steps = show_steps(karpathy_neuron())
    path = steps.save(tmp_path / "steps.gif")
    with Image.open(path) as gif:
        assert gif.n_frames == len(steps) == 10
        sizes = set()
        for i in range(gif.n_frames):
            gif.seek(i)
            sizes.add(gif.size)
        assert len(sizes) == 1 and max(sizes)[0] <= 1600


def test_pictures_of_steps_are_cropped_to_a_sane_size(tmp_path):
    from PIL import Image

    x = Value(1.0, label="x")
    fan = mg.sum([x * k for k in range(1, 56)])  # 56 nodes side by side
    steps = show_steps(fan)
    with Image.open(steps.save(tmp_path / "step.png", step=1)) as png:
        assert png.width <= 1600
    model, loss = mlp_and_loss()
    collapsed = show_steps(loss, parameters=model, collapsed=True)
    with pytest.raises(ValueError, match=r"at most 120.*steps=range.*\.html"):
        show_steps(mg.sum([x * k for k in range(200)])).save(tmp_path / "long.gif")
    with Image.open(collapsed.save(tmp_path / "mlp.gif", steps=range(30, 45))) as gif:
        assert gif.n_frames == 15 and gif.width <= 1600
    assert collapsed.picture(200).source.count("z = Σ w·x + b") <= 1 + 16 + 1  # the box, its inputs, its user
    with pytest.raises(ValueError, match="step=k"):
        steps.save(tmp_path / "step.png")
    with pytest.raises(ValueError, match="0 <= k < 57"):
        steps.save(tmp_path / "step.png", step=57)


def test_gif_without_pillow_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"micrograd_nn\[gif\]"):
        show_steps(karpathy_neuron()).save(tmp_path / "steps.gif")
    assert not (tmp_path / "steps.gif").exists()


def test_repr_html_is_the_page_body_and_print_gives_the_ledger():
    steps = show_steps(karpathy_neuron())
    body = steps._repr_html_()
    assert body.startswith('<div class="mg-steps"') and "<!DOCTYPE" not in body
    assert str(steps) == steps.ledger() == "\n".join(f.text() for f in steps.frames)
    stream = io.StringIO()
    print(steps, file=stream)
    assert re.search("x1.grad = [−-]1.5", stream.getvalue())


def test_gif_without_a_binary_says_so(tmp_path):
    import micrograd_nn.graph as G

    G.set_dot_binary(tmp_path / "missing")
    try:
        with pytest.raises(G.RenderFailure, match="No Graphviz binary was found, so no picture"):
            show_steps(karpathy_neuron()).save(tmp_path / "steps.gif")
    finally:
        G.set_dot_binary(None)


def test_control_characters_in_labels_never_reach_the_html():
    x = Value(1.0, label="a\x00b\x07c")
    page = show_steps((x * 2).tanh()).html(standalone=True)
    assert "\x00" not in page and "\x07" not in page and "a␀b␇c" in page


def test_the_widget_holds_the_payload_and_sends_new_frames():
    pytest.importorskip("anywidget", reason="the widget needs anywidget: pip install 'micrograd_nn[live]'")
    steps = show_steps(karpathy_neuron())
    widget = steps.widget()
    assert widget.payload == steps.payload() and "export default" in widget._esm
    sent = []
    widget.send = sent.append
    extra = {"step": 10, "window": 0, "current": None, "hot": [], "texts": {}, "ledger": "step 10: trained once"}
    widget.add_frames([extra])
    assert sent == [{"type": "frames", "frames": [extra]}] and widget.payload["frames"][-1] == extra
    assert len(steps.payload()["frames"]) == 10  # the step-through's own page is unchanged
    widget.apply({"ledger": "now"})
    assert sent[-1] == {"type": "apply", "frame": {"ledger": "now"}}


def test_the_widget_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "anywidget", None)
    with pytest.raises(ImportError, match=r"micrograd_nn\[live\]"):
        show_steps(karpathy_neuron()).widget()
