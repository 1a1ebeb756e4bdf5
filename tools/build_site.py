"""Build the in-browser playground: static files only, served by any static server, fetching nothing outside.

    python tools/build_site.py [SITE]      (default SITE: site/; `make site` runs this)

SITE/
    index.html, playground.js, playground.css     the page (from tools/site/)
    viewer.js, layout.js, layout-worker.js,       the step-through viewer and Graphviz in WebAssembly (in a worker),
    viz.js (+ its licence)                        from the package's micrograd_nn/graph/static/
    pyodide/                                      Pyodide's core, pinned and checked (tools/vendor.py)
    wheels/                                       micrograd_nn's wheel, built from this tree, and graphviz's
    wheels.json                                   the wheels the page unpacks into Pyodide's site-packages

Python's standard library runs the page's Python; numpy is not there and not needed (see micrograd_nn.playground).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vendor  # noqa: E402  (tools/vendor.py, beside this file)

ROOT = vendor.ROOT
PAGE = Path(__file__).resolve().parent / "site"
STATIC = ROOT / "micrograd_nn" / "graph" / "static"
# graphviz (the pure-Python package that writes DOT), pinned with its sha256 as PyPI lists it.
GRAPHVIZ_WHEEL = ("graphviz==0.21", "graphviz-0.21-py3-none-any.whl",
                  "54f33de9f4f911d7e84e4191749cac8cc5653f815b06738c54db9a15ab8b1e42")
MAX_BYTES = 60 * 1024 * 1024


def pip(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", *args, "-q", "--disable-pip-version-check"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"build_site: pip {' '.join(args)} failed:\n{done.stderr.strip()}")


def build_wheels(dest: Path) -> list[str]:
    """micrograd_nn's wheel from this tree and graphviz's pinned one into dest; returns their file names."""
    dest.mkdir(parents=True, exist_ok=True)
    for stale in [ROOT / "build" / "lib", *ROOT.glob("build/bdist.*")]:  # setuptools builds in build/: clear it,
        shutil.rmtree(stale, ignore_errors=True)  # or a module deleted since the last build would stay in the wheel
    with tempfile.TemporaryDirectory() as scratch:
        pip("wheel", "--no-deps", "-w", scratch, str(ROOT))
        ours = [p for p in Path(scratch).glob("micrograd_nn-*.whl")]
        if len(ours) != 1:
            sys.exit(f"build_site: expected one micrograd_nn wheel, got {ours}")
        shutil.copy(ours[0], dest / ours[0].name)
    requirement, filename, sha256 = GRAPHVIZ_WHEEL
    pip("download", requirement, "--no-deps", "--only-binary=:all:", "-d", str(dest))
    digest = hashlib.sha256((dest / filename).read_bytes()).hexdigest()
    if digest != sha256:
        sys.exit(f"build_site: {filename} does not match its pinned sha256: got {digest}, pinned {sha256}")
    return [ours[0].name, filename]


def build(site: Path) -> int:
    """Write the whole site into `site` (emptied first); returns its size in bytes."""
    if site.exists():
        shutil.rmtree(site)
    site.mkdir(parents=True)
    for name in ("index.html", "playground.js", "playground.css"):
        shutil.copy(PAGE / name, site / name)
    for name in ("viewer.js", "layout.js", "layout-worker.js", "viz.js", "viz.LICENSE.txt"):
        shutil.copy(STATIC / name, site / name)
    vendor.vendor_pyodide(site / "pyodide")
    wheels = build_wheels(site / "wheels")
    (site / "wheels.json").write_text(json.dumps({"wheels": wheels}, indent=1) + "\n")
    size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
    if size > MAX_BYTES:
        sys.exit(f"build_site: {site} is {size / 1e6:.1f} MB, over the {MAX_BYTES / 1e6:.0f} MB budget")
    return size


def main(argv: list[str]) -> int:
    site = Path(argv[0]) if argv else ROOT / "site"
    size = build(site.resolve())
    print(f"built {site}: {size / 1e6:.1f} MB. Serve it with: python -m http.server -d {site}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
