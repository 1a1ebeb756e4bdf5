"""Step-through frames: the forward and the backward pass one node at a time, as a hand derivation.

A backward frame is one line of the course notes' chain rule per edge of the node being processed, the
rule first with names, then with the numbers put in:

    x1.grad += ∂n/∂x1 × n.grad = w1 (−3) × 0.5 = −1.5   → x1.grad = −1.5
    n.grad += ∂o/∂n × o.grad = (1 − o²) × 1 = (1 − 0.7071²) × 1 = 0.5   → n.grad = 0.5

A tangent frame (forward mode) is the same chain rule read the other way, one line per operand:

    ṅ += ∂n/∂x1 × ẋ1 = w1 (−3) × 1 = −3   → ṅ = −3

Frames store only what changed at their step (the node, and for each edge the local derivative, the
upstream gradient, the contribution and the new total), so all the frames of a graph take memory linear
in its size. The state at step k (every gradient known so far) is rebuilt by replaying the steps before
it. Gradients are computed on the side, as a fresh `backward()` would compute them: no `.grad` is ever
changed.

This module needs no Graphviz: the ledger text, the drawings, GIFs and practice mode all read these frames.

Numbers (`fmt`): 4 significant digits, trailing zeros dropped as in the `g` format; scientific notation
when 0 < |x| < 1e-3 or |x| ≥ 1e4 (`1.2e-07`, `-3.142e+05`), so a non-zero number never prints as 0. The
ledger writes the same digits with one minus sign, U+2212, for negative numbers and subtraction alike
(`−1.5`, `1 − o²`), and a negative number in brackets wherever it is an operand (`(−3) × 0.5`, `x − (−3)`);
drawings keep `fmt`'s ASCII. Where the shown (rounded) operands do not give the shown result, the ledger
writes `≈` instead of `=`: `n = x1w1x2w2 + b = (−6) + 6.881 ≈ 0.8814` (b is 6.88137…, so n is 0.88137…).

Names (`node_names`, `model_names`, in `names`): a node's label, a module's names for its parts (with
notation="layer" the textbook's `W[2]₀,₁`), else its op and a counter (`mul1`, `tanh2`).
"""

from __future__ import annotations

import math
import numbers
import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from .engine import Value, topological_order
from .names import ACTIVATIONS, layer_name, model_names, module_of, node_names, parameter_names

__all__ = ["fmt", "fmt_ledger", "node_names", "model_names", "layer_name", "parameter_names", "module_of",
           "ACTIVATIONS", "Edge", "Frame", "Trace", "forward_steps", "backward_steps", "tangent_steps", "replay"]

SCIENTIFIC_BELOW = 1e-3
SCIENTIFIC_FROM = 1e4
LONG_FORMULA = 7  # operands; a step's header then names the op only
MINUS = "−"  # U+2212: the ledger's one minus sign


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


def fmt_ledger(x: float) -> str:
    """fmt(x) as the ledger writes it, with the minus sign U+2212: `−1.5`, `−1.2e−07`."""
    return fmt(x).replace("-", MINUS)


def operand_text(x: float) -> str:
    """A number as an operand: in brackets when negative, `(−3)`, so `x · (−1)` never reads `x·-1`."""
    text = fmt_ledger(x)
    return f"({text})" if text.startswith(MINUS) else text


def _shown(x: float) -> float:
    """The number as the ledger shows it (4 significant digits)."""
    return float(fmt(x))


def _equals(shown_result: float, exact: float) -> str:
    """'=' where the shown operands give the shown result, else '≈' (rounding made them disagree)."""
    return "=" if fmt(shown_result) == fmt(exact) else "≈"


LONG_SUM = 12  # contributions; more are summed in words


def _sum_text(parts: list[float], total: float) -> str:
    """`1 + 3 + 3 = 7`; `(−6) + 6.881 ≈ 0.8814` when the shown parts do not add up to the shown total."""
    if len(parts) > LONG_SUM:
        return f"the sum of its {len(parts)} contributions = {fmt_ledger(total)}"
    terms = " + ".join(operand_text(p) for p in parts)
    return f"{terms} {_equals(math.fsum(_shown(p) for p in parts), total)} {fmt_ledger(total)}"


