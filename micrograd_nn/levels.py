"""Compiled replay with numpy (`compile(root, backend="numpy")`): a recorded graph run level by level.

A node's level is one more than its children's highest (leaves are level 0). The nodes of one op with one
operand count at one level form a group, and a run computes each group as one array operation: forward from
the lowest level up, backward from the highest down. Every value lives in one array of slots (the leaves, then
each group's nodes in one range, then the numbers folded into the graph), so a group's operands are one gather
`values.take(S)`, S its (operands × nodes) table of slots: row i holds operand i of every node.

The floats are `backward()`'s, bit for bit. Forward: a sum or a dot adds its terms left to right (one in-place
add per term over all the nodes, or for a grid of dots one np.add.reduce over its terms, see below), the other ops
are elementwise. Backward: `backward()` adds into each node's gradient its contributions in one fixed order
(parents in reverse topological order, operands in order), starting from 0 (inner nodes) or the old value
(leaves). So each contribution has a fixed place in one buffer. Per group of receiving nodes it is, where it
can be, a matrix: row 0 their starting values, row 1 + p every node's p-th contribution in that order (a node
with fewer is padded with −0.0, which added to any float x gives x), one column per node; np.add.reduce over
axis 0 adds its rows one after another — which numpy does not document, so a probe checks it for each shape
on numbers where any other order gives other floats (_rows_add_in_order). Elsewhere (a failed probe, or edges
that would have to be written one by one) the segment holds the starting values, then every edge in that
order, and `np.bincount` adds each node's entries in buffer order, which is that order. A group writes its
contributions straight to their places, a whole block of operand rows at once as a strided view of the buffer
where the places step evenly, and the group receiving them sums them just before it sends its own.

Recording is a single pass over the nodes in Python (their operands' slots, their levels) and the rest in
numpy: which nodes need a gradient, and the edges' places, by one sort.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

from . import ops
from .derivatives import _SELECTED
from .engine import Value
from .ops import DOT

__all__ = ["LevelTape", "plan", "array_forward", "array_local", "array_contributions"]


# --- each op on many nodes at once: x[i] holds operand i of every node (operand-major, so each is contiguous) ---


def _forward_rows(op, x: np.ndarray) -> np.ndarray:
    """op's forward value for every node, through the table (exact, and its errors)."""
    forward = op.forward
    return np.array([forward(*operands) for operands in x.T.tolist()], dtype=float).reshape(x.shape[1])


def _local_rows(op, x: np.ndarray, out: np.ndarray) -> np.ndarray:
    return np.array([op.local(tuple(operands), o) for operands, o in zip(x.T.tolist(), out.tolist())],
                    dtype=float).reshape(x.shape[::-1]).T


def _sequential_sum(terms: np.ndarray) -> np.ndarray:
    """0.0 + t₀ + t₁ + … for every node, added left to right as the table's loop adds them."""
    if len(terms) == 0:
        return np.zeros(terms.shape[1])
    if terms.shape[1] < 16:  # few nodes, maybe many terms each: one cumsum (sequential) beats a loop
        return 0.0 + np.cumsum(terms, axis=0)[-1]
    total = 0.0 + terms[0]
    for term in terms[1:]:
        total += term
    return total


def _first_max(x: np.ndarray) -> np.ndarray:
    return np.argmax(x, axis=0)  # the first maximum, or the first NaN, as ops._first_max


def _softmax_parts(x: np.ndarray) -> tuple | None:
    """A cross-entropy's pieces for every node, as the table computes them: the logits z (n, m), their max,
    e^(z − max) (math.exp, element by element: numpy's exp may round differently) and Σ e by math.fsum.
    None when a target is not a class index or a logit is NaN: the table's own path then raises or decides."""
    z, t = x[:-1], x[-1]
    n = len(z)
    targets = t.tolist()
    if not n or not _class_indices(n).issuperset(targets):
        return None
    shift = z.max(axis=0)
    if np.isnan(shift).any():  # a NaN logit (max passes NaN on)
        return None
    exps = np.fromiter(map(math.exp, (z - shift).ravel().tolist()), float, z.size).reshape(z.shape)
    totals = np.fromiter(map(math.fsum, exps.T.tolist()), float, exps.shape[1])
    return z, np.array(targets, dtype=np.intp), shift, exps, totals


@functools.cache
def _class_indices(n: int) -> frozenset:
    """The targets a cross-entropy over n logits takes: 0.0, 1.0, …, n − 1 (−0.0 is 0.0; NaN and ±inf are not)."""
    return frozenset(map(float, range(n)))


def _cross_entropy_forward(x: np.ndarray) -> np.ndarray:
    parts = _softmax_parts(x)
    if parts is None:
        return _forward_rows(ops.lookup("cross_entropy"), x)
    return _cross_entropy_values(parts)


def _cross_entropy_values(parts: tuple) -> np.ndarray:
    """−log pₜ = max + log Σ e^(z − max) − zₜ, as the table writes it: (max − zₜ) + log(Σ e)."""
    z, t, shift, _, totals = parts
    logs = np.fromiter(map(math.log, totals.tolist()), float, len(totals))
    return (shift - z[t, _arange(z.shape[1])]) + logs


@functools.cache
def _arange(n: int) -> np.ndarray:
    """np.arange(n), made once per n (read-only): the columns of an (operands × nodes) array, or its rows."""
    indices = np.arange(n)
    indices.setflags(write=False)
    return indices


