"""Check backpropagated gradients against central differences."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from .derivatives import grad, hessian
from .engine import Value, enable_grad

__all__ = ["gradcheck", "GradcheckError", "numerical_gradient", "numerical_hessian"]


class GradcheckError(AssertionError):
    """Backprop and central differences disagree."""


@enable_grad()  # fn may differentiate inside (a gradient checked as a function): it needs its graph
def numerical_gradient(fn: Callable[[list[Value]], Value], inputs: Sequence[float], eps: float = 1e-6) -> list[float]:
    """∂f/∂xᵢ ≈ (f(x + ε·eᵢ) − f(x − ε·eᵢ)) / 2ε for each input i."""
    point = [float(x) for x in inputs]
    grads = []
    for i, x in enumerate(point):
        point[i] = x + eps
        up = fn([Value(p) for p in point]).data
        point[i] = x - eps
        down = fn([Value(p) for p in point]).data
        point[i] = x
        grads.append((up - down) / (2.0 * eps))
    return grads


def numerical_hessian(
    fn: Callable[[list[Value]], Value], inputs: Sequence[float], eps: float = 1e-6
) -> list[list[float]]:
    """∂²f/∂xᵢ∂xⱼ ≈ (gᵢ(x + ε·eⱼ) − gᵢ(x − ε·eⱼ)) / 2ε, central differences of the backprop gradient g."""
    point = [float(x) for x in inputs]
    columns = []
    for j, x in enumerate(point):
        point[j] = x + eps
        up = _gradient(fn, point)
        point[j] = x - eps
        down = _gradient(fn, point)
        point[j] = x
        columns.append([(u - d) / (2.0 * eps) for u, d in zip(up, down)])
    return [[columns[j][i] for j in range(len(point))] for i in range(len(point))]


@enable_grad()  # the gradient needs fn's graph, also when the caller is inside no_grad()
def _gradient(fn: Callable[[list[Value]], Value], point: Sequence[float]) -> list[float]:
    leaves = [Value(x) for x in point]
    return [g.data for g in grad(_checked_call(fn, leaves), leaves)]


def _checked_call(fn: Callable[[list[Value]], Value], leaves: list[Value]) -> Value:
    out = fn(leaves)
    if not isinstance(out, Value):
        raise TypeError(f"gradcheck: fn must return a Value, got {type(out).__name__}")
    return out


def _excess(analytic: float, numeric: float, atol: float, rtol: float) -> float:
    """How far |analytic − numeric| is over atol + rtol·|numeric| (inf when either is NaN)."""
    over = abs(analytic - numeric) - (atol + rtol * abs(numeric))
    return math.inf if math.isnan(over) else over


@enable_grad()  # backprop needs fn's graph: inside no_grad() it would find none and report zeros
def gradcheck(
    fn: Callable[[list[Value]], Value],
    inputs: Sequence[float],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    order: int = 1,
) -> bool:
    """Compare backprop with central differences for `fn(list of Values) -> Value`.

    Input i passes when |analytic − numeric| ≤ atol + rtol·|numeric|. Returns True,
    or raises GradcheckError naming the worst input's index, both gradients and
    their difference.

    order=2 also checks every second derivative ∂²f/∂xᵢ∂xⱼ, taken by differentiating the
    gradient again (`grad(..., create_graph=True)`), against central differences of the
    gradient, with the same tolerances; a failure names the worst pair (i, j).
    fn's graph is recorded also when gradcheck is called inside `no_grad()`.
    """
    if order not in (1, 2):
        raise ValueError(f"gradcheck: order must be 1 or 2, got {order!r}")
    leaves = [Value(x) for x in inputs]
    out = _checked_call(fn, leaves)
    out.backward()
    analytic = [leaf.grad for leaf in leaves]
    numeric = numerical_gradient(fn, inputs, eps)
    if not leaves:
        return True
    worst = max(range(len(leaves)), key=lambda i: _excess(analytic[i], numeric[i], atol, rtol))
    if _excess(analytic[worst], numeric[worst], atol, rtol) > 0.0:
        raise GradcheckError(
            f"gradcheck failed at input {worst} (x={float(inputs[worst])!r}): "
            f"backprop gradient {analytic[worst]!r}, central difference {numeric[worst]!r}, "
            f"difference {analytic[worst] - numeric[worst]!r} "
            f"(allowed {atol + rtol * abs(numeric[worst]):.3g})"
        )
    if order == 2:
        _check_second_derivatives(fn, inputs, eps, atol, rtol)
    return True


def _check_second_derivatives(fn, inputs: Sequence[float], eps: float, atol: float, rtol: float) -> None:
    leaves = [Value(x) for x in inputs]
    analytic = [[h.data for h in row] for row in hessian(_checked_call(fn, leaves), leaves)]
    numeric = numerical_hessian(fn, inputs, eps)
    pairs = [(i, j) for i in range(len(leaves)) for j in range(len(leaves))]
    i, j = max(pairs, key=lambda p: _excess(analytic[p[0]][p[1]], numeric[p[0]][p[1]], atol, rtol))
    if _excess(analytic[i][j], numeric[i][j], atol, rtol) > 0.0:
        raise GradcheckError(
            f"gradcheck failed at second derivative ({i}, {j}) (d²f/dx{i}dx{j}): "
            f"from the gradient's graph {analytic[i][j]!r}, central difference of the gradient {numeric[i][j]!r}, "
            f"difference {analytic[i][j] - numeric[i][j]!r} (allowed {atol + rtol * abs(numeric[i][j]):.3g})"
        )
