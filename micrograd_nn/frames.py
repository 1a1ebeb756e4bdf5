"""Step-through frames: the forward and the backward pass one node at a time, as a hand derivation.

A backward frame is one line of the course notes' chain rule per edge of the node being processed:

    x1.grad += ∂n/∂x1 × n.grad = w1 (-3) × 0.5 = -1.5   → x1.grad = -1.5

Frames store only what changed at their step (the node, and for each edge the local derivative, the
upstream gradient, the contribution and the child's new total), so all the frames of a graph take memory
linear in its size. The state at step k (every gradient known so far) is rebuilt by replaying the steps
before it. Gradients are computed on the side, as a fresh `backward()` would compute them: no `.grad`
is ever changed.

This module needs no Graphviz: the ledger text, the drawings, GIFs and practice mode all read these frames.

Numbers (`fmt`): 4 significant digits, trailing zeros dropped as in the `g` format; scientific notation
when 0 < |x| < 1e-3 or |x| ≥ 1e4 (`1.2e-07`, `-3.142e+05`), so a non-zero number never prints as 0.

Names (`node_names`): a node's label where it has one (or, given a module, its name in `named_parameters()`,
and `<neuron>.z` / `<neuron>.a` for a neuron's sum and activation: `model_names`); otherwise its op's key and
a counter in topological order (`add1`, `mul2`, `tanh1`, `dot3`, `leaf1` for an unlabelled leaf), skipping
names a label already uses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from .engine import Value, topological_order

__all__ = ["fmt", "node_names", "model_names", "Edge", "Frame", "Trace", "forward_steps", "backward_steps"]

SCIENTIFIC_BELOW = 1e-3
SCIENTIFIC_FROM = 1e4
LONG_FORMULA = 7  # operands; a backward step's header then names the op only


def fmt(x: float) -> str:
    """x with 4 significant digits: `0.7071`, `-1.5`, `6.881`, `1.2e-07`, `2.5e+04` (never `0.0000` for x ≠ 0)."""
    if math.isnan(x) or math.isinf(x):
        return str(x)
    if x == 0.0:
        return "0"
    if SCIENTIFIC_BELOW <= abs(x) < SCIENTIFIC_FROM:
        text = f"{x:.4g}"
        if "e" not in text:  # rounding may carry to 1e+04; that stays scientific
            return text
    mantissa, exponent = f"{x:.3e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{exponent}"


def fmt_fixed(x: float | None, width: int = 9) -> str:
    """fmt(x) right-aligned in `width` characters; blanks of the same width where x is not known yet."""
    return " " * width if x is None else fmt(x).rjust(width)


def _op_key(node: Value) -> str:
    """The op's key (`mul`, `tanh`, …); for a hand-built op its text reduced to letters and digits."""
    if node.rule is not None:
        return node.rule.key
    if not node._prev:
        return "leaf"
    return re.sub(r"[^A-Za-z0-9]", "", node._op)[:12] or "op"


def parameter_names(module) -> dict:
    """{parameter Value: dotted name} from a module's `named_parameters()` (or {} for anything else)."""
    named = getattr(module, "named_parameters", None)
    return {p: name for name, p in named()} if callable(named) else {}


def module_of(name: str) -> str:
    """The module part of a parameter's dotted name: `layers.0.neurons.3.w.1` → `layers.0.neurons.3`."""
    parts = name.split(".")
    while parts and parts[-1].isdigit():
        parts.pop()
    return ".".join(parts[:-1])


ACTIVATIONS = ("tanh", "relu", "sigmoid")


def model_names(order: list[Value], module) -> dict:
    """Names from a module: its parameters' dotted names, and for a neuron applied once in the graph, its
    z = Σ wᵢxᵢ + b as `<neuron>.z` and its activation as `<neuron>.a` (`layers.1.neurons.3.a`)."""
    given = parameter_names(module)
    found: dict = {}  # neuron -> the dot nodes made from its parameters
    for node in order:
        if node.rule is not None and node.rule.key == "dot":
            modules = {module_of(given[c]) for c in node._prev if c in given}
            if len(modules) == 1:
                found.setdefault(modules.pop(), []).append(node)
    users: dict = {}
    for node in order:
        for child in node._prev:
            users.setdefault(child, []).append(node)
    for neuron, zs in found.items():
        if len(zs) != 1 or not neuron:  # applied to several samples: no single name fits
            continue
        z = zs[0]
        given.setdefault(z, f"{neuron}.z")
        after = users.get(z, [])
        if len(after) == 1 and after[0].rule is not None and after[0].rule.key in ACTIVATIONS:
            given.setdefault(after[0], f"{neuron}.a")
    return given


