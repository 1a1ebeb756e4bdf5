"""Rendering: DOT structure, determinism, names, clusters and collapsed neurons, SVG/PNG through the bundled
binary, the fallback without one, accurate messages when it fails, escaping, and practice sheets."""

import re
import sysconfig
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import micrograd_nn.graph as G
import micrograd_nn.graph.binary as B
from micrograd_nn import Value
from micrograd_nn.demo import karpathy_neuron
from micrograd_nn.graph import draw_graph, practice, render, show_steps, to_svg
from micrograd_nn.nn import MLP


def node_lines(source):
    return [line for line in source.splitlines() if re.match(r"\s*n\d+(_op|_hidden)? \[", line)]


def edge_lines(source):
    return [line for line in source.splitlines() if "->" in line]


def svg_texts(svg):
    root = ET.fromstring(svg.split("?>", 1)[1] if svg.startswith("<?xml") else svg)
    return [" ".join((t.text or "").split()) for t in root.iter("{http://www.w3.org/2000/svg}text")]


def svg_attribute_values(svg):
    root = ET.fromstring(svg.split("?>", 1)[1] if svg.startswith("<?xml") else svg)
    return [(element.tag, key, value) for element in root.iter() for key, value in element.attrib.items()]


@pytest.fixture
def no_binary(tmp_path):
    G.set_dot_binary(tmp_path / "missing-dot")
    yield
    G.set_dot_binary(None)


@pytest.fixture
def slow_binary(tmp_path):
    """A 'Graphviz' that never answers in time."""
    script = tmp_path / "slow-dot"
    script.write_text("#!/bin/sh\nsleep 5\n")
    script.chmod(0o755)
    G.set_dot_binary(script)
    yield
    G.set_dot_binary(None)


def test_dot_structure_of_the_neuron():
    o = karpathy_neuron()
    src = draw_graph(o, legend=False).source
    values = [line for line in node_lines(src) if "_op" not in line]
    ops = [line for line in node_lines(src) if "_op [" in line]
    assert len(values) == 10 and len(ops) == 5  # 5 leaves, 4 intermediates + root; 5 ops
    assert len(edge_lines(src)) == 5 + 9  # op -> node, and one edge per (child, node) pair
    assert "{ x1 | data         2 | grad      -1.5 }" in src
    assert "{ o | data    0.7071 | grad         1 }" in src
    assert "{ mul1 | data        -6 | grad       0.5 }" in src  # unlabelled: op key and a counter
    assert "tanh" in src and "legend" not in src


def test_numbers_keep_four_significant_digits_and_never_show_zero_for_tiny_values():
    x = Value(1.2e-07, label="x")
    y = x * 3.0e5
    src = draw_graph(y).source
    assert "1.2e-07" in src and "0.036" in src and "0.0000" not in src
    assert "* 3e+05" in src  # the folded constant on the op circle


def test_folded_constants_on_op_circles():
    x = Value(2.0, label="x")
    src = draw_graph(((x * 3) ** 2 + 1) - (2 - x)).source
    for text in ('label="* 3"', 'label="**2"', 'label="+ 1"', 'label="2 -"'):
        assert text in src


def test_local_derivative_edge_labels_equal_the_stored_values():
    o = karpathy_neuron()
    src = draw_graph(o, show_local_grads=True).source
    labels = re.findall(r'-> n\d+_op \[label="?([^"\]]+)"?\]', src)
    order, _ = G.drawing._nearest_nodes(o, None)
    expected = [G.fmt(lg) for node in order for lg in node.local_grads]
    assert labels == expected
    assert "-3" in labels and "0.5" in labels  # ∂(x1·w1)/∂x1 = w1, ∂tanh/∂n = 1 − o²


def test_source_is_deterministic_and_styles_kinds():
    a = draw_graph(karpathy_neuron()).source
    b = draw_graph(karpathy_neuron()).source
    assert a == b
    for fill, _ in G.STYLES.values():
        assert fill in a
    highlighted = draw_graph(karpathy_neuron(), highlight=[karpathy_neuron()]).source
    assert G.HIGHLIGHT in highlighted


def test_bad_arguments_are_refused_with_their_names():
    o = karpathy_neuron()
    with pytest.raises(TypeError, match="needs a Value as root, got float"):
        draw_graph(0.5)
    with pytest.raises(ValueError, match="rankdir must be one of"):
        draw_graph(o, rankdir="XY")
    with pytest.raises(ValueError, match="max_nodes must be a positive int"):
        draw_graph(o, max_nodes=0)
    with pytest.raises(TypeError, match="show_steps needs a Value"):
        show_steps("o")


