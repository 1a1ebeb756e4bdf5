"""See the graph: DOT/SVG rendering of any Value DAG, Jupyter display, and step-through frames.

Every traversal here is iterative. Node ids come from breadth-first order from
the root (n0 is the root), so the same graph always gives byte-identical DOT source.

Which Graphviz binary renders SVG/PNG, first match wins:
  1. `set_dot_binary(path)` or the environment variable MICROGRAD_NN_DOT (if that path
     does not exist, no other binary is tried: useful to see the fallback);
  2. `dot` on PATH;
  3. the `graphviz-pure` binary installed with this package, found next to the running
     interpreter (its scripts directory), so nothing beyond pip is needed.
Without any binary, `draw_graph(...).source` still works and notebooks show the DOT
source and a text table with a note on how to fix it, instead of raising.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
import sys
import sysconfig
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import graphviz

from .engine import Value, topological_order

__all__ = [
    "draw_graph",
    "render",
    "to_svg",
    "text_table",
    "find_dot_binary",
    "set_dot_binary",
    "backward_steps",
    "forward_steps",
    "draw_frame",
    "show_steps",
    "Frame",
    "Graph",
    "StepThrough",
]

FONT = "Courier"
STYLES = {  # kind -> (fill colour, legend text)
    "root": ("#ffd866", "output (root)"),
    "parameter": ("#a9d1f7", "parameter"),
    "input": ("#d9d9d9", "input"),
    "intermediate": ("#ffffff", "intermediate"),
}
HIGHLIGHT = "#ff9f80"  # the node a step-through frame is processing
DOT_ENV = "MICROGRAD_NN_DOT"
_dot_setting: str | None = None
FIX_HINT = (
    "Graphviz could not be run, so the graph is shown as DOT source. To render it: "
    "`pip install graphviz-pure` (installed with micrograd_nn), install Graphviz's `dot`, "
    f"or point micrograd_nn.graph.set_dot_binary(path) / ${DOT_ENV} at a dot binary."
)


def number(x: float) -> str:
    """Fixed-width numbers, so a record keeps its size from frame to frame."""
    return f"{x:9.4f}" if abs(x) < 1e5 else f"{x:9.2e}"


def _blank_or_number(x: float | None) -> str:
    """A number, or blanks of the same width where a step-through frame does not know it yet."""
    return " " * 9 if x is None else number(x)


def _escape(text: str) -> str:
    """Escape the characters that are special inside a record label."""
    for ch in "\\{}|<>\"":
        text = text.replace(ch, "\\" + ch)
    return text


class Graph(graphviz.Digraph):
    """A graphviz.Digraph that Jupyter renders with the binary found here (see the module docstring),
    showing its DOT source and how to fix things when there is none, instead of raising."""

    def _repr_mimebundle_(self, include=None, exclude=None, **_) -> dict:
        svg = to_svg(self)
        if svg is None:
            return {"text/plain": f"{FIX_HINT}\n\n{self.source}"}
        return {"image/svg+xml": svg, "text/plain": f"<computation graph: {self.source.count('->')} edges>"}


# --- which nodes to show ---


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


def _kind(node: Value, root: Value, parameters: set | None) -> str:
    if node is root:
        return "root"
    if node._prev:
        return "intermediate"
    if parameters is not None:
        return "parameter" if node in parameters else "input"
    # Without an explicit list: the course notes call inputs x… and everything else a parameter.
    return "input" if not node.label or node.label.startswith("x") else "parameter"


def draw_graph(
    root: Value,
    rankdir: str = "LR",
    show_grad: bool = True,
    show_local_grads: bool = False,
    highlight: Iterable[Value] = (),
    max_nodes: int | None = 150,
    parameters: Iterable[Value] | None = None,
    legend: bool = True,
    data: dict | None = None,
    grads: dict | None = None,
) -> Graph:
    """The computation graph of `root` as a graphviz.Digraph (a `Graph`, which displays itself in Jupyter).

    One record per Value (label | data | grad) and one small node per operation, with
    edges child → op → node. `show_local_grads` labels each child → op edge with the
    local derivative ∂node/∂child stored on the node: the chain rule made visible.
    Parameters, inputs, intermediates and the root are coloured apart (`parameters`
    says which leaves are parameters; by default leaves labelled x… or unlabelled are
    inputs). At most `max_nodes` Values nearest the root are drawn; the rest are
    folded into grey notes that say how many inputs are hidden there.
    `data`/`grads` override the numbers shown (used by the step-through frames).
    """
    shown, total = _nearest_nodes(root, max_nodes)
    ids = {node: f"n{i}" for i, node in enumerate(shown)}
    params = None if parameters is None else set(parameters.parameters() if hasattr(parameters, "parameters")
                                                else parameters)
    highlighted = set(highlight)
    dot = Graph(name="computation_graph")
    dot.attr(rankdir=rankdir, fontname=FONT)
    dot.attr("node", fontname=FONT, fontsize="11")
    dot.attr("edge", fontname=FONT, fontsize="9")
    if total > len(shown):
        dot.attr(label=f"showing the {len(shown)} nodes nearest the output, of {total}", labelloc="t")
    for node in shown:
        node_id = ids[node]
        fields = [_escape(node.label) or " ", "data " + _blank_or_number(node.data if data is None else data.get(node))]
        if show_grad:
            fields.append("grad " + _blank_or_number(node.grad if grads is None else grads.get(node)))
        fill = HIGHLIGHT if node in highlighted else STYLES[_kind(node, root, params)][0]
        dot.node(node_id, "{ " + " | ".join(fields) + " }", shape="record", style="filled", fillcolor=fill,
                 penwidth="3" if node in highlighted else "2" if node is root else "1",
                 color="#c0392b" if node in highlighted else "black")
        if not node._prev:
            continue
        op_id = node_id + "_op"
        dot.node(op_id, node._op or "?", shape="circle", width="0.3", fixedsize="false",
                 fontsize="10", margin="0.02")
        dot.edge(op_id, node_id)
        hidden = 0
        for child, local in zip(node._prev, node.local_grads):
            if child not in ids:
                hidden += 1
                continue
            label = number(local).strip() if show_local_grads else None
            dot.edge(ids[child], op_id, label=label)
        if hidden:
            dot.node(node_id + "_hidden", f"{hidden} input{'s' if hidden > 1 else ''} hidden", shape="note",
                     style="filled", fillcolor="#eeeeee", fontsize="9")
            dot.edge(node_id + "_hidden", op_id, style="dashed")
    if legend:
        cells = "".join(f'<TD BGCOLOR="{fill}">{text}</TD>' for fill, text in STYLES.values())
        dot.node("legend", f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="3"><TR>{cells}</TR></TABLE>>',
                 shape="plaintext", fontsize="9")
    return dot


# --- finding and running Graphviz ---


def set_dot_binary(path: str | os.PathLike | None) -> None:
    """Use this Graphviz binary for SVG/PNG (None: back to automatic discovery)."""
    global _dot_setting
    _dot_setting = None if path is None else os.fspath(path)


def find_dot_binary() -> str | None:
    """The absolute path of the Graphviz binary to use, or None if there is none."""
    explicit = _dot_setting or os.environ.get(DOT_ENV)
    if explicit:
        return explicit if Path(explicit).is_file() else None
    on_path = shutil.which("dot")
    if on_path:
        return on_path
    scripts = Path(sysconfig.get_path("scripts"))
    for name in ("graphviz-pure", "graphviz-pure.exe"):
        candidate = scripts / name
        if candidate.is_file():
            return str(candidate)
    beside_python = Path(sys.executable).parent / "graphviz-pure"
    return str(beside_python) if beside_python.is_file() else None


def _run_dot(source: str, fmt: str) -> bytes | None:
    binary = find_dot_binary()
    if binary is None:
        return None
    try:
        done = subprocess.run([binary, f"-T{fmt}"], input=source.encode(), capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 and done.stdout else None


def _svgs(sources: list[str]) -> list[str] | None:
    """Render many graphs with one Graphviz process (it accepts a stream of graphs)."""
    out = _run_dot("\n".join(sources), "svg")
    if out is None:
        return None
    parts = out.decode().split("<?xml")[1:]
    return ["<?xml" + p for p in parts] if len(parts) == len(sources) else None


def to_svg(graph: graphviz.Digraph | Value, **draw_kwargs) -> str | None:
    """SVG text of a Digraph (or of a Value's graph), or None if no Graphviz binary works."""
    if isinstance(graph, Value):
        graph = draw_graph(graph, **draw_kwargs)
    svgs = _svgs([graph.source])
    return svgs[0] if svgs else None


def render(root: Value, path: str | os.PathLike, format: str | None = None, **draw_kwargs) -> Path:
    """Write the graph of `root` to `path` as svg, png or dot (format from the suffix by default).

    Without a Graphviz binary the DOT source is written to `path` with a .dot suffix,
    a warning says how to fix it, and that path is returned.
    """
    path = Path(path)
    format = (format or path.suffix.lstrip(".") or "svg").lower()
    if format not in ("svg", "png", "dot"):
        raise ValueError(f"render format must be svg, png or dot, got {format!r}")
    source = draw_graph(root, **draw_kwargs).source
    path.parent.mkdir(parents=True, exist_ok=True)
    if format == "dot":
        path.write_text(source)
        return path
    out = _run_dot(source, format)
    if out is None:
        fallback = path.with_suffix(".dot")
        fallback.write_text(source)
        warnings.warn(f"{FIX_HINT} Wrote {fallback} instead of {path}.", stacklevel=2)
        return fallback
    path.write_bytes(out)
    return path


def text_table(root: Value, max_rows: int = 200) -> str:
    """A plain-text table of the graph: node, label, op, data, grad and children."""
    shown, total = _nearest_nodes(root, max_rows)
    ids = {node: f"n{i}" for i, node in enumerate(shown)}
    lines = [f"{'node':>6} {'label':<16} {'op':<8} {'data':>10} {'grad':>10}  children"]
    for node in shown:
        children = ", ".join(ids.get(c, "…") for c in node._prev)
        lines.append(f"{ids[node]:>6} {node.label[:16]:<16} {node._op[:8]:<8} {number(node.data):>10} "
                     f"{number(node.grad):>10}  {children}")
    if total > len(shown):
        lines.append(f"… {total - len(shown)} more nodes")
    return "\n".join(lines)


def value_mimebundle(value: Value) -> dict:
    """What Jupyter shows for a Value: its graph as SVG, or text when Graphviz is missing."""
    svg = to_svg(value)
    plain = repr(value)
    if svg is None:
        return {"text/plain": f"{plain}\n\n{FIX_HINT}\n\n{text_table(value)}"}
    return {"image/svg+xml": svg, "text/plain": plain}


# --- step-through ---


@dataclass(frozen=True)
class Frame:
    """One step: `node` was just processed; `data`/`grads` map each Value to what is known so far."""

    step: int
    node: Value
    data: dict
    grads: dict
    direction: str
    root: Value

    def describe(self) -> str:
        """One line on what this step did."""
        name = self.node.label or self.node._op or "leaf"
        if self.direction == "forward":
            return f"step {self.step}: {name} = {self.node.data:.4f}"
        grad = self.grads[self.node]
        if not self.node._prev:
            return f"step {self.step}: {name} is a leaf; its gradient {grad:.4f} is complete"
        return f"step {self.step}: {name} passes grad {grad:.4f} × its local derivatives to its children"


def forward_steps(root: Value) -> Iterator[Frame]:
    """One frame per node in evaluation order (children before parents), showing the values computed so far."""
    data: dict = {}
    for step, node in enumerate(topological_order(root)):
        data[node] = node.data
        yield Frame(step, node, dict(data), {}, "forward", root)


def backward_steps(root: Value) -> Iterator[Frame]:
    """One frame per node in backprop order: the root first, each node's gradient pushed to its children.

    The gradients are computed on the side, as a fresh backward() would compute them
    (every grad starting from zero, root seeded with 1); the Values' own `.grad` are
    never touched, so stepping through is safe at any time.
    """
    order = topological_order(root)
    grads = {node: 0.0 for node in order}
    grads[root] = 1.0
    values = {node: node.data for node in order}
    for step, node in enumerate(reversed(order)):
        for child, local in zip(node._prev, node.local_grads):
            grads[child] += local * grads[node]
        yield Frame(step, node, values, dict(grads), "backward", root)


def draw_frame(frame: Frame, **draw_kwargs) -> Graph:
    """The graph with the frame's numbers and its node highlighted."""
    return draw_graph(frame.root, highlight=[frame.node], data=frame.data, grads=frame.grads, **draw_kwargs)


class StepThrough:
    """Frames of a forward or backward pass; in Jupyter a slider shows one frame at a time.

    Where JavaScript is stripped (e.g. a static notebook viewer) every frame is listed in order.
    """

    def __init__(self, root: Value, direction: str = "backward", **draw_kwargs):
        if direction not in ("forward", "backward"):
            raise ValueError(f"direction must be 'forward' or 'backward', got {direction!r}")
        steps = backward_steps(root) if direction == "backward" else forward_steps(root)
        self.root = root
        self.direction = direction
        self.frames = list(steps)
        self.draw_kwargs = draw_kwargs

    def __len__(self) -> int:
        return len(self.frames)

    def graphs(self) -> list[Graph]:
        """One Digraph per frame, identical but for the numbers and the highlighted node."""
        return [draw_frame(f, **self.draw_kwargs) for f in self.frames]

    def _repr_html_(self) -> str:
        graphs = self.graphs()
        svgs = _svgs([g.source for g in graphs])
        uid = f"steps{id(self):x}"
        frames = []
        for i, (frame, graph) in enumerate(zip(self.frames, graphs)):
            body = svgs[i] if svgs else f"<pre>{html.escape(graph.source)}</pre>"
            frames.append(f'<div class="{uid}-frame" data-step="{i}"><p style="font-family:monospace;margin:4px 0">'
                          f"{html.escape(frame.describe())}</p>{body}</div>")
        note = "" if svgs else f"<p><b>{html.escape(FIX_HINT)}</b></p>"
        last = len(self.frames) - 1
        return f"""<div id="{uid}">{note}
<div style="font-family:monospace"><input type="range" id="{uid}-slider" min="0" max="{last}" value="0"
 style="width:60%;display:none"> <span id="{uid}-label"></span></div>
<div id="{uid}-frames" style="display:grid">{''.join(frames)}</div>
<script>
(function() {{
  var frames = document.querySelectorAll(".{uid}-frame");
  var slider = document.getElementById("{uid}-slider");
  var label = document.getElementById("{uid}-label");
  slider.style.display = "inline";
  frames.forEach(function(f) {{ f.style.gridArea = "1 / 1"; }});  /* stacked: the layout never moves */
  function show(k) {{
    frames.forEach(function(f, i) {{ f.style.visibility = (i == k) ? "visible" : "hidden"; }});
    label.textContent = "{self.direction} step " + k + " / {last}";
  }}
  slider.oninput = function() {{ show(+slider.value); }};
  show(0);
}})();
</script></div>"""

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text("\n".join(f.describe() for f in self.frames))


def show_steps(root: Value, direction: str = "backward", **draw_kwargs) -> StepThrough:
    """Step through the forward or backward pass of `root`; displays as a slider in Jupyter."""
    return StepThrough(root, direction, **draw_kwargs)
