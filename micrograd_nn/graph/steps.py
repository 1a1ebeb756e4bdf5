"""Step-through: the frames of a pass drawn one by one, as HTML with a slider (Jupyter or a file) or a GIF.

The page works without a network and, without JavaScript, lists every frame in order. With JavaScript:
prev / next / play buttons, a slider and the arrow keys; each drawing keeps its natural size in a scrollable
area, with a fit-to-width toggle.
"""

from __future__ import annotations

import html
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path

from ..engine import Value, topological_order
from ..frames import Frame, backward_steps, forward_steps, model_names, node_names, replay
from .binary import RenderFailure, no_binary_hint, run_dot, svgs
from .drawing import Graph, Paint, Scene, _visible

__all__ = ["StepThrough", "show_steps"]


class StepThrough:
    """Frames of a forward or backward pass, drawn one at a time.

    In Jupyter it displays as a slider; `save("steps.html")` writes one self-contained page and
    `save("steps.gif")` an animation (needs Pillow: `pip install 'micrograd_nn[gif]'`). Printed, it is the
    ledger: every step as a line of the chain rule with its numbers.
    """

    def __init__(self, root: Value, direction: str = "backward", *, parameters=None, collapsed: bool = False,
                 rankdir: str = "LR", show_local_grads: bool = False, max_nodes: int | None = 150,
                 legend: bool = True):
        if direction not in ("forward", "backward"):
            raise ValueError(f"direction must be 'forward' or 'backward', got {direction!r}")
        if not isinstance(root, Value):
            raise TypeError(f"show_steps needs a Value, got {type(root).__name__}")
        order = topological_order(root)
        names = node_names(order, model_names(order, parameters))
        self.root, self.direction = root, direction
        self.scene = Scene(root, rankdir, direction == "backward", show_local_grads, max_nodes, parameters, legend,
                           collapsed, names)
        steps = backward_steps(root, names) if direction == "backward" else forward_steps(root, names)
        self.frames: list[Frame] = list(steps)

    def __len__(self) -> int:
        return len(self.frames)

    def ledger(self) -> str:
        """Every frame's description, in order."""
        return "\n".join(frame.text() for frame in self.frames)

    def pictures(self, captions: bool = False) -> Iterator[tuple[Frame, Paint]]:
        """(frame, what its drawing shows) for each frame that has a drawing of its own (in the collapsed view,
        the weights inside a neuron box get none: the box's step lists them)."""
        uses_left = dict.fromkeys(self.frames[0].trace.order, 0) if self.frames else {}
        for node in list(uses_left):
            for child in node._prev:
                uses_left[child] += 1
        for frame, known, finished in replay(self.frames):
            for edge in frame.edges:
                uses_left[edge.child] -= 1
            if not frame.node._prev and not self.scene.visible(frame.node):
                continue
            done = finished - {frame.node}
            caption = frame.text() if captions else ""
            if self.direction == "backward":
                partial = {node for node in known if uses_left.get(node, 0) > 0}
                yield frame, Paint(grads=dict(known), partial=partial, current=frame.node, done=done,
                                   caption=caption)
            else:  # copies: `known` goes on changing after this frame, and a caller may keep every picture
                yield frame, Paint(data=dict(known), current=frame.node, done=done, caption=caption)

    def graphs(self, captions: bool = False) -> list[Graph]:
        """One Digraph per drawn frame: the same layout, with the numbers known at that step."""
        return [self.scene.graph(paint) for _, paint in self.pictures(captions)]

    # --- HTML ---

    def html(self, standalone: bool = False) -> str:
        """The step-through as HTML: every frame's ledger and drawing (inline SVG), with controls."""
        drawn = [(frame, self.scene.graph(paint).source) for frame, paint in self.pictures()]
        try:
            rendered = svgs([source for _, source in drawn])
            problem = None if rendered is not None else no_binary_hint()
        except RenderFailure as failure:
            rendered, problem = None, str(failure)
        sections = []
        for i, (frame, source) in enumerate(drawn):
            body = inline_svg(rendered[i]) if rendered else f"<pre>{html_text(source)}</pre>"
            sections.append(f'<section class="mg-frame" data-step="{i}">\n<pre class="mg-ledger">'
                            f"{html_text(frame.text())}</pre>\n<div class=\"mg-drawing\">{body}</div>\n</section>")
        note = f'<p class="mg-note">{html_text(problem)}</p>' if problem else ""
        uid = f"mg-steps-{id(self):x}"
        title = f"{self.direction} pass, {len(self.frames)} steps"
        page = _TEMPLATE.format(uid=uid, note=note, frames="\n".join(sections), last=max(len(sections) - 1, 0),
                                title=html.escape(title), direction=self.direction)
        if not standalone:
            return page
        return ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
                f"<title>{html.escape(title)}</title>\n</head>\n<body>\n{page}\n</body>\n</html>\n")

    def _repr_html_(self) -> str:
        return self.html()

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(self.ledger())

    def __str__(self) -> str:
        return self.ledger()

    # --- files ---

    def save(self, path: str | os.PathLike, duration_ms: int = 1200) -> Path:
        """Write the step-through: `.html` (one self-contained page) or `.gif` (an animation, one frame per step
        with its ledger as caption, padded to one size; needs Pillow and a Graphviz binary)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix in (".html", ".htm"):
            path.write_text(self.html(standalone=True), encoding="utf-8")
        elif suffix == ".gif":
            path.write_bytes(self._gif(duration_ms))
        else:
            raise ValueError(f"save: unknown file type {path.suffix or '(no suffix)'} for {path}; use .html or .gif")
        return path

    def _gif(self, duration_ms: int) -> bytes:
        try:
            from PIL import Image
        except ImportError:
            raise ImportError("saving a step-through as GIF needs Pillow: pip install 'micrograd_nn[gif]' "
                              "(or save it as .html, which needs nothing)") from None
        sources = [graph.source for graph in self.graphs(captions=True)]
        stream = run_dot("\n".join(sources), "png")
        if stream is None:
            raise RenderFailure("No Graphviz binary was found, so no GIF can be drawn: install graphviz-pure or "
                                "Graphviz's `dot`, or save the step-through as .html")
        pngs = [b"\x89PNG" + part for part in stream.split(b"\x89PNG")[1:]]
        if len(pngs) != len(sources):
            raise RenderFailure(f"Graphviz returned {len(pngs)} images for {len(sources)} frames")
        images = [Image.open(io.BytesIO(png)).convert("RGB") for png in pngs]
        width, height = max(im.width for im in images), max(im.height for im in images)
        padded = []
        for im in images:
            canvas = Image.new("RGB", (width, height), "white")
            canvas.paste(im, (0, 0))
            padded.append(canvas.convert("P", palette=Image.Palette.ADAPTIVE))
        out = io.BytesIO()
        padded[0].save(out, format="GIF", save_all=True, append_images=padded[1:], duration=duration_ms, loop=0)
        return out.getvalue()


def html_text(text: str) -> str:
    """Text for HTML: markup characters escaped, and ':' as a character reference too, so that no text a user
    wrote (a label, an op) reads as a `javascript:` address even to a careless parser. Control characters
    other than line breaks and tabs are shown as their symbols (NUL → ␀): HTML has no place for them."""
    return html.escape(_CONTROL_BUT_LAYOUT.sub(lambda m: _visible(m.group()), text)).replace(":", "&#58;")


_CONTROL_BUT_LAYOUT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


_PROLOG = re.compile(r"<\?xml.*?\?>|<!DOCTYPE.*?>|<!--.*?-->|\s?xmlns(:xlink)?=\"[^\"]*\"", re.DOTALL)


def inline_svg(svg: str) -> str:
    """Graphviz's SVG as an element inside HTML: no XML prolog, doctype, comments or namespace URLs."""
    return _PROLOG.sub("", svg).strip()


