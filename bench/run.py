"""`make bench`: micrograd_nn against micrograd 0.1.0 and a plain-float floor, in one process.

Every timing is the median CPU time of REPEATS interleaved runs after a warm-up, with Python's garbage
collector left on. Prints a table of medians and ratios and writes bench/results.json.
"""

from __future__ import annotations

import os

# numpy's BLAS on one thread, as PyTorch is below (torch.set_num_threads(1)): set before numpy loads. Its idle
# worker threads would otherwise spin after numpy's import and count in this process's CPU time.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import gc
import json
import platform
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import micrograd
from micrograd.engine import Value as MValue
from micrograd.nn import MLP as MMLP

import micrograd_nn as mg
import micrograd_nn.functional as F
from micrograd_nn import Value
from micrograd_nn.data import moons
from micrograd_nn.engine import topological_order
from micrograd_nn.nn import MLP, Conv2d, Flatten, Layer, MaxPool2d, ReLU, Sequential
from micrograd_nn.optim import Adam
from micrograd_nn.tape import CompiledStep

REPEATS = 7
BLOCK = 20  # steps in a row per timing, where a replay is timed against PyTorch (see median_times)
LR = 0.05
ALPHA = 1e-4
results: dict = {"python": sys.version.split()[0], "machine": platform.machine(), "repeats": REPEATS}


def median_times(runs: dict, repeats: int = REPEATS, collect: bool = True, block: int = 1) -> dict[str, float]:
    """Run each callable once to warm up, then `repeats` rounds interleaved; median CPU seconds per name.

    Before each timed call, an untimed gc.collect() clears the garbage the previous call left (micrograd's
    graphs are cyclic), so no implementation pays for another's; the collector stays on while timing.
    `collect=False` leaves that out, for rounds where nothing makes cyclic garbage: a full collection walks
    every object and leaves the caches cold, which costs a sub-millisecond step as much as the step itself.
    `block`: each timing is `block` calls in a row, divided by `block` — a training loop's steady state, where
    one step follows another. Single calls interleaved with another library's each start from caches the
    other left cold, which for sub-millisecond steps costs as much as the step (PyTorch's CNN step below:
    0.18 ms in a loop, 0.5 ms interleaved).
    CPU time (time.process_time) varies less than wall time on a shared virtual machine.
    """
    for fn in runs.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            if collect:
                gc.collect()
            started = time.process_time()
            for _ in range(block):
                fn()
            times[name].append((time.process_time() - started) / block)
    return {name: statistics.median(ts) for name, ts in times.items()}


def row(name: str, seconds: float, note: str = "") -> None:
    print(f"  {name:<44s} {seconds * 1e3:10.2f} ms  {note}")


# --- 1. the micrograd demo training step: MLP 2-16-16-1, 100 moons, hinge loss + L2, full-batch SGD ---


def demo_data():
    X, y = moons(100, noise=0.1, seed=0)
    return X.tolist(), (2 * y - 1).tolist()


def initial_values(n: int) -> list[float]:
    rng = random.Random(1337)
    return [rng.uniform(-1, 1) for _ in range(n)]


def sgd_step(model, params, loss):
    """The same update in both libraries: clear, backprop, p -= lr·grad."""
    model.zero_grad()
    loss.backward()
    for p in params:
        p.data -= LR * p.grad
    return loss.data


def ours_step(model, params, X, y):
    scores = [model(x) for x in X]
    data_loss = mg.sum((1 - yi * s).relu() for yi, s in zip(y, scores)) * (1.0 / len(X))
    return sgd_step(model, params, data_loss + ALPHA * F.l2(params))


def micrograd_step(model, params, X, y):
    inputs = [list(map(MValue, x)) for x in X]
    scores = list(map(model, inputs))
    losses = [(1 + -yi * s).relu() for yi, s in zip(y, scores)]
    return sgd_step(model, params, sum(losses) * (1.0 / len(losses)) + ALPHA * sum(p * p for p in params))


