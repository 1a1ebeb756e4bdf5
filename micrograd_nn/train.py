"""A small training loop: epochs of mini-batches, optional validation, progress output, and the history it returns."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .data import batches, permutation
from .engine import Value, enable_grad, no_grad
from .tape import CompiledStep, batch_loss

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["History", "fit", "predict_class", "accuracy", "format_accuracy"]


def format_accuracy(fraction: float) -> str:
    """The one way accuracy is printed: 0.97 → "97.0%"."""
    return f"{fraction:.1%}"


@dataclass
class History:
    """Per-epoch mean loss and accuracy (None for regression); val_* stay empty without validation data."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float | None] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float | None] = field(default_factory=list)

    def plot(self, ax: Axes | None = None, title: str | None = "Training history") -> Axes:
        """Loss and accuracy per epoch on two y-axes, validation dashed (see plot.plot_history). Returns the Axes."""
        from .plot import plot_history

        return plot_history(self, ax, title)


def predict_class(output, labels: tuple = (0, 1)) -> int:
    """A list of scores → the index of the largest; one score s → labels[1] if s > 0 else labels[0]."""
    if isinstance(output, (list, tuple)):
        scores = [o.data if isinstance(o, Value) else float(o) for o in output]
        return max(range(len(scores)), key=scores.__getitem__)
    score = output.data if isinstance(output, Value) else float(output)
    return labels[1] if score > 0 else labels[0]


def _score_labels(targets) -> tuple:
    return (-1, 1) if any(t == -1 for t in targets) else (0, 1)


def _correct(outputs, targets, labels: tuple) -> int:
    return sum(predict_class(o, labels) == t for o, t in zip(outputs, targets))


def accuracy(outputs, targets) -> float:
    """Fraction of outputs whose predicted class equals the target (targets in {0, 1} or {−1, 1} for one score)."""
    return _correct(outputs, targets, _score_labels(targets)) / len(targets)


def forward_backward(model: Callable, xb: list, yb: list, loss_fn: Callable,
                     penalty: Callable[[list[Value]], Value] | None, params: list[Value]) -> tuple[float, list]:
    """One mini-batch: L = (1/B)·Σ loss_fn(model(x), target) (+ penalty(params)), then L.backward().

    Gradients are added into the parameters' .grad; returns (L, the model's outputs).
    """
    loss, outputs = batch_loss(model, xb, yb, loss_fn, penalty, params)
    loss.backward()
    return loss.data, outputs


@no_grad()
def _evaluate(model: Callable, X: Sequence, y: Sequence, loss_fn: Callable,
              penalty: Callable[[list[Value]], Value] | None, params: list[Value],
              labels: tuple | None) -> tuple[float, float | None]:
    """Mean loss (penalty included, as in training) and accuracy on (X, y), recording no graph."""
    xs, ys = next(batches(X, y, batch_size=len(X), shuffle=False))  # rows as lists of floats, as in training
    loss, outputs = batch_loss(model, xs, ys, loss_fn, penalty, params)
    return loss.data, (_correct(outputs, ys, labels) / len(xs) if labels is not None else None)


def _split(X, y, fraction: float, seed: int | None) -> tuple[list, list, tuple[list, list]]:
    """Hold out round(fraction·N) randomly chosen samples (the same ones for the same seed)."""
    n_val = round(len(X) * fraction)
    if not 0.0 < fraction < 1.0 or not 1 <= n_val < len(X):
        raise ValueError(f"validation_split must leave at least one sample on each side, got {fraction} "
                         f"of {len(X)} samples")
    order = permutation(len(X), seed)
    held_out, kept = order[:n_val], order[n_val:]
    return [X[i] for i in kept], [y[i] for i in kept], ([X[i] for i in held_out], [y[i] for i in held_out])


