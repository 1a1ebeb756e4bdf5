"""The autograd engine: a scalar `Value` that remembers how it was made.

Every node stores its children and, for each child, the local derivative
d(node)/d(child) evaluated when the node was computed. Backpropagation is then
one line of the chain rule per edge:

    child.grad += local_grad * node.grad

Local derivatives are plain floats, not closures, so a graph holds no reference
cycles: it is freed the moment the last reference to its root goes, and the
renderer can print each derivative on its edge.
"""

from __future__ import annotations

import gc
import math
import numbers
from collections.abc import Iterable, Sequence
from contextlib import ContextDecorator, contextmanager

__all__ = ["Value", "no_grad", "is_grad_enabled", "sum", "dot", "maximum"]

_grad_enabled = True


def _as_float(x, what: str = "Value data") -> float:
    """Return x as a float, or raise TypeError naming the type received."""
    if type(x) is float:  # the common case, checked first: the abstract-class test below is slower
        return x
    if isinstance(x, numbers.Real):
        return float(x)
    raise TypeError(f"{what} must be a real number, got {type(x).__name__}: {x!r}")


def _constant(x) -> float | None:
    """A plain-number operand as a float, or None if x is not a real number."""
    if type(x) is float:  # checked first: the abstract-class test below is several times slower
        return x
    return float(x) if isinstance(x, numbers.Real) else None


def _power(base: float, exponent: float) -> float:
    try:
        return base**exponent
    except OverflowError:
        raise OverflowError(f"power overflow: {base} ** {exponent} is too large for a float") from None


def stable_sigmoid(a: float) -> float:
    """σ(a) = 1/(1 + e^(−a)), evaluated so that e^x never overflows (|a| up to 1e308)."""
    if a >= 0.0:
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)


