"""Forward mode: a directional derivative in one sweep from the leaves to the root.

Reverse mode (`backward`, `grad`) starts at the output and sends ∂out/∂node down every edge. Forward mode
starts at the inputs with a tangent ẋⱼ each (a direction to move them in) and sends the tangent up:

    ṅ = Σ over n's children c of  ∂n/∂c · ċ

visiting each node once, after its children (topological order), with the same recorded local derivatives
`node.local_grads`. The root's tangent is the Jacobian-vector product

    jvp(out, x, ẋ) = Σⱼ ∂out/∂xⱼ · ẋⱼ

One forward sweep gives one column of a Jacobian (ẋ = a unit vector) for every output at once; one reverse
sweep gives one row (every input at once). Which is cheaper depends on which side is narrower.

    >>> import micrograd_nn as mg
    >>> x, y = mg.Value(3.0), mg.Value(2.0)
    >>> mg.jvp(x * y + x, [x, y], [1.0, 0.0])   # ∂/∂x (xy + x) = y + 1
    3.0
"""

from __future__ import annotations

from collections.abc import Sequence

from . import engine
from .derivatives import _not_selected
from .engine import Value, _as_float, topological_order

__all__ = ["jvp"]


def _check(output, inputs, tangents) -> tuple[list[Value], list[float]]:
    if not isinstance(output, Value):
        raise TypeError(f"jvp: output must be a Value, got {type(output).__name__}")
    inputs, tangents = list(inputs), list(tangents)
    if not inputs:
        raise ValueError("jvp: inputs is empty; give the Values whose tangents are pushed forward")
    for i, x in enumerate(inputs):
        if not isinstance(x, Value):
            raise TypeError(f"jvp: inputs[{i}] must be a Value, got {type(x).__name__}: {x!r}")
    if len(tangents) != len(inputs):
        raise ValueError(f"jvp: {len(inputs)} inputs but {len(tangents)} tangents; give one tangent per input")
    numbers = []
    for i, t in enumerate(tangents):
        if isinstance(t, (bool, Value)):  # a bool is no direction; a Value's tangent would be a graph
            raise TypeError(f"jvp: tangents[{i}] must be a real number, got {type(t).__name__}: {t!r}")
        numbers.append(_as_float(t, f"jvp: tangents[{i}]"))
    return inputs, numbers


def jvp(output: Value, inputs: Sequence[Value], tangents: Sequence[float]) -> float:
    """Σⱼ ∂output/∂inputs[j] · tangents[j], in one forward sweep over the recorded graph.

    Each node's tangent is ṅ = Σ_c ∂n/∂c · ċ over its children c (the stored `local_grads`), plus the
    node's own tangent when it is one of the inputs (an inner node may be an input, as in `grad`; an input
    listed twice adds both tangents). Only nodes that depend on an input carry a tangent, so a path from no
    input contributes nothing, even through an infinite local derivative. No `.grad` is read or changed.

    Errors: an input that is not a Value → TypeError naming its index; a different number of tangents and
    inputs → ValueError; a tangent that is not a real number → TypeError naming its index; an output computed
    inside no_grad() (no graph under it) → ValueError naming no_grad, as `grad` does.
    """
    inputs, seeds = _check(output, inputs, tangents)
    engine.check_recorded(output, "jvp: the output")
    seed: dict = {}
    for x, t in zip(inputs, seeds):
        seed[x] = seed.get(x, 0.0) + t
    with engine._cycle_collector_paused():
        order = topological_order(output)
    tangent: dict = {}  # node -> ṅ, only for nodes that depend on an input
    for node in order:  # children before parents
        total = None
        if node._prev:
            operands = node.operands
            stored = iter(node.local_grads)
            for position, operand in enumerate(operands):
                if not isinstance(operand, Value):
                    continue  # a number folded into the op has no tangent
                local = next(stored)
                if operand not in tangent or _not_selected(node, position, operands, local):
                    continue  # relu's dead side, max's losers: exactly 0, as in grad
                term = local * tangent[operand]
                total = term if total is None else total + term
        if node in seed:
            total = seed[node] if total is None else total + seed[node]
        if total is not None:
            tangent[node] = total
    return tangent.get(output, 0.0)
