"""State dicts on disk: mg.save / mg.load, bit-exact floats, resumed training, and files that are not ours."""

import errno
import json
import math
import os
import random
import stat
import struct
import subprocess
import sys

import numpy as np
import pytest

import micrograd_nn as mg
import micrograd_nn.functional as F
from micrograd_nn.data import moons
from micrograd_nn.nn import MLP, Conv1d, Flatten, Layer, ReLU, Sequential
from micrograd_nn.optim import SGD, Adam


def bits(values):
    """Floats as their 8 bytes: equal bits, not just equal values (-0.0 ≠ 0.0, NaN = NaN)."""
    return [struct.pack("<d", v) for v in values]


def test_save_writes_readable_json_with_a_header(tmp_path):
    model = MLP(2, [3, 1], rng=random.Random(0))
    path = tmp_path / "model.json"
    mg.save(model, path)
    text = path.read_text()
    document = json.loads(text)
    assert document["format"] == "micrograd_nn.state_dict" and document["version"] == 1
    assert document["state"] == model.state_dict()
    assert list(document["state"]) == list(model.state_dict())
    lines = text.splitlines()
    for name, value in model.state_dict().items():
        assert f'    "{name}": {value!r},' in lines or f'    "{name}": {value!r}' in lines
    assert mg.load(path) == model.state_dict()


def test_floats_round_trip_bit_for_bit(tmp_path):
    tricky = [0.1, 1 / 3, -0.0, 0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -1e-300,
              0.30000000000000004, math.pi, math.nextafter(1.0, 2.0)]
    state = {f"p{i}": v for i, v in enumerate(tricky)}
    mg.save(state, tmp_path / "s.json")
    loaded = mg.load(tmp_path / "s.json")
    assert bits(loaded.values()) == bits(tricky)
    rng = random.Random(1)
    many = {str(i): rng.uniform(-1, 1) * 10 ** rng.randint(-30, 30) for i in range(2000)}
    mg.save(many, tmp_path / "many.json")
    assert bits(mg.load(tmp_path / "many.json").values()) == bits(many.values())


def test_nan_and_infinity_round_trip(tmp_path):
    mg.save({"a": math.nan, "b": math.inf, "c": -math.inf}, tmp_path / "s.json")
    assert "NaN" in (tmp_path / "s.json").read_text()
    loaded = mg.load(tmp_path / "s.json")
    assert math.isnan(loaded["a"]) and loaded["b"] == math.inf and loaded["c"] == -math.inf


def test_numpy_numbers_are_saved_as_plain_numbers(tmp_path):
    mg.save({"a": np.float64(0.1), "b": np.float32(0.5), "c": np.int64(3)}, tmp_path / "s.json")
    assert mg.load(tmp_path / "s.json") == {"a": 0.1, "b": 0.5, "c": 3}


def test_a_saved_model_reloads_to_bit_identical_outputs(tmp_path):
    model = Sequential(Conv1d(1, 2, 3, padding=1, rng=random.Random(0)), ReLU(), Flatten(),
                       Layer(10, 3, activation="tanh", rng=random.Random(1)))
    mg.save(model, tmp_path / "cnn.json")
    fresh = Sequential(Conv1d(1, 2, 3, padding=1), ReLU(), Flatten(), Layer(10, 3, activation="tanh"))
    fresh.load_state_dict(mg.load(tmp_path / "cnn.json"))
    x = [[0.3, -1.2, 0.8, 2.0, -0.5]]
    assert bits(v.data for v in fresh(x)) == bits(v.data for v in model(x))
    assert bits(fresh.state_dict().values()) == bits(model.state_dict().values())


def test_loading_into_a_different_architecture_changes_nothing(tmp_path):
    mg.save(MLP(2, [4, 1]), tmp_path / "m.json")
    model = MLP(2, [3, 1])
    before = model.state_dict()
    with pytest.raises(ValueError, match=r"unexpected keys .layers\.0\.neurons\.3\.w\.0."):
        model.load_state_dict(mg.load(tmp_path / "m.json"))
    assert bits(model.state_dict().values()) == bits(before.values())


