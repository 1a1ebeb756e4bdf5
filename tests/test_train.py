"""Training end to end with fixed seeds, and the data helpers."""

import random
import re
import subprocess
import sys

import matplotlib
import matplotlib.pyplot
import numpy as np
import pytest
from matplotlib.figure import Figure

import micrograd_nn.functional as F
from micrograd_nn import is_grad_enabled, no_grad
from micrograd_nn.data import batches, blobs, colored_points, colored_points_weights, moons
from micrograd_nn.nn import MLP, Conv2d, Flatten, Layer, MaxPool2d, Neuron, ReLU, Sequential
from micrograd_nn.optim import SGD, Adam
from micrograd_nn.plot import plot_decision_boundary
from micrograd_nn.train import History, accuracy, fit

matplotlib.use("Agg")


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
    assert len(out.splitlines()) == 10  # about ten lines a run
    assert all(re.fullmatch(r"epoch +\d+/40  loss \d\.\d{4}  accuracy \d+\.\d%", line) for line in out.splitlines())


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


def moons_run(**kwargs):
    X, y = moons(60, noise=0.1, seed=0)
    model = MLP(2, [8, 1], rng=random.Random(0))
    history = fit(model, X, y, F.binary_cross_entropy, Adam(model.parameters(), lr=0.05), epochs=8, batch_size=10,
                  penalty=lambda ps: 1e-3 * F.l2(ps), **kwargs)
    return model, history


def test_validation_is_measured_after_each_epoch_and_never_changes_training():
    X_val, y_val = moons(30, noise=0.1, seed=7)
    model, history = moons_run(validation=(X_val, y_val))
    _, without = moons_run()
    assert history.loss == without.loss and history.accuracy == without.accuracy
    assert without.val_loss == [] and without.val_accuracy == []
    assert len(history.val_loss) == len(history.val_accuracy) == 8
    with no_grad():
        outputs = [model(x) for x in X_val.tolist()]
        mean_loss = sum(F.binary_cross_entropy(s, t).data for s, t in zip(outputs, y_val.tolist())) / 30
        expected = mean_loss + 1e-3 * F.l2(model.parameters()).data
        assert history.val_loss[-1] == pytest.approx(expected, rel=1e-12)
        assert history.val_accuracy[-1] == accuracy(outputs, y_val.tolist())


class Recorder:
    """A model that notes each input it sees, and whether a graph was being recorded."""

    def __init__(self):
        self.model = MLP(2, [4, 1], rng=random.Random(0))
        self.trained, self.validated = set(), set()

    def __call__(self, x):
        (self.trained if is_grad_enabled() else self.validated).add(tuple(x))
        return self.model(x)


def test_validation_split_holds_out_the_same_random_samples_for_the_same_seed():
    X, y = moons(40, noise=0.1, seed=1)
    runs = []
    for seed in (0, 0, 1):
        model = Recorder()
        history = fit(model, X, y, F.binary_cross_entropy, SGD(model.model.parameters(), lr=0.1), epochs=2,
                      validation_split=0.25, seed=seed)
        runs.append((model, history))
        assert len(model.validated) == 10 and len(model.trained) == 30
        assert model.trained | model.validated == {tuple(r) for r in X.tolist()}
    (first, h1), (again, h2), (other, _) = runs
    assert first.validated == again.validated and h1 == h2
    assert first.validated != other.validated
    assert first.validated != {tuple(r) for r in X[-10:].tolist()}  # random, not the tail


@pytest.mark.parametrize("kwargs,message", [
    ({"validation_split": 0.0}, "at least one sample on each side"),
    ({"validation_split": 1.0}, "at least one sample on each side"),
    ({"validation_split": 0.001}, "at least one sample on each side"),
    ({"validation_split": 0.2, "validation": ([[0.0, 0.0]], [1])}, "not both"),
    ({"validation": ([[0.0, 0.0]], [1, 0])}, "1 samples and 2 targets"),
])
def test_fit_rejects_bad_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        moons_run(**kwargs)


def test_progress_lines_without_tqdm_and_under_a_bar_with_it(capsys, monkeypatch):
    moons_run(validation_split=0.2, verbose=True)
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 8
    pattern = r"epoch +\d/8  loss \d\.\d{4}  accuracy \d+\.\d%  val loss \d\.\d{4}  val accuracy \d+\.\d%"
    assert all(re.fullmatch(pattern, line) for line in lines)
    assert "epoch 8/8" in err and "batch" in err  # tqdm's bar, on stderr

    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # as if tqdm were not installed
    moons_run(validation_split=0.2, verbose=True)
    plain_out, plain_err = capsys.readouterr()
    assert plain_out == out and plain_err == ""

    moons_run(verbose=False)
    assert capsys.readouterr() == ("", "")


def test_history_plot_draws_every_curve_with_labels():
    history = History(loss=[0.9, 0.5, 0.3], accuracy=[0.5, 0.75, 1.0], val_loss=[0.8, 0.6, 0.4],
                      val_accuracy=[0.5, 0.5, 0.75])
    ax = history.plot(Figure().subplots())
    accuracy_ax = next(other for other in ax.figure.axes if other is not ax)
    assert ax.get_xlabel() == "epoch" and "loss" in ax.get_ylabel() and "accuracy" in accuracy_ax.get_ylabel()
    curves = {line.get_label(): line.get_ydata().tolist() for line in ax.lines + accuracy_ax.lines}
    assert curves == {"training loss": [0.9, 0.5, 0.3], "validation loss": [0.8, 0.6, 0.4],
                      "training accuracy": [50.0, 75.0, 100.0], "validation accuracy": [50.0, 50.0, 75.0]}
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(curves)
    assert ax.get_title()

    regression = History(loss=[2.0, 1.0], accuracy=[None, None]).plot(Figure().subplots())
    assert [line.get_label() for line in regression.lines] == ["training loss"]
    assert len(regression.figure.axes) == 1