class FloatMLP:
    """The same network and step written with plain floats: the arithmetic floor."""

    def __init__(self, values: list[float], sizes: list[int]):
        self.layers = []  # per layer: list of (weights, bias) per neuron, in micrograd's parameter order
        it = iter(values)
        for nin, nout in zip(sizes, sizes[1:]):
            self.layers.append([([next(it) for _ in range(nin)], next(it)) for _ in range(nout)])

    def values(self) -> list[float]:
        return [v for layer in self.layers for w, b in layer for v in (*w, b)]

    def step(self, X, y):
        layers = self.layers
        grads = [[([0.0] * len(w), [0.0]) for w, _ in layer] for layer in layers]
        n = len(X)
        data_loss = 0.0
        for x, t in zip(X, y):
            activations = [x]
            for k, layer in enumerate(layers):
                inputs = activations[-1]
                out = []
                for w, b in layer:
                    z = b
                    for wi, xi in zip(w, inputs):
                        z += wi * xi
                    out.append(z if k == len(layers) - 1 else (z if z > 0 else 0.0))
                activations.append(out)
            margin = 1 - t * activations[-1][0]
            active = margin > 0
            data_loss += margin if active else 0.0
            upstream = [-t / n if active else 0.0]
            for k in range(len(layers) - 1, -1, -1):
                inputs = activations[k]
                below = [0.0] * len(inputs)
                for (w, _), (gw, gb), g in zip(layers[k], grads[k], upstream):
                    gb[0] += g
                    for j, xj in enumerate(inputs):
                        gw[j] += g * xj
                        below[j] += g * w[j]
                upstream = [g if a > 0 else 0.0 for g, a in zip(below, inputs)]
        reg = 0.0
        for layer, layer_grads in zip(layers, grads):
            for i, ((w, b), (gw, gb)) in enumerate(zip(layer, layer_grads)):
                reg += b * b + sum(wi * wi for wi in w)
                new_w = [wi - LR * (g + 2 * ALPHA * wi) for wi, g in zip(w, gw)]
                layer[i] = (new_w, b - LR * (gb[0] + 2 * ALPHA * b))
        return data_loss / n + ALPHA * reg


def demo_loss(model, params, X, y):
    """The demo step's loss graph, as ours_step builds it (without the backward pass and the update)."""
    scores = [model(x) for x in X]
    return mg.sum((1 - yi * s).relu() for yi, s in zip(y, scores)) * (1.0 / len(X)) + ALPHA * F.l2(params)


def replayed_step(tape, model, params):
    """The same SGD step, with the forward and backward pass replayed from a compiled tape."""
    for p in params:  # model.zero_grad() walks the modules each time; PyTorch's step below sets p.grad = None
        p.grad = 0.0
    loss = tape.run()
    for p in params:
        p.data -= LR * p.grad
    return loss


def close(a: float, b: float, rel: float = 1e-12) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b))


