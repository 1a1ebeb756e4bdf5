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
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from . import engine, ops
from .engine import Value

__all__ = ["Tape", "LevelTape", "compile", "batch_loss", "CompiledStep", "TEMPLATES", "NAMESPACE"]


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


def _dot_forward(out: str, a: list[str]) -> str:
    products = " + ".join(f"{a[i]} * {a[i + 1]}" for i in range(0, len(a) - 1, 2))
    return f"{out} = 0.0 + {products} + {a[-1]}" if products else f"{out} = 0.0 + {a[-1]}"


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
    "sum": Template(lambda o, a: f"{o} = {' + '.join(['0.0', *a])}", lambda i, o, a: "1.0"),
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


def compile(root: Value, watch: Sequence[Value] = (), wrt: Sequence[Value] | None = None,
            backend: str = "python") -> Tape | LevelTape:
    """Record the graph under `root` for replay (see `Tape`).

    watch: nodes whose values each run reports in `tape.watched` (e.g. a model's outputs).
    wrt: the leaves whose grads a run accumulates (default: every leaf); edges that lead to none are skipped.
    backend: "python" writes one line per node and per edge (`Tape`); "numpy" runs the graph level by level,
        each op at a level as one array operation (`LevelTape`: faster on wide graphs such as a batch of
        samples, slower on long chains). Both give the same floats as `root.backward()`.
    A node built by hand (`Value(data, children, local_grads, op)`) has no rule to replay: ValueError.
    """
    if not isinstance(root, Value):
        raise TypeError(f"compile needs a Value, got {type(root).__name__}")
    engine.check_recorded(root, "compile: the root")  # else its tape would replay a constant
    if backend not in ("python", "numpy"):
        raise ValueError(f"compile backend must be 'python' or 'numpy', got {backend!r}")
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
    # A node's gradient is needed when some wanted leaf lies below it.
    needs_grad = [False] * len(order)
    for i, node in enumerate(order):
        needs_grad[i] = node in wanted if not node._prev else any(needs_grad[index[c]] for c in node._prev)
    build = _generate if backend == "python" else _plan_levels
    return build(root, order, index, leaves, needs_grad, list(watch))


def _generate(root: Value, order: list, index: dict, leaves: list, needs_grad: list, watch: list) -> Tape:
    leaf_number = {leaf: k for k, leaf in enumerate(leaves)}

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
            if local == "1.0":
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


# --- the same replay level by level, with numpy ---


def _forward_rows(op, x: np.ndarray) -> np.ndarray:
    """op's forward value for every row of operands, through the table (exact, and its errors)."""
    forward = op.forward
    return np.array([forward(*row) for row in x.tolist()], dtype=float).reshape(len(x))


def _local_rows(op, x: np.ndarray, out: np.ndarray) -> np.ndarray:
    return np.array([op.local(tuple(row), o) for row, o in zip(x.tolist(), out.tolist())], dtype=float)


def _sequential_sum(x: np.ndarray) -> np.ndarray:
    """0.0 + x₀ + x₁ + … per row, added left to right as the table's loop adds them (cumsum is sequential)."""
    return 0.0 + np.cumsum(x, axis=1)[:, -1] if x.shape[1] else np.zeros(len(x))


def _first_max(x: np.ndarray) -> np.ndarray:
    return np.argmax(x, axis=1)  # the first maximum, or the first NaN, as ops._first_max


# Array versions of the hot ops' forward and local rules (each row one node; tested against the table).
# Every other op goes row by row through the table itself.
ARRAY_FORWARD: dict[str, Callable] = {
    "add": lambda x: x[:, 0] + x[:, 1],
    "sub": lambda x: x[:, 0] - x[:, 1],
    "mul": lambda x: x[:, 0] * x[:, 1],
    "div": lambda x: x[:, 0] / x[:, 1],  # zero divisors are sent to the table first, which raises
    "neg": lambda x: -x[:, 0],
    "relu": lambda x: np.where(x[:, 0] <= 0.0, 0.0, x[:, 0]),
    "abs": lambda x: np.abs(x[:, 0]),
    "sum": _sequential_sum,
    "dot": lambda x: _sequential_sum(x[:, 0:-1:2] * x[:, 1:-1:2]) + x[:, -1],
    "max": lambda x: x[np.arange(len(x)), _first_max(x)],
}


