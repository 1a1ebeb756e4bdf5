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

import functools
import gc
import inspect
import numbers
import threading
import weakref
from collections.abc import Iterable, Sequence
from contextlib import contextmanager

from .ops import ABS, ADD, DIV, DOT, EXP, EXP_POW, LOG, MAX, MUL, NEG, POW, RELU, SIGMOID, SUB, SUM, TANH, Op, _power

__all__ = ["Value", "no_grad", "enable_grad", "is_grad_enabled", "sum", "dot", "maximum", "topological_order"]


def _as_float(x, what: str = "Value data") -> float:
    """Return x as a float, or raise TypeError naming the type received."""
    if type(x) is float:  # the common case, checked first: the abstract-class test below is slower
        return x
    if isinstance(x, numbers.Real):
        try:
            return float(x)
        except OverflowError:  # an int (or Fraction) beyond float64's ±1.8e308
            raise OverflowError(f"{what} is too large for a float (at most about 1.8e308), got "
                                f"{big_int_text(x) if isinstance(x, int) else type(x).__name__}") from None
    if type(x).__module__ == "numpy" and getattr(x, "shape", None) == () and x.dtype.kind in "biuf":
        return float(x)  # numpy's bool and 0-d arrays are not registered as numbers.Real
    raise TypeError(f"{what} must be a real number, got {type(x).__name__}: {x!r}")


def big_int_text(n: int) -> str:
    """'an int of about 10^400': an int too long to print (str() refuses more than 4,300 digits)."""
    return f"an int of about 10^{int(n).bit_length() * 0.30103:.0f}" if abs(n) >= 10**20 else repr(n)


def _text(text, name: str) -> str:
    """A label or op name: a str that can be written out as UTF-8 (drawings, pages and the notebook display
    are UTF-8; a lone surrogate such as '\\ud800' is not), or an error naming it."""
    if not isinstance(text, str):
        raise TypeError(f"Value {name} must be a str, got {type(text).__name__}: {text!r}")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValueError(f"Value {name} {text!r} cannot be written as UTF-8: {text[error.start]!r} at "
                             f"index {error.start} is a lone surrogate") from None
    return text


def _constant(x) -> float | None:
    """A plain-number operand as a float, or None if x is not a real number."""
    if type(x) is float:  # checked first: the abstract-class test below is several times slower
        return x
    try:
        return _as_float(x)
    except TypeError:
        return None


