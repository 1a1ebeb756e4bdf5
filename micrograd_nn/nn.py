"""Neural network modules built from Values: Neuron, Layer, MLP, Conv1d/2d, MaxPool, Flatten.

Shapes are nested Python lists: a vector is `x[i]`, a 1-D signal `x[c][t]`, an image
`x[c][i][j]`. Every pre-activation is one `dot` node, z = Σᵢ wᵢxᵢ + b, as the course
notes write it.

Initialisation follows PyTorch: every weight and bias is drawn from
U(−1/√fan_in, 1/√fan_in), where fan_in is the number of inputs one output sees
(nin for a Neuron, in_channels·kernel area for a convolution). Draws come from
Python's global `random` module, as in micrograd, so `random.seed(n)` or
`manual_seed(n)` before building a model makes it reproducible; every module also
takes an `rng` (a `random.Random`) of its own.

Inputs may be nested lists, tuples or numpy arrays of numbers or Values.
"""

from __future__ import annotations

import html
import math
import numbers
import random
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple

from .engine import Value, _as_float, _layer_dots, dot, maximum

__all__ = [
    "manual_seed",
    "IncompatibleKeys",
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

ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")


def manual_seed(seed: int) -> None:
    """Seed the default generator of every module's initial parameters: Python's global `random`.

    The same as `random.seed(seed)`, as `torch.manual_seed` seeds torch's global generator.
    """
    random.seed(seed)


def _uniform_values(count: int, fan_in: int, rng: random.Random | None) -> list[Value]:
    source = random if rng is None else rng
    bound = 1.0 / math.sqrt(fan_in)
    return [Value(source.uniform(-bound, bound)) for _ in range(count)]


def _size(value, name: str, who: str, minimum: int = 1) -> int:
    """A constructor's size argument as an int, or an error naming the argument (a bool is not a size)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{who}: {name} must be an int, got {type(value).__name__}: {value!r}")
    if value < minimum:
        raise ValueError(f"{who}: {name} must be at least {minimum}, got {value}")
    return int(value)


def _array_types() -> tuple:
    """(numpy.ndarray,) once numpy has been imported, else (): modules accept arrays without importing numpy
    themselves, so they work where numpy is not installed (an array exists only if its caller imported numpy)."""
    numpy = sys.modules.get("numpy")
    return (numpy.ndarray,) if numpy is not None else ()


def _is_array(x) -> bool:
    return isinstance(x, _array_types())


def _as_lists(x):
    """numpy arrays, at any level of the nesting, as lists: every module then reads one kind of input."""
    arrays = _array_types()
    if isinstance(x, arrays):
        return x.tolist()
    if isinstance(x, (list, tuple)) and any(isinstance(item, (list, tuple, *arrays)) for item in x):
        return [_as_lists(item) for item in x]
    return x


def _vector(x, expected: int, who: str) -> Sequence:
    """x as a sequence of `expected` inputs (a list, tuple or 1-D numpy array), or a clear error.
    A lone Value is one input: what a one-output Layer returns can feed the next Layer."""
    if type(x) is list and len(x) == expected:  # the training hot path: skip the slower abstract-class checks
        return x
    if isinstance(x, Value):
        x = [x]
    if _is_array(x):
        if x.ndim != 1:
            raise ValueError(f"{who} expected a 1-D array of {expected} inputs, received shape {x.shape}")
        x = x.tolist()
    elif not isinstance(x, Sequence) or isinstance(x, (str, bytes)):
        raise TypeError(f"{who} expected a sequence of {expected} inputs, received {type(x).__name__}")
    if len(x) != expected:
        raise ValueError(f"{who} expected {expected} inputs, received {len(x)}")
    return x


def _some(names: list) -> str:
    """Names for an error message: all of a few, the first ten of many."""
    shown = ", ".join(repr(n) for n in names[:10])
    return shown if len(names) <= 10 else f"{shown}, … ({len(names)} in all)"


def _is_real(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


_JUST_VALUES, _JUST_FLOATS = {Value}, {float}


def _activate(z: Value, activation: str) -> Value:
    return z if activation == "linear" else getattr(z, activation)()


class IncompatibleKeys(NamedTuple):
    """What `load_state_dict(state, strict=False)` left out, as PyTorch reports it."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class: a module owns parameters (Values) and sub-modules as attributes.

    A subclass defines `__call__`, or `forward` as in PyTorch.
    """

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define __call__ or forward")

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        """(dotted name, parameter) pairs in definition order, e.g. `layers.0.neurons.3.w.1`.

        A parameter or sub-module reached twice (shared weights, a child that refers back to its parent)
        is listed at its first occurrence only, as in PyTorch.
        """
        stack: list[tuple[str, object]] = [("", self)]
        seen: set[int] = set()  # ids: Values hash by identity, but lists do not hash at all
        while stack:
            name, item = stack.pop()
            if id(item) in seen:
                continue
            if isinstance(item, (Value, Module, list, tuple)):
                seen.add(id(item))
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

    def state_dict(self) -> dict[str, float]:
        """{dotted name: parameter value}, in the order of `named_parameters()`."""
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, float], strict: bool = True) -> IncompatibleKeys:
        """Set each parameter named in `state` to its value.

        strict=True: the names must be exactly those of `named_parameters()`. strict=False loads the names
        both share. Returns the (missing_keys, unexpected_keys) lists. Everything is checked before any
        parameter changes, so on an error the module is as it was.
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"load_state_dict expected a dict of names to numbers, got {type(state).__name__}")
        params = dict(self.named_parameters())
        missing = [name for name in params if name not in state]
        unexpected = [key for key in state if key not in params]
        if strict and (missing or unexpected):
            problems = [f"missing keys {_some(missing)}" if missing else "",
                        f"unexpected keys {_some(unexpected)}" if unexpected else ""]
            raise ValueError(f"{type(self).__name__}.load_state_dict: "
                             + "; ".join(p for p in problems if p)
                             + " (does the state come from a model of the same architecture?)")
        values = {}
        for name in params:
            if name in state:
                value = state[name]
                if not _is_real(value):
                    raise TypeError(f"load_state_dict: {name!r} must be a real number, got "
                                    f"{type(value).__name__}: {value!r}")
                values[name] = _as_float(value, f"load_state_dict: {name!r}")  # an int beyond 1.8e308 is named
        for name, value in values.items():
            params[name].data = value
        return IncompatibleKeys(missing, unexpected)

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
        nin = _size(nin, "nin", "Neuron")
        self.nin = nin
        self.activation = activation
        params = _uniform_values(nin + 1, nin, rng)
        self.w = params[:nin]
        self.b = params[nin]
        self._label_parameters()

    def __call__(self, x: Sequence) -> Value:
        x = _vector(x, self.nin, "Neuron")
        return _activate(dot(self.w, x, bias=self.b), self.activation)

    def __repr__(self) -> str:
        return f"Neuron({self.nin}, activation={self.activation!r})"


