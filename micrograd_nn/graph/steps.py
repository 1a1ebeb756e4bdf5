"""Step-through: the frames of a pass played on one drawing (Jupyter, a saved page, a widget) or as a GIF.

The graph is laid out once (in windows along the pass when it is too large to draw whole) and each frame is
handed to the viewer (static/viewer.js) as what changed: the node being processed, the edges carrying gradient,
the record texts whose numbers became known, the nodes finished. Without JavaScript the page is the ledger.
"""

from __future__ import annotations

import html
import io
import math
import os
import re
import warnings
from collections.abc import Iterable, Iterator
from copy import deepcopy
from pathlib import Path

from ..engine import Value, topological_order
from ..frames import Frame, backward_steps, fmt, forward_steps, model_names, node_names, replay
from .binary import TIMEOUT_SECONDS, RenderFailure, run_dot
from .drawing import Graph, Paint, Scene, _visible
from .viewer import _shown, layout_windows, record_names, viewer_html, widget_class

__all__ = ["StepThrough", "show_steps"]

MAX_NODES = 500  # Values in one drawing; a larger graph is drawn in windows that follow the pass
MAX_STEPS = 25_000  # frames a page or widget holds unless asked for more: a page stays tens of MB
MAX_GIF_FRAMES = 120  # at 1.2 s a picture, two and a half minutes: longer passes are read in the page
MAX_PICTURE_WIDTH = 1600  # px: a GIF or PNG of a step is cropped to the current node's neighbourhood, then shrunk
NEIGHBOURS = 40  # inputs of one node drawn in a window or a cropped picture; the rest are noted as hidden
DIRECTIONS = ("backward", "forward", "tangent")
PREDICTED = 6  # gradients a learner is asked to predict at one step (a 33-term sum asks for the first six)