class Value:
    """A scalar in a computation graph.

    `Value(data, children, local_grads, op, label)`: `local_grads[i]` is the partial
    derivative of this node with respect to `children[i]`, evaluated at forward time.
    A custom op is built by hand the same way:
    `Value(math.sin(x.data), (x,), (math.cos(x.data),), "sin")`.
    """

    # _args: the operands of a built-in op when plain numbers were folded into it (None: the children).
    __slots__ = ("data", "grad", "_prev", "local_grads", "_op", "_label", "_args")
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
        _text(op, "op")
        self.label = label  # checked by the setter
        self.data = _as_float(data)
        local_grads = tuple(_as_float(g, f"local gradient {i}") for i, g in enumerate(local_grads))
        self.grad = 0.0
        recorded = is_grad_enabled()
        self._prev = children if recorded else ()
        self.local_grads = local_grads if recorded else ()
        self._op = str(op)  # a plain str: a node built by hand has no rule to differentiate again
        self._args = None

    @property
    def children(self) -> tuple:
        """The Values this node was computed from, in order."""
        return self._prev

    @property
    def label(self) -> str:
        """The node's name in drawings and ledgers ('' for none); settable, to a str that UTF-8 can write."""
        return self._label

    @label.setter
    def label(self, label: str) -> None:
        self._label = _text(label, "label")

    @property
    def op(self) -> str:
        """The operation that produced this node ('' for a leaf)."""
        return self._op

    @property
    def operands(self) -> tuple:
        """The op's operands in order: the child Values and any plain numbers folded into the node
        (`(x, 3.0)` for `x * 3`; `(w₀, x₀, w₁, x₁, …, b)` for a dot)."""
        if self._args is None:
            return self._prev
        if self._op is DOT:  # stored as (ws, xs, bias)
            ws, xs, bias = self._args
            pairs = (v if isinstance(v, Value) else float(v) for pair in zip(ws, xs) for v in pair)
            return (*pairs, bias)
        return self._args

    @property
    def rule(self) -> Op | None:
        """The entry of the op table that made this node (None for a leaf or a node built by hand)."""
        return self._op if isinstance(self._op, Op) else None

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        """Jupyter shows a Value as its computation graph (SVG), or as text without Graphviz."""
        from .graph import value_mimebundle  # the engine does not need graphviz until a graph is shown

        return value_mimebundle(self)

    def _repr_svg_(self) -> str | None:
        from .graph import to_svg

        return to_svg(self)

    # --- arithmetic, written out: the training hot path. Each computes its value and its local
    # derivatives together, exactly as the op table's entry (ops.ADD, ops.MUL, …) does. ---

    def __add__(self, other):  # d(a+b)/da = 1, d(a+b)/db = 1
        if isinstance(other, Value):
            return _node(self.data + other.data, (self, other), (1.0, 1.0), ADD)
        other = _constant(other)
        if other is None:
            return NotImplemented
        return _node(self.data + other, (self,), (1.0,), ADD, (self, other))

    def __radd__(self, other):
        other = _constant(other)
        if other is None:
            return NotImplemented
        return _node(other + self.data, (self,), (1.0,), ADD, (other, self))

    def __mul__(self, other):  # d(ab)/da = b, d(ab)/db = a
        if isinstance(other, Value):
            return _node(self.data * other.data, (self, other), (other.data, self.data), MUL)
        other = _constant(other)
        if other is None:
            return NotImplemented
        return _node(self.data * other, (self,), (other,), MUL, (self, other))

    def __rmul__(self, other):
        other = _constant(other)
        if other is None:
            return NotImplemented
        return _node(other * self.data, (self,), (other,), MUL, (other, self))

    def __sub__(self, other):  # d(a-b)/da = 1, d(a-b)/db = -1
        if isinstance(other, Value):
            return _node(self.data - other.data, (self, other), (1.0, -1.0), SUB)
        other = _constant(other)
        if other is None:
            return NotImplemented
        return _node(self.data - other, (self,), (1.0,), SUB, (self, other))

    def __rsub__(self, other):  # d(c-a)/da = -1
        other = _constant(other)
        if other is None:
            return NotImplemented
        return _node(other - self.data, (self,), (-1.0,), SUB, (other, self))

    def __truediv__(self, other):
        """a / b; d/da = 1/b, d/db = −(a/b)/b (in that order, so a tiny b gives ±inf, not an error)."""
        if isinstance(other, Value):
            return _binary(DIV, self, other)
        other = _constant(other)
        if other is None:
            return NotImplemented
        return _with_number(DIV, self, other, number_first=False)

    def __rtruediv__(self, other):
        """c / a; d/da = −(c/a)/a."""
        other = _constant(other)
        if other is None:
            return NotImplemented
        return _with_number(DIV, self, other, number_first=True)

    def __pow__(self, other):
        """a**k for a number k: d/da = k·a^(k−1). a**b for a Value b needs a > 0:
        d/da = b·a^(b−1), d/db = a^b·ln a."""
        if isinstance(other, Value):
            return _binary(EXP_POW, self, other)
        k = _constant(other)
        if k is None:
            return NotImplemented
        return _with_number(POW, self, k, number_first=False)

    def __rpow__(self, other):  # d(c^a)/da = c^a·ln c, for c > 0
        other = _constant(other)
        if other is None:
            return NotImplemented
        return _with_number(EXP_POW, self, other, number_first=True)

    def __neg__(self):  # d(-a)/da = -1
        return _node(-self.data, (self,), (-1.0,), NEG)

    # --- elementary functions: read from the op table ---

    def exp(self):
        """e^a; d/da = e^a."""
        return _unary(EXP, self)

    def log(self):
        """ln a for a > 0; d/da = 1/a."""
        return _unary(LOG, self)

    def tanh(self):
        """tanh a; d/da = 1 − tanh²a."""
        return _unary(TANH, self)

    def sigmoid(self):
        """σ(a) = 1/(1 + e^(−a)), stable for any a; d/da = σ(a)(1 − σ(a))."""
        return _unary(SIGMOID, self)

    def relu(self):
        """max(0, a); d/da = 1 where a > 0, else 0 (0 at the kink; NaN stays NaN with slope 1), as in PyTorch."""
        a = self.data
        return _node(0.0, (self,), (0.0,), RELU) if a <= 0.0 else _node(a, (self,), (1.0,), RELU)

    def abs(self):
        """|a|; d/da = sign(a), 0 at the kink."""
        return _unary(ABS, self)

    __abs__ = abs

    # --- copies: iterative, so a graph of any depth can be pickled or deep-copied ---

    def __reduce__(self):
        """Pickled as its slots, children by reference, so that pickle's memo writes every node once and
        shared nodes (parameters, a chain under many outputs) stay shared: size and time linear in the
        graph, however many of its nodes are pickled together.

        No recursion: the first node of a graph that pickle meets lists ahead of its own slots every node
        below it that this pickling has not met yet, in topological order; those then pickle their slots
        alone (their children are written by then), so pickle never follows a chain of references."""
        session, token = _pickle_session()
        if self in session.listed:  # listed by a node above: its children come before it
            session.listed.discard(self)
            return _empty_value, (), self._slots()
        if self in session.seen:  # met by an earlier pickler, so unknown to this one's memo: start afresh
            session, token = _pickle_session(fresh=True)
        with _cycle_collector_paused():
            below = topological_order(self, session.seen)[:-1]  # skips what this pickling has met already
        session.listed.update(below)
        return _empty_value, (), (token, below, *self._slots())

    def _slots(self) -> tuple:
        return self.data, self.grad, self._prev, self.local_grads, self._op, self._label, self._args

    def __setstate__(self, state: tuple) -> None:
        # (token, the nodes below, slots…) or the slots alone; the nodes below were rebuilt first: the children
        self.data, self.grad, self._prev, self.local_grads, self._op, self._label, self._args = state[-7:]

    def __deepcopy__(self, memo: dict):
        copied = memo.setdefault(_COPIED, set())  # originals copied so far in this deepcopy
        for node in topological_order(self, copied):
            copy = _new_value(Value)
            copy.data, copy.grad, copy._op, copy._label = node.data, node.grad, node._op, node._label
            copy._prev = tuple(memo[id(c)] for c in node._prev)
            copy.local_grads = node.local_grads
            copy._args = None
            if node._args is not None:
                _keep_operands(copy, [memo[id(a)] if isinstance(a, Value) else a for a in node.operands])
            memo[id(node)] = copy
        return memo[id(self)]

    def __copy__(self):
        copy = _new_value(Value)
        for slot in Value.__slots__:
            setattr(copy, slot, getattr(self, slot))
        return copy

    # --- backpropagation ---

    def backward(self) -> None:
        """Fill `.grad` of every node in this graph with d(self)/d(node).

        Walks the nodes in reverse topological order, applying
        `child.grad += local_grad * node.grad` on every edge. Like PyTorch, leaves
        accumulate across calls, while inner nodes are reset at the start of each
        call and show this pass only. A node computed inside `no_grad()` has no graph: ValueError, as in PyTorch.
        """
        check_recorded(self, "backward: this node")  # else it would silently leave every gradient at 0
        with _cycle_collector_paused():
            order = topological_order(self)
        for node in order:
            if node._prev:
                node.grad = 0.0
        self.grad += 1.0
        for node in reversed(order):
            children = node._prev
            if not children:
                continue
            node_grad = node.grad
            if node_grad - node_grad:  # ±inf or NaN (x − x is 0.0 for every finite x): the rare, careful path
                _propagate_non_finite(node, node_grad)
            # Unary and binary nodes are spelled out: on them, setting up a zip costs as much as the arithmetic.
            elif len(children) == 2:
                a, b = children
                local_a, local_b = node.local_grads
                a.grad += local_a * node_grad
                b.grad += local_b * node_grad
            elif len(children) == 1:
                children[0].grad += node.local_grads[0] * node_grad
            else:
                for child, local_grad in zip(children, node.local_grads):
                    child.grad += local_grad * node_grad


