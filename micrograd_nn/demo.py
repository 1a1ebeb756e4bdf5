"""`make demo`: softmax regression on Celebi's 20 points, an MLP on two moons, and figures in out/."""

from __future__ import annotations

import random
from pathlib import Path

from . import functional as F
from .data import colored_points, moons
from .engine import Value, no_grad
from .graph import render
from .nn import MLP, Layer
from .optim import SGD, Adam
from .train import accuracy, fit


def karpathy_neuron() -> Value:
    """o = tanh(x1·w1 + x2·w2 + b), with gradients filled in."""
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    o = (x1 * w1 + x2 * w2 + b).tanh()
    o.label = "o"
    o.backward()
    return o


def _plot_decision_boundary(model, X, y, path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np
    except ImportError:
        print("matplotlib is not installed (pip install 'micrograd_nn[plot]'): skipping the decision-boundary plot")
        return None
    xs = np.linspace(X[:, 0].min() - 0.5, X[:, 0].max() + 0.5, 60)
    ys = np.linspace(X[:, 1].min() - 0.5, X[:, 1].max() + 0.5, 60)
    grid = [[float(a), float(b)] for b in ys for a in xs]
    with no_grad():
        scores = np.array([model(p).data for p in grid]).reshape(len(ys), len(xs))
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.contourf(xs, ys, scores > 0, alpha=0.3, cmap="coolwarm")
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", edgecolors="k", s=25)
    ax.set_title("MLP 2-16-16-1 on two moons")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def run_demo(out: Path) -> list[Path]:
    """Train two models with progress output, write figures to `out`, and list them."""
    out.mkdir(parents=True, exist_ok=True)
    written = []

    print("1. Softmax regression on the 20 coloured points (full batch, learning rate 2.0, 40 epochs)")
    X, y = colored_points()
    model = Layer(2, 3, activation="linear", rng=random.Random(0))
    history = fit(model, X, y, F.cross_entropy, SGD(model.parameters(), lr=2.0), epochs=40, verbose=True)
    with no_grad():
        print(f"   final loss {history.loss[-1]:.4f}, accuracy {accuracy([model(x) for x in X], y):.0%}")

    print("\n2. MLP 2-16-16-1 on 100 two-moons points (binary cross-entropy, Adam, mini-batches of 25)")
    Xm, ym = moons(100, noise=0.1, seed=0)
    mlp = MLP(2, [16, 16, 1], rng=random.Random(0))
    fit(mlp, Xm, ym, F.binary_cross_entropy, Adam(mlp.parameters(), lr=0.05), epochs=40, batch_size=25,
        penalty=lambda ps: 1e-4 * F.l2(ps), verbose=True)
    with no_grad():
        print(f"   training accuracy {accuracy([mlp(x) for x in Xm.tolist()], ym.tolist()):.0%}")

    print("\n3. The graph of one neuron, o = tanh(x1*w1 + x2*w2 + b), with local derivatives on the edges")
    written.append(render(karpathy_neuron(), out / "neuron.svg", show_local_grads=True))
    boundary = _plot_decision_boundary(mlp, Xm, ym, out / "decision_boundary.png")
    if boundary:
        written.append(boundary)

    print("\nOutput files:")
    for path in written:
        print(f"   {path}")
    return written
