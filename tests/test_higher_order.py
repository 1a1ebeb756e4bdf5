"""Derivatives of derivatives: mg.grad, mg.jacobian and mg.hessian against PyTorch float64
(torch.autograd.grad with create_graph=True), closed forms, and the contract of mg.grad."""

import math
import random

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

import micrograd_nn as mg
import micrograd_nn.functional as F
from micrograd_nn import Value
from micrograd_nn.nn import MLP
from micrograd_nn.testing import finite_values, programs


def torch_leaves(xs):
    return [torch.tensor(float(x), dtype=torch.float64, requires_grad=True) for x in xs]


def torch_grad(out, leaves, create_graph=False):
    """d out / d leaf for each leaf, 0 where out does not depend on it (or is a constant)."""
    if not out.requires_grad:
        return [torch.zeros((), dtype=torch.float64) for _ in leaves]
    gs = torch.autograd.grad(out, leaves, create_graph=create_graph, retain_graph=True, allow_unused=True)
    return [torch.zeros((), dtype=torch.float64) if g is None else g for g in gs]


def torch_hessian(out, leaves):
    return [[h.item() for h in torch_grad(g, leaves)] for g in torch_grad(out, leaves, create_graph=True)]


def data(nested):
    return [data(row) for row in nested] if isinstance(nested, list) else nested.data


def assert_close(ours, theirs, rel=1e-9, abs=1e-9):
    assert len(ours) == len(theirs)
    for row, expected in zip(ours, theirs):
        assert row == pytest.approx(expected, rel=rel, abs=abs)


def our_and_torch_hessian(fn, xs):
    """H of fn at xs by mg.hessian and by torch, with fn written once for Values and tensors."""
    leaves = [Value(x) for x in xs]
    tleaves = torch_leaves(xs)
    return data(mg.hessian(fn(leaves), leaves)), torch_hessian(fn(tleaves), tleaves)


# --- random programs over every op of the table ---


@given(programs(max_steps=8))
def test_hessians_of_random_programs_match_pytorch(program):
    leaves = [Value(x) for x in program.inputs]
    tleaves = torch_leaves(program.inputs)
    ours = data(mg.hessian(program(leaves), leaves))
    assert_close(ours, torch_hessian(program(tleaves), tleaves))


@given(programs())
def test_first_derivatives_with_and_without_a_graph_agree_with_backward(program):
    leaves = [Value(x) for x in program.inputs]
    out = program(leaves)
    plain = [g.data for g in mg.grad(out, leaves)]
    graphed = [g.data for g in mg.grad(out, leaves, create_graph=True)]
    out.backward()
    assert plain == [leaf.grad for leaf in leaves]  # the same chain rule, the same order of additions
    assert graphed == pytest.approx(plain, rel=1e-12, abs=1e-12)


# --- losses ---

logits = st.lists(finite_values(-4, 4), min_size=2, max_size=5)


@given(logits, st.data())
def test_cross_entropy_hessian_is_diag_p_minus_ppT(zs, draw):
    t = draw.draw(st.integers(0, len(zs) - 1))
    ours, theirs = our_and_torch_hessian(
        lambda v: F.cross_entropy(v, t) if isinstance(v[0], Value)
        else torch.nn.functional.cross_entropy(torch.stack(v).unsqueeze(0), torch.tensor([t])), zs)
    assert_close(ours, theirs)
    p = [math.exp(z - max(zs)) for z in zs]
    p = [q / sum(p) for q in p]
    closed = [[(i == j) * p[i] - p[i] * p[j] for j in range(len(zs))] for i in range(len(zs))]
    assert_close(ours, closed, abs=1e-12)


@given(finite_values(-30, 30), finite_values(0, 1))
def test_binary_cross_entropy_hessian_with_a_value_label(z, y):
    def bce(v):
        if isinstance(v[0], Value):
            return F.binary_cross_entropy(v[0], v[1]) * v[0]  # times z: the label's rows are not all zero
        return torch.nn.functional.binary_cross_entropy_with_logits(v[0], v[1]) * v[0]

    ours, theirs = our_and_torch_hessian(bce, [z, y])
    assert_close(ours, theirs)
    leaf = Value(z)
    ours_float_label = data(mg.hessian(F.binary_cross_entropy(leaf, y), [leaf]))
    s = 1 / (1 + math.exp(-z))
    assert ours_float_label[0][0] == pytest.approx(s * (1 - s), rel=1e-9, abs=1e-15)


