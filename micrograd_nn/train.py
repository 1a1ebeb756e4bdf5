"""A small training loop: epochs of mini-batches, a progress line, and the history it returns."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import engine
from .data import batches
from .engine import Value

__all__ = ["History", "fit", "predict_class", "accuracy"]


@dataclass
class History:
    """Per-epoch mean training loss and accuracy (None for regression)."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float | None] = field(default_factory=list)


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


def fit(model: Callable, X, y, loss_fn: Callable, optimizer, epochs: int, batch_size: int | None = None,
        penalty: Callable[[list[Value]], Value] | None = None, shuffle: bool = True, seed: int | None = 0,
        classify: bool = True, verbose: bool | None = None) -> History:
    """Train `model` and return its History.

    Each step: loss = (1/B)·Σ loss_fn(model(x), target) over the batch (+ penalty(params)),
    then zero_grad, backward, optimizer.step(). `batch_size=None` is full-batch gradient descent.
    The history holds each epoch's mean loss (penalty included) and the accuracy of the outputs
    seen during that epoch. Progress lines (epoch, loss, accuracy) appear about ten times a run
    when `verbose`, which by default is on for runs longer than a few seconds.
    """
    if len(X) == 0 or epochs < 1:
        raise ValueError(f"fit needs at least one sample and one epoch, got {len(X)} samples and {epochs} epochs")
    batch_size = batch_size or len(X)
    labels = _score_labels(list(y)) if classify else None
    history = History()
    params = optimizer.params
    started = time.perf_counter()
    report_every = max(1, epochs // 10)
    for epoch in range(1, epochs + 1):
        total_loss, correct = 0.0, 0
        for xb, yb in batches(X, y, batch_size, shuffle=shuffle, seed=None if seed is None else seed + epoch):
            scores = [model(x) for x in xb]
            loss = engine.sum(loss_fn(s, t) for s, t in zip(scores, yb)) / len(xb)
            if penalty is not None:
                loss = loss + penalty(params)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += loss.data * len(xb)
            if classify:  # count now, so this batch's graph can be freed
                correct += _correct(scores, yb, labels)
        history.loss.append(total_loss / len(X))
        history.accuracy.append(correct / len(X) if classify else None)
        show = verbose if verbose is not None else time.perf_counter() - started > 3.0
        if show and (epoch % report_every == 0 or epoch == epochs):
            acc = f"  accuracy {history.accuracy[-1]:.1%}" if classify else ""
            print(f"epoch {epoch:4d}/{epochs}  loss {history.loss[-1]:.4f}{acc}", flush=True)
    return history