class Value:
    """A scalar in a computation graph.

    `Value(data, children, local_grads, op, label)`: `local_grads[i]` is the partial
    derivative of this node with respect to `children[i]`, evaluated at forward time.
    A custom op is built by hand the same way:
    `Value(math.sin(x.data), (x,), (math.cos(x.data),), "sin")`.
    """

    __slots__ = ("data", "grad", "_prev", "local_grads", "_op", "label")
    # numpy scalars on the left of an operator defer to our reflected methods.
    __array_ufunc__ = None

    def __init__(self, data, children=(), local_grads=(), op: str = "", label: str = ""):
        children, local_grads = tuple(children), tuple(local_grads)
        for i, child in enumerate(children):
            if not isinstance(child, Value):
                raise TypeError(f"child {i} must be a Value, got {type(child).__name__}: {child!r}")
        if len(children) != len(local_grads):
            raise ValueError(
                f"Value needs one local gradient per child: got {len(children)} children "
                f"and {len(local_grads)} local gradients"
            )
        self.data = _as_float(data)
        self.grad = 0.0
        recorded = _grad_enabled
        self._prev = children if recorded else ()
        self.local_grads = tuple(_as_float(g, f"local gradient {i}") for i, g in enumerate(local_grads)) \
            if recorded else ()
        self._op = op
        self.label = label

    @property
    def children(self) -> tuple:
        """The Values this node was computed from, in order."""
        return self._prev

    @property
    def op(self) -> str:
        """The operation that produced this node ('' for a leaf)."""
        return self._op

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        """Jupyter shows a Value as its computation graph (SVG), or as text without Graphviz."""
        from .graph import value_mimebundle  # the engine does not need graphviz until a graph is shown

        return value_mimebundle(self)

    def _repr_svg_(self) -> str | None:
        from .graph import to_svg

        return to_svg(self)

    # --- arithmetic: each op computes its value and its local derivatives together ---

    def __add__(self, other):  # d(a+b)/da = 1, d(a+b)/db = 1
        if isinstance(other, Value):
            return _node(self.data + other.data, (self, other), (1.0, 1.0), "+")
        other = _constant(other)
        if other is None:
            return NotImplemented
        return _node(self.data + other, (self,), (1.0,), "+")

    def __mul__(self, other):  # d(ab)/da = b, d(ab)/db = a
        if isinstance(other, Value):
            return _node(self.data * other.data, (self, other), (other.data, self.data), "*")
        other = _constant(other)
        if other is None:
            return NotImplemented
        return _node(self.data * other, (self,), (other,), "*")

    def __sub__(self, other):  # d(a-b)/da = 1, d(a-b)/db = -1
        if isinstance(other, Value):
            return _node(self.data - other.data, (self, other), (1.0, -1.0), "-")
        other = _constant(other)
        if other is None:
            return NotImplemented
        return _node(self.data - other, (self,), (1.0,), "-")

    def __rsub__(self, other):  # d(c-a)/da = -1
        other = _constant(other)
        if other is None:
            return NotImplemented
        return _node(other - self.data, (self,), (-1.0,), "-")

    def __truediv__(self, other):  # d(a/b)/da = 1/b, d(a/b)/db = -a/b²
        if isinstance(other, Value):
            b = other.data
            if b == 0.0:
                raise ZeroDivisionError(f"division by zero: the denominator Value is {b}")
            return _node(self.data / b, (self, other), (1.0 / b, -self.data / (b * b)), "/")
        other = _constant(other)
        if other is None:
            return NotImplemented
        if other == 0:
            raise ZeroDivisionError(f"division by zero: {self!r} / {other}")
        return _node(self.data / other, (self,), (1.0 / other,), "/")

    def __rtruediv__(self, other):  # d(c/a)/da = -c/a²
        other = _constant(other)
        if other is None:
            return NotImplemented
        a = self.data
        if a == 0.0:
            raise ZeroDivisionError(f"division by zero: {other} / {self!r}")
        return _node(other / a, (self,), (-other / (a * a),), "/")

    def __pow__(self, other):
        """a**k for a number k: d/da = k·a^(k-1). a**b for a Value b needs a > 0:
        d/da = b·a^(b-1), d/db = a^b·ln a."""
        a = self.data
        if isinstance(other, Value):
            if a <= 0.0:
                raise ValueError(f"Value ** Value needs a positive base, got base {a}")
            b = other.data
            out = _power(a, b)
            return _node(out, (self, other), (b * _power(a, b - 1.0), out * math.log(a)), "**")
        k = _constant(other)
        if k is None:
            return NotImplemented
        if a < 0.0 and not k.is_integer():
            raise ValueError(f"power: a negative base {a} has no real power {k}")
        if a == 0.0 and k < 0.0:
            raise ZeroDivisionError(f"power: 0.0 cannot be raised to the negative power {k}")
        out = _power(a, k)
        if k == 0.0:
            local = 0.0
        elif a == 0.0 and k < 1.0:
            local = math.inf  # the slope of a^k at 0 for 0 < k < 1, as in PyTorch
        else:
            local = k * _power(a, k - 1.0)
        return _node(out, (self,), (local,), f"**{k:g}")

    def __rpow__(self, other):  # d(c^a)/da = c^a·ln c, for c > 0
        other = _constant(other)
        if other is None:
            return NotImplemented
        if other <= 0:
            raise ValueError(f"number ** Value needs a positive base, got base {other}")
        out = _power(other, self.data)
        return _node(out, (self,), (out * math.log(other),), "**")

    def __neg__(self):  # d(-a)/da = -1
        return _node(-self.data, (self,), (-1.0,), "neg")

    def __radd__(self, other):
        return self.__add__(other)

    def __rmul__(self, other):
        return self.__mul__(other)

    # --- elementary functions ---

    def exp(self):  # d(e^a)/da = e^a
        try:
            out = math.exp(self.data)
        except OverflowError:
            raise OverflowError(f"exp overflow: exp({self.data}) is too large for a float") from None
        return _node(out, (self,), (out,), "exp")

    def log(self):  # d(ln a)/da = 1/a, defined for a > 0
        a = self.data
        if not a > 0.0:
            raise ValueError(f"log domain error: log({a}) is undefined; log needs a positive value")
        return _node(math.log(a), (self,), (1.0 / a,), "log")

    def tanh(self):  # d(tanh a)/da = 1 - tanh²a
        t = math.tanh(self.data)
        return _node(t, (self,), (1.0 - t * t,), "tanh")

    def sigmoid(self):  # d(σ(a))/da = σ(a)(1 - σ(a))
        s = stable_sigmoid(self.data)
        return _node(s, (self,), (s * (1.0 - s),), "sigmoid")

    def relu(self):  # d(max(0, a))/da = 1 if a > 0 else 0 (0 at the kink, as in PyTorch)
        a = self.data
        return _node(a, (self,), (1.0,), "relu") if a > 0.0 else _node(0.0, (self,), (0.0,), "relu")

    def abs(self):  # d|a|/da = sign(a), 0 at the kink
        a = self.data
        return _node(abs(a), (self,), (1.0 if a > 0.0 else -1.0 if a < 0.0 else 0.0,), "abs")

    __abs__ = abs

    # --- backpropagation ---

    def backward(self) -> None:
        """Fill `.grad` of every node in this graph with d(self)/d(node).

        Walks the nodes in reverse topological order, applying
        `child.grad += local_grad * node.grad` on every edge. Like PyTorch, leaves
        accumulate across calls, while inner nodes are reset at the start of each
        call and show this pass only.
        """
        with _cycle_collector_paused():
            order = topological_order(self)
        for node in order:
            if node._prev:
                node.grad = 0.0
        self.grad += 1.0
        for node in reversed(order):
            node_grad = node.grad
            children = node._prev
            # Unary and binary nodes are spelled out: on them, setting up a zip costs as much as the arithmetic.
            if len(children) == 2:
                a, b = children
                local_a, local_b = node.local_grads
                a.grad += local_a * node_grad
                b.grad += local_b * node_grad
            elif len(children) == 1:
                children[0].grad += node.local_grads[0] * node_grad
            else:
                for child, local_grad in zip(children, node.local_grads):
                    child.grad += local_grad * node_grad