@given(st.lists(finite_values(-3, 3), min_size=2, max_size=6))
def test_mse_hessian_against_pytorch(xs):
    n = len(xs) // 2

    def mse(v):
        if isinstance(v[0], Value):
            return F.mse([a * b for a, b in zip(v[:n], v[n:])], [0.5] * n)
        return torch.nn.functional.mse_loss(torch.stack(v[:n]) * torch.stack(v[n:2 * n]),
                                            torch.full((n,), 0.5, dtype=torch.float64))

    ours, theirs = our_and_torch_hessian(mse, xs[: 2 * n])
    assert_close(ours, theirs)


def hinge_terms(v, t, margin):
    s = torch.stack(v)
    return torch.stack([torch.relu(s[j] - s[t] + margin) for j in range(len(v)) if j != t])


@given(logits, st.data(), st.sampled_from([0.0, 1.0]))
def test_hinge_hessians_against_pytorch(scores, draw, margin):
    t = draw.draw(st.integers(0, len(scores) - 1))
    assume(all(abs(scores[j] - scores[t] + margin) > 1e-6 for j in range(len(scores)) if j != t))  # off the kinks
    ours, theirs = our_and_torch_hessian(
        lambda v: F.multiclass_hinge(v, t, margin) if isinstance(v[0], Value) else hinge_terms(v, t, margin).sum(),
        scores)
    assert_close(ours, theirs)
    assert all(h == 0.0 for row in ours for h in row)  # piecewise linear
    ours, theirs = our_and_torch_hessian(
        lambda v: F.squared_hinge(v, t, margin) if isinstance(v[0], Value) else (hinge_terms(v, t, margin) ** 2).sum(),
        scores)
    assert_close(ours, theirs)


@given(logits)
def test_softmax_entries_hessians_against_pytorch(zs):
    for i in range(len(zs)):
        ours, theirs = our_and_torch_hessian(
            lambda v: F.softmax(v)[i] if isinstance(v[0], Value) else torch.softmax(torch.stack(v), 0)[i], zs)
        assert_close(ours, theirs)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
def test_mlp_loss_hessian_wrt_parameters_against_pytorch(activation):
    rng = random.Random(3)
    model = MLP(2, [3, 2], activation=activation, rng=rng)
    X = [[rng.uniform(-1, 1) for _ in range(2)] for _ in range(4)]
    labels = [0, 1, 1, 0]
    params = model.parameters()

    def loss(values, on_torch):
        """Cross-entropy over X of the MLP whose parameters, in `parameters()` order, are `values`."""
        it = iter(values)
        layers = [[([next(it) for _ in range(n.nin)], next(it)) for n in layer.neurons] for layer in model.layers]
        total = 0
        for x, label in zip(X, labels):
            h = x
            for k, layer in enumerate(layers):
                z = [sum((w * xi for w, xi in zip(ws, h)), b) for ws, b in layer]
                last = k == len(layers) - 1
                h = z if last else [getattr(torch, activation)(zi) if on_torch else getattr(zi, activation)()
                                     for zi in z]
            ce = (torch.nn.functional.cross_entropy(torch.stack(h).unsqueeze(0), torch.tensor([label])) if on_torch
                  else F.cross_entropy(h, label))
            total = total + ce
        return total / len(X)

    assert [id(p) for p in params] == [id(v) for layer in model.layers for n in layer.neurons for v in (*n.w, n.b)]
    ours = data(mg.hessian(mg.sum(F.cross_entropy(model(x), t) for x, t in zip(X, labels)) / len(X), params))
    tparams = torch_leaves([p.data for p in params])
    assert_close(ours, torch_hessian(loss(tparams, True), tparams))
    assert_close(ours, data(mg.hessian(loss(params, False), params)), rel=1e-12, abs=1e-14)
    assert any(abs(h) > 1e-3 for row in ours for h in row)


# --- third derivatives ---


@given(finite_values(-4, 4))
def test_third_derivative_of_tanh_through_one_minus_t_squared(x):
    leaf = Value(x)
    t = leaf.tanh()
    (d1,) = mg.grad(t, [leaf], create_graph=True)  # 1 − t²
    (d2,) = mg.grad(d1, [leaf], create_graph=True)  # −2t(1 − t²)
    (d3,) = mg.grad(d2, [leaf])  # −2(1 − t²)(1 − 3t²)
    tt = math.tanh(x)
    assert d1.data == pytest.approx(1 - tt**2, rel=1e-12, abs=1e-300)
    # near 0 the rule (1 − t)(1 + t) differentiates to −(1 + t) + (1 − t): rounding of 1, not of t
    assert d2.data == pytest.approx(-2 * tt * (1 - tt**2), rel=1e-9, abs=1e-15)
    assert d3.data == pytest.approx(-2 * (1 - tt**2) * (1 - 3 * tt**2), rel=1e-9, abs=1e-12)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(torch.tanh(xt), xt, create_graph=True)
    (g,) = torch.autograd.grad(g, xt, create_graph=True)
    (g,) = torch.autograd.grad(g, xt)
    assert d3.data == pytest.approx(g.item(), rel=1e-9, abs=1e-12)


