"""Modules: PyTorch float64 parity of outputs and every parameter's gradient, names, errors."""

import random

import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given
from hypothesis import strategies as st
from torch_helpers import assert_close, grads, tensor, values_data

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
)

TORCH_ACT = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "linear": lambda z: z}


def torch_mlp(model, x):
    out = torch.tensor(x, dtype=torch.float64)
    weights = []
    for layer in model.layers:
        W = tensor([n.w for n in layer.neurons])
        b = tensor([n.b for n in layer.neurons])
        weights.append((W, b))
        out = W @ out + b
        out = TORCH_ACT[layer.neurons[0].activation](out)
    return out, weights


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "linear"])
def test_mlp_matches_pytorch(activation):
    rng = random.Random(3)
    model = MLP(3, [4, 4, 2], activation=activation, rng=rng)
    x = [0.5, -1.2, 2.0]
    out = model(x)
    loss = out[0] * out[1] + out[0]
    loss.backward()
    tout, tweights = torch_mlp(model, x)
    tloss = tout[0] * tout[1] + tout[0]
    tloss.backward()
    assert_close([o.data for o in out], tout)
    for layer, (W, b) in zip(model.layers, tweights):
        assert_close(grads([n.w for n in layer.neurons]), W.grad)
        assert_close(grads([n.b for n in layer.neurons]), b.grad)


def test_last_layer_is_linear_and_single_output_is_a_value():
    model = MLP(2, [3, 1], activation="tanh")
    assert [lay.neurons[0].activation for lay in model.layers] == ["tanh", "linear"]
    assert isinstance(model([1.0, 2.0]), Value)
    assert isinstance(Layer(2, 1)([1.0, 2.0]), Value)
    assert len(Layer(2, 3)([1.0, 2.0])) == 3


def test_neuron_keywords_and_pre_activation_is_one_dot_node():
    assert Neuron(2, nonlin=False).activation == "linear"
    assert Neuron(2, nonlin=True).activation == "relu"
    assert Neuron(2, activation=None).activation == "linear"
    n = Neuron(3, activation="sigmoid")
    out = n([Value(1.0), 2.0, 3.0])
    assert out.op == "sigmoid" and out.children[0].op == "dot"
    with pytest.raises(ValueError, match="activation"):
        Neuron(2, activation="swish")


def test_named_parameters_and_labels():
    model = MLP(2, [4, 1])
    names = [name for name, _ in model.named_parameters()]
    assert names[:3] == ["layers.0.neurons.0.w.0", "layers.0.neurons.0.w.1", "layers.0.neurons.0.b"]
    assert "layers.0.neurons.3.w.1" in names and names[-1] == "layers.1.neurons.0.b"
    assert len(names) == len(model.parameters()) == 4 * 3 + 5
    assert all(p.label == name for name, p in model.named_parameters())
    conv = Conv2d(2, 3, 2)
    assert [n for n, _ in conv.named_parameters()][:2] == ["weight.0.0.0.0", "weight.0.0.0.1"]
    assert len(conv.parameters()) == 3 * 2 * 2 * 2 + 3


@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.integers(1, 4))
def test_parameter_count_of_random_mlps(nouts, nin):
    model = MLP(nin, nouts)
    sizes = [nin, *nouts]
    expected = sum((sizes[i] + 1) * sizes[i + 1] for i in range(len(nouts)))
    named = list(model.named_parameters())
    assert len(named) == expected == len({name for name, _ in named})


def test_zero_grad_and_manual_seed():
    mg.manual_seed(7)
    a = [p.data for p in MLP(2, [3, 1]).parameters()]
    mg.manual_seed(7)
    model = MLP(2, [3, 1])
    assert [p.data for p in model.parameters()] == a
    model([1.0, 1.0]).backward()
    assert any(p.grad for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())
    bound = 1 / 2**0.5
    assert all(-bound <= p.data <= bound for p in model.layers[0].parameters())


