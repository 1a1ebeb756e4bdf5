"""Copy a micrograd_nn module to PyTorch and back: the same function, its weights copied.

`to_torch(module)` returns a float64 `torch.nn.Module` that takes a batch: `(N, nin)` for a Neuron, Layer or
MLP, `(N, C, L)` for Conv1d/MaxPool1d and `(N, C, H, W)` for Conv2d/MaxPool2d. A Neuron gives `(N, 1)`, a
Layer `(N, nout)` and an MLP `(N, nouts[-1])`, also when that is a single output (where micrograd_nn returns
one Value). Row n of the output is what the micrograd_nn module computes on sample n, and the gradient of a
loss summed over the batch is the sum of the per-sample gradients.

A Neuron, Layer and MLP become `TorchNeuron`, `TorchLayer` and `TorchMLP`: plain `nn.Sequential`s of
`nn.Linear` and activation modules whose class records what they came from, so that `from_torch` gives back
a module of the same kind, with the same parameter names (`from_torch(to_torch(m))` has m's state dict, bit
for bit). A plain `nn.Sequential` of Linear layers with one activation between them and none after the last
becomes an MLP; any other `nn.Sequential` becomes a micrograd_nn Sequential.
"""

from __future__ import annotations

import random

try:
    import torch
    from torch import nn as tnn
except ImportError as error:  # torch is an optional dependency
    raise ImportError(
        "micrograd_nn.torch_bridge needs PyTorch; install it with: pip install 'micrograd_nn[torch]'"
    ) from error

from . import nn
from .engine import Value

__all__ = ["to_torch", "from_torch", "TorchNeuron", "TorchLayer", "TorchMLP"]


class TorchNeuron(tnn.Sequential):
    """`nn.Sequential(nn.Linear(nin, 1)[, activation])` made from a micrograd_nn Neuron."""


class TorchLayer(tnn.Sequential):
    """`nn.Sequential(nn.Linear(nin, nout)[, activation])` made from a micrograd_nn Layer."""


class TorchMLP(tnn.Sequential):
    """`nn.Sequential(Linear, activation, …, Linear)` made from a micrograd_nn MLP."""


_ACTIVATION_MODULES = {"relu": tnn.ReLU, "tanh": tnn.Tanh, "sigmoid": tnn.Sigmoid}
_ACTIVATION_NAMES = {module: name for name, module in _ACTIVATION_MODULES.items()}
_ELEMENTWISE = {nn.ReLU: tnn.ReLU, nn.Tanh: tnn.Tanh, nn.Sigmoid: tnn.Sigmoid}
_SUPPORTED = ("nn.Linear, nn.Sequential, nn.Conv1d, nn.Conv2d, nn.MaxPool1d, nn.MaxPool2d, nn.Flatten, "
              "nn.ReLU, nn.Tanh, nn.Sigmoid")


def _tensor(data: list) -> torch.Tensor:
    return torch.tensor(data, dtype=torch.float64)


def _data(values: list) -> list:
    """Nested lists of Values → the same nesting of floats."""
    return [_data(v) if isinstance(v, list) else v.data for v in values]


def _empty(module_class, *args, **kwargs) -> tnn.Module:
    # skip_init leaves torch's random generator alone: every weight is about to be overwritten anyway.
    return torch.nn.utils.skip_init(module_class, *args, dtype=torch.float64, **kwargs)


def _linear_and_activation(neurons: list[nn.Neuron]) -> list[tnn.Module]:
    activations = {n.activation for n in neurons}
    if len(activations) != 1:
        raise ValueError(f"to_torch: the neurons of one layer must share an activation, got {sorted(activations)}")
    linear = _empty(tnn.Linear, neurons[0].nin, len(neurons))
    with torch.no_grad():
        linear.weight.copy_(_tensor([_data(n.w) for n in neurons]))
        linear.bias.copy_(_tensor([n.b.data for n in neurons]))
    activation = activations.pop()
    return [linear] if activation == "linear" else [linear, _ACTIVATION_MODULES[activation]()]


def _conv_to_torch(conv: nn.Conv1d | nn.Conv2d) -> tnn.Module:
    module_class = tnn.Conv1d if isinstance(conv, nn.Conv1d) else tnn.Conv2d
    module = _empty(module_class, conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                    padding=conv.padding, bias=conv.bias is not None)
    with torch.no_grad():
        module.weight.copy_(_tensor(_data(conv.weight)))
        if conv.bias is not None:
            module.bias.copy_(_tensor(_data(conv.bias)))
    return module


