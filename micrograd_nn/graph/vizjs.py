"""Graphviz in the page, for where no dot binary exists: @viz-js/viz, Graphviz compiled to WebAssembly.

static/viz.js is @viz-js/viz's standalone ES module (the wasm is inside it; MIT, with Graphviz under the EPL:
static/viz.LICENSE.txt), refreshed by `python tools/vendor.py viz`. In JavaScript:

    import { instance } from "./viz.js";
    const svgText = (await instance()).renderString(dot, { format: "svg" });

static/layout.js wraps that as `layout(dot) -> Promise<svgText>`, the `options.layout` of the viewer's `mount`.
The browser site serves both files. A page that can only inline text (a notebook's output) uses
`viz_layout_html()`.
"""

from __future__ import annotations

import base64
from functools import cache
from importlib import resources

__all__ = ["viz_script", "viz_layout_html", "VIZ_VERSION"]

VIZ_VERSION = "3.31.0"


@cache
def viz_script() -> str:
    """The text of static/viz.js: an ES module exporting `instance()` (about 1.2 MB)."""
    return resources.files(__package__).joinpath("static/viz.js").read_text(encoding="utf-8")


@cache
def viz_layout_html() -> str:
    """HTML that defines `globalThis.mgLayout(dot) -> Promise<svgText>` (what viewer.js's mount falls back on),
    Graphviz loaded on the first call. It must come before the viewer in the page.

    viz.js holds the wasm as a string with NUL bytes, which HTML would turn into U+FFFD: it travels base64-encoded
    (about 1.6 MB of text) and is imported from a Blob URL. A page holding it twice defines mgLayout once.
    """
    encoded = base64.b64encode(viz_script().encode("utf-8")).decode("ascii")
    return (f'<script type="text/plain" class="mg-viz-source">{encoded}</script>\n'
            '<script type="module">\n'
            "if (!globalThis.mgLayout) {\n"
            "  const encoded = document.querySelector('script.mg-viz-source').textContent;\n"
            "  let viz = null;\n"
            "  globalThis.mgLayout = async (dot) => {\n"
            "    viz ??= (async () => {\n"
            "      const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));\n"
            "      const url = URL.createObjectURL(new Blob([bytes], { type: 'text/javascript' }));\n"
            "      return (await import(url)).instance();\n"
            "    })();\n"
            "    return (await viz).renderString(dot, { format: 'svg' });\n"
            "  };\n"
            "}\n"
            "</script>\n")