def node_names(order: list[Value], given: dict | None = None) -> dict:
    """A name per node: `given[node]`, else its label, else op key + counter in `order` (`mul1`, `tanh2`)."""
    given = given or {}
    names, taken, counters = {}, set(), {}
    for node in order:
        name = given.get(node) or node.label
        if name:
            names[node] = name
            taken.add(name)
    for node in order:
        if node in names:
            continue
        key = _op_key(node)
        count = counters.get(key, 0)
        while True:
            count += 1
            name = f"{key}{count}"
            if name not in taken:
                break
        counters[key] = count
        names[node] = name
        taken.add(name)
    return names


class Edge(NamedTuple):
    """One use of the chain rule: child.grad += local × upstream (= contribution) → total_after."""

    child: Value
    position: int  # index of the child in node.operands
    local: float  # ∂node/∂child
    upstream: float  # node.grad, complete when the node is processed
    contribution: float  # local × upstream
    total_after: float  # child.grad after this edge


class Trace:
    """What every frame of one pass shares: the graph in order, node names and how many nodes use each node."""

    def __init__(self, root: Value, direction: str, names: dict | None = None):
        if not isinstance(root, Value):
            raise TypeError(f"{direction} steps need a Value as root, got {type(root).__name__}: {root!r}")
        self.root = root
        self.direction = direction
        self.order = topological_order(root)
        self.names = names if names is not None else node_names(self.order)
        self.uses: dict = {}
        for node in self.order:
            for child in node._prev:
                self.uses[child] = self.uses.get(child, 0) + 1
        self.frames: list[Frame] = []

    def name(self, node: Value) -> str:
        return self.names.get(node) or node.label or "?"

    def grads_at(self, step: int) -> dict:
        """Every gradient known after backward step `step`: {node: partial or complete grad}."""
        grads = {self.root: 1.0}
        for frame in self.frames[:step + 1]:
            for edge in frame.edges:
                grads[edge.child] = edge.total_after
        return grads

    def data_at(self, step: int) -> dict:
        """Every value computed up to forward step `step`."""
        return {frame.node: frame.value for frame in self.frames[:step + 1]}


def _positions(node: Value) -> list[int]:
    """For child k of node.children, its index among node.operands (the k-th Value there)."""
    positions = [i for i, v in enumerate(node.operands) if isinstance(v, Value)]
    return positions if len(positions) == len(node._prev) else list(range(len(node._prev)))


class Frame:
    """One step of a pass. Backward: `node`'s gradient (`value`) is complete and is pushed along `edges`.
    Forward: `node.data` (`value`) has just been computed from its operands."""

    __slots__ = ("step", "node", "value", "edges", "trace")

    def __init__(self, step: int, node: Value, value: float, edges: tuple, trace: Trace):
        self.step, self.node, self.value, self.edges, self.trace = step, node, value, edges, trace

    @property
    def direction(self) -> str:
        return self.trace.direction

    @property
    def root(self) -> Value:
        return self.trace.root

    @property
    def name(self) -> str:
        return self.trace.name(self.node)

    @property
    def grads(self) -> dict:
        """{node: gradient} for every node reached so far (backward frames; rebuilt by replaying steps)."""
        return self.trace.grads_at(self.step) if self.direction == "backward" else {}

    @property
    def data(self) -> dict:
        """{node: value}: every value computed so far (forward), or every value in the graph (backward)."""
        if self.direction == "forward":
            return self.trace.data_at(self.step)
        return {node: node.data for node in self.trace.order}

    def __repr__(self) -> str:
        return f"Frame({self.direction} step {self.step}: {self.name})"

    def lines(self) -> list[str]:
        """The frame as a hand derivation: a header, then one line per edge (backward)."""
        if self.direction == "forward":
            return [f"step {self.step}: {forward_equation(self.node, self.trace.name)}"]
        name = self.name
        if not self.node._prev:
            return [f"step {self.step}: {name} is a leaf: its gradient {name}.grad = {fmt(self.value)} is complete"]
        formula = _formula(self.node, operand_names(self.node, self.trace.name))
        if len(self.node.operands) > LONG_FORMULA:  # the edge lines below name every operand
            formula = f"{self.node._op} of {len(self.node.operands)} operands" if self.node.rule is None or \
                self.node.rule.key != "dot" else f"Σᵢ wᵢxᵢ + b over {len(self.node.operands) // 2} terms"
        head = (f"step {self.step}: {name} = {formula}: {name}.grad = {fmt(self.value)} is complete; "
                "the chain rule passes it on:")
        return [head] + [self.edge_line(edge) for edge in self.edges]

    def edge_line(self, edge: Edge) -> str:
        """`x1.grad += ∂n/∂x1 × n.grad = w1 (-3) × 0.5 = -1.5   → x1.grad = -1.5`."""
        node, names = self.node, self.trace.name
        child, parent = names(edge.child), names(node)
        local = fmt(edge.local)
        rule = local_rule_text(node, edge.position, names)
        same = rule is not None and rule.replace("−", "-") == local  # a rule that is just a number: say it once
        factor = local if rule is None or same else f"{rule} ({local})"
        upstream = fmt(edge.upstream)
        upstream = f"({upstream})" if upstream.startswith("-") else upstream
        line = (f"{child}.grad += ∂{parent}/∂{child} × {parent}.grad = {factor} × {upstream} = "
                f"{fmt(edge.contribution)}   → {child}.grad = {fmt(edge.total_after)}")
        uses = self.trace.uses.get(edge.child, 1)
        if uses > 1:  # several nodes add into this gradient: show what it held before
            before = edge.total_after - edge.contribution
            line += f"  (running total, was {fmt(before)}: {child} is used {uses} times)"
        return line

    def describe(self) -> str:
        """What this step did. Backward through a node with children: one line per edge, naming the child and
        the chain rule as numbers (see `edge_line`); a leaf or a forward step: one line. `text()` adds the
        step's header above the edge lines."""
        head, *edges = self.lines()
        return "\n".join(edges) if edges else head

    def text(self) -> str:
        """The frame as the ledger prints it: the header, then each edge's line indented."""
        head, *edges = self.lines()
        return "\n".join([head] + ["  " + line for line in edges])


