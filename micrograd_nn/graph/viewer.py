"""The viewer's page: one drawing, many frames, applied by one ES module (static/viewer.js).

A payload (a JSON-able dict, see viewer.js) holds each window's layout once and each frame as what changed. The
same module runs inlined in a saved page, in Jupyter's output, in the anywidget widget and in the site.
"""

from __future__ import annotations

import html
import itertools
import json
import re
from functools import cache
from importlib import resources

from .binary import RenderFailure, no_binary_hint, svgs
from .drawing import Paint, Scene, _visible

__all__ = ["viewer_script", "viewer_html", "payload_json", "widget_class", "drawing_html", "layout_windows",
           "record_names", "record_texts", "inline_svg"]

_uids = itertools.count(1)


@cache
def viewer_script() -> str:
    """The text of the viewer's ES module (exports `mount(root, payload, options)` and anywidget's `render`)."""
    return resources.files(__package__).joinpath("static/viewer.js").read_text(encoding="utf-8")


_PROLOG = re.compile(r"<\?xml.*?\?>|<!DOCTYPE.*?>|<!--.*?-->|\s?xmlns(:xlink)?=\"[^\"]*\"", re.DOTALL)
# What the viewer does not need of Graphviz's SVG: element ids (it finds nodes by their <title>), the font family
# (its style sets it), whitespace between elements. A 20,000-node chain's drawings shrink by a fifth.
_SLIM = re.compile(r' id="[^"]*"| font-family="[^"]*"| xml:space="preserve"|(?<=>)\n+(?=<)')


def inline_svg(svg: str) -> str:
    """Graphviz's SVG as an element inside HTML: no XML prolog, doctype, comments or namespace URLs."""
    return _PROLOG.sub("", svg).strip()


def _slim(svg: str) -> str:
    """Graphviz's SVG inlined (see inline_svg) without what the viewer does not need."""
    return _SLIM.sub(lambda m: "\n" if m.group().startswith("\n") else "", inline_svg(svg))


def _shown(fields: list[str]) -> list[str]:
    """Record fields as Graphviz's drawing shows them: runs of spaces as one, control characters as symbols."""
    return [" ".join((f if f.isprintable() else _visible(f)).split()) for f in fields]


def layout_windows(sources: list[str]) -> tuple[list[dict], str | None]:
    """The viewer's windows: each DOT source laid out once by Graphviz, `{"svg": …}`; where no binary is found or
    it fails, `{"svg": None, "dot": …}` for the page to lay out itself, with why (else None)."""
    try:
        drawn = svgs(sources)
        note = None if drawn is not None else no_binary_hint()
    except RenderFailure as failure:
        drawn, note = None, str(failure)
    if drawn is None:
        return [{"svg": None, "dot": source} for source in sources], note
    return [{"svg": _slim(svg)} for svg in drawn], None


def record_names(scene: Scene) -> dict:
    """{DOT id: name} of every record the scene draws: the viewer's `nodes`."""
    return {scene.ids[n]: _visible(scene.name(n)) for n in scene.shown if scene.visible(n)}


def record_texts(scene: Scene, paint: Paint) -> dict:
    """{DOT id: the record's texts as drawn} under `paint`, for every record the scene draws."""
    return {scene.ids[n]: _shown(scene.fields(n, paint)) for n in scene.shown if scene.visible(n)}


def payload_json(payload: dict) -> str:
    """The payload as JSON that can sit inside a <script> element: `</` written `<\\/` and `<!--` with its `<` as
    a \\u escape, so no text in it (a label, an SVG) can close the element or start a comment. Each window's
    SVG stays readable as `<svg …` (a page holds one per window)."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return text.replace("</", "<\\/").replace("<!--", "\\u003c!--")


def viewer_html(payload: dict, *, standalone: bool = False, fallback: str = "", height: str | None = None) -> str:
    """One viewer as HTML: a `.mg-steps` element, the payload, and viewer.js inlined as a module that mounts it.

    `fallback` is HTML shown where JavaScript does not run (the ledger). `standalone=True` gives a whole offline
    page whose keys (← → space) work from load; in a notebook they work once the viewer has focus.
    """
    uid = f"mg-steps-{next(_uids)}-{id(payload) & 0xFFFFFF:x}"
    keyboard = "document" if standalone else "root"
    height = height or ("calc(100vh - 330px)" if standalone else "460px")
    options = json.dumps({"keyboard": keyboard, "height": height})
    title = html.escape(str(payload.get("title", "step-through")))
    body = (f'<div class="mg-steps" id="{uid}" tabindex="0" data-step="0" aria-label="{title}">\n'
            f"<noscript>{fallback}</noscript>\n"
            f'<script type="application/json" id="{uid}-data">{payload_json(payload)}</script>\n'
            f'<script type="module">\n{viewer_script()}\n'
            f'mount(document.getElementById("{uid}"), '
            f'JSON.parse(document.getElementById("{uid}-data").textContent), {options});\n'
            "</script>\n</div>")
    if not standalone:
        return body
    return ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{title}</title>\n<style>body {{ margin: 8px 16px; }}</style>\n</head>\n<body>\n"
            f"{body}\n</body>\n</html>\n")


def drawing_html(dot: str) -> str:
    """HTML that lays out DOT in the page with Graphviz compiled to WebAssembly (vendored viz.js): what a notebook
    shows for a graph where no dot binary exists (JupyterLite, a kernel without graphviz-pure)."""
    from .vizjs import viz_layout_html

    uid = f"mg-graph-{next(_uids)}"
    return (f'{viz_layout_html()}<div class="mg-graph" id="{uid}" style="overflow: auto">laying out the graph…</div>\n'
            f'<script type="application/json" id="{uid}-dot">{payload_json(dot)}</script>\n'
            '<script type="module">\n'
            f'const holder = document.getElementById("{uid}");\n'
            f'const dot = JSON.parse(document.getElementById("{uid}-dot").textContent);\n'
            "holder.innerHTML = await globalThis.mgLayout(dot);\n"
            "</script>\n")


def widget_class():
    """The anywidget class of the viewer (needs `pip install 'micrograd_nn[live]'`)."""
    try:
        import anywidget
        import traitlets
    except ImportError:
        raise ImportError("the live viewer widget needs anywidget: pip install 'micrograd_nn[live]' "
                          "(without it, display the step-through or save it as .html)") from None

    class ViewerWidget(anywidget.AnyWidget):
        """The step-through viewer as a Jupyter widget: set `.payload`, or `.add_frames([...])` to append steps
        (each shown as it arrives), or `.apply(frame)` to change the drawing without adding a step."""

        _esm = viewer_script()
        payload = traitlets.Dict().tag(sync=True)

        def add_frames(self, frames: list[dict]) -> None:
            self.payload["frames"].extend(frames)  # kept for a later re-render of the widget
            self.send({"type": "frames", "frames": frames})

        def apply(self, frame: dict) -> None:
            self.send({"type": "apply", "frame": frame})

    return ViewerWidget
