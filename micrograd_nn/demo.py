"""`make demo`: softmax regression on Celebi's 20 points, an MLP on two moons, and figures in out/.

Figures: neuron.svg (a neuron's graph), softmax_regions.png, loss_curve.png and decision_boundary.png.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from . import functional as F
from .data import colored_points, moons
from .engine import Value, no_grad
from .graph import render, show_steps
from .nn import MLP, Layer
from .optim import SGD, Adam
from .train import accuracy, fit, format_accuracy


def karpathy_neuron() -> Value:
    """o = tanh(x1·w1 + x2·w2 + b), with gradients filled in."""
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    o = (x1 * w1 + x2 * w2 + b).tanh()
    o.label = "o"
    o.backward()
    return o


def _save_figure(path: Path, draw: Callable, figsize: tuple[float, float]) -> Path:
    """draw(ax) on a fresh figure saved to `path`; no pyplot, so no window or display is needed."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    draw(fig.subplots())
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def run_demo(out: Path) -> list[Path]:
    """Train two models with progress output, write figures to `out`, and list them."""
    out.mkdir(parents=True, exist_ok=True)
    try:
        import matplotlib  # noqa: F401

        from .plot import plot_decision_boundary  # here, not at the top: karpathy_neuron needs no numpy
        plotting = True
    except ImportError:
        print("matplotlib is not installed (pip install 'micrograd_nn[plot]'): the demo draws no plots\n")
        plotting = False
    written = []

    print("1. Softmax regression on the 20 coloured points (full batch, learning rate 2.0, 40 epochs)")
    X, y = colored_points()
    model = Layer(2, 3, activation="linear", rng=random.Random(0))
    history = fit(model, X, y, F.cross_entropy, SGD(model.parameters(), lr=2.0), epochs=40, verbose=True)
    with no_grad():
        final = accuracy([model(x) for x in X], y)
    print(f"   final loss {history.loss[-1]:.4f}, accuracy {format_accuracy(final)}")
    if plotting:
        written.append(_save_figure(out / "softmax_regions.png", lambda ax: plot_decision_boundary(
            model, X, y, ax, title="Softmax regression: regions where each class scores highest",
            class_names=["red (0)", "green (1)", "blue (2)"], colors=["tab:red", "tab:green", "tab:blue"]),
            figsize=(6.4, 4.8)))

    print("\n2. MLP 2-16-16-1 on 100 two-moons points, 20 of them held out for validation")
    print("   (binary cross-entropy, Adam, mini-batches of 20)")
    Xm, ym = moons(100, noise=0.1, seed=0)
    mlp = MLP(2, [16, 16, 1], rng=random.Random(0))
    history = fit(mlp, Xm, ym, F.binary_cross_entropy, Adam(mlp.parameters(), lr=0.05), epochs=40, batch_size=20,
                  penalty=lambda ps: 1e-4 * F.l2(ps), validation_split=0.2, verbose=True)
    print(f"   training accuracy {format_accuracy(history.accuracy[-1])}, "
          f"validation accuracy {format_accuracy(history.val_accuracy[-1])}")
    if plotting:
        written.append(_save_figure(out / "loss_curve.png", lambda ax: history.plot(
            ax, title="MLP on two moons: loss and accuracy per epoch"), figsize=(6.4, 4)))
        written.append(_save_figure(out / "decision_boundary.png", lambda ax: plot_decision_boundary(
            mlp, Xm, ym, ax, title="MLP 2-16-16-1 on two moons: score and boundary"), figsize=(6.4, 4.8)))

    print("\n3. The graph of one neuron, o = tanh(x1*w1 + x2*w2 + b), with local derivatives on the edges,")
    print("   and its backward pass step by step (open the page in a browser: ← → step, space plays)")
    written.insert(0, render(karpathy_neuron(), out / "neuron.svg", show_local_grads=True))
    written.insert(1, show_steps(karpathy_neuron()).save(out / "neuron_steps.html"))
    print("\n4. One sample of the MLP above, its loss backpropagated one neuron box at a time")
    sample_loss = F.binary_cross_entropy(mlp(Xm[0]), ym[0])
    written.insert(2, show_steps(sample_loss, parameters=mlp, collapsed=True).save(out / "mlp_steps.html"))

    print("\nOutput files:")
    for path in written:
        print(f"   {path}")
    return written
