"""Notebooks are committed without outputs, and the course notes' numbers they reproduce are asserted in them.
(The notebooks themselves run under `pytest --nbmake`, which `make test` includes.)"""

import json
from pathlib import Path

import pytest

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