class StepThrough:
    """Frames of a forward, backward or tangent (forward-mode) pass, played on one drawing.

    In Jupyter it displays as the viewer; `save("steps.html")` writes one self-contained page, `save("steps.gif")`
    an animation and `save("step.png", step=k)` one step (both need Pillow: `pip install 'micrograd_nn[gif]'`,
    and are cropped around each step's node). `widget()` gives a live anywidget viewer. Printed, it is the
    ledger: every step as a line of the chain rule with its numbers.
    """

    def __init__(self, root: Value, direction: str = "backward", *, parameters=None, collapsed: bool = False,
                 rankdir: str = "LR", show_local_grads: bool = False, max_nodes: int | None = MAX_NODES,
                 legend: bool = True, tangents: dict | None = None, max_steps: int | None = MAX_STEPS,
                 predict: bool = False, notation: str = "dotted"):
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be 'backward', 'forward' or 'tangent', got {direction!r}")
        if not isinstance(root, Value):
            raise TypeError(f"show_steps needs a Value, got {type(root).__name__}")
        if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1):
            raise ValueError(f"max_steps must be a positive int or None, got {max_steps!r}")
        if predict and direction != "backward":
            raise ValueError("predict=True asks for the gradients a backward step passes on: direction='backward'")
        if (tangents is None) != (direction != "tangent"):
            raise ValueError("tangents={leaf: number, ...} goes with direction='tangent', and only with it")
        order = topological_order(root)
        names = node_names(order, model_names(order, parameters, notation))
        self.root, self.direction, self.max_nodes, self.max_steps = root, direction, max_nodes, max_steps
        self.predict = predict
        self.scene = Scene(root, rankdir, direction != "forward", show_local_grads, None, parameters, legend,
                           collapsed, names)
        if max_nodes is not None and (isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1):
            raise ValueError(f"max_nodes must be a positive int or None, got {max_nodes!r}")
        if direction == "backward":
            steps = backward_steps(root, names)
        elif direction == "forward":
            steps = forward_steps(root, names)
        else:
            from ..frames import tangent_steps
            steps = tangent_steps(root, tangents, names)
        self.frames: list[Frame] = list(steps)
        self._payload: dict | None = None

    def __len__(self) -> int:
        return len(self.frames)

    def ledger(self) -> str:
        """Every frame's description, in order."""
        return "\n".join(frame.text() for frame in self.frames)

    @property
    def _grad_name(self) -> str:
        return "tangent" if self.direction == "tangent" else "grad"

    def pictures(self, captions: bool = False) -> Iterator[tuple[Frame, Paint]]:
        """(frame, what its drawing shows) for each frame, every number copied (kept pictures stay as they were)."""
        uses_left = _uses(self.frames[0].trace.order) if self.frames else {}
        for frame, known, finished in replay(self.frames):
            for edge in frame.edges:
                uses_left[edge.child] -= 1
            done = finished - {frame.node}
            caption = frame.text() if captions else ""
            if self.direction == "forward":
                yield frame, Paint(data=dict(known), current=frame.node, done=done, caption=caption)
            else:
                partial = {node for node in known if uses_left.get(node, 0) > 0} if self.direction == "backward" \
                    else set()
                yield frame, Paint(grads=dict(known), partial=partial, current=frame.node, done=done,
                                   caption=caption, grad_name=self._grad_name)

    def graphs(self, captions: bool = False) -> list[Graph]:
        """One Digraph per frame: the same layout, with the numbers known at that step."""
        return [self.scene.graph(paint) for _, paint in self.pictures(captions)]

    # --- the viewer ---

    def payload(self) -> dict:
        """What the viewer (static/viewer.js) plays: each window's drawing once, each frame as what changed.

        Each window is laid out by Graphviz here (`svg`); without a binary its DOT source is sent instead, for a
        page that can lay it out itself. Computed once and kept.
        """
        if self._payload is None:
            self._payload = _Player(self).payload()
        return self._payload

    def html(self, standalone: bool = False) -> str:
        """The step-through as HTML: the viewer, or without JavaScript the ledger."""
        payload = self.payload()
        fallback = f'<pre class="mg-fallback">{html_text(self.ledger())}</pre>'
        page = viewer_html(payload, standalone=standalone, fallback=fallback)
        if payload["windows"] and payload["windows"][0]["svg"] is None:  # no dot binary: Graphviz in the page
            from .vizjs import viz_layout_html

            anchor = page.index('<div class="mg-steps"')
            page = page[:anchor] + viz_layout_html() + page[anchor:]
        return page

    def widget(self):
        """The viewer as an anywidget widget (`pip install 'micrograd_nn[live]'`), updatable from Python; frames
        added to the widget stay out of this step-through's own pages."""
        return widget_class()(payload=deepcopy(self.payload()))

    def _repr_html_(self) -> str:
        return self.html()

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(self.ledger())

    def __str__(self) -> str:
        return self.ledger()

    # --- files ---

    def save(self, path: str | os.PathLike, duration_ms: int = 1200, step: int | None = None,
             steps: Iterable[int] | None = None) -> Path:
        """Write the step-through: `.html` (one self-contained page), `.gif` (an animation, one picture per step
        with its ledger as caption, each cropped around the step's node; `steps=range(0, 40)` picks steps) or
        `.png` (one step, `step=k`)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix in (".html", ".htm"):
            path.write_text(self.html(standalone=True), encoding="utf-8")
        elif suffix == ".gif":
            path.write_bytes(self._gif(duration_ms, self._steps(range(len(self.frames)) if steps is None else steps)))
        elif suffix == ".png":
            if step is None:
                raise ValueError(f"save(.png) needs step=k with 0 <= k < {len(self.frames)}")
            path.write_bytes(self._pngs(self._steps([step]))[0])
        else:
            raise ValueError(f"save: unknown file type {path.suffix or '(no suffix)'} for {path}; "
                             "use .html, .gif or .png")
        return path

    def picture(self, step: int, caption: bool = True) -> Graph:
        """The drawing of one step, cropped to its node, the node's inputs and its users (a picture that stays
        a sane size however large the graph)."""
        paints = dict(self._paints({step}, caption))
        frame = self.frames[step]
        return self.scene.window(_neighbourhood(self.scene, frame.node)).graph(paints[step])

    def _paints(self, steps: set, captions: bool) -> Iterator[tuple[int, Paint]]:
        for index, (_, paint) in enumerate(self.pictures(captions)):
            if index in steps:
                yield index, paint
            if index >= max(steps):
                return

    def _pngs(self, steps: list[int]) -> list[bytes]:
        Image = _pillow()
        wanted = set(steps)
        paints = dict(self._paints(wanted, True))
        sources = [self.scene.window(_neighbourhood(self.scene, self.frames[k].node)).graph(paints[k]).source
                   for k in steps]
        stream = run_dot("\n".join(sources), "png", timeout=TIMEOUT_SECONDS * max(1, len(sources) // 20))
        if stream is None:
            raise RenderFailure("No Graphviz binary was found, so no picture can be drawn: install graphviz-pure or "
                                "Graphviz's `dot`, or save the step-through as .html")
        pngs = [b"\x89PNG" + part for part in stream.split(b"\x89PNG")[1:]]
        if len(pngs) != len(sources):
            raise RenderFailure(f"Graphviz returned {len(pngs)} images for {len(sources)} frames")
        out = []
        for png in pngs:
            with Image.open(io.BytesIO(png)) as image:
                if image.width > MAX_PICTURE_WIDTH:  # shrink, keeping the proportions
                    image = image.resize((MAX_PICTURE_WIDTH, max(1, image.height * MAX_PICTURE_WIDTH // image.width)))
                buffer = io.BytesIO()
                image.save(buffer, format="PNG")
                out.append(buffer.getvalue())
        return out

    def _steps(self, steps: Iterable[int]) -> list[int]:
        """Step numbers checked against the frames (a bool, a non-int or one out of range is refused)."""
        chosen = list(steps)
        for k in chosen:
            if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < len(self.frames):
                raise ValueError(f"a step must be an int k with 0 <= k < {len(self.frames)}, got {k!r}")
        if not chosen:
            raise ValueError("no step chosen")
        return chosen

    def _gif(self, duration_ms: int, steps: list[int]) -> bytes:
        if len(steps) > MAX_GIF_FRAMES:
            raise ValueError(f"a GIF of {len(steps)} steps would be too long to watch (at most {MAX_GIF_FRAMES}): "
                             "pick some with steps=range(…), save the whole step-through as .html, or one step "
                             "as .png (step=k)")
        Image = _pillow()
        images = [Image.open(io.BytesIO(png)).convert("RGB") for png in self._pngs(steps)]
        width, height = max(im.width for im in images), max(im.height for im in images)
        padded = []
        for im in images:
            canvas = Image.new("RGB", (width, height), "white")
            canvas.paste(im, (0, 0))
            padded.append(canvas.convert("P", palette=Image.Palette.ADAPTIVE))
        out = io.BytesIO()
        padded[0].save(out, format="GIF", save_all=True, append_images=padded[1:], duration=duration_ms, loop=0)
        return out.getvalue()


def _pillow():
    """PIL.Image, or an ImportError that says what to install."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("saving a step-through as GIF or PNG needs Pillow: pip install 'micrograd_nn[gif]' "
                          "(or save it as .html, which needs nothing)") from None
    return Image