def test_step_through_parameters_are_not_in_the_public_signature():
    import inspect

    params = inspect.signature(draw_graph).parameters
    assert "data" not in params and "grads" not in params


def test_parameters_from_a_module_are_named_and_grouped_by_neuron():
    model = MLP(2, [2, 1])
    for p in model.parameters():
        p.label = ""  # names come from named_parameters(), not from labels
    x0 = Value(1.0, label="w_in")  # an input whose label starts with w: still an input, as it is no parameter
    out = model([x0, 2.0])
    src = draw_graph(out, parameters=model).source
    assert src.count(G.STYLES["parameter"][0]) == len(model.parameters()) + 1  # plus the legend
    assert src.count(G.STYLES["input"][0]) == 1 + 1
    clusters = re.findall(r"subgraph cluster_\d+ \{\s*[^\n]*label=\"([\w.]+)\"", src)
    assert clusters == ["layers.0.neurons.0", "layers.0.neurons.1", "layers.1.neurons.0"]
    assert "{ w.0 |" in src and "{ b |" in src


def test_collapsed_neurons_are_one_box_with_their_numbers():
    model = MLP(2, [16, 16, 1], activation="tanh")
    out = model([Value(0.5, label="x0"), Value(-1.0, label="x1")])
    out.backward()
    src = draw_graph(out, parameters=model, collapsed=True).source  # max_nodes counts boxes
    boxes = [line for line in src.splitlines() if "z = Σ w·x + b" in line]
    assert len(boxes) == 33
    neuron = model.layers[1].neurons[3]
    a = neuron([n([0.5, -1.0]) for n in model.layers[0].neurons])  # the same activation again, to read it
    box = next(line for line in boxes if "layers.1.neurons.3:" in line)
    assert "(16 w, b)" in box and re.search(rf"a = tanh\(z\) data +{re.escape(G.fmt(a.data))} ", box)
    assert not any("w.0 |" in line for line in src.splitlines())  # the weights are inside the boxes


def test_large_graphs_collapse_quickly():
    x = [Value(float(i)) for i in range(100)]
    y = x[0]
    for i in range(1, 5000):
        y = y * 0.5 + x[i % 100]  # about 10,000 nodes
    src = draw_graph(y, max_nodes=50).source
    assert len([line for line in node_lines(src) if re.match(r"\s*n\d+ \[", line)]) == 50
    total = 100 + 2 * 4999
    assert "input hidden" in src and f"of {total}" in src
    assert G.text_table(y, max_rows=5).endswith(f"{total - 5} more nodes")


def test_svg_from_the_bundled_binary_is_valid_xml_with_every_label():
    o = karpathy_neuron()
    assert G.find_dot_binary() is not None
    svg = to_svg(o)
    texts = svg_texts(svg)
    for label in ("x1", "x2", "w1", "w2", "b", "o"):
        assert label in texts
    assert "grad -1.5" in texts and "data 0.7071" in texts
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
    bundle = o._repr_mimebundle_()  # laid out in the page by Graphviz in WebAssembly; a table where no script runs
    assert list(bundle) == ["text/html", "text/plain"] and "mgLayout" in bundle["text/html"]
    assert "digraph" in bundle["text/html"] and "<svg" not in bundle["text/html"]
    assert "set_dot_binary" in bundle["text/plain"] and "x1" in bundle["text/plain"]
    with pytest.warns(UserWarning, match="No Graphviz binary was found"):
        written = render(o, tmp_path / "neuron.svg")
    assert written.suffix == ".dot" and "digraph" in written.read_text()
    html = show_steps(o)._repr_html_()
    assert "digraph" in html and "set_dot_binary" in html


def test_a_timeout_is_reported_as_a_timeout_not_as_a_missing_package(slow_binary, monkeypatch, tmp_path):
    monkeypatch.setattr(B, "TIMEOUT_SECONDS", 0.5)
    o = karpathy_neuron()
    bundle = o._repr_mimebundle_()
    message = bundle["text/plain"]
    assert "did not finish the layout within 0.5 s" in message and "slow-dot" in message
    assert "pip install" not in message and "x1" in message  # the text table is still there
    with pytest.warns(RuntimeWarning, match="did not finish"):
        assert to_svg(o) is None
    with pytest.warns(UserWarning, match="did not finish"):
        assert render(o, tmp_path / "o.svg").suffix == ".dot"
    assert "did not finish" in draw_graph(o)._repr_mimebundle_()["text/plain"]
    assert "did not finish" in show_steps(o)._repr_html_()


