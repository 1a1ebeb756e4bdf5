"""Forward mode: mg.jvp against reverse mode (mg.grad) on random programs and against torch.func.jvp on an MLP."""

import math
import random

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import micrograd_nn as mg
from micrograd_nn import Value
from micrograd_nn.nn import MLP
from micrograd_nn.testing import finite_values, programs


def reverse_jvp(output, inputs, tangents):
    """Σⱼ ∂out/∂xⱼ · tⱼ from one reverse sweep: the number jvp must give."""
    return math.fsum(g.data * t for g, t in zip(mg.grad(output, inputs), tangents))


@given(programs(), st.data())
def test_jvp_matches_reverse_mode_on_random_programs(program, data):
    leaves = [Value(x) for x in program.inputs]
    out = program(leaves)
    tangents = data.draw(st.lists(finite_values(-2.0, 2.0), min_size=len(leaves), max_size=len(leaves)))
    expected = reverse_jvp(out, leaves, tangents)
    assert mg.jvp(out, leaves, tangents) == pytest.approx(expected, rel=1e-9, abs=1e-9)


@given(programs())
def test_unit_tangents_give_the_gradient_column_by_column(program):
    leaves = [Value(x) for x in program.inputs]
    out = program(leaves)
    gradient = mg.grad(out, leaves)
    for j in range(len(leaves)):
        unit = [1.0 if k == j else 0.0 for k in range(len(leaves))]
        assert mg.jvp(out, leaves, unit) == pytest.approx(gradient[j].data, rel=1e-9, abs=1e-12)


def test_karpathy_neuron_directional_derivatives():
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    o = (x1 * w1 + x2 * w2 + b).tanh()
    leaves = [x1, w1, x2, w2, b]
    # README: do/dx1 = -1.5, do/dw1 = 1, do/dx2 = 0.5, do/dw2 = 0, do/db = 0.5
    expected = [-1.5, 1.0, 0.5, 0.0, 0.5]
    for j, want in enumerate(expected):
        unit = [float(k == j) for k in range(5)]
        assert mg.jvp(o, leaves, unit) == pytest.approx(want, abs=1e-12)
    assert mg.jvp(o, leaves, [1, 1, 1, 1, 1]) == pytest.approx(sum(expected), abs=1e-12)


def _torch_mlp(weights, biases, x, activation):
    a = x
    for k, (W, bias) in enumerate(zip(weights, biases)):
        a = W @ a + bias
        if k < len(weights) - 1:
            a = activation(a)
    return a


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_jvp_matches_torch_func_jvp_on_an_mlp(activation):
    model = MLP(3, [5, 4, 2], activation=activation, rng=random.Random(3))
    x = [Value(v) for v in (0.5, -1.25, 2.0)]
    outputs = model(x)
    params = model.parameters()
    rng = random.Random(7)
    x_dot = [rng.uniform(-1, 1) for _ in x]
    p_dot = [rng.uniform(-1, 1) for _ in params]

    weights = [torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64)
               for layer in model.layers]
    biases = [torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64) for layer in model.layers]
    # tangents laid out as the parameters are: neuron by neuron, w then b
    w_dot, b_dot, it = [], [], iter(p_dot)
    for layer in model.layers:
        rows, bs = [], []
        for n in layer.neurons:
            rows.append([next(it) for _ in n.w])
            bs.append(next(it))
        w_dot.append(torch.tensor(rows, dtype=torch.float64))
        b_dot.append(torch.tensor(bs, dtype=torch.float64))
    act = torch.tanh if activation == "tanh" else torch.relu
    xt = torch.tensor([v.data for v in x], dtype=torch.float64)
    primal_out, tangent_out = torch.func.jvp(
        lambda ws, bs, xx: _torch_mlp(ws, bs, xx, act),
        (tuple(weights), tuple(biases), xt),
        (tuple(w_dot), tuple(b_dot), torch.tensor(x_dot, dtype=torch.float64)))
    for i, out in enumerate(outputs):
        assert out.data == pytest.approx(primal_out[i].item(), rel=1e-12)
        ours = mg.jvp(out, [*x, *params], [*x_dot, *p_dot])
        assert ours == pytest.approx(tangent_out[i].item(), rel=1e-10, abs=1e-12)


def test_no_grad_is_read_or_changed():
    x, y = Value(1.5), Value(-2.0)
    out = (x * y).tanh() + x
    for v in (x, y, out):
        v.grad = 123.0
    assert mg.jvp(out, [x, y], [1.0, 0.0]) == pytest.approx((1 - math.tanh(-3.0) ** 2) * -2.0 + 1.0)
    assert [v.grad for v in (x, y, out)] == [123.0] * 3


def test_an_inner_node_and_a_repeated_input_add_their_tangents():
    x = Value(0.7)
    n = x * x
    out = n.exp() + x
    # ∂out/∂x (all paths) = 2x·e^n + 1, ∂out/∂n = e^n
    assert mg.jvp(out, [x, n], [1.0, 2.0]) == pytest.approx(reverse_jvp(out, [x, n], [1.0, 2.0]), rel=1e-12)
    assert mg.jvp(out, [x, x], [1.0, 2.0]) == pytest.approx(3 * (2 * 0.7 * math.exp(0.49) + 1), rel=1e-12)


def test_an_input_the_output_does_not_depend_on_contributes_nothing():
    x, unused = Value(2.0), Value(5.0)
    assert mg.jvp(x * 3, [x, unused], [1.0, 1.0]) == 3.0
    assert mg.jvp(x * 3, [unused], [1.0]) == 0.0


def test_a_dead_relu_sends_exactly_zero_even_for_an_infinite_tangent():
    x = Value(-1.0)
    assert mg.jvp(x.relu(), [x], [math.inf]) == 0.0  # torch.func.jvp(torch.relu, ...) gives 0 as well
    t = torch.func.jvp(torch.relu, (torch.tensor(-1.0, dtype=torch.float64),),
                       (torch.tensor(math.inf, dtype=torch.float64),))[1]
    assert t.item() == 0.0


def test_a_hand_built_node_is_pushed_through_its_stored_derivative():
    x = Value(0.3)
    s = Value(math.sin(x.data), (x,), (math.cos(x.data),), "sin")
    assert mg.jvp(s * 2, [x], [1.5]) == pytest.approx(2 * math.cos(0.3) * 1.5, rel=1e-15)


def test_bad_arguments_raise_clear_errors():
    x = Value(1.0)
    with pytest.raises(TypeError, match=r"inputs\[1\]"):
        mg.jvp(x * 2, [x, 3.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="2 inputs but 1 tangents"):
        mg.jvp(x * 2, [x, x], [1.0])
    with pytest.raises(TypeError, match=r"tangents\[0\].*str"):
        mg.jvp(x * 2, [x], ["1"])
    with pytest.raises(TypeError, match=r"tangents\[0\].*bool"):
        mg.jvp(x * 2, [x], [True])
    with pytest.raises(TypeError, match="output must be a Value"):
        mg.jvp(2.0, [x], [1.0])
    with pytest.raises(ValueError, match="empty"):
        mg.jvp(x * 2, [], [])


def test_the_docstring_example_runs():
    import doctest
    import importlib

    assert doctest.testmod(importlib.import_module("micrograd_nn.forward")).failed == 0


def test_an_output_computed_inside_no_grad_is_refused_naming_no_grad():
    x = Value(3.0, label="x")
    with mg.no_grad():
        y = x * x
    with pytest.raises(ValueError, match=r"no_grad\(\)"):
        mg.jvp(y, [x], [1.0])
    assert mg.jvp(x * x, [x], [1.0]) == 6.0