def to_torch(module: nn.Module) -> torch.nn.Module:
    """A float64 torch module computing the same function on a batch, holding copies of the weights."""
    kind = type(module)
    if kind is nn.Neuron:
        return TorchNeuron(*_linear_and_activation([module]))
    if kind is nn.Layer:
        return TorchLayer(*_linear_and_activation(module.neurons))
    if kind is nn.MLP:
        return TorchMLP(*[m for layer in module.layers for m in _linear_and_activation(layer.neurons)])
    if kind in (nn.Conv1d, nn.Conv2d):
        return _conv_to_torch(module)
    if kind in (nn.MaxPool1d, nn.MaxPool2d):
        pool_class = tnn.MaxPool1d if kind is nn.MaxPool1d else tnn.MaxPool2d
        return pool_class(module.kernel_size, stride=module.stride)
    if kind is nn.Flatten:
        return tnn.Flatten()
    if kind in _ELEMENTWISE:
        return _ELEMENTWISE[kind]()
    if kind is nn.Sequential:
        return tnn.Sequential(*[to_torch(layer) for layer in module.layers])
    raise TypeError(f"to_torch cannot convert {kind.__name__}: it converts Neuron, Layer, MLP, Conv1d, Conv2d, "
                    f"MaxPool1d, MaxPool2d, Flatten, ReLU, Tanh, Sigmoid and Sequential")


# --- from torch ---


def _unsupported(module: tnn.Module, why: str) -> TypeError:
    return TypeError(f"from_torch cannot convert {module!r}: {why}")


def _one_int(value, name: str, module: tnn.Module) -> int:
    """torch stores sizes as ints or per-dimension tuples; micrograd_nn's are the same in every dimension."""
    values = value if isinstance(value, tuple) else (value,)
    if len(set(values)) != 1 or not isinstance(values[0], int):
        raise _unsupported(module, f"{name}={value!r} differs between dimensions (micrograd_nn uses one size)")
    return values[0]


def _set_linear(neurons: list[nn.Neuron], linear: tnn.Linear) -> None:
    weight, bias = linear.weight.detach().double().tolist(), linear.bias.detach().double().tolist()
    for neuron, row, b in zip(neurons, weight, bias):
        for w, x in zip(neuron.w, row):
            w.data = x
        neuron.b.data = b


def _set_values(values: list[Value], tensor: torch.Tensor) -> None:
    for v, x in zip(values, tensor.detach().double().flatten().tolist()):
        v.data = x


def _linear_stack(modules: list[tnn.Module]) -> list[tuple[tnn.Linear, str]] | None:
    """[(Linear, activation name)] if `modules` is Linear layers each followed by at most one activation."""
    stack, i = [], 0
    while i < len(modules):
        if type(modules[i]) is not tnn.Linear:
            return None
        following = type(modules[i + 1]) if i + 1 < len(modules) else None
        activation = _ACTIVATION_NAMES.get(following, "linear")
        stack.append((modules[i], activation))
        i += 1 if activation == "linear" else 2
    return stack or None


def _check_linear(linear: tnn.Linear, nin: int | None = None) -> None:
    if linear.bias is None:
        raise _unsupported(linear, "micrograd_nn neurons always have a bias (use bias=True)")
    if nin is not None and linear.in_features != nin:
        raise ValueError(f"from_torch: {linear!r} takes {linear.in_features} inputs but the layer before it "
                         f"gives {nin}")


def _mlp(stack: list[tuple[tnn.Linear, str]]) -> nn.MLP:
    nin, nin_next = stack[0][0].in_features, None
    for linear, _ in stack:
        _check_linear(linear, nin_next)
        nin_next = linear.out_features
    hidden = stack[0][1] if len(stack) > 1 else "relu"
    model = nn.MLP(nin, [linear.out_features for linear, _ in stack], activation=hidden, rng=random.Random(0))
    for layer, (linear, activation) in zip(model.layers, stack):
        for neuron in layer.neurons:
            neuron.activation = activation
        _set_linear(layer.neurons, linear)
    return model


