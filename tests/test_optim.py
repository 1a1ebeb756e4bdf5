"""SGD and Adam against torch.optim on the same problem, step for step."""

import copy
import math
import pickle
import random

import pytest
import torch
from torch_helpers import assert_close, tensor

import micrograd_nn.functional as F
from micrograd_nn import Value
from micrograd_nn.nn import MLP
from micrograd_nn.optim import SGD, Adam, lerp

X = [[0.5, -1.0], [1.5, 0.3], [-0.7, 0.8], [0.1, 0.1]]
Y = [1, 0, 2, 1]


def torch_forward(params, x):
    (W1, b1), (W2, b2) = params
    h = torch.tanh(W1 @ torch.tensor(x, dtype=torch.float64) + b1)
    return W2 @ h + b2


@pytest.mark.parametrize("ours,theirs", [
    (lambda p: SGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1, foreach=False)),
    (lambda p: SGD(p, lr=0.05, momentum=0.9), lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, foreach=False)),
    (lambda p: SGD(p, lr=0.05, momentum=0.5, weight_decay=0.01),
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.5, weight_decay=0.01, foreach=False)),
    (lambda p: Adam(p, lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01, foreach=False)),
    (lambda p: Adam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
     lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, foreach=False)),
], ids=["sgd", "momentum", "weight_decay", "adam", "adam_options"])
def test_optimizer_steps_match_torch_optim(ours, theirs):
    model, _, tparams, _ = run_both(ours, theirs, steps=6)
    loss = sum(F.cross_entropy(model(x), y) for x, y in zip(X, Y)) / len(X)
    tloss = sum(torch.nn.functional.cross_entropy(torch_forward(tparams, x)[None], torch.tensor([y]))
                for x, y in zip(X, Y)) / len(X)
    assert loss.data == pytest.approx(tloss.item(), rel=1e-9)
    for lay, (W, b) in zip(model.layers, tparams):
        assert_close([[w.data for w in n.w] for n in lay.neurons], W, rel=1e-9, abs=1e-12)
        assert_close([n.b.data for n in lay.neurons], b, rel=1e-9, abs=1e-12)


def test_optimizer_errors():
    with pytest.raises(ValueError, match="empty"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match="parameter 0 must be a Value, got float"):
        SGD([1.0], lr=0.1)
    with pytest.raises(ValueError, match="learning rate"):
        Adam(MLP(1, [1]).parameters(), lr=-1)


def run_both(make_ours, make_torch, steps, model=None):
    """`steps` optimiser steps on the same problem in micrograd_nn and torch; returns both (model, optimiser)."""
    model = model or MLP(2, [3, 3], activation="tanh", rng=random.Random(0))
    tparams = [(tensor([n.w for n in lay.neurons]), tensor([n.b for n in lay.neurons])) for lay in model.layers]
    flat = [t for pair in tparams for t in pair]
    opt, topt = make_ours(model.parameters()), make_torch(flat)
    for _ in range(steps):
        loss = sum(F.cross_entropy(model(x), y) for x, y in zip(X, Y)) / len(X)
        opt.zero_grad()
        loss.backward()
        opt.step()
        tloss = sum(torch.nn.functional.cross_entropy(torch_forward(tparams, x)[None], torch.tensor([y]))
                    for x, y in zip(X, Y)) / len(X)
        topt.zero_grad()
        tloss.backward()
        topt.step()
    return model, opt, tparams, topt


def per_parameter(tensors_by_layer):
    """[(W, b)] per layer → one float per parameter, in micrograd_nn's order (each neuron's w, then its b)."""
    return [x for W, b in tensors_by_layer for row, bias in zip(W.tolist(), b.tolist()) for x in (*row, bias)]


@pytest.mark.parametrize("betas,weight_decay", [((0.3, 0.999), 0.0), ((0.9, 0.999), 0.0), ((0.3, 0.999), 0.05),
                                                ((0.5, 0.9), 0.0), ((0.0, 0.99), 0.01)])
def test_adam_matches_torch_for_every_beta1(betas, weight_decay):
    model, opt, tparams, topt = run_both(
        lambda p: Adam(p, lr=0.05, betas=betas, weight_decay=weight_decay),
        lambda p: torch.optim.Adam(p, lr=0.05, betas=betas, weight_decay=weight_decay, foreach=False), steps=20)
    # torch's compiled kernels fuse some multiply-adds (FMA), so agreement is to rounding, not to the bit
    state = [topt.state[t] for pair in tparams for t in pair]
    assert opt.t == 20 == state[0]["step"].item()
    assert opt.m == pytest.approx(per_parameter([(state[i]["exp_avg"], state[i + 1]["exp_avg"]) for i in (0, 2)]),
                                  rel=1e-11, abs=1e-14)
    assert opt.v == pytest.approx(
        per_parameter([(state[i]["exp_avg_sq"], state[i + 1]["exp_avg_sq"]) for i in (0, 2)]), rel=1e-11, abs=1e-14)
    assert [p.data for p in model.parameters()] == pytest.approx(per_parameter(tparams), rel=1e-11, abs=1e-14)


