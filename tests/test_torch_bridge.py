"""to_torch / from_torch: same outputs and parameter gradients as the micrograd_nn module, on random batches."""

import copy
import importlib
import random
import struct
import sys

import pytest
import torch
from torch import nn as tnn

import micrograd_nn as mg
from micrograd_nn import Value
from micrograd_nn.nn import (
    MLP,
    Conv1d,
    Conv2d,
    Flatten,
    Layer,
    MaxPool1d,
    MaxPool2d,
    Module,
    Neuron,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
)
from micrograd_nn.torch_bridge import TorchLayer, TorchMLP, TorchNeuron, from_torch, to_torch


def flat_data(output):
    return [getattr(v, "data", v) for v in Flatten()([output])]


def bits(values):
    return [struct.pack("<d", v) for v in values]


def torch_grads_by_name(tmodule):
    """The torch gradients under micrograd_nn's parameter names: from_torch of a copy whose weights are the grads."""
    holder = copy.deepcopy(tmodule)
    with torch.no_grad():
        for p, q in zip(holder.parameters(), tmodule.parameters()):
            p.copy_(q.grad)
    return from_torch(holder).state_dict()


def check_same_function(model, batch):
    """Outputs to 1e-12 on every sample; parameter gradients of Σₙ Σₖ cₖ·outₙₖ (summed over the batch)."""
    tmodel = to_torch(model)
    tout = tmodel(batch)
    assert tout.dtype == torch.float64 and tout.shape[0] == batch.shape[0]
    model.zero_grad()
    outputs = [model(sample.tolist()) for sample in batch]
    for out, row in zip(outputs, tout):
        assert flat_data(out) == pytest.approx(row.flatten().tolist(), rel=1e-12, abs=1e-12)
    weights = torch.linspace(-1.0, 2.0, tout[0].numel(), dtype=torch.float64)
    (tout.reshape(len(batch), -1) * weights).sum().backward()
    loss = mg.sum(v * w for out in outputs for v, w in zip(Flatten()([out]), weights.tolist()))
    loss.backward()
    ours = {name: p.grad for name, p in model.named_parameters()}
    theirs = torch_grads_by_name(tmodel)
    assert list(theirs) == list(ours)
    assert list(ours.values()) == pytest.approx(list(theirs.values()), rel=1e-10, abs=1e-12)
    return tout


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "linear"])
def test_mlp_outputs_and_gradients_match_on_a_batch(activation):
    model = MLP(3, [5, 4, 2], activation=activation, rng=random.Random(1))
    tout = check_same_function(model, randn(7, 3))
    assert tout.shape == (7, 2)


@pytest.mark.parametrize("make,nout", [
    (lambda: Neuron(4, activation="tanh", rng=random.Random(2)), 1),
    (lambda: Neuron(4, activation="linear", rng=random.Random(2)), 1),
    (lambda: Layer(4, 3, activation="sigmoid", rng=random.Random(3)), 3),
    (lambda: Layer(4, 1, rng=random.Random(3)), 1),
    (lambda: MLP(4, [6, 1], rng=random.Random(4)), 1),
])
def test_neurons_and_layers_give_n_by_nout(make, nout):
    model = make()
    assert check_same_function(model, randn(5, 4, seed=1)).shape == (5, nout)