def _single_layer(module: tnn.Sequential, kind: str) -> tuple[tnn.Linear, str]:
    stack = _linear_stack(list(module))
    if stack is None or len(stack) != 1:
        raise _unsupported(module, f"a {kind} holds one Linear and at most one activation")
    _check_linear(stack[0][0])
    return stack[0]


def _conv_from_torch(module: tnn.Module) -> nn.Module:
    if module.groups != 1 or set(module.dilation) != {1} or module.padding_mode != "zeros":
        raise _unsupported(module, "only groups=1, dilation=1 and zero padding are supported")
    if isinstance(module.padding, str):
        if module.padding != "valid":
            raise _unsupported(module, f"padding={module.padding!r}: give the padding as a number")
        padding = 0
    else:
        padding = _one_int(module.padding, "padding", module)
    conv_class = nn.Conv1d if type(module) is tnn.Conv1d else nn.Conv2d
    conv = conv_class(module.in_channels, module.out_channels, _one_int(module.kernel_size, "kernel_size", module),
                      stride=_one_int(module.stride, "stride", module), padding=padding,
                      bias=module.bias is not None, rng=random.Random(0))
    _set_values(nn.Flatten()(conv.weight), module.weight)
    if module.bias is not None:
        _set_values(conv.bias, module.bias)
    return conv


def _pool_from_torch(module: tnn.Module) -> nn.Module:
    if _one_int(module.padding, "padding", module) != 0 or _one_int(module.dilation, "dilation", module) != 1 \
            or module.ceil_mode or module.return_indices:
        raise _unsupported(module, "only padding=0, dilation=1, ceil_mode=False, return_indices=False")
    pool_class = nn.MaxPool1d if type(module) is tnn.MaxPool1d else nn.MaxPool2d
    return pool_class(_one_int(module.kernel_size, "kernel_size", module),
                      stride=_one_int(module.stride, "stride", module))


def from_torch(module: torch.nn.Module) -> nn.Module:
    """A micrograd_nn module computing the same function on one sample, with the weights copied.

    nn.Linear → Layer (linear); TorchNeuron/TorchLayer/TorchMLP → Neuron/Layer/MLP; an nn.Sequential of
    Linear layers → MLP; any other nn.Sequential → Sequential. Unsupported layers → TypeError naming them.
    """
    kind = type(module)
    if kind is TorchNeuron:
        linear, activation = _single_layer(module, "TorchNeuron")
        if linear.out_features != 1:
            raise _unsupported(module, "a TorchNeuron's Linear has one output")
        neuron = nn.Neuron(linear.in_features, activation=activation, rng=random.Random(0))
        _set_linear([neuron], linear)
        return neuron
    if kind is TorchLayer:
        linear, activation = _single_layer(module, "TorchLayer")
        layer = nn.Layer(linear.in_features, linear.out_features, activation=activation, rng=random.Random(0))
        _set_linear(layer.neurons, linear)
        return layer
    if kind is TorchMLP or kind is tnn.Sequential:
        stack = _linear_stack(list(module))
        uniform = stack is not None and len({activation for _, activation in stack[:-1]}) <= 1
        if stack is not None and (kind is TorchMLP or (uniform and stack[-1][1] == "linear")):
            return _mlp(stack)
        if kind is TorchMLP:
            raise _unsupported(module, "a TorchMLP holds Linear layers, each followed by at most one activation")
        return nn.Sequential(*[from_torch(child) for child in module])
    if kind is tnn.Linear:
        _check_linear(module)
        layer = nn.Layer(module.in_features, module.out_features, activation="linear", rng=random.Random(0))
        _set_linear(layer.neurons, module)
        return layer
    if kind in (tnn.Conv1d, tnn.Conv2d):
        return _conv_from_torch(module)
    if kind in (tnn.MaxPool1d, tnn.MaxPool2d):
        return _pool_from_torch(module)
    if kind is tnn.Flatten:
        if module.start_dim != 1 or module.end_dim != -1:
            raise _unsupported(module, "only Flatten(start_dim=1, end_dim=-1), which keeps the batch dimension")
        return nn.Flatten()
    if kind in _ACTIVATION_NAMES:
        return {tnn.ReLU: nn.ReLU, tnn.Tanh: nn.Tanh, tnn.Sigmoid: nn.Sigmoid}[kind]()
    raise _unsupported(module, f"{kind.__name__} is not supported (supported: {_SUPPORTED})")
