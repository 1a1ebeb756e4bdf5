"""Step-through frames: the chain-rule ledger of Karpathy's neuron checked by hand, forward equations, node names,
the number format, memory linear in the graph, and no `.grad` ever touched. No Graphviz is needed here."""

import gc
import math
import re
import subprocess
import sys
import tracemalloc

import pytest

import micrograd_nn as mg
from micrograd_nn import Value
from micrograd_nn.engine import topological_order
from micrograd_nn.frames import backward_steps, fmt, forward_steps, node_names
from micrograd_nn.nn import MLP

NUMBER = r"(?<![\w.])[-−]?\d+(?:\.\d+)?(?:e[+-−]\d+)?"  # a number, not the digit in a name such as x2


def neuron():
    """Karpathy's neuron, labelled as in the lecture: n = x1w1 + x2w2 + b, o = tanh(n); no backward() run."""
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    x1w1, x2w2 = x1 * w1, x2 * w2
    x1w1.label, x2w2.label = "x1w1", "x2w2"
    x1w1x2w2 = x1w1 + x2w2
    x1w1x2w2.label = "x1w1x2w2"
    n = x1w1x2w2 + b
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    return o, dict(x1=x1, x2=x2, w1=w1, w2=w2, b=b, n=n)


def numbers(line):
    return [float(t.replace("−", "-")) for t in re.findall(NUMBER, line.split("=", 1)[1])]


def frame_of(frames, name):
    return next(f for f in frames if f.name == name)


def test_ledger_of_the_neuron_by_hand():
    o, v = neuron()
    frames = list(backward_steps(o))
    assert [f.name for f in frames[:2]] == ["o", "n"]
    # do/dn = 1 - tanh(n)^2 = 1 - 0.7071^2 = 0.5 (the lecture's number)
    (line,) = frame_of(frames, "o").lines()[1:]
    assert line.startswith("n.grad += ∂o/∂n × o.grad = (1 − o²) × 1 = (1 − 0.7071²) × 1 = 0.5")  # o's value
    assert line.endswith("→ n.grad = 0.5")
    # n = x1w1x2w2 + b: both local derivatives are 1, so both get 0.5
    lines = frame_of(frames, "n").lines()[1:]
    assert [numbers(line)[-1] for line in lines] == [0.5, 0.5]
    # x1w1 = x1·w1 with upstream 0.5: ∂/∂x1 = w1 = -3 → -1.5; ∂/∂w1 = x1 = 2 → 1
    x_line, w_line = frame_of(frames, "x1w1").lines()[1:]
    assert x_line == "x1.grad += ∂x1w1/∂x1 × x1w1.grad = w1 (−3) × 0.5 = −1.5   → x1.grad = −1.5"
    assert w_line == "w1.grad += ∂x1w1/∂w1 × x1w1.grad = x1 (2) × 0.5 = 1   → w1.grad = 1"
    # x2w2 = x2·w2: ∂/∂x2 = w2 = 1 → 0.5; ∂/∂w2 = x2 = 0 → 0
    x2_line, w2_line = frame_of(frames, "x2w2").lines()[1:]
    assert numbers(x2_line) == [1, 0.5, 0.5, 0.5]
    assert numbers(w2_line) == [0, 0.5, 0, 0]
    assert frame_of(frames, "x1").describe().endswith("x1.grad = −1.5 is complete")
    assert all(p.grad == 0.0 for p in v.values())  # computed on the side


def test_edges_are_data_and_match_backward():
    o, v = neuron()
    frames = list(backward_steps(o))
    (edge_x1, edge_w1) = frame_of(frames, "x1w1").edges
    assert edge_x1.child is v["x1"] and edge_x1.position == 0
    assert (edge_x1.local, edge_x1.upstream, edge_x1.contribution, edge_x1.total_after) == \
        pytest.approx((-3.0, 0.5, -1.5, -1.5), rel=1e-15)
    assert edge_w1.local == 2.0 and edge_w1.total_after == pytest.approx(1.0, rel=1e-15)
    o.backward()
    final = frames[-1].grads
    for node in v.values():
        assert final[node] == node.grad


