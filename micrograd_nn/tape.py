"""Compiled replay: record a graph once, then rerun its forward and backward pass as straight-line Python.

`tape = compile(root)` walks the graph under `root` once and writes one Python function for it: a line per
node computing its value (forward), then a line per edge adding `local · upstream` into the child's gradient
(backward), in the order `root.backward()` visits them. `tape.source` shows that function: it is what
backpropagation "compiles to" for this graph.

    >>> from micrograd_nn import Value
    >>> x, w = Value(2.0, label="x"), Value(-3.0, label="w")
    >>> tape = compile((x * w).relu())
    >>> x.data = -1.0               # new leaf values; the relu's branch is decided again
    >>> tape.run(), x.grad, w.grad
    (3.0, -3.0, -1.0)

Each op's line comes from `TEMPLATES`, written from the op table's `forward` and `local` (`ops.py`) with the same
formulas in the same order, so a replay gives the same floats as `root.backward()` on a graph rebuilt from the
new leaf values. Numbers folded into the graph when it was recorded (the 3 in `x * 3`) stay those numbers, and
so does anything the model decided in Python from the data at recording time (a branch, a max shift): replay
only re-decides what the ops decide (relu, abs and max branches).

A large, wide graph (a batch of samples side by side) is recorded faster and replayed faster level by level
with numpy (`micrograd_nn.levels`, `backend="numpy"`), which `compile` picks by default for such graphs; the
training step on mini-batches, `CompiledStep`, lives in `micrograd_nn.compiled_step`.
"""

from __future__ import annotations

import builtins
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import engine, ops
from .compiled_step import CompiledStep, batch_loss
from .derivatives import _SELECTED
from .engine import Value

# LevelTape (the numpy backend's tape) is here too, imported on first use: see __getattr__ below.
__all__ = ["Tape", "compile", "batch_loss", "CompiledStep", "TEMPLATES", "NAMESPACE", "RUN_LOCK"]

# Held by every run while it adds into leaves' grads: two threads running tapes over shared parameters (or
# the same tape) each read a leaf's grad, add their pass and write it back, so unlocked, one write would
# overwrite the other's. Runs hold it one at a time; their contributions all arrive.
RUN_LOCK = threading.Lock()