def _node(data: float, children: tuple, local_grads: tuple, op: str) -> Value:
    """A Value made by an op of this module, whose operands are already known to be Values and floats:
    the same as Value(data, children, local_grads, op) without re-checking them on the hot path."""
    out = _new_value(Value)
    out.data = data if type(data) is float else float(data)
    out.grad = 0.0
    if _grad_enabled:
        out._prev = children
        out.local_grads = local_grads
    else:
        out._prev = out.local_grads = ()
    out._op = op
    out.label = ""
    return out


_new_value = object.__new__


@contextmanager
def _cycle_collector_paused():
    """Pause Python's cycle collector. The sort below allocates one short-lived stack entry per node
    and makes no cycles; left on, the collector would rescan the whole graph each time the stack grows
    (on a 10^6-node chain that more than doubles the time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def topological_order(root: Value) -> list[Value]:
    """Every node reachable from `root`, each after all of its children.

    Depth-first search with an explicit stack of (node, iterator over its children),
    so graph depth is limited by memory, not by Python's recursion limit.
    """
    order: list[Value] = []
    visited = {root}
    stack = [(root, iter(root._prev))]
    while stack:
        node, children = stack[-1]
        for child in children:
            if child not in visited:
                visited.add(child)
                stack.append((child, iter(child._prev)))
                break
        else:  # every child is done
            stack.pop()
            order.append(node)
    return order


class no_grad(ContextDecorator):
    """Inside `with no_grad():` ops compute values but record no children, as in PyTorch."""

    def __enter__(self):
        global _grad_enabled
        self._previous = _grad_enabled
        _grad_enabled = False
        return self

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._previous
        return False


def is_grad_enabled() -> bool:
    """True unless inside `no_grad()`."""
    return _grad_enabled


# --- n-ary nodes: one node, many children, as the course notes write a neuron ---


def sum(values: Iterable, start: float = 0.0) -> Value:  # noqa: A001 - mirrors builtins.sum
    """Σᵢ vᵢ as a single node; d/dvᵢ = 1 for every Value operand."""
    total = float(start)
    children = []
    for v in values:
        if isinstance(v, Value):
            total += v.data
            children.append(v)
        else:
            total += _as_float(v, "sum operand")
    return _node(total, tuple(children), (1.0,) * len(children), "Σ")


def dot(ws: Sequence, xs: Sequence, bias=None) -> Value:
    """z = Σᵢ wᵢxᵢ (+ b) as a single node; dz/dwᵢ = xᵢ, dz/dxᵢ = wᵢ, dz/db = 1.

    Either side may hold plain numbers; only Values become children.
    """
    if len(ws) != len(xs):
        raise ValueError(f"dot needs equal lengths, got {len(ws)} weights and {len(xs)} inputs")
    total = 0.0
    children, local_grads = [], []
    for w, x in zip(ws, xs):
        w_is_value, x_is_value = isinstance(w, Value), isinstance(x, Value)
        w_data = w.data if w_is_value else _as_float(w, "dot weight")
        x_data = x.data if x_is_value else _as_float(x, "dot input")
        total += w_data * x_data
        if w_is_value:
            children.append(w)
            local_grads.append(x_data)
        if x_is_value:
            children.append(x)
            local_grads.append(w_data)
    if isinstance(bias, Value):
        total += bias.data
        children.append(bias)
        local_grads.append(1.0)
    elif bias is not None:
        total += _as_float(bias, "dot bias")
    return _node(total, tuple(children), tuple(local_grads), "dot")


def maximum(values: Sequence) -> Value:
    """max(v₁, …, vₙ) as a single node: derivative 1 for the first maximum, 0 for the rest."""
    if not values:
        raise ValueError("maximum of an empty sequence")
    data = [v.data if isinstance(v, Value) else _as_float(v, "maximum operand") for v in values]
    winner = max(range(len(data)), key=data.__getitem__)
    children, local_grads = [], []
    for i, v in enumerate(values):
        if isinstance(v, Value):
            children.append(v)
            local_grads.append(1.0 if i == winner else 0.0)
    return _node(data[winner], tuple(children), tuple(local_grads), "max")
