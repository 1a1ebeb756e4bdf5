"""Optimisers with PyTorch's update rules, stepping each parameter's `.data` by its `.grad`.

A step is all or nothing: every parameter's data and grad are read and checked first, the new values are
computed aside, and only then is anything written. Non-finite gradients (NaN, ±inf) are real numbers and
propagate into the parameters, as in torch.optim, which does not check for them either.

`state_dict()` / `load_state_dict()` hold the hyper-parameters and buffers as plain numbers and lists, so
`micrograd_nn.save` can write them as JSON and training resumes bit for bit.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping

from .engine import Value, big_int_text

__all__ = ["Optimizer", "SGD", "Adam"]


def _is_real(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _float(value, name: str, who: str) -> float:
    """A real number as a float, or an error naming it (an int too large for a float included)."""
    if not _is_real(value):
        raise TypeError(f"{who}: {name} must be a real number, got {type(value).__name__}: {value!r}")
    try:
        return float(value)
    except OverflowError:  # an int beyond 1.8e308
        raise OverflowError(f"{who}: {name} is too large for a float (at most about 1.8e308), got "
                            f"{big_int_text(value)}") from None


def _hyper(value, name: str, who: str) -> float:
    """A hyper-parameter as a float: a finite real number >= 0, or an error naming it."""
    value = _float(value, name, who)
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"{who}: {name} must be a finite number >= 0, got {value}")
    return value


def _beta(value, name: str, who: str) -> float:
    value = _hyper(value, name, who)
    if not value < 1.0:
        raise ValueError(f"{who}: {name} must be in [0, 1), got {value}")
    return value


def _numbers(values, name: str, count: int, who: str, allow_negative: bool = True) -> list[float]:
    """A saved buffer: a list of `count` real numbers, as floats (allow_negative=False: none below 0, as a sum of
    squares; NaN and +inf stay allowed, since non-finite gradients propagate into the buffers as in torch)."""
    if not isinstance(values, (list, tuple)) or len(values) != count:
        size = len(values) if isinstance(values, (list, tuple)) else type(values).__name__
        raise ValueError(f"{who}.load_state_dict: {name!r} must be a list of {count} numbers (one per parameter), "
                         f"got {size}")
    floats = [_float(v, f"{name}[{i}]", f"{who}.load_state_dict") for i, v in enumerate(values)]
    if not allow_negative:
        for i, v in enumerate(floats):
            if v < 0.0:
                raise ValueError(f"{who}.load_state_dict: {name}[{i}] must be >= 0 (a mean of squared gradients), "
                                 f"got {v}")
    return floats


def lerp(start: float, end: float, weight: float) -> float:
    """start + weight·(end − start), evaluated as torch.lerp does it.

    For |weight| < 0.5 that formula; otherwise end − (end − start)·(1 − weight), which is exactly `end` at
    weight 1. Adam's first moment is lerp(m, g, 1 − β₁), so the second form is used whenever β₁ ≤ 0.5.
    """
    if abs(weight) < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1.0 - weight)


class Optimizer:
    """Holds a list of parameters; `zero_grad()` clears their gradients."""

    def __init__(self, params: Iterable[Value], lr: float):
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Value):
                raise TypeError(f"parameter {i} must be a Value, got {type(p).__name__}")
        self.lr = _hyper(lr, "lr (the learning rate)", type(self).__name__)

    def zero_grad(self) -> None:
        """Set every parameter's grad to 0.0."""
        for p in self.params:
            p.grad = 0.0

    def _data_and_grads(self) -> tuple[list[float], list[float]]:
        """Every parameter's (data, grad) as floats; raises, naming the parameter, before anything changes."""
        data, grads = [], []
        for i, p in enumerate(self.params):
            for what, value, out in (("data", p.data, data), ("grad", p.grad, grads)):
                if not _is_real(value):
                    raise TypeError(f"{type(self).__name__}.step: parameter {i} ({p.label or 'unlabelled'}) has a "
                                    f"{what} that is not a real number: {type(value).__name__} {value!r}")
                out.append(float(value))
        return data, grads

    def _check_state(self, state, kind: str) -> None:
        if not isinstance(state, Mapping):
            raise TypeError(f"{kind}.load_state_dict expected a dict, got {type(state).__name__}")
        if state.get("type") != kind:
            raise ValueError(f"{kind}.load_state_dict: the state is for {state.get('type')!r}, not {kind!r}")
        expected = set(self.state_dict())
        if set(state) != expected:
            raise ValueError(f"{kind}.load_state_dict: missing keys {sorted(expected - set(state))}, "
                             f"unexpected keys {sorted(set(state) - expected)}")