def test_adam_first_moment_uses_torchs_lerp():
    # torch.lerp switches to end − (end − start)·(1 − w) for w ≥ 0.5, which is exactly `end` at w = 1:
    # with β₁ = 0 the first moment is the gradient itself, bit for bit, in torch and here.
    model, opt, tparams, topt = run_both(lambda p: Adam(p, lr=0.05, betas=(0.0, 0.999)),
                                         lambda p: torch.optim.Adam(p, lr=0.05, betas=(0.0, 0.999), foreach=False),
                                         steps=3)
    assert opt.m == [p.grad for p in model.parameters()]
    state = [topt.state[t] for pair in tparams for t in pair]
    assert all(torch.equal(s["exp_avg"], t.grad) for s, t in zip(state, [t for pair in tparams for t in pair]))
    assert lerp(0.1, 0.7, 1.0) == 0.7 and lerp(0.1, 0.7, 0.0) == 0.1
    assert lerp(0.1, 0.7, 0.7) == 0.7 - (0.7 - 0.1) * (1 - 0.7)
    assert lerp(0.1, 0.7, 0.3) == 0.1 + 0.3 * (0.7 - 0.1)


def test_sgd_matches_torch_with_momentum_and_weight_decay():
    model, opt, tparams, topt = run_both(lambda p: SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
                                         lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01,
                                                                   foreach=False), steps=15)
    buffers = [topt.state[t]["momentum_buffer"] for pair in tparams for t in pair]
    assert opt.velocity == pytest.approx(per_parameter([(buffers[0], buffers[1]), (buffers[2], buffers[3])]),
                                         rel=1e-11, abs=1e-14)
    assert [p.data for p in model.parameters()] == pytest.approx(per_parameter(tparams), rel=1e-11, abs=1e-14)


@pytest.mark.parametrize("make,error,match", [
    (lambda p: SGD(p, lr=-0.1), ValueError, "lr"),
    (lambda p: SGD(p, lr=math.inf), ValueError, "lr"),
    (lambda p: Adam(p, lr=math.nan), ValueError, "lr"),
    (lambda p: SGD(p, lr="0.1"), TypeError, "lr"),
    (lambda p: SGD(p, lr=True), TypeError, "lr"),
    (lambda p: SGD(p, lr=0.1, momentum=-0.9), ValueError, "momentum"),
    (lambda p: SGD(p, lr=0.1, momentum=math.inf), ValueError, "momentum"),
    (lambda p: SGD(p, lr=0.1, weight_decay=-1e-4), ValueError, "weight_decay"),
    (lambda p: Adam(p, weight_decay=math.inf), ValueError, "weight_decay"),
    (lambda p: Adam(p, eps=-1e-8), ValueError, "eps"),
    (lambda p: Adam(p, eps=math.nan), ValueError, "eps"),
    (lambda p: Adam(p, betas=(1.0, 0.999)), ValueError, r"betas\[0\]"),
    (lambda p: Adam(p, betas=(0.9, -0.1)), ValueError, r"betas\[1\]"),
    (lambda p: Adam(p, betas=0.9), TypeError, "betas"),
])
def test_hyper_parameters_are_checked(make, error, match):
    with pytest.raises(error, match=match):
        make(MLP(1, [1]).parameters())
    # zero is allowed, as in torch
    SGD(MLP(1, [1]).parameters(), lr=0.0, momentum=0.0, weight_decay=0.0)


def snapshot(model, opt):
    return [p.data for p in model.parameters()], copy.deepcopy(vars(opt))


@pytest.mark.parametrize("make", [lambda p: SGD(p, lr=0.1, momentum=0.9), lambda p: Adam(p, lr=0.01)],
                         ids=["sgd", "adam"])
@pytest.mark.parametrize("bad", [None, "0.5", [1.0], Value(1.0), True], ids=repr)
def test_a_step_is_all_or_nothing(make, bad):
    model = MLP(2, [3, 1], rng=random.Random(0))
    opt = make(model.parameters())
    model([1.0, -1.0]).backward()
    opt.step()  # the state now holds momentum buffers / moments and a step count
    model.zero_grad()
    model([0.5, 2.0]).backward()
    params = model.parameters()
    params[5].grad = bad
    before = snapshot(model, opt)
    with pytest.raises(TypeError, match="parameter 5 .*grad"):
        opt.step()
    after = snapshot(model, opt)
    assert after[0] == before[0]
    assert {k: v for k, v in after[1].items() if k != "params"} == {k: v for k, v in before[1].items() if k != "params"}
    params[5].grad = 0.0
    params[2].data = "oops"
    with pytest.raises(TypeError, match="parameter 2 .*data"):
        opt.step()


def test_nan_gradients_propagate_as_in_torch():
    for ours, theirs in ((lambda p: SGD(p, lr=0.1), lambda t: torch.optim.SGD(t, lr=0.1)),
                         (lambda p: Adam(p, lr=0.1), lambda t: torch.optim.Adam(t, lr=0.1))):
        p, t = Value(1.0), torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
        q = Value(2.0)
        opt, topt = ours([p, q]), theirs([t])
        p.grad, q.grad = math.nan, 1.0
        t.grad = torch.tensor([math.nan, 1.0], dtype=torch.float64)
        opt.step()
        topt.step()
        assert math.isnan(p.data) and math.isnan(t[0].item())
        assert q.data == t[1].item()


def test_deepcopy_and_pickle_of_optimisers_continue_identically():
    model = MLP(2, [3, 1], rng=random.Random(0))
    opt = Adam(model.parameters(), lr=0.05)

    def train(model, opt, steps):
        for _ in range(steps):
            loss = sum((model(x) - t) ** 2 for x, t in zip(X, [1.0, -1.0, 0.5, 0.0]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        return [p.data for p in model.parameters()]

    train(model, opt, 3)
    copies = [copy.deepcopy((model, opt)), pickle.loads(pickle.dumps((model, opt)))]
    expected = train(model, opt, 4)
    for model_copy, opt_copy in copies:
        assert opt_copy.params == model_copy.parameters() and opt_copy.params[0] is model_copy.parameters()[0]
        assert train(model_copy, opt_copy, 4) == expected