def train(model, opt, X, y, steps):
    losses = []
    for step in range(steps):
        rows = range(step * 8 % len(X), step * 8 % len(X) + 8)
        loss = mg.sum(F.binary_cross_entropy(model(X[i]), float(y[i])) for i in rows) / 8
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.data)
    return losses


@pytest.mark.parametrize("make", [lambda p: Adam(p, lr=0.05, betas=(0.3, 0.99), weight_decay=1e-3),
                                  lambda p: SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-3)],
                         ids=["adam", "sgd"])
def test_training_resumes_bit_for_bit_from_files(tmp_path, make):
    X, y = moons(40, seed=3)
    X = X.tolist()
    model = MLP(2, [8, 8, 1], rng=random.Random(0))
    opt = make(model.parameters())
    straight = train(model, opt, X, y, 10)

    first = MLP(2, [8, 8, 1], rng=random.Random(0))
    first_opt = make(first.parameters())
    resumed = train(first, first_opt, X, y, 5)
    mg.save(first, tmp_path / "model.json")
    mg.save(first_opt.state_dict(), tmp_path / "opt.json")

    again = MLP(2, [8, 8, 1], rng=random.Random(99))  # freshly built, other weights
    again_opt = make(again.parameters())
    again.load_state_dict(mg.load(tmp_path / "model.json"))
    again_opt.load_state_dict(mg.load(tmp_path / "opt.json"))
    resumed += train(again, again_opt, X, y, 5)
    assert bits(resumed) == bits(straight)
    assert bits(again.state_dict().values()) == bits(model.state_dict().values())
    assert again_opt.state_dict() == opt.state_dict()


def test_optimizer_state_dicts_hold_plain_numbers():
    model = MLP(2, [2, 1], rng=random.Random(0))
    adam = Adam(model.parameters(), lr=0.01)
    assert adam.state_dict() == {"type": "Adam", "lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-8,
                                 "weight_decay": 0.0, "t": 0, "m": [0.0] * 9, "v": [0.0] * 9}
    sgd = SGD(model.parameters(), lr=0.1)
    assert sgd.state_dict() == {"type": "SGD", "lr": 0.1, "momentum": 0.0, "weight_decay": 0.0, "velocity": None}


def _adam_state(model):
    opt = Adam(model.parameters(), lr=0.01)
    model([1.0, 2.0]).backward()
    opt.step()
    return opt.state_dict()


@pytest.mark.parametrize("change,error,match", [
    (lambda s: s.update(type="SGD"), ValueError, "'SGD', not 'Adam'"),
    (lambda s: s.pop("v"), ValueError, r"missing keys \['v'\]"),
    (lambda s: s.update(extra=1), ValueError, r"unexpected keys \['extra'\]"),
    (lambda s: s.update(m=s["m"][:-1]), ValueError, "'m' must be a list of 9 numbers"),
    (lambda s: s["v"].__setitem__(4, "x"), TypeError, r"v\[4\]"),
    (lambda s: s.update(t=1.5), ValueError, "step count"),
    (lambda s: s.update(lr=-1.0), ValueError, "lr"),
    (lambda s: s.update(betas=[0.9, 1.5]), ValueError, r"betas\[1\]"),
    (lambda s: s["v"].__setitem__(2, -1e-3), ValueError, r"v\[2\] must be >= 0"),  # √v: a math domain error
    (lambda s: s["v"].__setitem__(2, -math.inf), ValueError, r"v\[2\] must be >= 0"),
    (lambda s: s["m"].__setitem__(3, 10**400), OverflowError, r"m\[3\] is too large for a float.*10\^400"),
    (lambda s: s.update(t=10**400), ValueError, r"step count.*10\^400"),
    (lambda s: s.update(t=-1), ValueError, r"step count.*got -1$"),
    (lambda s: s.update(eps=10**400), OverflowError, "eps is too large"),
])
def test_optimizer_load_state_dict_checks_everything_first(change, error, match):
    model = MLP(2, [2, 1], rng=random.Random(0))
    opt = Adam(model.parameters(), lr=0.02)
    state = _adam_state(MLP(2, [2, 1], rng=random.Random(1)))
    change(state)
    before = opt.state_dict()
    with pytest.raises(error, match=match):
        opt.load_state_dict(state)
    assert opt.state_dict() == before


