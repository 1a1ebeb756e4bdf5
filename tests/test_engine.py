"""Engine: every op's value against math, its gradient against central differences,
random programs against PyTorch float64, and the documented errors."""

import gc
import math
import sys

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

import micrograd_nn as mg
from micrograd_nn import GradcheckError, Value, gradcheck, no_grad
from micrograd_nn.engine import topological_order
from micrograd_nn.testing import finite_values, programs

# One table drives both the value test and the gradient test:
# name, Value program, float reference, domain strategy, domain condition (kept away from kinks and poles).
UNARY = [
    ("exp", lambda x: x.exp(), math.exp, finite_values(-20, 20), lambda x: True),
    ("log", lambda x: x.log(), math.log, finite_values(1e-3, 1e3), lambda x: True),
    ("tanh", lambda x: x.tanh(), math.tanh, finite_values(-20, 20), lambda x: True),
    ("sigmoid", lambda x: x.sigmoid(), lambda x: 1 / (1 + math.exp(-x)), finite_values(-30, 30), lambda x: True),
    ("relu", lambda x: x.relu(), lambda x: max(0.0, x), finite_values(-10, 10), lambda x: abs(x) > 1e-4),
    ("abs", lambda x: abs(x), abs, finite_values(-10, 10), lambda x: abs(x) > 1e-4),
    ("neg", lambda x: -x, lambda x: -x, finite_values(), lambda x: True),
    ("square", lambda x: x**2, lambda x: x**2, finite_values(), lambda x: True),
    ("cube", lambda x: x**3, lambda x: x**3, finite_values(), lambda x: True),
    ("sqrt", lambda x: x**0.5, math.sqrt, finite_values(1e-2, 100), lambda x: True),
    ("reciprocal", lambda x: x**-1, lambda x: 1 / x, finite_values(), lambda x: abs(x) > 0.05),
    ("rtruediv", lambda x: 3.0 / x, lambda x: 3.0 / x, finite_values(), lambda x: abs(x) > 0.05),
    ("rsub", lambda x: 2.5 - x, lambda x: 2.5 - x, finite_values(), lambda x: True),
    ("radd", lambda x: 2.5 + x, lambda x: 2.5 + x, finite_values(), lambda x: True),
    ("rmul", lambda x: -1.5 * x, lambda x: -1.5 * x, finite_values(), lambda x: True),
    ("truediv_number", lambda x: x / 4.0, lambda x: x / 4.0, finite_values(), lambda x: True),
    ("rpow", lambda x: 2.0**x, lambda x: 2.0**x, finite_values(-10, 10), lambda x: True),
]
BINARY = [
    ("add", lambda a, b: a + b, lambda a, b: a + b, lambda a, b: True),
    ("sub", lambda a, b: a - b, lambda a, b: a - b, lambda a, b: True),
    ("mul", lambda a, b: a * b, lambda a, b: a * b, lambda a, b: True),
    ("div", lambda a, b: a / b, lambda a, b: a / b, lambda a, b: abs(b) > 0.05),
    ("pow", lambda a, b: a**b, lambda a, b: a**b, lambda a, b: a > 0.05),
]


@pytest.mark.parametrize("name,op,ref,domain,ok", UNARY, ids=[u[0] for u in UNARY])
def test_unary_value_matches_math(name, op, ref, domain, ok):
    @given(domain)
    def check(x):
        assume(ok(x))
        assert op(Value(x)).data == pytest.approx(ref(x), rel=1e-12, abs=1e-300)

    check()


@pytest.mark.parametrize("name,op,ref,domain,ok", UNARY, ids=[u[0] for u in UNARY])
def test_unary_gradient_matches_central_differences(name, op, ref, domain, ok):
    @given(domain)
    def check(x):
        assume(ok(x))
        assert gradcheck(lambda v: op(v[0]), [x], rtol=1e-4)

    check()


@pytest.mark.parametrize("name,op,ref,ok", BINARY, ids=[b[0] for b in BINARY])
def test_binary_value_and_gradient(name, op, ref, ok):
    @given(finite_values(-5, 5), finite_values(-5, 5))
    def check(a, b):
        assume(ok(a, b))
        assert op(Value(a), Value(b)).data == pytest.approx(ref(a, b), rel=1e-12, abs=1e-300)
        assert gradcheck(lambda v: op(v[0], v[1]), [a, b], rtol=1e-4)

    check()


@given(st.lists(finite_values(-5, 5), min_size=1, max_size=8))
def test_sum_and_dot_nodes(xs):
    n = len(xs)
    assert mg.sum(Value(x) for x in xs).data == pytest.approx(sum(xs))
    assert gradcheck(lambda v: mg.sum(v), xs)
    assert gradcheck(lambda v: mg.dot(v[:n], v[n:], bias=v[0]), xs + xs[::-1])
    top = sorted(xs, reverse=True)
    assume(n == 1 or top[0] - top[1] > 1e-3)  # keep off the kink where two maxima tie
    assert gradcheck(lambda v: mg.maximum(v) * 1.0, xs)


