"""Peak memory of every backward step-through frame of a 20,000-node chain (the target: well under 100 MB).

Frames store only what changed at their step, so their memory grows linearly with the graph. The graph is
built before measuring: only the frames (and the pass that computes them) are counted.

    .venv/bin/python bench/step_memory.py
"""

from __future__ import annotations

import gc
import tracemalloc

from micrograd_nn import Value
from micrograd_nn.frames import backward_steps

CHAIN_NODES = 20_000
TARGET_MB = 100.0


def chain(length: int) -> Value:
    """x, then length − 1 nodes y ← tanh(y·1.0001): one node feeding the next, the deepest graph of its size."""
    y = Value(0.5, label="x")
    for i in range(length - 1):
        y = y * 1.0001 if i % 2 == 0 else y.tanh()
    return y


def frames_peak_bytes(length: int = CHAIN_NODES) -> tuple[int, int]:
    """(number of frames, peak bytes allocated while computing and holding all of them)."""
    root = chain(length)
    gc.collect()
    tracemalloc.start()
    frames = list(backward_steps(root))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return len(frames), peak


def main() -> dict:
    """Measure, print one line, and return the numbers (for bench/run.py)."""
    count, peak = frames_peak_bytes()
    megabytes = peak / 1e6
    verdict = "✔" if megabytes < TARGET_MB else "✘"
    print(f"step-through memory: {count} backward frames of a {CHAIN_NODES}-node chain, peak {megabytes:.1f} MB "
          f"({peak / count:.0f} B a frame; target < {TARGET_MB:.0f} MB {verdict})")
    return {"frames": count, "peak_bytes": peak, "bytes_per_frame": peak / count, "target_bytes": TARGET_MB * 1e6}


if __name__ == "__main__":
    main()