def test_wrong_input_length_names_expected_and_received():
    with pytest.raises(ValueError, match="expected 3 inputs, received 2"):
        Neuron(3)([1.0, 2.0])
    with pytest.raises(ValueError, match="expected 2 inputs, received 3"):
        MLP(2, [2, 1])([1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="sequence of 1 inputs, received float"):
        Neuron(1)(2.0)


@pytest.mark.parametrize("cin,cout,k,stride,padding,length", [
    (1, 1, 3, 1, 0, 6), (2, 3, 3, 2, 1, 7), (3, 2, 2, 1, 2, 4), (1, 2, 4, 3, 0, 10),
])
def test_conv1d_matches_pytorch(cin, cout, k, stride, padding, length):
    rng = random.Random(cin * 100 + length)
    conv = Conv1d(cin, cout, k, stride=stride, padding=padding, rng=rng)
    x = [[Value(rng.uniform(-2, 2)) for _ in range(length)] for _ in range(cin)]
    y = conv(x)
    loss = mg.sum(v * (i + 1) for i, v in enumerate(Flatten()(y)))
    loss.backward()
    W, b, xt = tensor(conv.weight), tensor(conv.bias), tensor(x)
    yt = TF.conv1d(xt[None], W, b, stride=stride, padding=padding)[0]
    (yt.flatten() * torch.arange(1, yt.numel() + 1, dtype=torch.float64)).sum().backward()
    assert_close(values_data(y), yt)
    assert_close(grads(conv.weight), W.grad)
    assert_close(grads(conv.bias), b.grad)
    assert_close(grads(x), xt.grad)


@pytest.mark.parametrize("cin,cout,k,stride,padding,size", [
    (1, 1, 2, 1, 0, 4), (2, 2, 3, 1, 1, 5), (1, 3, 3, 2, 1, 6), (3, 2, 2, 2, 0, 5),
])
def test_conv2d_matches_pytorch(cin, cout, k, stride, padding, size):
    rng = random.Random(cin * 10 + size)
    conv = Conv2d(cin, cout, k, stride=stride, padding=padding, bias=cout != 2, rng=rng)
    x = [[[Value(rng.uniform(-2, 2)) for _ in range(size)] for _ in range(size)] for _ in range(cin)]
    y = conv(x)
    loss = mg.sum(v.tanh() for v in Flatten()(y))
    loss.backward()
    W, xt = tensor(conv.weight), tensor(x)
    b = tensor(conv.bias) if conv.bias else None
    yt = TF.conv2d(xt[None], W, b, stride=stride, padding=padding)[0]
    yt.tanh().sum().backward()
    assert_close(values_data(y), yt)
    assert_close(grads(conv.weight), W.grad)
    assert_close(grads(x), xt.grad)
    if b is not None:
        assert_close(grads(conv.bias), b.grad)


@pytest.mark.parametrize("k,stride", [(2, None), (3, 1), (2, 3)])
def test_max_pooling_matches_pytorch(k, stride):
    rng = random.Random(k)
    x1 = [[Value(rng.uniform(-2, 2)) for _ in range(8)] for _ in range(2)]
    x2 = [[[Value(rng.uniform(-2, 2)) for _ in range(7)] for _ in range(6)] for _ in range(2)]
    y1, y2 = MaxPool1d(k, stride)(x1), MaxPool2d(k, stride)(x2)
    (mg.sum(Flatten()(y1)) * 2.0 + mg.sum(v * v for v in Flatten()(y2))).backward()
    t1, t2 = tensor(x1), tensor(x2)
    p1 = TF.max_pool1d(t1[None], k, stride or k)[0]
    p2 = TF.max_pool2d(t2[None], k, stride or k)[0]
    (p1.sum() * 2.0 + (p2 * p2).sum()).backward()
    assert_close(values_data(y1), p1)
    assert_close(values_data(y2), p2)
    assert_close(grads(x1), t1.grad)
    assert_close(grads(x2), t2.grad)


def test_max_pool_gradient_goes_to_the_first_maximum_on_ties():
    x = [[Value(1.0), Value(3.0), Value(3.0), Value(0.0)]]
    MaxPool1d(4)(x)[0][0].backward()
    assert [v.grad for v in x[0]] == [0.0, 1.0, 0.0, 0.0]


def test_conv_shape_errors_say_what_was_expected():
    with pytest.raises(ValueError, match="expected 2 input channels, received 1"):
        Conv2d(2, 1, 2)([[[1.0, 2.0], [3.0, 4.0]]])
    with pytest.raises(ValueError, match="smaller than kernel_size 3"):
        Conv1d(1, 1, 3)([[1.0, 2.0]])
    with pytest.raises(ValueError, match="smaller than kernel_size 3"):
        Conv2d(1, 1, 3)([[[1.0, 2.0], [3.0, 4.0]]])
    with pytest.raises(ValueError, match=r"x\[c\]\[t\]: lists nested 2 deep"):
        Conv1d(1, 1, 2)([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="shape"):
        Conv2d(1, 1, 2)([[[1.0, 2.0], [3.0]]])
    assert len(Conv1d(1, 1, 3, padding=1)([[1.0, 2.0]])[0]) == 2


def test_sequential_cnn_shapes_names_and_repr():
    model = Sequential(Conv2d(1, 2, 3), ReLU(), MaxPool2d(2), Flatten(), Layer(8, 2, activation="linear"))
    x = [[[float((i + j) % 3) for j in range(6)] for i in range(6)]]
    out = model(x)
    assert len(out) == 2 and all(isinstance(o, Value) for o in out)
    names = [n for n, _ in model.named_parameters()]
    assert names[0] == "layers.0.weight.0.0.0.0" and names[-1] == "layers.4.neurons.1.b"
    assert "Conv2d(1, 2, kernel_size=3" in repr(model) and "MaxPool2d" in repr(model)
    assert isinstance(model, Module)


def test_user_modules_with_forward_like_pytorch():
    class Affine(Module):
        def __init__(self):
            self.scale = Value(2.0)
            self.inner = Neuron(1, activation="linear", rng=random.Random(0))

        def forward(self, x):
            return self.inner([x]) * self.scale

    model = Affine()
    out = model(3.0)
    out.backward()
    assert [n for n, _ in model.named_parameters()] == ["scale", "inner.w.0", "inner.b"]
    assert model.scale.grad == model.inner([3.0]).data
    with pytest.raises(NotImplementedError, match="forward"):
        Module()(1.0)