def _propagate_non_finite(node: Value, node_grad: float) -> None:
    """child.grad += local · g for an infinite or NaN g, except that an operand the op did not select (relu's dead
    side, max's losers: derivatives._SELECTED) gets nothing, not 0·∞ = NaN, as in mg.grad and PyTorch."""
    from .derivatives import _not_selected  # derivatives imports this module

    operands = node.operands
    positions = [i for i, v in enumerate(operands) if isinstance(v, Value)]  # the children, in operand order
    for position, child, local in zip(positions, node._prev, node.local_grads):
        if not _not_selected(node, position, operands, local):
            child.grad += local * node_grad


_new_value = object.__new__


def _node(data: float, children: tuple, local_grads: tuple, op: Op, args: tuple | None = None) -> Value:
    """A Value made by an op of the table, whose operands are already known to be Values and floats:
    the same as Value(data, children, local_grads, op) without re-checking them on the hot path."""
    out = _new_value(Value)
    out.data = data if type(data) is float else float(data)
    out.grad = 0.0
    if not _threads_in_no_grad or _grad_mode.enabled:
        out._prev = children
        out.local_grads = local_grads
        out._args = args
    else:
        out._prev = out.local_grads = ()
        out._args = None
    out._op = op
    out._label = ""
    return out


def _unary(op: Op, x: Value) -> Value:
    """`_apply` for one Value operand, without its general bookkeeping (exp, log, tanh … per neuron)."""
    a = x.data
    out = op.forward(a)
    return _node(out, (x,), op.local((a,), out), op)