def dotted(name: str) -> str:
    """The tangent of a node, written with a dot: `ẋ1`, `ṅ`; a longer name in brackets, `(add2)˙`."""
    if re.fullmatch(r"[^\W\d_][\d₀-₉']*", name):  # one letter: the dot goes on it (precomposed where Unicode has it)
        return unicodedata.normalize("NFC", name[0] + "\u0307") + name[1:]
    return f"({name})˙"


class Edge(NamedTuple):
    """One use of the chain rule along the edge node → child.

    Backward: child.grad += local × upstream (= contribution) → total_after, where upstream is node.grad.
    Tangent: ṅode += local × upstream (= contribution) → total_after, where upstream is the child's tangent ċ.
    """

    child: Value
    position: int  # index of the child in node.operands
    local: float  # ∂node/∂child
    upstream: float  # node.grad (backward) or the child's tangent (tangent)
    contribution: float  # local × upstream
    total_after: float  # child.grad (backward) or node's tangent (tangent) after this edge
    name: str = ""  # the child's name in the ledger

    def __repr__(self) -> str:
        return (f"Edge({self.name or self.child.label or '?'}: local={fmt(self.local)}, upstream={fmt(self.upstream)}, "
                f"contribution={fmt(self.contribution)}, total_after={fmt(self.total_after)})")


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
        self.arrivals: dict = {}  # backward: every contribution to a node used several times, in order
        self.tangents: dict = {}  # tangent: the tangents given for leaves
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
        """Every value (forward) or tangent (tangent) computed up to step `step`."""
        return {frame.node: frame.value for frame in self.frames[:step + 1]}


def _positions(node: Value) -> list[int]:
    """For child k of node.children, its index among node.operands (the k-th Value there)."""
    positions = [i for i, v in enumerate(node.operands) if isinstance(v, Value)]
    return positions if len(positions) == len(node._prev) else list(range(len(node._prev)))


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


