"""Practice mode: the graph with some gradients (or local derivatives) hidden, the learner's answers checked
line by line against a backward pass computed on the side, like marking a hand derivation."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from ..engine import Value, topological_order
from ..frames import backward_steps, fmt, model_names, node_names
from .display import svg_or_problem
from .drawing import RIGHT, WRONG, Graph, Paint, Scene
from .steps import html_text, inline_svg

__all__ = ["practice", "Practice", "Mark"]

RIGHT_EDGE, WRONG_EDGE = "#1a9850", "#d73027"
RELATIVE_TOLERANCE = 1e-3  # answers are written with 4 significant digits


@dataclass(frozen=True)
class Mark:
    """One checked answer: what is asked, the expected and the given number, their relative error."""

    question: str
    expected: float
    given: float | None
    relative_error: float | None
    right: bool


class Practice:
    """A practice sheet: `.questions` to answer, `.graph()` draws them as `?`, `.check(answers)` marks them.

    Answers are keyed by node name: `x1` for x1.grad (hide="grads"), `n/x1` for ∂n/∂x1 (hide="local_grads").
    """

    def __init__(self, root: Value, hide: str = "grads", nodes: Iterable | None = None, parameters=None,
                 rankdir: str = "LR", max_nodes: int | None = 150):
        if hide not in ("grads", "local_grads"):
            raise ValueError(f"hide must be 'grads' or 'local_grads', got {hide!r}")
        order = topological_order(root)
        self.root, self.hide = root, hide
        self.names = node_names(order, model_names(order, parameters))
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
        grads = frames[-1].trace.grads_at(len(frames) - 1) if frames else {}
        self._grads = grads
        self.expected: dict[str, float] = {}
        self._where: dict[str, object] = {}  # question -> node, or (node, k) for an edge
        if hide == "grads":
            for node in chosen:
                self.expected[self.names[node]] = grads.get(node, 0.0)
                self._where[self.names[node]] = node
        else:
            chosen_set = set(chosen)
            for node in order:
                for k, (child, local) in enumerate(zip(node._prev, node.local_grads)):
                    if node in chosen_set or child in chosen_set:
                        question = f"{self.names[node]}/{self.names[child]}"
                        if question in self.expected:  # x*x: both operands are x; ask each once
                            question += f"#{k}"
                        self.expected[question] = local
                        self._where[question] = (node, k)
        self.marks: list[Mark] = []

    @property
    def questions(self) -> list[str]:
        """What to answer: node names (their gradients) or `node/child` (∂node/∂child)."""
        return list(self.expected)

    def _paint(self) -> Paint:
        marks = {m.question: m for m in self.marks}
        grad_text, fills, edge_text, edge_colors = {}, {}, {}, {}
        grads = self._grads  # shown for the nodes not asked
        for question, where in self._where.items():
            mark = marks.get(question)
            text = "?" if mark is None or mark.given is None else fmt(mark.given)
            colour = None if mark is None else RIGHT if mark.right else WRONG
            if isinstance(where, tuple):
                edge_text[where] = text
                if mark is not None:
                    edge_colors[where] = RIGHT_EDGE if mark.right else WRONG_EDGE
            else:
                grad_text[where] = text
                if colour:
                    fills[where] = colour
        if self.hide == "local_grads":  # hand-computed gradients need the local derivatives: hide the grads too
            grads = {self.root: 1.0}
        legend = [("#ffffff", "? to answer")] + ([(RIGHT, "right"), (WRONG, "wrong")] if self.marks else [])
        return Paint(grads=grads, grad_text=grad_text, fills=fills, edge_text=edge_text, edge_colors=edge_colors,
                     legend=legend)

    def graph(self) -> Graph:
        """The graph with the questions as `?` (or, after check, the answers green when right, red when wrong)."""
        return self.scene.graph(self._paint())

    def check(self, answers: dict) -> list[Mark]:
        """Mark `answers` ({question: number}): right when within a relative error of 1e-3 (4 significant
        digits; where 0 is expected, within 1e-9). The error reported is |given − expected| / |expected|, or
        |given| where 0 is expected. Unknown questions raise ValueError; missing ones are marked wrong."""
        unknown = [key for key in answers if key not in self.expected]
        if unknown:
            raise ValueError(f"practice.check: {unknown} are not questions of this sheet; they are {self.questions}")
        marks = []
        for question, expected in self.expected.items():
            given = answers.get(question)
            if given is not None and not isinstance(given, (int, float)):
                raise TypeError(f"practice.check: the answer for {question!r} must be a number, got "
                                f"{type(given).__name__}: {given!r}")
            if given is None:
                marks.append(Mark(question, expected, None, None, False))
                continue
            error = abs(given - expected) / (abs(expected) or 1.0)  # where 0 is expected: the absolute error
            right = math.isclose(given, expected, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-9)
            marks.append(Mark(question, expected, float(given), error, right))
        self.marks = marks
        return marks

    def table(self) -> str:
        """Expected vs given for every question, with the relative error, as a text table."""
        what = "gradient" if self.hide == "grads" else "∂node/∂child"
        lines = [f"{what:<24} {'expected':>10} {'given':>10} {'error':>10}  mark"]
        marks = self.marks or [Mark(q, e, None, None, False) for q, e in self.expected.items()]
        for m in marks:
            given = "—" if m.given is None else fmt(m.given)
            error = "—" if m.relative_error is None else fmt(m.relative_error)
            verdict = "" if not self.marks else "right" if m.right else "wrong"
            expected = fmt(m.expected) if self.marks else "?"
            lines.append(f"{m.question[:24]:<24} {expected:>10} {given:>10} {error:>10}  {verdict}")
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


def practice(root: Value, hide: str = "grads", nodes: Iterable | None = None, parameters=None) -> Practice:
    """A practice sheet for the backward pass of `root`: the gradients (hide="grads": dL/dv for each node v) or
    the local derivatives (hide="local_grads": ∂n/∂c on each edge) of `nodes` (names or Values; default all)
    are hidden. Write them by hand, then `sheet.check({"x1": -1.5, ...})` marks each one."""
    return Practice(root, hide, nodes, parameters)