def test_sum_and_dot_are_single_nodes_with_plain_numbers_folded():
    w = [Value(1.0), Value(2.0)]
    z = mg.dot(w, [3.0, 4.0], bias=Value(0.5))
    assert z.op == "dot" and len(z.children) == 3 and z.data == 11.5
    assert z.local_grads == (3.0, 4.0, 1.0)
    s = mg.sum([w[0], 5, w[1]])
    assert s.children == (w[0], w[1]) and s.data == 8.0


def _torch_total(xs):
    return torch.stack(list(xs)).sum()


def _torch_dot(ws, xs):
    return (torch.stack(list(ws)) * torch.stack(list(xs))).sum()


@given(programs())
def test_random_programs_match_pytorch_float64(program):
    leaves = [Value(x) for x in program.inputs]
    out = program(leaves)
    out.backward()
    tleaves = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in program.inputs]
    tout = program(tleaves, total=_torch_total, dot=_torch_dot)
    tout.backward()
    assert out.data == pytest.approx(tout.item(), rel=1e-9, abs=1e-12)
    for leaf, tleaf in zip(leaves, tleaves):
        expected = 0.0 if tleaf.grad is None else tleaf.grad.item()
        assert leaf.grad == pytest.approx(expected, rel=1e-9, abs=1e-9)


@given(programs(max_steps=6))
def test_random_programs_pass_gradcheck(program):
    assert gradcheck(program, program.inputs, rtol=1e-3, atol=1e-4)


def test_node_reused_many_times_accumulates_every_path():
    x = Value(1.5)
    y = x
    for _ in range(50):
        y = y * 0.5 + x  # x is a child of 50 nodes
    y.backward()
    xt = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    yt = xt
    for _ in range(50):
        yt = yt * 0.5 + xt
    yt.backward()
    assert y.data == yt.item() and x.grad == pytest.approx(xt.grad.item(), rel=1e-12)


def test_gradcheck_rejects_a_wrong_local_derivative_and_names_the_input():
    def wrong_sin(v):
        x, y = v
        s = Value(math.sin(y.data), (y,), (math.sin(y.data),), "sin")  # should be cos
        return x * 2.0 + s

    with pytest.raises(GradcheckError, match=r"input 1 .*backprop gradient .*central difference .*difference"):
        gradcheck(wrong_sin, [0.3, 0.7])
    assert gradcheck(lambda v: v[0] * 2.0 + Value(math.sin(v[1].data), (v[1],), (math.cos(v[1].data),)), [0.3, 0.7])


def test_custom_op_built_by_hand():
    x = Value(0.5)
    y = Value(math.sin(x.data), (x,), (math.cos(x.data),), "sin")
    (y * y).backward()
    assert x.grad == pytest.approx(2 * math.sin(0.5) * math.cos(0.5))
    with pytest.raises(ValueError, match="one local gradient per child"):
        Value(1.0, (x,), (), "bad")


def test_topological_order_puts_every_node_after_its_children():
    a, b = Value(1.0), Value(2.0)
    c = a * b
    d = c + a
    e = d * c + b.exp()
    order = topological_order(e)
    position = {id(n): i for i, n in enumerate(order)}
    assert len(order) == len(set(position)) == 7
    for node in order:
        for child in node.children:
            assert position[id(child)] < position[id(node)]


def test_deep_chain_backprops_at_default_recursion_limit():
    assert sys.getrecursionlimit() <= 10_000
    x = Value(0.5)
    y = x
    for _ in range(300_000):
        y = y * 1.0 + 0.0
    y.backward()
    assert x.grad == 1.0
    del y  # freeing a deep chain must not overflow the C stack either


def _live_values() -> int:
    return sum(type(o) is Value for o in gc.get_objects())


def test_graph_is_freed_when_the_last_reference_goes():
    gc.collect()
    before = _live_values()
    gc.disable()
    try:
        x = Value(2.0)
        y = (x * x + 1.0).tanh()
        y.backward()
        assert _live_values() == before + 4
        del x, y
        assert _live_values() == before  # freed by reference counting alone: no cycles
    finally:
        gc.enable()


def test_second_backward_accumulates_leaves_and_resets_inner_nodes():
    x = Value(3.0)
    h = x * x
    y = h + x
    y.backward()
    y.backward()
    assert x.grad == 2 * (2 * 3.0 + 1)
    assert h.grad == 1.0 and y.grad == 1.0


def test_leaf_backward_accumulates_like_pytorch():
    x = Value(2.0)
    x.backward()
    x.backward()
    assert x.grad == 2.0