class Frame:
    """One step of a pass. Backward: `node`'s gradient (`value`) is complete and is pushed along `edges`.
    Forward: `node.data` (`value`) has just been computed from its operands. Tangent: the node's tangent
    (`value`) is the sum over `edges` of ∂node/∂child × the child's tangent."""

    __slots__ = ("step", "node", "value", "edges", "trace")

    def __init__(self, step: int, node: Value, value: float, edges: tuple, trace: Trace):
        self.step, self.node, self.value, self.edges, self.trace = step, node, value, edges, trace

    @property
    def direction(self) -> str:
        """"forward", "backward" or "tangent"."""
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
    def tangents(self) -> dict:
        """{node: tangent} for every node reached so far (tangent frames)."""
        return self.trace.data_at(self.step) if self.direction == "tangent" else {}

    @property
    def data(self) -> dict:
        """{node: value}: every value computed so far (forward), or every value in the graph (otherwise)."""
        if self.direction == "forward":
            return self.trace.data_at(self.step)
        return {node: node.data for node in self.trace.order}

    def __repr__(self) -> str:
        return f"Frame({self.direction} step {self.step}: {self.name})"

    def _formula(self) -> str:
        node = self.node
        if len(node.operands) > LONG_FORMULA:  # the edge lines below name every operand
            if node.rule is not None and node.rule.key == "dot":
                return f"Σᵢ wᵢxᵢ + b over {len(node.operands) // 2} terms"
            return f"{node._op} of {len(node.operands)} operands"
        return _formula(node, operand_names(node, self.trace.name))

    def lines(self) -> list[str]:
        """The frame as a hand derivation: a header, then one line per edge (backward and tangent)."""
        name, step = self.name, self.step
        if self.direction == "forward":
            return [f"step {step}: {forward_equation(self.node, self.trace.name)}"]
        if self.direction == "tangent":
            tangent = dotted(name)
            if not self.node._prev:
                given = "given" if self.node in self.trace.tangents else "not in tangents: held fixed"
                return [f"step {step}: {name} is a leaf: {tangent} = {fmt_ledger(self.value)} ({given})"]
            head = (f"step {step}: {name} = {self._formula()}: {tangent} = Σ ∂{name}/∂c × ċ over its operands c "
                    f"= {fmt_ledger(self.value)}")
            written = _Written(self.node, self.trace.name)
            return [head] + [self.edge_line(edge, written) for edge in self.edges]
        grad = f"{name}.grad = {self._total_text()}"
        if not self.node._prev:
            return [f"step {step}: {name} is a leaf: its gradient {grad} is complete"]
        head = f"step {step}: {name} = {self._formula()}: {grad} is complete; the chain rule passes it on:"
        written = _Written(self.node, self.trace.name)
        return [head] + [self.edge_line(edge, written) for edge in self.edges]

    def _total_text(self) -> str:
        """The node's gradient, as the sum of what reached it when that was more than one contribution."""
        arrived = self.trace.arrivals.get(self.node)
        if self.node is self.root or not arrived or len(arrived) < 2:
            return fmt_ledger(self.value)
        return _sum_text(arrived, self.value)

    def _chain(self, edge: Edge, written: _Written) -> str:
        """The local derivative as a rule, with its numbers put in, times upstream: `w1 (−3) × 0.5 = −1.5` where
        the rule is an operand, `(1 − o²) × 1 = (1 − 0.7071²) × 1 = 0.5` where it is a formula."""
        node = self.node
        upstream = operand_text(edge.upstream)
        rule, numeric = local_rule_text(node, edge.position, self.trace.name, written.names), None
        if rule is not None:
            numeric = local_rule_numbers(node, edge.position, edge.local, written.values, written.numbers)
        shown_local = written.shown_local(edge.position, edge.local)
        sign = _equals(shown_local * _shown(edge.upstream), edge.contribution)
        result = f"{sign} {fmt_ledger(edge.contribution)}"
        if rule is None or numeric is None:
            return f"{operand_text(edge.local)} × {upstream} {result}"
        if NAME.fullmatch(rule) and _number_text(numeric):  # one operand: its value beside its name
            return f"{rule} ({numeric.strip('()')}) × {upstream} {result}"
        stages = [_as_factor(rule), _as_factor(numeric)]
        if stages[0] == stages[1]:  # a rule that is a number ('1'): say it once
            stages.pop()
        return " = ".join(f"{stage} × {upstream}" for stage in stages) + f" {result}"

    def edge_line(self, edge: Edge, written: _Written | None = None) -> str:
        """`x1.grad += ∂n/∂x1 × n.grad = w1 (−3) × 0.5 = −1.5   → x1.grad = −1.5` (backward);
        `ṅ += ∂n/∂x1 × ẋ1 = w1 (−3) × 1 = −3   → ṅ = −3` (tangent). `written`: the node's operands written
        out, shared by all its edges (made here when not given)."""
        node, names = self.node, self.trace.name
        written = written or _Written(node, names)
        child, parent = names(edge.child), names(node)
        which = ""
        if node._prev.count(edge.child) > 1:  # a * a: tell the two edges apart
            which = f" ({_ordinal(edge.position + 1)} operand)"
        partial = f"∂{parent}/∂{child}{which}"
        if self.direction == "tangent":
            target = dotted(parent)
            line = (f"{target} += {partial} × {dotted(child)} = {self._chain(edge, written)}   "
                    f"→ {target} = {fmt_ledger(edge.total_after)}")
            return line + self._note(edge)
        line = (f"{child}.grad += {partial} × {parent}.grad = {self._chain(edge, written)}   "
                f"→ {child}.grad = {fmt_ledger(edge.total_after)}")
        uses = self.trace.uses.get(edge.child, 1)
        if uses > 1:  # several nodes add into this gradient: show what it held before
            before = edge.total_after - edge.contribution
            line += f"  (running total, was {fmt_ledger(before)}: {child} is used {uses} times)"
        return line + self._note(edge)

    def _note(self, edge: Edge) -> str:
        """What the rule's numbers need besides the operands: `  (pᵢ − [i = t] at i = 2, t = 2)` for cross-entropy."""
        rule = self.node.rule
        if rule is None or rule.note is None:
            return ""
        values = [v.data if isinstance(v, Value) else v for v in self.node.operands]
        return f"  ({rule.note(edge.position, values)})"

    def describe(self) -> str:
        """What this step did. Backward (or tangent) through a node with children: one line per edge, naming the
        child and the chain rule as numbers (see `edge_line`); a leaf or a forward step: one line. `text()`
        adds the step's header above the edge lines."""
        head, *edges = self.lines()
        return "\n".join(edges) if edges else head

    def text(self) -> str:
        """The frame as the ledger prints it: the header, then each edge's line indented."""
        head, *edges = self.lines()
        return "\n".join([head] + ["  " + line for line in edges])


