"""Neural network modules built from Values: Neuron, Layer, MLP, Conv1d/2d, MaxPool, Flatten.

Shapes are nested Python lists: a vector is `x[i]`, a 1-D signal `x[c][t]`, an image
`x[c][i][j]`. Every pre-activation is one `dot` node, z = Σᵢ wᵢxᵢ + b, as the course
notes write it.

Initialisation follows PyTorch: every weight and bias is drawn from
U(−1/√fan_in, 1/√fan_in), where fan_in is the number of inputs one output sees
(nin for a Neuron, in_channels·kernel area for a convolution). Draws come from the
library's own generator: `manual_seed(n)` makes them reproducible, and every
module also takes an `rng` (a `random.Random`) of its own.
"""

from __future__ import annotations

import html
import math
import random
from collections.abc import Iterator, Sequence

from .engine import Value, dot, maximum

__all__ = [
    "manual_seed",
    "Module",
    "Neuron",
    "Layer",
    "MLP",
    "Conv1d",
    "Conv2d",
    "MaxPool1d",
    "MaxPool2d",
    "Flatten",
    "ReLU",
    "Tanh",
    "Sigmoid",
    "Sequential",
]

_generator = random.Random()
ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")


def manual_seed(seed: int) -> None:
    """Seed the generator that initialises every module's parameters."""
    _generator.seed(seed)


def _uniform_values(count: int, fan_in: int, rng: random.Random | None) -> list[Value]:
    rng = rng or _generator
    bound = 1.0 / math.sqrt(fan_in)
    return [Value(rng.uniform(-bound, bound)) for _ in range(count)]


def _check_inputs(x, expected: int, who: str) -> None:
    if not hasattr(x, "__len__"):
        raise TypeError(f"{who} expected a sequence of {expected} inputs, received {type(x).__name__}")
    if len(x) != expected:
        raise ValueError(f"{who} expected {expected} inputs, received {len(x)}")


def _activate(z: Value, activation: str) -> Value:
    return z if activation == "linear" else getattr(z, activation)()


class Module:
    """Base class: a module owns parameters (Values) and sub-modules as attributes.

    A subclass defines `__call__`, or `forward` as in PyTorch.
    """

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define __call__ or forward")

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        """(dotted name, parameter) pairs in definition order, e.g. `layers.0.neurons.3.w.1`."""
        stack: list[tuple[str, object]] = [("", self)]
        while stack:
            name, item = stack.pop()
            if isinstance(item, Value):
                yield name, item
                continue
            if isinstance(item, Module):
                children = [(key, value) for key, value in vars(item).items() if not key.startswith("_")]
            elif isinstance(item, (list, tuple)):
                children = [(str(i), value) for i, value in enumerate(item)]
            else:
                continue
            prefix = f"{name}." if name else ""
            stack.extend((prefix + key, value) for key, value in reversed(children))

    def parameters(self) -> list[Value]:
        """Every parameter, in the order of `named_parameters()`."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        """Set every parameter's grad to 0.0."""
        for p in self.parameters():
            p.grad = 0.0

    def summary(self) -> str:
        """The module's structure and its parameter count."""
        return f"{self!r}\n{len(self.parameters())} parameters"

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.summary())}</pre>"

    def _label_parameters(self) -> None:
        # Called at the end of each constructor; an enclosing module relabels with longer names.
        for name, p in self.named_parameters():
            p.label = name


class Neuron(Module):
    """a = f(Σᵢ wᵢxᵢ + b) with f one of relu, tanh, sigmoid, linear.

    `nonlin=True/False` (micrograd's keyword) means relu/linear; `activation=None` means linear.
    """

    def __init__(self, nin: int, activation: str | None = "relu", *, nonlin: bool | None = None,
                 rng: random.Random | None = None):
        if nonlin is not None:
            activation = "relu" if nonlin else "linear"
        activation = activation or "linear"
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        if nin < 1:
            raise ValueError(f"a Neuron needs at least one input, got nin={nin}")
        self.nin = nin
        self.activation = activation
        params = _uniform_values(nin + 1, nin, rng)
        self.w = params[:nin]
        self.b = params[nin]
        self._label_parameters()

    def __call__(self, x: Sequence) -> Value:
        _check_inputs(x, self.nin, "Neuron")
        return _activate(dot(self.w, x, bias=self.b), self.activation)

    def __repr__(self) -> str:
        return f"Neuron({self.nin}, activation={self.activation!r})"


