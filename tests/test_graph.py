"""Rendering: DOT structure, determinism, collapsing, SVG/PNG through the bundled binary, fallback,
step-through frames and the command line."""

import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

import micrograd_nn.graph as G
from micrograd_nn import Value
from micrograd_nn.__main__ import ExpressionError, evaluate_expression, main
from micrograd_nn.demo import karpathy_neuron
from micrograd_nn.graph import backward_steps, draw_graph, forward_steps, render, show_steps, to_svg
from micrograd_nn.nn import MLP


def node_lines(source):
    return [line for line in source.splitlines() if re.match(r"\s*n\d+(_op|_hidden)? \[", line)]


def edge_lines(source):
    return [line for line in source.splitlines() if "->" in line]


def svg_texts(svg):
    root = ET.fromstring(svg.split("?>", 1)[1] if svg.startswith("<?xml") else svg)
    return [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]


@pytest.fixture
def no_binary(tmp_path):
    G.set_dot_binary(tmp_path / "missing-dot")
    yield
    G.set_dot_binary(None)


def test_dot_structure_of_the_neuron():
    o = karpathy_neuron()
    src = draw_graph(o, legend=False).source
    values = [line for line in node_lines(src) if "_op" not in line]
    ops = [line for line in node_lines(src) if "_op [" in line]
    assert len(values) == 10 and len(ops) == 5  # 5 leaves, 4 intermediates + root; 5 ops
    assert len(edge_lines(src)) == 5 + 9  # op -> node, and one edge per (child, node) pair
    assert "{ x1 | data    2.0000 | grad   -1.5000 }" in src
    assert "{ o | data    0.7071 | grad    1.0000 }" in src
    assert "tanh" in src and "legend" not in src


def test_local_derivative_edge_labels_equal_the_stored_values():
    o = karpathy_neuron()
    src = draw_graph(o, show_local_grads=True).source
    labels = re.findall(r'-> n\d+_op \[label="?([^"\]]+)"?\]', src)
    order, _ = G._nearest_nodes(o, None)
    expected = [G.number(lg).strip() for node in order for lg in node.local_grads]
    assert labels == expected
    assert "-3.0000" in labels and "0.5000" in labels  # ∂(x1·w1)/∂x1 = w1, ∂tanh/∂z = 1 − o²


def test_source_is_deterministic_and_styles_kinds():
    a = draw_graph(karpathy_neuron()).source
    b = draw_graph(karpathy_neuron()).source
    assert a == b
    for fill, _ in G.STYLES.values():
        assert fill in a
    model = MLP(2, [2, 1])
    out = model([Value(1.0, label="x0"), 2.0])
    src = draw_graph(out, parameters=model).source
    assert src.count(G.STYLES["parameter"][0]) == len(model.parameters()) + 1  # plus the legend
    highlighted = draw_graph(out, highlight=[out]).source
    assert G.HIGHLIGHT in highlighted


def test_large_graphs_collapse_quickly():
    x = [Value(float(i)) for i in range(100)]
    y = x[0]
    for i in range(1, 5000):
        y = y * 0.5 + x[i % 100]  # about 10,000 nodes
    started = time.perf_counter()
    src = draw_graph(y, max_nodes=50).source
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5
    assert len([line for line in node_lines(src) if re.match(r"\s*n\d+ \[", line)]) == 50
    total = 100 + 2 * 4999
    assert "input hidden" in src and f"of {total}" in src
    assert G.text_table(y, max_rows=5).endswith(f"{total - 5} more nodes")


def test_svg_from_the_bundled_binary_is_valid_xml_with_every_label():
    o = karpathy_neuron()
    assert G.find_dot_binary() is not None
    svg = to_svg(o)
    texts = " ".join(svg_texts(svg))
    for label in ("x1", "x2", "w1", "w2", "b", "o"):
        assert re.search(rf"(^|\s){label}(\s|$)", texts)
    bundle = o._repr_mimebundle_()
    assert bundle["image/svg+xml"].startswith("<?xml") and bundle["text/plain"].startswith("Value(data=0.7071")
    assert o._repr_svg_().startswith("<?xml")


