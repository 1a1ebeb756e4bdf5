"""DOT building: one record per Value (name | data | grad), one small circle per op, edges child → op → node.

A `Scene` holds what does not change between the pictures of one graph (which nodes are shown, their ids,
names, kinds, clusters and collapsed neurons); `Scene.graph(paint)` draws one picture of it, where `Paint`
says which numbers are known and what is highlighted (a step-through frame, a practice sheet).

Every text that reaches DOT goes through `record_text` / `plain_text`: no label or op can add markup or links,
and control characters are shown as visible symbols instead of breaking the renderer.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from copy import copy as shallow_copy
from dataclasses import dataclass, field

import graphviz

from ..engine import Value, topological_order
from ..frames import ACTIVATIONS, fmt, fmt_fixed, model_names, module_of, node_names, parameter_names
from .binary import RenderFailure, no_binary_hint, svgs

__all__ = ["draw_graph", "Graph", "Scene", "Paint", "STYLES", "HIGHLIGHT"]

FONT = "Courier"
STYLES = {  # kind -> (fill colour, legend text)
    "root": ("#ffd866", "output (root)"),
    "parameter": ("#a9d1f7", "parameter"),
    "input": ("#d9d9d9", "input"),
    "intermediate": ("#ffffff", "intermediate"),
}
HIGHLIGHT = "#ff9f80"  # the node a step-through frame is processing
HOT_EDGE = "#d62728"  # edges carrying gradient (or values) in this step
DONE_BORDER = "#8c8c8c"
QUIET_EDGE = "#9a9a9a"  # the many edges of a collapsed model, so that the current step's stand out
RIGHT, WRONG = "#9be3a4", "#f4a3a3"  # practice answers
# A node used by MANY_USES nodes or more, more than FAR_APART_COLUMNS apart, is drawn again next to each use.
MANY_USES = 8
FAR_APART_COLUMNS = 6


class Graph(graphviz.Digraph):
    """A graphviz.Digraph that Jupyter renders with the binary found in `binary` (SVG), showing its DOT
    source and how to fix things when there is none, instead of raising."""

    def _repr_mimebundle_(self, include=None, exclude=None, **_) -> dict:
        try:
            drawn = svgs([self.source])
            problem = no_binary_hint()
        except RenderFailure as failure:
            drawn, problem = None, str(failure)
        if drawn is None:
            text = {"text/plain": f"{problem}\n\n{self.source}"}
            if problem != no_binary_hint():  # a binary that failed says so; with none, the page lays it out
                return text
            from .viewer import drawing_html

            return {"text/html": drawing_html(self.source), **text}
        return {"image/svg+xml": drawn[0], "text/plain": f"<computation graph: {self.source.count('->')} edges>"}


# --- escaping: everything a user can name goes through one of these two ---

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _visible(text: str) -> str:
    """Control characters as the Unicode symbols that picture them (NUL → ␀), so nothing is lost silently."""
    return _CONTROL.sub(lambda m: chr(0x2400 + ord(m.group())) if ord(m.group()) < 32 else "\ufffd", text)


def plain_text(text: str) -> graphviz.quoting.NoHtml:
    """A label for a plain node: never read as an HTML label, backslashes kept as backslashes."""
    return graphviz.nohtml(_visible(str(text)).replace("\\", "\\\\"))


def record_text(text: str) -> str:
    """A field of a record label: the characters records give a meaning to are escaped."""
    text = _visible(str(text))
    for ch in "\\{}|<>\"":
        text = text.replace(ch, "\\" + ch)
    return text


# --- what one picture shows ---


@dataclass
class Paint:
    """The numbers and marks of one picture. None dicts mean: the Values' own numbers."""

    data: dict | None = None  # node -> number, or missing: blank (not computed yet)
    grads: dict | None = None  # node -> number, or missing: blank (no gradient has reached it)
    partial: set = field(default_factory=set)  # nodes whose grad is a running total, more to come
    current: Value | None = None  # the node this step processes
    done: set = field(default_factory=set)  # nodes finished in earlier steps
    grad_text: dict = field(default_factory=dict)  # node -> text shown instead of its grad (practice)
    fills: dict = field(default_factory=dict)  # node -> fill colour (practice: right / wrong)
    edge_text: dict = field(default_factory=dict)  # (node, k) -> text on the edge from child k
    edge_colors: dict = field(default_factory=dict)  # (node, k) -> colour of that edge
    caption: str = ""
    legend: list = field(default_factory=list)  # extra (fill colour, text) cells for the legend
    grad_name: str = "grad"  # the second number's name: "tangent" for forward-mode frames