class Layer(Module):
    """`nout` independent neurons over the same inputs; one output returns a Value, as in micrograd."""

    def __init__(self, nin: int, nout: int, **neuron_kwargs):
        self.nin, self.nout = nin, nout
        self.neurons = [Neuron(nin, **neuron_kwargs) for _ in range(nout)]
        self._label_parameters()

    def __call__(self, x: Sequence):
        _check_inputs(x, self.nin, "Layer")
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def __repr__(self) -> str:
        return f"Layer({self.nin}, {self.nout}, activation={self.neurons[0].activation!r})"


class MLP(Module):
    """Layers nin → nouts[0] → … → nouts[-1]; `activation` on every layer but the last, which is linear."""

    def __init__(self, nin: int, nouts: Sequence[int], activation: str = "relu", *, rng: random.Random | None = None):
        sizes = [nin, *nouts]
        last = len(nouts) - 1
        self.layers = [
            Layer(sizes[i], sizes[i + 1], activation=activation if i < last else "linear", rng=rng)
            for i in range(len(nouts))
        ]
        self._label_parameters()

    def __call__(self, x: Sequence):
        for layer in self.layers:
            x = layer(x)
            if isinstance(x, Value):
                x = [x]
        return x[0] if len(x) == 1 else x

    def __repr__(self) -> str:
        sizes = [self.layers[0].nin] + [layer.nout for layer in self.layers]
        return f"MLP({sizes[0]}, {sizes[1:]}, activation={self.layers[0].neurons[0].activation!r})"


# --- convolution and pooling ---


def _check_grid(x, channels: int | None, dims: int, who: str) -> list[int]:
    """Validate nested lists x[c][...] (`dims` spatial levels) and return the spatial shape."""
    layout = "x[c]" + ("[t]" if dims == 1 else "[i][j]")
    shape, probe = [], x
    for _ in range(dims + 1):
        if not isinstance(probe, (list, tuple)) or not probe:
            raise ValueError(f"{who} expected a non-empty input {layout}: lists nested {dims + 1} deep")
        shape.append(len(probe))
        probe = probe[0]
    if channels is not None and shape[0] != channels:
        raise ValueError(f"{who} expected {channels} input channels, received {shape[0]}")
    for channel in x:
        rows = channel if dims == 2 else []
        if len(channel) != shape[1] or any(not isinstance(r, (list, tuple)) or len(r) != shape[2] for r in rows):
            raise ValueError(f"{who} expected every channel to have shape {shape[1:]}")
    return shape[1:]


def _output_size(size: int, kernel: int, stride: int, padding: int, who: str) -> int:
    padded = size + 2 * padding
    if padded < kernel:
        raise ValueError(
            f"{who}: input size {size} (with padding {padding}: {padded}) is smaller than kernel_size {kernel}"
        )
    return (padded - kernel) // stride + 1


class _Conv(Module):
    """Shared set-up of Conv1d and Conv2d: weight[o][c][kernel…] and bias[o]."""

    dims = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True, *, rng: random.Random | None = None):
        if min(in_channels, out_channels, kernel_size, stride) < 1 or padding < 0:
            raise ValueError(f"{type(self).__name__} needs positive channels, kernel_size and stride, "
                             f"and padding >= 0")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        fan_in = in_channels * kernel_size**self.dims

        def kernel():
            if self.dims == 1:
                return _uniform_values(kernel_size, fan_in, rng)
            return [_uniform_values(kernel_size, fan_in, rng) for _ in range(kernel_size)]

        self.weight = [[kernel() for _ in range(in_channels)] for _ in range(out_channels)]
        self.bias = _uniform_values(out_channels, fan_in, rng) if bias else None
        self._label_parameters()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None})")


class Conv1d(_Conv):
    """y[o][t] = b[o] + Σ_c Σ_k w[o][c][k] · x[c][t·stride + k − padding] (cross-correlation, zero padding).

    Padded positions contribute nothing and are left out of the dot node.
    """

    dims = 1

    def __call__(self, x):
        (length,) = _check_grid(x, self.in_channels, 1, "Conv1d")
        k, s, p = self.kernel_size, self.stride, self.padding
        out_len = _output_size(length, k, s, p, "Conv1d")
        y = []
        for o in range(self.out_channels):
            row = []
            for t in range(out_len):
                ws, xs = [], []
                for c in range(self.in_channels):
                    for u in range(k):
                        pos = t * s + u - p
                        if 0 <= pos < length:
                            ws.append(self.weight[o][c][u])
                            xs.append(x[c][pos])
                row.append(dot(ws, xs, bias=self.bias[o] if self.bias else None))
            y.append(row)
        return y


