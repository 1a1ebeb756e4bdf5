"""Hypothesis strategies for property-based checks of Value programs (needs `hypothesis`).

    from hypothesis import given
    from micrograd_nn import gradcheck
    from micrograd_nn.testing import programs

    @given(programs())
    def test_backprop_matches_central_differences(program):
        assert gradcheck(program, program.inputs)

A `Program` is a random expression DAG over every op of the op table (`ops.OPS`): each step picks
an op key, operands from the earlier nodes (so nodes are reused) and plain numbers, and keeps the step
only where the op's `domain` holds; otherwise it takes tanh (or, in wide programs, the negation) of
its first operand instead.

- `programs()` stays well conditioned, for comparing with central differences: log only well above 0,
  no division near zero, no kink of relu, abs or max within reach of a finite-difference step, and
  every value below 1e3 in size.
- `programs(wide=True)` draws magnitudes from about 1e-300 to 1e300 (`wide_values()`), tiny divisors
  included: wherever the op is defined and the result is a finite, normal float. Derivatives may still
  overflow to ±inf or become NaN (0·∞), as in PyTorch. Each node is used once (the program is a tree),
  so every derivative is a product along one path and two correct engines agree on it to rounding,
  whatever order they add contributions in.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

from hypothesis import strategies as st

from . import engine, ops
from .engine import Value, no_grad

__all__ = ["finite_values", "wide_values", "Program", "programs", "op_keys"]

# How each op key takes its operands: the op table says what an op computes, this says how to call it.
UNARY = ("neg", "exp", "log", "tanh", "sigmoid", "relu", "abs")
BINARY = ("add", "sub", "mul", "div", "exp_pow")  # either side may be a plain number
NARY = ("sum", "dot", "max", "cross_entropy")
ARITY = {**dict.fromkeys(UNARY, 1), **dict.fromkeys(BINARY, 2), "pow": 2, "bce": 2, **dict.fromkeys(NARY, None)}
POWERS = (2.0, 3.0, -1.0, -2.0, 0.5, 1.5)


def op_keys() -> list[str]:
    """Every key of the op table, the fused losses of `functional` included, in a fixed order."""
    from . import functional  # noqa: F401 - registers the fused losses

    return sorted(ops.OPS)


def finite_values(min_value: float = -10.0, max_value: float = 10.0) -> st.SearchStrategy[float]:
    """Finite floats in [min_value, max_value]."""
    return st.floats(min_value, max_value, allow_nan=False, allow_infinity=False)


def wide_values(min_exponent: float = -300.0, max_exponent: float = 300.0) -> st.SearchStrategy[float]:
    """Floats of either sign with magnitudes 10^e for e in [min_exponent, max_exponent], and ordinary ones."""
    magnitudes = st.builds(lambda sign, e: sign * 10.0**e, st.sampled_from((-1.0, 1.0)),
                           st.floats(min_exponent, max_exponent))
    ordinary = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    return st.one_of(ordinary, magnitudes)


def _is_index(operand) -> bool:
    return type(operand) is int


def _value_step(key: str, xs: list):
    """Run one step on Values (and plain numbers) through the public API."""
    if key in UNARY:
        return -xs[0] if key == "neg" else getattr(xs[0], key)()
    if key in ("add", "sub", "mul", "div"):
        a, b = xs
        return a + b if key == "add" else a - b if key == "sub" else a * b if key == "mul" else a / b
    if key in ("pow", "exp_pow"):
        return xs[0] ** xs[1]
    if key == "sum":
        return engine.sum(xs)
    if key == "dot":
        return engine.dot(xs[0:-1:2], xs[1:-1:2], bias=xs[-1])
    if key == "max":
        return engine.maximum(xs)
    from . import functional as F

    if key == "cross_entropy":
        return F.cross_entropy(xs[:-1], int(xs[-1]))
    return F.binary_cross_entropy(xs[0], xs[1])


def _torch_step(key: str, xs: list, total, dot):
    """The same step on float64 torch tensors, with PyTorch's own functions."""
    import torch

    def tensor(x):
        return x if isinstance(x, torch.Tensor) else torch.tensor(x, dtype=torch.float64)

    if key in UNARY:
        return -xs[0] if key == "neg" else getattr(torch, key)(xs[0])
    if key == "pow":  # the exponent stays a number, as in the op table
        return torch.pow(xs[0], xs[1])
    if key in BINARY:  # torch's own division: Python's `c / t` would take 1/t first, which can overflow alone
        return getattr(torch, {"exp_pow": "pow"}.get(key, key))(tensor(xs[0]), tensor(xs[1]))
    if key == "sum":
        return total([tensor(x) for x in xs]) if total else _in_order(tensor(x) for x in xs)
    if key == "dot":
        ws, vs = [tensor(w) for w in xs[0:-1:2]], [tensor(v) for v in xs[1:-1:2]]
        return (dot(ws, vs) if dot else _in_order(w * v for w, v in zip(ws, vs))) + xs[-1]
    if key == "max":
        return torch.stack([tensor(x) for x in xs]).max(dim=0).values  # the first maximum gets the gradient
    if key == "cross_entropy":
        logits = torch.stack([tensor(x) for x in xs[:-1]]).unsqueeze(0)
        return torch.nn.functional.cross_entropy(logits, torch.tensor([int(xs[-1])]))
    # PyTorch's fused loss, whose derivatives are σ(z) − y and −z, with its value corrected: it computes
    # (1 − y)·z + max(−z, 0) + log(e^(−m) + e^(−z−m)), which loses a loss that is small beside |z| (z = −412.76,
    # y = 0: it gives 0; the loss is log(1 + e^(−412.76)) = 5.5e-180). The corrected value takes
    # log(1 + e^(−|z|)) + (1 − y)·z for z ≥ 0 and log(1 + e^z) − y·z below, where nothing cancels.
    z, y = xs[0], tensor(xs[1])
    fused = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
    with torch.no_grad():
        softplus = torch.nn.functional.softplus
        exact = torch.where(z >= 0, softplus(-z, threshold=40.0) + (1.0 - y) * z, softplus(z, threshold=40.0) - y * z)
        correction = exact - fused
    return fused + correction


