"""Compiled replay: a tape run equals backward on a graph rebuilt from the new leaf values."""

import ast
import math
import random
import sys

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import micrograd_nn as mg
import micrograd_nn.functional as F
from micrograd_nn import Value, ops
from micrograd_nn.derivatives import _SELECTED
from micrograd_nn.engine import topological_order
from micrograd_nn.nn import MLP, Conv2d, Flatten, Layer, MaxPool2d, ReLU, Sequential
from micrograd_nn.optim import Adam
from micrograd_nn.tape import NAMESPACE, CompiledStep, array_contributions, array_forward, array_local, template
from micrograd_nn.testing import finite_values, programs, wide_values
from micrograd_nn.train import fit, forward_backward

ERRORS = (ArithmeticError, ValueError)
BACKENDS = ["python", "numpy"]


def same(a: float, b: float) -> bool:
    """Equal floats (NaN equals NaN): the tape evaluates the same formulas in the same order as backward."""
    return a == b or (math.isnan(a) and math.isnan(b))


def rebuilt(program, values: list[float]):
    """Leaves with `values`, the program's graph built on them and backpropagated: (root, leaves)."""
    leaves = [Value(v) for v in values]
    root = program(leaves)
    root.backward()
    return root, leaves


# --- replay equals backward ---


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("wide", [False, True], ids=["ordinary", "wide"])
@given(data=st.data())
def test_replay_equals_backward_on_rebuilt_graph_after_new_leaf_values(data, backend, wide):
    program = data.draw(programs(wide=wide)).used_steps_only()
    leaves = [Value(v) for v in program.inputs]
    tape = mg.compile(program(leaves), backend=backend)
    n = len(leaves)
    # new values anywhere (every op's kinks included: 0 for relu and abs, ties for max), so branches flip
    values = (wide_values() if wide else finite_values(-3.0, 3.0)) | st.sampled_from([0.0, 1.0, -1.0])
    new = data.draw(st.lists(values, min_size=n, max_size=n))
    for leaf, v in zip(leaves, new):
        leaf.data, leaf.grad = v, 0.0
    try:
        root, expected = rebuilt(program, new)
    except ERRORS:  # new values outside an op's domain: the replay raises too (the first node it meets
        # in topological order may not be the program's first failing step) and changes nothing
        with pytest.raises(ERRORS):
            tape.run()
        assert all(leaf.grad == 0.0 for leaf in leaves)
        return
    assert same(tape.run(), root.data)
    for leaf, reference in zip(leaves, expected):
        assert same(leaf.grad, reference.grad)


def kinked(xs):
    """relu, abs and max around their kinks; the max has ties."""
    a, b, c = xs
    return mg.maximum([a, b, c * 1.0]).relu() * 2 + abs(a - b) + mg.maximum([a * b, c]) - (c - b).relu()


@pytest.mark.parametrize("new", [(0.0, 0.0, 0.0), (1.0, 1.0, -1.0), (-2.0, 0.5, 0.5), (0.5, -2.0, 3.0),
                                 (1.0, -1.0, -1.0), (math.nan, 1.0, 2.0)])
@pytest.mark.parametrize("backend", BACKENDS)
def test_relu_abs_and_max_branches_are_decided_again_from_the_new_data(new, backend):
    leaves = [Value(v) for v in (1.5, -0.5, 0.25)]
    tape = mg.compile(kinked(leaves), backend=backend)
    for leaf, v in zip(leaves, new):
        leaf.data = v
    expected = [Value(v) for v in new]
    root = kinked(expected)
    root.backward()
    assert same(tape.run(), root.data)
    assert all(same(leaf.grad, e.grad) for leaf, e in zip(leaves, expected))


@pytest.mark.parametrize("backend", BACKENDS)
def test_mlp_step_replays_exactly_with_new_weights(backend):
    rng = random.Random(0)
    model = MLP(3, [8, 8, 2], rng=rng)
    X = [[rng.uniform(-1, 1) for _ in range(3)] for _ in range(5)]

    def loss():
        return mg.sum(F.cross_entropy(model(x), i % 2) for i, x in enumerate(X)) / 5 + 1e-3 * F.l2(model.parameters())

    tape = mg.compile(loss(), backend=backend)
    for p in model.parameters():
        p.data += rng.gauss(0, 0.5)
    model.zero_grad()
    replayed = tape.run()
    grads = [p.grad for p in model.parameters()]
    model.zero_grad()
    root = loss()
    root.backward()
    assert replayed == root.data
    assert grads == [p.grad for p in model.parameters()]


# --- what is recorded ---


@pytest.mark.parametrize("backend", BACKENDS)
def test_numbers_folded_in_at_recording_stay_constants(backend):
    x, c = Value(2.0), 5.0
    tape = mg.compile(mg.dot([x, 3.0], [c, x]) + (1.0 - x) * x**2 / 4.0, backend=backend)
    assert tape.leaves == (x,)
    x.data = -1.0
    # 5·x + 3·x + (1 − x)·x²/4 at x = −1: −8 + 0.5; d/dx = 8 + (2x − 3x²)/4 = 8 − 1.25
    assert tape.run() == -7.5
    assert x.grad == 6.75