def test_children_are_ordered_and_runs_are_bit_identical():
    def run():
        xs = [Value(0.1 * i) for i in range(10)]
        y = mg.sum(x.tanh() * x for x in xs) ** 2
        y.backward()
        return y.data, [x.grad for x in xs]

    assert run() == run()
    a, b = Value(1.0), Value(2.0)
    assert (a * b).children == (a, b) and (b * a).children == (b, a)


def test_no_grad_records_no_children_and_restores_state():
    x = Value(2.0)
    with no_grad():
        y = x * 3.0 + 1.0
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()
    assert y.data == 7.0 and y.children == () and y.local_grads == ()
    z = x * 3.0
    assert z.children == (x,)

    @no_grad()
    def infer(v):
        return v.tanh()

    assert infer(x).children == ()


@pytest.mark.parametrize("bad", ["1.0", None, [1.0], object(), 1j])
def test_non_numbers_raise_type_error_naming_the_type(bad):
    with pytest.raises(TypeError, match=type(bad).__name__):
        Value(bad)


def test_operators_with_non_numbers_raise_type_error():
    with pytest.raises(TypeError, match="str"):
        Value(1.0) + "a"
    with pytest.raises(TypeError):
        [1] * Value(2.0)


def test_numpy_scalars_are_numbers():
    np = pytest.importorskip("numpy")
    assert Value(np.float32(1.5)).data == 1.5 and type(Value(np.int64(3)).data) is float
    y = np.int64(-2) * Value(3.0)
    assert isinstance(y, Value) and y.data == -6.0


@pytest.mark.parametrize("bad", [0.0, -1.5])
def test_log_domain_error_names_log_and_value(bad):
    with pytest.raises(ValueError, match=rf"log.*{bad}"):
        Value(bad).log()


def test_division_by_zero():
    with pytest.raises(ZeroDivisionError):
        Value(1.0) / Value(0.0)
    with pytest.raises(ZeroDivisionError):
        Value(1.0) / 0
    with pytest.raises(ZeroDivisionError):
        2.0 / Value(0.0)
    with pytest.raises(ZeroDivisionError):
        Value(0.0) ** -1


def test_exp_overflow_is_named():
    with pytest.raises(OverflowError, match=r"exp.*1000"):
        Value(1000.0).exp()


def test_power_domain_errors():
    with pytest.raises(ValueError, match="negative base"):
        Value(-2.0) ** 0.5
    with pytest.raises(ValueError, match="positive base"):
        Value(-2.0) ** Value(2.0)
    assert (Value(-2.0) ** 3).data == -8.0


@pytest.mark.parametrize("x", [1e4, -1e4, 745.0, -745.0, 0.0])
def test_sigmoid_and_tanh_are_stable_for_huge_inputs(x):
    for method in ("sigmoid", "tanh"):
        v = Value(x)
        out = getattr(v, method)()
        out.backward()
        t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        tout = getattr(t, method)()
        tout.backward()
        assert out.data == pytest.approx(tout.item(), rel=1e-15, abs=1e-300)
        assert v.grad == pytest.approx(t.grad.item(), rel=1e-12, abs=1e-300)


def test_relu_derivative_at_zero_is_zero():
    x = Value(0.0)
    x.relu().backward()
    assert x.grad == 0.0


def test_repr_and_attributes_like_micrograd():
    v = Value(2, label="w")
    assert repr(v) == "Value(data=2.0, grad=0.0)"
    assert v.label == "w" and v.op == "" and v._op == "" and v._prev == ()
    v.grad = 0.5
    v.label = "w1"
    assert v.grad == 0.5 and v.label == "w1"


def test_hand_built_nodes_are_checked():
    x = Value(1.0)
    with pytest.raises(TypeError, match="child 1 must be a Value, got float"):
        Value(1.0, [x, 2.0], [1.0, 1.0])
    with pytest.raises(TypeError, match="local gradient 0 .* str"):
        Value(1.0, [x], ["1"])
    node = Value(2.0, [x], [3], "triple")
    assert node.children == (x,) and node.local_grads == (3.0,) and type(node.local_grads[0]) is float


def test_power_overflow_is_named():
    with pytest.raises(OverflowError, match=r"power overflow: 10.0 \*\* 400"):
        Value(10.0) ** 400
    with pytest.raises(OverflowError, match="power overflow"):
        10.0 ** Value(400.0)


def test_numpy_scalar_operands_keep_everything_float():
    np = pytest.importorskip("numpy")
    x = Value(2.0)
    y = (x / np.float64(4.0)) + (np.float32(1.0) - x) + np.int64(3) ** x
    y.backward()
    assert all(type(v) is float for v in (y.data, x.grad, *y.local_grads))
    assert (x * 2).op == "*" and (x**2).op == "**" and (x**0.5).operands == (x, 0.5)