def _in_order(terms):
    """t₁ + t₂ + … added left to right, as `engine.sum` and `engine.dot` add (so rounding agrees)."""
    total = None
    for t in terms:
        total = t if total is None else total + t
    return total


@dataclass
class Program:
    """A straight-line program: `inputs`, then `steps` that each append one node.

    A step is `(key, operands)`: an op-table key and its operands in the order of `node.operands`,
    each an int (the index of an earlier node) or a float (a plain number folded into the op).
    `program(leaves)` runs it on Values, or on float64 torch tensors with PyTorch's functions
    (`total` and `dot`, if given, replace its sum and dot), and returns the sum of the `outputs` nodes.
    """

    inputs: list[float]
    steps: list[tuple]
    outputs: list[int]

    def __call__(self, leaves, total=None, dot=None):
        on_values = isinstance(leaves[0], Value)
        nodes = list(leaves)
        for key, operands in self.steps:
            xs = [nodes[x] if _is_index(x) else x for x in operands]
            nodes.append(_value_step(key, xs) if on_values else _torch_step(key, xs, total, dot))
        out = nodes[self.outputs[0]]
        for i in self.outputs[1:]:
            out = out + nodes[i]
        return out

    def used_steps_only(self) -> Program:
        """The same program with every step that its outputs do not depend on replaced by −x₀, so that an
        error on new leaf values can only come from a node of the outputs' graph."""
        used = set(self.outputs)
        steps = list(self.steps)
        for k in range(len(steps) - 1, -1, -1):
            if len(self.inputs) + k in used:
                used.update(x for x in steps[k][1] if _is_index(x))
            else:
                steps[k] = ("neg", (0,))
        return Program(self.inputs, steps, self.outputs)

    def op_keys(self) -> set[str]:
        """The op keys this program's steps use."""
        return {key for key, _ in self.steps}


def _same_node(a, b) -> bool:
    return _is_index(a) and _is_index(b) and a == b


def _well_conditioned(key: str, values: list, operands: tuple) -> bool:
    """Away from poles, kinks and overflow by more than a finite-difference step can reach."""
    if key == "log":
        return values[0] > 0.05
    if key == "exp":
        return values[0] < 8.0
    if key in ("relu", "abs"):
        return abs(values[0]) > 1e-3
    if key == "div":
        return abs(values[1]) > 0.1
    if key == "pow":
        x, k = values
        return (k.is_integer() or x > 0.05) and (k > 0 or abs(x) > 0.1)
    if key == "exp_pow":
        return values[0] > 0.05 and abs(values[1]) < 5.0
    if key == "max":  # the first maximum must beat every other operand that is not the same node
        top = ops._first_max(values)
        return all(values[top] - v > 1e-3 for i, v in enumerate(values)
                   if i != top and not _same_node(operands[i], operands[top]))
    return True