def contour_points(ax):
    """Every vertex of the black contour lines drawn on ax."""
    from matplotlib.collections import LineCollection
    from matplotlib.contour import ContourSet

    paths = []
    for artist in ax.get_children():
        if isinstance(artist, ContourSet) and not artist.filled:
            paths += artist.get_paths()
        elif isinstance(artist, LineCollection):
            paths += artist.get_paths()
    return np.concatenate([p.vertices for p in paths if len(p.vertices)])


def test_decision_boundary_of_one_score_is_its_zero_level():
    neuron = Neuron(2, activation="linear")
    neuron.w[0].data, neuron.w[1].data, neuron.b.data = 1.0, -1.0, 0.5  # s = x₁ − x₂ + 0.5
    X, y = [[0.0, 1.0], [1.0, 0.0], [-1.0, 0.5], [0.5, -1.0]], [0, 1, 0, 1]
    ax = plot_decision_boundary(neuron, X, y, Figure().subplots(), resolution=40)
    boundary = contour_points(ax)
    assert len(boundary) > 10
    assert np.abs(boundary[:, 0] - boundary[:, 1] + 0.5).max() < 1e-9  # linear along a linear score: exact
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["class 0", "class 1", "decision boundary"]
    assert ax.get_xlabel() == "x₁" and ax.get_ylabel() == "x₂"
    assert len(ax.figure.axes) == 2  # the colour bar of the score
    assert all(p.grad == 0.0 for p in neuron.parameters())


def test_decision_boundary_of_softmax_regression_with_the_course_weights():
    W, b = colored_points_weights()
    layer = Layer(2, 3, activation="linear")
    for neuron, w_row, bias in zip(layer.neurons, W, b):
        neuron.w[0].data, neuron.w[1].data = w_row
        neuron.b.data = bias
    X, y = colored_points()
    ax = plot_decision_boundary(layer, X, y, Figure().subplots(), resolution=60,
                                class_names=["red", "green", "blue"], colors=["red", "green", "blue"])
    image = ax.images[0].get_array()
    (x0, x1, y0, y1), (rows, cols) = ax.images[0].get_extent(), image.shape[:2]
    # On a boundary the two best scores tie: s_a − s_b = 0, exactly along straight stretches; near the point
    # where three regions meet, contouring is linear within a grid cell, so allow the width of one cell.
    W, b = np.array(W), np.array(b)
    for point in contour_points(ax):
        scores = W @ point + b
        second, first = np.argsort(scores)[-2:]
        distance = (scores[first] - scores[second]) / np.linalg.norm(W[first] - W[second])
        assert distance < (x1 - x0) / cols
    for (px, py), label in zip(X, y):  # every point sits in a region tinted its own colour
        pixel = image[int((py - y0) / (y1 - y0) * rows), int((px - x0) / (x1 - x0) * cols)]
        assert pixel[label] == max(pixel) > min(pixel)  # class 0 red, 1 green, 2 blue: its channel leads
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["red", "green", "blue", "decision boundary"]


def test_decision_boundary_evaluates_the_grid_without_recording_and_checks_its_input():
    model = Recorder()
    X, y = moons(20, seed=0)
    plot_decision_boundary(model, X, y, Figure().subplots(), resolution=12)
    assert len(model.validated) == 144 and not model.trained
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        plot_decision_boundary(model, np.zeros((4, 3)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="class indices 0 … 2"):
        plot_decision_boundary(Layer(2, 3), X, y + 5, Figure().subplots(), resolution=4)


def test_plotting_without_matplotlib_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=re.escape("pip install 'micrograd_nn[plot]'")):
        plot_decision_boundary(Layer(2, 1), [[0.0, 0.0]], [0])
    with pytest.raises(ImportError, match=re.escape("pip install 'micrograd_nn[plot]'")):
        History(loss=[1.0], accuracy=[None]).plot()


def test_two_class_colours_run_through_white_at_the_boundary():
    neuron = Neuron(2, activation="linear")
    neuron.w[0].data, neuron.w[1].data, neuron.b.data = 1.0, 0.0, 0.0  # s = x₁
    X, y = [[-1.0, 0.0], [1.0, 0.0], [-1.0, 1.0], [1.0, 1.0]], [0, 1, 0, 1]
    ax = plot_decision_boundary(neuron, X, y, resolution=21, colors=["orange", "purple"])  # a pyplot Axes
    filled = next(c for c in ax.collections if getattr(c, "filled", False))
    assert filled.cmap(0.0)[:3] == matplotlib.colors.to_rgb("orange")
    assert filled.cmap(0.5)[:3] == pytest.approx((1.0, 1.0, 1.0), abs=0.01)  # 256 steps: white ± half a step
    assert filled.cmap(1.0)[:3] == matplotlib.colors.to_rgb("purple")
    points = [c for c in ax.collections if c.get_label() in ("class 0", "class 1")]
    assert [tuple(p.get_facecolor()[0][:3]) for p in points] == [matplotlib.colors.to_rgb(c)
                                                                  for c in ("orange", "purple")]
    matplotlib.pyplot.close(ax.figure)


def test_importing_the_package_does_not_import_matplotlib():
    code = "import sys, micrograd_nn.train, micrograd_nn.plot, micrograd_nn.demo; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr
