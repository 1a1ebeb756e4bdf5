"""Training on mini-batches without recording each batch: `CompiledStep` records a batch's loss graph once per
batch size (`micrograd_nn.tape.compile`) and replays it on every later batch of that size."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import engine
from .engine import Value

__all__ = ["CompiledStep", "batch_loss"]


def _flat(x, item: Callable | None = float) -> tuple[list, tuple[int, ...] | None]:
    """x (a number, or nested lists/tuples/arrays of numbers) as its numbers in order and its shape (None: a number).

    Numpy arrays are read with their own `ravel`, nested lists walked here: numpy is not needed for lists.
    item: applied to each entry (None: kept as they are, as a model's output Values are)."""
    if hasattr(x, "ravel") and hasattr(x, "shape"):  # a numpy array (or number): one call
        flat = x.ravel() if item is None else x.ravel().astype(float)
        return flat.tolist(), (tuple(x.shape) or None)
    if not isinstance(x, (list, tuple)):
        return [x if item is None else item(x)], None
    shape, probe = [], x
    while isinstance(probe, (list, tuple)):
        shape.append(len(probe))
        probe = probe[0] if probe else None
    numbers = list(x)
    for _ in shape[1:]:
        numbers = [v for row in numbers for v in (row.tolist() if hasattr(row, "tolist") else row)]
    if len(numbers) != math.prod(shape):
        raise ValueError(f"nested lists are ragged: shape {shape} holds {len(numbers)} numbers")
    return numbers if item is None else list(map(item, numbers)), tuple(shape)


def _nest(values: list, shape: tuple[int, ...] | None):
    """The flat `values` as nested lists of `shape` (the first value alone for None)."""
    if shape is None:
        return values[0]
    for size in reversed(shape[1:]):
        values = [values[i:i + size] for i in range(0, len(values), size)]
    return values


def _outputs(watched: list, shapes: list) -> list:
    """Each sample's output from the flat watched values: a float, or nested lists of its shape."""
    if shapes.count(shapes[0]) == len(shapes):  # one shape for every sample: one pass
        return list(watched) if shapes[0] is None else _nest(watched, (len(shapes), *shapes[0]))
    outputs, start = [], 0
    for shape in shapes:
        size = 1 if shape is None else math.prod(shape)
        outputs.append(_nest(watched[start:start + size], shape))
        start += size
    return outputs


def _leaves_like(x) -> tuple[object, list[Value]]:
    """x (a number or nested lists/arrays of numbers) rebuilt from new leaf Values, and those leaves in order."""
    numbers, shape = _flat(x)
    leaves = [Value(v) for v in numbers]
    return _nest(leaves, shape), leaves


@dataclass
class _Recording:
    tape: object  # a Tape or a LevelTape
    data_leaves: list[Value]  # the inputs, then the targets, in batch order
    output_shapes: list  # per sample: None for one Value, else the shape of its nested lists
    # A LevelTape takes a batch's numbers straight into its value array: where they go (the data leaves the
    # graph uses, as (number's index, slot)), and the other leaves (the parameters) with their slots.
    direct: tuple | None = None
    last_batch: object = None  # those numbers, written into the data leaves only when the tape is handed out

    def sync(self) -> None:
        """Give the data leaves the last batch's numbers (a LevelTape replay reads them from the batch)."""
        if self.last_batch is not None:
            list(map(setattr, self.data_leaves, itertools.repeat("data"), self.last_batch.tolist()))
            self.last_batch = None


def _direct(tape, data_leaves: list[Value]) -> tuple | None:
    """For a LevelTape: (indices of the data leaves it uses (None: all), their slots, the other leaves, their
    slots)."""
    if not hasattr(tape, "_run"):
        return None
    import numpy as np

    slot_of = {leaf: k for k, leaf in enumerate(tape.leaves)}
    used = [(i, slot_of[leaf]) for i, leaf in enumerate(data_leaves) if leaf in slot_of]
    data = set(data_leaves)
    others = [(leaf, k) for k, leaf in enumerate(tape.leaves) if leaf not in data]
    indices = [i for i, _ in used]
    every = indices == list(range(len(data_leaves)))  # the graph uses every number: None, no gather
    return (None if every else np.array(indices, dtype=np.intp), np.array([k for _, k in used], dtype=np.intp),
            [leaf for leaf, _ in others], np.array([k for _, k in others], dtype=np.intp))


def batch_loss(model: Callable, xb: Sequence, yb: Sequence, loss_fn: Callable, penalty: Callable | None,
               params: Sequence[Value]) -> tuple[Value, list]:
    """L = (1/B)·Σ loss_fn(model(x), target) over a mini-batch (+ penalty(params)); returns (L, the outputs)."""
    outputs = [model(x) for x in xb]
    loss = engine.sum(loss_fn(s, t) for s, t in zip(outputs, yb)) / len(xb)
    if penalty is not None:
        loss = loss + penalty(params)
    return loss, outputs


class CompiledStep:
    """One training step on a mini-batch, recorded once per batch size and replayed after.

    `step(xb, yb)` does what `train.forward_backward` does —
    L = (1/B)·Σ loss_fn(model(x), target) (+ penalty(params)), then adds ∂L/∂p into every parameter's grad —
    and returns (L, outputs) with each sample's output as a float (or a list of floats). The first batch of
    each size is run through the model with its inputs and targets as leaf Values and the graph is compiled;
    later batches of that size only set those leaves' data and replay. So the model must make the same graph
    for every batch (no Python branches on the data), and loss_fn must accept a Value target
    (F.cross_entropy, F.binary_cross_entropy, F.mse and hinge losses written with Values do).
    `backend` is passed to `compile`: "numpy" (the default where numpy is installed) runs a batch's samples side
    by side, level by level, and is the faster one on batches of more than a few samples; "python" (the default
    without numpy) on long narrow graphs. `exact=False` is passed on too: the numpy backend then runs a layer
    over the batch and a convolution over its patches as matrix products, as PyTorch does (the same floats to
    rounding, not bit for bit; see `compile`).
    """

    def __init__(self, model: Callable, loss_fn: Callable, penalty: Callable | None = None,
                 params: Sequence[Value] | None = None, backend: str | None = None, exact: bool = True):
        from .tape import _check_exact, _numpy_available  # the tape module imports this one

        if backend is None:
            backend = "numpy" if _numpy_available() else "python"
        _check_exact(exact, backend)  # now, not at the first batch
        self.model, self.loss_fn, self.penalty, self.backend = model, loss_fn, penalty, backend
        self.exact = exact
        if params is None:
            params = model.parameters()
        self.params = list(params)
        self._recordings: dict[int, _Recording] = {}

    def tape(self, batch_size: int):
        """The tape recorded for batches of `batch_size` samples, to print or inspect.

        Its root is the batch loss L = (1/B)·Σ loss_fn(model(x), target) (+ penalty(params)) with B = batch_size;
        its input and target leaves hold the last batch of that size, so `tape.run()` replays that batch. A size
        is recorded by the first call with a batch of that size; before that there is no tape: KeyError.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int):
            raise TypeError(f"batch_size must be an int, got {type(batch_size).__name__}")
        if batch_size not in self._recordings:
            recorded = sorted(self._recordings) or "none yet"
            raise KeyError(f"no tape recorded for batch size {batch_size} (recorded sizes: {recorded}); "
                           "call the step on a batch of that size first")
        recording = self._recordings[batch_size]
        recording.sync()  # so that tape.run() replays the last batch of this size
        return recording.tape

    def _record(self, xb: Sequence, yb: Sequence) -> _Recording:
        inputs, targets, data_leaves = [], [], []
        for x in xb:
            nested, leaves = _leaves_like(x)
            inputs.append(nested)
            data_leaves += leaves
        for t in yb:
            nested, leaves = _leaves_like(t)
            targets.append(nested)
            data_leaves += leaves
        with engine.enable_grad():  # the step records its own graph, also inside no_grad()
            try:
                outputs = [self.model(x) for x in inputs]
            except TypeError as error:
                raise TypeError(f"compiled training needs a model that accepts Value inputs: {error}") from error
            computed = iter(outputs)  # batch_loss takes the outputs just computed, in order
            try:
                loss, _ = batch_loss(lambda x: next(computed), inputs, targets, self.loss_fn, self.penalty,
                                     self.params)
            except TypeError as error:
                raise TypeError(f"compiled training needs a loss_fn that accepts a Value target: {error}") from error
        from .tape import compile  # the tape module imports this one

        watch, shapes = [], []
        for output in outputs:  # a Value, or nested lists of them (a Conv2d gives y[o][i][j])
            nodes, shape = _flat(output, item=None)
            watch += nodes
            shapes.append(shape)
        data = set(data_leaves)
        grads_for = [leaf for leaf in engine.topological_order(loss) if not leaf._prev and leaf not in data]
        tape = compile(loss, watch=watch, wrt=grads_for, backend=self.backend, exact=self.exact)
        return _Recording(tape, data_leaves, shapes, _direct(tape, data_leaves))

    def __call__(self, xb: Sequence, yb: Sequence) -> tuple[float, list]:
        if len(xb) != len(yb) or not len(xb):
            raise ValueError(f"a batch needs as many targets as samples, at least one: got {len(xb)} and {len(yb)}")
        recording = self._recordings.get(len(xb))
        if recording is None:
            recording = self._recordings[len(xb)] = self._record(xb, yb)
        if recording.direct is not None:
            loss = self._run_direct(recording, xb, yb)
        else:
            values = _flat(xb)[0] + _flat(yb)[0]
            self._check_size(len(values), recording)
            list(map(setattr, recording.data_leaves, itertools.repeat("data"), values))  # leaf.data = v, in C
            loss = recording.tape.run()
        return loss, _outputs(recording.tape.watched, recording.output_shapes)

    @staticmethod
    def _check_size(size: int, recording: _Recording) -> None:
        if size != len(recording.data_leaves):
            raise ValueError(f"this batch has {size} numbers in its inputs and targets; the batch of the "
                             f"same size that was recorded had {len(recording.data_leaves)}")

    @staticmethod
    def _run_direct(recording: _Recording, xb, yb) -> float:
        """A LevelTape's replay with the batch's numbers put straight into its value array, and the
        parameters' data read from them (the same floats as setting the data leaves and calling run())."""
        import numpy as np

        numbers = np.concatenate([np.asarray(xb, dtype=float).ravel(), np.asarray(yb, dtype=float).ravel()])
        CompiledStep._check_size(len(numbers), recording)
        used, data_slots, others, other_slots = recording.direct
        tape = recording.tape
        values = tape._values.copy()
        values[data_slots] = numbers if used is None else numbers[used]
        values[other_slots] = np.fromiter([leaf.data for leaf in others], float, len(others))
        recording.last_batch = numbers
        return tape._run(values)
