"""Check backpropagated gradients against central differences."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from .engine import Value, no_grad

__all__ = ["gradcheck", "GradcheckError", "numerical_gradient"]


class GradcheckError(AssertionError):
    """Backprop and central differences disagree."""


def numerical_gradient(fn: Callable[[list[Value]], Value], inputs: Sequence[float], eps: float = 1e-6) -> list[float]:
    """∂f/∂xᵢ ≈ (f(x + ε·eᵢ) − f(x − ε·eᵢ)) / 2ε for each input i."""
    point = [float(x) for x in inputs]
    grads = []
    with no_grad():
        for i, x in enumerate(point):
            point[i] = x + eps
            up = fn([Value(p) for p in point]).data
            point[i] = x - eps
            down = fn([Value(p) for p in point]).data
            point[i] = x
            grads.append((up - down) / (2.0 * eps))
    return grads


def gradcheck(
    fn: Callable[[list[Value]], Value],
    inputs: Sequence[float],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> bool:
    """Compare backprop with central differences for `fn(list of Values) -> Value`.

    Input i passes when |analytic − numeric| ≤ atol + rtol·|numeric|. Returns True,
    or raises GradcheckError naming the worst input's index, both gradients and
    their difference.
    """
    leaves = [Value(x) for x in inputs]
    out = fn(leaves)
    if not isinstance(out, Value):
        raise TypeError(f"gradcheck: fn must return a Value, got {type(out).__name__}")
    out.backward()
    analytic = [leaf.grad for leaf in leaves]
    numeric = numerical_gradient(fn, inputs, eps)

    def excess(i: int) -> float:
        over = abs(analytic[i] - numeric[i]) - (atol + rtol * abs(numeric[i]))
        return math.inf if math.isnan(over) else over

    if not leaves:
        return True
    worst = max(range(len(leaves)), key=excess)
    if excess(worst) > 0.0:
        raise GradcheckError(
            f"gradcheck failed at input {worst} (x={float(inputs[worst])!r}): "
            f"backprop gradient {analytic[worst]!r}, central difference {numeric[worst]!r}, "
            f"difference {analytic[worst] - numeric[worst]!r} "
            f"(allowed {atol + rtol * abs(numeric[worst]):.3g})"
        )
    return True