def test_explicit_binary_setting_and_environment(monkeypatch, tmp_path):
    found = G.find_dot_binary()
    monkeypatch.setenv(G.DOT_ENV, found)
    assert G.find_dot_binary() == found
    monkeypatch.setenv(G.DOT_ENV, str(tmp_path / "nope"))
    assert G.find_dot_binary() is None


def test_drawn_graphs_display_in_jupyter_with_or_without_a_binary(tmp_path):
    graph = draw_graph(karpathy_neuron())
    assert graph._repr_mimebundle_()["image/svg+xml"].startswith("<?xml")
    G.set_dot_binary(tmp_path / "missing")
    try:
        bundle = graph._repr_mimebundle_()
        assert list(bundle) == ["text/html", "text/plain"] and "digraph" in bundle["text/plain"]
        assert "mgLayout" in bundle["text/html"]
    finally:
        G.set_dot_binary(None)


def test_bundled_graphviz_pure_binary_is_found_by_absolute_path(monkeypatch):
    bundled = Path(sysconfig.get_path("scripts")) / "graphviz-pure"
    assert bundled.is_file(), "graphviz-pure is a core dependency"
    monkeypatch.setattr(B.shutil, "which", lambda name: None)  # as on a machine without Graphviz
    monkeypatch.delenv(G.DOT_ENV, raising=False)
    assert G.find_dot_binary() == str(bundled)
    svg = to_svg(karpathy_neuron())
    assert "graphviz-pure" in svg and "x1" in svg_texts(svg)


def test_labels_and_ops_with_record_characters_render():
    x = Value(1.0, label='a|b{c}<d>"e"\\N')
    y = Value(2.0 * x.data, (x,), (2.0,), "f|{g}")
    y.label = "y"
    texts = svg_texts(to_svg(y))
    assert 'a|b{c}<d>"e"\\N' in texts and "f|{g}" in texts


def test_no_label_or_op_adds_markup_or_links():
    x = Value(2.0, label='<b>x</b><a href="javascript:alert(1)">')
    evil = Value(2.0, (x,), (1.0,), '<<TABLE><TR><TD HREF="javascript:alert(1)">')
    out = evil * 3
    out.label = '"><script>alert(1)</script>'
    source = draw_graph(out).source
    assert "label=<<TABLE><TR><TD HREF" not in source  # never an HTML label
    svg = to_svg(out)
    for tag, key, value in svg_attribute_values(svg):
        assert "javascript" not in value.lower() and not key.endswith("href"), (tag, key, value)
    tags = {element.tag.split("}")[1] for element in ET.fromstring(svg.split("?>", 1)[1]).iter()}
    assert tags <= {"svg", "g", "title", "polygon", "path", "text", "ellipse", "polyline"}
    texts = svg_texts(svg)
    assert '<b>x</b><a href="javascript:alert(1)">' in texts  # shown as the text it is
    assert '"><script>alert(1)</script>' in texts


def test_control_characters_in_labels_are_shown_not_fatal():
    x = Value(1.0, label="x\x00\x07\nnext")
    y = Value(3.0, (x,), (3.0,), "op\x1b[31m")
    y.label = "y"
    svg = to_svg(y)
    assert svg is not None
    texts = svg_texts(svg)
    assert "x␀␇␊next" in texts and "op␛[31m" in texts


def test_a_node_used_far_apart_is_drawn_next_to_each_use():
    # One x feeding 110 additions along a chain needs edges across the whole drawing, which Graphviz lays out
    # as hidden nodes in every column (15 s in graphviz-pure, 48 s with edge labels). A copy per use: 0.1 s.
    x = Value(1.0, label="x")
    y = x
    for _ in range(109):
        y = y + x
    src = draw_graph(y, show_local_grads=True).source
    copies = re.findall(r"^\s*(n\d+_for_n\d+_\d) \[label=\"x \((\d+)/110\)", src, re.M)
    assert len(copies) == 109 and sorted(int(k) for _, k in copies) == list(range(2, 111))
    for copy, _ in copies:
        assert len(re.findall(rf"^\s*{copy} -> n\d+_op", src, re.M)) == 1
    (original,) = re.findall(r"^\s*(n\d+) \[label=\"\{ x \(1/110\)", src, re.M)
    assert len(re.findall(rf"^\s*{original} -> ", src, re.M)) == 1  # it serves its nearest use only
    assert "_for_" not in draw_graph(karpathy_neuron()).source  # nothing is copied in ordinary graphs
    assert re.search(r"data\s+110", src)
    assert len(re.findall("shape=record", src)) == 110  # one record per Value (x and 109 sums); other uses: references