class Conv2d(_Conv):
    """y[o][i][j] = b[o] + Σ_c Σ_u Σ_v w[o][c][u][v] · x[c][i·s + u − p][j·s + v − p]."""

    dims = 2

    def __call__(self, x):
        height, width = _check_grid(x, self.in_channels, 2, "Conv2d")
        k, s, p = self.kernel_size, self.stride, self.padding
        out_h = _output_size(height, k, s, p, "Conv2d")
        out_w = _output_size(width, k, s, p, "Conv2d")
        y = []
        for o in range(self.out_channels):
            plane = []
            for i in range(out_h):
                row = []
                for j in range(out_w):
                    ws, xs = [], []
                    for c in range(self.in_channels):
                        for u in range(k):
                            r = i * s + u - p
                            if not 0 <= r < height:
                                continue
                            for v in range(k):
                                col = j * s + v - p
                                if 0 <= col < width:
                                    ws.append(self.weight[o][c][u][v])
                                    xs.append(x[c][r][col])
                    row.append(dot(ws, xs, bias=self.bias[o] if self.bias else None))
                plane.append(row)
            y.append(plane)
        return y


class _MaxPool(Module):
    def __init__(self, kernel_size: int, stride: int | None = None):
        if kernel_size < 1 or (stride is not None and stride < 1):
            raise ValueError(f"{type(self).__name__} needs kernel_size and stride >= 1")
        self.kernel_size, self.stride = kernel_size, stride or kernel_size

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kernel_size={self.kernel_size}, stride={self.stride})"


class MaxPool1d(_MaxPool):
    """y[c][t] = max_k x[c][t·stride + k]; the gradient goes to the (first) maximum."""

    def __call__(self, x):
        (length,) = _check_grid(x, None, 1, "MaxPool1d")
        k, s = self.kernel_size, self.stride
        out_len = _output_size(length, k, s, 0, "MaxPool1d")
        return [[maximum(channel[t * s : t * s + k]) for t in range(out_len)] for channel in x]


class MaxPool2d(_MaxPool):
    """y[c][i][j] = max over the k×k window at (i·stride, j·stride); gradient to the (first) maximum."""

    def __call__(self, x):
        height, width = _check_grid(x, None, 2, "MaxPool2d")
        k, s = self.kernel_size, self.stride
        out_h = _output_size(height, k, s, 0, "MaxPool2d")
        out_w = _output_size(width, k, s, 0, "MaxPool2d")

        def window(channel, i, j):
            return [v for row in channel[i * s : i * s + k] for v in row[j * s : j * s + k]]

        return [[[maximum(window(c, i, j)) for j in range(out_w)] for i in range(out_h)] for c in x]


class Flatten(Module):
    """Nested lists → one flat list, in row-major order."""

    def __call__(self, x) -> list:
        flat, stack = [], [x]
        while stack:
            item = stack.pop()
            if isinstance(item, (list, tuple)):
                stack.extend(reversed(item))
            else:
                flat.append(item)
        return flat

    def __repr__(self) -> str:
        return "Flatten()"


class _Elementwise(Module):
    """Apply a Value method to every element of a nested list."""

    method = ""

    def __call__(self, x):
        if isinstance(x, (list, tuple)):
            return [self(item) for item in x]
        return getattr(x if isinstance(x, Value) else Value(x), self.method)()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ReLU(_Elementwise):
    method = "relu"


class Tanh(_Elementwise):
    method = "tanh"


class Sigmoid(_Elementwise):
    method = "sigmoid"


class Sequential(Module):
    """Modules applied in order: `Sequential(Conv2d(1, 2, 3), ReLU(), MaxPool2d(2), Flatten(), Layer(8, 2))`."""

    def __init__(self, *layers):
        self.layers = list(layers)
        self._label_parameters()

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def __repr__(self) -> str:
        body = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({body}\n)"