_TEMPLATE = """<div class="mg-steps" id="{uid}" tabindex="0" aria-label="{title}">
<style>
#{uid} {{ font-family: monospace; outline: none; }}
#{uid} .mg-controls {{ display: none; gap: 6px; align-items: center; flex-wrap: wrap; margin: 4px 0; }}
#{uid}.mg-live .mg-controls {{ display: flex; }}
#{uid}.mg-live .mg-frame {{ display: none; }}
#{uid}.mg-live .mg-frame.mg-shown {{ display: block; }}
#{uid} .mg-frame {{ border-top: 1px solid #ccc; padding: 4px 0; }}
#{uid} .mg-ledger {{ white-space: pre-wrap; margin: 4px 0; font-size: 13px; }}
#{uid} .mg-drawing {{ overflow: auto; max-height: 75vh; max-width: 100%; }}
#{uid}.mg-fit .mg-drawing svg {{ width: 100%; height: auto; }}
#{uid} .mg-note {{ font-weight: bold; }}
</style>
{note}
<div class="mg-controls">
<button type="button" data-go="first" title="first step">&#x23EE;</button>
<button type="button" data-go="prev" title="previous step (left arrow)">&#x25C0; prev</button>
<button type="button" data-go="play" title="play / pause (space)">&#x25B6; play</button>
<button type="button" data-go="next" title="next step (right arrow)">next &#x25B6;</button>
<button type="button" data-go="last" title="last step">&#x23ED;</button>
<input type="range" class="mg-slider" min="0" max="{last}" value="0" step="1" aria-label="step">
<span class="mg-label"></span>
<label><input type="checkbox" class="mg-fit-toggle"> fit to width</label>
</div>
<div class="mg-frames">
{frames}
</div>
<script>
(function () {{
  var root = document.getElementById("{uid}");
  var frames = root.querySelectorAll(".mg-frame");
  var slider = root.querySelector(".mg-slider");
  var label = root.querySelector(".mg-label");
  var play = root.querySelector("[data-go=play]");
  var timer = null, current = 0, last = frames.length - 1;
  root.classList.add("mg-live");
  function show(k) {{
    current = Math.max(0, Math.min(last, k));
    frames.forEach(function (f, i) {{ f.classList.toggle("mg-shown", i === current); }});
    slider.value = current;
    label.textContent = "{direction} step " + current + " / " + last;
  }}
  function stop() {{ if (timer) {{ clearInterval(timer); timer = null; play.textContent = "\\u25B6 play"; }} }}
  function toggle() {{
    if (timer) {{ stop(); return; }}
    if (current >= last) show(0);
    play.textContent = "\\u275A\\u275A pause";
    timer = setInterval(function () {{ if (current >= last) stop(); else show(current + 1); }}, 900);
  }}
  var moves = {{ first: function () {{ return 0; }}, prev: function () {{ return current - 1; }},
                next: function () {{ return current + 1; }}, last: function () {{ return last; }} }};
  root.querySelectorAll("[data-go]").forEach(function (b) {{
    b.addEventListener("click", function () {{
      var go = b.getAttribute("data-go");
      if (go === "play") toggle(); else {{ stop(); show(moves[go]()); }}
    }});
  }});
  slider.addEventListener("input", function () {{ stop(); show(+slider.value); }});
  root.querySelector(".mg-fit-toggle").addEventListener("change", function (e) {{
    root.classList.toggle("mg-fit", e.target.checked);
  }});
  root.addEventListener("keydown", function (e) {{
    if (e.target.tagName === "INPUT" && e.target.type === "range") return;  /* the slider moves itself */
    if (e.key === "ArrowRight") {{ stop(); show(current + 1); e.preventDefault(); }}
    else if (e.key === "ArrowLeft") {{ stop(); show(current - 1); e.preventDefault(); }}
    else if (e.key === " ") {{ toggle(); e.preventDefault(); }}
  }});
  show(0);
}})();
</script>
</div>"""


def show_steps(root: Value, direction: str = "backward", *, parameters=None, collapsed: bool = False,
               rankdir: str = "LR", show_local_grads: bool = False, max_nodes: int | None = 150,
               legend: bool = True) -> StepThrough:
    """Step through the forward or the backward pass of `root`, one node per frame.

    Backward frames apply, at each node n and each child c, c.grad += ∂n/∂c × n.grad, starting from the
    root's gradient 1, on the side (no `.grad` changes). `parameters` (a module or a list) names and colours
    the parameters; `collapsed=True` draws each neuron as one box. Displays as a slider in Jupyter;
    `.save("steps.html")` / `.save("steps.gif")` export it; `print()` gives the ledger.
    """
    return StepThrough(root, direction, parameters=parameters, collapsed=collapsed, rankdir=rankdir,
                       show_local_grads=show_local_grads, max_nodes=max_nodes, legend=legend)