def test_hessian_with_create_graph_gives_third_derivatives():
    x, y = Value(0.7), Value(-1.3)
    H = mg.hessian(x**3 * y**2, [x, y], create_graph=True)
    assert_close(data(H), [[6 * 0.7 * 1.69, 6 * 0.49 * -1.3], [6 * 0.49 * -1.3, 2 * 0.343]], rel=1e-15, abs=0)
    (d3,) = mg.grad(H[0][0], [x])  # d³/dx³ (x³y²) = 6y²
    assert d3.data == pytest.approx(6 * 1.69, rel=1e-15)


def test_jacobian_of_softmax_is_diag_p_minus_ppT():
    zs = [Value(z) for z in (1.0, 2.0, 3.0)]
    p = F.softmax(zs)
    J = data(mg.jacobian(p, zs))
    pd = [q.data for q in p]
    assert_close(J, [[(i == j) * pd[i] - pd[i] * pd[j] for j in range(3)] for i in range(3)], abs=1e-15)
    assert all(not entry.children for row in mg.jacobian(p, zs) for entry in row)


# --- the contract of mg.grad ---


def test_grad_reads_and_changes_no_grad_attribute():
    x, y = Value(0.5), Value(-2.0)
    h = (x * y).tanh()
    out = h * h + x
    nodes = mg.engine.topological_order(out)
    for k, node in enumerate(nodes):
        node.grad = 100.0 + k  # must not leak into the result
    for create_graph in (False, True):
        gx, gy = mg.grad(out, [x, y], create_graph=create_graph)
        assert [n.grad for n in nodes] == [100.0 + k for k in range(len(nodes))]
        t = math.tanh(-1.0)
        assert gx.data == pytest.approx(2 * t * (1 - t * t) * -2.0 + 1, rel=1e-15)
        assert gy.data == pytest.approx(2 * t * (1 - t * t) * 0.5, rel=1e-15)


def test_independent_input_gets_a_new_zero_and_results_are_leaves():
    x, z = Value(2.0), Value(5.0)
    gx, gz = mg.grad(x * x, [x, z])
    assert (gx.data, gz.data) == (4.0, 0.0) and gz is not z
    assert not gx.children and not gz.children
    gx, gz = mg.grad(x * x, [x, z], create_graph=True)
    assert gx.children and gz.data == 0.0


def test_a_list_of_outputs_is_summed_and_inputs_may_be_inner_nodes_or_repeated():
    x = Value(1.5)
    h = x * x
    outs = [h.exp(), h * 3.0]
    g_list = [g.data for g in mg.grad(outs, [h, x, h])]
    expected_h = math.exp(2.25) + 3.0
    assert g_list == pytest.approx([expected_h, expected_h * 3.0, expected_h], rel=1e-15)
    assert mg.grad(x, [x])[0].data == 1.0


def test_hand_built_node_differentiates_once_but_not_twice():
    x = Value(0.5)
    y = Value(math.sin(x.data), (x,), (math.cos(x.data),), "sin")
    (g,) = mg.grad(y * y, [x])
    assert g.data == pytest.approx(2 * math.sin(0.5) * math.cos(0.5), rel=1e-15)
    with pytest.raises(ValueError, match="'sin'"):
        mg.grad(y * y, [x], create_graph=True)
    with pytest.raises(ValueError, match="'sin'"):
        mg.hessian(y * y, [x])
    z = Value(3.0)
    assert mg.grad(y * z, [z], create_graph=True)[0].data == y.data  # the hand-built node is not on z's path


def test_bad_arguments_are_named():
    x = Value(1.0)
    with pytest.raises(ValueError, match="inputs is empty"):
        mg.grad(x * 2, [])
    with pytest.raises(TypeError, match=r"inputs\[1\] must be a Value, got float"):
        mg.grad(x * 2, [x, 2.0])
    with pytest.raises(TypeError, match="outputs must be a Value"):
        mg.grad(3.0, [x])
    with pytest.raises(TypeError, match=r"outputs\[1\] must be a Value, got str"):
        mg.grad([x, "y"], [x])
    with pytest.raises(TypeError, match="single Value"):
        mg.hessian([x], [x])