def _nearest_nodes(root: Value, max_nodes: int | None) -> tuple[list[Value], int]:
    """Nodes in breadth-first order from the root, at most max_nodes; also the total count."""
    order, seen = [], {root}
    queue = deque([root])
    while queue:
        node = queue.popleft()
        order.append(node)
        for child in node._prev:
            if child not in seen:
                seen.add(child)
                queue.append(child)
    total = len(order)
    return (order if max_nodes is None else order[:max_nodes]), total


def guess_kind(node: Value) -> str:
    """Without a list of parameters, the course notes' convention: a leaf labelled like a weight or a bias
    (`w1`, `b`, `b2`, `W[2]₀,₁`, `weight`, `bias`, a module's `layers.0.neurons.1.w.0`) is a parameter; any
    other leaf (`x1`, the lecture's `a` and `c`, an unlabelled one) is an input."""
    return "parameter" if PARAMETER_LABEL.fullmatch(node.label) else "input"


PARAMETER_LABEL = re.compile(r"(?:.*\.)?(?:[wWb]|weight|bias)(?:[\d_.,\[₀-₉'].*)?")


OP_TEXT_MAX = 10  # an op circle stays small; a longer hand-built op name is cut (the ledger has it whole)


def _folded(node: Value) -> str:
    """The op as drawn in its circle, with a folded constant: `* 3`, `**2`, `+ 1`, `3 -`."""
    op = str(node._op) or "?"
    if len(op) > OP_TEXT_MAX:
        return op[:OP_TEXT_MAX - 1] + "…"
    operands = node.operands
    if node.rule is None or len(operands) != 2 or node.rule.key in ("dot", "sum", "max"):
        return op
    a, b = operands
    if isinstance(a, Value) and not isinstance(b, Value):
        return f"{op}{fmt(b)}" if node.rule.key == "pow" else f"{op} {fmt(b)}"
    if isinstance(b, Value) and not isinstance(a, Value):
        return f"{fmt(a)} {op}"
    return op


