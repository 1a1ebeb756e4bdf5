"""micrograd 0.1.0's engine checks, run on micrograd_nn, micrograd itself and PyTorch float64.

The expressions are written once over any backend, so the same arithmetic is
compared across all three, with micrograd's exact-equality asserts.
"""

import random

import micrograd.engine
import pytest
import torch

import micrograd_nn


def sanity_expression(x):
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    return h + q + q * x


def more_ops_expression(a, b):
    c = a + b
    d = a * b + b**3
    c = c + c + 1
    c = c + 1 + c + (-a)
    d = d + d * 2 + (b + a).relu()
    d = d + 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    return g + 10.0 / f


def in_place_more_ops_expression(a, b):  # micrograd's test mutates with +=, which rebinds names
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    return g


def run_value(Value, expression, *xs):
    leaves = [Value(x) for x in xs]
    out = expression(*leaves)
    out.backward()
    return out.data, [leaf.grad for leaf in leaves]


def run_torch(expression, *xs):
    leaves = [torch.tensor([x], dtype=torch.float64, requires_grad=True) for x in xs]
    out = expression(*leaves)
    out.backward()
    return out.item(), [leaf.grad.item() for leaf in leaves]


def test_sanity_check_exactly_equal_to_pytorch_and_micrograd():
    ours = run_value(micrograd_nn.Value, sanity_expression, -4.0)
    assert ours == run_torch(sanity_expression, -4.0)
    assert ours == run_value(micrograd.engine.Value, sanity_expression, -4.0)


@pytest.mark.parametrize("expression", [more_ops_expression, in_place_more_ops_expression])
def test_more_ops_within_1e_6(expression):
    (g, grads) = run_value(micrograd_nn.Value, expression, -4.0, 2.0)
    (gt, grads_t) = run_torch(more_ops_expression, -4.0, 2.0)
    assert abs(g - gt) < 1e-6
    assert all(abs(a - b) < 1e-6 for a, b in zip(grads, grads_t))


@pytest.mark.parametrize("name", ["tanh", "exp"])
@pytest.mark.parametrize("x", [-1.0, 0.123, 2.0])
def test_unary_functions_match_pytorch(name, x):
    (y, (g,)) = run_value(micrograd_nn.Value, lambda v: getattr(v, name)(), x)
    (yt, (gt,)) = run_torch(lambda t: getattr(t, name)(), x)
    assert abs(y - yt) < 1e-6 and abs(g - gt) < 1e-6


def test_micrograd_demo_training_loop_runs_unchanged_but_for_imports():
    """micrograd's demo notebook loop: micrograd-style inputs, builtin sum, numpy labels, an SVM loss."""
    import numpy as np

    from micrograd_nn import Value
    from micrograd_nn.data import moons
    from micrograd_nn.nn import MLP

    np.random.seed(1337)
    random.seed(1337)  # as micrograd's demo: both libraries draw initial weights from Python's `random`
    X, y = moons(100, noise=0.1, seed=1337)
    y = y * 2 - 1
    model = MLP(2, [16, 16, 1])
    random.seed(1337)
    assert [p.data for p in MLP(2, [16, 16, 1]).parameters()] == [p.data for p in model.parameters()]
    assert len(model.parameters()) == 337 and "MLP" in repr(model)

    def loss():
        inputs = [list(map(Value, xrow)) for xrow in X]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = 1e-4 * sum(p * p for p in model.parameters())
        accuracy = [(yi > 0) == (scorei.data > 0) for yi, scorei in zip(y, scores)]
        return data_loss + reg_loss, sum(accuracy) / len(accuracy)

    for k in range(60):
        total_loss, acc = loss()
        model.zero_grad()
        total_loss.backward()
        learning_rate = 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= learning_rate * p.grad
    assert acc >= 0.9

    xx, yy = np.meshgrid(np.arange(-1.5, 2.5, 0.25), np.arange(-1.0, 1.5, 0.25))
    Xmesh = np.c_[xx.ravel(), yy.ravel()]
    scores = list(map(model, [list(map(Value, xrow)) for xrow in Xmesh]))
    Z = np.array([s.data > 0 for s in scores]).reshape(xx.shape)
    assert Z.any() and not Z.all()
