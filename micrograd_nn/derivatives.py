"""Derivatives as functions: grad, jacobian and hessian, and derivatives of derivatives.

`backward()` writes d(root)/d(node) into every node's `.grad`. `grad` computes the same chain rule
but returns the derivatives instead, keeping them in a dictionary on the side:

    ∂out/∂child = Σ over the child's parents p of  ∂out/∂p · ∂p/∂child

With `create_graph=True` the local derivatives ∂p/∂child are rebuilt as Values by the op table's
rule (`node.rule.local(node.operands, node)`, the same rule the engine ran on floats), so the
result is itself a graph connected to the original one, and can be differentiated again:

    >>> import micrograd_nn as mg
    >>> x = mg.Value(3.0)
    >>> (dy,) = mg.grad(x**3, [x], create_graph=True)   # 3x² = 27
    >>> (d2y,) = mg.grad(dy, [x])                        # 6x = 18
    >>> dy.data, d2y.data
    (27.0, 18.0)
"""

from __future__ import annotations

from collections.abc import Sequence

from . import engine
from .engine import Value, topological_order
from .ops import _data

__all__ = ["grad", "jacobian", "hessian"]


# Operand positions whose local derivative 0.0 means "this operand was not selected": relu's dead side, max's
# losers, the class index of a cross-entropy, the base of a power at exponent 0 (None: every position). Those
# operands receive exactly 0, so an infinite derivative upstream does not turn into 0·∞ = NaN there; PyTorch writes
# these rules with `where` and indexing and gives the same zeros. Elsewhere a zero is a number like any other
# (a softmax probability that underflowed to 0 times ∞ is NaN, in both).
_SELECTED = {"relu": None, "max": None, "cross_entropy": -1, "exp_pow": 0}  # by key: "**" names two ops


def _not_selected(node: Value, position: int, operands: tuple, local) -> bool:
    if type(local) is not float or local != 0.0 or node.rule is None or node.rule.key not in _SELECTED:
        return False
    if node.rule.key == "exp_pow" and _data(operands[1]) != 0.0:
        return False  # the base's derivative b·a^(b−1) underflowed: a number, not a branch
    selected = _SELECTED[node.rule.key]
    return selected is None or position == selected % len(operands)


class _Outputs:
    """A stand-in root above all the outputs, so that one topological walk orders every node they depend on."""

    __slots__ = ("_prev",)

    def __init__(self, outputs: tuple):
        self._prev = outputs


def _check_outputs(outputs) -> tuple[Value, ...]:
    if isinstance(outputs, Value):
        return (outputs,)
    if not isinstance(outputs, (list, tuple)):
        raise TypeError(f"grad: outputs must be a Value or a list of Values, got {type(outputs).__name__}")
    if not outputs:
        raise ValueError("grad: outputs is empty; give at least one Value to differentiate")
    for i, out in enumerate(outputs):
        if not isinstance(out, Value):
            raise TypeError(f"grad: outputs[{i}] must be a Value, got {type(out).__name__}: {out!r}")
    return tuple(outputs)


def _check_inputs(inputs) -> list[Value]:
    inputs = [inputs] if isinstance(inputs, Value) else list(inputs)
    if not inputs:
        raise ValueError("grad: inputs is empty; give the Values to differentiate with respect to")
    for i, x in enumerate(inputs):
        if not isinstance(x, Value):
            raise TypeError(f"grad: inputs[{i}] must be a Value, got {type(x).__name__}: {x!r}")
    return inputs


def _nodes_on_a_path(order: list[Value], inputs: set, create_graph: bool) -> set:
    """The nodes of `order` that depend on some input (an input itself included): the only ones
    whose derivative is needed. Through them, create_graph needs a rule for every node with children."""
    needed: set = set()
    for node in order:  # children come first
        if node in inputs or any(child in needed for child in node._prev):
            needed.add(node)
            if create_graph and node._prev and node.rule is None:
                raise ValueError(f"grad(create_graph=True): the node with op {node.op!r} was built by hand with "
                                 "plain-number local derivatives, which cannot be differentiated again")
    return needed


def _total(terms: list):
    """Σ of the contributions to one node's derivative, as one Σ node when any term is a Value."""
    if any(isinstance(t, Value) for t in terms):
        return terms[0] if len(terms) == 1 else engine.sum(terms)
    total = 0.0
    for t in terms:  # in order, as backward() adds them, so the floats agree bit for bit
        total += t
    return total