def bench_training_step():
    print("1. demo training step: MLP 2-16-16-1, 100 two-moons points, hinge loss + 1e-4·Σp², SGD")
    X, y = demo_data()
    sizes = [2, 16, 16, 1]
    ours, theirs = MLP(2, [16, 16, 1]), MMLP(2, [16, 16, 1])
    ours_params, their_params = ours.parameters(), theirs.parameters()
    values = initial_values(len(ours_params))
    for p, q, v in zip(ours_params, their_params, values):
        p.data = q.data = v
    floor = FloatMLP(values, sizes)
    # the three implementations agree on the loss and the updated parameters
    losses = (ours_step(ours, ours_params, X, y), micrograd_step(theirs, their_params, X, y), floor.step(X, y))
    assert max(losses) - min(losses) < 1e-9, losses
    assert max(abs(p.data - v) for p, v in zip(ours_params, floor.values())) < 1e-9
    assert max(abs(p.data - q.data) for p, q in zip(ours_params, their_params)) < 1e-9
    t = median_times({
        "ours": lambda: ours_step(ours, ours_params, X, y),
        "micrograd": lambda: micrograd_step(theirs, their_params, X, y),
        "floats": lambda: floor.step(X, y),
    })
    row("micrograd_nn", t["ours"])
    row("micrograd 0.1.0", t["micrograd"], f"ours is {t['micrograd'] / t['ours']:.1f}x faster (target >= 20x)")
    row("plain Python floats (floor)", t["floats"], f"ours is {t['ours'] / t['floats']:.2f}x the floor (target <= 3x)")
    # record the step once; a replay gives the interpreted step's loss, gradients and update (1e-12 relative).
    # Timed in a second round: micrograd's time depends on how often Python's collector runs a full pass, which
    # depends on what else is alive, so each ratio compares timings taken side by side.
    replayed, level_model = MLP(2, [16, 16, 1]), MLP(2, [16, 16, 1])  # one for each compiled replay
    replayed_params, level_params = replayed.parameters(), level_model.parameters()
    for p, r, s in zip(ours_params, replayed_params, level_params):
        r.data = s.data = p.data
    expected_loss = ours_step(ours, ours_params, X, y)
    started = time.process_time()
    graph = demo_loss(replayed, replayed_params, X, y)
    recorded = time.process_time()
    tape = mg.compile(graph, backend="python")
    compiled = time.process_time()
    level_tape = mg.compile(demo_loss(level_model, level_params, X, y), backend="numpy")
    planned = time.process_time()
    del graph
    for one, model, params in ((tape, replayed, replayed_params), (level_tape, level_model, level_params)):
        assert close(replayed_step(one, model, params), expected_loss)
        assert all(close(r.grad, p.grad) for r, p in zip(params, ours_params))
        assert all(close(r.data, p.data) for r, p in zip(params, ours_params))
    replay_t = median_times({
        "replayed": lambda: replayed_step(tape, replayed, replayed_params),
        "replayed_numpy": lambda: replayed_step(level_tape, level_model, level_params),
        "micrograd": lambda: micrograd_step(theirs, their_params, X, y),
        "floats": lambda: floor.step(X, y),
    })
    row("micrograd 0.1.0 (second round)", replay_t["micrograd"])
    row("plain Python floats (second round)", replay_t["floats"])
    row("micrograd_nn, replayed (straight-line Python)", replay_t["replayed"],
        f"{replay_t['micrograd'] / replay_t['replayed']:.0f}x faster than micrograd (target >= 100x), "
        f"{replay_t['replayed'] / replay_t['floats']:.2f}x the floor (target <= 1.5x)")
    row("micrograd_nn, replayed level by level (numpy)", replay_t["replayed_numpy"],
        f"{replay_t['micrograd'] / replay_t['replayed_numpy']:.0f}x faster than micrograd, "
        f"{replay_t['replayed_numpy'] / replay_t['floats']:.2f}x the floor")
    lines = tape.source.count("\n") + 1
    print(f"  recording it: {(recorded - started) * 1e3:.0f} ms to build the graph, "
          f"{(compiled - recorded) * 1e3:.0f} ms to compile {lines} lines "
          f"(paid back after {(compiled - started) / (t['ours'] - replay_t['replayed']):.0f} steps), "
          f"{(planned - compiled) * 1e3:.0f} ms to record and plan the numpy levels")
    results["training_step"] = {"seconds": t, "speedup_vs_micrograd": t["micrograd"] / t["ours"],
                                "ratio_to_float_floor": t["ours"] / t["floats"], "replay_seconds": replay_t,
                                "replayed_speedup_vs_micrograd": replay_t["micrograd"] / replay_t["replayed"],
                                "replayed_ratio_to_float_floor": replay_t["replayed"] / replay_t["floats"],
                                "replayed_numpy_speedup_vs_micrograd":
                                    replay_t["micrograd"] / replay_t["replayed_numpy"],
                                "replayed_numpy_ratio_to_float_floor": replay_t["replayed_numpy"] / replay_t["floats"],
                                "record_seconds": recorded - started, "compile_seconds": compiled - recorded,
                                "numpy_record_and_plan_seconds": planned - compiled, "tape_lines": lines}


class TorchMLP:
    """The demo step in PyTorch eager mode (float64, one thread): the same weights, loss and SGD update."""

    def __init__(self, values: list[float], sizes: list[int], X, y):
        import torch

        torch.set_num_threads(1)
        self.torch = torch
        it = iter(values)
        self.params = []
        for nin, nout in zip(sizes, sizes[1:]):  # micrograd's order: each neuron's weights, then its bias
            rows = [[next(it) for _ in range(nin + 1)] for _ in range(nout)]
            self.params += [torch.tensor([r[:-1] for r in rows], dtype=torch.float64, requires_grad=True),
                            torch.tensor([r[-1] for r in rows], dtype=torch.float64, requires_grad=True)]
        self.X, self.y = torch.tensor(X, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)

    def step(self) -> float:
        torch, params = self.torch, self.params
        h = self.X
        for k in range(0, len(params), 2):
            h = h @ params[k].T + params[k + 1]
            if k < len(params) - 2:
                h = torch.relu(h)
        loss = torch.relu(1 - self.y * h[:, 0]).sum() * (1.0 / len(self.y)) + ALPHA * sum((p * p).sum() for p in params)
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= LR * p.grad
        return loss.item()


