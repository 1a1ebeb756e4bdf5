"""Practice mode: the graph with some gradients (or local derivatives) hidden, the learner's answers checked
line by line against a backward pass computed on the side, like marking a hand derivation.

An answer is right when it equals the expected number to 4 significant digits: it is within half a unit of
the expected number's 4th significant digit (−1.5004 is right for −1.5, −1.5015 is wrong). The expected
numbers stay hidden until asked for (`sheet.solutions()`, `sheet.table(reveal=True)`); a wrong answer gets
a hint naming the likely slip instead:

- the sign flipped;
- a local derivative left out (hide="grads"): the answer is what the chain rule gives without one edge's
  factor, e.g. tanh's 1 − o² (found by pushing ∂c/∂v forward from the node v asked about: the path through
  the edge p → c carries grad(p) · ∂p/∂c · ∂c/∂v);
- a path left out: the answer is the total minus what one path (one edge) carries, for a node reached along
  several;
- the value (data) given instead of the gradient, or (hide="local_grads") the gradient instead of the local
  derivative.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from ..engine import Value, topological_order
from ..frames import _ordinal, backward_steps, fmt, model_names, node_names
from .display import svg_or_problem
from .drawing import RIGHT, WRONG, Graph, Paint, Scene
from .steps import html_text
from .viewer import inline_svg

__all__ = ["practice", "Practice", "Mark", "agrees"]

RIGHT_EDGE, WRONG_EDGE = "#1a9850", "#d73027"
SIGNIFICANT_DIGITS = 4
ZERO = 1e-12  # where 0 is expected, an answer this small is 0 (rounding noise in the expected number)


def agrees(given: float, expected: float) -> bool:
    """True when `given` equals `expected` to 4 significant digits: |given − expected| is at most half a unit
    of the expected number's 4th significant digit (NaN agrees with NaN, ∞ with the same ∞)."""
    if math.isnan(expected) or math.isinf(expected):
        return math.isnan(given) if math.isnan(expected) else given == expected
    if not math.isfinite(given):
        return False
    if abs(expected) <= ZERO:
        return abs(given - expected) <= ZERO
    unit = 10.0 ** (math.floor(math.log10(abs(expected))) - (SIGNIFICANT_DIGITS - 1))
    return abs(given - expected) <= 0.5 * unit * (1 + 1e-9)  # 1e-9: a learner's exact half-way rounding


@dataclass(frozen=True, repr=False)
class Mark:
    """One checked answer: the question, `status` ("right", "wrong" or "unanswered"), the number given and,
    for a wrong one, a `hint` naming the likely slip. `expected` holds the answer; printing a Mark shows it
    only when the answer was right."""

    question: str
    status: str
    given: float | None
    hint: str | None = None
    expected: float = field(default=math.nan, compare=False)
    relative_error: float | None = field(default=None, compare=False)  # |given − expected| / |expected|

    @property
    def right(self) -> bool:
        return self.status == "right"

    def __repr__(self) -> str:
        parts = [repr(self.question), self.status]
        if self.given is not None:
            parts.append(f"given={fmt(self.given)}")
        if self.right:
            parts.append(f"expected={fmt(self.expected)}")
        if self.hint:
            parts.append(f"hint={self.hint!r}")
        return f"Mark({', '.join(parts)})"


def _answer(question: str, given) -> float | None:
    """The answer as a float (None for `...`, a question left open); a bool or a non-number is a TypeError."""
    if given is Ellipsis:
        return None
    if isinstance(given, bool) or type(given).__name__ == "bool_" or \
            not isinstance(given, (numbers.Real, Decimal)):
        raise TypeError(f"practice.check: the answer for {question!r} must be a number (int, float, Fraction, "
                        f"Decimal or a numpy scalar, not a bool; leave the question out, or write ..., to skip "
                        f"it), got {type(given).__name__}: {given!r}")
    return float(given)