def test_running_total_where_a_node_feeds_several():
    x = Value(3.0, label="x")
    y = x * x + x  # dy/dx = 2x + 1 = 7
    y.label = "y"
    frames = list(backward_steps(y))
    lines = [line for f in frames for line in f.lines() if line.strip().startswith("x.grad")]
    assert len(lines) == 3
    assert all("running total" in line and "x is used 3 times" in line for line in lines)
    assert [numbers(line.split("→")[1])[:2] for line in lines] == [[1, 0], [4, 1], [7, 4]]  # x.grad, was
    y.backward()
    assert frames[-1].grads[x] == x.grad == 7.0


def test_hand_built_nodes_show_the_number_only():
    x = Value(0.5, label="x")
    s = Value(math.sin(x.data), (x,), (math.cos(x.data),), "sin")
    s.label = "s"
    (line,) = next(f for f in backward_steps(s) if f.node is s).lines()[1:]
    assert line == f"x.grad += ∂s/∂x × s.grad = {fmt(math.cos(0.5))} × 1 = {fmt(math.cos(0.5))}   → x.grad = " \
                   f"{fmt(math.cos(0.5))}"
    assert next(forward_steps(s)).describe().startswith("step 0: x = 0.5")
    assert list(forward_steps(s))[-1].describe() == f"step 1: s = sin(x) = sin(0.5) = {fmt(math.sin(0.5))}"


def test_forward_equations():
    o, v = neuron()
    lines = {f.name: f.describe().split(": ", 1)[1] for f in forward_steps(o)}
    assert lines["x1w1"] == "x1w1 = x1·w1 = 2 × (−3) = −6"
    # (−6) + 6.881 is 0.881: the shown operands do not give the shown n (b is 6.8814), so ≈, not =
    assert lines["n"] == "n = x1w1x2w2 + b = (−6) + 6.881 ≈ 0.8814"
    assert lines["o"] == "o = tanh(n) = tanh(0.8814) = 0.7071"
    z = mg.dot([Value(2.0, label="w0"), Value(-1.0, label="w1")], [0.5, 3.0], Value(0.25, label="b"))
    z.label = "z"
    assert list(forward_steps(z))[-1].describe() == \
        "step 3: z = Σᵢ wᵢxᵢ + b = w0·0.5 + w1·3 + b = 2 × 0.5 + (−1) × 3 + 0.25 = −1.75"


def test_forward_frames_in_evaluation_order():
    o, _ = neuron()
    frames = list(forward_steps(o))
    assert len(frames) == 10 and frames[-1].node is o
    seen = set()
    for frame in frames:
        assert all(child in seen for child in frame.node.children)
        seen.add(frame.node)
        assert set(frame.data) == seen


def test_backward_frames_of_an_mlp_match_backward_and_do_not_touch_grads():
    model = MLP(2, [3, 1], activation="tanh")
    out = model([0.5, -1.0])
    frames = list(backward_steps(out))
    params = model.parameters()
    assert all(p.grad == 0.0 for p in params)
    n_nodes = len(topological_order(out))
    assert len(frames) == n_nodes and frames[0].node is out
    assert [f.step for f in frames] == list(range(n_nodes))
    out.backward()
    for p in params:
        assert frames[-1].grads[p] == p.grad


def test_generated_names():
    x = Value(1.0)
    y = (x * 3 + 1).tanh() * x
    names = node_names(topological_order(y))
    assert sorted(names.values()) == ["add1", "leaf1", "mul1", "mul2", "tanh1"]
    assert names[x] == "leaf1" and names[y] == "mul2"
    taken = Value(2.0, label="mul1")
    z = taken * taken
    assert node_names(topological_order(z))[z] == "mul2"  # never the name a label already uses
    model = MLP(2, [1])
    out = model([1.0, 2.0])
    given = {p: name for name, p in model.named_parameters()}
    assert set(given.values()) <= set(node_names(topological_order(out), given).values())