NAME = re.compile(r"(?![\d.])[\w.\[\],₀-₉']+")  # a node's name (x1, layers.0.neurons.1.w.0, W[2]₀,₁), not a number


def _number_text(text: str) -> bool:
    return re.fullmatch(r"\(?−?[\d.]+(?:e[+−]\d+)?\)?|\(?−?(?:inf|nan)\)?", text) is not None


class _Written:
    """A node's operands written out once for all its edge lines: names, values, values as operand texts, and
    the local derivatives the shown (rounded) numbers give, which decide between `=` and `≈`."""

    def __init__(self, node: Value, names):
        self.node = node
        self.names = operand_names(node, names)
        self.values = [v.data if isinstance(v, Value) else v for v in node.operands]
        self.numbers = [operand_text(v) for v in self.values] if node.rule is not None else None
        self._shown_locals: tuple | None = None

    def shown_local(self, position: int, local: float) -> float:
        """∂node/∂(operand `position`) computed from the numbers as shown (the rule on rounded operands)."""
        rule = self.node.rule
        if rule is not None and self._shown_locals is None:
            try:
                self._shown_locals = tuple(rule.local(tuple(_shown(v) for v in self.values), _shown(self.node.data)))
            except (ArithmeticError, ValueError, TypeError):
                self._shown_locals = ()
        if self._shown_locals and position < len(self._shown_locals):
            return float(self._shown_locals[position])
        return _shown(local)


def _as_factor(text: str) -> str:
    """A rule as a factor of a product: in brackets when it is negative, or a sum or difference outside any
    bracket (`(1 − o²) × 1`, but `a·(1 − a) × 1`)."""
    depth, top_level = 0, text.startswith(MINUS)
    for k, char in enumerate(text):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif depth == 0 and char in "+−" and text[k - 1:k] == " " == text[k + 1:k + 2]:  # binary, not a sign
            top_level = True
    return f"({text})" if top_level else text


def operand_names(node: Value, names) -> list[str]:
    """Names of the operands: a Value's name, a folded number as the number (in brackets when negative)."""
    return [names(v) if isinstance(v, Value) else operand_text(v) for v in node.operands]


def local_rule_text(node: Value, position: int, names, operands: list[str] | None = None) -> str | None:
    """∂node/∂(operand `position`) as written by hand (from the op table), or None for a hand-built op.
    `operands`: the operand names, if already written (`operand_names`)."""
    if node.rule is None:
        return None
    try:
        return node.rule.rule_text(position, operands or operand_names(node, names), names(node))
    except (IndexError, KeyError, ValueError):
        return None


def local_rule_numbers(node: Value, position: int, local: float, values: list[float] | None = None,
                       texts: list[str] | None = None) -> str | None:
    """The same rule with the numbers put in: `1 − 0.7071²`, `(−3)`, `0.2 − 1`; products written with ×.
    `values`, `texts`: the operands' numbers and those written as operands, if already at hand."""
    if node.rule is None:
        return None
    if values is None:
        values = [v.data if isinstance(v, Value) else v for v in node.operands]
    try:
        text = node.rule.rule_numbers(position, values, node.data, local, operand_text, texts)
    except (IndexError, KeyError, ValueError):
        return None
    # a negative number alone inside brackets needs no second pair: sign(−2), [−2 > 0], not sign((−2)), [(−2) > 0]
    text = re.sub(r"\((\(−[^()]*\))\)", r"\1", text)
    return re.sub(r"\[\((−[^()]*)\)", r"[\1", text).replace("·", " × ")


def _formula(node: Value, parts: list[str]) -> str:
    """The op written out over operand texts `parts` (names or numbers), as the op table writes it."""
    return node.rule.write(parts) if node.rule is not None else f"{node._op}({', '.join(parts)})"