def recorded(values: list[float], X, y, backend: str, exact: bool = True):
    """A model with these weights, its demo-step graph compiled: (model, params, tape, build s, compile s)."""
    model = MLP(2, [16, 16, 1])
    params = model.parameters()
    for p, v in zip(params, values):
        p.data = v
    started = time.process_time()
    graph = demo_loss(model, params, X, y)
    built = time.process_time()
    tape = mg.compile(graph, backend=backend, exact=exact)
    return model, params, tape, built - started, time.process_time() - built


def losses_of(step, into: list):
    """step, with each loss it returns appended to `into` (to check every step against the others after)."""
    def run():
        into.append(step())
    return run


def bench_replay_vs_torch():
    print("\n1b. the demo step replayed, against PyTorch eager (float64, one thread); every step's loss checked")
    X, y = demo_data()
    values = initial_values(337)
    python_model, python_params, tape, build_s, compile_s = recorded(values, X, y, "python")
    numpy_model, numpy_params, level_tape, numpy_build_s, plan_s = recorded(values, X, y, "numpy")
    blas_model, blas_params, blas_tape, _, blas_plan_s = recorded(values, X, y, "numpy", exact=False)
    # Each replay is timed against PyTorch in a round of its own, as a training loop runs one of them, in runs
    # of BLOCK steps: between them, the other (the Python tape is 73,001 lines of bytecode) or a 20 ms
    # interpreted step would leave the caches cold. Every step's loss is kept and checked after.
    t, losses = {}, {}
    for name, tape_, model, params in (("numpy", level_tape, numpy_model, numpy_params),
                                       ("numpy, exact=False", blas_tape, blas_model, blas_params),
                                       ("python", tape, python_model, python_params)):
        net = TorchMLP(values, [2, 16, 16, 1], X, y)
        ours, theirs = [], []
        round_t = median_times({
            name: losses_of(lambda tape_=tape_, model=model, params=params: replayed_step(tape_, model, params),
                            ours),
            "torch": losses_of(net.step, theirs),
        }, repeats=5 * REPEATS, collect=False, block=BLOCK)
        t[name], t[f"torch ({name} round)"], losses[name] = round_t[name], round_t["torch"], ours
        assert all(close(a, b) for a, b in zip(ours, theirs, strict=True)), "PyTorch differs"
    # the exact replays are the interpreted step bit for bit; PyTorch, and BLAS with exact=False, add in
    # another order (checked above)
    interpreted = MLP(2, [16, 16, 1])
    interpreted_params = interpreted.parameters()
    for p, v in zip(interpreted_params, values):
        p.data = v
    expected = [ours_step(interpreted, interpreted_params, X, y) for _ in losses["numpy"]]
    assert losses["python"] == losses["numpy"] == expected, "replays differ from backward()"
    for name, label in (("numpy", "replayed level by level (numpy)"),
                        ("numpy, exact=False", "the same, layers as matrix products (exact=False)"),
                        ("python", "replayed, straight-line Python")):
        row(f"PyTorch eager ({name} round)", t[f"torch ({name} round)"])
        row(f"micrograd_nn, {label}", t[name],
            f"{t[name] / t[f'torch ({name} round)']:.2f}x PyTorch eager (target <= 1x)")
    interpreted_s = results["training_step"]["seconds"]["ours"]
    print(f"  recording: the graph {build_s * 1e3:.0f} ms; compiling it {compile_s * 1e3:.0f} ms (python, "
          f"{tape.source.count(chr(10)) + 1} lines), {plan_s * 1e3:.0f} ms (numpy) (target <= 50 ms); "
          f"the numpy recording is paid back after "
          f"{(numpy_build_s + plan_s) / (interpreted_s - t['numpy']):.1f} interpreted steps")
    results["replay_vs_torch"] = {"seconds": t, "steps_checked": len(losses["numpy"]), "block": BLOCK,
                                  "graph_seconds": build_s, "python_compile_seconds": compile_s,
                                  "numpy_plan_seconds": plan_s, "numpy_exact_false_plan_seconds": blas_plan_s,
                                  "numpy_over_torch": t["numpy"] / t["torch (numpy round)"],
                                  "numpy_exact_false_over_torch":
                                      t["numpy, exact=False"] / t["torch (numpy, exact=False round)"],
                                  "python_over_torch": t["python"] / t["torch (python round)"]}