@pytest.mark.parametrize("x,text", [
    (0.0, "0"), (2.0, "2"), (-1.5, "-1.5"), (0.70710678, "0.7071"), (6.8813735870195432, "6.881"),
    (1.2e-07, "1.2e-07"), (-1.23456e-07, "-1.235e-07"), (0.000999, "9.99e-04"), (0.001, "0.001"),
    (9999.4, "9999"), (9999.96, "1e+04"), (12345.0, "1.234e+04"), (math.inf, "inf"), (math.nan, "nan"),
])
def test_number_format(x, text):
    assert fmt(x) == text


def test_small_nonzero_numbers_never_print_as_zero():
    for exponent in range(-300, 0, 7):
        assert float(fmt(10.0**exponent)) != 0.0


def chain(length):
    x = Value(0.5, label="x")
    y = x
    for _ in range(length - 1):
        y = y * 1.0001
    return y


def frames_memory(length):
    root = chain(length)
    gc.collect()
    tracemalloc.start()
    frames = list(backward_steps(root))
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(frames) == length
    return size


def test_memory_of_all_frames_grows_linearly():
    small, large = frames_memory(500), frames_memory(2000)
    assert large < 6 * small  # 4 times the nodes: linear (4 times the memory), not quadratic (16 times)
    assert large / 2000 < 2000  # bytes per frame: a few hundred, nowhere near a copy of every number


def test_frames_import_no_graphviz():
    code = "import sys, micrograd_nn.frames; print('graphviz' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_bad_roots_are_refused_by_type():
    with pytest.raises(TypeError, match="need a Value as root, got float"):
        next(backward_steps(1.5))
    with pytest.raises(TypeError, match="need a Value as root, got list"):
        next(forward_steps([Value(1.0)]))


def test_names_from_a_module_for_parameters_and_neurons():
    from micrograd_nn.frames import model_names

    model = MLP(2, [3, 1], activation="tanh")
    out = model([0.5, -1.0])
    order = topological_order(out)
    names = node_names(order, model_names(order, model))
    neuron = model.layers[0].neurons[1]
    assert names[neuron.w[1]] == "layers.0.neurons.1.w.1" and names[neuron.b] == "layers.0.neurons.1.b"
    assert names[out] == "layers.1.neurons.0.z"  # the linear output neuron: no activation
    hidden = {name for name in names.values() if name.startswith("layers.0.neurons.1.")}
    assert {"layers.0.neurons.1.z", "layers.0.neurons.1.a"} <= hidden
    batch = mg.sum(model(x) for x in ([0.5, -1.0], [1.0, 2.0]))  # each neuron used twice: counters instead
    order = topological_order(batch)
    assert not any(name.endswith((".z", ".a")) for name in node_names(order, model_names(order, model)).values())


def test_the_readme_ledger_is_what_the_neuron_prints():
    from pathlib import Path

    from micrograd_nn.demo import karpathy_neuron

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```text\n(  step 7: mul1.*?)```", readme, re.DOTALL).group(1)
    shown = "\n".join(line[2:] for line in block.rstrip().splitlines())
    assert shown == list(backward_steps(karpathy_neuron()))[7].text()


def test_describe_has_one_line_per_edge_naming_the_child_with_the_chain_rule_numbers():
    x1, w1 = Value(2.0, label="x1"), Value(-3.0, label="w1")
    n = x1 * w1
    n.label = "n"
    o = n * 0.5  # upstream gradient of n: 0.5
    frame = next(f for f in backward_steps(o) if f.node is n)
    lines = frame.describe().splitlines()
    assert len(lines) == len(n.children) == 2
    x1_line = next(line for line in lines if "x1" in line)
    assert x1_line.startswith("x1.grad") and "−3" in x1_line and "0.5" in x1_line and "−1.5" in x1_line
    assert frame.text().splitlines()[1:] == ["  " + line for line in lines]