def test_png_and_dot_files(tmp_path):
    o = karpathy_neuron()
    png = render(o, tmp_path / "neuron.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dot = render(o, tmp_path / "neuron.dot")
    assert dot.read_text() == draw_graph(o).source
    with pytest.raises(ValueError, match="svg, png or dot"):
        render(o, tmp_path / "neuron.jpg")


def test_fallback_without_a_binary(no_binary, tmp_path):
    o = karpathy_neuron()
    assert G.find_dot_binary() is None
    assert "digraph" in draw_graph(o).source
    assert to_svg(o) is None
    bundle = o._repr_mimebundle_()
    assert list(bundle) == ["text/plain"]
    assert "set_dot_binary" in bundle["text/plain"] and "x1" in bundle["text/plain"]
    with pytest.warns(UserWarning, match="graphviz-pure"):
        written = render(o, tmp_path / "neuron.svg")
    assert written.suffix == ".dot" and "digraph" in written.read_text()
    html = show_steps(o)._repr_html_()
    assert "digraph" in html and "set_dot_binary" in html


def test_explicit_binary_setting_and_environment(monkeypatch, tmp_path):
    found = G.find_dot_binary()
    monkeypatch.setenv(G.DOT_ENV, found)
    assert G.find_dot_binary() == found
    monkeypatch.setenv(G.DOT_ENV, str(tmp_path / "nope"))
    assert G.find_dot_binary() is None


def test_backward_frames_match_backward_and_do_not_touch_grads():
    model = MLP(2, [3, 1], activation="tanh")
    out = model([0.5, -1.0])
    frames = list(backward_steps(out))
    params = model.parameters()
    assert all(p.grad == 0.0 for p in params)  # stepping never mutates .grad
    n_nodes = len(G._nearest_nodes(out, None)[0])
    assert len(frames) == n_nodes and frames[0].node is out
    out.backward()
    for p in params:
        assert frames[-1].grads[p] == p.grad
    assert [f.step for f in frames] == list(range(n_nodes))


def test_forward_frames_in_evaluation_order():
    o = karpathy_neuron()
    frames = list(forward_steps(o))
    assert len(frames) == 10 and frames[-1].node is o
    seen = set()
    for frame in frames:
        assert all(child in seen for child in frame.node.children)
        seen.add(frame.node)
        assert set(frame.data) == seen


def test_step_through_html_has_every_frame_with_a_fixed_layout():
    o = karpathy_neuron()
    steps = show_steps(o)
    html = steps._repr_html_()
    assert len(steps) == 10 and html.count('data-step="') == 10
    assert 'type="range"' in html and html.count("<svg") == 10
    svgs = re.findall(r"<svg width=\"([\d.]+)pt\" height=\"([\d.]+)pt\"", html)
    assert len(set(svgs)) == 1  # every frame has the same size: nothing shifts between steps
    forward = show_steps(o, direction="forward")._repr_html_()
    assert forward.count('data-step="') == 10
    with pytest.raises(ValueError, match="direction"):
        show_steps(o, direction="sideways")


def test_module_summary():
    model = MLP(2, [16, 16, 1])
    assert model.summary().endswith("337 parameters")
    assert "MLP(2, [16, 16, 1]" in model._repr_html_()


# --- the command line ---


def test_cli_neuron_svg(tmp_path, capsys):
    path = tmp_path / "neuron.svg"
    code = main(["graph", "tanh(x1*w1 + x2*w2 + b)", "--set", "x1=2", "x2=0", "w1=-3", "w2=1",
                 "b=6.8813735870195432", "--backward", "-o", str(path)])
    assert code == 0
    texts = [" ".join(t.split()) for t in svg_texts(path.read_text())]  # SVG collapses runs of spaces
    out_index = texts.index("out")
    assert texts[out_index + 1] == "data 0.7071"
    x1_index = texts.index("x1")
    assert texts[x1_index + 2] == "grad -1.5000"
    assert "d out / d x1 = -1.5000" in capsys.readouterr().out


def test_cli_runs_as_a_module(tmp_path):
    path = tmp_path / "g.dot"
    done = subprocess.run([sys.executable, "-m", "micrograd_nn", "graph", "x**2 + 3", "--set", "x=2", "--backward",
                           "-o", str(path)], capture_output=True, text=True)
    assert done.returncode == 0 and "d out / d x = 4.0000" in done.stdout
    assert "digraph" in path.read_text()


@pytest.mark.parametrize("text,where", [
    ("__import__('os').system('x')", "^"),
    ("x.real + 1", "Attribute"),
    ("open('f')", "only calls to"),
    ("exp(x, 2)", "only calls to"),
    ("[x for x in y]", "ListComp"),
    ("x if x else 1", "IfExp"),
    ("lambda: 1", "Lambda"),
    ("x // 2", "only + - * / **"),
    ("x + 'a'", "only numbers"),
    ("y + 1", "unknown name 'y'"),
    ("tanh + 1", "is a function"),
    ("x +", "not a valid expression"),
])
def test_cli_rejects_anything_but_arithmetic(text, where, capsys):
    with pytest.raises(ExpressionError, match=re.escape(where)):
        evaluate_expression(text, {"x": 1.0})
    assert main(["graph", text, "--set", "x=1"]) == 2
    assert "error:" in capsys.readouterr().err


def test_expression_values_match_direct_value_code():
    root, leaves = evaluate_expression("2**x - 1/x + -x*3 + sigmoid(x) - relu(-x) + log(exp(x))", {"x": 1.5})
    x = Value(1.5)
    direct = 2**x - 1 / x + -x * 3 + x.sigmoid() - (-x).relu() + x.exp().log()
    assert root.data == direct.data
    root.backward()
    direct.backward()
    assert leaves["x"].grad == x.grad


def test_drawn_graphs_display_in_jupyter_with_or_without_a_binary(tmp_path):
    graph = draw_graph(karpathy_neuron())
    assert graph._repr_mimebundle_()["image/svg+xml"].startswith("<?xml")
    G.set_dot_binary(tmp_path / "missing")
    try:
        bundle = graph._repr_mimebundle_()
        assert list(bundle) == ["text/plain"] and "digraph" in bundle["text/plain"]
    finally:
        G.set_dot_binary(None)


def test_bundled_graphviz_pure_binary_is_found_by_absolute_path(monkeypatch):
    import sysconfig
    from pathlib import Path

    bundled = Path(sysconfig.get_path("scripts")) / "graphviz-pure"
    assert bundled.is_file(), "graphviz-pure is a core dependency"
    monkeypatch.setattr(G.shutil, "which", lambda name: None)  # as on a machine without Graphviz
    monkeypatch.delenv(G.DOT_ENV, raising=False)
    assert G.find_dot_binary() == str(bundled)
    svg = to_svg(karpathy_neuron())
    assert "graphviz-pure" in svg and "x1" in " ".join(svg_texts(svg))


def test_labels_and_ops_with_record_characters_render():
    x = Value(1.0, label='a|b{c}<d>"e"')
    y = Value(2.0 * x.data, (x,), (2.0,), "f|{g}")
    y.label = "y"
    svg = to_svg(y)
    texts = " ".join(svg_texts(svg))
    assert 'a|b{c}<d>"e"' in texts and "f|{g}" in texts