@pytest.mark.parametrize("backend", BACKENDS)
def test_leaves_are_listed_in_order_of_first_appearance_in_topological_order(backend):
    a, b, c = Value(1.0, label="a"), Value(2.0, label="b"), Value(3.0, label="c")
    root = (c * a + b) * c
    tape = mg.compile(root, backend=backend)
    assert tape.leaves == tuple(node for node in topological_order(root) if not node.children)
    assert [leaf.label for leaf in tape.leaves] == ["c", "a", "b"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_leaf_grads_accumulate_like_backward_and_inner_nodes_are_left_alone(backend):
    x, w = Value(0.5), Value(-2.0)
    h = (x * w).tanh()
    root = h * h + x
    tape = mg.compile(root, backend=backend)
    tape.run()
    tape.run()
    once_x, once_w = x.grad, w.grad
    x.grad = w.grad = 0.0
    root.backward()
    root.backward()  # leaves accumulate one copy per call
    assert (once_x, once_w) == (x.grad, w.grad)
    x.data = 3.0
    h_data, h_grad = h.data, h.grad
    tape.run()
    assert (h.data, h.grad) == (h_data, h_grad)  # inner nodes keep their recorded data and grad


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_leaf_as_root_and_a_graph_without_leaves(backend):
    x = Value(4.0)
    tape = mg.compile(x, backend=backend)
    assert tape.run() == 4.0 and x.grad == 1.0
    constant = mg.sum([1.0, 2.0]) * 3.0  # operands all numbers: the sum is a leaf of the graph
    assert mg.compile(constant, backend=backend).run() == 9.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_watch_reports_inner_values_and_wrt_limits_which_leaves_get_grads(backend):
    x, w = Value(2.0), Value(3.0)
    hidden = x * w
    root = hidden.relu() + x
    tape = mg.compile(root, watch=[hidden], wrt=[w], backend=backend)
    x.data = -1.0
    assert tape.run() == -1.0
    assert tape.watched == [-3.0]
    assert (w.grad, x.grad) == (0.0, 0.0)  # the relu is now off; x is not in wrt
    x.data = 1.0
    tape.run()
    assert (w.grad, x.grad) == (1.0, 0.0)
    with pytest.raises(ValueError, match="wrt\\[0\\] is not a leaf"):
        mg.compile(root, wrt=[hidden])
    with pytest.raises(ValueError, match="watch\\[0\\] is not a node"):
        mg.compile(root, watch=[Value(1.0)])


def test_a_hand_built_node_is_refused_at_compile_time_naming_its_op():
    x = Value(0.3)
    y = Value(math.sin(x.data), (x,), (math.cos(x.data),), "sin") * 2
    with pytest.raises(ValueError, match="'sin'"):
        mg.compile(y)
    with pytest.raises(TypeError, match="float"):
        mg.compile(1.0)


def test_source_is_python_with_one_line_per_node_and_per_edge():
    x, w, b = Value(1.0, label="x"), Value(-2.0, label="w"), Value(0.5, label="b")
    root = F.binary_cross_entropy(mg.dot([w], [x], b).relu() * x, 1.0)
    tape = mg.compile(root)
    ast.parse(tape.source)
    lines = tape.source.splitlines()
    start, middle = lines.index("    # forward: one line per node"), [i for i, line in enumerate(lines)
                                                                      if line.startswith("    # backward")][0]
    end = lines.index("    # the leaves' gradients accumulate")
    order = topological_order(root)
    inner = [node for node in order if node.children]
    assert len(lines[start + 1:middle]) == len(inner)
    assert [line.rsplit("# ", 1)[1].split()[0] for line in lines[start + 1:middle]] == [str(n.op) for n in inner]
    edges = lines[middle + 2:end]  # after the root's seed, g = 1.0
    assert len(edges) == sum(len(node.children) for node in inner)
    assert "g6 = 1.0" in lines[middle + 1] and "# leaf x" in tape.source


def test_the_default_backend_is_python_for_small_or_narrow_graphs_and_numpy_for_wide_ones():
    from micrograd_nn.tape import AUTO_NODES, Tape

    rng = random.Random(2)
    model = MLP(2, [8, 1], rng=rng)
    X = [[rng.uniform(-1, 1), rng.uniform(-1, 1)] for _ in range(200)]
    wide = mg.sum(model(x).relu() for x in X)  # 200 samples side by side
    y = Value(0.5)
    for _ in range(AUTO_NODES):
        y = (y * 0.99).relu()  # one node per level
    small = model(X[0])
    for root, expected in ((wide, "LevelTape"), (y, "Tape"), (small, "Tape")):
        tape = mg.compile(root)
        assert type(tape).__name__ == expected
        assert isinstance(tape, Tape) == (expected == "Tape")
        reference = mg.compile(root, backend="python")
        for leaf in tape.leaves:
            leaf.grad = 0.0
        value = tape.run()
        grads = [leaf.grad for leaf in tape.leaves]
        for leaf in tape.leaves:
            leaf.grad = 0.0
        assert reference.run() == value and [leaf.grad for leaf in tape.leaves] == grads


def test_the_numpy_backend_lists_its_groups_level_by_level():
    xs = [Value(v) for v in (1.0, -2.0, 3.0)]
    root = mg.sum(x.relu() for x in xs) * xs[0]
    assert mg.compile(root, backend="numpy").source.splitlines() == [
        "level 1: relu ×3 (1 operand each)", "level 2: Σ ×1 (3 operands each)", "level 3: * ×1 (2 operands each)"]
    with pytest.raises(ValueError, match="backend must be 'auto', 'python' or 'numpy', got 'c'"):
        mg.compile(root, backend="c")


# --- losses with Value targets ---


@pytest.mark.parametrize("backend", BACKENDS)
def test_cross_entropy_with_a_value_target_replays_with_new_targets_against_torch(backend):
    zs, t = [Value(v) for v in (0.5, -1.0, 2.0)], Value(2.0)
    tape = mg.compile(F.cross_entropy(zs, t), backend=backend)
    for logits, target in (([3.0, 0.0, -1.0], 0.0), ([1000.0, -1000.0, 999.0], 1.0), ([0.1, 0.2, 0.3], 2.0)):
        for z, v in zip(zs, logits):
            z.data, z.grad = v, 0.0
        t.data = target
        reference = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
        expected = torch.nn.functional.cross_entropy(reference[None], torch.tensor([int(target)]))
        expected.backward()
        assert tape.run() == pytest.approx(expected.item(), rel=1e-12, abs=1e-12)
        assert [z.grad for z in zs] == pytest.approx(reference.grad.tolist(), rel=1e-12, abs=1e-15)
        assert t.grad == 0.0
    t.data = 3.0
    with pytest.raises(ValueError, match="target 3 is out of range for 3 classes"):
        tape.run()


@pytest.mark.parametrize("backend", BACKENDS)
def test_binary_cross_entropy_with_a_value_label_replays_with_new_labels(backend):
    z, y = Value(0.3), Value(1.0)
    tape = mg.compile(F.binary_cross_entropy(z, y), backend=backend)
    for score, label in ((2.0, 0.0), (-30.0, 1.0), (0.7, 0.25), (1e4, 0.0)):
        z.data, y.data, z.grad, y.grad = score, label, 0.0, 0.0
        fresh_z, fresh_y = Value(score), Value(label)
        fresh = F.binary_cross_entropy(fresh_z, fresh_y)
        fresh.backward()
        expected = torch.nn.functional.binary_cross_entropy_with_logits(
            torch.tensor(score, dtype=torch.float64), torch.tensor(label, dtype=torch.float64))
        assert tape.run() == fresh.data == pytest.approx(expected.item(), rel=1e-12)
        assert (z.grad, y.grad) == (fresh_z.grad, fresh_y.grad)
    y.data = 1.5
    with pytest.raises(ValueError, match="target must be in \\[0, 1\\], got 1.5"):
        tape.run()


@pytest.mark.parametrize("backend", BACKENDS)
def test_errors_at_replay_are_the_op_tables_and_change_no_grad(backend):
    x, y = Value(2.0), Value(1.0)
    tape = mg.compile((x / y).log() + y.exp(), backend=backend)
    y.data = 0.0
    with pytest.raises(ZeroDivisionError, match="division by zero: 2.0 / 0.0"):
        tape.run()
    y.data = -1.0
    with pytest.raises(ValueError, match="log"):
        tape.run()
    y.data = 800.0
    with pytest.raises(OverflowError, match="exp overflow: exp\\(800.0\\)"):
        tape.run()
    assert (x.grad, y.grad) == (0.0, 0.0)


# --- the templates are the op table, written as code ---

# How to draw operands for each op of the table (a new op needs an entry here).
OPERANDS = {
    "add": 2, "sub": 2, "mul": 2, "div": 2, "neg": 1, "exp": 1, "log": 1, "tanh": 1, "sigmoid": 1, "relu": 1,
    "abs": 1, "exp_pow": 2, "sum": 4, "dot": 5, "max": 4,
}


@st.composite
def operands_for(draw, key: str) -> list[float]:
    values = finite_values(-5.0, 5.0) | st.sampled_from([0.0, 1.0, -1.0])
    if key == "pow":
        return [draw(values), draw(st.sampled_from([2.0, 3.0, -1.0, 0.5, 1.5, 0.0]))]
    if key == "cross_entropy":
        zs = draw(st.lists(values, min_size=1, max_size=5))
        return [*zs, float(draw(st.integers(0, len(zs) - 1)))]
    if key == "bce":
        return [draw(values), draw(st.floats(0.0, 1.0) | st.sampled_from([0.0, 1.0]))]
    return draw(st.lists(values, min_size=OPERANDS[key], max_size=OPERANDS[key]))


def test_every_op_of_the_table_has_an_operand_generator_here():
    ops.lookup("bce")  # the fused losses register with functional
    assert set(ops.OPS) <= set(OPERANDS) | {"pow", "cross_entropy", "bce"}


def _not_selected_by(op, i: int, operands: list, local: float) -> bool:
    """derivatives._SELECTED: whether a zero local derivative of operand i means the op did not select it."""
    if local != 0.0 or op.key not in _SELECTED:
        return False
    if op.key == "exp_pow":
        return i == 0 and operands[1] == 0.0
    return _SELECTED[op.key] in (None, i - len(operands))


@pytest.mark.parametrize("key", sorted(set(OPERANDS) | {"pow", "cross_entropy", "bce"}))
@given(data=st.data())
def test_template_gives_the_tables_forward_and_local_floats(key, data):
    op = ops.lookup(key)
    operands = data.draw(operands_for(key))
    if op.domain is not None and not op.domain(*operands):
        return
    try:
        out = op.forward(*operands)
    except ERRORS:
        return
    # each operand either a variable of the tape or a number literal folded in at recording
    as_literal = data.draw(st.lists(st.booleans(), min_size=len(operands), max_size=len(operands)))
    args = [repr(v) if literal else f"a{i}" for i, (v, literal) in enumerate(zip(operands, as_literal))]
    scope = {**NAMESPACE, **{f"a{i}": v for i, v in enumerate(operands)}}
    exec(template(key).forward("out", args), scope)
    assert same(scope["out"], out)
    locals_from_template = (float(eval(template(key).local(i, "out", args), scope)) for i in range(len(operands)))
    try:
        local = op.local(tuple(operands), out)
    except ERRORS as error:  # a slope that overflows: the tape raises as the table does
        with pytest.raises(type(error)):
            list(locals_from_template)
        return
    for from_template, expected in zip(locals_from_template, local, strict=True):
        assert same(from_template, expected)
    # and the numpy rules, on a batch of two nodes with these operands (x[i] holds operand i of each node)
    x = np.array([operands, operands]).T
    forward_rows = array_forward(op, x)
    assert same(forward_rows[1], out)
    assert all(same(a, b) for a, b in zip(array_local(op, x, forward_rows)[:, 1], local, strict=True))
    # local · g, also under an infinite g: an operand the op did not select gets 0, as backward() gives it
    for g in (0.75, math.inf):
        sent = array_contributions(op, x, forward_rows, np.array([g, g]))[:, 1]
        expected = [0.0 if _not_selected_by(op, i, operands, v) and not math.isfinite(g) else v * g
                    for i, v in enumerate(local)]
        assert all(same(a, b) for a, b in zip(sent, expected, strict=True))


# --- training on mini-batches ---


def cnn(seed: int):
    rng = random.Random(seed)
    return Sequential(Conv2d(1, 2, 3, rng=rng), ReLU(), MaxPool2d(2), Flatten(), Layer(8, 3, activation="linear",
                                                                                    rng=rng))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", ["cnn cross-entropy", "mlp hinge", "mlp bce", "mlp mse"])
def test_compiled_step_equals_forward_backward_on_every_batch(case, backend):
    rng = np.random.default_rng(0)
    if case == "cnn cross-entropy":
        X, y, model, loss_fn = rng.normal(size=(7, 1, 6, 6)).tolist(), rng.integers(0, 3, 7).tolist(), cnn(0), \
            F.cross_entropy
    else:
        X, model = rng.normal(size=(7, 2)).tolist(), MLP(2, [6, 1], rng=random.Random(0))
        y = {"mlp hinge": rng.choice([-1, 1], 7), "mlp bce": rng.integers(0, 2, 7), "mlp mse": rng.normal(size=7)}[case]
        loss_fn = {"mlp hinge": lambda s, t: (1 - t * s).relu(), "mlp bce": F.binary_cross_entropy,
                   "mlp mse": F.mse}[case]
        y = y.tolist()
    params = model.parameters()
    penalty = lambda ps: 1e-3 * F.l2(ps)  # noqa: E731
    step = CompiledStep(model, loss_fn, penalty, params, backend=backend)
    for start, size in ((0, 3), (3, 3), (6, 1), (2, 3)):  # a smaller last batch is recorded on its own
        xb, yb = X[start:start + size], y[start:start + size]
        model.zero_grad()
        loss, outputs = step(xb, yb)
        grads = [p.grad for p in params]
        model.zero_grad()
        expected_loss, expected_outputs = forward_backward(model, xb, yb, loss_fn, penalty, params)
        assert loss == expected_loss
        assert grads == [p.grad for p in params]
        as_floats = [[o.data for o in out] if isinstance(out, list) else out.data for out in expected_outputs]
        assert outputs == as_floats
        for p in params:
            p.data -= 0.1 * p.grad  # the next batch sees new weights
    assert sorted(step._recordings) == [1, 3]


def test_compiled_step_hands_out_the_tape_it_recorded_for_a_batch_size():
    X, y = np.random.default_rng(3).normal(size=(5, 2)).tolist(), [0, 1, 2, 1, 0]
    model = MLP(2, [4, 3], rng=random.Random(0))
    step = CompiledStep(model, F.cross_entropy)
    with pytest.raises(KeyError, match="no tape recorded for batch size 2"):
        step.tape(2)
    step(X[:2], y[:2])
    step(X[2:5], y[2:5])
    with pytest.raises(KeyError, match=r"recorded sizes: \[2, 3\]"):
        step.tape(4)
    with pytest.raises(TypeError, match="batch_size must be an int"):
        step.tape(2.0)
    tape = step.tape(3)
    # The tape is the one the step replays: running it again gives the loss of the last batch of 3, rebuilt.
    model.zero_grad()
    expected_loss, _ = forward_backward(model, X[2:5], y[2:5], F.cross_entropy, None, model.parameters())
    expected_grads = [p.grad for p in model.parameters()]
    model.zero_grad()
    assert tape.run() == expected_loss
    assert [p.grad for p in model.parameters()] == expected_grads
    assert step.tape(2) is not tape


def test_compiled_step_needs_a_loss_that_takes_value_targets():
    step = CompiledStep(MLP(2, [3], rng=random.Random(0)), F.multiclass_hinge)
    with pytest.raises(TypeError, match="accepts a Value target"):
        step([[0.0, 1.0]], [2])


def test_fit_compiled_matches_fit():
    X, y = np.random.default_rng(1).normal(size=(30, 2)), np.random.default_rng(2).integers(0, 3, 30)
    histories, weights = [], []
    for compiled in (False, True):
        model = MLP(2, [8, 3], rng=random.Random(0))
        options = {"compile": True} if compiled else {}
        histories.append(fit(model, X, y, F.cross_entropy, Adam(model.parameters(), lr=0.05), epochs=3, batch_size=8,
                             penalty=lambda ps: 1e-3 * F.l2(ps), verbose=False, **options))
        weights.append([p.data for p in model.parameters()])
    assert histories[1].loss == pytest.approx(histories[0].loss, rel=1e-12)
    assert histories[1].accuracy == histories[0].accuracy
    assert weights[1] == pytest.approx(weights[0], rel=1e-12)


def test_compiled_step_returns_nested_outputs_as_the_model_does():
    from micrograd_nn.nn import Conv2d
    from micrograd_nn.tape import CompiledStep
    from micrograd_nn.train import forward_backward

    conv = Conv2d(1, 2, 2, rng=random.Random(1))

    def loss_fn(y, t):
        return mg.sum(v for plane in y for row in plane for v in row) * t

    xb = [[[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [0.7, 0.8, 0.9]]], [[[1.0, 0.0, -1.0], [0.5, 0.5, 0.5], [2.0, 1.0, 0.0]]]]
    yb = [1.0, -0.5]
    step = CompiledStep(conv, loss_fn, None, conv.parameters())
    for _ in range(2):  # recorded, then replayed
        loss, outputs = step(xb, yb)
        expected_loss, expected = forward_backward(conv, xb, yb, loss_fn, None, conv.parameters())
        assert loss == expected_loss
        assert outputs == [[[[v.data for v in row] for row in plane] for plane in y] for y in expected]


# --- an operand relu or max did not select gets 0, also under an infinite gradient ---


def dead_relu_under_an_infinite_slope(x):
    return x[0].relu() ** 0.5  # at x = −1: relu gives 0, and d(u^0.5)/du = 0.5·0^(−0.5) = ∞


def losing_operand_of_a_max(x):
    return mg.maximum([x[0], x[1] * 1.0]) ** 0.5  # the loser of max(0, −1), then the same ∞ slope


def dead_relu_in_a_loss(x):
    return F.cross_entropy([x[0].relu(), x[1]], Value(0.0)) * math.inf


@pytest.mark.parametrize("program, values, dead", [(dead_relu_under_an_infinite_slope, [-1.0], 0),
                                                   (losing_operand_of_a_max, [0.0, -1.0], 1),
                                                   (dead_relu_in_a_loss, [-2.0, 1.0], 0)])
def test_an_operand_that_was_not_selected_gets_zero_not_nan_under_an_infinite_upstream(program, values, dead):
    expected = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]
    torch_program = {dead_relu_under_an_infinite_slope: lambda t: torch.relu(t[0]) ** 0.5,
                     losing_operand_of_a_max: lambda t: torch.maximum(t[0], t[1] * 1.0) ** 0.5,
                     dead_relu_in_a_loss: lambda t: torch.nn.functional.cross_entropy(
                         torch.stack([torch.relu(t[0]), t[1]])[None], torch.tensor([0])) * math.inf}[program]
    torch_program(expected).backward()
    reference = [t.grad.item() for t in expected]
    _, leaves = rebuilt(program, values)
    assert [leaf.grad for leaf in leaves] == reference  # backward()
    fresh = [Value(v) for v in values]
    assert [g.data for g in mg.grad(program(fresh), fresh)] == reference
    for backend in BACKENDS:
        leaves = [Value(v) for v in values]
        tape = mg.compile(program(leaves), backend=backend)
        tape.run()
        assert [leaf.grad for leaf in leaves] == reference, backend
    assert reference[dead] == 0.0  # exactly 0, not NaN; the others get what PyTorch gives (±∞)


