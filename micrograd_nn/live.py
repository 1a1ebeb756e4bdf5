"""Watch a model learn: training one optimiser step at a time, with its loss, its decision regions and one
sample's computation graph redrawn as it goes.

    view = mg.live(model, X, y, F.binary_cross_entropy, Adam(model.parameters(), lr=0.05))
    view.step(20)            # 20 optimiser steps, in fit's order; in Jupyter the widget redraws
    view.sample = 7          # trace sample 7 instead
    view.save("run.html")    # every step so far as one offline page

A step is exactly fit's: zero_grad, L = (1/B)·Σ loss_fn(model(x), t) (+ penalty), backward, optimizer.step(),
on the batches fit would take (`batch_size=None`: the whole set, so k steps are fit(..., epochs=k,
batch_size=len(X))). Watching never changes the run: the traced sample's graph is a separate graph whose
derivatives come from `mg.grad` (no `.grad` touched), and the regions are computed without recording.

In Jupyter (with `pip install 'micrograd_nn[live]'`, which brings anywidget) the view is a widget: loss and
accuracy curves, the decision regions with the data (click a point to trace it), the traced sample's graph in
the step-through viewer (laid out once; each redraw sends only its new numbers), a table of the parameters
and pause / step / resume / speed buttons. Redraws are throttled: at most 10 a second, and only while
drawing has taken under 15 % of the training time, so watching slows training by less than a fifth.
"""

from __future__ import annotations

import html
import json
import math
import os
import threading
import time
from array import array
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from . import derivatives, engine
from .engine import Value, enable_grad, no_grad, topological_order
from .frames import fmt, model_names, node_names
from .nn import MLP, Layer, Neuron

__all__ = ["LiveView", "live", "in_jupyter"]

MAX_PAGE_FRAMES = 1000  # a saved page keeps at most this many steps of the traced graph (evenly spread)
MAX_PAGE_GRIDS = 60  # … and decision regions (and parameter tables) at this many steps
GRID = 48  # cells per side of the decision-region grid
COLLAPSE_ABOVE = 60  # a traced graph with more nodes draws each neuron as one box
REDRAWS_PER_SECOND = 10
DRAWING_BUDGET = 0.15  # of the training time; the rest of a redraw happens in the browser


