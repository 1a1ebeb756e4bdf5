"""A derivative lab: move a leaf, watch every value and gradient follow; nudge a leaf, compare the slope that
backprop gives with the finite differences a learner would compute by hand.

    lab = mg.lab(o)                 # in Jupyter: sliders on the leaves, the graph, a nudge panel
    lab.set("x1", 1.5)              # the forward and backward pass again, at x1 = 1.5
    lab.nudge("x1")                 # forward and central differences for h = 1e-1 … 1e-10

Nothing here changes the Values you built: the lab rebuilds the graph from the op table on its own leaf
values (`rebuild`) and runs `backward()` on that copy.

The nudge table shows the two errors of a finite difference. Truncation: the forward difference
(f(x + h) − f(x))/h is off by about f''(x)·h/2, the central one (f(x + h) − f(x − h))/(2h) by f'''(x)·h²/6, so
both shrink as h does. Round-off: f(x ± h) carry rounding errors of about ε·|f| (ε = 2.2e-16), which the
division by h magnifies into ε·|f|/h, growing as h shrinks. On a log-log plot the error is a V: a slope of 1
(forward) or 2 (central) on the right, −1 on the left, with the best h near √ε ≈ 1e-8 (forward) or
∛ε ≈ 1e-5 (central).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import NamedTuple

from . import engine
from .engine import Value, topological_order
from .frames import fmt, model_names, node_names

__all__ = ["Lab", "lab", "NudgeRow", "nudge_table", "rebuild", "STEPS"]

STEPS = tuple(10.0 ** -k for k in range(1, 11))  # h = 1e-1 … 1e-10


def _check(root: Value) -> list[Value]:
    if not isinstance(root, Value):
        raise TypeError(f"lab needs a Value, got {type(root).__name__}")
    order = topological_order(root)
    for node in order:
        if node._prev and node.rule is None:
            raise ValueError(f"the lab rebuilds the graph from the op table, but the node with op {node.op!r} was "
                             "built by hand (its local derivatives are numbers, not rules)")
    return order


def rebuild(order: list[Value], values: dict) -> dict:
    """The graph `order` (topological, as `topological_order` gives) built again from the op table with the
    leaves set to `values` ({leaf: number}; a leaf not in it keeps its data): {original node: its new copy}.

    Each copy is a node of the same op on the copied operands (numbers folded in stay those numbers), so relu,
    max and abs decide their branch again. Errors are the ops' own (log of a negative, exp overflow)."""
    copies: dict = {}
    for node in order:
        if not node._prev:
            copies[node] = Value(values.get(node, node.data), label=node.label)
        else:
            copies[node] = engine._apply(node.rule, tuple(copies[v] if isinstance(v, Value) else v
                                                         for v in node.operands))
    return copies


def _value_at(order: list[Value], values: dict) -> float:
    with engine.no_grad():  # values only
        return rebuild(order, values)[order[-1]].data


class NudgeRow(NamedTuple):
    """One step size h: the two finite differences and how far each is from backprop's derivative."""

    h: float
    forward: float  # (f(x + h) − f(x)) / h
    central: float  # (f(x + h) − f(x − h)) / (2h)
    forward_error: float  # |forward − grad|
    central_error: float  # |central − grad|


def nudge_table(root: Value, leaf: Value, steps: Sequence[float] = STEPS, values: dict | None = None
                ) -> tuple[float, list[NudgeRow]]:
    """(∂root/∂leaf by backprop, one NudgeRow per h in `steps`), with the leaves at `values` (default: their data).

    forward = (f(x + h) − f(x))/h, central = (f(x + h) − f(x − h))/(2h), where f is the root as a function of
    `leaf` alone (every other leaf held), each compared with backprop's ∂root/∂leaf at x. No `.grad` of the
    graph you built is read or changed."""
    order = _check(root)
    if not isinstance(leaf, Value) or leaf._prev or leaf not in set(order):
        raise ValueError("nudge: pick a leaf of the graph (a Value without children that the root depends on)")
    values = dict(values or {})
    x = values.get(leaf, leaf.data)
    copies = rebuild(order, values)
    copies[root].backward()
    exact, f_x = copies[leaf].grad, copies[root].data
    rows = []
    for h in steps:
        f_plus = _value_at(order, {**values, leaf: x + h})
        f_minus = _value_at(order, {**values, leaf: x - h})
        forward, central = (f_plus - f_x) / h, (f_plus - f_minus) / (2 * h)
        rows.append(NudgeRow(h, forward, central, abs(forward - exact), abs(central - exact)))
    return exact, rows


