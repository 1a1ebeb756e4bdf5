"""Modules: PyTorch float64 parity of outputs and every parameter's gradient, names, errors."""

import copy
import pickle
import random

import numpy as np
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


# --- shared parameters and back-references ---


def test_shared_layer_is_listed_once_as_in_pytorch():
    layer = Layer(2, 2, rng=random.Random(0))
    model = Sequential(layer, ReLU(), layer)
    names = [n for n, _ in model.named_parameters()]
    assert names == ["layers.0." + n for n, _ in layer.named_parameters()]
    assert model.parameters() == layer.parameters()
    linear = torch.nn.Linear(2, 2)
    assert len(list(torch.nn.Sequential(linear, torch.nn.ReLU(), linear).parameters())) == 2

    class Tied(Module):
        def __init__(self):
            self.a = Neuron(2, rng=random.Random(1))
            self.b = Neuron(2, rng=random.Random(2))
            self.b.w = self.a.w  # b reuses a's weight list, keeps its own bias

    tied = Tied()
    assert [n for n, _ in tied.named_parameters()] == ["a.w.0", "a.w.1", "a.b", "b.b"]
    assert len(tied.parameters()) == 4 == len({id(p) for p in tied.parameters()})


def test_a_child_referring_to_its_parent_does_not_loop():
    child = Neuron(2, rng=random.Random(0))

    class Parent(Module):
        def __init__(self):
            self.child = child
            self.scale = Value(2.0)
            child.parent = self
            self._label_parameters()

    parent = Parent()
    assert [n for n, _ in parent.named_parameters()] == ["child.w.0", "child.w.1", "child.b", "scale"]
    assert [n for n, _ in child.named_parameters()] == ["w.0", "w.1", "b", "parent.scale"]
    assert Sequential(parent, ReLU()).parameters() == parent.parameters()
    parent.zero_grad()


# --- constructor checks ---


@pytest.mark.parametrize("build,error,argument", [
    (lambda: Layer(2, 0), ValueError, "nout"),
    (lambda: Layer(0, 2), ValueError, "nin"),
    (lambda: MLP(2, []), ValueError, "nouts"),
    (lambda: MLP(2, [3, 0]), ValueError, r"nouts\[1\]"),
    (lambda: MLP(2, 3), TypeError, "nouts"),
    (lambda: MLP(2, "31"), TypeError, "nouts"),
    (lambda: MLP(2.0, [3]), TypeError, "nin"),
    (lambda: Neuron(2.5), TypeError, "nin"),
    (lambda: Neuron(True), TypeError, "nin"),
    (lambda: Neuron(-1), ValueError, "nin"),
    (lambda: Conv1d(1, 1, 2.0), TypeError, "kernel_size"),
    (lambda: Conv2d(1, 1, 0), ValueError, "kernel_size"),
    (lambda: Conv2d(0, 1, 2), ValueError, "in_channels"),
    (lambda: Conv1d(1, False, 2), TypeError, "out_channels"),
    (lambda: Conv1d(1, 1, 2, stride=0), ValueError, "stride"),
    (lambda: Conv2d(1, 1, 2, padding=-1), ValueError, "padding"),
    (lambda: MaxPool1d(0), ValueError, "kernel_size"),
    (lambda: MaxPool2d(2, stride=0), ValueError, "stride"),
    (lambda: MaxPool2d(2.0), TypeError, "kernel_size"),
    (lambda: MaxPool1d(2, stride=1.5), TypeError, "stride"),
])
def test_constructors_name_the_bad_argument(build, error, argument):
    with pytest.raises(error, match=argument):
        build()


def test_numpy_integer_sizes_are_sizes():
    assert len(MLP(np.int64(2), np.array([3, 1])).parameters()) == 3 * 3 + 4
    assert Conv2d(np.int32(1), 1, np.int64(2)).kernel_size == 2


# --- numpy inputs ---


def _outputs(y):
    return [getattr(v, "data", v) for v in Flatten()([y])]