def _number(x: float) -> float | str:
    """x for JSON: a float, or "NaN" / "Infinity" / "-Infinity" as text (which JavaScript's Number() reads)."""
    return x if math.isfinite(x) else str(x).replace("inf", "Infinity").replace("nan", "NaN")


def _uses(order: list[Value]) -> dict:
    """{node: how many edges lead out of it}: a gradient is a running total until all of them have been taken."""
    uses = dict.fromkeys(order, 0)
    for node in order:
        for child in node._prev:
            uses[child] += 1
    return uses


def _neighbourhood(scene: Scene, node: Value) -> list[Value]:
    """A node's drawn record with its neuron box's parts, its inputs (at most NEIGHBOURS) and its users."""
    head = scene.head(node)
    inner, _ = scene.target(head)
    near = [head, node, inner] + list(inner._prev[:NEIGHBOURS]) + scene.parents.get(head, [])[:NEIGHBOURS]
    return scene.members(near)


class _Player:
    """Builds the viewer's payload of a StepThrough: windows laid out once, frames as changes."""

    def __init__(self, steps: StepThrough):
        self.steps = steps
        self.scene = steps.scene.window(steps.scene.shown)
        self.scene.legend = False  # the viewer draws its own legend, every style in it
        frames = steps.frames
        self.frames = frames if steps.max_steps is None else frames[:steps.max_steps]
        self.copies: dict = {}  # Value -> [(copy id, use text)]
        for node in self.scene.shown:
            if self.scene.visible(node):
                for _, child, tail, use in self.scene.inputs(node)[0]:
                    if use:
                        self.copies.setdefault(child, []).append((tail, use))

    def texts(self, node: Value, paint: Paint) -> dict:
        """{drawn id: its texts as the drawing shows them} for the record holding `node` and its copies."""
        head = self.scene.head(node)
        out = {}
        if head in self.scene.ids:
            out[self.scene.ids[head]] = _shown(self.scene.fields(head, paint))
        for copy_id, use in self.copies.get(node, ()):
            out[copy_id] = _shown(self.scene.fields(node, paint, use))
        return out

    def hot(self, node: Value) -> list[str]:
        """The titles of the edges a step at `node` highlights: its inputs (into its op or its neuron box) and,
        for a node with an op circle, the op's edge to the node. In a neuron box only z's step has input edges."""
        scene = self.scene
        if not node._prev:
            return []
        inner, target = scene.target(node)
        if inner is not node:
            return []
        titles = [f"{tail}->{target}" for _, _, tail, _ in scene.inputs(node)[0]]
        if node not in scene.units:
            titles.append(f"{target}->{scene.ids[node]}")
        return titles

    def questions(self, frame: Frame) -> list:
        """[child's name, its gradient after this step, [[a likely wrong answer, the slip it shows], …]] for the
        first PREDICTED children of a backward step: what predict mode asks."""
        last_edge = {edge.child: edge for edge in frame.edges}  # a child used twice: its total after both
        asked = []
        for child, edge in list(last_edge.items())[:PREDICTED]:
            name, parent = self.scene.name(child), frame.name
            before = edge.total_after - edge.contribution
            slips = [(-edge.total_after, "the sign is flipped"),
                     (before + edge.upstream, f"∂{parent}/∂{name} seems left out: multiply {parent}.grad by it"),
                     (before + edge.upstream * child.data, f"that uses {name}'s value, not ∂{parent}/∂{name}"),
                     (edge.contribution, f"{name}.grad already held {fmt(before)}: gradients add up (+=)")]
            hints = [[_number(value), hint] for value, hint in slips
                     if value != edge.total_after and not (hint.startswith(name) and before == 0)]
            asked.append([name, _number(edge.total_after), hints])
        return asked

    def windows(self) -> tuple[list[list[Value]], list[int]]:
        """The nodes of each window and the window of each frame. One window when the graph fits `max_nodes`;
        else consecutive frames share a window until it would hold more than `max_nodes` Values."""
        scene, limit = self.scene, self.steps.max_nodes
        if limit is None or len(scene.shown) <= limit:
            return [scene.shown], [0] * len(self.frames)
        windows, of_frame, current, core = [], [], set(), 0
        for frame in self.frames:
            wanted = set(_neighbourhood(scene, frame.node))
            if core and len(current | wanted) > limit:
                windows.append(current)
                current, core = set(), 0
            current |= wanted
            core += 1
            of_frame.append(len(windows))
        windows.append(current)
        return [list(w) for w in windows], of_frame

    def payload(self) -> dict:
        steps, scene = self.steps, self.scene
        direction, frames = steps.direction, self.frames
        grad_name = steps._grad_name
        uses_left = _uses(frames[0].trace.order) if frames else {}
        numbers = "data" if direction == "forward" else "grads"
        paint = Paint(current=steps.root, grad_name=grad_name, **{numbers: {}})
        if direction == "backward":  # a value or a tangent is whole at its step; a gradient may be a running total
            paint.partial = _Partial(paint, uses_left)
        start = {}
        for node in scene.shown:
            if scene.visible(node):
                start.update(self.texts(node, paint))
        last = dict(start)
        out_frames, done_before = [], None
        window_nodes, of_frame = self.windows()
        known: dict = {}
        for index, (frame, known, finished) in enumerate(replay(frames)):
            setattr(paint, numbers, known)  # replay fills one dict as it goes: the paint reads it live
            for edge in frame.edges:
                uses_left[edge.child] -= 1
            changed = {}
            for node in [frame.node, *(edge.child for edge in frame.edges)]:
                for drawn_id, texts in self.texts(node, paint).items():
                    if last.get(drawn_id) != texts:
                        changed[drawn_id] = last[drawn_id] = texts
            head = scene.head(frame.node)
            entry = {"step": frame.step, "window": of_frame[index],
                     "current": scene.ids.get(head), "hot": self.hot(frame.node), "texts": changed,
                     "ledger": frame.text()}
            if done_before is not None:
                entry["done"] = [done_before]
            if steps.predict and frame.edges:  # each child's gradient after this step, at most PREDICTED of them
                entry["ask"] = self.questions(frame)
            done_before = scene.ids.get(head) if all(m in finished for m in scene.parts(head)) else None
            out_frames.append(entry)
        # The layout is drawn with every number known and room for a running total's mark: the widest texts.
        shared = {node for node, uses in _uses(frames[0].trace.order).items() if uses > 1} if frames else set()
        final = Paint(grad_name=grad_name, partial=shared if direction == "backward" else set(),
                      **{numbers: dict(known)})
        sources = [scene.window(nodes).graph(final).source for nodes in window_nodes]
        windows, note = layout_windows(sources)
        nodes = record_names(scene)
        copies = {copy_id: scene.ids[node] for node, uses in self.copies.items() for copy_id, _ in uses}
        title = f"{direction} pass, {len(steps.frames)} steps"
        if len(frames) < len(steps.frames):
            note = (f"This graph has {len(steps.frames)} steps; the viewer holds the first {len(frames)} "
                    "(show_steps(..., max_steps=None) holds them all; print() gives the whole ledger).")
            warnings.warn(note, stacklevel=4)
        payload = {"title": title, "direction": direction, "windows": windows, "nodes": nodes, "copies": copies,
                   "texts": start, "frames": out_frames, "clusters": bool(scene.clusters) and not scene.units}
        if note:
            payload["note"] = note
        if steps.predict:
            payload["predict"] = True
        return payload