def _good_label(y: float, wide: bool) -> bool:
    """A label node for binary cross-entropy: in [0, 1]; well-conditioned programs keep it inside [0.01, 0.99],
    so that a finite-difference step stays in [0, 1]."""
    return 0.0 <= y <= 1.0 if wide else 0.01 <= y <= 0.99


def _draw_operands(draw, key: str, n_nodes: int, data: list, wide: bool, unused: list) -> tuple:
    """Operands for one step: node indices (in wide programs, nodes not used yet) and plain numbers."""
    number = wide_values() if wide else finite_values(-3.0, 3.0)

    def node():  # None when a wide program has no unused node left
        if not wide:
            return draw(st.integers(0, n_nodes - 1))
        return unused.pop(draw(st.integers(0, len(unused) - 1))) if unused else None

    def node_or_number():
        index = node() if draw(st.booleans()) else None
        return draw(number) if index is None else index

    if key in UNARY:
        return (node(),)
    if key in BINARY:
        first = node()
        operands = (first, node_or_number()) if draw(st.booleans()) else (node_or_number(), first)
        return operands if key != "exp_pow" or _is_index(operands[1]) else operands[::-1]
    if key == "pow":
        return (node(), draw(st.sampled_from(POWERS)))
    if key == "bce":
        z = node()
        labels = [i for i in (unused if wide else range(n_nodes)) if _good_label(data[i], wide) and i != z]
        if labels and draw(st.booleans()):
            y = labels[draw(st.integers(0, len(labels) - 1))]
            if wide:
                unused.remove(y)
            return (z, y)
        return (z, draw(st.floats(0.0, 1.0)))
    count = draw(st.integers(2, 4))
    if key == "cross_entropy":
        return (node(), *(node_or_number() for _ in range(count - 1)), float(draw(st.integers(0, count - 1))))
    operands = [node()] + [node_or_number() for _ in range(2 * count - 1 if key == "dot" else count - 1)]
    if key == "dot":
        operands.append(node_or_number())
    return tuple(operands)


@st.composite
def programs(draw, max_inputs: int = 4, max_steps: int = 12, wide: bool = False) -> Program:
    """Random expression DAGs over every op of the table: + − · / ** neg, exp log tanh sigmoid relu abs,
    Σ, dot, max, cross-entropy and binary cross-entropy. wide=True: magnitudes from 1e-300 to 1e300."""
    keys = op_keys()
    n_inputs = draw(st.integers(1, max_inputs))
    inputs = draw(st.lists(wide_values() if wide else finite_values(-3.0, 3.0), min_size=n_inputs, max_size=n_inputs))
    data = list(inputs)
    unused = list(range(n_inputs))  # wide programs use each node once
    steps: list[tuple] = []
    for _ in range(draw(st.integers(1, max_steps))):
        key = draw(st.sampled_from(keys))
        operands = _draw_operands(draw, key, len(data), data, wide, unused)
        result = _run(key, operands, data, wide)
        if result is None:
            first = next(x for x in operands if _is_index(x))
            key, operands = ("neg" if wide else "tanh"), (first,)
            result = _run(key, operands, data, wide)
        if not wide and abs(result) > 1e3:  # keep values where float64 comparisons stay meaningful
            key, operands = "tanh", (len(data) - 1,)
            result = _run(key, operands, data, wide)
        steps.append((key, operands))
        data.append(result)
        unused.append(len(data) - 1)
    outputs = [len(data) - 1]
    if not wide:  # a wide program's last node is its only output: every other node already has its one use
        outputs += [len(data) - 1 - k for k in range(1, draw(st.integers(1, min(3, len(steps)))))]
    return Program(inputs, steps, outputs)


def _run(key: str, operands: tuple, data: list, wide: bool) -> float | None:
    """The step's value, or None where the op is undefined (or, unless wide, badly conditioned) there."""
    op = ops.lookup(key)
    values = [data[x] if _is_index(x) else x for x in operands]
    if op.domain is not None and not op.domain(*values):
        return None
    if not wide and not _well_conditioned(key, values, operands):
        return None
    with no_grad():
        try:
            result = _value_step(key, [Value(data[x]) if _is_index(x) else x for x in operands]).data
        except (ArithmeticError, ValueError):  # e.g. exp overflow: an error here, inf in PyTorch
            return None
    if wide:
        return result if _zero_or_normal(result) else None
    return result if math.isfinite(result) else None


def _zero_or_normal(x: float) -> bool:
    """Finite, and zero or at least 2.2e-308 in size: below the normal range a float keeps fewer significant
    bits, 1/x overflows, and two libraries round it differently."""
    return x == 0.0 or sys.float_info.min <= abs(x) <= sys.float_info.max