# --- long sums, threads, numpy ---


@pytest.mark.parametrize("make, n", [(lambda xs: mg.sum(xs), 50_000), (lambda xs: F.l2(xs), 5_000),
                                     (lambda xs: mg.dot(xs, xs[::-1]), 5_000),
                                     (lambda xs: F.mse(mg.sum(xs), 1.0), 5_000)], ids=["sum", "l2", "dot", "mse"])
def test_a_sum_or_dot_of_thousands_of_operands_compiles_and_replays_exactly(make, n):
    rng = random.Random(5)
    xs = [Value(rng.uniform(-1, 1)) for _ in range(n)]
    tape = mg.compile(make(xs), backend="python")  # as one chained expression: RecursionError in the parser
    for x in xs:
        x.data = rng.uniform(-1, 1)
    replayed = tape.run()
    grads = [x.grad for x in xs]
    fresh = [Value(x.data) for x in xs]
    root = make(fresh)
    root.backward()
    assert replayed == root.data
    assert grads == [x.grad for x in fresh]
    assert max(len(line) for line in tape.source.splitlines()) < 2_000_000


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shared", ["one tape", "two tapes over one parameter"])
def test_runs_from_several_threads_add_every_contribution(backend, shared):
    import threading

    def tapes_over(w):  # tanh: the straight-line Python makes calls, where a thread can be switched out
        xs = [Value(i / 1000) for i in range(500)]
        tapes = [mg.compile(mg.sum((w * x).tanh() for x in xs), wrt=[w], backend=backend) for _ in range(2)]
        return [tapes[0]] * 2 if shared == "one tape" else tapes

    runs, w, alone = 100, Value(0.5), Value(0.5)
    for tape in tapes_over(alone) * runs:  # the same runs one after another: every run adds the same number
        tape.run()
    tapes = tapes_over(w)
    start = threading.Barrier(len(tapes))

    def work(tape):
        start.wait()
        for _ in range(runs):
            tape.run()

    threads = [threading.Thread(target=work, args=(tape,)) for tape in tapes]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, in the middle of runs
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert w.grad == alone.grad  # unlocked, about half of the contributions were lost