class _Partial:
    """`node in partial`: the node has a gradient and some of its uses have not passed theirs yet (read live)."""

    def __init__(self, paint: Paint, uses_left: dict):
        self.paint, self.uses_left = paint, uses_left

    def __contains__(self, node) -> bool:
        return node in self.paint.grads and self.uses_left.get(node, 0) > 0


def html_text(text: str) -> str:
    """Text for HTML: markup characters escaped, and ':' as a character reference too, so that no text a user
    wrote (a label, an op) reads as a `javascript:` address even to a careless parser. Control characters
    other than line breaks and tabs are shown as their symbols (NUL → ␀): HTML has no place for them."""
    return html.escape(_CONTROL_BUT_LAYOUT.sub(lambda m: _visible(m.group()), text)).replace(":", "&#58;")


_CONTROL_BUT_LAYOUT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")







def show_steps(root: Value, direction: str = "backward", *, parameters=None, collapsed: bool = False,
               rankdir: str = "LR", show_local_grads: bool = False, max_nodes: int | None = MAX_NODES,
               legend: bool = True, tangents: dict | None = None, max_steps: int | None = MAX_STEPS,
               predict: bool = False, notation: str = "dotted") -> StepThrough:
    """Step through the backward, forward or tangent (forward-mode) pass of `root`, one node per frame.

    Backward frames apply, at each node n and each child c, c.grad += ∂n/∂c × n.grad, starting from the
    root's gradient 1, on the side (no `.grad` changes). Tangent frames push ṅ += ∂n/∂c × ċ from the leaves,
    starting from `tangents={leaf: number}`. `parameters` (a module or a list) names and colours the
    parameters (`notation="layer"` names them as a textbook does: `W[2]₀,₁`, `a[1]₀`); `collapsed=True` draws
    each neuron as one box. The drawing is laid out once (in windows of at
    most `max_nodes` Values along the pass for a larger graph) and the viewer follows the step; a page holds at
    most `max_steps` frames (None: all). `predict=True` asks, at each backward step, for the gradients it passes
    on before showing them (right means equal to 4 significant digits). Displays as the viewer in Jupyter;
    `.save("steps.html")`, `.save("steps.gif")` and `.save("step.png", step=k)` export it; `.widget()` is a
    live widget; `print()` gives the ledger.
    """
    return StepThrough(root, direction, parameters=parameters, collapsed=collapsed, rankdir=rankdir,
                       show_local_grads=show_local_grads, max_nodes=max_nodes, legend=legend, tangents=tangents,
                       max_steps=max_steps, predict=predict, notation=notation)