def _binary(op: Op, x: Value, y: Value) -> Value:
    """`_apply` for two Value operands."""
    a, b = x.data, y.data
    out = op.forward(a, b)
    return _node(out, (x, y), op.local((a, b), out), op)


def _with_number(op: Op, x: Value, c: float, number_first: bool) -> Value:
    """`_apply` for a Value and a number folded into the node (`x / 2`, `2 / x`, `x ** 3`, `2 ** x`)."""
    pair = (c, x.data) if number_first else (x.data, c)
    out = op.forward(*pair)
    local = op.local(pair, out)[1 if number_first else 0]
    return _node(out, (x,), (local,), op, (c, x) if number_first else (x, c))


def _apply(op: Op, operands: tuple) -> Value:
    """A node for `op` on operands that are Values or floats: value and local derivatives from the table."""
    datas = tuple(v.data if isinstance(v, Value) else v for v in operands)
    out = float(op.forward(*datas))
    local = op.local(datas, out)
    children, local_grads = [], []
    for v, g in zip(operands, local):
        if isinstance(v, Value):
            children.append(v)
            local_grads.append(float(g))
    folded = len(children) != len(operands)
    return _node(out, tuple(children), tuple(local_grads), op, operands if folded else None)


def slope_power(base, exponent) -> Value:
    """base ** exponent as a node, for the power rule k·a^(k−1) rebuilt on Values (`grad(create_graph=True)`).

    The same node as `**` makes (`POW` for a number exponent, `EXP_POW` for a Value one), but where the
    power overflows or 0 has a negative power its value is ±inf, as in float arithmetic and PyTorch, not
    an error: the user never wrote this power, so an error would name an exponent they cannot find.
    The user's own `**` keeps its errors."""
    op = EXP_POW if isinstance(exponent, Value) else POW
    operands = (base, exponent)
    datas = tuple(v.data if isinstance(v, Value) else v for v in operands)
    out = _power(*datas)
    local = op.local(datas, out)
    children = tuple(v for v in operands if isinstance(v, Value))
    local_grads = tuple(g for v, g in zip(operands, local) if isinstance(v, Value))
    return _node(out, children, local_grads, op, operands if len(children) == 1 else None)


def _empty_value() -> Value:
    return _new_value(Value)


class _PickleToken:
    """Written once into a pickle (it unpickles to None). Pickle's memo holds it until the pickler is done,
    so while it lives, the nodes met since it was made are in that memo; when it goes, so does the session."""

    def __reduce__(self):
        return type(None), ()


class _PickleSession:
    """What one pickler has met of the graphs it writes: `seen`, every node written or listed; `listed`,
    nodes listed ahead of a parent, whose own turn comes next. Emptied when the pickler is done."""

    def __init__(self, token: _PickleToken):
        self.seen: set = set()
        self.listed: set = set()
        seen, listed = self.seen, self.listed  # the callback must not hold the session itself
        self.alive = weakref.ref(token, lambda _: (seen.clear(), listed.clear()))


class _Pickling(threading.local):
    session: _PickleSession | None = None


_pickling = _Pickling()


def _pickle_session(fresh: bool = False) -> tuple[_PickleSession, _PickleToken | None]:
    """The current pickler's session, or a new one with the token to write into the pickle."""
    session = _pickling.session
    if not fresh and session is not None and session.alive() is not None:
        return session, None
    token = _PickleToken()
    _pickling.session = _PickleSession(token)
    return _pickling.session, token


