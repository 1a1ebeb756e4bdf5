"""Training end to end with fixed seeds, and the data helpers."""

import random

import numpy as np
import pytest

import micrograd_nn.functional as F
from micrograd_nn import no_grad
from micrograd_nn.data import batches, blobs, moons
from micrograd_nn.nn import MLP, Conv2d, Flatten, Layer, MaxPool2d, ReLU, Sequential
from micrograd_nn.optim import SGD, Adam
from micrograd_nn.train import accuracy, fit


def test_moons_mlp_reaches_95_percent(capsys):
    X, y = moons(100, noise=0.1, seed=0)
    model = MLP(2, [16, 16, 1], rng=random.Random(0))
    history = fit(model, X, y, F.binary_cross_entropy, Adam(model.parameters(), lr=0.05), epochs=40,
                  batch_size=50, penalty=lambda ps: 1e-4 * F.l2(ps), verbose=True)
    assert len(history.loss) == len(history.accuracy) == 40
    assert history.loss[-1] < history.loss[0]
    with no_grad():
        assert accuracy([model(x) for x in X.tolist()], y.tolist()) >= 0.95
    out = capsys.readouterr().out
    assert "epoch   40/40" in out and "accuracy" in out


def bars(n, seed):
    """6×6 images with one vertical (label 0) or horizontal (label 1) bar."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for _ in range(n):
        img = rng.normal(0, 0.1, size=(6, 6))
        label = int(rng.integers(2))
        pos = int(rng.integers(6))
        if label == 0:
            img[:, pos] += 1.0
        else:
            img[pos, :] += 1.0
        images.append([img.tolist()])
        labels.append(label)
    return images, labels


def test_small_cnn_learns_vertical_versus_horizontal_bars():
    X, y = bars(60, seed=0)
    rng = random.Random(0)
    model = Sequential(Conv2d(1, 4, 3, rng=rng), ReLU(), MaxPool2d(2), Flatten(), Layer(16, 2, activation="linear",
                                                                                     rng=rng))
    history = fit(model, X, y, F.cross_entropy, Adam(model.parameters(), lr=0.05), epochs=20, batch_size=10)
    X_test, y_test = bars(40, seed=1)
    with no_grad():
        assert accuracy([model(x) for x in X_test], y_test) >= 0.95
    assert history.loss[-1] < 0.5 * history.loss[0]


def test_hinge_labels_in_minus_one_one_and_regression():
    X, y = moons(40, seed=2)
    model = MLP(2, [8, 1], rng=random.Random(1))
    history = fit(model, X, 2 * y - 1, lambda s, t: (1 - t * s).relu(), SGD(model.parameters(), lr=0.1), epochs=5)
    assert all(0.0 <= a <= 1.0 for a in history.accuracy)
    reg = MLP(1, [1], rng=random.Random(0))
    Xr = [[x] for x in np.linspace(-1, 1, 10)]
    yr = [3 * x[0] + 1 for x in Xr]
    h = fit(reg, Xr, yr, F.mse, SGD(reg.parameters(), lr=0.3), epochs=60, classify=False)
    assert h.accuracy[-1] is None and h.loss[-1] < 1e-4
    assert reg.parameters()[0].data == pytest.approx(3.0, abs=1e-2)


def test_batches_cover_every_row_once_per_epoch():
    X, y = blobs(23, seed=0)
    seen = []
    sizes = []
    for xb, yb in batches(X, y, batch_size=5, seed=3):
        sizes.append(len(xb))
        assert len(xb) == len(yb) and all(isinstance(v, float) for v in xb[0])
        seen += [tuple(r) for r in xb]
    assert sizes == [5, 5, 5, 5, 3]
    assert sorted(seen) == sorted(tuple(r) for r in X.tolist())
    first = [xb for xb, _ in batches(X, y, 5, shuffle=False)][0]
    assert first == X[:5].tolist()
    with pytest.raises(ValueError, match="23 rows but y has 2"):
        next(batches(X, y[:2], 5))


def test_moons_and_blobs_shapes_and_reproducibility():
    X, y = moons(51, noise=0.05, seed=4)
    assert X.shape == (51, 2) and set(y.tolist()) == {0, 1}
    assert np.array_equal(moons(51, noise=0.05, seed=4)[0], X)
    X, y = blobs(30, centers=[(0, 0), (3, 3)], seed=1)
    assert X.shape == (30, 2) and set(y.tolist()) <= {0, 1}


def test_fit_rejects_empty_data():
    model = MLP(1, [1])
    with pytest.raises(ValueError, match="0 samples"):
        fit(model, [], [], F.mse, SGD(model.parameters(), lr=0.1), epochs=1)
