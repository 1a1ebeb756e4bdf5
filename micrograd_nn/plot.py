"""Pictures of training: loss and accuracy curves, and a classifier's decision boundary over 2-D inputs.

Needs matplotlib (the `plot` extra), imported only when a picture is drawn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

try:
    import numpy as np
except ImportError:  # where numpy cannot be installed (in the browser) the rest of the package still works
    raise ImportError("micrograd_nn.plot needs numpy and matplotlib: pip install 'micrograd_nn[plot]'") from None

from .engine import Value, no_grad

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from .train import History

__all__ = ["plot_history", "plot_decision_boundary"]


def _matplotlib():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install 'micrograd_nn[plot]'") from None
    return matplotlib


def _new_axes(figsize: tuple[float, float]) -> Axes:
    """A fresh Axes from pyplot, so it shows in Jupyter (callers that only save files can pass their own)."""
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)[1]


def plot_history(history: History, ax: Axes | None = None, title: str | None = "Training history") -> Axes:
    """history.loss (left axis) and history.accuracy in % (right axis) against the epoch; validation dashed.

    Regression histories (accuracy None) draw the loss only. Returns the loss Axes.
    """
    _matplotlib()
    if ax is None:
        ax = _new_axes((6.4, 4))
    epochs = range(1, len(history.loss) + 1)
    lines = ax.plot(epochs, history.loss, color="C0", label="training loss")
    if history.val_loss:
        lines += ax.plot(epochs, history.val_loss, color="C0", linestyle="--", label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (mean per sample)", color="C0")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    if any(a is not None for a in history.accuracy):
        acc_ax = ax.twinx()
        lines += acc_ax.plot(epochs, [100 * a for a in history.accuracy], color="C1", label="training accuracy")
        if any(a is not None for a in history.val_accuracy):
            lines += acc_ax.plot(epochs, [100 * a for a in history.val_accuracy], color="C1", linestyle="--",
                                 label="validation accuracy")
        acc_ax.set_ylabel("accuracy (%)", color="C1")
        acc_ax.set_ylim(0, 102)
    ax.legend(lines, [line.get_label() for line in lines], loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2,
              frameon=False)  # below the axes: no curve is hidden
    if title is not None:
        ax.set_title(title)
    return ax


def _floats(output) -> list[float]:
    """A model's output (a Value, a number or a list of them) as a list of floats."""
    outputs = output if isinstance(output, (list, tuple)) else [output]
    return [o.data if isinstance(o, Value) else float(o) for o in outputs]


@no_grad()
def _scores_on_grid(model: Callable, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """model([x, y]) at every grid point, recording no graph: shape (len(ys), len(xs), outputs)."""
    return np.array([[_floats(model([x, y])) for x in xs.tolist()] for y in ys.tolist()])


def plot_decision_boundary(model: Callable, X, y, ax: Axes | None = None, resolution: int = 100,
                           title: str | None = None, class_names: Sequence[str] | None = None,
                           colors: Sequence | None = None) -> Axes:
    """Shade what `model` predicts over the plane around the 2-D points X, and draw the points coloured by y.

    One output s: the score itself, blue (s < 0) to red (s > 0), or colors[0] to colors[1] through white, with
    the boundary s = 0 drawn and a colour bar.
    k outputs s₁ … s_k: each point of the plane takes the colour of its class argmaxⱼ sⱼ, paler where the
    softmax probability of that class is lower; boundaries are where the two largest scores are equal.
    The model is evaluated on a resolution × resolution grid. `class_names` and `colors` (any matplotlib
    colours) go with the sorted class labels. Returns the matplotlib Axes.
    """
    matplotlib = _matplotlib()
    X = np.asarray(X, dtype=float)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 2 or len(X) != len(y) or len(X) == 0:
        raise ValueError(f"plot_decision_boundary needs points X of shape (N, 2) and N labels y, got X of shape "
                         f"{X.shape} and {len(y)} labels")
    if resolution < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution}")
    classes = np.unique(y).tolist()
    names = list(class_names) if class_names is not None else [f"class {c}" for c in classes]
    if len(names) != len(classes):
        raise ValueError(f"class_names has {len(names)} names for {len(classes)} classes {classes}")
    if colors is not None and len(colors) != len(classes):
        raise ValueError(f"colors has {len(colors)} colours for {len(classes)} classes {classes}")
    if ax is None:
        ax = _new_axes((6, 4.8))

    margin = 0.1 * (X.max(axis=0) - X.min(axis=0)) + 0.2
    low, high = X.min(axis=0) - margin, X.max(axis=0) + margin
    xs, ys = np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution)
    scores = _scores_on_grid(model, xs, ys)

    if scores.shape[2] == 1:
        colours = _one_score(ax, matplotlib, xs, ys, scores[:, :, 0], classes, colors)
    else:
        colours = _argmax_regions(ax, matplotlib, xs, ys, scores, classes, colors)

    for c, name, colour in zip(classes, names, colours):
        ax.scatter(*X[y == c].T, color=colour, edgecolors="black", linewidths=0.7, s=36, label=name, zorder=3)
    ax.set_xlim(low[0], high[0])
    ax.set_ylim(low[1], high[1])
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.plot([], [], color="black", linewidth=1.5, label="decision boundary")  # a legend entry for the contour lines
    # Below the axes, where it can hide neither a point nor a boundary.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=min(len(classes) + 1, 4), frameon=False)
    ax.set_title(title if title is not None else "Decision boundary")
    return ax


