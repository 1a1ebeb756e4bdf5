"""Bad inputs and edge cases of the engine: grad mode across threads and re-entry, NaN and infinities as PyTorch
propagates them, tiny divisors, numpy inputs, and copies of deep graphs. Each test reproduces a failure a user
could meet, with PyTorch float64 as the reference where it has one."""

import copy
import io
import math
import pickle
import random
import threading

import numpy as np
import pytest
import torch

import micrograd_nn as mg
import micrograd_nn.functional as F
from micrograd_nn import Value, maximum, no_grad
from micrograd_nn.graph import draw_graph

nan, inf = math.nan, math.inf


def same(a: float, b: float) -> bool:
    """Equal, or both NaN."""
    return a == b or (math.isnan(a) and math.isnan(b))


# --- no_grad: per thread, re-entrant, as a decorator with or without parentheses ---


def test_recursive_no_grad_function_restores_recording():
    @no_grad()
    def depth(n):
        return Value(1.0) * 2 if n == 0 else depth(n - 1)

    assert depth(1).children == ()
    assert mg.is_grad_enabled()
    x = Value(3.0)
    (x * x).backward()
    assert x.grad == 6.0


def test_one_instance_entered_twice_restores_recording():
    block = no_grad()
    with block:
        with block:
            assert not mg.is_grad_enabled()
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()


def test_bare_decorator_and_generators_run_without_recording():
    @no_grad
    def double(v):
        return v * 2

    @no_grad()
    def doubles(vs):
        for v in vs:
            yield v * 2, mg.is_grad_enabled()

    x = Value(1.0)
    assert double(x).children == () and double.__name__ == "double"
    outputs = list(doubles([x, x]))
    assert all(out.children == () and not enabled for out, enabled in outputs)
    assert mg.is_grad_enabled() and (x * 2).children == (x,)


def test_no_grad_in_one_thread_does_not_stop_another_from_recording():
    inside, done = threading.Event(), threading.Event()

    def evaluate():
        with no_grad():
            inside.set()
            done.wait(5)

    worker = threading.Thread(target=evaluate)
    worker.start()
    try:
        assert inside.wait(5)
        x = Value(2.0)
        y = x * x + x
        y.backward()
        assert y.children and x.grad == 5.0
    finally:
        done.set()
        worker.join()
    assert mg.is_grad_enabled()


def test_threads_overlapping_no_grad_blocks_leave_recording_on():
    barrier = threading.Barrier(4)

    def work():
        for _ in range(50):
            with no_grad():
                barrier.wait(5)
                assert not mg.is_grad_enabled()
            assert mg.is_grad_enabled()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert mg.is_grad_enabled() and (Value(1.0) + Value(2.0)).children


def test_no_grad_restores_state_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with no_grad():
            Value(1.0) / 0
    assert mg.is_grad_enabled()


# --- NaN and infinities propagate as in PyTorch ---


def torch_grads(fn, xs):
    t = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    out = fn(t)
    out.backward()
    return out.item(), t.grad.tolist()


@pytest.mark.parametrize("x", [nan, 0.0, -1.0, 2.0, inf, -inf])
def test_relu_and_abs_follow_pytorch_at_nan_zero_and_infinity(x):
    for method, theirs in [("relu", torch.relu), ("abs", torch.abs)]:
        v = Value(x)
        out = getattr(v, method)()
        out.backward()
        value, (grad,) = torch_grads(lambda t, f=theirs: f(t[0]), [x])
        assert same(out.data, value) and same(v.grad, grad), method


@pytest.mark.parametrize("xs", [[1.0, nan], [nan, 1.0], [3.0, 1.0], [1.0, inf], [nan, 2.0, 3.0]])
def test_maximum_propagates_nan_and_sends_the_gradient_where_pytorch_does(xs):  # ties: first max (API)
    values = [Value(x) for x in xs]
    out = maximum(values)
    out.backward()
    value, grads = torch_grads(lambda t: t.max(), xs)
    assert same(out.data, value)
    assert [v.grad for v in values] == grads


def test_maximum_of_an_iterator_keeps_every_gradient():
    a, b = Value(1.0), Value(4.0)
    out = maximum(iter([a, b]))
    out.backward()
    assert out.data == 4.0 and (a.grad, b.grad) == (0.0, 1.0)


