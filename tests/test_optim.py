"""SGD and Adam against torch.optim on the same problem, step for step."""

import random

import pytest
import torch
from torch_helpers import assert_close, tensor

import micrograd_nn.functional as F
from micrograd_nn.nn import MLP
from micrograd_nn.optim import SGD, Adam

X = [[0.5, -1.0], [1.5, 0.3], [-0.7, 0.8], [0.1, 0.1]]
Y = [1, 0, 2, 1]


def torch_forward(params, x):
    (W1, b1), (W2, b2) = params
    h = torch.tanh(W1 @ torch.tensor(x, dtype=torch.float64) + b1)
    return W2 @ h + b2


@pytest.mark.parametrize("make", [
    lambda p: SGD(p, lr=0.1),
    lambda p: SGD(p, lr=0.05, momentum=0.9),
    lambda p: SGD(p, lr=0.05, momentum=0.5, weight_decay=0.01),
    lambda p: Adam(p, lr=0.01),
    lambda p: Adam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
], ids=["sgd", "momentum", "weight_decay", "adam", "adam_options"])
def test_optimizer_steps_match_torch_optim(make):
    model = MLP(2, [3, 3], activation="tanh", rng=random.Random(0))
    tparams = [(tensor([n.w for n in lay.neurons]), tensor([n.b for n in lay.neurons])) for lay in model.layers]
    flat = [t for pair in tparams for t in pair]
    opt = make(model.parameters())
    kwargs = {k: v for k, v in vars(opt).items() if k in ("lr", "momentum", "weight_decay", "eps")}
    if isinstance(opt, Adam):
        topt = torch.optim.Adam(flat, betas=(opt.beta1, opt.beta2), foreach=False, **kwargs)
    else:
        topt = torch.optim.SGD(flat, foreach=False, **kwargs)
    for _ in range(6):
        loss = sum(F.cross_entropy(model(x), y) for x, y in zip(X, Y)) / len(X)
        opt.zero_grad()
        loss.backward()
        opt.step()
        tloss = sum(torch.nn.functional.cross_entropy(torch_forward(tparams, x)[None], torch.tensor([y]))
                    for x, y in zip(X, Y)) / len(X)
        topt.zero_grad()
        tloss.backward()
        topt.step()
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