@pytest.mark.parametrize("make,shape", [
    (lambda: MLP(3, [4, 2], activation="tanh", rng=random.Random(0)), (3,)),
    (lambda: MLP(3, [4, 1], rng=random.Random(0)), (3,)),
    (lambda: Layer(3, 2, activation="sigmoid", rng=random.Random(0)), (3,)),
    (lambda: Neuron(3, rng=random.Random(0)), (3,)),
    (lambda: Conv1d(2, 3, 3, stride=2, padding=1, rng=random.Random(0)), (2, 7)),
    (lambda: Conv2d(2, 2, 2, stride=1, padding=1, rng=random.Random(0)), (2, 4, 5)),
    (lambda: MaxPool1d(2), (2, 7)),
    (lambda: MaxPool2d(2, stride=1), (2, 4, 5)),
    (lambda: Flatten(), (2, 3, 2)),
    (lambda: Sequential(Conv2d(1, 2, 3, rng=random.Random(0)), ReLU(), MaxPool2d(2), Flatten(),
                        Layer(4, 2, rng=random.Random(1))), (1, 6, 5)),
])
def test_numpy_arrays_give_the_same_results_as_lists(make, shape):
    x = np.random.default_rng(0).normal(size=shape)
    as_lists, as_array = make(), make()
    out_lists, out_array = as_lists(x.tolist()), as_array(x)
    assert _outputs(out_array) == _outputs(out_lists)
    loss_lists = mg.sum(v * (i + 1) for i, v in enumerate(Flatten()([out_lists])) if isinstance(v, Value))
    loss_array = mg.sum(v * (i + 1) for i, v in enumerate(Flatten()([out_array])) if isinstance(v, Value))
    if as_lists.parameters():
        loss_lists.backward()
        loss_array.backward()
        assert [p.grad for p in as_array.parameters()] == [p.grad for p in as_lists.parameters()]
    # a list of per-channel arrays is also accepted
    if len(shape) > 1:
        assert _outputs(make()(list(x))) == _outputs(out_lists)


def test_flatten_and_activations_unpack_numpy_arrays():
    assert Flatten()(np.zeros((2, 2))) == [0.0, 0.0, 0.0, 0.0]
    assert values_data(ReLU()(np.array([[-1.0, 2.0]]))) == [[0.0, 2.0]]


def test_a_dict_is_not_an_input_vector():
    with pytest.raises(TypeError, match="received dict"):
        MLP(2, [3, 1])({0.5: "a", 1.5: "b"})
    with pytest.raises(TypeError, match="received set"):
        Neuron(2)({1.0, 2.0})
    with pytest.raises(ValueError, match=r"1-D array of 2 inputs, received shape \(1, 2\)"):
        Neuron(2)(np.zeros((1, 2)))


# --- reproducible initialisation ---


def _weights(model):
    return [p.data for p in model.parameters()]


def test_random_seed_before_building_gives_the_same_weights_as_micrograd_users_expect():
    random.seed(1337)
    first = _weights(MLP(2, [16, 16, 1]))
    random.seed(1337)
    assert _weights(MLP(2, [16, 16, 1])) == first
    mg.manual_seed(1337)
    assert _weights(MLP(2, [16, 16, 1])) == first
    # the first weight is the first draw of the global generator, scaled to U(−1/√2, 1/√2)
    random.seed(1337)
    assert first[0] == random.uniform(-1 / 2**0.5, 1 / 2**0.5)


def test_a_module_rng_overrides_the_global_generator():
    random.seed(0)
    a = _weights(MLP(2, [3, 1], rng=random.Random(5)))
    state = random.getstate()
    random.seed(1)
    b = _weights(MLP(2, [3, 1], rng=random.Random(5)))
    assert a == b
    random.seed(0)
    MLP(2, [3, 1], rng=random.Random(5))
    assert random.getstate() == state  # the module's own rng drew every number


# --- copies ---


def test_deepcopy_and_pickle_of_modules():
    model = Sequential(Conv1d(1, 2, 2, rng=random.Random(0)), ReLU(), Flatten(), Layer(6, 2, rng=random.Random(1)))
    x = [[0.5, -1.0, 2.0, 0.3]]
    expected = _outputs(model(x))
    for copy_ in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert _outputs(copy_(x)) == expected
        assert [n for n, _ in copy_.named_parameters()] == [n for n, _ in model.named_parameters()]
        copy_.parameters()[0].data += 1.0
        assert model.parameters()[0].data != copy_.parameters()[0].data
    shared = Layer(2, 2)
    tied = copy.deepcopy(Sequential(shared, shared))
    assert tied.layers[0] is tied.layers[1]


# --- state dicts ---


def test_state_dict_names_and_order_follow_named_parameters():
    model = MLP(2, [3, 1], rng=random.Random(0))
    state = model.state_dict()
    assert list(state) == [n for n, _ in model.named_parameters()]
    assert list(state.values()) == _weights(model)
    assert all(type(v) is float for v in state.values())


def test_load_state_dict_into_a_fresh_model():
    model, other = MLP(2, [3, 1], rng=random.Random(0)), MLP(2, [3, 1], rng=random.Random(1))
    assert other.load_state_dict(model.state_dict()) == ([], [])
    assert _weights(other) == _weights(model)
    assert other([0.3, -0.4]).data == model([0.3, -0.4]).data