class Scene:
    """The fixed part of the pictures of one graph: shown nodes, ids (breadth-first from the root: n0 is the
    root), names, kinds, module clusters and, when collapsed, neurons drawn as one box."""

    def __init__(self, root: Value, rankdir: str = "LR", show_grad: bool = True, show_local_grads: bool = False,
                 max_nodes: int | None = 150, parameters=None, legend: bool = True, collapsed: bool = False,
                 names: dict | None = None):
        if not isinstance(root, Value):
            raise TypeError(f"draw_graph needs a Value as root, got {type(root).__name__}: {root!r}")
        if rankdir not in ("LR", "RL", "TB", "BT"):
            raise ValueError(f"rankdir must be one of LR, RL, TB, BT, got {rankdir!r}")
        if max_nodes is not None and (not isinstance(max_nodes, int) or max_nodes < 1):
            raise ValueError(f"max_nodes must be a positive int or None, got {max_nodes!r}")
        self.root, self.rankdir, self.show_grad, self.show_local_grads = root, rankdir, show_grad, show_local_grads
        self.legend = legend
        module_names = parameter_names(parameters)
        order = topological_order(root)
        if parameters is None:
            self.parameters = None
        else:
            self.parameters = set(module_names) if module_names else set(
                parameters.parameters() if hasattr(parameters, "parameters") else parameters)
        self.names = names if names is not None else node_names(order, model_names(order, parameters))
        self.clusters = {p: module_of(name) for p, name in module_names.items() if module_of(name)}
        everything, self.total = _nearest_nodes(root, None)
        self.number = {node: i for i, node in enumerate(everything)}  # ids stay the same in every window
        self.shown = everything if collapsed or max_nodes is None else everything[:max_nodes]
        self._index()
        self._cluster_neurons()
        self.units = self._neurons() if collapsed else {}
        if collapsed and max_nodes is not None:
            self._keep_nearest_boxes(max_nodes)
        self.spread = self._spread_nodes()

    def _index(self) -> None:
        self.ids = {node: f"n{self.number[node]}" for node in self.shown}
        self.parents: dict = {}
        for node in self.shown:
            for child in node._prev:
                self.parents.setdefault(child, []).append(node)

    def window(self, nodes: Iterable[Value]) -> Scene:
        """The same scene drawing only `nodes`, each with the id it has in the whole graph: one part of a graph
        too large to lay out at once. Inputs outside the part are noted as hidden, as beyond `max_nodes`."""
        part = shallow_copy(self)
        keep = set(nodes)
        part.shown = [node for node in self.shown if node in keep]
        part.total = len(part.shown)  # the viewer says which part is shown; no caption in the drawing
        part._index()
        return part

    def _keep_nearest_boxes(self, max_nodes: int) -> None:
        """Collapsed, `max_nodes` counts what is drawn (a neuron box counts once, its weights not at all)."""
        heads = [node for node in self.shown if self.head(node) is node]
        if len(heads) <= max_nodes:
            return
        kept = set(heads[:max_nodes])
        self.shown = [node for node in self.shown if self.head(node) in kept]
        self.units = {node: head for node, head in self.units.items() if head in kept}
        self._index()

    def _cluster_neurons(self) -> None:
        """A node made from one module's parameters (a neuron's z) joins their box, and so does its activation."""
        for node in self.shown:
            modules = {self.clusters.get(c) for c in node._prev if not c._prev and c in self.clusters}
            if len(modules) != 1 or not any(not c._prev and c in self.clusters for c in node._prev):
                continue
            if any(not c._prev and c not in self.clusters and self.kind(c) == "parameter" for c in node._prev):
                continue
            self.clusters[node] = module = modules.pop()
            users = self.parents.get(node, [])
            if len(users) == 1 and users[0].rule is not None and users[0].rule.key in ACTIVATIONS:
                self.clusters[users[0]] = module

    def _spread_nodes(self) -> dict:
        """Nodes used by many nodes far apart in the graph (x+x+…+x, an input added at every step of a chain).

        One drawn node would need an edge across every column in between, which Graphviz lays out as a chain
        of hidden nodes per column (and an edge label as one more node per column): that, not the number of
        nodes, made such graphs take many seconds (x+x+…+x with 110 terms: 15 s, 48 s with local derivatives
        on the edges; drawn this way, 0.1 s). So the node serves its nearest use and a copy of its record
        (numbers only, no op) stands next to each other use. Returns {node: its uses [(user, k)], nearest first}.
        """
        depth: dict = {}  # longest path from a leaf: about the column Graphviz puts a node in
        for node in topological_order(self.root):
            if node in self.ids:
                depth[node] = 1 + max((depth.get(c, 0) for c in node._prev), default=-1)
        spread = {}
        for used, users in self.parents.items():
            if used not in self.ids or len(users) < MANY_USES or not self.visible(used):
                continue
            if max(depth[u] for u in users) - min(depth[u] for u in users) > FAR_APART_COLUMNS:
                uses = [(u, k) for u in dict.fromkeys(users) for k, c in enumerate(u._prev) if c is used]
                spread[used] = sorted(uses, key=lambda use: depth[use[0]])
        return spread

    def kind(self, node: Value) -> str:
        if node is self.root:
            return "root"
        if node._prev:
            return "intermediate"
        if self.parameters is not None:
            return "parameter" if node in self.parameters else "input"
        return guess_kind(node)

    def name(self, node: Value) -> str:
        return self.names.get(node) or node.label or "?"

    def _neurons(self) -> dict:
        """{node: its neuron box's head} for every dot node (z) and its activation (a = act(z)) drawn as one box,
        and the parameters only that dot uses (drawn inside the box)."""
        units: dict = {}
        for z in self.shown:
            if z.rule is None or z.rule.key != "dot":
                continue
            users = self.parents.get(z, [])
            a = users[0] if len(users) == 1 and users[0].rule is not None and users[0].rule.key in ACTIVATIONS \
                and z is not self.root else None
            head = a if a is not None else z
            units[z] = head
            if a is not None:
                units[a] = head
            for child in z._prev:
                if not child._prev and self.kind(child) == "parameter" and len(self.parents.get(child, [])) == 1:
                    units[child] = head
        return units

    def parts(self, head: Value) -> list[Value]:
        """The computed Values drawn in `head`'s record: a neuron box's z and a, or the node itself."""
        return [m for m, h in self.units.items() if h is head and m._prev] or [head]

    def members(self, nodes: Iterable[Value]) -> list[Value]:
        """`nodes` with, for each, the record that draws it and everything drawn inside that record."""
        inside: dict = {}
        for member, head in self.units.items():
            inside.setdefault(head, []).append(member)
        out = {}
        for node in nodes:
            head = self.head(node)
            out[head] = out[node] = None
            out.update(dict.fromkeys(inside.get(head, ())))
            if head is not node or node in inside:  # a box's z: the box's inputs come from z
                inner, _ = self.target(head)
                out[inner] = None
        return list(out)

    def visible(self, node: Value) -> bool:
        """False for the parts of a collapsed neuron other than its box (its z under an activation, its weights)."""
        return self.units.get(node, node) is node

    # --- drawing ---

    def graph(self, paint: Paint | None = None) -> Graph:
        paint = paint or Paint()
        dot = Graph(name="computation_graph")
        dot.attr(rankdir=self.rankdir, fontname=FONT)
        if self.units:  # room between the layers for their many edges; neurons of a layer packed closely,
            # in index order (every order crosses the same dense edges, so crossing minimisation would shuffle them)
            dot.attr(ranksep="1.2", nodesep="0.12", ordering="in")
        dot.attr("node", fontname=FONT, fontsize="11")
        dot.attr("edge", fontname=FONT, fontsize="9")
        caption = paint.caption
        if self.total > len(self.shown):
            caption = (caption + "\n" if caption else "") + \
                f"showing the {len(self.shown)} nodes nearest the output, of {self.total}"
        if caption:  # one line of the drawing per line of text, left-aligned (DOT's \l ends such a line)
            lines = "".join(plain_text(line) + "\\l" for line in caption.splitlines())
            dot.attr(label=graphviz.nohtml(lines), labelloc="t", labeljust="l", fontsize="14")
        clustered: dict = {}
        for node in self.shown:
            if self.visible(node) and self.clusters.get(node) and not self.units:  # collapsed: boxes carry names
                clustered.setdefault(self.clusters[node], []).append(node)
        in_cluster = {node for nodes in clustered.values() for node in nodes}
        for node in self.shown:
            if self.visible(node) and node not in in_cluster:
                self._node(dot, node, paint)
        for i, (module, nodes) in enumerate(sorted(clustered.items())):
            with dot.subgraph(name=f"cluster_{i}") as sub:
                sub.attr(label=plain_text(module), style="rounded,dashed", color="#7f7f7f", fontsize="10")
                for node in nodes:
                    self._node(sub, node, paint)
        for node in self.shown:
            if self.visible(node):
                self._edges(dot, node, paint)
        if self.legend:
            self._legend(dot, paint)
        return dot

    def _numbers(self, node: Value, paint: Paint) -> list[str]:
        """`data …` and `grad …` fields, numbers right-aligned in a fixed width (in the DOT source and the text
        table; Graphviz's drawings trim the padding, so a record grows by a few points when a number appears)."""
        data = node.data if paint.data is None else paint.data.get(node)
        fields = ["data " + fmt_fixed(data)]
        if self.show_grad:
            if node in paint.grad_text:
                fields.append(f"{paint.grad_name} " + paint.grad_text[node].rjust(9) + " ")
            else:
                grad = node.grad if paint.grads is None else paint.grads.get(node)
                running = "…" if node in paint.partial else (" " if paint.current is not None else "")
                fields.append(f"{paint.grad_name} " + fmt_fixed(grad) + running)
        return fields

    def head(self, node: Value | None) -> Value | None:
        """The node drawn for `node`: its neuron's box when collapsed, else itself."""
        return self.units.get(node, node)

    def _is_done(self, node: Value, paint: Paint) -> bool:
        return all(m in paint.done for m in self.parts(node))

    def _style(self, node: Value, paint: Paint) -> dict:
        fill = STYLES[self.kind(node)][0]
        attrs = {"style": "filled", "color": "black", "penwidth": "2" if node is self.root else "1"}
        if paint.current is not None and self.head(paint.current) is node:
            fill, attrs["color"], attrs["penwidth"] = HIGHLIGHT, HOT_EDGE, "3"
        elif self._is_done(node, paint):
            attrs["color"], attrs["style"] = DONE_BORDER, "filled,dashed"
        attrs["fillcolor"] = paint.fills.get(node, fill)
        return attrs

    def fields(self, node: Value, paint: Paint, use: str = "") -> list[str]:
        """The texts of the node's record as drawn, unescaped (a copy's box, for its use `use`: one text)."""
        name = self.name(node) + (use or (f" (1/{len(self.spread[node])})" if node in self.spread else ""))
        if node in self.clusters:  # inside its module's box: the module's name is written once, on the box
            name = name[len(self.clusters[node]) + 1:] if name.startswith(self.clusters[node] + ".") else name
        if use:
            return ["  ".join([name] + [" ".join(f.split()) for f in self._numbers(node, paint)])]
        if self.units.get(node) is node:
            return self._neuron_fields(node, paint)
        return [name] + self._numbers(node, paint)

    def _node(self, dot: graphviz.Digraph, node: Value, paint: Paint, copy: str = "", use: str = "") -> None:
        """A node's record (and its op circle). A spread leaf's further uses get small reference boxes next to
        them (`copy` is such a box's id), so each Value still has exactly one record."""
        node_id = copy or self.ids[node]
        fields = self.fields(node, paint, use if copy else "")
        if copy:  # a reference to the Value's one record, not a second record: a rounded box, dotted
            style = self._style(node, paint)
            style["style"] = "rounded,dotted,filled"
            dot.node(node_id, plain_text(fields[0]), shape="box", fontsize="10", **style)
            return
        rows = " | ".join(record_text(f) for f in fields)
        if self.units.get(node) is node:  # rows stacked across the flow of the graph (records flip with rankdir)
            label = rows if self.rankdir in ("LR", "RL") else "{ " + rows + " }"
        else:
            label = "{ " + rows + " }"
        # With copies hanging off it, the rest of the graph keeps straight edges (a group), instead of drifting
        # half a node sideways at every op that takes a copy.
        line = {"group": "main"} if self.spread else {}
        dot.node(node_id, label, shape="record", **self._style(node, paint), **line)
        if node._prev and node not in self.units:
            op_id = node_id + "_op"
            dot.node(op_id, plain_text(_folded(node)), shape="circle", width="0.3", fixedsize="false",
                     fontsize="10", margin="0.02", **line)
            dot.edge(op_id, node_id, **self._hot(node, paint, None))

    def _neuron_fields(self, head: Value, paint: Paint) -> list[str]:
        """A neuron box, one row each: its name and formula, z with its numbers, a = act(z) with its numbers."""
        z = head if head.rule.key == "dot" else head._prev[0]
        inside = [p for p, h in self.units.items() if h is head and not p._prev]
        name = self.clusters.get(inside[0]) if inside and self.clusters.get(inside[0]) else self.name(head)
        bias = z.operands[-1]
        has_bias = isinstance(bias, Value) and self.units.get(bias) is head
        weights = len(inside) - has_bias
        held = f"{weights} w{', b' if has_bias else ''}" if weights else "weights shared, drawn outside"
        rows = [f"{name}: z = Σ w·x + b ({held})",
                "z " + "  ".join(self._numbers(z, paint))]
        if z is not head:
            rows.append(f"a = {head._op}(z) " + "  ".join(self._numbers(head, paint)))
        return rows

    def _hot(self, node: Value, paint: Paint, k: int | None) -> dict:
        """Attributes of an edge into node's op (from child k) or out of it (k None): the current step's edges
        are drawn thick and red; practice answers colour theirs."""
        attrs = {"color": QUIET_EDGE} if self.units else {}
        color = paint.edge_colors.get((node, k))
        if paint.current is not None and paint.current is node:  # in a neuron box, only z's step has input edges
            color = color or HOT_EDGE
            attrs["penwidth"] = "2.5"
        if color:
            attrs["color"] = color
        return attrs

    def target(self, node: Value) -> tuple[Value, str]:
        """(the node whose inputs are drawn, the id its input edges point at): its op circle, or for a part of a
        neuron box, the box (whose input edges are z's)."""
        if node in self.units:  # a neuron box: edges from the inputs of its dot, straight into the box
            if node.rule.key != "dot" and node._prev[0] in self.units:
                node = node._prev[0]
            return node, self.ids[self.units[node]]
        return node, self.ids[node] + "_op"

    def inputs(self, node: Value) -> tuple[list[tuple[int, Value, str, str]], int]:
        """The drawn input edges of a visible node as (k, child, tail id, copy's use text or ""), and how many
        inputs are outside the drawing. A widely shared child's further uses start at a copy of its record."""
        node, _ = self.target(node)
        drawn, hidden = [], 0
        for k, child in enumerate(node._prev):
            if child not in self.ids:
                hidden += 1
            elif self.visible(child):
                tail, use = self.ids[child], ""
                if child in self.spread and self.spread[child].index((node, k)) > 0:  # a copy, next to this use
                    tail = f"{tail}_for_{self.ids[node]}_{k}"
                    use = f" ({self.spread[child].index((node, k)) + 1}/{len(self.spread[child])})"
                drawn.append((k, child, tail, use))
        return drawn, hidden

    def _edges(self, dot: graphviz.Digraph, node: Value, paint: Paint) -> None:
        inner, target = self.target(node)
        drawn, hidden = self.inputs(node)
        for k, child, tail, use in drawn:
            if use:
                self._node(dot, child, paint, tail, use)
            label = paint.edge_text.get((inner, k))
            if label is None and self.show_local_grads:
                label = fmt(inner.local_grads[k])
            attrs = self._hot(inner, paint, k)
            if label is not None:
                attrs["label"] = plain_text(label)
            dot.edge(tail, target, **attrs)
        if hidden:
            note = self.ids[inner] + "_hidden"
            dot.node(note, f"{hidden} input{'s' if hidden > 1 else ''} hidden", shape="note", style="filled",
                     fillcolor="#eeeeee", fontsize="9")
            dot.edge(note, target, style="dashed")

    def _legend(self, dot: graphviz.Digraph, paint: Paint) -> None:
        cells = [(fill, text) for fill, text in STYLES.values()]
        if paint.current is not None:
            cells += [(HIGHLIGHT, "this step"), ("#ffffff", "dashed: done")]
            if paint.grads is not None:
                cells.append(("#ffffff", "… running total"))
        if self.spread:
            cells.append(("#ffffff", "dotted: copy of a shared node"))
        cells += paint.legend
        html = "".join(f'<TD BGCOLOR="{fill}">{text}</TD>' for fill, text in cells)
        dot.node("legend", f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="3"><TR>{html}</TR></TABLE>>',
                 shape="plaintext", fontsize="9")