class SGD(Optimizer):
    """Gradient descent: g = ∇ + λ·w; with momentum μ, v ← μ·v + g (v = g on the first step); w ← w − η·v."""

    def __init__(self, params: Iterable[Value], lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        super().__init__(params, lr)
        self.momentum = _hyper(momentum, "momentum", "SGD")
        self.weight_decay = _hyper(weight_decay, "weight_decay", "SGD")
        self.velocity: list[float] | None = None

    def step(self) -> None:
        """Update every parameter once."""
        data, grads = self._data_and_grads()
        if self.weight_decay:
            grads = [g + self.weight_decay * w for w, g in zip(data, grads)]
        velocity = self.velocity
        if self.momentum:
            velocity = grads if velocity is None else [self.momentum * v + g for v, g in zip(velocity, grads)]
            grads = velocity
        self.velocity = velocity
        for p, w, g in zip(self.params, data, grads):
            p.data = w - self.lr * g

    def state_dict(self) -> dict:
        """Hyper-parameters and the momentum buffer (None before the first step or without momentum)."""
        return {"type": "SGD", "lr": self.lr, "momentum": self.momentum, "weight_decay": self.weight_decay,
                "velocity": None if self.velocity is None else list(self.velocity)}

    def load_state_dict(self, state: Mapping) -> None:
        """Restore what `state_dict()` returned; checks everything before changing anything."""
        self._check_state(state, "SGD")
        lr = _hyper(state["lr"], "lr", "SGD")
        momentum = _hyper(state["momentum"], "momentum", "SGD")
        weight_decay = _hyper(state["weight_decay"], "weight_decay", "SGD")
        velocity = state["velocity"]
        if velocity is not None:
            velocity = _numbers(velocity, "velocity", len(self.params), "SGD")
        self.lr, self.momentum, self.weight_decay, self.velocity = lr, momentum, weight_decay, velocity


class Adam(Optimizer):
    """Adam (Kingma & Ba), as torch.optim.Adam computes it:
    m ← lerp(m, g, 1 − β₁), v ← β₂v + (1 − β₂)g², w ← w − (η / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)."""

    def __init__(self, params: Iterable[Value], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"Adam: betas must be a pair (beta1, beta2), got {betas!r}")
        self.beta1, self.beta2 = _beta(betas[0], "betas[0]", "Adam"), _beta(betas[1], "betas[1]", "Adam")
        self.eps = _hyper(eps, "eps", "Adam")
        self.weight_decay = _hyper(weight_decay, "weight_decay", "Adam")
        self.t = 0
        self.m = [0.0] * len(self.params)
        self.v = [0.0] * len(self.params)

    def step(self) -> None:
        """Update every parameter once."""
        data, grads = self._data_and_grads()
        t = self.t + 1
        b1, b2 = self.beta1, self.beta2
        step_size = self.lr / (1.0 - b1**t)
        correction2_sqrt = (1.0 - b2**t) ** 0.5
        new_data, new_m, new_v = [], [], []
        for w, g, m, v in zip(data, grads, self.m, self.v):
            if self.weight_decay:
                g = g + self.weight_decay * w
            m = lerp(m, g, 1.0 - b1)
            v = v * b2 + (1.0 - b2) * g * g
            denom = math.sqrt(v) / correction2_sqrt + self.eps
            new_data.append(w - step_size * (m / denom))
            new_m.append(m)
            new_v.append(v)
        self.t, self.m, self.v = t, new_m, new_v
        for p, w in zip(self.params, new_data):
            p.data = w

    def state_dict(self) -> dict:
        """Hyper-parameters, the step count t and the moment estimates m and v."""
        return {"type": "Adam", "lr": self.lr, "betas": [self.beta1, self.beta2], "eps": self.eps,
                "weight_decay": self.weight_decay, "t": self.t, "m": list(self.m), "v": list(self.v)}

    def load_state_dict(self, state: Mapping) -> None:
        """Restore what `state_dict()` returned; checks everything before changing anything."""
        self._check_state(state, "Adam")
        lr = _hyper(state["lr"], "lr", "Adam")
        betas = state["betas"]
        if not isinstance(betas, (list, tuple)) or len(betas) != 2:
            raise ValueError(f"Adam.load_state_dict: betas must be a pair, got {betas!r}")
        beta1, beta2 = _beta(betas[0], "betas[0]", "Adam"), _beta(betas[1], "betas[1]", "Adam")
        eps = _hyper(state["eps"], "eps", "Adam")
        weight_decay = _hyper(state["weight_decay"], "weight_decay", "Adam")
        t = state["t"]
        if isinstance(t, bool) or not isinstance(t, numbers.Integral) or not 0 <= t <= 2**53:
            shown = big_int_text(t) if isinstance(t, numbers.Integral) else repr(t)
            raise ValueError(f"Adam.load_state_dict: t (the step count) must be an int from 0 to 2**53, got {shown}")
        m = _numbers(state["m"], "m", len(self.params), "Adam")
        v = _numbers(state["v"], "v", len(self.params), "Adam", allow_negative=False)
        self.lr, self.beta1, self.beta2, self.eps, self.weight_decay = lr, beta1, beta2, eps, weight_decay
        self.t, self.m, self.v = int(t), m, v