def test_hinge_with_a_nan_margin_is_nan():
    assert math.isnan(F.multiclass_hinge([Value(1.0), Value(2.0)], 0, margin=nan).data)


def test_nan_input_row_makes_the_loss_nan_not_silently_fine():
    w = Value(0.5)
    loss = F.binary_cross_entropy((w * nan).relu(), 1.0)
    loss.backward()
    assert math.isnan(loss.data) and math.isnan(w.grad)


# --- tiny divisors and powers: no spurious errors, slopes as PyTorch computes them ---


@pytest.mark.parametrize("a, b", [(1.0, 1e-200), (1.0, 1e-160), (-3.0, 1e-155), (1e-300, 1e-10), (2.0, -1e-310)])
def test_division_by_tiny_numbers_matches_pytorch(a, b):
    x, y = Value(a), Value(b)
    out = x / y
    out.backward()
    value, grads = torch_grads(lambda t: t[0] / t[1], [a, b])
    assert out.data == value
    assert x.grad == pytest.approx(grads[0], rel=1e-15) and y.grad == pytest.approx(grads[1], rel=1e-15)


def test_x_over_x_has_gradient_zero_at_tiny_x():
    x = Value(1e-160)
    (x / x).backward()
    assert x.grad == 0.0


@pytest.mark.parametrize("x, k", [(1e-200, -1), (1e-200, -2.0), (1e200, 2), (0.0, 0.5), (-1e-200, -3)])
def test_powers_at_extreme_bases_give_pytorchs_slope_without_naming_other_exponents(x, k):
    v = Value(x)
    try:
        out = v**k
    except OverflowError as err:  # the value itself is too large: the message names what the user wrote
        assert f"** {float(k)}" in str(err)
        return
    out.backward()
    value, (grad,) = torch_grads(lambda t: t[0] ** k, [x])
    assert out.data == value and (v.grad == grad or v.grad == pytest.approx(grad, rel=1e-15))


def test_zero_division_errors_name_the_operands():
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        Value(1.0) / Value(0.0)
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        2.0 / Value(0.0)


# --- inputs: numpy scalars, labels ---


def test_numpy_bools_and_zero_dimensional_arrays_are_numbers():
    assert Value(np.True_).data == 1.0 and Value(True).data == 1.0
    assert Value(np.array(2.5)).data == 2.5 and type(Value(np.float32(1.5)).data) is float
    assert F.mse(np.float32(1), 2.0).data == 1.0
    with pytest.raises(TypeError, match="ndarray"):
        Value(np.array([1.0, 2.0]))


@pytest.mark.parametrize("kwargs, name", [({"label": 5}, "label"), ({"op": None}, "op")])
def test_labels_and_ops_must_be_text(kwargs, name):
    with pytest.raises(TypeError, match=f"{name} must be a str, got"):
        Value(1.0, **kwargs)


def test_a_label_set_after_construction_is_checked_and_a_refused_one_changes_nothing():
    x = Value(1.0, label="x")
    with pytest.raises(TypeError, match="label must be a str, got int: 5"):
        x.label = 5
    with pytest.raises(ValueError, match=r"label '\\ud800' cannot be written as UTF-8.*lone surrogate"):
        x.label = "\ud800"
    assert x.label == "x"
    x.label = "x₁ ∂é"  # any text UTF-8 can write
    out = x * 2.0
    assert mg.compile(out).run() == 2.0 and "x₁ ∂é" in draw_graph(out).source


@pytest.mark.parametrize("kwargs, name", [({"label": "\udfff"}, "label"), ({"op": "sin\ud800"}, "op")])
def test_labels_and_ops_that_utf8_cannot_write_are_refused(kwargs, name):
    # They would crash the SVG, the saved page and the notebook display, which are all UTF-8.
    with pytest.raises(ValueError, match=f"{name} .* cannot be written as UTF-8"):
        Value(1.0, **kwargs)


# --- copies of deep graphs ---


def deep_chain(n: int) -> tuple[Value, Value]:
    x = Value(0.5, label="x")
    y = x
    for i in range(n):
        y = (y * 0.999 + 0.001) if i % 2 else y.tanh()
    return x, y


