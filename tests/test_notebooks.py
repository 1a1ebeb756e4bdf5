"""Notebooks are committed without outputs, and the course notes' numbers they reproduce are asserted in them.
(The notebooks themselves run under `pytest --nbmake`, which `make test` includes.)"""

import importlib.util
import json
import math
import re
from pathlib import Path

import pytest

from micrograd_nn.exercises import EXERCISES, SOLUTIONS_VARIABLE, check

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))

# Numbers printed in the course notes that each notebook must check in an assert statement.
PRINTED_NUMBERS = {
    "00_tour": ["-1.5", "0.5"],
    "01_chain_rule_and_gradient_descent": ["7.0", "4.0", "0.04", "-1.6", "-1.28", "1.6", "1.28", "(-4.0, 6.0)",
                                           "w2.grad == 2 * (w2_start + 3)"],
    "02_logistic_and_softmax_regression": ["0.25", "== 19", "0.949", "0.610", "1.203", "0.105", "0.950", "0.611",
                                           "1.204", "[0.9, 0.8, 0.7]", "[-1.4, -1.2]", "6.699", "1.901", "-6.803",
                                           "0.992", "0.008", "[0.09, 0.245, 0.665]", "[0.0, 0.0, 1.0]",
                                           "accuracy == 1.0"],
    "03_mlp_backprop": ["[5.0, 2.0, 5.0]", "0.993", "0.880", "0.881", "0.0142", "0.0144", "-0.119"],
    "04_linear_classifiers_and_losses": ["606600", "[5.6, 6.4, -4.6]", "0.8", "24.6", "8.47", "8.5", "26.6",
                                         "0.31", "0.69", "!= 0.39"],
    "05_cnn": ["[0, 2, 0, 4]", "[[0, 2, 0], [4, -1, 3], [-2, 3, 1]]", "[[9.5, 6.2], [10.0, 5.2]]", "409600",
               "(5, 5)", "== 21", "(N - m + 1, N - m + 1)", "224 // 2 == 112"],
    "06_step_through": ["last.grads[p] == p.grad", "n_big == 807"],
    "07_higher_order": ["[0.09, 0.245, 0.665]", "6.699", "1.901", "-6.803", "0.992", "0.008",
                        "(7.0, 4.0, 2.0, 0.0, 3.0)"],
    "08_digits": [],  # scikit-learn's digits: no number from the course notes
    "09_save_and_share": [],  # a model of its own: no number from the course notes
    "10_forward_and_reverse": ["-1.5", "0.5"],  # Karpathy's neuron, as in 00_tour
}


def cells(path):
    return json.loads(path.read_text())["cells"]


def test_every_notebook_is_listed():
    assert [p.stem for p in NOTEBOOKS] == sorted(PRINTED_NUMBERS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_without_outputs(path):
    for cell in cells(path):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name} has outputs: run nbstripout"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_printed_numbers_are_asserted(path):
    asserts = [line for cell in cells(path) if cell["cell_type"] == "code"
               for line in "".join(cell["source"]).splitlines() if line.lstrip().startswith("assert")]
    text = "\n".join(asserts)
    missing = [number for number in PRINTED_NUMBERS[path.stem] if number not in text]
    assert not missing, f"{path.name} does not assert {missing}"


# ---- exercises: `check(name, answer)` in the notebooks, solutions injected under test ----

SOLUTIONS_FILE = Path(__file__).parent / "notebook_solutions.py"
CHECK_CALL = re.compile(r"""\bcheck\(\s*["']([a-z0-9_]+)["']""")


def solutions():
    spec = importlib.util.spec_from_file_location("notebook_solutions", SOLUTIONS_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SOLUTIONS


def exercise_cells():
    """(notebook, exercise name, source of the first cell that checks it), for every exercise in the notebooks."""
    found = {}
    for path in NOTEBOOKS:
        for cell in cells(path):
            source = "".join(cell["source"])
            if cell["cell_type"] == "code":
                for name in CHECK_CALL.findall(source):
                    found.setdefault(name, (path.stem, source))
    return found


def test_every_exercise_has_a_solution_it_marks_right():
    answers = solutions()
    assert sorted(answers) == sorted(EXERCISES)
    for name, task in EXERCISES.items():
        assert task.mistake(answers[name]) is None, name


def test_every_exercise_is_in_a_notebook_and_ships_unanswered():
    found = exercise_cells()
    assert sorted(found) == sorted(EXERCISES)
    for name, (notebook, source) in found.items():
        assert "..." in source, f"{notebook}: the exercise {name!r} ships with an answer filled in"
    by_notebook = {notebook for notebook, _ in found.values()}
    assert {"00_tour", "01_chain_rule_and_gradient_descent", "02_logistic_and_softmax_regression",
            "03_mlp_backprop", "04_linear_classifiers_and_losses", "05_cnn", "07_higher_order"} <= by_notebook


def test_check_asks_for_an_answer_while_it_is_still_dots(monkeypatch, capsys):
    monkeypatch.delenv(SOLUTIONS_VARIABLE, raising=False)
    assert check("dl_dyhat", ...) is None
    assert "replace ... with your answer" in capsys.readouterr().out
    assert check("neuron_gradients", {"x1": -1.5, "w1": ..., "x2": 0.5, "w2": 0.0, "b": 0.5}) is None
    out = capsys.readouterr().out
    assert "d o/d w1: replace ..." in out and "x1" not in out.replace("x1w1", "")


def test_check_tells_right_from_wrong_with_a_hint_and_never_the_answer(monkeypatch, capsys):
    monkeypatch.delenv(SOLUTIONS_VARIABLE, raising=False)
    y_hat = 1 / (1 + math.exp(-2))
    assert check("dl_dyhat", y_hat - 1) is True
    assert check("dl_dyhat", 1 - y_hat) is False   # Xu's sign slip (eq. 85)
    out = capsys.readouterr().out
    assert "eq. 85" in out and "0.119" not in out.split("not yet")[1]
    assert check("neuron_gradients", {"x1": -1.5, "w1": 2.0, "x2": 0.5, "w2": 0.0, "b": 0.5}) is False
    assert "1 − o² is missing" in capsys.readouterr().out
    assert check("conv1d", [0, 2, 0, 5]) is False and "eq. 127" in capsys.readouterr().out
    assert check("which_way_w", "increase") is False and check("which_way_w", "decrease") is True
    with pytest.raises(ValueError, match="no exercise named"):
        check("no_such_exercise", 1.0)


def test_an_injected_solution_that_is_wrong_fails_the_run(monkeypatch, tmp_path):
    wrong = tmp_path / "solutions.py"
    wrong.write_text("SOLUTIONS = {'lion_hinge': 0.8}\n")
    monkeypatch.setenv(SOLUTIONS_VARIABLE, str(wrong))
    with pytest.raises(AssertionError, match="perceptron loss"):
        check("lion_hinge", ...)
    monkeypatch.setenv(SOLUTIONS_VARIABLE, str(SOLUTIONS_FILE))
    assert check("lion_hinge", ...) is True


def test_check_takes_numpy_answers(monkeypatch, capsys):
    import numpy as np

    monkeypatch.delenv(SOLUTIONS_VARIABLE, raising=False)
    assert check("conv1d", np.array([0.0, 2.0, 0.0, 4.0])) is True
    assert check("dl_dyhat", np.float64(1 / (1 + math.exp(-2)) - 1)) is True
    assert check("where_are_p_and_q", (np.array([1.0, 0.0]), [0.7311, 0.2689])) is True