def draw_graph(
    root: Value,
    rankdir: str = "LR",
    show_grad: bool = True,
    show_local_grads: bool = False,
    highlight: Iterable[Value] = (),
    max_nodes: int | None = 150,
    parameters=None,
    legend: bool = True,
    collapsed: bool = False,
) -> Graph:
    """The computation graph of `root` as a graphviz.Digraph (a `Graph`, which displays itself in Jupyter).

    One record per Value (name | data | grad) and one small circle per operation (with a folded constant:
    `* 3`, `**2`), edges child → op → node. `show_local_grads` writes on each child → op edge the local
    derivative ∂node/∂child stored on the node: the chain rule made visible. Parameters, inputs, intermediates
    and the root are coloured apart. `parameters` (a list, or a module: then names come from its
    `named_parameters()` and each module's parameters are drawn in one dashed box) says which leaves are
    parameters; without it, leaves labelled x… or unlabelled are inputs. `collapsed=True` draws each neuron
    (z = Σ wᵢxᵢ + b and its activation) as one box with its numbers, its weights inside. At most `max_nodes`
    Values nearest the root are drawn; the rest are folded into notes that say how many inputs are hidden.
    """
    scene = Scene(root, rankdir, show_grad, show_local_grads, max_nodes, parameters, legend, collapsed)
    highlighted = list(highlight)
    if not highlighted:
        return scene.graph()
    paint = Paint(current=highlighted[0], fills={node: HIGHLIGHT for node in highlighted})
    return scene.graph(paint)