def test_importing_the_library_and_the_python_tape_need_no_numpy():
    import subprocess
    import textwrap

    script = textwrap.dedent("""
        import sys

        class NoNumpy:
            def find_spec(self, name, path=None, target=None):
                if name == "numpy" or name.startswith("numpy."):
                    raise ImportError(f"No module named {name!r} (blocked for this test)")

        sys.meta_path.insert(0, NoNumpy())
        import micrograd_nn as mg
        from micrograd_nn.tape import CompiledStep, compile
        from micrograd_nn.nn import MLP
        import micrograd_nn.functional as F

        x, w = mg.Value(2.0), mg.Value(-3.0)
        tape = compile((x * w).relu() + x)
        x.data = -1.0
        assert (tape.run(), x.grad, w.grad) == (2.0, -2.0, -1.0)
        step = CompiledStep(MLP(2, [3, 1]), F.mse)
        assert step.backend == "python"
        first, _ = step([[0.5, -1.0], [1.0, 2.0]], [1.0, 0.0])
        again, _ = step([[0.5, -1.0], [1.0, 2.0]], [1.0, 0.0])
        assert first == again
        try:
            compile(x * w, backend="numpy")
        except ImportError as error:
            print("numpy backend:", error)
        assert "numpy" not in sys.modules
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["numpy backend: No module named 'numpy' (blocked for this test)", "ok"]


# --- the numpy backend's fast paths against backward(), on more models ---


def replay_and_rebuild(tape, build, start: float = 0.0) -> tuple:
    """tape.run(), then backward() on the graph build() makes from the same leaves, each from leaf grads of
    `start`: (the replay's value, its leaf grads, the rebuilt graph's value, its leaf grads)."""
    leaves = list(tape.leaves)
    for leaf in leaves:
        leaf.grad = start
    replayed = tape.run()
    grads = [leaf.grad for leaf in leaves]
    for leaf in leaves:
        leaf.grad = start
    expected = build()
    expected.backward()
    return replayed, grads, expected.data, [leaf.grad for leaf in leaves]


def two_layer_cnn(rng):  # padding (dots of different lengths at the borders), no bias, a second conv on activations
    from micrograd_nn.nn import Tanh

    return Sequential(Conv2d(1, 3, 3, padding=1, bias=False, rng=rng), Tanh(), Conv2d(3, 2, 2, stride=2, rng=rng),
                      ReLU(), Flatten(), Layer(8, 3, activation="sigmoid", rng=rng))


@pytest.mark.parametrize("case", ["mlp tanh, cross-entropy", "mlp sigmoid, mse", "cnn: padding, no bias, two convs",
                                  "inputs get gradients too"])
def test_numpy_replay_equals_backward_on_models_with_every_kind_of_group(case):
    rng = random.Random(7)
    if case.startswith("cnn"):
        model = two_layer_cnn(rng)
        X = [[[[rng.uniform(-1, 1) for _ in range(4)] for _ in range(4)]] for _ in range(5)]
        targets = [rng.randrange(3) for _ in X]
        loss_fn = F.cross_entropy
    else:
        activation = "sigmoid" if "sigmoid" in case else "tanh"
        model = MLP(3, [6, 5, 3 if "cross" in case or "inputs" in case else 1], activation=activation, rng=rng)
        X = [[rng.uniform(-1, 1) for _ in range(3)] for _ in range(6)]
        targets = [rng.randrange(3) if "cross" in case or "inputs" in case else rng.uniform(-1, 1) for _ in X]
        loss_fn = F.cross_entropy if "cross" in case or "inputs" in case else F.mse
    params = model.parameters()

    def build(xs):
        return mg.sum(loss_fn(model(x), t) for x, t in zip(xs, targets)) / len(xs) + 1e-3 * F.l2(params)

    inputs = [[Value(v) for v in x] for x in X] if case == "inputs get gradients too" else X
    tape = mg.compile(build(inputs), backend="numpy")
    for _ in range(3):  # new weights each time; the tape keeps its buffers between runs
        for p in params:
            p.data += rng.gauss(0, 0.3)
        replayed, grads, expected, expected_grads = replay_and_rebuild(tape, lambda: build(inputs))
        assert replayed == expected
        assert grads == expected_grads


@pytest.mark.parametrize("layout", ["weights are numbers, inputs Values", "a partial grid", "shared weight twice"])
def test_numpy_replay_of_dot_levels_that_are_or_are_not_grids(layout):
    rng = random.Random(11)
    ws = [[Value(rng.uniform(-1, 1)) for _ in range(3)] for _ in range(4)]
    xs = [[Value(rng.uniform(-1, 1)) for _ in range(3)] for _ in range(5)]
    bs = [Value(rng.uniform(-1, 1)) for _ in range(4)]
    numbers = [[rng.uniform(-1, 1) for _ in range(3)] for _ in range(4)]

    def build():
        if layout == "weights are numbers, inputs Values":
            dots = [mg.dot(n, x, 0.5) for n in numbers for x in xs]
        elif layout == "a partial grid":  # the last input misses the last weight vector
            dots = [mg.dot(w, x, b) for (w, b) in zip(ws, bs) for x in xs if not (w is ws[-1] and x is xs[-1])]
        else:
            dots = [mg.dot([w[0], w[0], w[1]], x, b) for (w, b) in zip(ws, bs) for x in xs]
        return mg.sum(d.tanh() * k for k, d in enumerate(dots))

    tape = mg.compile(build(), backend="numpy")
    leaves = list(tape.leaves)
    for _ in range(2):
        for leaf in leaves:
            leaf.data += rng.gauss(0, 0.5)
        replayed, grads, expected, expected_grads = replay_and_rebuild(tape, build)
        assert replayed == expected
        assert grads == expected_grads
    grids = [group.grid is not None for group in tape._groups if group.op == "dot"]
    assert grids == [layout != "a partial grid"]
    if layout != "a partial grid":
        assert tape.source.splitlines()[0] == "level 1: dot ×20 (7 operands each; 4 weight vectors × 5 inputs)"


# --- the numpy backend's sums by rows (np.add.reduce over axis 0, checked by a probe) ---


def test_the_probe_data_tells_an_order_of_additions_from_any_other():
    from micrograd_nn import levels

    for rows, columns in ((1100, 7), (103, 337), (17, 40)):
        a = levels._probe_rows(rows, columns)
        in_order = [math.fsum([0.0]) + 0.0 for _ in range(columns)]  # one Python float per column
        for j in range(columns):
            total = -0.0
            for v in a[:, j].tolist():
                total += v
            in_order[j] = total
        pairwise = [float(np.sum(np.ascontiguousarray(a[:, j]))) for j in range(columns)]  # numpy's pairwise sum
        assert in_order != pairwise
        if levels._rows_add_in_order(rows, columns):  # then numpy's rows are these Python sums, bit for bit
            got = levels._sum_rows(a).tolist()
            assert [math.copysign(1.0, v) for v in got] == [math.copysign(1.0, v) for v in in_order]
            assert got == in_order
    assert not levels._rows_add_in_order(1100, 1)  # a single column numpy adds pairwise: refused


def signed_zero_graph():
    """Contributions of −0.0, two for some leaves and one for others (so a sum matrix is padded), into leaves
    whose grads start at −0.0, and a grid of dots whose terms and biases are all −0.0."""
    a = [Value(1.0 + j) for j in range(40)]
    z = [Value(-0.0) for _ in range(40)]
    ws = [[Value(-0.0), Value(1.0)] for _ in range(4)]
    xs = [[Value(1.0), Value(-0.0)] for _ in range(5)]
    bs = [Value(-0.0) for _ in range(4)]
    dots = [mg.dot(w, x, b) for w, b in zip(ws, bs) for x in xs]
    # (the lone dot first: it comes last in backward()'s order, each product's edge first)
    root = mg.sum([mg.dot([a[0]], [z[1]])] + [aj * zj for aj, zj in zip(a, z)] + dots)
    return root, dots


@pytest.mark.parametrize("in_order", [True, False], ids=["rows summed by numpy", "bincount"])
def test_numpy_replay_keeps_the_sign_of_zero_sums_and_grads(in_order, monkeypatch):
    from micrograd_nn import levels

    if not in_order:
        monkeypatch.setattr(levels, "_rows_add_in_order", lambda rows, columns: False)
    root, dots = signed_zero_graph()
    tape = mg.compile(root, watch=dots, backend="numpy")
    if in_order and levels._rows_add_in_order(2, 40):
        assert tape._leaf_matrix is not None and any(np.signbit(band).any() for band, _ in tape._leaf_matrix)
        assert any(group.grid is not None and group.grid[3] for group in tape._groups)
    else:
        assert tape._leaf_matrix is None and all(group.matrix is None for group in tape._groups)
    leaves = list(tape.leaves)
    for leaf in leaves:
        leaf.grad = -0.0
    tape.run()
    grads, watched = [leaf.grad for leaf in leaves], tape.watched
    for leaf in leaves:
        leaf.grad = -0.0
    root.backward()
    sign = lambda values: [math.copysign(1.0, v) for v in values]  # noqa: E731
    assert sign(grads) == sign([leaf.grad for leaf in leaves]) and grads == [leaf.grad for leaf in leaves]
    assert -1.0 in sign(grads)
    assert sign(watched) == sign([d.data for d in dots]) == [1.0] * len(dots)


def test_numpy_replay_equals_backward_without_the_sums_by_rows(monkeypatch):
    from micrograd_nn import levels

    monkeypatch.setattr(levels, "_rows_add_in_order", lambda rows, columns: False)
    test_mlp_step_replays_exactly_with_new_weights("numpy")
    test_numpy_replay_equals_backward_on_models_with_every_kind_of_group("cnn: padding, no bias, two convs")


# --- exact=False: grids of dots as matrix products ---


def near(a: float, b: float, scale: float) -> bool:
    """Equal to rounding: BLAS adds in its own order, so a sum of terms up to `scale` in size can differ by a
    few units in the last place of `scale` (relative to the result, more where the terms cancel)."""
    return abs(a - b) <= 1e-12 * max(abs(a), abs(b)) + 1e-14 * scale


@pytest.mark.parametrize("case", ["mlp tanh, cross-entropy", "cnn: padding, no bias, two convs",
                                  "inputs get gradients too", "shared weight twice"])
def test_matrix_products_give_backwards_floats_to_rounding(case):
    rng = random.Random(7)
    if case.startswith("cnn"):
        model = two_layer_cnn(rng)
        X = [[[[rng.uniform(-1, 1) for _ in range(4)] for _ in range(4)]] for _ in range(5)]
    elif case == "shared weight twice":
        ws = [[Value(rng.uniform(-1, 1)) for _ in range(2)] for _ in range(4)]
        bs = [Value(rng.uniform(-1, 1)) for _ in range(4)]
        model = lambda x: [mg.dot([w[0], w[0], w[1]], x, b) for w, b in zip(ws, bs)]  # noqa: E731
        model.parameters = lambda: [v for w in ws for v in w] + bs
        X = [[rng.uniform(-1, 1) for _ in range(3)] for _ in range(6)]
    else:
        model = MLP(3, [6, 5, 3], activation="tanh", rng=rng)
        X = [[rng.uniform(-1, 1) for _ in range(3)] for _ in range(6)]
    targets = [rng.randrange(3) for _ in X]
    params = model.parameters()
    inputs = [[Value(v) for v in x] for x in X] if case in ("inputs get gradients too", "shared weight twice") else X

    def build():
        return mg.sum(F.cross_entropy(model(x), t) for x, t in zip(inputs, targets)) / len(X) + 1e-3 * F.l2(params)

    tape = mg.compile(build(), backend="numpy", exact=False)
    assert tape.exact is False and "as matrix products" in tape.source
    for _ in range(3):  # new weights each time; the places left at −0.0 stay so between runs
        for p in params:
            p.data += rng.gauss(0, 0.3)
        # from grads of 0.5: a run adds into the grads there are, as backward() does
        replayed, grads, expected, expected_grads = replay_and_rebuild(tape, build, start=0.5)
        assert near(replayed, expected, 10.0)
        assert all(near(a, b, 10.0) for a, b in zip(grads, expected_grads, strict=True))


def test_compiled_step_with_matrix_products_trains_a_cnn_as_pytorch_does():
    from micrograd_nn.torch_bridge import to_torch

    rng = np.random.default_rng(5)
    model = cnn(1)
    net = to_torch(model)
    step = CompiledStep(model, F.cross_entropy, exact=False)
    params, net_params = model.parameters(), list(net.parameters())
    for _ in range(3):
        X, y = rng.normal(size=(6, 1, 6, 6)), rng.integers(0, 3, 6)
        model.zero_grad()
        loss, outputs = step(X, y)
        expected = torch.nn.functional.cross_entropy(net(torch.tensor(X)), torch.tensor(y))
        net.zero_grad()
        expected.backward()
        assert near(loss, expected.item(), 10.0)
        expected_grads = [g for q in net_params for g in q.grad.ravel().tolist()]
        assert len(expected_grads) == len(params)
        assert all(near(a, b, 10.0) for a, b in zip(sorted(p.grad for p in params), sorted(expected_grads)))
        for p in params:
            p.data -= 0.1 * p.grad
        with torch.no_grad():
            for q in net_params:
                q -= 0.1 * q.grad


def test_matrix_products_are_asked_for_where_they_exist():
    x, w = Value(2.0), Value(3.0)
    assert mg.compile(x * w, backend="python").exact is True and mg.compile(x * w, backend="numpy").exact is True
    with pytest.raises(ValueError, match="only the numpy backend"):
        mg.compile(x * w, backend="python", exact=False)
    with pytest.raises(TypeError, match="exact must be True or False, got str"):
        mg.compile(x * w, exact="no")
    with pytest.raises(ValueError, match="only the numpy backend"):
        CompiledStep(MLP(2, [1]), F.mse, backend="python", exact=False)
    with pytest.raises(TypeError, match="exact must be True or False, got int"):
        CompiledStep(MLP(2, [1]), F.mse, exact=1)


@pytest.mark.parametrize("nan", [False, True], ids=["numbers", "with a NaN"])
def test_a_wide_max_level_picks_the_first_maximum_as_the_table_does(nan):
    from micrograd_nn import levels

    rng = np.random.default_rng(2)
    x = rng.choice([-1.0, -0.0, 0.0, 0.5, 2.0, math.inf], size=(4, 600))  # ties, zeros of both signs
    if nan:
        x[2, 7] = x[0, 9] = math.nan
    values, first = levels._max_keep(x)
    expected_first = [ops._first_max(column) for column in x.T.tolist()]
    assert first.tolist() == expected_first
    picked = [column[i] for column, i in zip(x.T.tolist(), expected_first)]
    assert np.array_equal(values, picked, equal_nan=True)
    assert np.array_equal(np.signbit(values), np.signbit(picked))