def test_many_parents_are_added_in_one_sum_node():
    x = Value(0.3)
    ys = [Value(float(k)) for k in range(1000)]
    (gx,) = mg.grad(mg.sum(x * y for y in ys), [x], create_graph=True)
    assert gx.op == "Σ" and len(gx.children) == 1000
    assert gx.data == sum(range(1000))


def test_long_chains_need_no_recursion():
    x = Value(0.1)
    y = x
    for _ in range(100_000):
        y = y * 1.0 + 0.0
    (g,) = mg.grad(y, [x])
    assert g.data == 1.0
    y = x
    for _ in range(5_000):
        y = (y * 0.999).tanh()
    (g,) = mg.grad(y, [x], create_graph=True)
    (h,) = mg.grad(g, [x])
    assert math.isfinite(h.data)


def test_the_module_docstring_runs():
    import doctest

    from micrograd_nn import derivatives

    assert doctest.testmod(derivatives).failed == 0


# --- infinite derivatives: the power rule rebuilt on Values gives ±inf where floats (and torch) do ---


def derivatives_up_to_third(f, x0):
    """[f'(x0), f''(x0), f'''(x0)] by nested mg.grad(create_graph=True)."""
    x = Value(x0)
    out, found = f(x), []
    for _ in range(3):
        (out,) = mg.grad(out, [x], create_graph=True)
        found.append(out.data)
    return found


def torch_derivatives_up_to_third(f, x0):
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    out, found = f(x), []
    for _ in range(3):
        (out,) = torch_grad(out, [x], create_graph=True)
        found.append(out.item())
    return found


def same_floats(ours, theirs):
    return all(a == b or (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-13)
               for a, b in zip(ours, theirs, strict=True))


@pytest.mark.parametrize("f, x0", [
    (lambda x: x**0.5, 0.0),  # inf, -inf, inf: was ZeroDivisionError naming 0.0 ** -0.5
    (lambda x: x**1.5, 0.0),  # 0, inf, -inf
    (lambda x: x**2.5, 0.0),
    (lambda x: x**-1, 1e-200),  # -inf, inf, -inf: was OverflowError naming 1e-200 ** -2.0
    (lambda x: x**-1, -1e-200),  # a negative base: the sign of an odd power
    (lambda x: x**-2, -1e-100),  # 1e200, then 6e400 overflows: inf
    (lambda x: x**-3, -1e-80),  # -1e240, then -inf, -inf, +inf: signs of even and odd powers
    (lambda x: x**0.5, 1e-320),  # a subnormal base
    (lambda x: x ** (x * 0.0 + 0.5), 1e-300),  # a Value exponent
    (lambda x: 2.0 ** (x * -1e3), 2.0),  # a number base
])
def test_power_derivatives_of_any_order_are_infinite_where_torch_gives_infinity(f, x0):
    ours, theirs = derivatives_up_to_third(f, x0), torch_derivatives_up_to_third(f, x0)
    assert same_floats(ours, theirs), (ours, theirs)
    assert any(math.isinf(d) for d in ours) or x0 == 2.0


@pytest.mark.parametrize("point", [(0.0, 0.0), (3.0, 4.0), (0.0, 1e-200)])
def test_hessian_of_the_euclidean_norm_matches_torch_also_at_its_singularity(point):
    def norm(x, y):
        return (x * x + y * y) ** 0.5

    xs = [Value(p) for p in point]
    ours = [[h.data for h in row] for row in mg.hessian(norm(*xs), xs)]
    theirs = torch.autograd.functional.hessian(norm, tuple(torch.tensor(p, dtype=torch.float64) for p in point))
    for i in range(2):
        assert same_floats(ours[i], [theirs[i][j].item() for j in range(2)]), (ours, theirs)


def test_the_users_own_power_keeps_its_errors():
    with pytest.raises(ZeroDivisionError, match="0.0 cannot be raised to the negative power -1"):
        Value(0.0) ** -1
    with pytest.raises(OverflowError, match="1e[+]?200 \\*\\* 2"):
        Value(1e200) ** 2
    with pytest.raises(ValueError, match="negative base"):
        Value(-8.0) ** 0.5
    x = Value(1e-200)
    y = x**-1  # a tiny base is fine: 1e200, slope -inf
    assert y.data == pytest.approx(1e200) and mg.grad(y, [x])[0].data == -math.inf