def test_adam_loads_non_finite_moments_a_diverged_run_produced_and_steps_as_torch():
    # NaN and +inf reach the moments from NaN/inf gradients (as in torch.optim.Adam), so a saved diverged
    # run loads; only what no gradient can produce (v < 0) is refused.
    torch = pytest.importorskip("torch")
    model = MLP(2, [2, 1], rng=random.Random(0))
    opt = Adam(model.parameters(), lr=0.01)
    state = opt.state_dict() | {"t": 3, "m": [math.nan, math.inf, -math.inf] + [0.1] * 6,
                                "v": [math.nan, math.inf, 0.5] + [0.2] * 6}
    opt.load_state_dict(state)
    params = [torch.tensor(p.data, dtype=torch.float64, requires_grad=True) for p in model.parameters()]
    reference = torch.optim.Adam(params, lr=0.01)
    for i, p in enumerate(params):
        reference.state[p] = {"step": torch.tensor(3.0), "exp_avg": torch.tensor(state["m"][i], dtype=torch.float64),
                              "exp_avg_sq": torch.tensor(state["v"][i], dtype=torch.float64)}
    for p, q in zip(model.parameters(), params):
        p.grad = 0.25
        q.grad = torch.tensor(0.25, dtype=torch.float64)
    opt.step()
    reference.step()
    ours, theirs = [p.data for p in model.parameters()], [q.item() for q in params]
    assert [math.isnan(a) for a in ours] == [math.isnan(b) for b in theirs] == [True] * 3 + [False] * 6
    assert ours[3:] == pytest.approx(theirs[3:], rel=1e-12)


def test_a_huge_int_in_a_module_state_is_refused_naming_its_key_and_changes_nothing():
    model = MLP(2, [2, 1], rng=random.Random(0))
    before = model.state_dict()
    state = before | {"layers.1.neurons.0.b": 10**400}
    with pytest.raises(OverflowError, match=r"'layers.1.neurons.0.b' is too large for a float.*10\^400"):
        model.load_state_dict(state)
    assert model.state_dict() == before
    with pytest.raises(OverflowError, match=r"state\['big'\] is too large"):
        mg.save({"big": -(10**309)}, "never-written.json")


def test_sgd_load_state_dict_checks_the_buffer_length():
    opt = SGD(MLP(2, [2, 1]).parameters(), lr=0.1, momentum=0.9)
    state = opt.state_dict() | {"velocity": [0.0] * 4, "lr": 0.5}
    with pytest.raises(ValueError, match="'velocity' must be a list of 9 numbers"):
        opt.load_state_dict(state)
    assert opt.lr == 0.1
    with pytest.raises(TypeError, match="dict"):
        opt.load_state_dict([("lr", 0.1)])


