"""Practice sheets: right to 4 significant digits, wrong with a hint naming the slip, unanswered left open, the
answers hidden until asked for, every kind of real number accepted and anything else refused."""

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from micrograd_nn import Value
from micrograd_nn.graph import drawing, render
from micrograd_nn.graph.practice import agrees, practice
from micrograd_nn.nn import MLP


def neuron():
    """Karpathy's neuron: o = tanh(x1·w1 + x2·w2 + b) = 0.7071; do/dx1 = −1.5, do/dw1 = 1, do/dx2 = 0.5, do/db = 0.5."""
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    n = x1 * w1 + x2 * w2 + b
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    return o


def by_question(marks):
    return {m.question: m for m in marks}


def test_right_wrong_and_unanswered():
    sheet = practice(neuron(), nodes=["x1", "w1", "x2", "w2", "b"])
    marks = by_question(sheet.check({"x1": -1.5, "w1": 2.0, "x2": 0.5}))
    assert [marks[q].status for q in sheet.questions] == ["right", "wrong", "right", "unanswered", "unanswered"]
    assert marks["x1"].right and not marks["w1"].right and not marks["w2"].right
    assert marks["w2"].given is None and marks["w2"].hint is None
    drawn = sheet.graph().source
    # two right (and the legend), one wrong (and the legend); the unanswered stay white with their "?"
    assert drawn.count(drawing.RIGHT) == 2 + 1 and drawn.count(drawing.WRONG) == 1 + 1
    assert drawn.count("grad         ? ") == 2


def test_right_means_equal_to_four_significant_digits():
    assert agrees(-1.5004, -1.5) and agrees(-1.50049, -1.5) and agrees(0.7071, math.sqrt(0.5))
    assert not agrees(-1.5015, -1.5) and not agrees(-1.501, -1.5) and not agrees(0.7072, math.sqrt(0.5))
    assert agrees(1.235e-07, 1.23456e-07) and not agrees(1.234e-07, 1.23456e-07)
    assert agrees(0.0, 0.0) and agrees(1e-13, 0.0) and not agrees(1e-4, 0.0)
    assert agrees(math.nan, math.nan) and not agrees(1.0, math.nan) and not agrees(math.nan, 1.0)
    assert agrees(math.inf, math.inf) and not agrees(-math.inf, math.inf) and not agrees(1e308, math.inf)
    sheet = practice(neuron(), nodes=["x1"])
    assert [m.status for m in sheet.check({"x1": -1.5015})] == ["wrong"]
    assert [m.status for m in sheet.check({"x1": -1.5004})] == ["right"]


def test_hints_name_the_slip():
    sheet = practice(neuron(), nodes=["x1", "w1", "x2", "b"])
    marks = by_question(sheet.check({"x1": 1.5, "w1": 2.0, "x2": 0.3, "b": 6.881}))
    assert marks["x1"].hint == "the sign is flipped"
    # do/dw1 = x1 · (1 − o²) = 2 · 0.5; forgetting tanh's factor gives x1 = 2
    assert "tanh" in marks["w1"].hint and "1 − o²" in marks["w1"].hint
    assert marks["b"].hint == "that is b's value (its data), not its gradient"
    assert marks["x2"].hint is None  # 0.3 is no recognisable slip


def test_a_path_left_out():
    a = Value(3.0, label="a")
    b = a * a
    b.label = "b"
    c = b + a  # dc/da = 2a + 1 = 7 along three edges: a*a's two operands (3 each) and the sum (1)
    c.label = "c"
    sheet = practice(c, nodes=["a"])
    (mark,) = sheet.check({"a": 4.0})  # 7 − 3: one operand of a * a left out
    assert mark.status == "wrong" and "several paths" in mark.hint and "a → b (1st operand)" in mark.hint
    (mark,) = sheet.check({"a": 6.0})  # 7 − 1: the sum's edge left out
    assert "a → c" in mark.hint
    (mark,) = sheet.check({"a": 7})
    assert mark.right


def tanh_of_product():
    """o = tanh(n), n = x·w at x = 2, w = −3: three local derivatives to ask for."""
    x, w = Value(2.0, label="x"), Value(-3.0, label="w")
    n = x * w
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    return o


def test_practice_local_derivatives():
    sheet = practice(tanh_of_product(), hide="local_grads")
    assert sheet.questions == ["n/x", "n/w", "o/n"]
    assert sheet.graph().source.count('label="?"') == 3
    marks = sheet.check({"n/x": -3, "n/w": 2, "o/n": 0.0099})  # 1 − tanh(−6)² = 0.0098660
    assert [m.right for m in marks] == [True, True, False]
    assert marks[2].relative_error == pytest.approx(abs(0.0099 - marks[2].expected) / marks[2].expected)


def test_local_derivative_hints():
    o = tanh_of_product()
    sheet = practice(o, hide="local_grads")
    marks = by_question(sheet.check({"n/x": 2.0, "n/w": -2.0, "o/n": o.data}))
    assert marks["n/x"].hint == "that is x's value (its data), not the local derivative ∂n/∂x"
    assert marks["n/w"].hint == "the sign is flipped"
    assert marks["o/n"].hint == "that is o's value (its data), not the local derivative ∂o/∂n"


