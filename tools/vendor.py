"""Fetch the pinned front-end packages with npm, check them against their pinned sha512, unpack what is needed.

    python tools/vendor.py viz [DEST]       @viz-js/viz's ES module (Graphviz compiled to WebAssembly, the wasm
                                            inside): DEST/viz.js and DEST/viz.LICENSE.txt
                                            (default DEST: micrograd_nn/graph/static, where it is committed)
    python tools/vendor.py pyodide DEST     Pyodide's core (CPython compiled to WebAssembly, its standard library)
                                            into DEST, with DEST/LICENSE.txt; the site's copy, never committed

A package comes as the tarball `npm pack NAME@VERSION` writes (from npm's cache after the first time). Its
sha512 must equal the pin below, the `integrity` that `npm view NAME@VERSION dist.integrity` prints, or nothing
is written. Neither tarball holds a licence file, so each licence is written beside the files from what the
package states (its package.json `license` and the notice at the top of its code).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build" / "npm"  # git-ignored; a second build needs no registry

PINS = {
    "pyodide": ("314.0.7",
                "sha512-0YvXxEhfEdpLfb/XkM2BFAeMROq0iMUX2bzzH9pOttyMcWkwq+HbE5uyuGD82LN7y2q+SNvi/6V5JEsOlD2R1A=="),
    "@viz-js/viz": ("3.31.0",
                    "sha512-r7zlQdRvcwvIpjHGgs+KNWHeE/P5/Dq7k8ZAKaMCbZqomxCBJV78gVuQYaHzFVca+kB0mX0fMW9UFevCOBG50A=="),
}

# What the browser loads: the ES module loader, the wasm and its JS glue, the standard library, the package list.
PYODIDE_FILES = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json",
                 "package.json")

MIT = """Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated
documentation files (the "Software"), to deal in the Software without restriction, including without limitation the
rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and to
permit persons to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial portions of the
Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE
WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR
COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""

VIZ_LICENSE = f"""viz.js is dist/viz.js of @viz-js/viz {PINS["@viz-js/viz"][0]} (npm), unchanged.
Licence: MIT (its package.json), as follows.

Copyright (c) Michael Daines

{MIT}
As its header says, this distribution contains other software in object code form:
  Graphviz (https://www.graphviz.org), under the Eclipse Public License 1.0
    (https://www.eclipse.org/legal/epl-v10.html); its source is at https://gitlab.com/graphviz/graphviz
  Expat (https://libexpat.github.io), under the MIT licence above (Copyright (c) Thai Open Source Software
    Center Ltd and Clark Cooper; Copyright (c) Expat maintainers)
"""

PYODIDE_LICENSE = f"""These files are from the npm package pyodide {PINS["pyodide"][0]}, unchanged.
Pyodide: Mozilla Public License 2.0 (its package.json: "license": "MPL-2.0"; the text is at
https://www.mozilla.org/en-US/MPL/2.0/ and, on Debian, /usr/share/common-licenses/MPL-2.0).
Its source is at https://github.com/pyodide/pyodide.
pyodide.asm.wasm and python_stdlib.zip hold CPython and its standard library: Python Software Foundation
License (https://docs.python.org/3/license.html), and the libraries CPython is built with, under their own
licences as listed there.
"""


def sri(data: bytes) -> str:
    """A Subresource-Integrity string, as npm writes `integrity`: "sha512-" + base64 of the digest."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def tarball(name: str) -> bytes:
    """The pinned tarball of `name`, from build/npm if a checked copy is there, else from `npm pack`."""
    version, integrity = PINS[name]
    cached = CACHE / f"{name.replace('/', '+')}-{version}.tgz"
    if cached.exists() and sri(cached.read_bytes()) == integrity:
        return cached.read_bytes()
    if shutil.which("npm") is None:
        sys.exit("vendor: npm is needed to fetch " + name + " (install Node.js and npm)")
    with tempfile.TemporaryDirectory() as scratch:
        done = subprocess.run(["npm", "pack", f"{name}@{version}", "--pack-destination", scratch, "--json",
                               "--silent"], capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"vendor: npm pack {name}@{version} failed:\n{done.stderr.strip()}")
        filename = json.loads(done.stdout)[0]["filename"]
        data = (Path(scratch) / Path(filename).name).read_bytes()
    if sri(data) != integrity:
        sys.exit(f"vendor: {name}@{version} does not match its pinned sha512: got {sri(data)}, pinned {integrity}")
    CACHE.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(data)
    return data


def members(name: str, wanted: dict[str, str]) -> dict[str, bytes]:
    """{file name to write: its bytes} for the tarball's members `package/<path>` named in wanted {path: name}."""
    found = {}
    with tarfile.open(fileobj=io.BytesIO(tarball(name)), mode="r:gz") as archive:
        for member in archive.getmembers():
            path = member.name.removeprefix("package/")
            if member.isfile() and path in wanted:
                found[wanted[path]] = archive.extractfile(member).read()
    missing = sorted(set(wanted.values()) - set(found))
    if missing:
        sys.exit(f"vendor: {name} has no {', '.join(missing)}")
    return found


def vendor_viz(dest: Path) -> list[Path]:
    """@viz-js/viz's standalone ES module (`import {instance} from "./viz.js"`) and its licence into dest."""
    files = members("@viz-js/viz", {"dist/viz.js": "viz.js"})
    files["viz.LICENSE.txt"] = VIZ_LICENSE.encode()
    return write(dest, files)


def vendor_pyodide(dest: Path) -> list[Path]:
    """Pyodide's core (what loadPyodide fetches to start Python, nothing more) and its licence into dest."""
    files = members("pyodide", {path: path for path in PYODIDE_FILES})
    files["LICENSE.txt"] = PYODIDE_LICENSE.encode()
    return write(dest, files)


def write(dest: Path, files: dict[str, bytes]) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, data in files.items():
        path = dest / filename
        path.write_bytes(data)
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("viz", "pyodide") or len(argv) > 2 or (argv[0] == "pyodide" and len(argv) != 2):
        sys.exit(__doc__)
    if argv[0] == "viz":
        written = vendor_viz(Path(argv[1]) if len(argv) == 2 else ROOT / "micrograd_nn" / "graph" / "static")
    else:
        written = vendor_pyodide(Path(argv[1]))
    for path in written:
        print(f"{path.stat().st_size:>10,}  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