def _one_score(ax, matplotlib, xs, ys, score, classes, colors) -> list:
    """Filled contours of s with the s = 0 boundary; classes coloured as the side their label is predicted on."""
    from matplotlib.colors import LinearSegmentedColormap, TwoSlopeNorm
    from matplotlib.ticker import MaxNLocator

    reach = max(float(np.abs(score).max()), 1e-12)
    levels = MaxNLocator(nbins=20, symmetric=True).tick_values(-reach, reach)  # round numbers, 0 among them
    if colors is not None and len(colors) == 2:  # negative side, white at s = 0, positive side
        cmap = LinearSegmentedColormap.from_list("classes", [colors[0], "white", colors[1]])
    else:
        cmap = matplotlib.colormaps["RdBu_r"]
    norm = TwoSlopeNorm(vcenter=0.0, vmin=levels[0], vmax=levels[-1])
    filled = ax.contourf(xs, ys, score, levels=levels, cmap=cmap, norm=norm, alpha=0.75)
    if score.min() < 0.0 < score.max():
        ax.contour(xs, ys, score, levels=[0.0], colors="black", linewidths=1.5)
    bar = ax.figure.colorbar(filled, ax=ax)
    bar.set_label("model score s (boundary at s = 0)")
    if colors is not None:
        return list(colors)
    # Label 1 is the class predicted for s > 0 (labels {0, 1} or {−1, 1}): the red end; the other: the blue end.
    return [cmap(0.9) if c == 1 else cmap(0.1) for c in classes]


def _argmax_regions(ax, matplotlib, xs, ys, scores, classes, colors) -> list:
    """Each grid point in its winning class's colour, faded toward white as its softmax probability falls."""
    k = scores.shape[2]
    if max(classes) >= k or min(classes) < 0:
        raise ValueError(f"labels must be class indices 0 … {k - 1} for a model with {k} outputs, got {classes}")
    palette = matplotlib.colormaps["tab10" if k <= 10 else "tab20"]
    colours = np.array([palette(i)[:3] for i in range(k)])
    for c, colour in zip(classes, colors or ()):
        colours[c] = matplotlib.colors.to_rgb(colour)
    shifted = np.exp(scores - scores.max(axis=2, keepdims=True))
    probability = shifted / shifted.sum(axis=2, keepdims=True)
    winner = probability.argmax(axis=2)
    strength = 0.25 + 0.45 * (probability.max(axis=2) - 1 / k) / (1 - 1 / k)  # 0.25 at a tie, 0.7 when certain
    image = 1 - strength[..., None] * (1 - colours[winner])
    half_x, half_y = (xs[1] - xs[0]) / 2, (ys[1] - ys[0]) / 2  # pixel centres on the grid points
    ax.imshow(image, origin="lower", extent=(xs[0] - half_x, xs[-1] + half_x, ys[0] - half_y, ys[-1] + half_y),
              aspect="auto", interpolation="bilinear")
    for c in range(k):
        # Class c's region is where s_c beats every other score: its edge is the 0 level of this margin.
        others = np.delete(scores, c, axis=2).max(axis=2)
        margin = scores[:, :, c] - others
        if margin.min() < 0.0 < margin.max():
            ax.contour(xs, ys, margin, levels=[0.0], colors="black", linewidths=1.2)
    return [tuple(colours[c]) for c in classes]