def test_expected_numbers_stay_hidden_until_asked_for():
    sheet = practice(neuron(), nodes=["x1", "w1", "x2"])
    marks = by_question(sheet.check({"x1": -1.5, "w1": 2.0}))
    assert "expected=-1.5" in repr(marks["x1"])
    assert "expected" not in repr(marks["w1"]) and "expected" not in repr(marks["x2"])
    rows = {line.split()[0]: line.split() for line in sheet.table().splitlines()[1:-1]}
    assert rows["x1"][1] == "-1.5" and rows["w1"][1] == "?" and rows["x2"][1] == "?"
    assert "1 of 3 right" in str(sheet)
    revealed = {line.split()[0]: line.split() for line in sheet.table(reveal=True).splitlines()[1:-1]}
    assert revealed["w1"][1] == "1" and revealed["x2"][1] == "0.5"
    assert sheet.solutions() == pytest.approx({"x1": -1.5, "w1": 1.0, "x2": 0.5}, rel=1e-12)


def test_solutions_are_what_backward_gives_on_an_mlp():
    model = MLP(2, [3, 1], activation="tanh")
    loss = (model([0.5, -1.0]) - 1.0) ** 2
    sheet = practice(loss, nodes=model.parameters())
    assert all(p.grad == 0.0 for p in model.parameters())  # computed on the side
    loss.backward()
    assert list(sheet.solutions().values()) == [p.grad for p in model.parameters()]
    marks = sheet.check({q: p.grad for q, p in zip(sheet.questions, model.parameters())})
    assert all(m.right for m in marks)
    layer = practice(loss, nodes=model.parameters(), parameters=model, notation="layer")
    assert layer.questions[:3] == ["W[1]₀,₀", "W[1]₀,₁", "b[1]₀"]


@pytest.mark.parametrize("answer", [Fraction(-3, 2), Decimal("-1.5"), np.float64(-1.5), np.float32(-1.5),
                                    np.int64(-1) * 1.5, -1.5, Fraction(-15, 10)])
def test_any_real_number_is_an_answer(answer):
    sheet = practice(neuron(), nodes=["x1"])
    assert [m.status for m in sheet.check({"x1": answer})] == ["right"]


def test_nan_is_right_where_nan_is_expected():
    x, z = Value(1.0, label="x"), Value(math.nan, label="z")
    y = x * z  # dy/dx = z = NaN
    y.label = "y"
    sheet = practice(y, nodes=["x"])
    assert sheet.check({"x": math.nan})[0].right and not sheet.check({"x": 1.0})[0].right


@pytest.mark.parametrize("bad", [True, False, np.bool_(True), None, "-1.5", [-1.5], Value(-1.5)])
def test_a_bool_or_a_non_number_is_a_type_error_and_changes_nothing(bad):
    sheet = practice(neuron(), nodes=["x1", "w1"])
    before = sheet.check({"x1": -1.5})
    with pytest.raises(TypeError, match="'w1' must be a number"):
        sheet.check({"x1": -1.5, "w1": bad})
    assert sheet.marks == before


def test_bad_sheets_and_keys():
    sheet = practice(neuron(), nodes=["x1", "w1"])
    with pytest.raises(TypeError, match="takes a dict"):
        sheet.check(None)
    with pytest.raises(TypeError, match="takes a dict"):
        sheet.check([("x1", -1.5)])
    with pytest.raises(ValueError, match=r"\['w9'\] are not questions of this sheet; they are \['x1', 'w1'\]"):
        sheet.check({"w9": 1.0})
    assert sheet.marks == []
    with pytest.raises(TypeError, match="needs a Value"):
        practice(1.5)
    with pytest.raises(ValueError, match="notation must be"):
        practice(neuron(), notation="greek")


def test_values_as_keys_and_ellipsis_as_a_question_left_open():
    o = neuron()
    sheet = practice(o, nodes=["x1", "w1"])
    x1 = next(node for node, name in sheet.names.items() if name == "x1")
    marks = sheet.check({x1: -1.5, "w1": ...})
    assert [m.status for m in marks] == ["right", "unanswered"]


def test_the_sheet_saves_like_any_graph(tmp_path):
    sheet = practice(neuron(), nodes=["x1"])
    sheet.check({"x1": 2.0})
    written = render(sheet.graph(), tmp_path / "sheet.dot")
    assert written.read_text(encoding="utf-8") == sheet.graph().source
    with pytest.raises(TypeError, match="drawn already"):
        render(sheet.graph(), tmp_path / "sheet.svg", rankdir="TB")
    with pytest.warns(UserWarning) if drawing_binary_missing() else _nothing():
        svg = render(sheet.graph(), tmp_path / "sheet.svg")
    assert svg.exists() and svg.stat().st_size > 0


def drawing_binary_missing() -> bool:
    from micrograd_nn.graph import find_dot_binary

    return find_dot_binary() is None


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