@pytest.mark.parametrize("k,stride,padding,bias", [(3, 1, 0, True), (3, 2, 1, True), (2, 3, 2, False)])
def test_conv1d_with_stride_and_padding(k, stride, padding, bias):
    model = Conv1d(2, 3, k, stride=stride, padding=padding, bias=bias, rng=random.Random(k))
    tout = check_same_function(model, randn(4, 2, 9, seed=k))
    assert tout.shape == (4, 3, (9 + 2 * padding - k) // stride + 1)


@pytest.mark.parametrize("k,stride,padding,bias", [(3, 1, 0, True), (3, 2, 1, True), (2, 2, 1, False)])
def test_conv2d_with_stride_and_padding(k, stride, padding, bias):
    model = Conv2d(2, 2, k, stride=stride, padding=padding, bias=bias, rng=random.Random(k))
    check_same_function(model, randn(3, 2, 6, 5, seed=k))


def test_a_small_cnn_in_sequential():
    model = Sequential(Conv2d(1, 2, 3, padding=1, rng=random.Random(0)), ReLU(), MaxPool2d(2), Flatten(),
                       Layer(18, 4, activation="tanh", rng=random.Random(1)), Sigmoid(), Layer(4, 2, activation=None,
                                                                                                rng=random.Random(2)))
    assert check_same_function(model, randn(3, 1, 6, 6, seed=5)).shape == (3, 2)
    model1d = Sequential(Conv1d(2, 2, 3, stride=2, rng=random.Random(0)), Tanh(), MaxPool1d(2, stride=1), Flatten(),
                         MLP(6, [3, 1], rng=random.Random(1)))
    check_same_function(model1d, randn(4, 2, 10, seed=6))


@pytest.mark.parametrize("make", [
    lambda: Neuron(3, activation="sigmoid"),
    lambda: Layer(3, 2, activation="tanh"),
    lambda: MLP(3, [4, 4, 1]),
    lambda: MLP(3, [2], activation="linear"),
    lambda: Conv1d(1, 2, 2, stride=2, padding=1),
    lambda: Conv2d(2, 1, 3, bias=False),
    lambda: MaxPool1d(3, stride=2),
    lambda: MaxPool2d(2),
    lambda: Flatten(),
    lambda: ReLU(),
    lambda: Sequential(Conv2d(1, 2, 2), ReLU(), MaxPool2d(2), Flatten(), Layer(8, 3), Layer(3, 1, activation=None)),
    lambda: Sequential(Layer(3, 3, activation=None), ReLU(), Layer(3, 1, activation=None)),
])
def test_from_torch_of_to_torch_reproduces_the_module_exactly(make):
    model = make()
    back = from_torch(to_torch(model))
    assert type(back) is type(model) and repr(back) == repr(model)
    assert list(back.state_dict()) == list(model.state_dict())
    assert bits(back.state_dict().values()) == bits(model.state_dict().values())
    x = randn(*{Conv1d: (1, 5), Conv2d: (2, 5, 5), MaxPool1d: (2, 6), MaxPool2d: (1, 4, 4)}.get(
        type(model), (1, 6, 6) if isinstance(model, Sequential) and isinstance(model.layers[0], Conv2d) else (3,)))
    assert bits(flat_data(back(x.tolist()))) == bits(flat_data(model(x.tolist())))


def test_torch_classes_are_sequentials_that_remember_their_origin():
    t = to_torch(MLP(2, [3, 1], activation="tanh"))
    assert type(t) is TorchMLP and isinstance(t, tnn.Sequential)
    assert [type(m) for m in t] == [tnn.Linear, tnn.Tanh, tnn.Linear]
    assert type(to_torch(Neuron(2))) is TorchNeuron and type(to_torch(Layer(2, 2))) is TorchLayer
    assert all(p.dtype == torch.float64 for p in t.parameters())


def test_to_torch_holds_copies_and_leaves_both_random_generators_alone():
    model = MLP(2, [3, 1], rng=random.Random(0))
    state, torch_state = random.getstate(), torch.random.get_rng_state()
    t = to_torch(model)
    back = from_torch(t)
    assert random.getstate() == state and torch.equal(torch.random.get_rng_state(), torch_state)
    with torch.no_grad():
        t[0].weight.add_(1.0)
    model.parameters()[0].data += 5.0
    assert t[0].weight[0, 0].item() != model.parameters()[0].data
    assert back.parameters()[0].data not in (model.parameters()[0].data, t[0].weight[0, 0].item())


def test_from_torch_of_plain_torch_modules():
    torch.manual_seed(0)
    net = tnn.Sequential(tnn.Linear(2, 8), tnn.ReLU(), tnn.Linear(8, 8), tnn.ReLU(), tnn.Linear(8, 1)).double()
    model = from_torch(net)
    assert type(model) is MLP and repr(model) == "MLP(2, [8, 8, 1], activation='relu')"
    x = randn(6, 2)
    for row, out in zip(x, net(x)):
        assert model(row.tolist()).data == pytest.approx(out.item(), rel=1e-12, abs=1e-12)
    lone = from_torch(tnn.Linear(3, 2))
    assert type(lone) is Layer and lone.neurons[0].activation == "linear"
    mixed = from_torch(tnn.Sequential(tnn.Linear(2, 3), tnn.Tanh(), tnn.Linear(3, 3), tnn.ReLU(), tnn.Linear(3, 1)))
    assert type(mixed) is Sequential and [type(m) for m in mixed.layers] == [Layer, Tanh, Layer, ReLU, Layer]
    ends_with_activation = from_torch(tnn.Sequential(tnn.Linear(2, 3), tnn.Sigmoid()))
    assert [type(m) for m in ends_with_activation.layers] == [Layer, Sigmoid]
    cnn = tnn.Sequential(tnn.Conv2d(1, 2, 3, stride=2, padding=1), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
                         tnn.Linear(8, 2))
    model = from_torch(cnn)  # float32 weights, copied exactly into float64
    x = torch.randn(2, 1, 7, 7)
    for row, out in zip(x, cnn.double()(x.double())):
        assert flat_data(model(row.tolist())) == pytest.approx(out.tolist(), rel=1e-12, abs=1e-12)


def test_from_torch_mlp_gradients_match_torch():
    torch.manual_seed(1)
    net = tnn.Sequential(tnn.Linear(3, 4), tnn.Tanh(), tnn.Linear(4, 2)).double()
    model = from_torch(net)
    check_same_function(model, randn(5, 3, seed=2))


@pytest.mark.parametrize("layer,name", [
    (tnn.Dropout(0.5), "Dropout"),
    (tnn.BatchNorm1d(3), "BatchNorm1d"),
    (tnn.Linear(3, 2, bias=False), "bias"),
    (tnn.Conv2d(1, 1, 3, dilation=2), "dilation"),
    (tnn.Conv2d(1, 1, (3, 2)), "kernel_size"),
    (tnn.Conv1d(1, 1, 3, padding="same"), "padding"),
    (tnn.MaxPool2d(2, ceil_mode=True), "ceil_mode"),
    (tnn.Flatten(start_dim=0), "start_dim"),
    (tnn.Sequential(tnn.Linear(2, 2), tnn.GELU()), "GELU"),
    (tnn.LeakyReLU(), "LeakyReLU"),
])
def test_unsupported_torch_layers_are_named(layer, name):
    with pytest.raises(TypeError, match=name):
        from_torch(layer)


def test_to_torch_rejects_modules_it_does_not_know():
    class Scale(Module):
        def __init__(self):
            self.s = Value(2.0)

        def forward(self, x):
            return [v * self.s for v in x]

    with pytest.raises(TypeError, match="Scale"):
        to_torch(Sequential(Layer(2, 2), Scale()))


def test_missing_torch_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # what `import torch` meets when torch is not installed
    monkeypatch.delitem(sys.modules, "micrograd_nn.torch_bridge")
    with pytest.raises(ImportError, match=r"pip install 'micrograd_nn\[torch\]'"):
        importlib.import_module("micrograd_nn.torch_bridge")


def test_from_torch_stack_with_a_one_unit_layer_in_the_middle():
    torch_model = tnn.Sequential(tnn.Linear(3, 1), tnn.ReLU(), tnn.Linear(1, 2), tnn.Tanh()).double()
    ours = from_torch(torch_model)
    x = [0.1, -0.2, 0.3]
    expected = torch_model(torch.tensor([x], dtype=torch.float64))[0].tolist()
    assert [v.data for v in ours(x)] == pytest.approx(expected, rel=1e-12, abs=1e-15)