def forward_equation(node: Value, names) -> str:
    """`n = x1·w1 = 2 × (−3) = −6`; `o = tanh(n) = tanh(0.8814) = 0.7071`; a dot as Σ wᵢxᵢ + b; `≈` where
    the shown operands do not give the shown value."""
    name = names(node)
    if not node._prev:
        return f"{name} = {fmt_ledger(node.data)} (a leaf: given, not computed)"
    values = [v.data if isinstance(v, Value) else v for v in node.operands]
    symbolic = _formula(node, operand_names(node, names))
    infix = node.rule is not None and node.rule.written is not None  # "−3" needs brackets inside "a·(−3)"
    numbers_text = [operand_text(v) if infix else fmt_ledger(v) for v in values]
    numeric = _formula(node, numbers_text).replace("·", " × ")
    if node.rule is not None and node.rule.key == "dot":
        symbolic = "Σᵢ wᵢxᵢ + b = " + symbolic
    sign = "="
    if node.rule is not None:
        try:
            sign = _equals(node.rule.forward(*(_shown(v) for v in values)), node.data)
        except (ArithmeticError, ValueError):
            sign = "≈"
    return f"{name} = {symbolic} = {numeric} {sign} {fmt_ledger(node.data)}"


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
            if trace.uses[child] > 1:  # its frame will sum what reached it
                trace.arrivals.setdefault(child, []).append(contribution)
            edges.append(Edge(child, position, local, upstream, contribution, total, trace.name(child)))
        frame = Frame(step, node, upstream, tuple(edges), trace)
        trace.frames.append(frame)
        yield frame


def _check_tangents(order: list[Value], tangents) -> dict:
    """{leaf: float} from `tangents`, after checking every key is a leaf of the graph and every value a number."""
    if not isinstance(tangents, dict):
        raise TypeError(f"tangents must be a dict {{leaf Value: number}}, got {type(tangents).__name__}")
    in_graph = set(order)
    checked = {}
    for key, value in tangents.items():
        shown = (key.label or repr(key)) if isinstance(key, Value) else repr(key)
        if not isinstance(key, Value) or key not in in_graph or key._prev:
            what = "not a leaf" if isinstance(key, Value) and key in in_graph else "not in the graph"
            raise ValueError(f"tangents: {shown} is {what}; tangents are given for leaves of the graph only")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"tangents: the tangent of {shown} must be a real number, got "
                            f"{type(value).__name__}: {value!r}")
        checked[key] = float(value)
    return checked


def tangent_steps(root: Value, tangents: dict, names: dict | None = None) -> Iterator[Frame]:
    """Forward mode, one frame per node in topological order: ṅ = Σ_c ∂n/∂c · ċ over the node's children c.

    A leaf's tangent is `tangents[leaf]` (0 for a leaf not given); the root's final tangent is the directional
    derivative Σⱼ ∂root/∂xⱼ · ẋⱼ over the leaves xⱼ, what `mg.jvp` returns. No `.grad` is read or changed.
    """
    trace = Trace(root, "tangent", names)
    trace.tangents = _check_tangents(trace.order, tangents)
    known: dict = {}
    for step, node in enumerate(trace.order):
        if not node._prev:
            total, edges = trace.tangents.get(node, 0.0), ()
        else:
            total, edges = 0.0, []
            for child, local, position in zip(node._prev, node.local_grads, _positions(node)):
                upstream = known[child]
                contribution = local * upstream
                total += contribution
                edges.append(Edge(child, position, local, upstream, contribution, total, trace.name(child)))
            edges = tuple(edges)
        known[node] = total
        frame = Frame(step, node, total, edges, trace)
        trace.frames.append(frame)
        yield frame


def replay(frames: Iterable[Frame]) -> Iterator[tuple[Frame, dict, set]]:
    """(frame, numbers known, nodes finished) after each frame, accumulated in one pass: for drawing.

    Backward: numbers are gradients (the root's 1 first); forward: values computed so far; tangent: tangents
    computed so far. The dict and set are updated in place and shared between steps: copy them to keep one.
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