def _keep_operands(node: Value, operands: list) -> None:
    """Store a node's full operand list in the form `Value.operands` reads back."""
    node._args = (tuple(operands[0:-1:2]), tuple(operands[1:-1:2]), operands[-1]) if node._op is DOT \
        else tuple(operands)


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


def topological_order(root: Value, visited: set | None = None) -> list[Value]:
    """Every node reachable from `root`, each after all of its children.

    Depth-first search with an explicit stack of (node, iterator over its children),
    so graph depth is limited by memory, not by Python's recursion limit. Nodes in
    `visited` are left out, with everything reachable only through them; the set
    gains the nodes returned (so repeated calls share one walk).
    """
    order: list[Value] = []
    if visited is None:
        visited = set()
    elif root in visited:
        return order
    visited.add(root)
    stack = []  # the path down to the node being walked; that node stays in locals, read at every step
    node, children = root, iter(root._prev)
    while True:
        for child in children:
            if child not in visited:
                visited.add(child)
                # A leaf, or a node whose children are all done (a neuron's dot once its weights are): it comes
                # next, and the set checks its children in C, not one Python iteration each.
                if visited.issuperset(child._prev):
                    order.append(child)
                else:
                    stack.append((node, children))
                    node, children = child, iter(child._prev)
                    break
        else:  # every child is done
            order.append(node)
            if not stack:
                return order
            node, children = stack.pop()


def recorded_no_graph(node: Value) -> bool:
    """True for a node made by an op that recorded no children: it was computed inside `no_grad()`."""
    return bool(node._op) and not node._prev


def check_recorded(node: Value, what: str) -> None:
    """Raise ValueError when `node` was computed inside `no_grad()`: there is no graph under it to
    differentiate or compile, and carrying on would treat it as a constant and give zeros."""
    if recorded_no_graph(node):
        raise ValueError(f"{what} (op {str(node.op)!r}, value {node.data!r}) has an op but no children: it was "
                         "computed inside no_grad(), which records no graph; compute it outside no_grad() or inside "
                         "enable_grad()")


_COPIED = "micrograd_nn: Values copied"  # deepcopy's memo is keyed by ids; a str key cannot clash with them


# --- grad mode: per thread, as PyTorch's ---


class _GradMode(threading.local):
    enabled = True  # the class attribute is every new thread's starting state

    def __init__(self):
        self.saved: list[bool] = []


_grad_mode = _GradMode()
# How many no_grad blocks are open across all threads: while none is, the hot path skips the per-thread lookup.
_threads_in_no_grad = 0
_count_lock = threading.Lock()


class _GradModeBlock:
    """A block (or decorated function) that sets this thread's grad mode to `enabled` while it runs.

    The mode is per thread; blocks nest and re-enter (the same instance, a recursive decorated
    function), and each exit restores the state its entry found. Works as `@block`, `@block()`,
    and on generator functions (every resumption of the body runs in the block's mode).
    """

    enabled: bool

    def __new__(cls, func=None):
        if func is None:
            return super().__new__(cls)
        if not callable(func):
            raise TypeError(f"{cls.__name__} takes no arguments (or decorates a function), got {type(func).__name__}")
        return cls()(func)  # bare @no_grad / @enable_grad

    def __enter__(self):
        global _threads_in_no_grad
        _grad_mode.saved.append(_grad_mode.enabled)
        _grad_mode.enabled = self.enabled
        if not self.enabled:
            with _count_lock:
                _threads_in_no_grad += 1
        return self

    def __exit__(self, *exc):
        global _threads_in_no_grad
        _grad_mode.enabled = _grad_mode.saved.pop()
        if not self.enabled:
            with _count_lock:
                _threads_in_no_grad -= 1
        return False

    def __call__(self, func):
        block = type(self)
        if inspect.isgeneratorfunction(func):
            @functools.wraps(func)
            def generator(*args, **kwargs):
                # Every resumption of the body (next, send, throw, close) runs in the block's mode, as PyTorch does.
                gen = func(*args, **kwargs)
                resume = gen.send
                value = None
                while True:
                    try:
                        with block():
                            item = resume(value)
                    except StopIteration as stop:
                        return stop.value
                    try:
                        value = yield item
                        resume = gen.send
                    except GeneratorExit:
                        with block():
                            gen.close()
                        raise
                    except BaseException as error:  # thrown in by the caller: the body may handle it
                        resume, value = gen.throw, error

            return generator

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with block():
                return func(*args, **kwargs)

        return wrapper