def old_backward_loop(root: Value) -> None:
    """Value.backward() as it was before the branch for infinite and NaN gradients, for the A/B below."""
    order = topological_order(root)
    for node in order:
        if node._prev:
            node.grad = 0.0
    root.grad += 1.0
    for node in reversed(order):
        node_grad = node.grad
        children = node._prev
        if len(children) == 2:
            a, b = children
            local_a, local_b = node.local_grads
            a.grad += local_a * node_grad
            b.grad += local_b * node_grad
        elif len(children) == 1:
            children[0].grad += node.local_grads[0] * node_grad
        else:
            for child, local_grad in zip(children, node.local_grads):
                child.grad += local_grad * node_grad


def bench_backward_branch():
    print("\n1c. backward() with and without its branch for infinite and NaN gradients (relu, max send 0 there)")
    X, y = demo_data()
    model = MLP(2, [16, 16, 1])
    params = model.parameters()
    for p, v in zip(params, initial_values(len(params))):
        p.data = v
    root = demo_loss(model, params, X, y)
    grads = {}
    for name, backward in (("with", Value.backward), ("without", old_backward_loop)):
        model.zero_grad()
        backward(root)
        grads[name] = [p.grad for p in params]
    assert grads["with"] == grads["without"]
    t = median_times({"with": lambda: Value.backward(root), "without": lambda: old_backward_loop(root)},
                     repeats=5 * REPEATS, collect=False)
    row("backward() on the demo step's graph, with the branch", t["with"],
        f"{t['with'] / t['without'] - 1:+.1%} against the loop without it ({t['without'] * 1e3:.2f} ms)")
    results["backward_branch"] = {"seconds": t, "cost": t["with"] / t["without"] - 1}


# --- 2. graph build and backward throughput on the same ~200k-node graph ---


def build_binary_graph(V, params: list, X):
    """The demo network's forward pass written with binary ops only, so both libraries make the same nodes."""
    total = V(0.0)
    for x in X:
        acts = [V(v) for v in x]
        start = 0
        for nin, nout, last in ((2, 16, False), (16, 16, False), (16, 1, True)):
            out = []
            for _ in range(nout):
                z = params[start + nin]
                for j in range(nin):
                    z = z + params[start + j] * acts[j]
                start += nin + 1
                out.append(z if last else z.relu())
            acts = out
        total = total + acts[0] * acts[0]
    return total


def bench_throughput():
    print("\n2. graph build and backward throughput (same graph of binary ops in both libraries)")
    X, _ = demo_data()
    X = X * 3  # 300 samples
    values = initial_values(337)
    ours_params, their_params = [Value(v) for v in values], [MValue(v) for v in values]
    n_nodes = len(topological_order(build_binary_graph(Value, ours_params, X)))
    holder: dict = {}

    def build(name, V, params):
        return lambda: holder.__setitem__(name, build_binary_graph(V, params, X))

    build_t = median_times({"ours": build("ours", Value, ours_params),
                            "micrograd": build("micrograd", MValue, their_params)}, repeats=5)
    roots = {"ours": build_binary_graph(Value, ours_params, X),
             "micrograd": build_binary_graph(MValue, their_params, X)}
    roots["ours"].backward()
    roots["micrograd"].backward()
    assert all(abs(p.grad - q.grad) <= 1e-9 * max(1.0, abs(p.grad)) for p, q in zip(ours_params, their_params))
    backward_t = median_times({name: root.backward for name, root in roots.items()}, repeats=5)
    for phase, t, target in (("build", build_t, 5), ("backward", backward_t, 3)):
        ours_rate, their_rate = n_nodes / t["ours"], n_nodes / t["micrograd"]
        print(f"  {phase:<9s} {n_nodes} nodes: micrograd_nn {ours_rate / 1e6:6.2f} M nodes/s, "
              f"micrograd {their_rate / 1e6:6.2f} M nodes/s -> {ours_rate / their_rate:.1f}x (target >= {target}x)")
        results[f"{phase}_throughput"] = {"nodes": n_nodes, "ours_nodes_per_s": ours_rate,
                                          "micrograd_nodes_per_s": their_rate, "ratio": ours_rate / their_rate}