class Practice:
    """A practice sheet: `.questions` to answer, `.graph()` draws them as `?`, `.check(answers)` marks them.

    Answers are keyed by node name: `x1` for x1.grad (hide="grads"), `n/x1` for ∂n/∂x1 (hide="local_grads").
    """

    def __init__(self, root: Value, hide: str = "grads", nodes: Iterable | None = None, parameters=None,
                 rankdir: str = "LR", max_nodes: int | None = 150, notation: str = "dotted"):
        if not isinstance(root, Value):
            raise TypeError(f"practice needs a Value as root, got {type(root).__name__}")
        if hide not in ("grads", "local_grads"):
            raise ValueError(f"hide must be 'grads' or 'local_grads', got {hide!r}")
        order = topological_order(root)
        self.root, self.hide, self.order = root, hide, order
        self.names = node_names(order, model_names(order, parameters, notation))
        self.scene = Scene(root, rankdir, True, hide == "local_grads", max_nodes, parameters, True, False, self.names)
        by_name = {name: node for node, name in self.names.items()}
        if nodes is None:
            chosen = [n for n in order if n is not root and n in self.scene.ids]
        else:
            chosen = []
            for item in nodes:
                node = by_name.get(item) if isinstance(item, str) else item
                if node is None or node not in self.names:
                    raise ValueError(f"practice: {item!r} is not a node of this graph; names are {sorted(by_name)}")
                chosen.append(node)
        # The expected numbers, from a backward pass on the side: no .grad is read or changed.
        frames = list(backward_steps(root, self.names))
        self._grads = frames[-1].trace.grads_at(len(frames) - 1) if frames else {}
        self._expected: dict[str, float] = {}
        self._where: dict[str, object] = {}  # question -> node, or (node, k) for an edge
        if hide == "grads":
            for node in chosen:
                self._expected[self.names[node]] = self._grads.get(node, 0.0)
                self._where[self.names[node]] = node
        else:
            chosen_set = set(chosen)
            for node in order:
                for k, (child, local) in enumerate(zip(node._prev, node.local_grads)):
                    if node in chosen_set or child in chosen_set:
                        question = f"{self.names[node]}/{self.names[child]}"
                        if question in self._expected:  # x*x: both operands are x; ask each once
                            question += f"#{k}"
                        self._expected[question] = local
                        self._where[question] = (node, k)
        self.marks: list[Mark] = []

    @property
    def questions(self) -> list[str]:
        """What to answer: node names (their gradients) or `node/child` (∂node/∂child)."""
        return list(self._expected)

    def solutions(self) -> dict[str, float]:
        """{question: expected number}: the answers, for when the learner asks for them."""
        return dict(self._expected)

    def _paint(self) -> Paint:
        marks = {m.question: m for m in self.marks}
        grad_text, fills, edge_text, edge_colors = {}, {}, {}, {}
        grads = self._grads  # shown for the nodes not asked
        for question, where in self._where.items():
            mark = marks.get(question)
            answered = mark is not None and mark.status != "unanswered"
            text = fmt(mark.given) if answered else "?"
            if isinstance(where, tuple):
                edge_text[where] = text
                if answered:
                    edge_colors[where] = RIGHT_EDGE if mark.right else WRONG_EDGE
            else:
                grad_text[where] = text
                if answered:
                    fills[where] = RIGHT if mark.right else WRONG
        if self.hide == "local_grads":  # hand-computed gradients need the local derivatives: hide the grads too
            grads = {self.root: 1.0}
        legend = [("#ffffff", "? to answer")] + ([(RIGHT, "right"), (WRONG, "wrong")] if self.marks else [])
        return Paint(grads=grads, grad_text=grad_text, fills=fills, edge_text=edge_text, edge_colors=edge_colors,
                     legend=legend)

    def graph(self) -> Graph:
        """The graph with the questions as `?` (after check, answers green when right, red when wrong; a question
        left unanswered stays `?`). Save it with `micrograd_nn.graph.render(sheet.graph(), "sheet.svg")`."""
        return self.scene.graph(self._paint())

    def check(self, answers: Mapping) -> list[Mark]:
        """Mark `answers` ({question: number}, or {Value: number} for hide="grads"): one Mark per question, in
        `questions` order. Right when equal to 4 significant digits (`agrees`); a question not answered (left
        out, or given as `...`) is "unanswered". Nothing is marked unless every answer is valid: a key that is
        not a question → ValueError listing the questions; an answer that is not a real number (a bool, None,
        a str) → TypeError."""
        if not isinstance(answers, Mapping):
            raise TypeError(f"practice.check takes a dict {{question: number}}, got {type(answers).__name__}: "
                            f"{answers!r}")
        given: dict[str, float | None] = {}
        unknown = []
        for key, value in answers.items():
            question = self.names.get(key) if isinstance(key, Value) and self.hide == "grads" else key
            if question not in self._expected:
                unknown.append(key if not isinstance(key, Value) else question or repr(key))
                continue
            given[question] = _answer(question, value)
        if unknown:
            raise ValueError(f"practice.check: {unknown} are not questions of this sheet; they are {self.questions}")
        marks = []
        for question, expected in self._expected.items():
            answer = given.get(question)
            if answer is None:
                marks.append(Mark(question, "unanswered", None, None, expected, None))
                continue
            error = abs(answer - expected) / (abs(expected) or 1.0)  # where 0 is expected: the absolute error
            if agrees(answer, expected):
                marks.append(Mark(question, "right", answer, None, expected, error))
            else:
                marks.append(Mark(question, "wrong", answer, self._hint(question, answer), expected, error))
        self.marks = marks
        return marks

    def _hint(self, question: str, given: float) -> str | None:
        """The likely slip behind a wrong answer, without giving the answer away (None when none fits)."""
        expected, where = self._expected[question], self._where[question]
        if expected != 0.0 and agrees(-given, expected):
            return "the sign is flipped"
        if isinstance(where, tuple):
            node, k = where
            child, names = node._prev[k], self.names
            local = f"the local derivative ∂{names[node]}/∂{names[child]}"
            for value_of in (child, node):
                if agrees(given, value_of.data) and value_of.data != expected:
                    return f"that is {names[value_of]}'s value (its data), not {local}"
            grad = self._grads.get(child, 0.0)
            if agrees(given, grad) and grad != expected:
                return f"that is the gradient of {names[child]}; the question asks for the local derivative only"
            return None
        return self._gradient_slip(where, given, expected)

    def _gradient_slip(self, target: Value, given: float, expected: float) -> str | None:
        """A local derivative left out, or a path left out, on the way from the root to `target`."""
        # ∂c/∂target for every node c, pushed forward from the target (forward mode, one sweep)
        reach = {target: 1.0}
        for node in self.order:
            if node is not target and any(c in reach for c in node._prev):
                reach[node] = sum(local * reach.get(c, 0.0) for c, local in zip(node._prev, node.local_grads))
        names, missing, path = self.names, None, None
        for parent in self.order:
            for k, (child, local) in enumerate(zip(parent._prev, parent.local_grads)):
                onward = reach.get(child, 0.0)
                carried = self._grads.get(parent, 0.0) * local * onward  # what this edge brings to the answer
                if onward == 0.0 or carried == 0.0:
                    continue
                operand = f" ({_ordinal(k + 1)} operand)" if parent._prev.count(child) > 1 else ""
                if missing is None and local != 1.0 and agrees(given, expected - carried + carried / local):
                    rule = parent.rule.rule_text(k, [names.get(v, "?") if isinstance(v, Value) else fmt(v)
                                                     for v in parent.operands], names[parent]) \
                        if parent.rule is not None else None
                    what = f"{parent.op}'s local derivative ∂{names[parent]}/∂{names[child]}{operand}" + \
                        (f" = {rule}" if rule else "")
                    missing = f"a factor seems left out: {what}"
                if path is None and not agrees(carried, expected) and agrees(given, expected - carried):
                    path = (f"{names[target]} reaches {names[self.root]} along several paths; the one through "
                            f"{names[child]} → {names[parent]}{operand} seems left out")
        if missing or path:
            return missing or path
        if agrees(given, target.data) and target.data != expected:
            return f"that is {names[target]}'s value (its data), not its gradient"
        return None

    def table(self, reveal: bool = False) -> str:
        """Each question with the answer given, its mark and hint. The expected number (and the error) shows for
        right answers only, or for every question with reveal=True."""
        what = "gradient" if self.hide == "grads" else "∂node/∂child"
        lines = [f"{what:<24} {'expected':>10} {'given':>10} {'error':>10}  mark"]
        by_question = {m.question: m for m in self.marks}
        for question, expected in self._expected.items():
            m = by_question.get(question)
            shown = reveal or (m is not None and m.right)
            given = "—" if m is None or m.given is None else fmt(m.given)
            error = fmt(m.relative_error) if shown and m is not None and m.relative_error is not None else "—"
            verdict = "" if m is None else m.status + (f": {m.hint}" if m.hint else "")
            lines.append(f"{question[:24]:<24} {fmt(expected) if shown else '?':>10} {given:>10} {error:>10}  "
                         f"{verdict}".rstrip())
        if self.marks:
            lines.append(f"{sum(m.right for m in self.marks)} of {len(self.marks)} right")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def _repr_html_(self) -> str:
        graph = self.graph()
        svg, problem = svg_or_problem(graph)
        drawing = inline_svg(svg) if svg is not None else \
            f"<p>{html_text(problem)}</p><pre>{html_text(graph.source)}</pre>"
        return f"<div>{drawing}<pre>{html_text(self.table())}</pre></div>"


def practice(root: Value, hide: str = "grads", nodes: Iterable | None = None, parameters=None,
             notation: str = "dotted") -> Practice:
    """A practice sheet for the backward pass of `root`: the gradients (hide="grads": dL/dv for each node v) or
    the local derivatives (hide="local_grads": ∂n/∂c on each edge) of `nodes` (names or Values; default all)
    are hidden. Write them by hand, then `sheet.check({"x1": -1.5, ...})` marks each one; `notation="layer"`
    names a module's parameters W[1]₀,₁, b[1]₀ (see `frames.model_names`)."""
    return Practice(root, hide, nodes, parameters, notation=notation)