class no_grad(_GradModeBlock):
    """Inside `with no_grad():` ops compute values but record no children, as in PyTorch.

    The mode is per thread; blocks nest and re-enter (the same instance, a recursive decorated
    function), and each exit restores the state its entry found. Works as `@no_grad`, `@no_grad()`,
    and on generator functions (the generator's body runs without recording).
    """

    enabled = False


class enable_grad(_GradModeBlock):
    """Inside `with enable_grad():` ops record their children again, even within a `no_grad()` block.

    The mirror of `no_grad`, as PyTorch's: per thread, nests and restores the state its entry found, and
    works as `@enable_grad`, `@enable_grad()` and on generator functions. `grad(create_graph=True)`,
    `hessian`, `gradcheck` and `fit` use it to record the graphs they need.
    """

    enabled = True


def is_grad_enabled() -> bool:
    """True unless this thread is inside `no_grad()`."""
    return not _threads_in_no_grad or _grad_mode.enabled


# --- n-ary nodes: one node, many children, as the course notes write a neuron ---


def sum(values: Iterable, start: float = 0.0) -> Value:  # noqa: A001 - mirrors builtins.sum
    """Σᵢ vᵢ as a single node; d/dvᵢ = 1 for every Value operand."""
    operands = [start if isinstance(start, Value) else _as_float(start, "sum start")]
    operands += [v if isinstance(v, Value) else _as_float(v, "sum operand") for v in values]
    if not isinstance(operands[0], Value) and operands[0] == 0.0:
        del operands[0]  # Σ starts from zero: a node with only its real operands
    return _apply(SUM, tuple(operands))


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
    else:
        bias = 0.0 if bias is None else _as_float(bias, "dot bias")
        total += bias
    # Numbers were folded in: keep the operands for replay and display (as tuples, cheap on the hot path;
    # `Value.operands` interleaves them).
    folded = (tuple(ws), tuple(xs), bias) if len(children) != 2 * len(ws) + 1 else None
    return _node(total, tuple(children), tuple(local_grads), DOT, folded)


def _layer_dots(neurons: list, xs: list, inputs_are_values: bool) -> list[Value]:
    """`[dot(n.w, xs, n.b) for n in neurons]` for a layer, the operands' kinds checked once by the caller: every
    weight and bias a Value, every input a Value (`inputs_are_values`) or every input a float. The same nodes, each
    sum in the same order, as `dot` builds term by term; what the neurons share (the inputs, and ∂z/∂wᵢ = xᵢ) is
    laid out once per layer, not once per neuron."""
    dots = []
    if inputs_are_values:  # children w₀, x₀, w₁, x₁, …, b; ∂z/∂wᵢ = xᵢ, ∂z/∂xᵢ = wᵢ, ∂z/∂b = 1
        x_data = [x.data for x in xs]
        n = 2 * len(xs)
        children, local_grads = [None] * (n + 1), [1.0] * (n + 1)
        children[1:n:2], local_grads[0:n:2] = xs, x_data
        for neuron in neurons:
            ws, bias = neuron.w, neuron.b
            w_data = [w.data for w in ws]
            total = 0.0
            for w, x in zip(w_data, x_data):
                total += w * x
            total += bias.data
            children[0:n:2], children[n] = ws, bias
            local_grads[1:n:2] = w_data
            dots.append(_node(total, tuple(children), tuple(local_grads), DOT, None))
        return dots
    xs_kept, local_grads = tuple(xs), (*xs, 1.0)  # tuples: every neuron's node can hold the same ones
    for neuron in neurons:
        ws, bias = neuron.w, neuron.b
        total = 0.0
        for w, x in zip(ws, xs):
            total += w.data * x
        total += bias.data
        dots.append(_node(total, (*ws, bias), local_grads, DOT, (tuple(ws), xs_kept, bias)))
    return dots


def maximum(values: Iterable) -> Value:
    """max(v₁, …, vₙ) as a single node: derivative 1 for the first maximum, 0 for the rest.
    A NaN operand makes the maximum NaN (it wins, as in PyTorch)."""
    operands = tuple(v if isinstance(v, Value) else _as_float(v, "maximum operand") for v in values)
    if not operands:
        raise ValueError("maximum of an empty sequence")
    return _apply(MAX, operands)