# --- 3. a 10^6-node chain ---


def chain(V, n: int):
    x = V(0.5)
    y = x
    for _ in range(n):
        y = y + 1e-6
    return x, y


def bench_deep_chain():
    print("\n3. a 10^6-node chain, y = y + 1e-6, at the default recursion limit "
          f"({sys.getrecursionlimit()})")
    started = time.process_time()
    x, y = chain(Value, 10**6)
    y.backward()
    ours_t = time.process_time() - started
    assert x.grad == 1.0
    del x, y
    row("micrograd_nn forward + backward", ours_t, "(target < 5 s)")
    x, y = chain(MValue, 10**6)
    try:
        y.backward()
        outcome = "completed"
    except RecursionError:
        outcome = "failed: RecursionError"
    del x, y
    gc.collect()
    print(f"  micrograd 0.1.0: {outcome}")
    results["deep_chain"] = {"ours_seconds": ours_t, "micrograd": outcome}


# --- 4. memory per node, and freeing ---


def two_operand_graph(V, n: int):
    a, b = V(1.0001), V(0.0001)
    y = V(1.0)
    for _ in range(n // 2):
        y = y * a + b  # two nodes, each with two Value children, in both libraries
    return y


def bytes_per_node(V, n: int) -> tuple[float, int]:
    gc.collect()
    gc.disable()
    try:
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        root = two_operand_graph(V, n)
        used = tracemalloc.get_traced_memory()[0] - base
        del root
        left = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
    finally:
        gc.enable()
        gc.collect()
    return used / n, left


def bench_memory():
    print("\n4. memory per node (tracemalloc, 10^6-node graph) and freeing with the cycle collector off")
    n = 10**6
    ours, ours_left = bytes_per_node(Value, n)
    theirs, their_left = bytes_per_node(MValue, n)
    print(f"  micrograd_nn {ours:6.1f} B/node, micrograd {theirs:6.1f} B/node -> {ours / theirs:.2f} "
          f"(target <= 0.33)")
    freed = ours_left < 0.001 * ours * n
    print(f"  after `del root`: micrograd_nn keeps {ours_left} bytes of {ours * n / 1e6:.0f} MB "
          f"({'back to baseline' if freed else 'NOT freed'}); micrograd keeps {their_left / 1e6:.0f} MB "
          "(its closures form reference cycles that only the collector frees)")
    results["memory"] = {"ours_freed_by_refcounting": freed,
                         "ours_bytes_per_node": ours, "micrograd_bytes_per_node": theirs, "ratio": ours / theirs,
                         "ours_bytes_left_after_del": ours_left, "micrograd_bytes_left_after_del": their_left}


# --- 5. ours only: a small CNN training step and an Adam step ---


def bench_ours_only():
    print("\n5. micrograd_nn only, so regressions show")
    rng = random.Random(0)
    images = [[[[rng.uniform(-1, 1) for _ in range(8)] for _ in range(8)]] for _ in range(16)]
    labels = [rng.randrange(2) for _ in images]
    cnn = Sequential(Conv2d(1, 4, 3, rng=rng), ReLU(), MaxPool2d(2), Flatten(), Layer(36, 2, activation="linear",
                                                                                      rng=rng))
    optimizer = Adam(cnn.parameters(), lr=0.01)
    mlp = MLP(2, [16, 16, 1], rng=rng)
    adam = Adam(mlp.parameters(), lr=0.01)

    def cnn_step():
        loss = mg.sum(F.cross_entropy(cnn(x), t) for x, t in zip(images, labels)) / len(images)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def compiled_cnn_step(backend):
        step = CompiledStep(cnn, F.cross_entropy, backend=backend)

        def run():
            optimizer.zero_grad()
            step(images, labels)
            optimizer.step()

        return run

    t = median_times({"cnn": cnn_step, "compiled_cnn": compiled_cnn_step("python"),
                      "compiled_cnn_numpy": compiled_cnn_step("numpy"), "adam": adam.step})
    row("CNN step: 16 images 8x8, Conv2d(1,4,3)+pool+Layer", t["cnn"])
    row("the same step replayed (CompiledStep, python)", t["compiled_cnn"],
        f"{t['cnn'] / t['compiled_cnn']:.1f}x faster")
    row("the same step replayed (CompiledStep, numpy)", t["compiled_cnn_numpy"],
        f"{t['cnn'] / t['compiled_cnn_numpy']:.1f}x faster")
    row(f"Adam step over {len(adam.params)} parameters", t["adam"])
    results["ours_only"] = {"cnn_step_seconds": t["cnn"], "compiled_cnn_step_seconds": t["compiled_cnn"],
                            "compiled_cnn_numpy_step_seconds": t["compiled_cnn_numpy"],
                            "adam_step_seconds": t["adam"]}


def cnn_vs_torch(name: str, images: list, labels: list, channels: int, classes: int, repeats: int) -> dict:
    """One CNN's training step (SGD): recorded by CompiledStep, replayed, and in PyTorch eager with the same
    weights, in a round of its own for each of exact=True and exact=False; every step's loss checked against
    PyTorch's. Each side gets the batch as its own arrays, made once (numpy's; PyTorch's tensors)."""
    import numpy as np
    import torch

    from micrograd_nn.torch_bridge import to_torch

    torch.set_num_threads(1)
    xb, yb = np.asarray(images, dtype=float), np.asarray(labels)
    tx, ty = torch.tensor(images, dtype=torch.float64), torch.tensor(labels)
    t, record_s, steps_checked = {}, {}, 0
    for exact in (True, False):
        rng = random.Random(0)
        cnn = Sequential(Conv2d(1, channels, 3, rng=rng), ReLU(), MaxPool2d(2), Flatten(),
                         Layer(channels * 9, classes, activation="linear", rng=rng))
        params = cnn.parameters()
        net = to_torch(cnn)
        net_params = list(net.parameters())
        step = CompiledStep(cnn, F.cross_entropy, backend="numpy", exact=exact)

        def ours(step=step, params=params):
            for p in params:
                p.grad = 0.0
            loss, _ = step(xb, yb)
            for p in params:
                p.data -= LR * p.grad
            return loss

        def theirs(net=net, net_params=net_params):
            for p in net_params:
                p.grad = None
            loss = torch.nn.functional.cross_entropy(net(tx), ty)
            loss.backward()
            with torch.no_grad():
                for p in net_params:
                    p -= LR * p.grad
            return loss.item()

        label = "exact" if exact else "exact=False"
        started = time.process_time()
        losses = {"ours": [ours()], "torch": [theirs()]}  # the first call records (and runs the first step)
        record_s[label] = time.process_time() - started
        round_t = median_times({"ours": losses_of(ours, losses["ours"]),
                                "torch": losses_of(theirs, losses["torch"])},
                               repeats=repeats, collect=False, block=BLOCK)
        assert all(close(a, b) for a, b in zip(losses["ours"], losses["torch"], strict=True)), name
        t[label], t[f"torch ({label} round)"] = round_t["ours"], round_t["torch"]
        steps_checked += len(losses["ours"])
        n_nodes = len(step.tape(len(images))._values)
    for label, what in (("exact", "replayed (CompiledStep, numpy)"),
                        ("exact=False", "layers as matrix products (exact=False)")):
        row(f"{name}: PyTorch eager ({label} round)", t[f"torch ({label} round)"])
        row(f"{name}: {what}", t[label], f"{t[label] / t[f'torch ({label} round)']:.2f}x PyTorch eager "
            "(target <= 1x)")
    print(f"  recording it (graph of {n_nodes} values and numbers, then the plan): {record_s['exact'] * 1e3:.0f} ms; "
          f"with exact=False {record_s['exact=False'] * 1e3:.0f} ms (target <= 500 ms)")
    return {"seconds": t, "record_seconds": record_s, "block": BLOCK,
            "over_torch": t["exact"] / t["torch (exact round)"],
            "exact_false_over_torch": t["exact=False"] / t["torch (exact=False round)"],
            "steps_checked": steps_checked}


def bench_cnn_vs_torch():
    print("\n5b. CNN steps replayed against PyTorch eager (float64, one thread, SGD); every step's loss checked")
    rng = random.Random(0)
    small = [[[[rng.uniform(-1, 1) for _ in range(8)] for _ in range(8)]] for _ in range(16)]
    digits = [[[[rng.uniform(0, 1) for _ in range(8)] for _ in range(8)]] for _ in range(32)]
    results["cnn_vs_torch"] = {
        "bench CNN (16 images, Conv2d(1,4,3))": cnn_vs_torch("16 images, Conv2d(1,4,3)+pool+Layer(36,2)", small,
                                                             [rng.randrange(2) for _ in small], 4, 2, 3 * REPEATS),
        "notebook 08 CNN batch (32 images, Conv2d(1,12,3))": cnn_vs_torch(
            "32 images, Conv2d(1,12,3)+pool+Layer(108,10)", digits, [rng.randrange(10) for _ in digits], 12, 10,
            2 * REPEATS),
    }


def bench_step_memory():
    """bench/step_memory.py, when it is there: peak memory of the step-through frames of a long chain."""
    if not Path(__file__).with_name("step_memory.py").exists():
        return
    import step_memory  # bench/ is on sys.path when this file runs as a script

    print("\n6. step-through frames")
    results["step_memory"] = step_memory.main()
    if results["step_memory"] is not None:
        print(f"  {results['step_memory']}")


# --- 7. live training: the same run watched (curves, regions, the traced graph sent every redraw) and not ---


def bench_live():
    """fit against mg.live(...).step on the same run, with a widget whose messages are turned into JSON as a
    comm would; redraws are throttled as in Jupyter (at most 10 a second, under 15 % of the training time)."""
    try:
        import anywidget  # noqa: F401
    except ImportError:
        print("\n7. live training: skipped, anywidget is not installed (pip install 'micrograd_nn[live]')")
        return
    from micrograd_nn.train import fit

    print("\n7. live training: MLP 2-16-16-1, 100 moons, 30 full-batch Adam steps")
    X, y = moons(100, noise=0.1, seed=0)
    steps, times, redraws = 30, {"fit": [], "live": [], "layout": []}, []

    def fresh():
        mg.manual_seed(0)
        model = MLP(2, [16, 16, 1])
        return model, Adam(model.parameters(), lr=0.05)

    for _ in range(REPEATS):  # interleaved; only the training is timed, the layout (once per traced sample) apart
        model, optimizer = fresh()
        gc.collect()
        started = time.process_time()
        fit(model, X, y, F.binary_cross_entropy, optimizer, epochs=steps, batch_size=len(X), verbose=False)
        times["fit"].append(time.process_time() - started)
        model, optimizer = fresh()
        view = mg.live(model, X, y, F.binary_cross_entropy, optimizer)
        started = time.process_time()
        widget = view.widget()
        times["layout"].append(time.process_time() - started)
        sent = []
        widget.send = lambda message, sent=sent: sent.append(json.dumps(message))
        gc.collect()
        started, wall = time.process_time(), time.perf_counter()
        view.step(steps)
        times["live"].append(time.process_time() - started)
        redraws.append((len(sent), time.perf_counter() - wall, sum(map(len, sent)) / len(sent)))
    t = {name: statistics.median(ts) for name, ts in times.items()}
    count, seconds, size = sorted(redraws)[len(redraws) // 2]
    one = median_times({"redraw": view._send_update})["redraw"]
    row(f"fit, {steps} steps", t["fit"])
    row(f"the same {steps} steps watched live", t["live"], f"{t['live'] / t['fit'] - 1:+.1%} time")
    row("one redraw (numbers + traced graph, as JSON)", one,
        f"{1 / one:.0f} redraws/s possible; {count} sent in {seconds:.2f} s, {size / 1e3:.0f} kB each")
    row("laying out the traced graph (once per sample)", t["layout"], "Python's part; Graphviz runs apart")
    results["live"] = {"fit_seconds": t["fit"], "live_seconds": t["live"], "slowdown": t["live"] / t["fit"] - 1,
                       "redraw_seconds": one, "redraws_sent": count, "run_wall_seconds": seconds,
                       "message_bytes": size, "layout_seconds": t["layout"]}


def main() -> None:
    print(f"micrograd_nn {mg.__version__} vs micrograd {getattr(micrograd, '__version__', '0.1.0')}, "
          f"Python {results['python']}, median of {REPEATS} interleaved runs, GC on\n")
    for section in (bench_training_step, bench_replay_vs_torch, bench_backward_branch, bench_throughput,
                    bench_deep_chain, bench_memory, bench_ours_only, bench_cnn_vs_torch,
                    bench_step_memory, bench_live):
        gc.collect()  # start each section clean: micrograd's cyclic garbage would otherwise slow the next one
        section()
    out = Path(__file__).with_name("results.json")
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