class Layer(Module):
    """`nout` independent neurons over the same inputs; one output returns a Value, as in micrograd."""

    def __init__(self, nin: int, nout: int, **neuron_kwargs):
        self.nin, self.nout = _size(nin, "nin", "Layer"), _size(nout, "nout", "Layer")
        self.neurons = [Neuron(nin, **neuron_kwargs) for _ in range(nout)]
        self._label_parameters()

    def __call__(self, x: Sequence):
        x = _vector(x, self.nin, "Layer")
        kinds = set(map(type, x))  # checked once for all the layer's neurons, not once per term of each dot
        if kinds == _JUST_VALUES or kinds == _JUST_FLOATS:
            neurons = self.neurons
            zs = _layer_dots(neurons, x, kinds == _JUST_VALUES)
            # relu, the common case, called directly: through _activate's call and getattr it costs a third more
            out = [z.relu() if n.activation == "relu" else _activate(z, n.activation) for z, n in zip(zs, neurons)]
        else:
            out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def __repr__(self) -> str:
        return f"Layer({self.nin}, {self.nout}, activation={self.neurons[0].activation!r})"


class MLP(Module):
    """Layers nin → nouts[0] → … → nouts[-1]; `activation` on every layer but the last, which is linear."""

    def __init__(self, nin: int, nouts: Sequence[int], activation: str = "relu", *, rng: random.Random | None = None):
        if _is_array(nouts):
            nouts = nouts.tolist()
        if not isinstance(nouts, Sequence) or isinstance(nouts, str):
            raise TypeError(f"MLP: nouts must be a list of layer sizes, got {type(nouts).__name__}: {nouts!r}")
        if not nouts:
            raise ValueError("MLP: nouts must list at least one layer size, got []")
        sizes = [_size(nin, "nin", "MLP")] + [_size(n, f"nouts[{i}]", "MLP") for i, n in enumerate(nouts)]
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
        who = type(self).__name__
        in_channels, out_channels = _size(in_channels, "in_channels", who), _size(out_channels, "out_channels", who)
        kernel_size, stride = _size(kernel_size, "kernel_size", who), _size(stride, "stride", who)
        padding = _size(padding, "padding", who, minimum=0)
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
        x = _as_lists(x)
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
        x = _as_lists(x)
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
        who = type(self).__name__
        self.kernel_size = _size(kernel_size, "kernel_size", who)
        self.stride = self.kernel_size if stride is None else _size(stride, "stride", who)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kernel_size={self.kernel_size}, stride={self.stride})"


class MaxPool1d(_MaxPool):
    """y[c][t] = max_k x[c][t·stride + k]; the gradient goes to the (first) maximum."""

    def __call__(self, x):
        x = _as_lists(x)
        (length,) = _check_grid(x, None, 1, "MaxPool1d")
        k, s = self.kernel_size, self.stride
        out_len = _output_size(length, k, s, 0, "MaxPool1d")
        return [[maximum(channel[t * s : t * s + k]) for t in range(out_len)] for channel in x]


class MaxPool2d(_MaxPool):
    """y[c][i][j] = max over the k×k window at (i·stride, j·stride); gradient to the (first) maximum."""

    def __call__(self, x):
        x = _as_lists(x)
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
        flat, stack, arrays = [], [x], _array_types()
        while stack:
            item = stack.pop()
            if isinstance(item, arrays):
                item = item.tolist()
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
        if _is_array(x):
            x = x.tolist()
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