def _dot_local(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    local = np.ones_like(x)
    local[:, 0:-1:2], local[:, 1:-1:2] = x[:, 1:-1:2], x[:, 0:-1:2]
    return local


def _max_local(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    local = np.zeros_like(x)
    local[np.arange(len(x)), _first_max(x)] = 1.0
    return local


ARRAY_LOCAL: dict[str, Callable] = {
    "add": lambda x, out: np.ones_like(x),
    "sub": lambda x, out: np.broadcast_to([1.0, -1.0], x.shape),
    "mul": lambda x, out: x[:, ::-1],
    "div": lambda x, out: np.stack([1.0 / x[:, 1], -out / x[:, 1]], axis=1),
    "neg": lambda x, out: -np.ones_like(x),
    "relu": lambda x, out: np.where(x <= 0.0, 0.0, 1.0),
    "abs": lambda x, out: np.where(x > 0.0, 1.0, np.where(x < 0.0, -1.0, 0.0)),
    "sum": lambda x, out: np.ones_like(x),
    "dot": _dot_local,
    "max": _max_local,
}


@np.errstate(all="ignore")  # overflow to inf and NaN go on silently, as with Python floats
def array_forward(op, x: np.ndarray) -> np.ndarray:
    """The forward values of op on each row of x (one node a row)."""
    if op.key not in ARRAY_FORWARD or op.key == "div" and not x[:, 1].all():
        return _forward_rows(op, x)
    return ARRAY_FORWARD[op.key](x)


@np.errstate(all="ignore")
def array_local(op, x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """∂out/∂operand for each row of x: an array of x's shape."""
    rule = ARRAY_LOCAL.get(op.key)
    return _local_rows(op, x, out) if rule is None else rule(x, out)


@dataclass
class _Group:
    """The nodes of one op with one operand count at one level: computed together."""

    op: ops.Op
    out: np.ndarray  # (m,) their slots in the value array
    operands: np.ndarray  # (m, arity) the slots of their operands (numbers have slots too)
    positions: np.ndarray  # flat positions in (m, arity) of the edges whose child needs a grad
    edges: np.ndarray  # those edges' numbers in backward()'s order


@dataclass
class _Level:
    groups: list[_Group]
    targets: np.ndarray  # slots of this level's nodes that need a grad
    bins: np.ndarray  # for bincount: each target once (its starting value), then the target of each incoming edge
    incoming: np.ndarray  # the numbers of the edges into those targets, in backward()'s order


class LevelTape:
    """A recorded graph replayed level by level, each op at a level as one numpy operation over all its nodes
    (a node's level is 1 + its children's highest; leaves are level 0).

    Same interface and the same floats as `Tape`: sums are added left to right, and each gradient starts from
    its old value (leaves) or 0 and receives its contributions in backward()'s order. `source` lists the
    groups, one line per op and level.
    """

    def __init__(self, leaves: list[Value], levels: list[_Level], values: np.ndarray, edge_count: int,
                 root_slot: int, watch_slots: np.ndarray, source: str):
        self.leaves = tuple(leaves)
        self.source = source
        self.watched: list[float] = [math.nan] * len(watch_slots)
        self._levels, self._values, self._edge_count = levels, values, edge_count
        self._root_slot, self._watch_slots = root_slot, watch_slots
        # leaves occupy the first slots, in order; those needing a grad are levels[0].targets
        self._leaf_slots = np.arange(len(leaves))
        self._grad_leaves = [self.leaves[k] for k in levels[0].targets.tolist()]

    def run(self) -> float:
        """Forward and backward on the leaves' current data; returns the root's new value (see `Tape.run`)."""
        values = self._values.copy()
        values[self._leaf_slots] = [leaf.data for leaf in self.leaves]
        grads = np.zeros(len(values))
        edge_values = np.zeros(self._edge_count)
        with np.errstate(all="ignore"):  # overflow to inf and NaN go on silently, as with Python floats
            for level in self._levels[1:]:
                for group in level.groups:
                    values[group.out] = array_forward(group.op, values[group.operands])
            for depth in range(len(self._levels) - 1, -1, -1):
                level = self._levels[depth]
                if len(level.targets):
                    start = [leaf.grad for leaf in self._grad_leaves] if depth == 0 else np.zeros(len(level.targets))
                    start = np.add(start, level.targets == self._root_slot)  # the seed: root.grad += 1
                    weights = np.concatenate([start, edge_values[level.incoming]])
                    grads[level.targets] = np.bincount(level.bins, weights, minlength=len(level.targets))
                for group in level.groups:
                    if len(group.edges):
                        x, out = values[group.operands], values[group.out]
                        contributions = array_local(group.op, x, out) * grads[group.out][:, None]
                        edge_values[group.edges] = contributions.ravel()[group.positions]
        for leaf, g in zip(self._grad_leaves, grads[self._levels[0].targets].tolist()):
            leaf.grad = g
        self.watched = values[self._watch_slots].tolist()
        return float(values[self._root_slot])

    def __repr__(self) -> str:
        return f"LevelTape({len(self.leaves)} leaves, {len(self._levels)} levels)"


def _plan_levels(root: Value, order: list, index: dict, leaves: list, needs_grad: list, watch: list) -> LevelTape:
    # slots: the leaves first (in tape.leaves order), then the inner nodes, then the numbers folded in
    inner = [node for node in order if node._prev]
    slot_of = {node: k for k, node in enumerate(leaves + inner)}
    needs = {node: needs_grad[index[node]] for node in order}
    constants: list[float] = []

    def slot(operand) -> int:
        if isinstance(operand, Value):
            return slot_of[operand]
        constants.append(float(operand))
        return len(order) + len(constants) - 1

    depth = {node: 0 for node in leaves}
    members: dict[tuple, list] = {}
    for node in inner:
        depth[node] = 1 + max(depth[c] for c in node._prev)
        members.setdefault((depth[node], node.rule.key, len(node.operands)), []).append(node)
    top = max(depth.values())
    # number the edges in backward()'s order: nodes in reverse topological order, operands in order
    edge_number: dict[tuple, int] = {}
    incoming: list[list[tuple]] = [[] for _ in range(top + 1)]  # per level: (edge number, child)
    for node in reversed(inner):
        if needs[node]:
            for position, operand in enumerate(node.operands):
                if isinstance(operand, Value) and needs[operand]:
                    edge_number[(node, position)] = len(edge_number)
                    incoming[depth[operand]].append((edge_number[(node, position)], operand))
    groups: list[list[_Group]] = [[] for _ in range(top + 1)]
    for (level, key, arity), nodes in members.items():
        operands = np.array([[slot(v) for v in node.operands] for node in nodes], dtype=np.intp).reshape(-1, arity)
        positions, edges = [], []
        for row, node in enumerate(nodes):
            for position in range(arity):
                if (node, position) in edge_number:
                    positions.append(row * arity + position)
                    edges.append(edge_number[(node, position)])
        groups[level].append(_Group(ops.lookup(key), np.array([slot_of[n] for n in nodes], dtype=np.intp),
                                    operands, np.array(positions, dtype=np.intp), np.array(edges, dtype=np.intp)))
    targets: list[list[Value]] = [[] for _ in range(top + 1)]
    for node in leaves + inner:
        if needs[node]:
            targets[depth[node]].append(node)
    levels = []
    for level in range(top + 1):
        local = {node: k for k, node in enumerate(targets[level])}
        bins = list(range(len(targets[level]))) + [local[child] for _, child in incoming[level]]
        levels.append(_Level(groups[level], np.array([slot_of[n] for n in targets[level]], dtype=np.intp),
                             np.array(bins, dtype=np.intp), np.array([e for e, _ in incoming[level]], dtype=np.intp)))
    values = np.concatenate([np.zeros(len(order)), np.array(constants, dtype=float)])
    source = "\n".join(f"level {level}: {group.op} ×{len(group.out)} ({group.operands.shape[1]} operands each)"
                       for level in range(1, top + 1) for group in groups[level])
    return LevelTape(leaves, levels, values, len(edge_number), slot_of[root],
                     np.array([slot_of[node] for node in watch], dtype=np.intp), source)


# --- training on mini-batches without recording each batch ---


def _leaves_like(x) -> tuple[object, list[Value]]:
    """x (a number or nested lists/arrays of numbers) rebuilt from new leaf Values, and those leaves in order."""
    array = np.asarray(x, dtype=float)
    leaves = [Value(v) for v in array.ravel().tolist()]
    if array.ndim == 0:
        return leaves[0], leaves
    nested = np.array(leaves, dtype=object).reshape(array.shape).tolist()
    return nested, leaves


@dataclass
class _Recording:
    tape: Tape | LevelTape
    data_leaves: list[Value]  # the inputs, then the targets, in batch order
    output_shapes: list  # per sample: None for one Value, else the shape of its nested lists


def batch_loss(model: Callable, xb: Sequence, yb: Sequence, loss_fn: Callable, penalty: Callable | None,
               params: Sequence[Value]) -> tuple[Value, list]:
    """L = (1/B)·Σ loss_fn(model(x), target) over a mini-batch (+ penalty(params)); returns (L, the outputs)."""
    outputs = [model(x) for x in xb]
    loss = engine.sum(loss_fn(s, t) for s, t in zip(outputs, yb)) / len(xb)
    if penalty is not None:
        loss = loss + penalty(params)
    return loss, outputs


class CompiledStep:
    """One training step on a mini-batch, recorded once per batch size and replayed after.

    `step(xb, yb)` does what `train.forward_backward` does —
    L = (1/B)·Σ loss_fn(model(x), target) (+ penalty(params)), then adds ∂L/∂p into every parameter's grad —
    and returns (L, outputs) with each sample's output as a float (or a list of floats). The first batch of
    each size is run through the model with its inputs and targets as leaf Values and the graph is compiled;
    later batches of that size only set those leaves' data and replay. So the model must make the same graph
    for every batch (no Python branches on the data), and loss_fn must accept a Value target
    (F.cross_entropy, F.binary_cross_entropy, F.mse and hinge losses written with Values do).
    `backend` is passed to `compile`: "numpy" (the default here) runs a batch's samples side by side, level by
    level, and is the faster one on batches of more than a few samples; "python" on long narrow graphs.
    """

    def __init__(self, model: Callable, loss_fn: Callable, penalty: Callable | None = None,
                 params: Sequence[Value] | None = None, backend: str = "numpy"):
        self.model, self.loss_fn, self.penalty, self.backend = model, loss_fn, penalty, backend
        if params is None:
            params = model.parameters()
        self.params = list(params)
        self._recordings: dict[int, _Recording] = {}

    def tape(self, batch_size: int) -> Tape | LevelTape:
        """The tape recorded for batches of `batch_size` samples, to print or inspect.

        Its root is the batch loss L = (1/B)·Σ loss_fn(model(x), target) (+ penalty(params)) with B = batch_size.
        A size is recorded by the first call with a batch of that size; before that there is no tape: KeyError.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int):
            raise TypeError(f"batch_size must be an int, got {type(batch_size).__name__}")
        if batch_size not in self._recordings:
            recorded = sorted(self._recordings) or "none yet"
            raise KeyError(f"no tape recorded for batch size {batch_size} (recorded sizes: {recorded}); "
                           "call the step on a batch of that size first")
        return self._recordings[batch_size].tape

    def _record(self, xb: Sequence, yb: Sequence) -> _Recording:
        inputs, targets, data_leaves = [], [], []
        for x in xb:
            nested, leaves = _leaves_like(x)
            inputs.append(nested)
            data_leaves += leaves
        for t in yb:
            nested, leaves = _leaves_like(t)
            targets.append(nested)
            data_leaves += leaves
        with engine.enable_grad():  # the step records its own graph, also inside no_grad()
            try:
                outputs = [self.model(x) for x in inputs]
            except TypeError as error:
                raise TypeError(f"compiled training needs a model that accepts Value inputs: {error}") from error
            computed = iter(outputs)  # batch_loss takes the outputs just computed, in order
            try:
                loss, _ = batch_loss(lambda x: next(computed), inputs, targets, self.loss_fn, self.penalty,
                                     self.params)
            except TypeError as error:
                raise TypeError(f"compiled training needs a loss_fn that accepts a Value target: {error}") from error
        watch, shapes = [], []
        for output in outputs:  # a Value, or nested lists of them (a Conv2d gives y[o][i][j])
            nested = np.array(output, dtype=object)
            watch += nested.ravel().tolist()
            shapes.append(None if isinstance(output, Value) else nested.shape)
        data = set(data_leaves)
        grads_for = [leaf for leaf in engine.topological_order(loss) if not leaf._prev and leaf not in data]
        tape = compile(loss, watch=watch, wrt=grads_for, backend=self.backend)
        return _Recording(tape, data_leaves, shapes)

    def __call__(self, xb: Sequence, yb: Sequence) -> tuple[float, list]:
        if len(xb) != len(yb) or not len(xb):
            raise ValueError(f"a batch needs as many targets as samples, at least one: got {len(xb)} and {len(yb)}")
        recording = self._recordings.get(len(xb))
        if recording is None:
            recording = self._recordings[len(xb)] = self._record(xb, yb)
        values = np.concatenate([np.asarray(xb, dtype=float).ravel(), np.asarray(yb, dtype=float).ravel()])
        if len(values) != len(recording.data_leaves):
            raise ValueError(f"this batch has {len(values)} numbers in its inputs and targets; the batch of the "
                             f"same size that was recorded had {len(recording.data_leaves)}")
        for leaf, v in zip(recording.data_leaves, values.tolist()):
            leaf.data = v
        loss = recording.tape.run()
        watched, outputs, start = recording.tape.watched, [], 0
        for shape in recording.output_shapes:
            if shape is None:
                outputs.append(watched[start])
                start += 1
            else:
                size = math.prod(shape)
                outputs.append(np.array(watched[start:start + size]).reshape(shape).tolist())
                start += size
        return loss, outputs