class Lab:
    """A graph you can move: `set(leaf, x)` recomputes every value and gradient (on a rebuilt copy), `nudge(leaf)`
    tabulates finite differences against backprop. In Jupyter (with anywidget) it shows as a widget: a slider
    per leaf, the graph in the step-through viewer, and the nudge panel with its log-log error plot."""

    def __init__(self, root: Value, parameters=None):
        self.root = root
        self.order = _check(root)
        self.names = node_names(self.order, model_names(self.order, parameters))
        self.leaves = [node for node in self.order if not node._prev]
        self._by_name = {self.names[leaf]: leaf for leaf in self.leaves}
        self.values = {leaf: leaf.data for leaf in self.leaves}
        self.parameters = parameters
        self.error: str | None = None
        self._numbers = self._compute(self.values)
        self._scene = None
        self._widget = None

    def _leaf(self, leaf) -> Value:
        if isinstance(leaf, Value):
            if leaf not in self.values:
                raise ValueError("that Value is not a leaf of this lab's graph")
            return leaf
        if leaf not in self._by_name:
            raise ValueError(f"no leaf named {leaf!r}; the leaves are {', '.join(self._by_name)}")
        return self._by_name[leaf]

    def _compute(self, values: dict) -> tuple[dict, dict]:
        """({node: data}, {node: ∂root/∂node}) at the given leaf values, from a rebuilt graph and its backward()."""
        copies = rebuild(self.order, values)
        copies[self.root].backward()
        return {n: c.data for n, c in copies.items()}, {n: c.grad for n, c in copies.items()}

    def set(self, leaf, value: float) -> float:
        """Move one leaf (a Value or its name) to `value`; every value and gradient is recomputed. Returns the
        root's new value. Outside an op's domain (log of a negative, exp overflow) the error is raised and
        the lab keeps its numbers."""
        node = self._leaf(leaf)
        value = engine._as_float(value, "lab: the leaf's value")
        values = {**self.values, node: value}
        self._numbers = self._compute(values)
        self.values = values
        return self._numbers[0][self.root]

    def data(self, node) -> float:
        """The node's value at the lab's leaf values (a Value of the graph, or its name)."""
        return self._numbers[0][self._node(node)]

    def grad(self, node) -> float:
        """∂root/∂node at the lab's leaf values, as backward() gives it."""
        return self._numbers[1][self._node(node)]

    def _node(self, node) -> Value:
        if isinstance(node, Value):
            return node
        for candidate, name in self.names.items():
            if name == node:
                return candidate
        raise ValueError(f"no node named {node!r}")

    def nudge(self, leaf, steps: Sequence[float] = STEPS) -> list[NudgeRow]:
        """The nudge table of one leaf at the lab's leaf values (see `nudge_table`)."""
        return nudge_table(self.root, self._leaf(leaf), steps, self.values)[1]

    def nudge_text(self, leaf) -> str:
        """The nudge table as text: h, both differences and their errors against backprop's slope."""
        node = self._leaf(leaf)
        exact, rows = nudge_table(self.root, node, STEPS, self.values)
        lines = [f"∂{self.names[self.root]}/∂{self.names[node]} by backprop = {exact!r}",
                 f"{'h':>7}  {'forward':>22}  {'error':>9}  {'central':>22}  {'error':>9}"]
        for r in rows:
            lines.append(f"{r.h:7.0e}  {r.forward!r:>22}  {fmt(r.forward_error):>9}  {r.central!r:>22}  "
                         f"{fmt(r.central_error):>9}")
        return "\n".join(lines)

    # --- the widget ---

    def _drawing(self):
        if self._scene is None:
            from .graph.drawing import Scene

            self._scene = Scene(self.root, parameters=self.parameters, names=self.names)
            self._scene.legend = False
        return self._scene

    def _texts(self) -> dict:
        from .graph.drawing import Paint
        from .graph.viewer import record_texts

        data, grads = self._numbers
        return record_texts(self._drawing(), Paint(data=data, grads=grads))

    def _ledger(self) -> str:
        data, _ = self._numbers
        leaves = ", ".join(f"{self.names[leaf]} = {fmt(v)}" for leaf, v in self.values.items())
        text = f"{self.names[self.root]} = {fmt(data[self.root])} at {leaves}"
        return text + (f"\n{self.error}" if self.error else "")

    def _payload(self) -> dict:
        from .graph.viewer import layout_windows, record_names
        from .live import widest_paint

        scene = self._drawing()
        windows, _ = layout_windows([scene.graph(widest_paint(self.order)).source])  # room for any slider's numbers
        texts = self._texts()
        root_id = scene.ids[self.root]
        return {"title": "derivative lab", "direction": "lab",
                "windows": windows, "nodes": record_names(scene),
                "copies": {}, "texts": texts,
                # the texts live in "texts", which apply() updates; a frame's own texts would be painted over them
                "frames": [{"step": 0, "window": 0, "current": root_id, "texts": {}, "ledger": self._ledger()}]}

    def _leaf_controls(self) -> list[dict]:
        controls = []
        for leaf in self.leaves:
            x = self.values[leaf]
            span = 2 * max(1.0, abs(x))
            controls.append({"name": self.names[leaf], "value": x, "min": x - span, "max": x + span,
                             "step": span / 200})
        return controls

    def _handle(self, message: dict) -> None:
        kind = message.get("type")
        if kind == "set":
            try:
                self.set(message["leaf"], float(message["value"]))
                self.error = None
            except (ArithmeticError, ValueError) as error:  # outside an op's domain: say so, keep the numbers
                self.error = f"{message['leaf']} = {fmt(float(message['value']))}: {error}"
            self._widget.send({"type": "numbers", "texts": self._texts(), "ledger": self._ledger(),
                               "ok": self.error is None})
        elif kind == "nudge":
            leaf = self._leaf(message["leaf"])
            exact, rows = nudge_table(self.root, leaf, STEPS, self.values)
            self._widget.send({"type": "nudge", "leaf": self.names[leaf], "grad": _finite(exact),
                               "rows": [[r.h, _finite(r.forward), _finite(r.central), _finite(r.forward_error),
                                         _finite(r.central_error)] for r in rows]})

    def widget(self):
        """The lab as an anywidget widget (needs anywidget: pip install 'micrograd_nn[live]')."""
        try:
            import anywidget
            import traitlets
        except ImportError:
            raise ImportError(_MISSING) from None
        if self._widget is None:
            from .graph.viewer import viewer_script
            from .live import _static

            owner = self

            class LabWidget(anywidget.AnyWidget):
                _esm = traitlets.Unicode(f"const VIEWER_SOURCE = {json.dumps(viewer_script())};\n"
                                         f"{_static('lab.js')}").tag(sync=True)
                payload = traitlets.Dict().tag(sync=True)
                leaves = traitlets.List().tag(sync=True)

                def __repr__(self) -> str:  # where the widget shows as text
                    return repr(owner)

            self._widget = LabWidget(payload=self._payload(), leaves=self._leaf_controls())
            self._widget.on_msg(lambda _widget, content, _buffers: self._handle(content))
        return self._widget

    def _repr_mimebundle_(self, include=None, exclude=None):
        try:
            return self.widget()._repr_mimebundle_(include=include, exclude=exclude)
        except ImportError:
            return {"text/plain": repr(self)}

    def __repr__(self) -> str:
        leaves = ", ".join(f"{self.names[leaf]} = {fmt(v)}" for leaf, v in self.values.items())
        note = ""
        try:
            import anywidget  # noqa: F401
        except ImportError:
            note = f"\n{_MISSING}"
        return (f"<Lab of {self.names[self.root]} = {fmt(self._numbers[0][self.root])} at {leaves}: "
                f"lab.set(name, x) moves a leaf, lab.nudge(name) compares finite differences with backprop, "
                f"print(lab.nudge_text(name)) shows them; in Jupyter it is a widget>{note}")


_MISSING = ("the lab's widget needs anywidget: pip install 'micrograd_nn[live]' and open this notebook in Jupyter "
            "(lab.set, lab.nudge and lab.nudge_text work without it)")


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def lab(root: Value, parameters=None) -> Lab:
    """A derivative lab on the graph under `root`: sliders on its leaves, the graph redrawn as they move, and
    finite differences against backprop for h = 1e-1 … 1e-10 (see the module's docstring)."""
    return Lab(root, parameters)