# --- practice sheets ---


def test_practice_gradients_checked_against_a_backward_on_the_side():
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    o = (x1 * w1 + x2 * w2 + b).tanh()
    o.label = "o"
    sheet = practice(o, nodes=["x1", "w1", "x2", "w2", "b"])
    assert sheet.questions == ["x1", "w1", "x2", "w2", "b"]
    src = sheet.graph().source
    assert src.count("grad         ? ") == 5
    marks = sheet.check({"x1": -1.5, "w1": 1.0, "x2": 0.5, "w2": 0.1, "b": 0.5})
    assert [m.right for m in marks] == [True, True, True, False, True]
    w2_mark = marks[3]
    assert w2_mark.expected == 0.0 and w2_mark.given == 0.1
    table = sheet.table(reveal=True)  # a wrong answer's expected number shows only when revealed
    assert "4 of 5 right" in table and re.search(r"w2\s+0\s+0.1\s+0.1\s+wrong", table)  # 0 expected: |given|
    drawn = sheet.graph().source
    assert drawn.count(G.drawing.RIGHT) == 4 + 1 and drawn.count(G.drawing.WRONG) == 1 + 1  # and the legend
    assert all(v.grad == 0.0 for v in (x1, x2, w1, w2, b, o))  # nothing touched


def test_practice_rejects_unknown_names_and_answers():
    o = karpathy_neuron()
    with pytest.raises(ValueError, match="'zz' is not a node"):
        practice(o, nodes=["zz"])
    with pytest.raises(ValueError, match="hide must be"):
        practice(o, hide="data")
    sheet = practice(o, nodes=["x1"])
    with pytest.raises(ValueError, match="not questions of this sheet"):
        sheet.check({"w9": 1.0})
    with pytest.raises(TypeError, match="must be a number"):
        sheet.check({"x1": "-1.5"})


def test_module_summary():
    model = MLP(2, [16, 16, 1])
    assert model.summary().endswith("337 parameters")
    assert "MLP(2, [16, 16, 1]" in model._repr_html_()


def test_practice_sheet_displays_its_drawing_and_table():
    o = karpathy_neuron()
    sheet = practice(o, nodes=["x1"])
    sheet.check({"x1": -1.5})
    page = sheet._repr_html_()
    assert "<svg" in page and "<?xml" not in page and "1 of 1 right" in page
    assert str(sheet) == sheet.table()


def collapsed_tanh_network():
    model = MLP(2, [2, 1], activation="tanh", rng=__import__("random").Random(3))
    loss = (model([Value(0.5, label="x0"), Value(-1.0, label="x1")]) - 1.0) ** 2
    return model, loss


def test_collapsed_neurons_keep_their_index_order():
    model, loss = collapsed_tanh_network()
    assert 'ordering=in' in draw_graph(loss, parameters=model, collapsed=True).source


def test_collapsed_activation_step_carries_no_gradient_along_the_input_edges():
    from micrograd_nn.graph.drawing import HOT_EDGE

    model, loss = collapsed_tanh_network()
    steps = show_steps(loss, parameters=model, collapsed=True)
    pictures = [(frame, graph) for (frame, _), graph in zip(steps.pictures(), steps.graphs())]
    bias = model.layers[0].neurons[1].b
    a_step = next(g for f, g in pictures if f.node.op == "tanh" and bias in f.node.children[0].children)
    z_step = next(g for f, g in pictures if f.node.op == "dot" and bias in f.node.children)

    def hot_edges(graph):
        return [line for line in graph.source.splitlines() if "->" in line and HOT_EDGE in line]

    assert hot_edges(a_step) == [] and len(hot_edges(z_step)) == 2  # z's step sends gradient to x0 and x1


def test_pictures_can_be_kept_each_with_its_own_numbers():
    x, w = Value(2.0, label="x"), Value(-3.0, label="w")
    paints = [paint for _, paint in show_steps((x * w).tanh()).pictures()]
    assert paints[0].grads is not paints[-1].grads
    assert paints[0].grads.get(x) in (None, 0.0) and paints[-1].grads[x] != 0.0