@pytest.mark.parametrize("copier", [copy.deepcopy, lambda v: pickle.loads(pickle.dumps(v))],
                         ids=["deepcopy", "pickle"])
def test_graphs_100k_deep_copy_and_backprop_identically(copier):
    x, y = deep_chain(100_000)
    clone = copier(y)
    y.backward()
    clone.backward()
    leaves = [n for n in mg.engine.topological_order(clone) if not n.children]
    assert clone is not y and clone.data == y.data
    assert [leaf.grad for leaf in leaves] == [x.grad] and leaves[0] is not x


def test_copies_keep_ops_operands_and_shared_nodes():
    a, b = Value(2.0, label="a"), Value(3.0, label="b")
    shared = a * b
    out = mg.dot([shared, a], [2.0, shared], bias=1.0) + (3 - shared) ** 2
    for clone in (copy.deepcopy(out), pickle.loads(pickle.dumps(out))):
        nodes = mg.engine.topological_order(clone)
        assert [(n.op, n.data, n.local_grads) for n in nodes] == \
            [(n.op, n.data, n.local_grads) for n in mg.engine.topological_order(out)]
        assert all(n.rule is m.rule for n, m in zip(nodes, mg.engine.topological_order(out)))
        dot_node = clone.children[0]
        assert dot_node.operands[1] == 2.0 and dot_node.operands[0] is dot_node.operands[3]


def test_pickling_a_graph_with_its_module_keeps_the_parameters_shared():
    w = Value(2.0, label="w")
    loss = (w * 3.0).tanh()
    loss2, w2 = pickle.loads(pickle.dumps((loss, w)))
    loss2.backward()
    assert w2.grad == pytest.approx(3.0 * (1 - math.tanh(6.0) ** 2))


def test_nan_passes_through_log_and_powers_as_in_pytorch():
    for fn, theirs in [(lambda v: v.log(), torch.log), (lambda v: v ** Value(2.0), lambda t: t ** 2.0),
                       (lambda v: 2.0 ** v, lambda t: 2.0 ** t)]:
        v = Value(nan)
        out = fn(v)
        out.backward()
        value, (grad,) = torch_grads(lambda t, f=theirs: f(t[0]), [nan])
        assert same(out.data, value) and same(v.grad, grad)


def test_pickle_grows_linearly_keeps_leaves_shared_and_leaves_no_state_behind():
    x = Value(2.0)
    h = x * 3
    out = h.tanh()
    out2, x2 = pickle.loads(pickle.dumps((out, x)))
    out2.backward()
    assert x2.grad == pytest.approx(3 * (1 - math.tanh(6.0) ** 2))  # the pickled leaf is the one in the graph
    sizes = [len(pickle.dumps(deep_chain(n)[1])) for n in (2_000, 4_000)]
    assert sizes[1] < 2.2 * sizes[0]
    _, d = deep_chain(5_000)
    pickle.dumps([d * 2.0, d * 3.0])  # two roots sharing a deep graph, then that graph alone
    assert pickle.loads(pickle.dumps(d)).data == d.data


def running_averages(n: int) -> list[Value]:
    """The running means of a chain: each output holds the whole chain below it."""
    y, total, averages = Value(0.5, label="x"), 0.0, []
    for k in range(1, n + 1):
        y = (y * 0.9).tanh() + 0.1
        total = total + y
        averages.append(total / k)
    return averages


def test_pickling_many_outputs_of_one_graph_writes_each_node_once():
    # Each output used to carry a flat copy of its whole graph: 2,000 running means took 360 MB.
    sizes = {n: len(pickle.dumps(running_averages(n))) for n in (1_000, 2_000)}
    assert sizes[2_000] < 2.2 * sizes[1_000] and sizes[2_000] < 1_000_000
    averages = running_averages(300)
    copies = pickle.loads(pickle.dumps(averages))
    assert [a.data for a in copies] == [a.data for a in averages]
    for k in range(1, 300):  # total_k = total_(k-1) + y_k: the same object under both means
        assert copies[k].children[0].children[0] is copies[k - 1].children[0]
    copies[-1].backward()
    averages[-1].backward()
    leaf, copied_leaf = mg.engine.topological_order(averages[-1])[0], mg.engine.topological_order(copies[-1])[0]
    assert copied_leaf.grad == leaf.grad and copied_leaf is not leaf