# --- textbook notation: the rule with its numbers, one minus sign, ≈ where rounding shows ---


def edge_lines(root, node):
    return next(f for f in backward_steps(root) if f.node is node).lines()[1:]


def test_every_rule_shows_its_operands_values():
    a, b = Value(3.0, label="a"), Value(-2.0, label="b")
    cases = [  # (node, its first edge's chain rule after "a.grad = ", written by hand)
        (a * b, "b (−2) × 1 = −2"),
        (a / b, "1/b × 1 = 1/(−2) × 1 = −0.5"),
        (a**2, "2·a × 1 = 2 × 3 × 1 = 6"),  # the power rule worked out: 2·a, not 2·a^(2 − 1)
        (a**3, "3·a² × 1 = 3 × 3² × 1 = 27"),
        (b**-1, "(−1)·b⁻² × 1 = (−1) × (−2)⁻² × 1 = −0.25"),
        (b.exp(), "exp1 (0.1353) × 1 = 0.1353"),
        (a.log(), "1/a × 1 = 1/3 × 1 = 0.3333"),
        (b.tanh(), "(1 − tanh1²) × 1 = (1 − (−0.964)²) × 1 ≈ 0.07065"),  # 1 − 0.964² is 0.07070
        (b.sigmoid(), "sigmoid1·(1 − sigmoid1) × 1 = 0.1192 × (1 − 0.1192) × 1 = 0.105"),
        (b.relu(), "[b > 0] × 1 = [−2 > 0] × 1 = 0"),
        (b.abs(), "sign(b) × 1 = sign(−2) × 1 = −1"),
        (a - b, "1 × 1 = 1"),
        (-a, "(−1) × 1 = −1"),
        (mg.maximum([a, b]), "[a is the max] × 1 = 1 × 1 = 1"),
    ]
    for node, expected in cases:
        first = edge_lines(node, node)[0]
        assert first.split(".grad = ", 1)[1].split("   →")[0] == expected, node.op
        node.backward()
        assert numbers(first)[-1] == pytest.approx(node._prev[0].grad, rel=1e-3)
        a.grad = b.grad = 0.0
    assert list(forward_steps(a - b))[-1].lines()[0].endswith("a − b = 3 − (−2) = 5")  # the subtrahend bracketed
    difference = b - a
    assert edge_lines(difference, difference)[1].startswith("a.grad += ∂sub1/∂a × sub1.grad = (−1) × 1 = −1")


def test_tanh_shows_o_and_its_value():
    o, v = neuron()
    (line,) = frame_of(list(backward_steps(o)), "o").lines()[1:]
    assert "1 − o²" in line and "1 − 0.7071²" in line and line.split("   →")[0].endswith("= 0.5")
    assert 1 - 0.7071**2 == pytest.approx(0.5, abs=5e-5)  # the shown numbers give the shown product


def test_cross_entropy_shows_p_i_and_which_i_and_t():
    import micrograd_nn.functional as F

    z = [Value(v, label=f"z{i}") for i, v in enumerate((1.0, -0.5, 2.0))]
    loss = F.cross_entropy(z, 2)
    loss.label = "L"
    lines = edge_lines(loss, loss)
    p = [math.exp(v.data) / sum(math.exp(u.data) for u in z) for v in z]
    assert lines[2] == (f"z2.grad += ∂L/∂z2 × L.grad = (p₂ − [2 = t]) × 1 = ({fmt(p[2])} − 1) × 1 = "
                        f"{fmt(p[2] - 1).replace('-', '−')}   → z2.grad = {fmt(p[2] - 1).replace('-', '−')}"
                        "  (pᵢ − [i = t] at i = 2, t = 2)")
    assert lines[0].startswith(f"z0.grad += ∂L/∂z0 × L.grad = (p₀ − [0 = t]) × 1 = ({fmt(p[0])} − 0) × 1 = ")
    assert [line.endswith(f"(pᵢ − [i = t] at i = {i}, t = 2)") for i, line in enumerate(lines)] == [True] * 3


