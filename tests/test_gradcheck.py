"""gradcheck: it passes correct derivatives, and it rejects wrong ones, first and second order, naming where."""

import math

import pytest
from hypothesis import given

import micrograd_nn as mg
from micrograd_nn import GradcheckError, Value, gradcheck, ops
from micrograd_nn.engine import _apply
from micrograd_nn.gradcheck import numerical_gradient, numerical_hessian
from micrograd_nn.testing import programs


@given(programs(max_steps=6))
def test_random_programs_pass_second_order_gradcheck(program):
    assert gradcheck(program, program.inputs, rtol=1e-3, atol=1e-4, order=2)


def test_central_differences_match_closed_forms():
    def f(v):  # f = x²y + e^y: ∇f = (2xy, x² + e^y), H = [[2y, 2x], [2x, e^y]]
        return v[0] ** 2 * v[1] + v[1].exp()

    assert numerical_gradient(f, [1.5, 0.5]) == pytest.approx([1.5, 2.25 + math.exp(0.5)], rel=1e-8)
    H = numerical_hessian(f, [1.5, 0.5])
    for row, expected in zip(H, [[1.0, 3.0], [3.0, math.exp(0.5)]]):
        assert row == pytest.approx(expected, rel=1e-7)


def test_a_wrong_first_derivative_is_rejected_and_the_input_named():
    def wrong_sin(v):
        x, y = v
        return x * 2.0 + Value(math.sin(y.data), (y,), (math.sin(y.data),), "sin")  # should be cos

    with pytest.raises(GradcheckError, match=r"input 1 .*backprop gradient .*central difference .*difference"):
        gradcheck(wrong_sin, [0.3, 0.7])
    assert gradcheck(lambda v: v[0] * 2.0 + Value(math.sin(v[1].data), (v[1],), (math.cos(v[1].data),)), [0.3, 0.7])


@pytest.fixture
def detached_tanh(monkeypatch):
    """tanh whose rule gives the right number on floats but, on Values, a plain number: the derivative is
    cut off from the graph, so every second derivative through it is lost. Registered in a copy of the table."""
    monkeypatch.setattr(ops, "OPS", dict(ops.OPS))
    op = ops.Op("tanh", "detached_tanh", math.tanh, lambda x, out: (1.0 - ops._data(out) ** 2,), ("1 − out²",))
    return lambda v: _apply(op, (v,))


def test_a_wrong_second_derivative_passes_order_1_and_fails_order_2(detached_tanh):
    def f(v):  # ∂²f/∂x² = y·tanh''(x) is lost; ∂²f/∂x∂y = tanh'(x) survives
        return detached_tanh(v[0]) * v[1]

    assert gradcheck(f, [0.4, 1.7])
    t = math.tanh(0.4)
    assert round(-2 * t * (1 - t * t) * 1.7, 3) == -1.105  # the true ∂²f/∂x², which the message shows
    with pytest.raises(GradcheckError, match=r"second derivative \(0, 0\).*graph 0\.0, central difference of the "
                                             r"gradient -1\.105.*, difference 1\.105"):
        gradcheck(f, [0.4, 1.7], order=2)
    assert gradcheck(lambda v: v[0].tanh() * v[1], [0.4, 1.7], order=2)  # the table's own tanh is right


def test_order_is_checked_and_hand_built_nodes_cannot_be_checked_twice():
    with pytest.raises(ValueError, match="order must be 1 or 2"):
        gradcheck(lambda v: v[0] * 1.0, [1.0], order=3)
    with pytest.raises(ValueError, match="'sin'"):
        gradcheck(lambda v: Value(math.sin(v[0].data), (v[0],), (math.cos(v[0].data),), "sin"), [0.3], order=2)
    with pytest.raises(TypeError, match="must return a Value"):
        gradcheck(lambda v: 1.0, [0.3], order=2)


def test_second_order_gradcheck_on_losses():
    import micrograd_nn.functional as F

    assert gradcheck(lambda v: F.cross_entropy(v, 1), [0.2, -1.0, 0.5], order=2)
    assert gradcheck(lambda v: F.binary_cross_entropy(v[0], v[1]) * v[0], [0.8, 0.3], order=2)
    assert gradcheck(lambda v: mg.sum(F.softmax(v)[i] * (i + 1) for i in range(3)), [0.2, -1.0, 0.5], order=2)


def test_second_derivative_of_a_power_at_exponent_zero():
    assert gradcheck(lambda v: v[0].exp() ** v[0], [0.0], order=2)  # e^(x²): second derivative 2 at 0