def in_jupyter() -> bool:
    """True inside a Jupyter kernel (where a widget or HTML can be shown)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _anywidget_missing() -> str | None:
    try:
        import anywidget  # noqa: F401
    except ImportError:
        return "the live widget needs anywidget: pip install 'micrograd_nn[live]'"
    return None


def _static(name: str) -> str:
    return (Path(__file__).parent / "graph" / "static" / name).read_text(encoding="utf-8")


def front_end_module() -> str:
    """The ES module the widget and the saved page run: the viewer's source as a constant, then live.js
    (which imports the viewer from that text through a data: URL)."""
    from .graph.viewer import viewer_script

    return f"const VIEWER_SOURCE = {json.dumps(viewer_script())};\n{_static('live.js')}"


class _Throttle:
    """Say when to redraw: at most `per_second` times a second, and only while the time spent drawing stays
    under `budget` of the time spent training."""

    def __init__(self, per_second: float = REDRAWS_PER_SECOND, budget: float = DRAWING_BUDGET):
        self.interval, self.budget = 1.0 / per_second, budget
        self.started = self.last = time.perf_counter()
        self.drawing = 0.0

    def due(self) -> bool:
        now = time.perf_counter()
        training = now - self.started - self.drawing
        return now - self.last >= self.interval and self.drawing <= self.budget * training

    def spent(self, seconds: float) -> None:
        self.drawing += seconds
        self.last = time.perf_counter()


# --- the numbers a view draws ---


def _floats(output) -> list[float]:
    outputs = output if isinstance(output, (list, tuple)) else [output]
    return [o.data if isinstance(o, Value) else float(o) for o in outputs]


def _dense_layers(model) -> list | None:
    """[(W, b, activation)] for an MLP, Layer or Neuron (so the grid is one matrix product per layer), else None."""
    if isinstance(model, MLP):
        layers = [layer.neurons for layer in model.layers]
    elif isinstance(model, Layer):
        layers = [model.neurons]
    elif isinstance(model, Neuron):
        layers = [[model]]
    else:
        return None
    return [([[w.data for w in n.w] for n in neurons], [n.b.data for n in neurons], neurons[0].activation)
            for neurons in layers]


def _grid_points(bounds: tuple, n: int) -> list[tuple[float, float]]:
    """The centres of an n×n grid over bounds = (x0, x1, y0, y1), row by row from the bottom."""
    x0, x1, y0, y1 = bounds
    return [(x0 + (x1 - x0) * (i + 0.5) / n, y0 + (y1 - y0) * (j + 0.5) / n) for j in range(n) for i in range(n)]


def _scores_on_grid(model, bounds: tuple, n: int) -> list[list[float]]:
    """The model's outputs at the grid's points, one list per output: numpy matrix products for dense models
    (few objects made: a redraw must not wake the cycle collector over the training graph), else the model
    itself without recording a graph."""
    layers = _dense_layers(model)
    if layers is not None:
        try:
            import numpy as np
        except ImportError:
            layers = None
    if layers is None:
        with no_grad():
            rows = [_floats(model(list(p))) for p in _grid_points(bounds, n)]
        return [list(column) for column in zip(*rows)]
    x0, x1, y0, y1 = bounds
    centres = (np.arange(n) + 0.5) / n
    xs, ys = np.meshgrid(x0 + (x1 - x0) * centres, y0 + (y1 - y0) * centres)
    a = np.stack([xs.ravel(), ys.ravel()], axis=1)
    for W, b, activation in layers:
        # einsum's own loop, not BLAS: BLAS threads would spin on the cores training needs
        a = np.einsum("pi,oi->po", a, np.asarray(W), optimize=False) + np.asarray(b)
        if activation == "relu":
            a = np.maximum(a, 0.0)
        elif activation == "tanh":
            a = np.tanh(a)
        elif activation == "sigmoid":
            a = 1.0 / (1.0 + np.exp(-a))
    return [a[:, k].tolist() for k in range(a.shape[1])]


def region_grid(model, bounds: tuple, n: int = GRID) -> dict:
    """What `model` predicts over an n×n grid of 2-D points inside bounds = (x0, x1, y0, y1), row by row from
    the bottom: one output → its score s per cell; several → the winning class argmaxⱼ sⱼ and its softmax
    probability e^(s_top) / Σⱼ e^(sⱼ)."""
    outputs = _scores_on_grid(model, bounds, n)
    grid = {"bounds": list(bounds), "n": n}
    if len(outputs) == 1:
        grid["kind"], grid["score"] = "score", [_finite(round(s, 4)) for s in outputs[0]]
        return grid
    classes, probs = [], []
    for s in zip(*outputs):
        top = max(range(len(s)), key=s.__getitem__)
        classes.append(top)
        probs.append(_finite(round(1.0 / math.fsum(math.exp(v - s[top]) for v in s), 3)))
    grid["kind"], grid["class"], grid["prob"] = "class", classes, probs
    return grid


def _bounds(X) -> tuple:
    xs, ys = [float(p[0]) for p in X], [float(p[1]) for p in X]
    pad_x, pad_y = 0.1 * (max(xs) - min(xs)) + 0.2, 0.1 * (max(ys) - min(ys)) + 0.2
    return (min(xs) - pad_x, max(xs) + pad_x, min(ys) - pad_y, max(ys) + pad_y)


def _is_2d(X) -> bool:
    try:
        return all(len(row) == 2 and all(isinstance(v, (int, float)) or hasattr(v, "__float__") for v in row)
                   for row in X)
    except TypeError:
        return False


def _names(params: list, model) -> list[str]:
    named = getattr(model, "named_parameters", None)
    given = {id(p): name for name, p in named()} if callable(named) else {}
    return [given.get(id(p)) or p.label or f"p{i}" for i, p in enumerate(params)]


# --- the traced sample's graph, in the viewer's payload format ---


def _breadth_first(root: Value) -> list[Value]:
    """Nodes in breadth-first order from the root: the order the drawing numbers its ids in (n0 = root)."""
    from .graph.drawing import _nearest_nodes

    return _nearest_nodes(root, None)[0]


class _Trace:
    """The graph of one sample's loss, loss_fn(model(x), t), laid out once; `texts()` gives every drawn record's
    texts for the current parameters from a freshly built graph of the same shape (numbers only change)."""

    def __init__(self, model, x, target, loss_fn: Callable, params: list[Value]):
        from .graph.drawing import Scene

        self.model, self.x, self.target, self.loss_fn = model, x, target, loss_fn
        root = self._build()
        order = topological_order(root)
        module = hasattr(model, "named_parameters")  # names and neuron boxes come from a Module; else a list
        names = node_names(order, model_names(order, model))
        collapsed = len(order) > COLLAPSE_ABOVE and module
        self.scene = Scene(root, parameters=model if module else params, collapsed=collapsed,
                           max_nodes=None if collapsed else 150, names=names)
        self.scene.legend = False  # the viewer draws its own legend
        self.layout = _breadth_first(root)
        self.root_id = self.scene.ids[root]

    def _build(self) -> Value:
        output = self.model(self.x)
        self.outputs = _floats(output)
        root = self.loss_fn(output, self.target)
        if not isinstance(root, Value):
            raise TypeError(f"live: loss_fn must return a Value, got {type(root).__name__}")
        root.label = root.label or "loss"
        return root

    def window(self) -> dict:
        """The viewer's window of the drawing, laid out now with room for any numbers (svg None, dot given,
        without Graphviz)."""
        from .graph.viewer import layout_windows

        return layout_windows([self.scene.graph(widest_paint(self.layout)).source])[0][0]

    def nodes(self) -> dict:
        from .graph.viewer import record_names

        return record_names(self.scene)

    def texts(self) -> tuple[dict, float, list[float]] | None:
        """({dot id: texts}, the sample's loss, its outputs) at the current parameters; None if the graph built
        now has another shape than the one laid out."""
        from .graph.drawing import Paint
        from .graph.viewer import record_texts

        root = self._build()
        fresh = _breadth_first(root)
        if len(fresh) != len(self.layout) or any(a.op != b.op for a, b in zip(fresh, self.layout)):
            return None
        grads = derivatives.grad(root, fresh)
        paint = Paint(data={old: new.data for old, new in zip(self.layout, fresh)},
                      grads={old: g.data for old, g in zip(self.layout, grads)})
        texts = record_texts(self.scene, paint)
        return texts, root.data, self.outputs


def widest_paint(nodes) -> object:
    """A Paint whose every number prints as wide as any number can (`-8.888e+88`): a drawing laid out with it has
    room for whatever numbers its records show later."""
    from .graph.drawing import Paint

    return Paint(data=dict.fromkeys(nodes, WIDEST), grads=dict.fromkeys(nodes, WIDEST))


WIDEST = -8.888e88


# --- the view ---


class LiveView:
    """Training you can watch, one optimiser step at a time (see the module's docstring).

    `step(n)` trains; `history` is a train.History (one entry per epoch, as fit's); `sample` (settable) is the
    traced sample's index; `save(path)` writes the steps so far as one offline page. `losses` and
    `accuracies` hold each step's batch loss and batch accuracy.
    """

    def __init__(self, model, X, y, loss_fn: Callable, optimizer, batch_size: int | None = None, sample: int = 0,
                 *, penalty: Callable | None = None, shuffle: bool = True, seed: int | None = 0,
                 classify: bool = True, history=None, _driven: bool = False):
        from .train import History, _score_labels

        if len(X) != len(y):
            raise ValueError(f"live: X has {len(X)} samples but y has {len(y)} targets")
        if len(X) == 0:
            raise ValueError("live needs at least one sample")
        self.model, self.X, self.y, self.loss_fn, self.optimizer = model, X, y, loss_fn, optimizer
        self.penalty, self.shuffle, self.seed, self.classify = penalty, shuffle, seed, classify
        self.batch_size = batch_size or len(X)
        if self.batch_size < 1:
            raise ValueError(f"live: batch_size must be at least 1, got {batch_size}")
        self.labels = _score_labels(list(y)) if classify else None
        self.params = list(optimizer.params)
        self.param_names = _names(self.params, model)
        self.history = history if history is not None else History()
        self.losses: list[float] = []
        self.accuracies: list[float | None] = []
        self._values = [array("d", (p.data for p in self.params))]  # after each step; [0]: before training
        self._grads = [array("d", bytes(8 * len(self.params)))]
        self._driven = _driven  # fit drives the steps (and the epochs)
        self._batches = None if _driven else self._all_batches()
        self._epoch_loss, self._epoch_correct, self._epoch_batches = 0.0, 0, 0
        self.batches_per_epoch = -(-len(X) // self.batch_size)
        self.points = [[float(v) for v in row] for row in X] if _is_2d(X) else None
        self.bounds = _bounds(self.points) if self.points else None
        self._sample = self._check_sample(sample)
        self._trace = None
        self._widget = None
        self._throttle = _Throttle()
        self._lock = threading.RLock()
        self._runner: threading.Thread | None = None
        self._running = threading.Event()
        self.speed = 10.0  # steps per second while resumed from the widget

    # --- training ---

    def _all_batches(self):
        from .data import batches

        epoch = 0
        while True:
            epoch += 1
            yield from batches(self.X, self.y, self.batch_size, shuffle=self.shuffle,
                               seed=None if self.seed is None else self.seed + epoch)

    @property
    def steps(self) -> int:
        """Optimiser steps taken so far."""
        return len(self.losses)

    def step(self, n: int = 1) -> LiveView:
        """Take n optimiser steps (fit's batches, in fit's order) and redraw. Returns the view."""
        if self._driven:
            raise RuntimeError("this view belongs to a fit(..., live=True) run; make your own with mg.live(...)")
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError(f"step: n must be a whole number of steps ≥ 0, got {n!r}")
        for k in range(n):
            self._one_step(last=k == n - 1)
        return self

    def _one_step(self, last: bool) -> None:
        """fit's step on the next batch: zero_grad, L = (1/B)·Σ loss_fn(model(x), t) (+ penalty), backward, step;
        then record it (and redraw if `last`, else when the throttle says so)."""
        from .train import forward_backward

        with self._lock, enable_grad():  # as fit: it records its graphs even inside no_grad()
            xb, yb = next(self._batches)
            self.optimizer.zero_grad()
            loss, outputs = forward_backward(self.model, xb, yb, self.loss_fn, self.penalty, self.params)
            self.optimizer.step()
            self._after_step(loss, outputs, yb, last)

    def _after_step(self, loss: float, outputs: list, yb: list, last: bool = False) -> None:
        """Record a step fit or `step` took (its batch loss, accuracy, the parameters and their gradients);
        close the epoch when it was the epoch's last batch (not when fit drives: fit keeps its own history);
        redraw if the throttle says so (or `last`)."""
        from .train import _correct

        correct = _correct(outputs, yb, self.labels) if self.classify else None
        self.losses.append(loss)
        self.accuracies.append(None if correct is None else correct / len(yb))
        self._values.append(array("d", (p.data for p in self.params)))
        self._grads.append(array("d", (p.grad for p in self.params)))
        if not self._driven:
            self._epoch_loss += loss * len(yb)
            self._epoch_correct += correct or 0
            self._epoch_batches += 1
            if self._epoch_batches == self.batches_per_epoch:
                self.history.loss.append(self._epoch_loss / len(self.X))
                self.history.accuracy.append(self._epoch_correct / len(self.X) if self.classify else None)
                self._epoch_loss, self._epoch_correct, self._epoch_batches = 0.0, 0, 0
        if self._widget is not None and (last or self._throttle.due()):
            started = time.perf_counter()
            self._send_update()
            self._throttle.spent(time.perf_counter() - started)

    # --- the traced sample ---

    def _check_sample(self, index) -> int:
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"sample must be an index into X (an int), got {type(index).__name__}")
        if not -len(self.X) <= index < len(self.X):
            raise IndexError(f"sample {index} is outside X's {len(self.X)} samples")
        return index % len(self.X)

    @property
    def sample(self) -> int:
        """The index (into X) of the sample whose graph is drawn; settable."""
        return self._sample

    @sample.setter
    def sample(self, index: int) -> None:
        with self._lock:
            self._sample = self._check_sample(index)
            self._trace = None
            if self._widget is not None:
                self._widget.send({"type": "layout", "layout": self._layout()})
                self._send_update()

    def _traced(self, step: int = 0) -> _Trace:
        """The traced sample's graph, laid out from the parameters after `step` (by default the initial ones: they
        can always be computed, where a run that diverged may overflow)."""
        if self._trace is None:
            from .data import _plain

            with self._parameters_at(step):
                self._trace = _Trace(self.model, _plain(self.X[self._sample], True),
                                     _plain(self.y[self._sample], False), self.loss_fn, self.params)
        return self._trace

    def _frame(self, step: int) -> dict | None:
        """The viewer frame of step `step` (the parameters after it): every drawn record's texts, the ledger."""
        trace = self._traced()
        if step == 0:
            head = "before training"
        else:
            acc = self.accuracies[step - 1]
            head = (f"step {step} (epoch {-(-step // self.batches_per_epoch)}): batch loss {fmt(self.losses[step - 1])}"
                    + ("" if acc is None else f", batch accuracy {acc:.1%}"))
        frame = {"step": step, "window": 0, "current": trace.root_id}
        try:
            with self._parameters_at(step):
                found = trace.texts()
        except (ArithmeticError, ValueError) as error:  # a run that diverged: say why, keep the last numbers drawn
            return {**frame, "texts": {}, "ledger": f"{head}\nsample {self._sample} cannot be computed here: {error}"}
        if found is None:
            return None
        texts, sample_loss, outputs = found
        target = _plain_target(self.y[self._sample])
        ledger = (f"{head}\nsample {self._sample}: target {target}, output "
                  f"{', '.join(fmt(o) for o in outputs)}, its loss {fmt(sample_loss)}")
        return {**frame, "texts": texts, "ledger": ledger}

    @contextmanager
    def _parameters_at(self, step: int):
        """A block in which the parameters hold their values after step `step` (restored bit for bit after)."""
        saved = [p.data for p in self.params]
        try:
            if step != self.steps:
                for p, v in zip(self.params, self._values[step]):
                    p.data = v
            yield
        finally:
            for p, v in zip(self.params, saved):
                p.data = v

    # --- what the front end draws ---

    def _layout(self) -> dict:
        """Everything drawn once: the data, and the traced graph laid out (the viewer's payload, holding the
        current step's frame)."""
        trace = self._traced()
        frame = self._frame(self.steps)
        return {
            "title": f"training, tracing sample {self._sample}",
            "points": self.points,
            "bounds": self.bounds,
            "targets": [_plain_target(t) for t in self.y] if self.points else None,
            "sample": self._sample,
            "param_names": self.param_names,
            "viewer": {"title": f"sample {self._sample}'s loss", "direction": "live", "windows": [trace.window()],
                       "nodes": trace.nodes(), "copies": {}, "texts": frame["texts"] if frame else {},
                       "frames": [frame] if frame else []},
        }

    def _params_table(self, step: int) -> dict:
        """The parameters after step `step`: {"value": [...], "grad": [...], "update": [...]} (the last update,
        value − value before the step), in the optimiser's order; None for a non-finite number."""
        after, before = self._values[step], self._values[max(step - 1, 0)]
        return {"value": [_finite(v) for v in after], "grad": [_finite(g) for g in self._grads[step]],
                "update": [_finite(v - b) for v, b in zip(after, before)]}

    def _update(self, since: int = 0) -> dict:
        """The numbers of a redraw: the curves' points from step `since` on, the regions, the table, the frame."""
        step = self.steps
        update = {"type": "update", "step": step, "from": since, "losses": [_finite(v) for v in self.losses[since:]],
                  "accuracies": self.accuracies[since:], "params": self._params_table(step),
                  "frame": self._frame(step), "running": self._running.is_set(), "speed": self.speed}
        if self.points:
            with self._parameters_at(step):
                update["grid"] = region_grid(self.model, self.bounds)
        return update

    def _send_update(self, since: int | None = None) -> None:
        with engine._cycle_collector_paused():  # its objects die young; a collection would walk the training graph
            self._send_numbers(since)

    def _send_numbers(self, since: int | None) -> None:
        widget = self._widget
        update = self._update(widget.sent_steps if since is None else since)
        widget.sent_steps = self.steps
        if update["frame"] is None:  # the graph changed shape: lay it out again, from the current parameters
            self._trace = None
            self._traced(self.steps)
            widget.send({"type": "layout", "layout": self._layout()})
            update["frame"] = self._frame(self.steps)
        widget.send(update)

    # --- Jupyter ---

    def widget(self):
        """The anywidget widget showing this view (needs anywidget: pip install 'micrograd_nn[live]')."""
        missing = _anywidget_missing()
        if missing:
            raise ImportError(missing)
        if self._widget is None:
            self._widget = _make_widget(self)
        return self._widget

    def show(self) -> None:
        """Display the view in Jupyter now: the widget, or without anywidget nothing until `finish()` shows the
        page. Outside Jupyter, do nothing."""
        if in_jupyter() and not _anywidget_missing():
            from IPython.display import display

            display(self.widget())

    def finish(self) -> None:
        """The run is over: the widget gets its last numbers; in Jupyter without anywidget the page is shown."""
        if self._widget is not None:
            with self._lock:
                self._send_update()
        elif in_jupyter():
            from IPython.display import HTML, display

            print(_anywidget_missing())
            display(HTML(_iframe(self.html())))

    def _repr_mimebundle_(self, include=None, exclude=None):
        if _anywidget_missing():
            return {"text/html": _iframe(self.html()), "text/plain": repr(self)}
        return self.widget()._repr_mimebundle_(include=include, exclude=exclude)

    def _handle(self, message: dict) -> None:
        """A message from the widget: trace another sample, step, resume, pause, set the speed."""
        kind = message.get("type")
        if kind == "hello":  # a (re)rendered view: everything so far
            with self._lock:
                self._send_update(since=0)
        elif kind == "sample":
            self.sample = int(message["index"])
        elif kind == "control":
            action = message.get("action")
            if "speed" in message:
                self.speed = max(0.5, min(1000.0, float(message["speed"])))
            if action == "step" and not self._driven:
                self.pause()
                self.step(1)
            elif action == "resume" and not self._driven:
                self.resume()
            elif action == "pause":
                self.pause()

    def resume(self, max_steps: int | None = None) -> None:
        """Train in the background at `speed` steps a second until `pause()` (or max_steps more steps)."""
        if self._driven:
            raise RuntimeError("this view belongs to a fit(..., live=True) run")
        if self._runner is not None and self._runner.is_alive():
            return
        self._running.set()

        def run():
            taken = 0
            try:
                while self._running.is_set() and (max_steps is None or taken < max_steps):
                    started = time.perf_counter()
                    self._one_step(last=False)  # a run of steps redraws as the throttle allows
                    taken += 1
                    time.sleep(max(0.0, 1.0 / self.speed - (time.perf_counter() - started)))
            finally:  # paused, done, or failed (the error is reported by the thread): show where it stopped
                self._running.clear()
                if self._widget is not None:
                    with self._lock:
                        self._send_update()

        self._runner = threading.Thread(target=run, daemon=True)
        self._runner.start()

    def pause(self) -> None:
        """Stop a run started by `resume()` after its current step."""
        self._running.clear()
        runner = self._runner
        if runner is not None and runner is not threading.current_thread():
            runner.join()

    # --- the page ---

    def page_data(self) -> dict:
        """Everything the saved page shows: every step's losses, the traced graph at each step (at most
        MAX_PAGE_FRAMES, evenly spread, the last included), regions and parameters at up to MAX_PAGE_GRIDS steps."""
        with self._lock:
            kept = self._trace  # the widget's drawing, if any, stays the one it shows
            layout = self._layout()
            frames, window = [], 0
            for step in _spread(self.steps, MAX_PAGE_FRAMES):
                frame = self._frame(step)
                if frame is None:  # another shape: a new drawing (window) from here on
                    self._trace = None
                    layout["viewer"]["windows"].append(self._traced(step).window())
                    window = len(layout["viewer"]["windows"]) - 1
                    frame = self._frame(step)
                frames.append({**frame, "window": window})
            self._trace = kept
            layout["viewer"]["texts"] = frames[0]["texts"] if frames[0]["window"] == 0 else {}
            layout["viewer"]["frames"] = frames
            snapshots = []
            for step in _spread(self.steps, MAX_PAGE_GRIDS):
                snapshot = {"step": step, "params": self._params_table(step)}
                if self.points:
                    with self._parameters_at(step):
                        snapshot["grid"] = region_grid(self.model, self.bounds)
                snapshots.append(snapshot)
            return {**layout, "losses": [_finite(v) for v in self.losses], "accuracies": self.accuracies,
                    "epochs": {"loss": [_finite(v) for v in self.history.loss], "accuracy": self.history.accuracy},
                    "snapshots": snapshots, "steps": self.steps}

    def html(self) -> str:
        """The steps so far as one self-contained page (no network): curves, regions, the traced graph."""
        from .graph.viewer import payload_json

        data = payload_json(self.page_data())
        title = f"micrograd_nn live training: {self.steps} steps"
        return _PAGE.format(title=html.escape(title), data=data,
                            module=front_end_module().replace("</script", "<\\/script"),
                            fallback=html.escape(self._summary()))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the steps so far as one self-contained HTML page; prints where to open it. Returns the path."""
        path = Path(path)
        if path.suffix.lower() not in (".html", ".htm"):
            raise ValueError(f"save: a live view is saved as .html, got {path.name}")
        path.write_text(self.html(), encoding="utf-8")
        print(f"saved {self.steps} steps: open {path.resolve()} in a browser")
        return path

    def _summary(self) -> str:
        last = f", last batch loss {fmt(self.losses[-1])}" if self.losses else ""
        return f"{self.steps} optimiser steps{last}; tracing sample {self._sample}"

    def __repr__(self) -> str:
        return (f"<LiveView: {self._summary()}. view.step(n) trains n steps, view.save('run.html') writes a page "
                "to open in a browser; in Jupyter the view shows as a widget"
                + (f" ({_anywidget_missing()})" if _anywidget_missing() else "") + ">")


def _plain_target(t):
    value = t.item() if hasattr(t, "item") else t
    return value if isinstance(value, (int, float)) else float(value)


def _finite(x: float) -> float | None:
    """x, or None where JSON has no number for it (NaN, ±inf)."""
    return x if math.isfinite(x) else None


def _spread(steps: int, most: int) -> list[int]:
    """0 … steps, or at most `most` of them evenly spread, the first and the last included."""
    if steps + 1 <= most:
        return list(range(steps + 1))
    return sorted({round(k * steps / (most - 1)) for k in range(most)})


def _iframe(page: str) -> str:
    return (f'<iframe srcdoc="{html.escape(page)}" style="width:100%;height:900px;border:1px solid #ddd" '
            'title="live training"></iframe>')


def _make_widget(view: LiveView):
    import anywidget
    import traitlets

    class LiveWidget(anywidget.AnyWidget):
        _esm = traitlets.Unicode(front_end_module()).tag(sync=True)
        layout_data = traitlets.Dict().tag(sync=True)
        controls = traitlets.Bool(True).tag(sync=True)

        def __repr__(self) -> str:  # where the widget shows as text
            return repr(view)

    widget = LiveWidget(layout_data=view._layout(), controls=not view._driven)
    widget.sent_steps = 0
    widget.on_msg(lambda _widget, content, _buffers: view._handle(content))
    return widget


def live(model, X, y, loss_fn: Callable, optimizer, batch_size: int | None = None, sample: int = 0,
         **options) -> LiveView:
    """A LiveView of training `model` on (X, y): `view.step(n)` takes n of fit's optimiser steps and redraws.

    `options` are fit's: penalty, shuffle, seed, classify. In Jupyter, show the view (put it last in a cell)
    for the widget; elsewhere `view.save("run.html")` writes a page to open in a browser.
    """
    return LiveView(model, X, y, loss_fn, optimizer, batch_size, sample, **options)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
</head>
<body>
<div class="mg-live" id="mg-live">
<noscript><p>{fallback}</p><p>This page draws with JavaScript.</p></noscript>
</div>
<script type="application/json" id="mg-live-data">{data}</script>
<script type="module">
{module}
mountPage(document.getElementById("mg-live"), JSON.parse(document.getElementById("mg-live-data").textContent));
</script>
</body>
</html>
"""