def _cross_entropy_local(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    parts = _softmax_parts(x)
    if parts is None:
        return _local_rows(ops.lookup("cross_entropy"), x, out)
    return _cross_entropy_local_from(x, parts)


def _cross_entropy_local_from(x: np.ndarray, parts: tuple) -> np.ndarray:
    z, t, _, exps, totals = parts
    local = np.zeros_like(x)
    np.divide(exps, totals, out=local[:-1])  # pᵢ, then − 1 at the target; the target itself gets 0
    local[t, _arange(z.shape[1])] -= 1.0
    return local


# Array versions of the hot ops' forward and local rules (tested against the table).
# Every other op goes node by node through the table itself.
ARRAY_FORWARD: dict[str, Callable] = {
    "add": lambda x: x[0] + x[1],
    "sub": lambda x: x[0] - x[1],
    "mul": lambda x: x[0] * x[1],
    "div": lambda x: x[0] / x[1],  # zero divisors are sent to the table first, which raises
    "neg": lambda x: -x[0],
    "relu": lambda x: np.where(x[0] <= 0.0, 0.0, x[0]),
    "abs": lambda x: np.abs(x[0]),
    "sum": _sequential_sum,
    "dot": lambda x: _sequential_sum(x[0:-1:2] * x[1:-1:2]) + x[-1],
    "max": lambda x: x[_first_max(x), np.arange(x.shape[1])],
    "cross_entropy": _cross_entropy_forward,
}


def _dot_local(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    local = np.ones_like(x)
    local[0:-1:2], local[1:-1:2] = x[1:-1:2], x[0:-1:2]
    return local


def _max_local(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    local = np.zeros_like(x)
    local[_first_max(x), np.arange(x.shape[1])] = 1.0
    return local


ARRAY_LOCAL: dict[str, Callable] = {
    "add": lambda x, out: np.ones_like(x),
    "sub": lambda x, out: np.stack([np.ones(x.shape[1]), -np.ones(x.shape[1])]),
    "mul": lambda x, out: x[::-1],
    "div": lambda x, out: np.stack([1.0 / x[1], -out / x[1]]),
    "neg": lambda x, out: -np.ones_like(x),
    "relu": lambda x, out: np.where(x <= 0.0, 0.0, 1.0),
    "abs": lambda x, out: np.where(x > 0.0, 1.0, np.where(x < 0.0, -1.0, 0.0)),
    "sum": lambda x, out: np.ones_like(x),
    "dot": _dot_local,
    "max": _max_local,
    "cross_entropy": _cross_entropy_local,
}


def _forward(op, x: np.ndarray) -> np.ndarray:
    if op.key not in ARRAY_FORWARD or op.key == "div" and not x[1].all():
        return _forward_rows(op, x)
    return ARRAY_FORWARD[op.key](x)


def _local(op, x: np.ndarray, out: np.ndarray) -> np.ndarray:
    rule = ARRAY_LOCAL.get(op.key)
    return _local_rows(op, x, out) if rule is None else rule(x, out)


def _dot_contributions(x: np.ndarray, out: np.ndarray, g: np.ndarray) -> np.ndarray:
    """∂z/∂wᵢ·g = xᵢ·g, ∂z/∂xᵢ·g = wᵢ·g, ∂z/∂b·g = g: the local rule times g without the array of locals."""
    c = np.empty_like(x)
    np.multiply(x[1:-1:2], g, out=c[0:-1:2])
    np.multiply(x[0:-1:2], g, out=c[1:-1:2])
    c[-1] = g
    return c


def _dot_rows(x: np.ndarray, g: np.ndarray, rows: slice, out: np.ndarray) -> bool:
    """Write the contributions of a dot's operand rows `rows` (all weights, or all inputs, with or without
    the bias) straight into `out`, each weight's xᵢ·g or input's wᵢ·g; False if rows is another selection."""
    last = len(x) - 1
    if rows.step % 2 or rows.stop > last + 1:
        return False
    if rows.start % 2:  # the second of each pair: its partner is the row before
        np.multiply(x[rows.start - 1:rows.stop - 1:rows.step], g, out=out)
    elif rows.stop == last + 1 and last % rows.step == rows.start % rows.step:  # the bias is the last row
        np.multiply(x[rows.start + 1:last:rows.step], g, out=out[:-1])
        out[-1] = g
    else:
        np.multiply(x[rows.start + 1:rows.stop + 1:rows.step], g, out=out)
    return True


_IN_ORDER: dict[tuple[int, int], bool] = {}


def _sum_rows(a: np.ndarray) -> np.ndarray:
    """−0.0 + a[0] + a[1] + … per column (−0.0 + x is x for every float; numpy's own start, 0.0, turns −0.0
    into 0.0), the rows added in order where _rows_add_in_order says so."""
    return np.add.reduce(a, axis=0, initial=-0.0)


def _sum_bands(bands: tuple) -> np.ndarray:
    """_sum_rows of each matrix, side by side; a band is (matrix, None), or (matrix, the only rows that can
    hold anything but −0.0) where exact=False leaves most rows at −0.0 (see plan)."""
    sums = [_sum_rows(band if rows is None else band.take(rows, axis=0)) for band, rows in bands]
    return sums[0] if len(sums) == 1 else np.concatenate(sums)


def _rows_add_in_order(rows: int, columns: int) -> bool:
    """Whether np.add.reduce(A, axis=0) of a C-contiguous (rows × columns) array (_sum_rows) adds its rows into
    the result one after another, A[0] + A[1] + A[2] + … for every column, as numpy does for an outer axis (the
    inner one, or an array of one column, it adds pairwise). numpy does not document the order, so it is checked
    once per shape against that sequential sum, on numbers where any other order gives other floats: columns of
    1e16, 1, −1e16, 1, … (from different starts; they add up to 1 in order, to more by pairs or blocks) and of
    numbers of every magnitude; in that shape, and at least 1,100 rows deep (on at most 64 columns), each also
    from an unaligned start. Where it fails, the grads are summed by np.bincount, in order by definition."""
    key = (rows, columns)
    if key not in _IN_ORDER:
        _IN_ORDER[key] = columns > 1 and _probe(rows, columns) and _probe(max(rows, 1100), min(columns, 64))
    return _IN_ORDER[key]


@functools.cache
def _probe(rows: int, columns: int) -> bool:
    return all(_reduce_is_sequential(rows, columns, offset) for offset in (0, 1))


_POWERS = 10.0 ** np.arange(-12, 17)


@functools.cache  # (for the aligned and the unaligned probe: copied from, read-only)
def _probe_rows(rows: int, columns: int) -> np.ndarray:
    """Numbers whose sum over axis 0 depends on the order of the additions (see _rows_add_in_order)."""
    i, j = np.arange(rows)[:, None], np.arange(columns)[None, :]
    crafted = np.array([1e16, 1.0, -1e16, 1.0])[(i + j // 2) % 4]
    spread = ((i * 7919 + j * 104729) % 2001 - 1000.0) * _POWERS[(i * 31 + j * 17) % len(_POWERS)]
    a = np.where(j % 2 == 0, crafted, spread)
    if columns > 2:
        a[:, -1] = -0.0  # a column of −0.0: −0.0 in order
    a.setflags(write=False)
    return a


def _reduce_is_sequential(rows: int, columns: int, offset: int) -> bool:
    storage = np.empty(rows * columns + offset)
    a = storage[offset:].reshape(rows, columns)
    a[...] = _probe_rows(rows, columns)
    expected = a[0].copy()
    for row in a[1:]:  # elementwise: each column's additions one after another
        expected += row
    got = _sum_rows(a)
    return bool(np.array_equal(got.view(np.int64), expected.view(np.int64)))


def _grid_forward(grid: tuple, values: np.ndarray, out: slice, exact: bool) -> tuple[np.ndarray, np.ndarray]:
    """A grid of dots (see _grid) forward: z[r, c] = 0.0 + w₀[r]·x₀[c] + w₁[r]·x₁[c] + … + b[r], each term added
    in order over the whole grid at once; returns its weights (n × R) and inputs (n × C) for the backward pass.
    Not exact: z = Wᵀ·X + b as one matrix product (BLAS adds the terms in its own order)."""
    weight_slots, input_slots, bias_slots, in_order, weight_block, input_block = grid
    weights, inputs = _gather(values, weight_slots, weight_block), _gather(values, input_slots, input_block)
    if not exact:
        total = weights.T @ inputs
        total += values.take(bias_slots)[:, None]
        values[out] = total.ravel()
        return weights, inputs
    # (n, R, C), each w·x one product: einsum writes 0.0 for a product of −0.0, which the sum from 0.0 cannot
    # tell apart (it is never −0.0), and is faster than np.multiply
    products = np.einsum("nr,nc->nrc", weights, inputs)
    if in_order:  # one call: −0.0 + p₀ + p₁ + … (_sum_rows), then + 0.0 gives 0.0 + p₀ + p₁ + … exactly (the
        # two differ only where every term so far is −0.0: −0.0 against 0.0, which the + 0.0 makes 0.0)
        total = _sum_rows(products.reshape(len(products), -1)).reshape(products.shape[1:])
        total += 0.0
    else:
        total = 0.0 + products[0]
        for term in products[1:]:
            total += term
    total += values.take(bias_slots)[:, None]
    values[out] = total.ravel()
    return weights, inputs


def _grid_selection(rows: slice, n: int) -> bool:
    """Whether rows of a grid's n weight/input pairs and bias are all its weights or all its inputs (with or
    without the bias, or some of them at a step), which _grid_rows writes as blocks."""
    return not rows.step % 2 and rows.stop <= 2 * n + 1


def _grid_rows(weights: np.ndarray, inputs: np.ndarray, g: np.ndarray, rows: slice, out: np.ndarray,
               signed: bool, exact: bool) -> bool:
    """_dot_rows for a grid of dots, from its weights and inputs: wₖ's contribution at node (r, c) is
    xₖ[c]·g[r, c], xₖ's is wₖ[r]·g[r, c], the bias's g[r, c]. False if rows is another selection.
    By einsum (faster), which writes 0.0 for a product of −0.0: a sum of grads tells the two apart only from a
    start of −0.0, which only a leaf's grad can be; signed (such a leaf) takes np.multiply, exact to the sign.
    Not exact: each operand's contributions summed first, as matrix products — Σ_c xₖ[c]·g[r, c] = (X·Gᵀ)[k, r]
    into the place of the first (c = 0), Σ_r wₖ[r]·g[r, c] = (W·G)[k, c] into that of r = 0 — while the places of
    the others hold −0.0 (see plan), which adds nothing."""
    if not _grid_selection(rows, len(weights)):
        return False
    last = 2 * len(weights)
    grid = g.reshape(weights.shape[1], inputs.shape[1])
    with_bias = rows.start % 2 == 0 and rows.stop == last + 1
    k = slice(rows.start // 2, last // 2 if with_bias else (rows.stop - 1) // 2 + 1, rows.step // 2)
    terms = out[:-1] if with_bias else out  # out: (rows, R, C)
    if not exact:
        if rows.start % 2:  # inputs
            np.matmul(weights[k], grid, out=terms[:, 0, :])
        else:
            np.matmul(inputs[k], grid.T, out=terms[:, :, 0])
        if with_bias:
            np.add.reduce(grid, axis=1, out=out[-1, :, 0])
        return True
    if signed:
        if rows.start % 2:
            np.multiply(weights[k][:, :, None], grid, out=terms)
        else:
            np.multiply(inputs[k][:, None, :], grid, out=terms)
    elif rows.start % 2:  # inputs: wₖ[r]·g[r, c]
        np.einsum("kr,rc->krc", weights[k], grid, out=terms)
    else:  # weights: xₖ[c]·g[r, c]
        np.einsum("kc,rc->krc", inputs[k], grid, out=terms)
    if with_bias:
        out[-1] = grid
    return True


# local · g for each edge, where a shortcut gives the same floats. relu and max send exactly 0 to an operand
# they did not select, also when g is ±inf or NaN (as backward() and PyTorch do), not 0·∞ = NaN.
ARRAY_CONTRIBUTIONS: dict[str, Callable] = {
    "dot": _dot_contributions,
    "add": lambda x, out, g: np.broadcast_to(g, x.shape),
    "sum": lambda x, out, g: np.broadcast_to(g, x.shape),
    "mul": lambda x, out, g: x[::-1] * g,
    "sub": lambda x, out, g: np.stack([g, -g]),  # 1·g and −1·g
    "neg": lambda x, out, g: -g[None],
    "relu": lambda x, out, g: np.where(x[0] <= 0.0, 0.0, g)[None],
}


def _contributions(op, x: np.ndarray, out: np.ndarray, g: np.ndarray, kept=None) -> np.ndarray:
    """local · g for every edge; kept: what the forward pass kept for the local rule (see _KEEP), or None."""
    rule = ARRAY_CONTRIBUTIONS.get(op.key)
    if rule is not None:
        return rule(x, out, g)
    if kept is not None and op.key == "max":
        contributions = np.empty_like(x)
        _max_into(kept, g, contributions)
        return contributions
    if kept is not None and op.key == "cross_entropy":
        contributions = _cross_entropy_local_from(x, kept) * g
    else:
        contributions = _local(op, x, out) * g
    if op.key in _SELECTED and not np.isfinite(g).all():
        _send_zero_where_not_selected(op.key, x, contributions, g)
    return contributions


def _send_zero_where_not_selected(key: str, x: np.ndarray, contributions: np.ndarray, g: np.ndarray) -> None:
    """The positions derivatives._SELECTED names get exactly 0 where their local derivative is 0."""
    position = _SELECTED[key]
    if key == "max":
        contributions[:] = 0.0
        contributions[_first_max(x), np.arange(x.shape[1])] = g
    elif key == "exp_pow":  # the base, at exponent 0
        contributions[0, x[1] == 0.0] = 0.0
    elif position is not None:  # the class index of a cross-entropy
        contributions[position] = 0.0


def _max_keep(x: np.ndarray) -> tuple:
    """Every node's max and which operand it is: the first maximum, as the table picks it. For many nodes of a
    few operands, operand by operand, a later one taking over only where it is strictly greater (argmax over
    the outer axis costs 3× that on a pooling layer); otherwise, or with a NaN among them (the sum is NaN), by
    argmax, which picks the first NaN as the table does."""
    if len(x) > 8 or x.shape[1] < 256 or np.isnan(x.sum()):
        first = _first_max(x)
        return x[first, _arange(x.shape[1])], first
    best, first = x[0], np.zeros(x.shape[1], dtype=np.intp)
    for i in range(1, len(x)):
        later = x[i] > best
        best, first = np.where(later, x[i], best), np.where(later, i, first)
    return best, first


def _cross_entropy_keep(x: np.ndarray) -> tuple:
    parts = _softmax_parts(x)
    if parts is None:
        return _forward_rows(ops.lookup("cross_entropy"), x), None
    return _cross_entropy_values(parts), parts


# ops whose forward pass keeps something for the backward one: (values, kept) (the same values as _forward)
_KEEP: dict[str, Callable] = {"max": _max_keep, "cross_entropy": _cross_entropy_keep}


def _max_into(first: np.ndarray, g: np.ndarray, out: np.ndarray) -> None:
    """A max's contributions local · g into out (arity × m): 1·g = g to the operand it selected, 0·g to the
    others, or exactly 0 under an infinite or NaN gradient (see _send_zero_where_not_selected)."""
    if np.isfinite(g).all():  # 1·g or 0·g (±0.0, the sign of g's, as the table's product)
        np.multiply(_arange(len(out))[:, None] == first, g, out=out)
        return
    out[...] = 0.0
    out[first, _arange(out.shape[1])] = g


def _cross_entropy_into(parts: tuple, g: np.ndarray, rows: slice, out: np.ndarray) -> bool:
    """A cross-entropy's contributions to its logits, (pᵢ − [i = t])·g, written into out (n × m); False if rows
    are not exactly the logits. (The class index, which gets 0, is not among them.)"""
    z, t, _, exps, totals = parts
    if rows != slice(0, len(z), 1):
        return False
    np.divide(exps, totals, out=out)
    out[t, _arange(z.shape[1])] -= 1.0
    np.multiply(out, g, out=out)
    return True


def _sub_into(x, g, rows, out):
    for i, row in enumerate(rows):
        if row:
            np.negative(g, out=out[i])  # −1·g
        else:
            out[i] = g


def _mul_into(x, g, rows, out):
    for i, row in enumerate(rows):
        np.multiply(x[1 - row], g, out=out[i])


def _same_into(x, g, rows, out):  # 1·g to every operand
    out[...] = g


def _neg_into(x, g, rows, out):
    np.negative(g, out=out[0])


def _relu_into(x, g, rows, out):
    out[0] = np.where(x[0] <= 0.0, 0.0, g)


# ARRAY_CONTRIBUTIONS' rules writing the rows `rows` straight into a view `out` of the buffer (rows × m)
_INTO: dict[str, Callable] = {"add": _same_into, "sum": _same_into, "sub": _sub_into, "mul": _mul_into,
                              "neg": _neg_into, "relu": _relu_into}


@np.errstate(all="ignore")  # overflow to inf and NaN go on silently, as with Python floats
def array_forward(op, x: np.ndarray) -> np.ndarray:
    """The forward values of op on many nodes: x[i] holds operand i of each node."""
    return _forward(op, x)


@np.errstate(all="ignore")
def array_local(op, x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """∂out/∂operand for each operand of each node: an array of x's shape."""
    return _local(op, x, out)


@np.errstate(all="ignore")
def array_contributions(op, x: np.ndarray, out: np.ndarray, g: np.ndarray) -> np.ndarray:
    """local · g for each operand of each node: what backward() adds into the operand's gradient."""
    return _contributions(op, x, out, g)


# --- the plan and its replay ---


class _Group:
    """The nodes of one op with one operand count at one level; their slots are one range of the value array."""

    __slots__ = ("op", "level", "out", "operands", "block", "segment", "bins", "matrix", "columns", "sends", "one",
                 "grid")

    def __init__(self, op: ops.Op, level: int, out: slice, operands: np.ndarray):
        self.op, self.level = op, level
        self.out = out  # the nodes' slots
        self.operands = operands  # (arity, m): operands[i, j] is the slot of operand i of node j
        self.block: slice | None = None  # those slots, if they are one range in that order (see _block)
        self.segment: slice | None = None  # where the nodes' starting grads and incoming edges are in the buffer
        self.bins: np.ndarray | None = None  # the node of each entry of that segment, for bincount
        self.matrix: list | None = None  # or that segment as (entries × nodes) views, summed by rows
        self.columns: np.ndarray | None = None  # each node's column in it, if not the nodes' own order
        # per receiving group: (which contributions: operand rows or flat positions in (arity, m), a view of
        # the buffer they are written to (for operand rows laid out evenly) or None, their places in the buffer)
        self.sends: list[tuple] = []
        # a single node of a few operands runs on Python floats (relu, max and the others that may not select
        # an operand stay on arrays, which send those operands exactly 0 under an infinite gradient)
        self.one = operands.shape[1] == 1 and operands.shape[0] <= 64 and op.key not in _SELECTED
        # dots that form a grid (see _grid): the slots of its weights (n × R), inputs (n × C) and biases (R)
        self.grid: tuple | None = None

    @property
    def size(self) -> int:
        return self.operands.shape[1]


class LevelTape:
    """A recorded graph replayed level by level, each op at a level as one numpy operation over all its nodes
    (a node's level is 1 + its children's highest; leaves are level 0).

    Same interface and the same floats as `Tape`. `source` lists the groups, one line per op and level.
    """

    def __init__(self, leaves: list[Value], groups: list[_Group], values: np.ndarray, buffer: np.ndarray,
                 leaf_segment: slice, leaf_bins: np.ndarray | None, leaf_matrix: list | None,
                 leaf_columns: np.ndarray | None, leaf_firsts: np.ndarray, grad_leaves: np.ndarray,
                 root_slot: int, watch_slots: np.ndarray, source: str, exact: bool = True):
        self.leaves = tuple(leaves)
        self.exact = exact  # False: grids of dots as matrix products (see plan)
        self.source = source
        self.watched: list[float] = [math.nan] * len(watch_slots)
        self._groups = groups  # in forward order (by level); backward runs those that receive, in reverse
        self._backward = [k for k in range(len(groups) - 1, -1, -1) if groups[k].segment is not None]
        self._values, self._buffer = values, buffer
        self._leaf_segment, self._leaf_bins, self._leaf_matrix = leaf_segment, leaf_bins, leaf_matrix
        self._grad_leaf_index = grad_leaves  # which leaves get a grad (indices into leaves)
        self._grad_leaves = [self.leaves[k] for k in grad_leaves.tolist()]
        self._leaf_starts = leaf_firsts[grad_leaves]  # their old grads start their sums
        # the grads of those leaves: from the bincount, or the matrix's columns
        self._leaf_pick = grad_leaves if leaf_columns is None else leaf_columns[grad_leaves]
        self._root_slot = root_slot
        # a leaf as the root: the seed root.grad += 1 goes into its starting grad
        self._seeded_leaf = grad_leaves.tolist().index(root_slot) if root_slot in grad_leaves.tolist() else None
        self._watch_slots = watch_slots
        from .tape import RUN_LOCK  # (the tape module imports this one)

        self._lock = RUN_LOCK

    def run(self) -> float:
        """Forward and backward on the leaves' current data; returns the root's new value (see `Tape.run`)."""
        values = self._values.copy()
        # a list, then an array: faster than reading through attrgetter (CPython specialises .data on a slot)
        values[:len(self.leaves)] = np.fromiter([leaf.data for leaf in self.leaves], float, len(self.leaves))
        return self._run(values)

    def _run(self, values: np.ndarray) -> float:
        operands, kept = [], {}
        with np.errstate(all="ignore"):  # overflow to inf and NaN go on silently, as with Python floats
            for k, group in enumerate(self._groups):
                if group.grid is not None:  # a grid of dots: its weights and inputs, not every node's operands
                    x = _grid_forward(group.grid, values, group.out, self.exact)
                    operands.append(x)
                    continue
                x = _gather(values, group.operands, group.block)
                if group.one:  # a single node: Python floats and the table cost less than numpy's calls
                    x = x.ravel().tolist()
                    values[group.out.start] = group.op.forward(*x)
                elif group.op.key in _KEEP:  # max, cross-entropy: keep what the backward pass reuses
                    values[group.out], kept[k] = _KEEP[group.op.key](x)
                else:
                    values[group.out] = _forward(group.op, x)
                operands.append(x)
            # The buffer is kept between runs: its starting grads never change (but the leaves', set here),
            # and every run writes all of its edges before they are read. RUN_LOCK keeps runs apart.
            with self._lock:  # the leaves' grads are read, added to and written back as one step
                buffer = self._buffer
                starts = np.fromiter([leaf.grad for leaf in self._grad_leaves], float, len(self._grad_leaves))
                if self._seeded_leaf is not None:
                    starts[self._seeded_leaf] += 1.0  # the same float addition as root.grad += 1.0
                buffer[self._leaf_starts] = starts
                signed = bool((np.signbit(starts) & (starts == 0.0)).any())  # a leaf's grad starts at −0.0
                for k in self._backward:
                    group = self._groups[k]
                    if group.one:  # its entries added in order from 0.0, as bincount would, on floats
                        grad = 0.0
                        for entry in buffer[group.segment].tolist():
                            grad += entry
                        _send_one(group, operands[k], float(values[group.out.start]), grad, buffer)
                        continue
                    if group.matrix is not None:  # row after row, in order (see _rows_add_in_order)
                        grads = _sum_bands(group.matrix)
                        if group.columns is not None:  # the matrix's columns back in the nodes' order
                            grads = grads[group.columns]
                    else:
                        grads = np.bincount(group.bins, buffer[group.segment], minlength=group.size)
                    sent, x = None, operands[k]
                    for which, view, places in group.sends:
                        if view is not None:  # whole operand rows, into a strided view of the buffer
                            if group.grid is not None and \
                                    _grid_rows(*x, grads, which, view, signed, self.exact):
                                continue
                            if group.grid is None:
                                into = _INTO.get(group.op.key)
                                if into is not None:
                                    into(x, grads, range(which.start, which.stop, which.step), view)
                                    continue
                                if group.op is DOT and _dot_rows(x, grads, which, view):
                                    continue
                                if k in kept and group.op.key == "max" and which == slice(0, len(x), 1):
                                    _max_into(kept[k], grads, view)
                                    continue
                                if kept.get(k) is not None and group.op.key == "cross_entropy" and \
                                        _cross_entropy_into(kept[k], grads, which, view):
                                    continue
                        if sent is None:
                            if group.grid is not None:  # another selection of a grid's edges: every operand
                                x = values.take(group.operands)
                            sent = _contributions(group.op, x, values[group.out], grads, kept.get(k))
                        if view is not None:
                            view[...] = sent[which].reshape(view.shape)
                        else:
                            buffer[places] = sent.ravel()[which]
                if self._grad_leaves:
                    if self._leaf_matrix is not None:
                        grads = _sum_bands(self._leaf_matrix)
                    else:
                        grads = _bincount_leaves(self._leaf_bins, buffer[self._leaf_segment], len(self.leaves),
                                                 starts)
                    for leaf, grad in zip(self._grad_leaves, grads[self._leaf_pick].tolist()):
                        leaf.grad = grad
        self.watched = values[self._watch_slots].tolist()
        return float(values[self._root_slot])

    @property
    def width(self) -> float:
        """How many nodes an array operation covers on average: wide graphs replay faster than as Python."""
        return sum(group.size for group in self._groups) / max(len(self._groups), 1)

    def __repr__(self) -> str:
        levels = max((group.level for group in self._groups), default=0)
        return f"LevelTape({len(self.leaves)} leaves, {levels + 1} levels)"




def _bincount_leaves(bins: np.ndarray, entries: np.ndarray, n: int, starts: np.ndarray) -> np.ndarray:
    """The leaves' grads by np.bincount, which adds each leaf's entries in order but from 0.0: that turns a sum
    of nothing but −0.0 into 0.0 (only a leaf's starting grad can make one: an inner node's starts at 0.0)."""
    grads = np.bincount(bins, entries, minlength=n)
    if (np.signbit(starts) & (starts == 0.0)).any():
        negative_zero = np.signbit(entries) & (entries == 0.0)
        grads[np.bincount(bins, negative_zero, minlength=n) == np.bincount(bins, minlength=n)] = -0.0
    return grads


def _send_one(group: _Group, x: list[float], out: float, g: float, buffer: np.ndarray) -> None:
    """A single node's contributions local · g, from the table on floats (the same floats as the arrays)."""
    sent = [local * g for local in group.op.local(tuple(x), out)]
    for which, _, places in group.sends:  # one node: a flat position is an operand's position
        positions = range(which.start, which.stop, which.step) if type(which) is slice else which.tolist()
        buffer[places] = [sent[i] for i in positions]


def _operand_slots(order: list[Value], number: dict, constants: list[float]) -> tuple[list, list]:
    """Each inner node's operands as numbers (its topological position; a number folded in gets one of its
    own after the nodes'), and each node's level. Leaves get an empty list."""
    n_nodes = len(order)
    level = [0] * n_nodes
    operands_of = []
    constant_slot: dict[str, int] = {}
    for k, node in enumerate(order):
        args = node._args
        if not node._prev:
            operands_of.append(())
            continue
        if args is None:  # every operand is a child Value
            slots = [number[child] for child in node._prev]
        else:
            if node._op is DOT:  # stored as (ws, xs, bias)
                ws, xs, bias = args
                args = [v for pair in zip(ws, xs) for v in pair]
                args.append(bias)
            slots = []
            for v in args:
                if isinstance(v, Value):
                    slots.append(number[v])
                    continue
                v = float(v)
                key = v.hex()  # the same number folded in twice shares a slot (−0.0 and 0.0 do not)
                if key not in constant_slot:
                    constant_slot[key] = n_nodes + len(constants)
                    constants.append(v)
                    level.append(0)
                slots.append(constant_slot[key])
        level[k] = 1 + max(map(level.__getitem__, slots))
        operands_of.append(slots)
    return operands_of, level


def _distinct(a: np.ndarray) -> np.ndarray:
    """np.unique(a), by sorting: numpy's own first asks numpy.ma whether a is masked, which imports numpy.ma, a
    third of a first recording's time in a process."""
    a = np.sort(a, axis=None)
    return a[np.concatenate(([True], a[1:] != a[:-1]))] if len(a) else a


def _blocks(edges: np.ndarray, sender: np.ndarray, rank: np.ndarray, target: np.ndarray) -> np.ndarray | None:
    """A receiver's incoming edges laid out as one block per sending group (each in the sender's own order,
    the blocks by their first edge in backward order), if that keeps every node's edges in backward order;
    else None. A block is written by one copy instead of edge by edge."""
    if not len(edges):
        return edges
    senders = _distinct(sender[edges])
    first_rank = [rank[edges[sender[edges] == s]].min() for s in senders.tolist()]
    layout = np.concatenate([edges[sender[edges] == s] for s in senders[np.argsort(first_rank)].tolist()])
    by_target = np.argsort(target[layout], kind="stable")
    t, r = target[layout][by_target], rank[layout][by_target]
    return layout if np.all((t[1:] != t[:-1]) | (r[1:] > r[:-1])) else None


def _send(flat: np.ndarray, places: np.ndarray, group: _Group, buffer: np.ndarray) -> list[tuple]:
    """How a group writes its edges (flat positions in its (arity, m) contributions, ascending) into one
    receiver's places (see _views): (a slice of operand rows, a view of the buffer, places) for each part that
    is one view, or [(flat positions, None, places)]."""
    views = _views(flat, places, group)
    if views is None:
        return [(flat, None, places)]
    return [(rows, np.lib.stride_tricks.as_strided(buffer[base:], shape, [step * buffer.itemsize for step in steps]),
             part) for rows, shape, base, steps, part in views]


def _views(flat: np.ndarray, places: np.ndarray, group: _Group) -> list[tuple] | None:
    """The edges as strided views of the buffer, if they are evenly spaced whole operand rows whose places step
    evenly along each axis of (rows, m), or of (rows, R, C) for a grid of R × C dots — all of them as one
    view, or else the even rows and the odd ones as two (a dot's weights and its inputs, when both go to one
    receiver): [(a slice of rows, shape, first place, steps, places)], or None."""
    rows = _whole_rows(flat, group)
    if rows is None:
        return None
    strides = _strides(places, rows[1])
    if strides is not None:
        return [(rows[0], rows[1], *strides, places)]
    which, shape = rows
    if which.step != 1 or shape[0] < 2:
        return None
    table, views = places.reshape(shape[0], -1), []
    for first in (0, 1):
        part = table[first::2].ravel()
        shape_part = (len(table[first::2]), *shape[1:])
        strides = _strides(part, shape_part)
        if strides is None:
            return None
        last = which.start + first + 2 * (shape_part[0] - 1)
        views.append((slice(which.start + first, last + 1, 2), shape_part, *strides, part))
    return views


def _whole_rows(flat: np.ndarray, group: _Group) -> tuple | None:
    """(a slice of operand rows, the shape of their contributions: (rows, m), or (rows, R, C) for a grid of R × C
    dots) if flat are evenly spaced whole operand rows of the group's (arity, m) contributions, else None."""
    m = group.size
    rows, counts = np.unique(flat // m, return_counts=True)
    if not (counts == m).all():
        return None
    step = int(rows[1] - rows[0]) if len(rows) > 1 else 1
    if not np.array_equal(rows, np.arange(rows[0], rows[-1] + 1, step)):
        return None
    shape = (len(rows), m) if group.grid is None else (len(rows), group.grid[0].shape[1], group.grid[1].shape[1])
    return slice(int(rows[0]), int(rows[-1]) + 1, step), shape


def _strides(places: np.ndarray, shape: tuple) -> tuple | None:
    """(the first place, the step along each axis) if the places (row-major in shape) step evenly, else None."""
    table = places.reshape(shape)
    base = int(table.flat[0])
    steps = [int(table[(0,) * d + (1,) + (0,) * (len(shape) - d - 1)]) - base if n > 1 else 0
             for d, n in enumerate(shape)]
    expected = np.full(shape, base, dtype=np.intp)
    for d, (n, step) in enumerate(zip(shape, steps)):
        expected += (np.arange(n) * step).reshape([n if e == d else 1 for e in range(len(shape))])
    return (base, steps) if np.array_equal(table, expected) else None


def _matrix(edges, size, start, node, rank, sender, flat, sending, compact: bool) -> tuple | None:
    """A receiving group's segment as matrices, when numpy sums their rows in order (_rows_add_in_order) and
    its senders can write most of their edges as strided views: row 0 the starting grads, row 1 + p every
    node's p-th incoming edge in backward() order, a node with fewer edges padded with −0.0 (which added to any
    float x gives x, even −0.0). Nodes with about as many edges share a matrix (a band: none has fewer than half
    the edges of the band's first), so that a few nodes with many edges do not pad all the others. The columns
    of a band follow the nodes' first appearance in the senders' contributions, the largest sender first, so
    that its rows land as one view; compact: only the nodes with edges get one (the leaves: the data among them
    get no grad). Returns (each edge's place, each node's column in the bands side by side (−1: none), the bands
    as (start, height, width), the entries that are not padding, each node's starting place), or None."""
    present, nodes = None, size
    if compact:
        present, node = np.unique(node, return_inverse=True)
        size, node = len(present), node.ravel()
    if size < 2 or not len(edges):
        return None
    counts = np.bincount(node, minlength=size)
    band_of, top = {}, 0  # each count's band: a new one when a count is under half the band's largest
    for count in sorted(set(counts.tolist()), reverse=True):
        if not band_of or 2 * count < top:
            top = count
        band_of[count] = top
    tops = sorted(set(band_of.values()), reverse=True)
    band = np.searchsorted(-np.array(tops), -np.array([band_of[c] for c in counts.tolist()]))
    widths = np.bincount(band, minlength=len(tops))
    for b in range(len(tops) - 1, 0, -1):  # a band of one column (numpy sums it pairwise) joins the one before
        if widths[b] < 2:
            band[band == b] = b - 1
    _, band = np.unique(band, return_inverse=True)
    band = band.ravel()
    widths = np.bincount(band)
    heights = np.zeros(len(widths), dtype=np.intp)
    np.maximum.at(heights, band, counts + 1)
    if (widths < 2).any() or (heights * widths).sum() > 4 * (size + len(edges)) or \
            not all(_rows_add_in_order(h, w) for h, w in zip(heights.tolist(), widths.tolist())):
        return None
    who, many = np.unique(sender, return_counts=True)
    by_size = who[np.argsort(-many, kind="stable")].tolist()
    seen = np.concatenate([node[sender == s] for s in by_size] + [np.arange(size)])
    _, first = np.unique(seen, return_index=True)
    appearance = np.empty(size, dtype=np.intp)
    appearance[seen[np.sort(first)]] = np.arange(size)
    column = np.empty(size, dtype=np.intp)  # band by band, each in order of appearance
    column[np.lexsort((appearance, band))] = np.arange(size)
    in_band = column - (np.cumsum(widths) - widths)[band]
    offsets = np.cumsum(heights * widths) - heights * widths
    firsts = offsets[band] + in_band  # row 0
    by_node = np.lexsort((rank, node))
    p = np.empty(len(edges), dtype=np.intp)
    p[by_node] = np.arange(len(edges)) - (np.cumsum(counts) - counts)[node[by_node]]
    places = start + firsts[node] + (1 + p) * widths[band[node]]
    scattered = 0
    for s in who.tolist():
        mine = sender == s
        if _views(flat[mine], places[mine], sending[s]) is None:
            scattered += int(mine.sum())
    if 8 * scattered > len(edges):  # edge by edge: a bincount costs less
        return None
    filled = np.zeros(int((heights * widths).sum()), dtype=bool)
    filled[firsts], filled[places - start] = True, True
    bands = list(zip(offsets.tolist(), heights.tolist(), widths.tolist()))
    if present is not None:
        column, compacted = np.full(nodes, -1, dtype=np.intp), column
        column[present] = compacted
        firsts, compacted = np.full(nodes, -1, dtype=np.intp), firsts
        firsts[present] = compacted
    return places, column, bands, filled, firsts


def _grid(table: np.ndarray) -> tuple | None:
    """Whether a group of dots is a grid, every one of R weight vectors against every one of C input vectors
    (a layer of neurons over a batch, a convolution's kernels over its patches), each weight vector with its
    own bias: then (the node order that puts the grid weight-major, the weights (n × R), the inputs (n × C),
    the biases (R)), else None. Weight and input columns keep the order the nodes first use them in."""
    weights, inputs, biases = table[0:-1:2], table[1:-1:2], table[-1]
    m = table.shape[1]
    if m < 4 or not len(weights):
        return None
    _, first_w, w = np.unique(weights, axis=1, return_index=True, return_inverse=True)
    _, first_x, x = np.unique(inputs, axis=1, return_index=True, return_inverse=True)
    n_w, n_x = len(first_w), len(first_x)
    if n_w * n_x != m:
        return None
    w_rank, x_rank = np.empty(n_w, dtype=np.intp), np.empty(n_x, dtype=np.intp)
    w_rank[np.argsort(first_w)], x_rank[np.argsort(first_x)] = np.arange(n_w), np.arange(n_x)
    w, x = w_rank[w.ravel()], x_rank[x.ravel()]  # numbered in order of first use
    cell = w * n_x + x
    if len(_distinct(cell)) != m:
        return None
    bias_of = np.empty(n_w, dtype=np.intp)
    bias_of[w] = biases
    if not np.array_equal(bias_of[w], biases):
        return None
    order = np.argsort(cell)
    return (order, weights[:, order[::n_x]], inputs[:, order[:n_x]], bias_of)


def _leave_out_summed_edges(groups: list[_Group], buffer: np.ndarray, padding: list, shapes: list,
                            matrices: list) -> None:
    """exact=False: a grid writes each operand's contributions, summed, to the place of its first edge only
    (see _grid_rows); the places of its other edges get −0.0 here, for good. A receiving matrix then sums only
    its rows that hold anything else (its starting grads, and the places written)."""
    fixed = np.zeros(len(buffer), dtype=bool)  # places that hold −0.0 in every run
    if padding:
        fixed[np.concatenate(padding)] = True
    for group in groups:
        for which, view, places in group.sends if group.grid is not None else ():
            if view is not None and _grid_selection(which, len(group.grid[0])):
                view[...] = -0.0
                cells = places.reshape(view.shape)  # (operand rows, R, C): weights keep c = 0, inputs r = 0
                fixed[(cells[:, 1:, :] if which.start % 2 else cells[:, :, 1:]).ravel()] = True
    for bands, where in zip(matrices, shapes):
        for k, ((band, _), (offset, height, width)) in enumerate(zip(bands or (), where or ())):
            held = fixed[offset:offset + height * width].reshape(height, width).all(axis=1)
            held[0] = False  # row 0: the starting grads
            rows = np.flatnonzero(~held)
            if len(rows) < height:
                bands[k] = (band, rows)  # (the receiving group holds this list too)


def _gather(values: np.ndarray, slots: np.ndarray, block: slice | None) -> np.ndarray:
    """values at slots: a view where the slots are one range (block), else one gather."""
    return values.take(slots) if block is None else values[block].reshape(slots.shape)


def _block(operands: np.ndarray) -> slice | None:
    """The slots of a group's operands as one range of the value array, row after row, if they are: then
    values[block] reshaped is its operands without a gather (a relu over the outputs of a layer)."""
    first = int(operands.flat[0])
    return slice(first, first + operands.size) if np.array_equal(operands.ravel(), first + np.arange(operands.size)) \
        else None


def _describe(group: _Group, exact: bool = True) -> str:
    """One line of a LevelTape's source: 'level 3: dot ×1600 (33 operands each; 16 weight vectors × 100 inputs)'
    (and ', as matrix products' where exact=False makes a grid one)."""
    def count(n: int, what: str) -> str:
        return f"{n} {what}" if n == 1 else f"{n} {what}s"

    grid = "" if group.grid is None else \
        f"; {count(group.grid[0].shape[1], 'weight vector')} × {count(group.grid[1].shape[1], 'input')}" + \
        ("" if exact else ", as matrix products")
    return f"level {group.level}: {group.op} ×{group.size} ({count(group.operands.shape[0], 'operand')} each{grid})"


def plan(root: Value, order: list, leaves: list, wanted: set, watch: list, exact: bool = True) -> LevelTape:
    """Record the graph in `order` (topological) for a level-by-level replay with numpy.

    exact=False: a grid of dots runs as matrix products (BLAS), forward z = Wᵀ·X + b, backward each operand's
    contributions from the grid summed in one product and written to the place of its first edge; the places
    of its other edges hold −0.0 for good (x + (−0.0) is x). The sums are then in BLAS's order, not
    backward()'s: the same to rounding, not bit for bit."""
    number = {node: k for k, node in enumerate(order)}
    constants: list[float] = []
    operands_of, level = _operand_slots(order, number, constants)
    n_nodes, n_leaves = len(order), len(leaves)

    # groups: one op, one operand count, one level; in order of level, then of first appearance
    members: dict[tuple, list[int]] = {}
    for k, node in enumerate(order):
        if node._prev:
            members.setdefault((level[k], node._op.key, len(operands_of[k])), []).append(k)
    keys = sorted(members, key=lambda key: key[0])
    # slots: the leaves (in tape.leaves order), each group's nodes in one range, then the numbers
    slot = np.empty(n_nodes + len(constants), dtype=np.intp)
    slot[[number[leaf] for leaf in leaves]] = np.arange(n_leaves)
    slot[n_nodes:] = np.arange(n_nodes, len(slot))
    tables, grids, next_slot = [], [], n_leaves  # per group: its (operands × nodes) table of operand numbers, grid
    for key in keys:
        ks = np.array(members[key][::-1], dtype=np.intp)  # latest first: backward()'s order of sending
        table = np.array([operands_of[k] for k in ks.tolist()], dtype=np.intp).reshape(len(ks), key[2]).T
        grid = _grid(table) if key[1] == "dot" else None
        if grid is not None:  # the nodes in grid order: weight column by weight column
            table, ks = table[:, grid[0]], ks[grid[0]]
        else:  # in their first operand's order: a relu over a layer reads its outputs as one block (see _block)
            by_operand = np.argsort(slot[table[0]], kind="stable")
            table, ks = table[:, by_operand], ks[by_operand]
        slot[ks] = np.arange(next_slot, next_slot + len(ks))  # (the operands, at lower levels, have theirs)
        next_slot += len(ks)
        members[key], grids = ks, grids + [grid]
        tables.append(table)
    values = np.zeros(len(slot))
    values[n_nodes:] = constants
    groups: list[_Group] = []
    positions: list[np.ndarray] = []  # per group: its nodes' topological positions
    start = n_leaves
    for key, table, grid in zip(keys, tables, grids):
        ks = members[key]
        group = _Group(ops.lookup(key[1]), key[0], slice(start, start + len(ks)), np.ascontiguousarray(slot[table]))
        group.block = _block(group.operands)
        if grid is not None:
            _, weights, inputs, biases = grid
            group.grid = (slot[weights], slot[inputs], slot[biases],
                          _rows_add_in_order(weights.shape[0], weights.shape[1] * inputs.shape[1]),
                          _block(slot[weights]), _block(slot[inputs]))
        groups.append(group)
        positions.append(ks)
        start += len(ks)

    # which slots need a gradient: a wanted leaf, or a node with such an operand
    needs = np.zeros(len(values), dtype=bool)
    needs[[k for k, leaf in enumerate(leaves) if leaf in wanted]] = True
    for group in groups:
        needs[group.out] = needs[group.operands].any(axis=0)

    # the edges: for each, its target slot and its rank in backward()'s order (parents in reverse
    # topological order, then operands in order)
    most = max((group.operands.shape[0] for group in groups), default=1)
    targets, ranks, senders, flat_positions = [], [], [], []  # per sending group
    for g, (group, position) in enumerate(zip(groups, positions)):
        flat = np.flatnonzero(needs[group.operands])
        if not len(flat):
            continue
        operand, node = np.divmod(flat, group.size)
        targets.append(group.operands.ravel()[flat])
        ranks.append((n_nodes - 1 - position[node]) * most + operand)
        senders.append(g)
        flat_positions.append(flat)
    targets_all = np.concatenate(targets) if targets else np.zeros(0, dtype=np.intp)
    ranks_all = np.concatenate(ranks) if ranks else np.zeros(0, dtype=np.intp)

    # the receiving groups, in backward order (highest level first), then the leaves; each gets a segment of
    # the buffer: its nodes' starting grads, then its incoming edges by rank
    receivers = [g for g in range(len(groups) - 1, -1, -1) if needs[groups[g].out].any()]
    receiver_of_slot = np.full(len(values), -1, dtype=np.intp)
    row_of_slot = np.zeros(len(values), dtype=np.intp)
    for r, g in enumerate(receivers):
        receiver_of_slot[groups[g].out] = r
        row_of_slot[groups[g].out] = np.arange(groups[g].size)
    receiver_of_slot[:n_leaves] = len(receivers)
    row_of_slot[:n_leaves] = np.arange(n_leaves)
    sizes = [groups[g].size for g in receivers] + [n_leaves]
    receiving = receiver_of_slot[targets_all]
    sender_all = np.repeat(np.arange(len(senders)), [len(flat) for flat in flat_positions])
    by_receiver = np.argsort(receiving, kind="stable")  # each receiver's edges, in the senders' own order
    bounds = np.searchsorted(receiving[by_receiver], np.arange(len(sizes) + 1))
    place = np.empty(len(targets_all), dtype=np.intp)
    flat_all = np.concatenate(flat_positions) if flat_positions else np.zeros(0, dtype=np.intp)
    segments, bins, shapes, columns, firsts, padding, start = [], [], [], [], [], [], 0
    for r, size in enumerate(sizes):
        edges = by_receiver[bounds[r]:bounds[r + 1]]
        matrix = _matrix(edges, size, start, row_of_slot[targets_all[edges]], ranks_all[edges],
                         sender_all[edges], flat_all[edges], [groups[senders[s]] for s in range(len(senders))],
                         compact=r == len(sizes) - 1)
        if matrix is not None:
            places, column, bands, filled, first = matrix
            place[edges] = places
            padding.append(start + np.flatnonzero(~filled))
            bins.append(None)
            shapes.append([(start + offset, height, width) for offset, height, width in bands])
            columns.append(None if np.array_equal(column, np.arange(size)) else column)
            firsts.append(start + first)  # (for a node with a column)
            segments.append(slice(start, start + filled.size))
            start += filled.size
            continue
        layout = _blocks(edges, sender_all, ranks_all, targets_all)
        if layout is None:  # one edge at a time, by rank
            layout = edges[np.argsort(ranks_all[edges], kind="stable")]
        place[layout] = start + size + np.arange(len(layout))
        segments.append(slice(start, start + size + len(layout)))
        bins.append(np.concatenate([np.arange(size), row_of_slot[targets_all[layout]]]))
        shapes.append(None)
        columns.append(None)
        firsts.append(start + np.arange(size))
        start += size + len(layout)
    buffer = np.zeros(start)  # the starting grads are 0, but for the seed: root.grad = 0, then += 1
    if padding:
        buffer[np.concatenate(padding)] = -0.0
    matrices = [None if bands is None else [(buffer[offset:offset + height * width].reshape(height, width), None)
                                            for offset, height, width in bands] for bands in shapes]
    for r, g in enumerate(receivers):
        group = groups[g]
        group.segment, group.bins, group.matrix, group.columns = segments[r], bins[r], matrices[r], columns[r]
    first = 0
    for g, flat in zip(senders, flat_positions):  # a sender receives too: it needs a grad to send one
        group, edges = groups[g], np.arange(first, first + len(flat))
        first += len(flat)
        group.sends = [send for r in _distinct(receiving[edges]).tolist()
                       for send in _send(flat[receiving[edges] == r], place[edges[receiving[edges] == r]], group,
                                         buffer)]
    if not exact:
        _leave_out_summed_edges(groups, buffer, padding, shapes, matrices)
    root_slot = int(slot[number[root]])
    if root_slot >= n_leaves and receiver_of_slot[root_slot] >= 0:  # (no receiver: no leaf wants a grad)
        buffer[firsts[receiver_of_slot[root_slot]][row_of_slot[root_slot]]] = 1.0
    source = "\n".join(_describe(group, exact) for group in groups)
    return LevelTape(leaves, groups, values, buffer, segments[-1], bins[-1], matrices[-1], columns[-1], firsts[-1],
                     np.flatnonzero(needs[:n_leaves]), root_slot,
                     np.array([slot[number[node]] for node in watch], dtype=np.intp), source, exact)
