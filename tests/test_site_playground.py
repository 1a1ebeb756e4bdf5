"""micrograd_nn.playground, the Python the browser site runs: the seeds' examples give the seeds' numbers, bad input
gives the command line's own `error: …` message, and practice marks answers."""

import ast
import json
import math

import pytest

from micrograd_nn import playground
from micrograd_nn.__main__ import main


def answer(expression, values):
    return json.loads(playground.run(expression, values))


def example(title):
    return next((e, v) for t, e, v in playground.EXAMPLES if t == title)


def sigmoid(z):
    return 1 / (1 + math.exp(-z))


def test_karpathys_neuron():
    result = answer(*example("Karpathy's neuron"))
    assert result["out"] == "0.7071"
    assert result["grads"] == {"x1": "-1.5", "x2": "0.5", "w1": "1", "w2": "0", "b": "0.5"}
    assert len(result["payload"]["frames"]) == 10 and result["ledger"].startswith("step 0: out = tanh(add2)")


def test_the_seeds_examples_give_the_seeds_numbers():
    xu = answer(*example("Xu's 3-3-1 network"))
    assert xu["out"] == "0.007105" and float(xu["out"]) == pytest.approx(0.5 * (1 - sigmoid(2)) ** 2, rel=1e-3)
    assert xu["grads"]["U2"] == "-0.105"  # ∂ℓ/∂U₂ = (ŷ − y)·a₂ = (σ(2) − 1)·σ(2)
    z = [0.31 * -0.1 + 3.95 * 1.4 + 1.2, 7.07 * -0.1 - 0.23 * 1.4 + 2.93, -6.27 * -0.1 - 2.35 * 1.4 - 4.14]
    assert [round(v, 3) for v in z] == [6.699, 1.901, -6.803]  # Celebi's scores for the first point
    celebi = answer(*example("Celebi's softmax point"))
    assert float(celebi["out"]) == pytest.approx(-math.log(math.exp(z[0]) / sum(map(math.exp, z))), rel=1e-3)
    conv = answer(*example("a small convolution"))  # [1, 0, −1, 2, 1, 2] ⊗ [1, 0, 1] = [0, 2, 0, 4], summed
    assert conv["out"] == "6" and [conv["grads"][g] for g in ("g1", "g2", "g3")] == ["2", "2", "4"]


@pytest.mark.parametrize("expression, values", [
    ("x*", "x=1"),
    ("x*z", "x=1"),
    ("log(x)", "x=-1"),
    ("x/y", "x=1, y=0"),
    ("+".join(["x"] * 1500), "x=1"),
    ("-" * 2000 + "x", "x=1"),  # counted before parsing: the browser's stack is smaller than CPython's
    ("x" * 10_001, ""),
    ("__import__('os')", ""),
    ("x", "x=two"),
])
def test_bad_input_gives_the_command_lines_message(expression, values, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the command would write x.dot here, were the input good
    error = answer(expression, values)["error"]
    assert main(["graph", expression, "--set", *values.replace(",", " ").split(), "-o", "x.dot"]) == 2
    assert error == capsys.readouterr().err.strip()


@pytest.mark.parametrize("expression", ["tanh(x1*w1 + x2*w2 + b)", "x - -2.5e3*exp(y)/log(3)", "-(-x)**2",
                                        "+".join(["x"] * 499), "**".join(["x"] * 900), "relu(abs(x)) / +y"])
def test_the_count_before_parsing_is_the_command_lines_count_after_parsing(expression):
    assert playground._size(expression) == sum(isinstance(n, ast.expr) for n in ast.walk(ast.parse(expression)))


def test_practice_marks_right_wrong_and_unanswered():
    answer(*example("Karpathy's neuron"))
    sheet = json.loads(playground.practice_sheet())
    assert set(sheet["questions"]) >= {"x1", "w1", "x2", "w2", "b"} and sheet["dot"].startswith("digraph")
    marks = json.loads(playground.check(json.dumps({"x1": "−1.5", "w1": "1", "b": "0.25", "x2": " "})))["marks"]
    status = {mark["question"]: mark["status"] for mark in marks}
    assert (status["x1"], status["w1"], status["b"], status["x2"]) == ("right", "right", "wrong", "unanswered")
    not_a_number = json.loads(playground.check(json.dumps({"x1": "minus one"})))
    assert not_a_number == {"error": "error: x1: 'minus one' is not a number"}