def __getattr__(name: str):
    """The numpy backend's names, imported on first use: only that backend needs numpy."""
    if name in ("LevelTape", "array_forward", "array_local", "array_contributions"):
        from . import levels

        return getattr(levels, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- one code template per op: the table's forward and local rules, written as Python source ---


@dataclass(frozen=True)
class Template:
    """How an op is written in a tape.

    forward(out, args) -> the statement(s), on one line, that set the variable `out` from the operand
        expressions `args` (variable names or number literals); helper variables are named `out` + "_…".
    local(i, out, args) -> an expression for ∂out/∂(operand i), which may read those helper variables.
    """

    forward: Callable[[str, list[str]], str]
    local: Callable[[int, str, list[str]], str]


# A long sum is written as statements of at most this many terms, each continuing the last
# (`v = 0.0 + a + … ; v = v + b + …`): the same order of additions, and CPython's parser, which recurses once
# per `+` of a chained expression, never sees a chain long enough to exhaust its stack.
CHUNK = 100


def _chained_sum(out: str, terms: list[str]) -> str:
    """out = 0.0 + terms[0] + terms[1] + …, added left to right, as statements of at most CHUNK terms."""
    statements = [f"{out} = {' + '.join(['0.0', *terms[:CHUNK]])}"]
    for start in range(CHUNK, len(terms), CHUNK):
        statements.append(f"{out} = {' + '.join([out, *terms[start:start + CHUNK]])}")
    return "; ".join(statements)


def _dot_forward(out: str, a: list[str]) -> str:
    products = [f"{a[i]} * {a[i + 1]}" for i in range(0, len(a) - 1, 2)]
    return _chained_sum(out, [*products, a[-1]])


def _max_forward(out: str, a: list[str]) -> str:
    operands = ", ".join(a)
    return f"{out}_w = first_max(({operands},)); {out} = ({operands},)[{out}_w]"


def _cross_entropy_target(out: str, a: list[str]) -> str:
    """The class index: a literal when the target was a number at recording time, else checked at run time."""
    t = a[-1]
    return str(int(float(t))) if _is_literal(t) else f"{out}_k"


def _cross_entropy_forward(out: str, a: list[str]) -> str:
    zs, t, n = a[:-1], a[-1], len(a) - 1
    k = _cross_entropy_target(out, a)
    check = "" if _is_literal(t) else f"{k} = class_index({t}, {n}); "
    exps = ", ".join(f"exp({z} - {out}_m)" for z in zs)
    target_logit = zs[int(k)] if _is_literal(t) else f"({', '.join(zs)},)[{k}]"
    return (f"{check}{out}_m = max(({', '.join(zs)},)); {out}_e = ({exps},); {out}_s = fsum({out}_e); "
            f"{out} = ({out}_m - {target_logit}) + log({out}_s)")


def _cross_entropy_local(i: int, out: str, a: list[str]) -> str:
    if i == len(a) - 1:
        return "0.0"  # the target is a class index, not differentiated
    k = _cross_entropy_target(out, a)
    if _is_literal(a[-1]):
        return f"{out}_e[{i}] / {out}_s - 1.0" if int(k) == i else f"{out}_e[{i}] / {out}_s"
    return f"{out}_e[{i}] / {out}_s - ({k} == {i})"


def _sigmoid(a: str) -> str:
    """σ(a) as ops.stable_sigmoid computes it."""
    return f"(1.0 / (1.0 + exp(-{a})) if {a} >= 0.0 else exp({a}) / (1.0 + exp({a})))"


def _bce_forward(out: str, a: list[str]) -> str:
    z, y = a
    value = (f"log1p(exp(-abs({z}))) + ((1.0 - {y}) * max({z}, 0.0) if {y} != 1.0 else 0.0)"
             f" + ({y} * max(-{z}, 0.0) if {y} != 0.0 else 0.0)")
    if _is_literal(y):  # checked when the graph was recorded
        return f"{out} = {value}"
    return f"{out} = {value} if 0.0 <= {y} <= 1.0 else table_forward['bce']({z}, {y})"  # the table raises


def _table_call(key: str) -> Template:
    """An op with no hand-written template: call the table's own forward and local."""
    return Template(
        forward=lambda out, a: f"{out} = table_forward[{key!r}]({', '.join(a)})",
        local=lambda i, out, a: f"table_local[{key!r}](({', '.join(a)},), {out})[{i}]",
    )


TEMPLATES: dict[str, Template] = {
    "add": Template(lambda o, a: f"{o} = {a[0]} + {a[1]}", lambda i, o, a: "1.0"),
    "sub": Template(lambda o, a: f"{o} = {a[0]} - {a[1]}", lambda i, o, a: "1.0" if i == 0 else "-1.0"),
    "mul": Template(lambda o, a: f"{o} = {a[0]} * {a[1]}", lambda i, o, a: a[1 - i]),
    "div": Template(lambda o, a: f"{o} = {a[0]} / {a[1]}",
                    lambda i, o, a: f"1.0 / {a[1]}" if i == 0 else f"-{o} / {a[1]}"),
    "neg": Template(lambda o, a: f"{o} = -{a[0]}", lambda i, o, a: "-1.0"),
    "pow": Template(lambda o, a: f"{o} = checked_power({a[0]}, {a[1]})",
                    lambda i, o, a: f"(0.0 if {a[1]} == 0.0 else {a[1]} * power({a[0]}, {a[1]} - 1.0))"
                    if i == 0 else "0.0"),
    "exp_pow": Template(lambda o, a: f"{o} = exp_pow({a[0]}, {a[1]})",
                        lambda i, o, a: f"(0.0 if {a[1]} == 0.0 else {a[1]} * power({a[0]}, {a[1]} - 1.0))"
                        if i == 0 else f"{o} * log({a[0]})"),
    "exp": Template(lambda o, a: f"{o} = exp({a[0]})", lambda i, o, a: o),
    "log": Template(lambda o, a: f"{o} = table_forward['log']({a[0]})", lambda i, o, a: f"1.0 / {a[0]}"),
    "tanh": Template(lambda o, a: f"{o} = tanh({a[0]})",
                     lambda i, o, a: f"((1.0 - {o}) * (1.0 + {o}) if abs({o}) > 0.5 else 1.0 - {o} * {o})"),
    "sigmoid": Template(lambda o, a: f"{o} = {_sigmoid(a[0])}", lambda i, o, a: f"{o} * (1.0 - {o})"),
    "relu": Template(lambda o, a: f"{o} = {a[0]} if not {a[0]} <= 0.0 else 0.0",
                     lambda i, o, a: f"(0.0 if {a[0]} <= 0.0 else 1.0)"),
    "abs": Template(lambda o, a: f"{o} = abs({a[0]})",
                    lambda i, o, a: f"(1.0 if {a[0]} > 0.0 else -1.0 if {a[0]} < 0.0 else 0.0)"),
    "sum": Template(_chained_sum, lambda i, o, a: "1.0"),
    "dot": Template(_dot_forward, lambda i, o, a: "1.0" if i == len(a) - 1 else a[i ^ 1]),
    "max": Template(_max_forward, lambda i, o, a: f"(1.0 if {o}_w == {i} else 0.0)"),
    "cross_entropy": Template(_cross_entropy_forward, _cross_entropy_local),
    "bce": Template(_bce_forward, lambda i, o, a: f"(1.0 - {a[1]}) * {_sigmoid(a[0])} - {a[1]} * {_sigmoid('-' + a[0])}"
                    if i == 0 else f"-{a[0]}"),
}


def template(key: str) -> Template:
    """The template for op `key`: hand-written for the ops above, a call into the table for any other."""
    return TEMPLATES.get(key) or _table_call(key)


class _TableRules(dict):
    """Op key -> the table's forward (or local) rule, looked up on first use (the fused losses register late)."""

    def __init__(self, rule: str):
        super().__init__()
        self.rule = rule

    def __missing__(self, key: str) -> Callable:
        self[key] = getattr(ops.lookup(key), self.rule)
        return self[key]


# The names a tape's code may use besides its own variables.
NAMESPACE: dict = {
    "exp": math.exp, "log": math.log, "log1p": math.log1p, "tanh": math.tanh, "fsum": math.fsum,
    "inf": math.inf, "nan": math.nan,
    "power": ops._power, "checked_power": ops._checked_power, "exp_pow": ops.EXP_POW.forward,
    "first_max": ops._first_max,
    "table_forward": _TableRules("forward"), "table_local": _TableRules("local"),
}


def _class_index(t: float, n_classes: int) -> int:
    from .functional import _class_index as checked  # functional imports engine; imported on first use

    return checked(t, n_classes)


NAMESPACE["class_index"] = _class_index


def _is_literal(code: str) -> bool:
    """Whether an operand's code is a number written by `_literal` (else it is a variable)."""
    try:
        float(code.strip("()"))
    except ValueError:
        return False
    return True


def _literal(x: float) -> str:
    """A number as source that evaluates to exactly x (repr round-trips; negatives in parentheses)."""
    text = repr(float(x))
    return f"({text})" if text.startswith("-") else text


def _is_simple(code: str) -> bool:
    return code.isidentifier() or _is_literal(code)


# --- recording ---


class Tape:
    """A recorded graph, replayable on new leaf values.

    leaves: the graph's leaves (nodes without children), in order of first appearance in
        `engine.topological_order(root)`.
    source: the generated Python: one line per node forward, one per edge backward.
    watched: after each run, the values of the nodes passed as `watch` to `compile`.

    A run reads every leaf's `.data` and adds into the `.grad` of the leaves in `wrt` (by default all of
    them). Inner nodes keep the data and grad they had when recorded: their new values exist only inside
    the run (ask for some with `watch`).
    """

    exact = True  # the same floats as backward(), always (see compile's exact)

    def __init__(self, leaves: list[Value], source: str, function: Callable, lines: dict, watched: int):
        self.leaves = tuple(leaves)
        self.source = source
        self.watched: list[float] = [math.nan] * watched
        self._function = function
        self._lines = lines  # line number in source -> (op, operand expressions) of the node it computes

    def run(self) -> float:
        """Forward and backward on the leaves' current data; returns the root's new value.

        Adds into each leaf's grad what `root.backward()` would on a graph rebuilt from these leaf
        values: grad(leaf) += Σ over paths of the product of local derivatives ∂node/∂child."""
        try:
            with RUN_LOCK:
                root, watched = self._function(self.leaves)
        except (ArithmeticError, ValueError) as error:
            self._explain(error)
            raise
        self.watched = list(watched)
        return root

    def _explain(self, error: Exception) -> None:
        """Re-raise an error of a node's forward line as the op table raises it (it names the op and values)."""
        tb = error.__traceback__
        while tb is not None and tb.tb_frame.f_code is not self._function.__code__:
            tb = tb.tb_next
        if tb is None or tb.tb_lineno not in self._lines:
            return
        op, args = self._lines[tb.tb_lineno]
        frame_locals = tb.tb_frame.f_locals
        operands = [float(eval(a, NAMESPACE)) if _is_literal(a) else frame_locals[a] for a in args]
        try:
            op.forward(*operands)
        except (ArithmeticError, ValueError) as table_error:
            raise table_error from None

    def __repr__(self) -> str:
        return f"Tape({len(self.leaves)} leaves, {self.source.count(chr(10)) + 1} lines)"


# backend="auto": a graph of fewer nodes than this is written as Python (it compiles in a few milliseconds and
# reads as a program); a larger one runs level by level with numpy when its levels are wide, AUTO_WIDTH nodes
# or more per array operation on average (a batch of samples side by side), else as Python too (a long chain).
AUTO_NODES = 2000
AUTO_WIDTH = 16


def compile(root: Value, watch: Sequence[Value] = (), wrt: Sequence[Value] | None = None,
            backend: str = "auto", exact: bool = True) -> Tape:
    """Record the graph under `root` for replay (see `Tape`).

    watch: nodes whose values each run reports in `tape.watched` (e.g. a model's outputs).
    wrt: the leaves whose grads a run accumulates (default: every leaf); edges that lead to none are skipped.
    backend: "python" writes one line per node and per edge (`Tape`); "numpy" runs the graph level by level,
        each op at a level as one array operation (`LevelTape`: faster on wide graphs such as a batch of
        samples, slower on long chains, and recorded in milliseconds where Python's compiler takes seconds).
        "auto" (the default) takes Python for small graphs (under AUTO_NODES nodes) and narrow ones, numpy for
        large wide ones. Both give the same floats as `root.backward()`.
    exact: False lets the numpy backend run each grid of dots — a layer over a batch, a convolution's kernels
        over their patches — as matrix products (numpy's @, BLAS), as PyTorch does: its sums are then added in
        BLAS's order, so the floats equal backward()'s to rounding (typically 1e-16 relative; more where terms
        cancel), not bit for bit. Faster on batches (see bench/README.md). The Python backend is always exact.
    A node built by hand (`Value(data, children, local_grads, op)`) has no rule to replay: ValueError.
    """
    if not isinstance(root, Value):
        raise TypeError(f"compile needs a Value, got {type(root).__name__}")
    engine.check_recorded(root, "compile: the root")  # else its tape would replay a constant
    if backend not in ("auto", "python", "numpy"):
        raise ValueError(f"compile backend must be 'auto', 'python' or 'numpy', got {backend!r}")
    _check_exact(exact, backend)
    with engine._cycle_collector_paused():
        order = engine.topological_order(root)
    index = {node: i for i, node in enumerate(order)}
    for node in order:
        if node._prev and node.rule is None:
            raise ValueError(f"cannot compile a node built by hand: op {node.op!r} has no rule in the op table "
                             "(its local derivatives are numbers, not formulas)")
    for i, node in enumerate(watch):
        if node not in index:
            raise ValueError(f"watch[{i}] is not a node of the graph under root")
    leaves = [node for node in order if not node._prev]
    if wrt is None:
        wanted = set(leaves)
    else:
        wanted = set(wrt)
        for i, leaf in enumerate(wrt):
            if leaf not in index or leaf._prev:
                raise ValueError(f"wrt[{i}] is not a leaf of the graph under root")
    if backend == "numpy" or backend == "auto" and len(order) >= AUTO_NODES and _numpy_available():
        from .levels import plan  # numpy is imported by this backend only

        tape = plan(root, order, leaves, wanted, list(watch), exact)
        if backend == "numpy" or tape.width >= AUTO_WIDTH:
            return tape
    return _generate(root, order, index, leaves, wanted, list(watch))


def _check_exact(exact: bool, backend: str) -> None:
    """exact must be a bool, and False only where the numpy backend may run (see `compile`)."""
    if not isinstance(exact, bool):
        raise TypeError(f"exact must be True or False, got {type(exact).__name__}")
    if not exact and backend == "python":
        raise ValueError("exact=False runs grids of dots (a layer over a batch, a convolution) as matrix products, "
                         "which only the numpy backend does; the Python backend is always exact")


def _numpy_available() -> bool:
    try:
        import numpy  # noqa: F401
    except ImportError:
        return False
    return True


def _selected_contribution(key: str, i: int, out: str, args: list[str], g: str) -> str | None:
    """∂out/∂(operand i) · g for an operand the op may not select (derivatives._SELECTED): exactly 0 when it
    does not, also under an infinite g, as backward() sends (not 0·∞ = NaN). None for any other operand."""
    if key not in _SELECTED or _SELECTED[key] not in (None, i, i - len(args)):
        return None
    if key == "relu":
        return f"(0.0 if {args[0]} <= 0.0 else {g})"
    if key == "max":
        return f"({g} if {out}_w == {i} else 0.0)"
    if key == "exp_pow":
        return f"(0.0 if {args[1]} == 0.0 else {args[1]} * power({args[0]}, {args[1]} - 1.0) * {g})"
    return "0.0"  # a cross-entropy's class index


def _generate(root: Value, order: list, index: dict, leaves: list, wanted: set, watch: list) -> Tape:
    leaf_number = {leaf: k for k, leaf in enumerate(leaves)}
    # A node's gradient is needed when some wanted leaf lies below it.
    needs_grad = [False] * len(order)
    for i, node in enumerate(order):
        needs_grad[i] = node in wanted if not node._prev else any(needs_grad[index[c]] for c in node._prev)

    def label(node: Value) -> str:
        return f" {node.label}" if node.label and node.label.isprintable() else ""

    lines = ["def replay(leaves):", "    # read the leaves (tape.leaves, in order)"]
    for k, leaf in enumerate(leaves):
        lines.append(f"    v{index[leaf]} = leaves[{k}].data  # leaf{label(leaf)}")
    for k, leaf in enumerate(leaves):
        if needs_grad[index[leaf]]:
            lines.append(f"    g{index[leaf]} = leaves[{k}].grad")
    lines.append("    # forward: one line per node")
    node_lines: dict[int, tuple] = {}
    operand_code: list[list[str]] = [[]] * len(order)
    for i, node in enumerate(order):
        if not node._prev:
            continue
        op = node.rule
        args = [f"v{index[v]}" if isinstance(v, Value) else _literal(v) for v in node.operands]
        operand_code[i] = args
        lines.append(f"    {template(op.key).forward(f'v{i}', args)}  # {op}{label(node)}")
        node_lines[len(lines)] = (op, args)
    lines.append("    # backward: one line per edge, child.grad += ∂node/∂child · node.grad")
    root_index = index[root]
    if needs_grad[root_index]:
        lines.append(f"    g{root_index} {'+=' if root in leaf_number else '='} 1.0")
    has_grad = {root_index} | {index[leaf] for leaf in leaves}
    for i in range(len(order) - 1, -1, -1):
        node = order[i]
        if not node._prev or not needs_grad[i]:
            continue
        args = operand_code[i]
        node_template = template(node.rule.key)
        for position, operand in enumerate(node.operands):
            if not isinstance(operand, Value) or not needs_grad[index[operand]]:
                continue
            child = index[operand]
            local = node_template.local(position, f"v{i}", args)
            selected = _selected_contribution(node.rule.key, position, f"v{i}", args, f"g{i}")
            if selected is not None:
                contribution, sign = selected, "+"
            elif local == "1.0":
                contribution, sign = f"g{i}", "+"
            elif local == "-1.0":
                contribution, sign = f"g{i}", "-"
            else:
                factor = local if _is_simple(local) else f"({local})"
                contribution, sign = f"{factor} * g{i}", "+"
            if child in has_grad:
                lines.append(f"    g{child} {sign}= {contribution}")
            else:
                has_grad.add(child)
                lines.append(f"    g{child} = {'-' if sign == '-' else ''}{contribution}")
    lines.append("    # the leaves' gradients accumulate")
    for k, leaf in enumerate(leaves):
        if needs_grad[index[leaf]]:
            lines.append(f"    leaves[{k}].grad = g{index[leaf]}")
    watched = ", ".join(f"v{index[node]}" for node in watch)
    lines.append(f"    return v{root_index}, ({watched}{',' if watch else ''})")
    source = "\n".join(lines)
    filename = f"<tape of {len(order)} nodes>"
    namespace = dict(NAMESPACE)
    exec(builtins.compile(source, filename, "exec"), namespace)
    return Tape(leaves, source, namespace["replay"], node_lines, len(watch))