def test_one_minus_sign_and_negatives_in_brackets():
    x = Value(-3.0, label="x")
    y = x * -1.0 - (-3.0)
    y.label = "y"
    ledger = "\n".join(f.text() for f in backward_steps(y)) + "\n".join(f.text() for f in forward_steps(y))
    assert "-" not in ledger.replace("->", "")  # only U+2212
    assert "x·(−1)" in ledger and "mul1 − (−3)" in ledger and "(−3) × (−1)" in ledger
    assert not re.search(r"[·×+] −\d", ledger)  # a negative operand is always bracketed


def test_forward_sums_that_do_not_add_up_as_printed_say_so():
    b = Value(6.8813735870195432, label="b")
    n = Value(-6.0, label="x1w1") + b
    n.label = "n"
    line = list(forward_steps(n))[-1].describe()
    assert line.endswith("(−6) + 6.881 ≈ 0.8814")
    m = Value(-6.0, label="x1w1") + Value(6.5, label="c")
    assert list(forward_steps(m))[-1].describe().endswith("(−6) + 6.5 = 0.5")


def test_a_complete_gradient_sums_what_reached_it():
    a = Value(3.0, label="a")
    b = a * a  # 3 + 3
    b.label = "b"
    c = b + a  # 1
    c.label = "c"
    frames = list(backward_steps(c))
    assert frame_of(frames, "a").describe() == "step 2: a is a leaf: its gradient a.grad = 1 + 3 + 3 = 7 is complete"
    first, second = frame_of(frames, "b").lines()[1:]  # the two edges of a * a told apart
    assert first.startswith("a.grad += ∂b/∂a (1st operand) × b.grad = a (3) × 1 = 3   → a.grad = 4")
    assert second.startswith("a.grad += ∂b/∂a (2nd operand) × b.grad = a (3) × 1 = 3   → a.grad = 7")
    c.backward()
    assert a.grad == 7.0


def test_edges_print_the_childs_name():
    o, v = neuron()
    edge = frame_of(list(backward_steps(o)), "x1w1").edges[0]
    assert repr(edge) == "Edge(x1: local=-3, upstream=0.5, contribution=-1.5, total_after=-1.5)"
    assert edge.name == "x1" and "Value(" not in repr(edge)


def test_layer_notation_for_module_names():
    from micrograd_nn.frames import layer_name, model_names

    model = MLP(2, [3, 1], activation="tanh")
    out = model([0.5, -1.0])
    order = topological_order(out)
    names = node_names(order, model_names(order, model, notation="layer"))
    neuron_ = model.layers[0].neurons[2]
    assert names[neuron_.w[1]] == "W[1]₂,₁" and names[neuron_.b] == "b[1]₂"
    assert names[model.layers[1].neurons[0].w[2]] == "W[2]₀,₂"
    assert names[out] == "z[2]₀" and "a[1]₂" in names.values() and "z[1]₂" in names.values()
    assert len(set(names.values())) == len(names)
    assert layer_name("neurons.12.w.3") == "W₁₂,₃" and layer_name("w.0") == "w₀" and layer_name("b") == "b"
    assert layer_name("layers.0.weight.1.0.2.2") == "W[1]₁,₀,₂,₂" and layer_name("bias.1") == "b₁"
    assert layer_name("encoder.layers.1.neurons.0.a") == "encoder.a[2]₀" and layer_name("scale") == "scale"
    with pytest.raises(ValueError, match="notation must be 'dotted' or 'layer'"):
        model_names(order, model, notation="greek")


# --- forward mode: tangent frames ---