@pytest.mark.parametrize("text,match", [
    ('{"format": "micrograd_nn.state_dict", "version": 1, "state": {"a": 0.5', "not a micrograd_nn state file"),
    ("", "not a micrograd_nn state file"),
    ("import os; os.system('echo hi')", "not a micrograd_nn state file"),
    ("cos\nsystem\n(S'echo hi'\ntR.", "not a micrograd_nn state file"),  # a pickle
    ('{"a": 0.5}', '"format": "micrograd_nn.state_dict"'),
    ("[1, 2]", '"format": "micrograd_nn.state_dict"'),
    ('{"format": "micrograd_nn.state_dict", "version": 2, "state": {}}', "unsupported version 2"),
    ('{"format": "micrograd_nn.state_dict", "version": 1, "state": [0.5]}', '"state" must be a JSON object'),
    ('{"format": "micrograd_nn.state_dict", "version": 1, "state": {"a": true}}', r"state\['a'\].*bool"),
    ('{"format": "micrograd_nn.state_dict", "version": true, "state": {}}', "unsupported version True"),
    ('{"format": "micrograd_nn.state_dict", "version": 1.0, "state": {}}', "unsupported version 1.0"),
    ('{"format": "micrograd_nn.state_dict", "version": 1, "state": {"w": 1' + "0" * 400 + "}}",
     r"state\['w'\] is too large for a float.*10\^400"),
    ('{"format": "micrograd_nn.state_dict", "version": 1, "state": {"a": 1, "a": 2}}', r"duplicate keys \['a'\]"),
    ('{"format": "micrograd_nn.state_dict", "version": 1, "state": ' + "[" * 100_000 + "]" * 100_000 + "}",
     "not a micrograd_nn state file"),
])
def test_load_rejects_files_that_are_not_state_files(tmp_path, text, match):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=match) as error:
        mg.load(path)
    assert "bad.json" in str(error.value)


def test_load_rejects_bytes_that_are_not_text(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"\x80\x04\x95\xff\xfe")
    with pytest.raises(ValueError, match="weights.bin"):
        mg.load(path)


@pytest.mark.parametrize("obj,match", [
    ([1.0, 2.0], "Module, an optimiser or a dict"),
    ({"a": True}, r"state\['a'\].*bool"),
    ({"a": object()}, r"state\['a'\].*object"),
    ({1: 0.5}, "key 1 must be a str"),
    ({"a": [0.5, {"b": "x", "c": 1j}]}, r"state\['a'\]\[1\]\['c'\].*complex"),
])
def test_save_rejects_what_json_cannot_hold_and_writes_nothing(tmp_path, obj, match):
    path = tmp_path / "out.json"
    with pytest.raises(TypeError, match=match):
        mg.save(obj, path)
    assert not path.exists()


# --- save replaces a file whole: a write that fails leaves the old checkpoint as it was ---

SAVE_UNDER_A_SIZE_LIMIT = """
import resource, signal, sys
import micrograd_nn as mg
from micrograd_nn.nn import MLP
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), resource.RLIM_INFINITY))
try:
    mg.save(MLP(2, [16, 16, 1]), sys.argv[1])
except OSError as error:
    print(type(error).__name__, error.errno)
"""


@pytest.mark.skipif(sys.platform == "win32",
                    reason="RLIMIT_FSIZE is POSIX only")
def test_a_save_that_fails_mid_write_leaves_the_old_checkpoint_and_no_temporary_file(tmp_path):
    path = tmp_path / "checkpoint.json"
    old = MLP(2, [2, 1], rng=random.Random(0))
    mg.save(old, path)
    before = path.read_bytes()
    limit = len(before) + 100  # the old file fits; the 2-16-16-1 model's 337 numbers do not
    result = subprocess.run([sys.executable, "-c", SAVE_UNDER_A_SIZE_LIMIT, str(path), str(limit)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["OSError", str(errno.EFBIG)]
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.json"]
    restored = MLP(2, [2, 1])
    restored.load_state_dict(mg.load(path))
    assert restored.state_dict() == old.state_dict()


def test_save_keeps_the_old_files_permissions_and_writes_through_a_symlink(tmp_path):
    path = tmp_path / "model.json"
    path.write_text("old")
    path.chmod(0o640)
    link = tmp_path / "latest.json"
    link.symlink_to(path.name)
    model = MLP(2, [2, 1], rng=random.Random(0))
    mg.save(model, link)
    assert link.is_symlink() and stat.S_IMODE(path.stat().st_mode) == 0o640
    assert mg.load(path) == model.state_dict()
    fresh = tmp_path / "fresh.json"
    mg.save(model, fresh)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.json", "latest.json", "model.json"]