def operand_names(node: Value, names) -> list[str]:
    """Names of the operands: a Value's name, a folded number as the number."""
    return [names(v) if isinstance(v, Value) else fmt(v) for v in node.operands]


def local_rule_text(node: Value, position: int, names) -> str | None:
    """∂node/∂(operand `position`) as written by hand (from the op table), or None for a hand-built op."""
    if node.rule is None:
        return None
    try:
        return node.rule.rule_text(position, operand_names(node, names), names(node))
    except (IndexError, KeyError, ValueError):
        return None


def _formula(node: Value, parts: list[str]) -> str:
    """The op written out over operand texts `parts` (names or numbers), as the op table writes it."""
    return node.rule.write(parts) if node.rule is not None else f"{node._op}({', '.join(parts)})"


def forward_equation(node: Value, names) -> str:
    """`n = x1·w1 = 2 × -3 = -6`; `o = tanh(n) = tanh(0.8814) = 0.7071`; a dot as Σ wᵢxᵢ + b."""
    name = names(node)
    if not node._prev:
        return f"{name} = {fmt(node.data)} (a leaf: given, not computed)"
    numbers = [fmt(v.data if isinstance(v, Value) else v) for v in node.operands]
    symbolic = _formula(node, operand_names(node, names))
    infix = node.rule is not None and node.rule.written is not None  # "-3" needs brackets inside "a·(-3)"
    numeric = _formula(node, [f"({n})" if infix and n.startswith("-") else n for n in numbers]).replace("·", " × ")
    if node.rule is not None and node.rule.key == "dot":
        symbolic = "Σᵢ wᵢxᵢ + b = " + symbolic
    return f"{name} = {symbolic} = {numeric} = {fmt(node.data)}"


def forward_steps(root: Value, names: dict | None = None) -> Iterator[Frame]:
    """One frame per node in evaluation order (children before parents): node.data = op(operands)."""
    trace = Trace(root, "forward", names)
    for step, node in enumerate(trace.order):
        frame = Frame(step, node, node.data, (), trace)
        trace.frames.append(frame)
        yield frame


def backward_steps(root: Value, names: dict | None = None) -> Iterator[Frame]:
    """One frame per node in backprop order: the root first (grad 1), then each node once its grad is complete.

    At each node n and each child c: c.grad += ∂n/∂c × n.grad. The gradients are computed on the side, as a
    fresh backward() would (every grad from zero, the root seeded with 1); no Value's `.grad` is touched.
    """
    trace = Trace(root, "backward", names)
    grads = {root: 1.0}
    for step, node in enumerate(reversed(trace.order)):
        upstream = grads.get(node, 0.0)
        edges = []
        for child, local, position in zip(node._prev, node.local_grads, _positions(node)):
            contribution = local * upstream
            total = grads.get(child, 0.0) + contribution
            grads[child] = total
            edges.append(Edge(child, position, local, upstream, contribution, total))
        frame = Frame(step, node, upstream, tuple(edges), trace)
        trace.frames.append(frame)
        yield frame


def replay(frames: Iterable[Frame]) -> Iterator[tuple[Frame, dict, set]]:
    """(frame, numbers known, nodes finished) after each frame, accumulated in one pass: for drawing.

    Backward: numbers are gradients (the root's 1 first); forward: values computed so far. The dict and set
    are updated in place and shared between steps: copy them to keep one.
    """
    known: dict = {}
    finished: set = set()
    for frame in frames:
        if frame.direction == "backward":
            known.setdefault(frame.root, 1.0)
            for edge in frame.edges:
                known[edge.child] = edge.total_after
        else:
            known[frame.node] = frame.value
        finished.add(frame.node)
        yield frame, known, finished