def test_tangent_frames_of_the_neuron():
    from micrograd_nn.frames import replay, tangent_steps

    o, v = neuron()
    frames = list(tangent_steps(o, {v["x1"]: 1.0}))
    assert [f.node for f in frames] == topological_order(o) and all(f.direction == "tangent" for f in frames)
    assert frames[-1].value == pytest.approx(-1.5, rel=1e-12)  # do/dx1, the lecture's number
    x1w1 = frame_of(frames, "x1w1")
    assert x1w1.describe().splitlines() == [  # as in the API's example: ṅ += ∂n/∂x1 × ẋ1 = w1 (−3) × 1 = −3
        "(x1w1)˙ += ∂x1w1/∂x1 × ẋ1 = w1 (−3) × 1 = −3   → (x1w1)˙ = −3",
        "(x1w1)˙ += ∂x1w1/∂w1 × ẇ1 = x1 (2) × 0 = 0   → (x1w1)˙ = −3",
    ]
    assert frame_of(frames, "x1").describe() == "step 0: x1 is a leaf: ẋ1 = 1 (given)"
    assert frame_of(frames, "w1").describe() == "step 1: w1 is a leaf: ẇ1 = 0 (not in tangents: held fixed)"
    (tanh_line,) = frame_of(frames, "o").lines()[1:]
    assert tanh_line.startswith("ȯ += ∂o/∂n × ṅ = (1 − o²) × (−3) = (1 − 0.7071²) × (−3) = −1.5")
    known = [dict(k) for _, k, _ in replay(frames)]
    assert known[-1] == {f.node: f.value for f in frames} == frames[-1].tangents
    assert all(node.grad == 0.0 for node in v.values())


def test_tangents_are_checked():
    from micrograd_nn.frames import tangent_steps

    o, v = neuron()
    with pytest.raises(ValueError, match="n is not a leaf"):
        list(tangent_steps(o, {v["n"]: 1.0}))
    with pytest.raises(ValueError, match="elsewhere is not in the graph"):
        list(tangent_steps(o, {Value(1.0, label="elsewhere"): 1.0}))
    with pytest.raises(ValueError, match="'x1' is not in the graph"):
        list(tangent_steps(o, {"x1": 1.0}))
    for bad in (True, "1", None, [1.0]):
        with pytest.raises(TypeError, match="tangent of x1 must be a real number"):
            list(tangent_steps(o, {v["x1"]: bad}))
    with pytest.raises(TypeError, match="tangents must be a dict"):
        list(tangent_steps(o, [(v["x1"], 1.0)]))


def test_tangent_frames_match_reverse_mode_on_random_programs():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from micrograd_nn.frames import tangent_steps
    from micrograd_nn.testing import finite_values, programs

    @settings(max_examples=60, deadline=None)
    @given(programs(), st.data())
    def check(program, data):
        leaves = [Value(x) for x in program.inputs]
        out = program(leaves)
        in_graph = [leaf for leaf in leaves if leaf in set(topological_order(out))]
        tangents = {leaf: data.draw(finite_values(-2.0, 2.0)) for leaf in in_graph}
        frames = list(tangent_steps(out, tangents))
        expected = math.fsum(g.data * tangents[x] for g, x in zip(mg.grad(out, in_graph), in_graph)) \
            if in_graph else 0.0
        assert frames[-1].value == pytest.approx(expected, rel=1e-9, abs=1e-9)
        for frame in frames:  # one line per edge, and the edges add up to the node's tangent
            assert len(frame.describe().splitlines()) == max(1, len(frame.node.children))
            if frame.edges:
                assert frame.edges[-1].total_after == frame.value

    check()


def test_tangent_frames_match_torch_jvp_on_an_mlp():
    torch = pytest.importorskip("torch", reason="the torch extra is not installed")
    from torch.func import jvp

    from micrograd_nn.frames import tangent_steps
    from micrograd_nn.torch_bridge import to_torch

    model = MLP(3, [4, 4, 1], activation="tanh", rng=__import__("random").Random(5))
    x = [Value(v, label=f"x{i}") for i, v in enumerate((0.5, -1.0, 2.0))]
    direction = (0.3, -0.7, 1.1)
    out = model(x)
    frames = list(tangent_steps(out, dict(zip(x, direction))))
    reference = to_torch(model)
    _, tangent = jvp(reference, (torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64),),
                     (torch.tensor([direction], dtype=torch.float64),))
    assert frames[-1].value == pytest.approx(tangent.item(), rel=1e-12, abs=1e-14)


