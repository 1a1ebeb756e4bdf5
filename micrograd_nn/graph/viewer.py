"""The viewer's page: one drawing, many frames, applied by one ES module (static/viewer.js).

A payload (a JSON-able dict, see viewer.js) holds each window's layout once and each frame as what changed. The
same module runs inlined in a saved page, in Jupyter's output, in the anywidget widget and in the site.
"""

from __future__ import annotations

import html
import itertools
import json
from functools import cache
from importlib import resources

__all__ = ["viewer_script", "viewer_html", "payload_json", "widget_class", "drawing_html"]

_uids = itertools.count(1)


@cache
def viewer_script() -> str:
    """The text of the viewer's ES module (exports `mount(root, payload, options)` and anywidget's `render`)."""
    return resources.files(__package__).joinpath("static/viewer.js").read_text(encoding="utf-8")


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