class _Progress:
    """A line (epoch, loss, accuracy) about ten times a run, under a tqdm bar when tqdm is installed.

    Silent until start(): fit starts it at once when verbose, or once a run has taken a few seconds.
    """

    def __init__(self, epochs: int, batches_per_epoch: int):
        self.epochs, self.batches_per_epoch = epochs, batches_per_epoch
        self.report_every = max(1, epochs // 10)
        self.started, self.bar = False, None

    def start(self, epoch: int) -> None:
        self.started = True
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Jupyter without ipywidgets: tqdm warns, then draws a text bar
                from tqdm.auto import tqdm
        except ImportError:
            return
        self.bar = tqdm(total=self.epochs * self.batches_per_epoch, initial=(epoch - 1) * self.batches_per_epoch,
                        desc=f"epoch {epoch}/{self.epochs}", unit="batch", leave=False, dynamic_ncols=True)

    def batch_done(self) -> None:
        if self.bar is not None:
            self.bar.update()

    def epoch_done(self, history: History, epoch: int) -> None:
        if not self.started:
            return
        metrics = f"loss {history.loss[-1]:.4f}"
        if history.accuracy[-1] is not None:
            metrics += f"  accuracy {format_accuracy(history.accuracy[-1])}"
        if history.val_loss:
            metrics += f"  val loss {history.val_loss[-1]:.4f}"
            if history.val_accuracy[-1] is not None:
                metrics += f"  val accuracy {format_accuracy(history.val_accuracy[-1])}"
        if self.bar is not None:
            self.bar.set_description_str(f"epoch {epoch}/{self.epochs}", refresh=False)
            self.bar.set_postfix_str(metrics, refresh=False)
        if epoch % self.report_every == 0 or epoch == self.epochs:
            line = f"epoch {epoch:4d}/{self.epochs}  {metrics}"
            if self.bar is not None:
                self.bar.write(line)  # above the bar, which stays at the bottom
            else:
                print(line, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@enable_grad()  # fit records its own graphs: inside no_grad() it still trains (validation records none)
def fit(model: Callable, X, y, loss_fn: Callable, optimizer, epochs: int, batch_size: int | None = None,
        penalty: Callable[[list[Value]], Value] | None = None, shuffle: bool = True, seed: int | None = 0,
        classify: bool = True, verbose: bool | None = None, validation: tuple | None = None,
        validation_split: float | None = None, compile: bool = False, live: bool = False) -> History:
    """Train `model` and return its History.

    Each step: loss = (1/B)·Σ loss_fn(model(x), target) over the batch (+ penalty(params)),
    then zero_grad, backward, optimizer.step(). `batch_size=None` is full-batch gradient descent.
    The history holds each epoch's mean loss (penalty included) and the accuracy of the outputs
    seen during that epoch.

    Validation data, `validation=(X_val, y_val)` or `validation_split=0.2` (that fraction of X, held
    out at random, the same samples for the same seed), is evaluated after every epoch without
    recording a graph: history.val_loss (penalty included, as for training) and history.val_accuracy.

    `compile=True` records each batch size's loss graph once and replays it (`micrograd_nn.tape.CompiledStep`):
    the same losses, gradients and parameters, several times faster. The model must build the same graph
    for every batch, and `loss_fn` must accept its target as a Value.

    fit trains also when called inside `no_grad()`: it records the graphs it needs itself.

    `live=True` shows the run in Jupyter as it trains (`micrograd_nn.live`: curves, decision regions, one
    sample's graph); the training is the same, bit for bit. Outside Jupyter it prints as usual.

    With `verbose`, which by default is on for runs longer than a few seconds, a progress line
    (epoch, loss, accuracy) is printed about ten times a run, under a progress bar when tqdm is
    installed.
    """
    if len(X) != len(y):
        raise ValueError(f"fit: X has {len(X)} samples but y has {len(y)} targets")
    if len(X) == 0 or epochs < 1:
        raise ValueError(f"fit needs at least one sample and one epoch, got {len(X)} samples and {epochs} epochs")
    if validation is not None and validation_split is not None:
        raise ValueError("fit takes validation=(X_val, y_val) or validation_split, not both")
    if validation_split is not None:
        X, y, validation = _split(X, y, validation_split, seed)
    if validation is not None:
        X_val, y_val = validation
        if len(X_val) != len(y_val) or len(X_val) == 0:
            raise ValueError(f"validation needs as many targets as samples, at least one: got {len(X_val)} samples "
                             f"and {len(y_val)} targets")
    batch_size = batch_size or len(X)
    labels = _score_labels([*y, *(validation[1] if validation is not None else ())]) if classify else None
    history = History()
    params = optimizer.params
    compiled_step = CompiledStep(model, loss_fn, penalty, params) if compile else None
    progress = _Progress(epochs, batches_per_epoch=-(-len(X) // batch_size))
    view = _live_view(model, X, y, loss_fn, optimizer, batch_size, penalty, classify, history) if live else None
    started = time.perf_counter()
    try:
        for epoch in range(1, epochs + 1):
            total_loss, correct = 0.0, 0
            for xb, yb in batches(X, y, batch_size, shuffle=shuffle, seed=None if seed is None else seed + epoch):
                optimizer.zero_grad()
                if compiled_step is not None:
                    loss, outputs = compiled_step(xb, yb)
                else:
                    loss, outputs = forward_backward(model, xb, yb, loss_fn, penalty, params)
                optimizer.step()
                total_loss += loss * len(xb)
                if classify:  # count now, so this batch's graph can be freed
                    correct += _correct(outputs, yb, labels)
                if not progress.started and (verbose or verbose is None and time.perf_counter() - started > 3.0):
                    progress.start(epoch)
                progress.batch_done()
                if view is not None:
                    view._after_step(loss, outputs, yb)
            history.loss.append(total_loss / len(X))
            history.accuracy.append(correct / len(X) if classify else None)
            if validation is not None:
                val_loss, val_accuracy = _evaluate(model, X_val, y_val, loss_fn, penalty, params, labels)
                history.val_loss.append(val_loss)
                history.val_accuracy.append(val_accuracy)
            progress.epoch_done(history, epoch)
    finally:  # an error mid-run must not leave a progress bar behind
        progress.close()
        if view is not None:
            view.finish()
    return history


def _live_view(model, X, y, loss_fn, optimizer, batch_size, penalty, classify, history):
    """fit(live=True): in Jupyter, a live view that fit's steps are reported to (shown now); elsewhere None."""
    from .live import LiveView, in_jupyter

    if not in_jupyter():
        return None
    view = LiveView(model, X, y, loss_fn, optimizer, batch_size, penalty=penalty, classify=classify,
                    history=history, _driven=True)
    view.show()
    return view