@pytest.mark.parametrize("change,error,match", [
    (lambda s: s.pop("layers.1.neurons.0.b"), ValueError, "missing keys 'layers.1.neurons.0.b'"),
    (lambda s: s.update(extra=1.0), ValueError, "unexpected keys 'extra'"),
    (lambda s: s.update({"layers.0.neurons.0.w.0": "0.5"}), TypeError, "'layers.0.neurons.0.w.0'.*str"),
    (lambda s: s.update({"layers.1.neurons.0.b": True}), TypeError, "'layers.1.neurons.0.b'.*bool"),
    (lambda s: s.update({"layers.1.neurons.0.b": None}), TypeError, "'layers.1.neurons.0.b'.*NoneType"),
])
def test_load_state_dict_errors_change_nothing(change, error, match):
    model = MLP(2, [3, 1], rng=random.Random(0))
    state = {name: value + 1.0 for name, value in model.state_dict().items()}
    change(state)
    before = _weights(model)
    with pytest.raises(error, match=match):
        model.load_state_dict(state)
    assert _weights(model) == before


def test_load_state_dict_from_another_architecture_names_the_keys():
    model = MLP(2, [3, 1], rng=random.Random(0))
    before = _weights(model)
    with pytest.raises(ValueError, match=r"missing keys .*layers\.0\.neurons\.0\.w\.1.*unexpected keys "):
        model.load_state_dict(MLP(1, [4, 2]).state_dict())
    with pytest.raises(TypeError, match="dict"):
        model.load_state_dict([("layers.0.neurons.0.w.0", 1.0)])
    assert _weights(model) == before


def test_load_state_dict_not_strict_loads_the_shared_names():
    model = MLP(2, [3, 1], rng=random.Random(0))
    state = {"layers.0.neurons.0.w.0": 0.25, "layers.0.neurons.0.b": np.float64(-0.5), "other": 1.0}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert unexpected == ["other"] and len(missing) == len(model.parameters()) - 2
    assert "layers.0.neurons.0.w.1" in missing
    assert model.layers[0].neurons[0].w[0].data == 0.25 and model.layers[0].neurons[0].b.data == -0.5
    assert type(model.layers[0].neurons[0].b.data) is float


class _Node(Module):
    def __init__(self, n_params):
        self.own = [Value(float(i)) for i in range(n_params)]
        self.links = []


def _resolve(root, dotted):
    item = root
    for part in dotted.split("."):
        item = item[int(part)] if isinstance(item, list) else getattr(item, part)
    return item


@given(st.lists(st.integers(0, 3), min_size=1, max_size=6),
       st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), max_size=12))
def test_module_graphs_with_sharing_and_cycles(sizes, links):
    """Any graph of modules (shared children, cycles, self-links): each reachable parameter once, by a path that
    leads to it."""
    nodes = [_Node(n) for n in sizes]
    for a, b in links:
        nodes[a % len(nodes)].links.append(nodes[b % len(nodes)])
    reachable, stack, seen = [], [nodes[0]], set()
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            reachable.extend(node.own)
            stack.extend(node.links)
    named = list(nodes[0].named_parameters())
    assert len({id(p) for _, p in named}) == len(named)
    assert {id(p) for _, p in named} == {id(p) for p in reachable}
    assert all(_resolve(nodes[0], name) is p for name, p in named)
    state = {name: float(i) + 0.5 for i, (name, _) in enumerate(named)}
    nodes[0].load_state_dict(state)
    assert nodes[0].state_dict() == state


@pytest.mark.parametrize("kind", ["values", "floats", "mixed", "ints"])
def test_a_layer_builds_the_same_nodes_as_its_neurons_do_one_by_one(kind):
    """Layer checks its inputs' kinds once and builds each neuron's dot directly: the same data, children,
    local derivatives and operands as Neuron(x), bit for bit."""
    mg.manual_seed(3)
    layer = Layer(3, 4, activation="tanh")
    numbers = [0.25, -1.5, 2.0]
    x = {"values": [Value(v) for v in numbers], "floats": numbers, "ints": [1, -2, 3],
         "mixed": [Value(0.25), -1.5, Value(2.0)]}[kind]
    for together, alone in zip(layer(x), [n(x) for n in layer.neurons]):
        z, z_alone = together._prev[0], alone._prev[0]
        assert together.data == alone.data and z.data == z_alone.data
        assert z._prev == z_alone._prev and z.local_grads == z_alone.local_grads
        assert z.operands == z_alone.operands and z.op == z_alone.op == "dot"
