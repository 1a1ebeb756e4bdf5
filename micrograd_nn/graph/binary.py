"""Finding and running Graphviz.

Which binary renders SVG/PNG, first match wins:
  1. `set_dot_binary(path)` or the environment variable MICROGRAD_NN_DOT (if that path does not exist,
     no other binary is tried: useful to see the fallback);
  2. `dot` on PATH;
  3. the `graphviz-pure` binary installed with this package, by its absolute path in the running
     interpreter's scripts directory, so nothing beyond pip is needed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

__all__ = ["set_dot_binary", "find_dot_binary", "run_dot", "RenderFailure", "DOT_ENV", "TIMEOUT_SECONDS"]

DOT_ENV = "MICROGRAD_NN_DOT"
TIMEOUT_SECONDS = 60
_dot_setting: str | None = None


def no_binary_hint() -> str:
    return ("No Graphviz binary was found, so the graph is shown as DOT source. To render it: "
            "`pip install graphviz-pure` (a dependency of micrograd_nn), install Graphviz's `dot`, "
            f"or point micrograd_nn.graph.set_dot_binary(path) / ${DOT_ENV} at a dot binary.")


class RenderFailure(Exception):
    """Graphviz was found but did not produce a drawing; the message says what happened."""


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


def run_dot(source: str, fmt: str, timeout: float | None = None) -> bytes | None:
    """Graphviz's output for `source` in format `fmt` (svg, png), or None when no binary is found.

    Raises RenderFailure, naming the binary, when it runs out of time, fails or cannot be started.
    """
    binary = find_dot_binary()
    if binary is None:
        return None
    timeout = TIMEOUT_SECONDS if timeout is None else timeout
    try:
        done = subprocess.run([binary, f"-T{fmt}"], input=source.encode(), capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RenderFailure(f"{binary} did not finish the layout within {timeout:g} s; the graph is shown as DOT "
                            "source. Draw fewer nodes (max_nodes=…, or collapsed=True for a model) or install "
                            "Graphviz's `dot`, which lays out large graphs faster.") from None
    except OSError as err:
        raise RenderFailure(f"{binary} could not be run ({err.strerror or err}); the graph is shown as DOT source. "
                            f"Point set_dot_binary(path) / ${DOT_ENV} at a working dot binary.") from None
    if done.returncode != 0 or not done.stdout:
        detail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise RenderFailure(f"{binary} failed (exit status {done.returncode}: {detail[0]}); the graph is shown "
                            "as DOT source.")
    return done.stdout


def svgs(sources: list[str]) -> list[str] | None:
    """Render many graphs with one Graphviz process (it accepts a stream of graphs); None without a binary."""
    out = run_dot("\n".join(sources), "svg", timeout=TIMEOUT_SECONDS * max(1, len(sources) // 20))
    if out is None:
        return None
    parts = out.decode().split("<?xml")[1:]
    if len(parts) != len(sources):
        raise RenderFailure(f"Graphviz returned {len(parts)} drawings for {len(sources)} graphs")
    return ["<?xml" + p for p in parts]
