"""Without numpy (as in Pyodide's core): the engine, modules, optimisers, training, the ledger and the step-through
page all work; numpy is imported only for array inputs, moons/blobs, plots and the numpy replay."""

import json
import random
import subprocess
import sys
import textwrap

import pytest

from micrograd_nn.data import permutation
from micrograd_nn.nn import MLP
from micrograd_nn.optim import SGD
from micrograd_nn.train import fit

# Runs first in the child: any `import numpy` (or numpy.anything) raises ImportError, as where it is not installed.
BLOCK_NUMPY = """
import sys

class NoNumpy:
    def find_spec(self, name, path=None, target=None):
        if name == "numpy" or name.startswith("numpy."):
            raise ImportError(f"No module named {name!r} (blocked for this test)")
        return None

sys.meta_path.insert(0, NoNumpy())
for name in [n for n in sys.modules if n == "numpy" or n.startswith("numpy.")]:
    del sys.modules[name]
"""

XOR = ([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [-1.0, 1.0, 1.0, -1.0])


def run_without_numpy(code: str):
    """Run `code` in a fresh interpreter where numpy cannot be imported; returns the JSON it printed last."""
    script = BLOCK_NUMPY + textwrap.dedent(code) + "\nassert 'numpy' not in sys.modules, 'numpy was imported'\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_blocker_blocks_numpy():
    done = subprocess.run([sys.executable, "-c", BLOCK_NUMPY + "import numpy"], capture_output=True, text=True)
    assert done.returncode != 0 and "blocked for this test" in done.stderr


def test_karpathy_neuron_and_its_ledger_without_numpy():
    result = run_without_numpy("""
        import html, json
        import micrograd_nn as mg
        from micrograd_nn.demo import karpathy_neuron
        from micrograd_nn.engine import topological_order
        from micrograd_nn.graph import backward_steps, practice, show_steps

        o = karpathy_neuron()
        leaf = {v.label: v for v in topological_order(o)}
        x1, x2, w1, w2, b = (leaf[name] for name in ("x1", "x2", "w1", "w2", "b"))
        ledger = [frame.text() for frame in backward_steps(o)]
        page = show_steps(o).html()
        sheet = practice(o)
        marks = sheet.check({q: 0.0 for q in sheet.questions})
        print(json.dumps({"o": o.data, "grads": [v.grad for v in (x1, w1, x2, w2, b)], "ledger": ledger,
                          "page": len(page), "has_ledger": "x1 is a leaf" in html.unescape(page),
                          "marks": [m.status if hasattr(m, "status") else "right wrong".split()[not m.right]
                                    for m in marks],
                          "second": mg.grad(mg.grad(o, [x1], create_graph=True)[0], [x1])[0].data}))
    """)
    assert abs(result["o"] - 0.7071067811865476) < 1e-12
    assert [round(g, 12) for g in result["grads"]] == [-1.5, 1.0, 0.5, 0.0, 0.5]
    tanh_step = result["ledger"][0]  # the ledger as the seeds write it: the tanh edge, its rule and numbers
    assert "1 − o²" in tanh_step and tanh_step.rstrip().endswith("add2.grad = 0.5")
    assert result["page"] > 0 and result["has_ledger"]
    assert "wrong" in result["marks"]
    # d²o/dx1² = −2·o·(1 − o²)·w1² = −2 · 0.7071 · 0.5 · 9
    assert abs(result["second"] - (-2 * 0.7071067811865476 * 0.5 * 9)) < 1e-9


def test_training_without_numpy_matches_training_with_it():
    """fit takes the same steps with or without numpy, shuffled and split too: the same losses, bit for bit."""
    code = f"""
        import json, random
        from micrograd_nn.nn import MLP
        from micrograd_nn.optim import SGD
        from micrograd_nn.train import fit

        X, y = {XOR!r}
        model = MLP(2, [4, 1], activation="tanh", rng=random.Random(0))
        history = fit(model, X, y, lambda out, t: (out - t) ** 2, SGD(model.parameters(), lr=0.1), epochs=5,
                      batch_size=2, shuffle=False, verbose=False)
        shuffled = MLP(2, [4, 1], activation="tanh", rng=random.Random(0))
        again = fit(shuffled, X, y, lambda out, t: (out - t) ** 2, SGD(shuffled.parameters(), lr=0.1), epochs=3,
                    batch_size=2, seed=1, validation_split=0.25, verbose=False)
        print(json.dumps({{"loss": history.loss, "accuracy": history.accuracy, "shuffled": again.loss,
                          "val": again.val_loss}}))
    """
    result = run_without_numpy(code)
    model = MLP(2, [4, 1], activation="tanh", rng=random.Random(0))
    history = fit(model, *XOR, lambda out, t: (out - t) ** 2, SGD(model.parameters(), lr=0.1), epochs=5,
                  batch_size=2, shuffle=False, verbose=False)
    assert result["loss"] == history.loss and result["accuracy"] == history.accuracy
    assert history.loss[-1] < history.loss[0]
    shuffled = MLP(2, [4, 1], activation="tanh", rng=random.Random(0))
    again = fit(shuffled, *XOR, lambda out, t: (out - t) ** 2, SGD(shuffled.parameters(), lr=0.1), epochs=3,
                batch_size=2, seed=1, validation_split=0.25, verbose=False)
    assert result["shuffled"] == again.loss and result["val"] == again.val_loss


def test_what_needs_numpy_says_so_without_it():
    result = run_without_numpy("""
        import json
        messages = []
        for code in ("from micrograd_nn.data import moons; moons(10)", "import micrograd_nn.plot",
                     "from micrograd_nn.train import History; History(loss=[1.0]).plot()"):
            try:
                exec(code)
            except ImportError as error:
                messages.append(str(error))
        print(json.dumps(messages))
    """)
    assert result == ["moons returns numpy arrays and needs numpy: pip install numpy",
                      "micrograd_nn.plot needs numpy and matplotlib: pip install 'micrograd_nn[plot]'",
                      "micrograd_nn.plot needs numpy and matplotlib: pip install 'micrograd_nn[plot]'"]


@pytest.mark.parametrize("seed", [0, 1, 2, 7, 41, 2**31 - 1, 2**32, 2**40 + 7, 2**64 - 1, 2**64, 2**127 + 5])
def test_shuffles_are_numpys_without_numpy(seed):
    """pcg64.permutation is numpy's default_rng(seed).permutation(n), computed in Python."""
    import numpy as np

    for n in (0, 1, 2, 3, 10, 20, 257, 1000):
        assert permutation(n, seed) == np.random.default_rng(seed).permutation(n).tolist()


def test_a_shuffle_refuses_a_negative_seed_and_draws_a_fresh_one_for_none():
    with pytest.raises(ValueError, match="non-negative"):
        permutation(5, -1)
    assert sorted(permutation(50, None)) == list(range(50))
    assert len({tuple(permutation(50, None)) for _ in range(5)}) > 1


def test_numpy_arrays_are_still_accepted_where_numpy_is_installed():
    import numpy as np

    from micrograd_nn.data import batches
    from micrograd_nn.nn import Flatten

    model = MLP(2, [3, 1], rng=random.Random(1))
    assert model(np.array([0.5, -1.0])).data == model([0.5, -1.0]).data
    assert Flatten()(np.arange(6.0).reshape(2, 3)) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    X, y = np.array([[1, 2], [3, 4], [5, 6]]), np.array([0, 1, 1])
    from_arrays = list(batches(X, y, batch_size=2, seed=0))
    assert from_arrays == list(batches(X.tolist(), y.tolist(), batch_size=2, seed=0))
    rows, labels = from_arrays[0]
    assert all(type(v) is float for row in rows for v in row) and all(type(t) is int for t in labels)
