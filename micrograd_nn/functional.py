"""Softmax, losses and regularisers: pure functions of Values, built from Value nodes only.

Vectors are lists of Values (plain numbers are accepted wherever a Value is).
The fused losses (`cross_entropy`, `binary_cross_entropy`) are single nodes whose
local derivatives are the closed forms the course notes derive, which is also what keeps
them stable for huge logits.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence

from . import engine, ops
from .engine import Value, _apply
from .ops import Op

__all__ = [
    "softmax",
    "log_softmax",
    "cross_entropy",
    "binary_cross_entropy",
    "mse",
    "multiclass_hinge",
    "squared_hinge",
    "l1",
    "l2",
    "elastic_net",
]


def _as_value(x) -> Value:
    return x if isinstance(x, Value) else Value(x)


def _logits(logits: Sequence) -> list[Value]:
    values = [_as_value(z) for z in logits]
    if not values:
        raise ValueError("expected at least one logit, got an empty sequence")
    return values


def _check_target(target, n_classes: int) -> int:
    if isinstance(target, bool) or not isinstance(target, numbers.Integral):
        raise TypeError(f"target must be a class index (int), got {type(target).__name__}: {target!r}")
    if not 0 <= target < n_classes:
        raise ValueError(f"target {target} is out of range for {n_classes} classes "
                         f"(expected 0 <= target < {n_classes})")
    return int(target)


def _softmax(zs: Sequence) -> list:
    """pᵢ = e^(zᵢ − m) / Σⱼ e^(zⱼ − m) on floats or on Values (m = max z, a constant shift)."""
    shift = max(ops._data(z) for z in zs)
    exps = [ops.exp(z - shift) for z in zs]
    total = math.fsum(exps) if all(isinstance(e, float) for e in exps) else engine.sum(exps)
    return [e / total for e in exps]


def softmax(logits: Sequence) -> list[Value]:
    """pᵢ = e^(zᵢ − m) / Σⱼ e^(zⱼ − m) with m = max z, so [1000, 2000, 3000] does not overflow."""
    return _softmax(_logits(logits))


def log_softmax(logits: Sequence) -> list[Value]:
    """log pᵢ = (zᵢ − m) − log Σⱼ e^(zⱼ − m)."""
    zs = _logits(logits)
    shift = max(z.data for z in zs)
    shifted = [z - shift for z in zs]
    log_total = engine.sum(s.exp() for s in shifted).log()
    return [s - log_total for s in shifted]


def _class_index(t: float, n_classes: int) -> int:
    if not (t.is_integer() and 0 <= t < n_classes):
        raise ValueError(f"target {t:g} is out of range for {n_classes} classes (expected 0 <= target < {n_classes})")
    return int(t)


def _cross_entropy_forward(*operands) -> float:
    """log Σⱼ e^zⱼ − z_t over operands (z₀, …, z_{n−1}, t), shifted by max z so nothing overflows."""
    zs, t = operands[:-1], _class_index(operands[-1], len(operands) - 1)
    shift = max(zs)
    # (max z − z_t) first: a loss much smaller than the logits keeps all its digits
    return (shift - zs[t]) + math.log(math.fsum(math.exp(z - shift) for z in zs))


def _cross_entropy_local(operands, out):  # ∂L/∂zᵢ = pᵢ − [i = t]; the target is a class index, not differentiable
    zs, t = operands[:-1], int(ops._data(operands[-1]))
    return (*(p - (i == t) for i, p in enumerate(_softmax(zs))), 0.0)


def _cross_entropy_rule(i, texts, out):  # pᵢ − [i = t] for logit i; the target is not differentiated
    return f"p{ops.subscript(i)} − [{i} = t]" if i < len(texts) - 1 else "0"


def _cross_entropy_numbers(i, values, out, local, show):  # pᵢ's value (local + [i = t]) and [i = t] as 0 or 1
    if i == len(values) - 1:
        return "0"
    hit = i == int(values[-1])
    return f"{show(local + hit)} − {int(hit)}"


CROSS_ENTROPY = Op("cross_entropy", "cross_entropy", _cross_entropy_forward, _cross_entropy_local,
                   (_cross_entropy_rule,), numbers=(_cross_entropy_numbers,),
                   note=lambda i, values: f"pᵢ − [i = t] at i = {i}, t = {int(values[-1])}")


def cross_entropy(logits: Sequence, target) -> Value:
    """L = −log softmax(z)[t] = log Σⱼ e^zⱼ − z_t, as one node with ∂L/∂zᵢ = pᵢ − [i = t].

    `target` is a class index; it may also be a Value holding the index, so that a recorded
    graph (`mg.compile`) can be replayed with new targets (its derivative is 0)."""
    zs = _logits(logits)
    if isinstance(target, Value):
        _class_index(target.data, len(zs))
    else:
        target = float(_check_target(target, len(zs)))
    return _apply(CROSS_ENTROPY, (*zs, target))


def _bce_forward(z: float, y: float) -> float:
    """max(z, 0) − z·y + log(1 + e^(−|z|)), written as (1 − y)·max(z, 0) + y·max(−z, 0) + … so that
    a label of 0 or 1 never multiplies an infinite score by zero."""
    if not 0.0 <= y <= 1.0:
        raise ValueError(f"binary_cross_entropy target must be in [0, 1], got {y}")
    loss = math.log1p(math.exp(-abs(z)))
    if y != 1.0:
        loss += (1.0 - y) * max(z, 0.0)
    if y != 0.0:
        loss += y * max(-z, 0.0)
    return loss


def _bce_local(operands, out):  # ∂L/∂z = σ(z) − y, ∂L/∂y = −z
    z, y = operands
    # σ(z) − y written as (1 − y)·σ(z) − y·σ(−z): for a label of 0 or 1 nothing cancels (σ(11) − 1 would)
    return (1.0 - y) * ops.sigmoid(z) - y * ops.sigmoid(-z), -z


BINARY_CROSS_ENTROPY = Op("bce", "bce", _bce_forward, _bce_local, ("σ({0}) − {1}", "−{0}"),
                          numbers=(lambda i, v, out, local, show: f"{show(ops.stable_sigmoid(v[0]))} − {show(v[1])}",
                                   lambda i, v, out, local, show: f"−{show(v[0])}"))


def binary_cross_entropy(logit, target) -> Value:
    """BCE on a raw score z with label y ∈ [0, 1]:
    L = −y·log σ(z) − (1 − y)·log(1 − σ(z)) = max(z, 0) − z·y + log(1 + e^(−|z|)),
    one node with ∂L/∂z = σ(z) − y (stable for |z| up to 1e4 and beyond).
    The label may be a Value (∂L/∂y = −z), so a recorded graph can be replayed with new labels."""
    z = _as_value(logit)
    y = target if isinstance(target, Value) else engine._as_float(target, "binary_cross_entropy target")
    return _apply(BINARY_CROSS_ENTROPY, (z, y))


def mse(pred, target) -> Value:
    """Mean squared error (1/n)·Σᵢ (ŷᵢ − yᵢ)²; a single prediction and target give (ŷ − y)²."""
    if isinstance(pred, Value) or engine._constant(pred) is not None:
        pred, target = [pred], [target]
    pred, target = list(pred), list(target)
    if len(pred) != len(target):
        raise ValueError(f"mse: expected as many targets as predictions, got {len(pred)} and {len(target)}")
    if not pred:
        raise ValueError("mse of an empty sequence")
    return engine.sum((_as_value(p) - t) ** 2 for p, t in zip(pred, target)) / len(pred)


def _margins(scores: Sequence, target: int, margin: float) -> list[Value]:
    s = _logits(scores)
    t = _check_target(target, len(s))
    return [(s[j] - s[t] + margin).relu() for j in range(len(s)) if j != t]


def multiclass_hinge(scores: Sequence, target: int, margin: float = 1.0) -> Value:
    """Σ_{j≠t} max(0, s_j − s_t + Δ); Δ = margin, and margin=0 is the perceptron loss.
    (PyTorch's `multi_margin_loss` is this divided by the number of classes.)"""
    return engine.sum(_margins(scores, target, margin))


def squared_hinge(scores: Sequence, target: int, margin: float = 1.0) -> Value:
    """Σ_{j≠t} max(0, s_j − s_t + Δ)²."""
    return engine.sum(m**2 for m in _margins(scores, target, margin))


def l1(params: Iterable) -> Value:
    """Lasso penalty Σ|w|."""
    return engine.sum(abs(_as_value(p)) for p in params)


def l2(params: Iterable) -> Value:
    """Ridge penalty Σw² (no ½: multiply by λ/2 for Xu's λ/2·Σw²), as one node: dot(w, w)."""
    params = [_as_value(p) for p in params]
    return engine.dot(params, params)


def elastic_net(params: Iterable, alpha: float) -> Value:
    """α·Σ|w| + (1 − α)·Σw², with 0 ≤ α ≤ 1 (α = 1 is L1, α = 0 is L2)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"elastic_net alpha must be in [0, 1], got {alpha}")
    params = list(params)
    return alpha * l1(params) + (1.0 - alpha) * l2(params)