def test_a_wide_node_writes_its_operands_once_per_frame():
    import time

    xs = [Value(float(i), label=f"x{i}") for i in range(4000)]
    total = mg.sum(xs)
    start = time.perf_counter()
    (frame,) = [f for f in backward_steps(total) if f.node is total]
    lines = frame.lines()
    took = time.perf_counter() - start
    assert len(lines) == 1 + 4000 and lines[1] == "x0.grad += ∂sum1/∂x0 × sum1.grad = 1 × 1 = 1   → x0.grad = 1"
    assert took < 10.0  # about 0.5 s: writing every operand for every edge took minutes


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1), (1, 2)])
def test_convolution_outputs_are_named_by_position(stride, padding):
    import random

    from micrograd_nn.frames import model_names
    from micrograd_nn.nn import Conv1d, Conv2d

    rng = random.Random(stride * 10 + padding)
    conv = Conv2d(2, 3, 3, stride=stride, padding=padding, rng=rng)
    image = [[[rng.uniform(-1, 1) for _ in range(6)] for _ in range(5)] for _ in range(2)]
    y = conv(image)
    order = topological_order(mg.sum([v for plane in y for row in plane for v in row]))
    names = node_names(order, model_names(order, conv))
    assert all(names[y[o][i][j]] == f"y[{o}][{i}][{j}]"
               for o in range(3) for i in range(len(y[0])) for j in range(len(y[0][0])))
    line = Conv1d(1, 2, 3, stride=stride, padding=padding, rng=rng)
    signal = [[Value(rng.uniform(-1, 1)) for _ in range(7)]]  # Values this time, not numbers
    out = line(signal)
    order = topological_order(mg.sum([v for channel in out for v in channel]))
    names = node_names(order, model_names(order, line))
    assert [names[v] for v in out[1]] == [f"y[1][{t}]" for t in range(len(out[1]))]


def test_convolution_outputs_inside_a_model_and_where_no_position_is_certain():
    from micrograd_nn.frames import model_names
    from micrograd_nn.nn import Conv2d, Flatten, Layer, Sequential

    model = Sequential(Conv2d(1, 2, 2, rng=__import__("random").Random(0)), Flatten(), Layer(8, 1))
    image = [[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [0.7, 0.8, 0.9]]]
    y = model.layers[0](image)
    order = topological_order(model(image))
    dotted = model_names(order, model)
    assert "layers.0.y[1][0][1]" in dotted.values()
    assert "y[1]₁,₀,₁" in model_names(order, model, notation="layer").values()
    assert y[1][0][1].data in {node.data for node, name in dotted.items() if name == "layers.0.y[1][0][1]"}
    conv = model.layers[0]
    flat = [[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]  # every patch alike: no layout is certain
    order = topological_order(mg.sum([v for plane in conv(flat) for row in plane for v in row]))
    assert not any("y[" in name for name in model_names(order, conv).values())
    twice = mg.sum([v for x in (image, flat) for plane in conv(x) for row in plane for v in row])  # two samples
    assert not any("y[" in name for name in model_names(topological_order(twice), conv).values())


def test_the_api_examples_print_as_written():
    from micrograd_nn.frames import tangent_steps

    x1, w1 = Value(2.0, label="x1"), Value(-3.0, label="w1")
    n = x1 * w1
    n.label = "n"
    (line,) = [f for f in tangent_steps(n, {x1: 1.0}) if f.node is n][0].describe().splitlines()[:1]
    assert line.startswith("ṅ += ∂n/∂x1 × ẋ1 = w1 (−3) × 1 = −3")
    x = Value(2.0, label="x")
    y = x * -1.0
    assert "x·(−1)" in list(backward_steps(y))[0].text()
