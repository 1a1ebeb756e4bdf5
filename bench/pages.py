"""Step-through pages: size and write time of the saved viewer page, against the targets.

    .venv/bin/python bench/pages.py

Targets: the backward step-through of micrograd's 2-16-16-1 MLP on one sample with its loss (parameters=model,
grouped or collapsed) at most 3 MB written in at most 5 s; a 20,000-node chain at most 50 MB in at most 60 s.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import micrograd_nn.functional as F  # noqa: E402
from micrograd_nn import Value  # noqa: E402
from micrograd_nn.demo import karpathy_neuron  # noqa: E402
from micrograd_nn.graph import show_steps  # noqa: E402
from micrograd_nn.nn import MLP  # noqa: E402


def mlp_loss():
    random.seed(1)
    model = MLP(2, [16, 16, 1])
    return model, F.binary_cross_entropy(model([0.5, -1.0]), 1.0)


def chain(nodes: int) -> Value:
    """x, then `nodes - 1` more nodes, alternately ×0.999 and +0.001."""
    y = Value(0.5, label="x")
    for k in range(nodes - 1):
        y = y * 0.999 if k % 2 == 0 else y + 0.001
    return y


def measure(name: str, make, size_limit: float, time_limit: float, folder: Path) -> bool:
    """Build the step-through and save it; print steps, MB, seconds and whether both targets hold."""
    start = time.perf_counter()
    steps = make()
    path = steps.save(folder / f"{name}.html")
    seconds = time.perf_counter() - start
    megabytes = path.stat().st_size / 1e6
    ok = megabytes <= size_limit and seconds <= time_limit
    print(f"{name:<28} {len(steps):>7} steps {megabytes:>8.2f} MB {seconds:>7.2f} s   "
          f"target ≤ {size_limit:g} MB, ≤ {time_limit:g} s: {'met' if ok else 'NOT MET'}")
    return ok


def main() -> int:
    model, loss = mlp_loss()
    cases = [
        ("karpathy neuron", lambda: show_steps(karpathy_neuron()), 0.2, 1),
        ("mlp 2-16-16-1 grouped", lambda: show_steps(loss, parameters=model), 3, 5),
        ("mlp 2-16-16-1 collapsed", lambda: show_steps(loss, parameters=model, collapsed=True), 3, 5),
        ("chain of 20,000 nodes", lambda: show_steps(chain(20_000)), 50, 60),
    ]
    with tempfile.TemporaryDirectory() as folder:
        results = [measure(name, make, size, seconds, Path(folder)) for name, make, size, seconds in cases]
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