@pytest.mark.parametrize("seed", range(20))
def test_pickling_any_nodes_of_a_graph_together_keeps_its_shape(seed):
    rng = random.Random(seed)
    nodes = [Value(rng.uniform(0.5, 1.5), label=f"x{i}") for i in range(3)]
    for _ in range(60):
        a, b = rng.choice(nodes), rng.choice(nodes[-6:])
        nodes.append(rng.choice([lambda: a * b, lambda: a + b * 0.5, lambda: (a - b).tanh(),
                                 lambda: mg.dot([a, b], [0.3, b], bias=1.0), lambda: mg.maximum([a, b, 0.7])])())
    picked = rng.sample(nodes, 12)
    copies = pickle.loads(pickle.dumps(picked))
    before, after = (mg.engine.topological_order(mg.sum(roots)) for roots in (picked, copies))
    assert len(before) == len(after)  # every shared node is one node in the copy too

    def shapes(order):  # each node with its children and operands as positions in the order
        index = {id(n): i for i, n in enumerate(order)}
        return [(n.data, n.op, n.label, n.local_grads, [index[id(c)] for c in n.children],
                 [index[id(o)] if isinstance(o, Value) else o for o in n.operands]) for n in order]

    assert shapes(before) == shapes(after)


def test_pickle_keeps_inner_nodes_shared_and_a_pickler_used_twice_refers_back():
    x = Value(2.0)
    h = x * 3
    out = h.tanh()
    out2, h2 = pickle.loads(pickle.dumps((out, h)))
    assert out2.children[0] is h2
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer)
    _, deep = deep_chain(5_000)
    for obj in (deep, deep * 2.0, x):  # one memo across three dumps: later ones refer to the first
        pickler.dump(obj)
    del pickler
    buffer.seek(0)
    unpickler = pickle.Unpickler(buffer)
    first, second, leaf = unpickler.load(), unpickler.load(), unpickler.load()
    assert second.children[0] is first and second.data == deep.data * 2.0 and leaf.data == 2.0
    assert pickle.loads(pickle.dumps(deep * 5.0)).data == deep.data * 5.0  # a new pickler starts afresh


def test_a_pickle_that_fails_part_way_leaves_nothing_behind():
    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("cannot pickle this")

    _, deep = deep_chain(5_000)
    with pytest.raises(RuntimeError, match="cannot pickle this"):
        pickle.dumps([deep * 2.0, Unpicklable()])
    assert pickle.loads(pickle.dumps(deep)).data == deep.data  # no RecursionError: listed afresh


def test_threads_pickling_one_deep_graph_at_once_each_get_all_of_it():
    _, deep = deep_chain(20_000)
    results = [None] * 4

    def dump(i):
        results[i] = pickle.loads(pickle.dumps([deep * float(i), deep]))

    threads = [threading.Thread(target=dump, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r[0].data == deep.data * i and r[0].children[0] is r[1] for i, r in enumerate(results))


def test_deepcopy_of_every_node_of_a_chain_shares_one_copy_of_each():
    x, _ = deep_chain(0)
    nodes = [x]
    for _ in range(3_000):
        nodes.append(nodes[-1] * 1.0001)
    copies = copy.deepcopy(nodes)
    assert all(copies[i + 1].children[0] is copies[i] for i in range(3_000))
    assert copies[-1].data == nodes[-1].data and copies[0] is not x


def test_a_no_grad_generator_receives_throw_and_close_inside_no_grad():
    seen = []

    @no_grad
    def numbers():
        try:
            try:
                yield 1
            except ValueError:
                seen.append(("caught", mg.is_grad_enabled()))
                yield 2
            yield 3
        finally:
            seen.append(("closed", mg.is_grad_enabled()))

    gen = numbers()
    assert next(gen) == 1
    assert gen.throw(ValueError("from the caller")) == 2
    gen.close()
    assert seen == [("caught", False), ("closed", False)] and mg.is_grad_enabled()
