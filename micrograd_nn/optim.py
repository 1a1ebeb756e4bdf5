"""Optimisers with PyTorch's update rules, stepping each parameter's `.data` by its `.grad`."""

from __future__ import annotations

import math
from collections.abc import Iterable

from .engine import Value

__all__ = ["SGD", "Adam"]


class Optimizer:
    """Holds a list of parameters; `zero_grad()` clears their gradients."""

    def __init__(self, params: Iterable[Value], lr: float):
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Value):
                raise TypeError(f"parameter {i} must be a Value, got {type(p).__name__}")
        if not lr > 0.0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        self.lr = lr

    def zero_grad(self) -> None:
        """Set every parameter's grad to 0.0."""
        for p in self.params:
            p.grad = 0.0


class SGD(Optimizer):
    """Gradient descent: g = ∇ + λ·w; with momentum μ, v ← μ·v + g (v = g on the first step); w ← w − η·v."""

    def __init__(self, params: Iterable[Value], lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        super().__init__(params, lr)
        self.momentum, self.weight_decay = momentum, weight_decay
        self.velocity: list[float] | None = None

    def step(self) -> None:
        """Update every parameter once."""
        grads = [p.grad + self.weight_decay * p.data if self.weight_decay else p.grad for p in self.params]
        if self.momentum:
            if self.velocity is None:
                self.velocity = grads
            else:
                self.velocity = [self.momentum * v + g for v, g in zip(self.velocity, grads)]
            grads = self.velocity
        for p, g in zip(self.params, grads):
            p.data -= self.lr * g


class Adam(Optimizer):
    """Adam (Kingma & Ba), as torch.optim.Adam computes it:
    m ← m + (1 − β₁)(g − m), v ← β₂v + (1 − β₂)g², w ← w − (η / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)."""

    def __init__(self, params: Iterable[Value], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, lr)
        self.beta1, self.beta2 = betas
        if not (0.0 <= self.beta1 < 1.0 and 0.0 <= self.beta2 < 1.0):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        self.eps, self.weight_decay = eps, weight_decay
        self.t = 0
        self.m = [0.0] * len(self.params)
        self.v = [0.0] * len(self.params)

    def step(self) -> None:
        """Update every parameter once."""
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        step_size = self.lr / (1.0 - b1**self.t)
        correction2_sqrt = math.sqrt(1.0 - b2**self.t)
        for i, p in enumerate(self.params):
            g = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
            self.m[i] += (1.0 - b1) * (g - self.m[i])
            self.v[i] = self.v[i] * b2 + (1.0 - b2) * g * g
            denom = math.sqrt(self.v[i]) / correction2_sqrt + self.eps
            p.data -= step_size * (self.m[i] / denom)
