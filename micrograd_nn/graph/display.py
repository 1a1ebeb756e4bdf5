"""Showing a graph: SVG text, files, a plain-text table, and what Jupyter displays for a Value."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import graphviz

from ..engine import Value, topological_order
from ..frames import fmt_fixed, node_names
from .binary import RenderFailure, no_binary_hint, run_dot, svgs
from .drawing import _nearest_nodes, draw_graph
from .viewer import drawing_html

__all__ = ["to_svg", "render", "text_table", "value_mimebundle", "svg_or_problem"]


def svg_or_problem(graph: graphviz.Digraph) -> tuple[str | None, str | None]:
    """(SVG text, None), or (None, why not: no binary found, or what the binary did wrong)."""
    try:
        drawn = svgs([graph.source])
    except RenderFailure as failure:
        return None, str(failure)
    return (drawn[0], None) if drawn else (None, no_binary_hint())


def to_svg(graph: graphviz.Digraph | Value, **draw_kwargs) -> str | None:
    """SVG text of a Digraph (or of a Value's graph), or None if it cannot be drawn: no Graphviz binary is
    found (quietly), or the binary fails or runs out of time (a warning says which)."""
    if isinstance(graph, Value):
        graph = draw_graph(graph, **draw_kwargs)
    svg, problem = svg_or_problem(graph)
    if svg is None and problem != no_binary_hint():
        warnings.warn(problem, RuntimeWarning, stacklevel=2)
    return svg


def render(root: Value | graphviz.Digraph, path: str | os.PathLike, format: str | None = None,
           **draw_kwargs) -> Path:
    """Write the graph of `root` (a Value, or a graph already drawn: `draw_graph(...)`, `sheet.graph()`) to
    `path` as svg, png or dot (format from the suffix by default).

    Without a working Graphviz binary the DOT source is written to `path` with a .dot suffix, a warning says
    why and how to fix it, and that path is returned.
    """
    path = Path(path)
    format = (format or path.suffix.lstrip(".") or "svg").lower()
    if format not in ("svg", "png", "dot"):
        raise ValueError(f"render format must be svg, png or dot, got {format!r}")
    if isinstance(root, graphviz.Digraph):
        if draw_kwargs:
            raise TypeError(f"render: {sorted(draw_kwargs)} apply when drawing a Value; this graph is drawn already")
        source = root.source
    else:
        source = draw_graph(root, **draw_kwargs).source
    path.parent.mkdir(parents=True, exist_ok=True)
    if format == "dot":
        path.write_text(source, encoding="utf-8")
        return path
    try:
        out = run_dot(source, format)
        problem = None if out is not None else no_binary_hint()
    except RenderFailure as failure:
        out, problem = None, str(failure)
    if out is None:
        fallback = path.with_suffix(".dot")
        fallback.write_text(source, encoding="utf-8")
        warnings.warn(f"{problem} Wrote {fallback} instead of {path}.", stacklevel=2)
        return fallback
    path.write_bytes(out)
    return path


def text_table(root: Value, max_rows: int = 200) -> str:
    """A plain-text table of the graph: node id, name, op, data, grad and children (ids)."""
    shown, total = _nearest_nodes(root, max_rows)
    ids = {node: f"n{i}" for i, node in enumerate(shown)}
    names = node_names(topological_order(root))
    lines = [f"{'node':>6} {'name':<16} {'op':<8} {'data':>10} {'grad':>10}  children"]
    for node in shown:
        children = ", ".join(ids.get(c, "…") for c in node._prev)
        lines.append(f"{ids[node]:>6} {names[node][:16]:<16} {str(node._op)[:8]:<8} {fmt_fixed(node.data, 10)} "
                     f"{fmt_fixed(node.grad, 10)}  {children}")
    if total > len(shown):
        lines.append(f"… {total - len(shown)} more nodes")
    return "\n".join(lines)


def value_mimebundle(value: Value) -> dict:
    """What Jupyter shows for a Value: its graph as SVG, or text (why, and a table) when it cannot be drawn."""
    plain = repr(value)
    graph = draw_graph(value)
    svg, problem = svg_or_problem(graph)
    if svg is None:
        text = {"text/plain": f"{plain}\n\n{problem}\n\n{text_table(value)}"}
        return text if problem != no_binary_hint() else {"text/html": drawing_html(graph.source), **text}
    return {"image/svg+xml": svg, "text/plain": plain}
