"""Hypothesis strategies for property-based checks of Value programs (needs `hypothesis`).

    from hypothesis import given
    from micrograd_nn import gradcheck
    from micrograd_nn.testing import programs

    @given(programs())
    def test_backprop_matches_central_differences(program):
        assert gradcheck(program, program.inputs)

A `Program` is a random expression DAG over the engine's ops. Operands are drawn
from every earlier node, so nodes are reused; each op is chosen only where its
inputs are in its domain (log of a positive number, no division near zero, no
kink of relu within reach of a finite-difference step).
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from . import engine
from .engine import Value, no_grad

__all__ = ["finite_values", "Program", "programs"]

UNARY = ("exp", "log", "tanh", "sigmoid", "relu", "neg")
BINARY = ("+", "-", "*", "/")
WITH_CONSTANT = ("+c", "c-", "*c", "/c", "c/", "**")
NARY = ("sum", "dot")
POWERS = (2, 3, -1, 0.5, 1.5)


def finite_values(min_value: float = -10.0, max_value: float = 10.0) -> st.SearchStrategy[float]:
    """Finite floats in [min_value, max_value]."""
    return st.floats(min_value, max_value, allow_nan=False, allow_infinity=False)


def _apply(step: tuple, nodes: list, total, dot):
    op, args = step[0], step[1:]
    if op in UNARY:
        x = nodes[args[0]]
        return -x if op == "neg" else getattr(x, op)()
    if op in BINARY:
        a, b = nodes[args[0]], nodes[args[1]]
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        return a * b if op == "*" else a / b
    if op in WITH_CONSTANT:
        x, c = nodes[args[0]], args[1]
        if op == "+c":
            return x + c
        if op == "c-":
            return c - x
        if op == "*c":
            return c * x
        if op == "/c":
            return x / c
        if op == "c/":
            return c / x
        return x**c
    operands = [nodes[i] for i in args[0]]
    if op == "sum":
        return total(operands)
    half = len(operands) // 2
    return dot(operands[:half], operands[half : 2 * half])


@dataclass
class Program:
    """A straight-line program: `inputs`, then `steps` that each append one node.

    `program(leaves)` runs it on Values (or, given `total` and `dot`, on any type
    with the same operators and methods, e.g. torch tensors) and returns the sum of
    the `outputs` nodes.
    """

    inputs: list[float]
    steps: list[tuple]
    outputs: list[int]

    def __call__(self, leaves, total=engine.sum, dot=engine.dot):
        nodes = list(leaves)
        for step in self.steps:
            nodes.append(_apply(step, nodes, total, dot))
        out = nodes[self.outputs[0]]
        for i in self.outputs[1:]:
            out = out + nodes[i]
        return out


def _in_domain(step: tuple, data: list[float]) -> bool:
    op, args = step[0], step[1:]
    if op in ("log",):
        return data[args[0]] > 0.05
    if op == "exp":
        return data[args[0]] < 8.0
    if op == "relu":
        return abs(data[args[0]]) > 1e-3
    if op == "/":
        return abs(data[args[1]]) > 0.1
    if op == "c/":
        return abs(data[args[0]]) > 0.1
    if op == "**":
        x, k = data[args[0]], args[1]
        if not float(k).is_integer() and x < 0.05:
            return False
        return k > 0 or abs(x) > 0.1
    return True


@st.composite
def programs(draw, max_inputs: int = 4, max_steps: int = 12) -> Program:
    """Random expression DAGs over + - * / **, exp log tanh sigmoid relu, Σ and dot."""
    n_inputs = draw(st.integers(1, max_inputs))
    inputs = draw(st.lists(finite_values(-3.0, 3.0), min_size=n_inputs, max_size=n_inputs))
    data = list(inputs)
    steps: list[tuple] = []
    for _ in range(draw(st.integers(1, max_steps))):
        index = st.integers(0, len(data) - 1)
        kind = draw(st.sampled_from(("unary", "binary", "constant", "nary")))
        if kind == "unary":
            step = (draw(st.sampled_from(UNARY)), draw(index))
        elif kind == "binary":
            step = (draw(st.sampled_from(BINARY)), draw(index), draw(index))
        elif kind == "constant":
            op = draw(st.sampled_from(WITH_CONSTANT))
            constant = draw(st.sampled_from(POWERS)) if op == "**" else draw(finite_values(-3.0, 3.0))
            if op == "/c" and abs(constant) < 0.1:
                constant = 1.0 + abs(constant)
            step = (op, draw(index), constant)
        else:
            step = (draw(st.sampled_from(NARY)), tuple(draw(st.lists(index, min_size=2, max_size=6))))
        if not _in_domain(step, data):
            step = ("tanh", step[1] if isinstance(step[1], int) else step[1][0])
        with no_grad():
            result = _apply(step, [Value(x) for x in data], engine.sum, engine.dot).data
        if abs(result) > 1e3:  # keep values in a range where float64 comparisons stay meaningful
            step = ("tanh", len(data) - 1)
            result = _apply(step, [Value(x) for x in data], engine.sum, engine.dot).data
        steps.append(step)
        data.append(result)
    n_outputs = draw(st.integers(1, min(3, len(steps))))
    outputs = [len(data) - 1 - k for k in range(n_outputs)]
    return Program(inputs, steps, outputs)
