"""Datasets: the course notes' worked examples, two-moons and blobs, and mini-batches.

The worked examples and `batches` are plain Python; `moons` and `blobs` return numpy arrays and import numpy
when called, so the rest works where numpy is not installed (in the browser, say).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from . import pcg64

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "colored_points",
    "colored_points_weights",
    "animal_scores",
    "xu_network",
    "moons",
    "blobs",
    "batches",
    "permutation",
]


def colored_points() -> tuple[list[list[float]], list[int]]:
    """Celebi's 20 two-dimensional points: labels 0 = red, 1 = green, 2 = blue."""
    X = [
        [-0.1, 1.4], [-0.5, 0.2], [1.3, 0.9], [-0.6, 0.4], [-1.6, 0.2],
        [0.2, 0.2], [-0.3, -0.4], [0.7, -0.8], [1.1, -1.5], [-1.0, 0.9],
        [-0.5, 1.5], [-1.3, -0.4], [-1.4, -1.2], [-0.9, -0.7], [0.4, -1.3],
        [-0.4, 0.6], [0.3, -0.5], [-1.6, -0.7], [-0.5, -1.4], [-1.0, -1.4],
    ]  # fmt: skip
    y = [0, 0, 1, 0, 2, 1, 1, 1, 1, 0, 0, 2, 2, 2, 1, 0, 1, 2, 2, 2]
    return X, y


def colored_points_weights() -> tuple[list[list[float]], list[float]]:
    """Celebi's given softmax-regression parameters W (3×2) and b (3), which classify all 20 points."""
    W = [[0.31, 3.95], [7.07, -0.23], [-6.27, -2.35]]
    b = [1.2, 2.93, -4.14]
    return W, b


def animal_scores() -> tuple[list[list[float]], list[int], list[str]]:
    """Acharya's raw class scores for three images (a lion, a tiger, a leopard).

    Returns (scores[sample][class], true class per sample, class names).
    """
    scores = [[5.6, 6.4, -4.6], [-1.8, 10.2, 3.5], [2.0, 5.4, -8.6]]
    return scores, [0, 1, 2], ["lion", "tiger", "leopard"]


def xu_network() -> dict:
    """Xu's 3-3-1 worked example: x = [2, 1, 2], y = 1, W (3×3), b, U, sigmoid hidden layer, linear output."""
    return {
        "x": [2.0, 1.0, 2.0],
        "y": 1.0,
        "W": [[1.0, 0.0, 1.0], [1.0, -1.0, 0.0], [0.0, 0.0, 2.0]],
        "b": [1.0, 1.0, 1.0],
        "U": [-1.0, 1.0, 1.0],
    }


def _numpy(who: str):
    try:
        import numpy
    except ImportError:
        raise ImportError(f"{who} returns numpy arrays and needs numpy: pip install numpy") from None
    return numpy


def moons(n: int = 100, noise: float = 0.1, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles: X of shape (n, 2), y in {0, 1} (as scikit-learn's make_moons)."""
    np = _numpy("moons")

    rng = np.random.default_rng(seed)
    n_outer = n // 2
    n_inner = n - n_outer
    t_outer = np.linspace(0, math.pi, n_outer)
    t_inner = np.linspace(0, math.pi, n_inner)
    X = np.concatenate([
        np.stack([np.cos(t_outer), np.sin(t_outer)], axis=1),
        np.stack([1 - np.cos(t_inner), 1 - np.sin(t_inner) - 0.5], axis=1),
    ])
    y = np.concatenate([np.zeros(n_outer, dtype=int), np.ones(n_inner, dtype=int)])
    X += rng.normal(scale=noise, size=X.shape)
    order = rng.permutation(n)
    return X[order], y[order]


def blobs(n: int = 100, centers: Sequence[Sequence[float]] = ((-1, -1), (1, 1), (-1, 1)), std: float = 0.4,
          seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian clusters around `centers`; y is the index of the centre each point came from."""
    np = _numpy("blobs")

    rng = np.random.default_rng(seed)
    centers = np.asarray(centers, dtype=float)
    y = rng.integers(0, len(centers), size=n)
    X = centers[y] + rng.normal(scale=std, size=(n, centers.shape[1]))
    return X, y


def permutation(n: int, seed: int | None) -> list[int]:
    """0 … n−1 in a random order fixed by `seed` (None: a fresh one each call): numpy's
    `default_rng(seed).permutation(n)`, computed in Python (see pcg64), so the order is the same with or without
    numpy installed."""
    return pcg64.permutation(n, seed)


def _plain(item, as_float: bool):
    """A row (as_float) or a label as Python numbers, whatever it came as: a number, a numpy scalar or array, or
    nested lists of them. A label keeps its type (an int stays an int)."""
    numpy = sys.modules.get("numpy")  # loaded already if item holds numpy types: no import needed to ask
    if numpy is not None and isinstance(item, (numpy.ndarray, numpy.generic)):
        return (item.astype(float) if as_float else item).tolist()
    if isinstance(item, (list, tuple)):
        return [_plain(part, as_float) for part in item]
    return float(item) if as_float else item


def batches(X, y, batch_size: int, shuffle: bool = True, seed: int | None = None) -> Iterator[tuple[list, list]]:
    """One epoch of mini-batches (X_batch, y_batch); the last batch may be smaller.

    Rows are converted to (nested) lists of floats and labels to Python numbers, so a model sees plain Python
    numbers. The order is `permutation(len(X), seed)` when shuffling.
    """
    if len(X) != len(y):
        raise ValueError(f"batches: X has {len(X)} rows but y has {len(y)} labels")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    order = permutation(len(X), seed) if shuffle else range(len(X))
    for start in range(0, len(X), batch_size):
        rows = order[start : start + batch_size]
        yield [_plain(X[i], True) for i in rows], [_plain(y[i], False) for i in rows]