def grad(outputs: Value | Sequence[Value], inputs: Value | Sequence[Value], create_graph: bool = False) -> list[Value]:
    """∂(Σₖ outputsₖ)/∂xⱼ for each Value xⱼ in `inputs`, in order, without touching any `.grad`.

    `outputs` is a Value or a list of Values; `inputs` a list of Values (a single Value is taken as [it]).
    Reverse mode, as `backward()`: the nodes are visited parents first and each one's derivative
    ∂out/∂node = Σₚ ∂out/∂p · ∂p/∂node is complete before it is passed on. Only nodes that lead to an
    input are visited. An input that the outputs do not depend on gets Value(0.0).

    create_graph=False: the results are new leaf Values, computed from the local derivatives stored
    on the nodes (a node built by hand works too). create_graph=True: the results are nodes of a new
    graph built from the op table's rules on Values, so `grad` can be applied to them again; a node
    built by hand then raises ValueError naming its op. The new graph is recorded even inside
    `no_grad()` (as torch.autograd.grad does): a derivative of a derivative is what was asked for.
    An output computed inside `no_grad()` has no graph to differentiate: ValueError.
    """
    outputs, inputs = _check_outputs(outputs), _check_inputs(inputs)
    _check_recorded(outputs, "grad")
    return _differentiate(outputs, inputs, create_graph)


def _check_recorded(outputs: tuple, who: str) -> None:
    for i, out in enumerate(outputs):
        engine.check_recorded(out, f"{who}: outputs[{i}]" if len(outputs) > 1 else f"{who}: the output")


def _differentiate(outputs: tuple, inputs: list, create_graph: bool) -> list[Value]:
    if create_graph:
        with engine.enable_grad():
            return _reverse(outputs, inputs, create_graph=True)
    return _reverse(outputs, inputs, create_graph=False)


def _reverse(outputs: tuple, inputs: list, create_graph: bool) -> list[Value]:
    """The reverse pass of `grad`, on checked outputs and inputs."""
    wanted = set(inputs)
    with engine._cycle_collector_paused():
        order = topological_order(_Outputs(outputs))[:-1]
    needed = _nodes_on_a_path(order, wanted, create_graph)
    seen = set(order) if create_graph else ()
    pending: dict = {}  # node -> the contributions ∂out/∂p · ∂p/∂node from its parents p seen so far
    for out in outputs:
        if out in needed:
            pending.setdefault(out, []).append(1.0)
    found: dict = {}
    for node in reversed(order):
        terms = pending.pop(node, None)
        if terms is None:
            continue
        node_grad = _total(terms)
        if node in wanted:
            found[node] = node_grad
        if not node._prev:
            continue
        operands = node.operands
        if create_graph:
            local_grads = node.rule.local(operands, node)
        else:  # the stored floats belong to the children: the Values among the operands, in order
            stored = iter(node.local_grads)
            local_grads = [next(stored) if isinstance(v, Value) else 0.0 for v in operands]
        for position, (operand, local) in enumerate(zip(operands, local_grads)):
            if operand in needed:  # plain-number operands never are
                if _not_selected(node, position, operands, local):
                    term = 0.0
                elif type(local) is float and local == 1.0:
                    term = node_grad  # no 1·g nodes
                elif type(node_grad) is float and node_grad == 1.0 and isinstance(local, Value) and local not in seen:
                    term = local  # a node the rule just made: no ·1 node (one of the graph's own is never a result)
                else:
                    term = local * node_grad
                pending.setdefault(operand, []).append(term)
    return [_as_result(found.get(x, 0.0)) for x in inputs]


def _as_result(g) -> Value:
    return g if isinstance(g, Value) else Value(g)


def jacobian(outputs: Sequence[Value], inputs: Sequence[Value], create_graph: bool = False) -> list[list[Value]]:
    """J[i][j] = ∂outputs[i]/∂inputs[j], one `grad` per output (reverse mode, row by row).

    The entries are leaf Values unless create_graph=True (then they can be differentiated again)."""
    outputs, inputs = _check_outputs(outputs), _check_inputs(inputs)
    _check_recorded(outputs, "jacobian")
    return [_differentiate((out,), inputs, create_graph) for out in outputs]


def hessian(output: Value, inputs: Sequence[Value], create_graph: bool = False) -> list[list[Value]]:
    """H[i][j] = ∂²output/∂inputs[i]∂inputs[j]: the gradient as a graph, then the gradient of each entry.

    The entries are leaf Values unless create_graph=True (then third derivatives can be taken)."""
    if not isinstance(output, Value):
        raise TypeError(f"hessian: output must be a single Value, got {type(output).__name__}")
    inputs = _check_inputs(inputs)
    _check_recorded((output,), "hessian")
    first = _differentiate((output,), inputs, create_graph=True)
    # Not grad(g, …): an entry may be a node the user computed inside no_grad() (a constant), whose row is 0.
    return [_differentiate((g,), inputs, create_graph) for g in first]
