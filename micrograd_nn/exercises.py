"""Exercises for the notebooks: `check(name, answer)` marks an answer without showing the solution.

A notebook cell reads

    largest_slope = ...   # replace ... with your answer
    check("sigmoid_largest_slope", largest_slope)

While the answer is still `...` (Ellipsis), `check` says so and returns None. Otherwise it prints whether the
answer is right, and when it is not, a hint at the likely slip (a flipped sign, a missing factor), never the
expected value; it returns True or False. The expected values are computed here, from the course notes' data,
so that no notebook holds them.

When the environment variable `MICROGRAD_NN_SOLUTIONS` names a Python file with a dict `SOLUTIONS`
(name → answer), an unanswered exercise is checked with that solution instead, and raises AssertionError if
the solution is marked wrong: that is how the notebooks run to the end under test, each check passing on its
solution.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Callable
from dataclasses import dataclass

from .engine import Value

__all__ = ["check", "EXERCISES", "SOLUTIONS_VARIABLE"]

SOLUTIONS_VARIABLE = "MICROGRAD_NN_SOLUTIONS"
RELATIVE_TOLERANCE = 1e-3  # 4 significant digits, as the practice sheets
ROUGHLY = 1e-2  # to recognise a slip or a near miss written with 2-3 digits


@dataclass(frozen=True)
class Exercise:
    """`mistake(answer)` returns None when the answer is right, else a hint (which never states the answer)."""

    mistake: Callable[[object], str | None]
    praise: str


EXERCISES: dict[str, Exercise] = {}


def exercise(praise: str):
    def register(mistake):
        EXERCISES[mistake.__name__] = Exercise(mistake, praise)
        return mistake
    return register


def close(given, expected: float, rel_tol: float = RELATIVE_TOLERANCE) -> bool:
    return math.isclose(float(given), expected, rel_tol=rel_tol, abs_tol=1e-9)


def number(given, expected: float, slips: dict[str, float] = None, what: str = "the answer") -> str | None:
    """None when `given` equals `expected` to 4 significant digits; else the hint of a known slip, or a general one."""
    if isinstance(given, bool) or not isinstance(given, (int, float)) and not hasattr(given, "__float__"):
        return f"{what} should be a number, got {type(given).__name__}: {given!r}"
    if close(given, expected):
        return None
    for hint, slipped in (slips or {}).items():
        if close(given, slipped, ROUGHLY):  # a slip written with fewer digits is still recognised
            return hint
    if expected and close(given, -expected, ROUGHLY):
        return f"{what}: the size is right but the sign is flipped"
    if close(given, expected, ROUGHLY):
        return f"{what} = {float(given):.4g} is close: give 4 significant digits"
    return f"{what} = {float(given):.4g} is not it"


def numbers(given, expected: list[float], what: str) -> str | None:
    if hasattr(given, "tolist"):  # a numpy array
        given = given.tolist()
    if not isinstance(given, (list, tuple)) or len(given) != len(expected):
        return f"{what} should be a list of {len(expected)} numbers, got {given!r}"
    for k, (g, e) in enumerate(zip(given, expected)):
        problem = number(g, e, what=f"{what}[{k}]")
        if problem:
            return problem
    return None


def sigmoid(t: float) -> float:
    return 1 / (1 + math.exp(-t))


def unanswered(answer) -> bool:
    """Still `...`: the answer itself, any entry of it, or a function whose body still holds the `...`."""
    if answer is Ellipsis:
        return True
    if callable(answer) and hasattr(answer, "__code__"):
        return Ellipsis in answer.__code__.co_consts
    if isinstance(answer, (list, tuple)):
        return any(unanswered(a) for a in answer)
    if isinstance(answer, dict):
        return any(unanswered(a) for a in answer.values())
    return False


# ---- 00: Karpathy's neuron ------------------------------------------------------------------------------------

def neuron_values() -> dict[str, Value]:
    x1, x2, w1, w2 = Value(2.0), Value(0.0), Value(-3.0), Value(1.0)
    b = Value(6.8813735870195432)
    (x1 * w1 + x2 * w2 + b).tanh().backward()
    return {"x1": x1, "w1": w1, "x2": x2, "w2": w2, "b": b}


@exercise("every gradient is the local derivative of the product times ∂o/∂n = 1 − o².")
def neuron_gradients(answers) -> str | None:
    if not isinstance(answers, dict):
        return f"give a dict of the five gradients, like {{'x1': ..., 'w1': ...}}; got {type(answers).__name__}"
    values = neuron_values()
    missing = sorted(set(values) - set(answers))
    if missing:
        return f"the dict has no entry for {missing}"
    slope = 1 - math.tanh(2 * -3 + 6.8813735870195432) ** 2   # ∂o/∂n
    partners = {"x1": "w1", "w1": "x1", "x2": "w2", "w2": "x2"}
    hints = []
    for name, leaf in values.items():
        given = answers[name]
        if given is Ellipsis:
            hints.append(f"d o/d {name}: replace ... with your answer")
            continue
        slips = {f"d o/d {name}: the tanh's local derivative 1 − o² is missing": leaf.grad / slope}
        if name in partners:
            other = partners[name]
            slips[f"d o/d {name}: that is d o/d {other}; the product {name}·{other} sends {name} the other "
                  f"factor, {other}, times ∂o/∂n"] = values[other].grad
        problem = number(given, leaf.grad, {k: v for k, v in slips.items() if not close(v, leaf.grad)},
                         what=f"d o/d {name}")
        if problem:
            hints.append(problem)
    return "\n".join(hints) or None


# ---- 01: Acharya, L(w) = w² + 3 -------------------------------------------------------------------------------

@exercise("the slope dL/dw = 2w = 4 is positive, so L falls as w decreases: step against the gradient.")
def which_way_w(answer) -> str | None:
    words = {"decrease": True, "left": True, "down": True, "smaller": True, "-": True,
             "increase": False, "right": False, "up": False, "larger": False, "+": False}
    key = str(answer).strip().lower()
    if key not in words:
        return f"answer 'increase' or 'decrease', got {answer!r}"
    if not words[key]:
        return "L(2.01) − L(2) is about +0.04: moving w that way raises the loss"
    return None


@exercise("w − α·2w = 2 − 0.1·4: each step multiplies w by 1 − 2α = 0.8, towards the minimum at 0.")
def w_after_one_step(answer) -> str | None:
    w, alpha = 2.0, 0.1
    return number(answer, w - alpha * 2 * w, {
        "that moves with the gradient, not against it: w − α·dL/dw": w + alpha * 2 * w,
        "dL/dw is 2w, not w": w - alpha * w,
        "that is the step −α·dL/dw; the new w adds it to the old one": -alpha * 2 * w,
    }, what="w after one step")


# ---- 02: sigmoid, cross-entropy, softmax (Xu, Datta, Celebi) ---------------------------------------------------

@exercise("p(1 − p) = ¼ − (p − ½)² is largest, ¼, at p = σ(t) = ½, that is at t = 0.")
def sigmoid_largest_slope(answer) -> str | None:
    if not isinstance(answer, (list, tuple)) or len(answer) != 2:
        return "give two numbers: (largest slope, t where it happens)"
    slope, where = answer
    return (number(slope, 0.25, {"that is σ(0), the value, not the slope σ'(0) = σ(0)(1 − σ(0))": 0.5},
                   what="the largest slope")
            or number(where, 0.0, what="the t of the largest slope"))


X_PQ, THETA_PQ = (2.0, 1.0), (0.3, 0.4)


@exercise("p is the one-hot label (y, 1 − y); q is the model's (σ(xᵀθ), 1 − σ(xᵀθ)): H(p, q) is eq. 26's term.")
def where_are_p_and_q(answer) -> str | None:
    if not isinstance(answer, (list, tuple)) or len(answer) != 2:
        return "give a pair (p, q), each a list of two numbers"
    p, q = answer
    q1 = sigmoid(sum(x * t for x, t in zip(X_PQ, THETA_PQ)))
    if numbers(p, [1.0, 0.0], "p") is None and numbers(q, [1.0, 0.0], "q") is None:
        return None
    if numbers(p, [0.0, 1.0], "p") is None:
        return "p is reversed: with y = 1, p₁ = y = 1 weights log q₁"
    if numbers(q, [1 - q1, q1], "q") is None:
        return "q is reversed: q₁ = σ(xᵀθ) is the model's probability of y = 1"
    if numbers(p, [q1, 1 - q1], "p") is None:
        return "p and q are swapped: p comes from the label, q from the model"
    return numbers(p, [1.0, 0.0], "p") or numbers(q, [q1, 1 - q1], "q")


LION = (5.6, 6.4, -4.6)


@exercise("a negative share is no probability, and shifting all scores changes plain shares; e^z is positive "
          "and e^(z + c) / Σ e^(z + c) = e^z / Σ e^z.")
def why_exponentiate(answer) -> str | None:
    return number(answer, LION[2] / sum(LION), {
        "that is the lion's share; the leopard is the third score": LION[0] / sum(LION),
        "that is the softmax probability; the question asks for s / sum(s)": 0.0,
    }, what="the leopard's share")


@exercise("subtracting the max moves every logit by the same amount: the softmax, and so its Jacobian, is "
          "unchanged, and the gradient reaching the max is −Σ ∂L/∂zᵢ = 0, because each Jacobian row sums to 0.")
def subtract_the_max(answer) -> str | None:
    if not isinstance(answer, (list, tuple)) or len(answer) != 2:
        return "give two numbers: (softmax([1, 2, 3] − 3)[0], the gradient reaching the max)"
    first, to_max = answer
    expected = math.exp(-2) / (math.exp(-2) + math.exp(-1) + 1)
    return (number(first, expected, {"that is e^(−2) alone; divide by the sum of the three exponentials":
                                     math.exp(-2)}, what="the first softmax entry")
            or number(to_max, 0.0, what="the gradient reaching the max"))


@exercise("z₁ = z₂ and z₂ = z₃ are two linear equations in (x₁, x₂); z₁ = z₃ then holds too, so the third "
          "line passes through the same point.")
def common_point(answer) -> str | None:
    import numpy as np

    if not callable(answer):
        return "define a function common_point(W, b) and pass it"
    rng = np.random.default_rng(7)
    for _ in range(5):
        W, b = rng.normal(size=(3, 2)), rng.normal(size=3)
        point = np.asarray(answer(W, b), dtype=float)
        if point.shape != (2,):
            return f"common_point should return two numbers (x1, x2), got shape {point.shape}"
        scores = W @ point + b
        if not np.allclose(scores, scores[0], atol=1e-9):
            return f"at {np.round(point, 4)} the scores are {np.round(scores, 4)}: solve z1 = z2 and z2 = z3"
    return None


def linearly_separable(points, labels, classes) -> bool:
    """Is there W, b with z_t − z_j ≥ 1 for every point of class t and every other class j in `classes`?"""
    import numpy as np
    from scipy.optimize import linprog

    index = {c: i for i, c in enumerate(classes)}
    rows = []
    for x, t in zip(points, labels):
        if t in index:
            for j in classes:
                if j != t:
                    row = np.zeros(3 * len(classes))
                    row[3 * index[t]:3 * index[t] + 3] -= [x[0], x[1], 1.0]
                    row[3 * index[j]:3 * index[j] + 3] += [x[0], x[1], 1.0]
                    rows.append(row)
    result = linprog(np.zeros(3 * len(classes)), A_ub=np.array(rows), b_ub=-np.ones(len(rows)),
                     bounds=[(None, None)] * (3 * len(classes)))
    return result.status == 0


@exercise("every pair is linearly separable, but three linear scores (three wedges around one point) cannot "
          "classify all the points.")
def pinwheel(answer) -> str | None:
    if not isinstance(answer, (list, tuple)) or len(answer) != 2:
        return "give a pair (points, labels)"
    points, labels = answer
    if sorted(set(labels)) != [0, 1, 2] or len(points) != len(labels):
        return "use all three classes 0, 1, 2 and one label per point"
    for pair in ((0, 1), (0, 2), (1, 2)):
        if not linearly_separable(points, labels, list(pair)):
            return f"classes {pair} cannot be separated by a line: every pair must be linearly separable"
    if linearly_separable(points, labels, [0, 1, 2]):
        return "a softmax regression can still classify these points; look for a pinwheel"
    return None


@exercise("class 3 wins only on a bounded island around the origin, so some regions of four linear classes "
          "are not wedges.")
def island(answer) -> str | None:
    import numpy as np

    if not isinstance(answer, (list, tuple)) or len(answer) != 2:
        return "give a pair (W4, b4)"
    W4, b4 = np.asarray(answer[0], dtype=float), np.asarray(answer[1], dtype=float)
    if W4.shape != (4, 2) or b4.shape != (4,):
        return f"W4 must be 4×2 and b4 have 4 entries, got {W4.shape} and {b4.shape}"
    g = np.linspace(-5, 5, 201)
    gx, gy = np.meshgrid(g, g)
    regions = (np.einsum("kd,dij->kij", W4, np.array([gx, gy])) + b4[:, None, None]).argmax(0)
    border = np.concatenate([regions[0], regions[-1], regions[:, 0], regions[:, -1]])
    if regions[100, 100] != 3:
        return "class 3 does not win at the origin: give it the largest score there"
    if (border == 3).any():
        return "class 3 reaches the edge of the grid [-5, 5]²: make every other score overtake it far away"
    return None


# ---- 03: Xu's 3-3-1 network --------------------------------------------------------------------------------------

@exercise("∂ℓ/∂ŷ = ½ · 2(y − ŷ) · (−1) = ŷ − y: negative, so ŷ must grow.")
def dl_dyhat(answer) -> str | None:
    y_hat = -sigmoid(5) + sigmoid(2) + sigmoid(5)
    return number(answer, y_hat - 1.0, {
        "that is Xu's y − ŷ (eq. 85): the chain rule's factor −1 from −ŷ is missing": 1.0 - y_hat,
        "that is 2(ŷ − y): the ½ cancels the 2": 2 * (y_hat - 1.0),
    }, what="∂ℓ/∂ŷ")


# ---- 04: Acharya's lion image ------------------------------------------------------------------------------------

@exercise("only the tiger violates the margin: max(0, 6.4 − 5.6 + 1) = 1.8; the leopard term is 0.")
def lion_hinge(answer) -> str | None:
    z, t = LION, 0
    terms = [max(0.0, z[j] - z[t] + 1) for j in range(3) if j != t]
    return number(answer, sum(terms), {
        "that is the perceptron loss: the hinge adds the margin Δ = 1 inside each max": sum(
            max(0.0, z[j] - z[t]) for j in range(3) if j != t),
        "the sum runs over j ≠ y: the correct class adds no term (it would add max(0, Δ) = 1)": sum(terms) + 1,
    }, what="the hinge loss")


# ---- 05: Xu's 1-D convolution ------------------------------------------------------------------------------------

@exercise("slide g along f and take inner products: the last window [2, 1, 2] gives 2 + 0 + 2 = 4.")
def conv1d(answer) -> str | None:
    f, g = (1, 0, -1, 2, 1, 2), (1, 0, 1)
    expected = [sum(f[t + k] * g[k] for k in range(3)) for t in range(4)]
    if hasattr(answer, "tolist"):  # a numpy array
        answer = answer.tolist()
    if isinstance(answer, (list, tuple)) and len(answer) == 4 and close(answer[3], 5):
        return "the last entry repeats eq. 127's slip: 2·1 + 1·0 + 2·1 is 4"
    if isinstance(answer, (list, tuple)) and len(answer) != 4:
        return f"a length-3 kernel fits in 6 − 3 + 1 = 4 places, so give 4 numbers; got {len(answer)}"
    return numbers(answer, [float(e) for e in expected], "f ⊗ g")


# ---- 07: Newton's method ----------------------------------------------------------------------------------------

@exercise("w − L'(w)/L''(w) = 1 − 4/12 = 2/3: on a quartic one step is not enough (only a quadratic is its own "
          "Taylor expansion).")
def newton_quartic(answer) -> str | None:
    w = 1.0
    return number(answer, w - 4 * w**3 / (12 * w**2), {
        "that is the minimum itself: one Newton step lands there only for a quadratic": 0.0,
        "that step divides by L'(w) instead of L''(w)": w - 1.0,
        "that is a gradient-descent step with α = 1, not Newton's": w - 4 * w**3,
    }, what="w after one Newton step")


# ---- checking ---------------------------------------------------------------------------------------------------

def injected_solutions() -> dict | None:
    path = os.environ.get(SOLUTIONS_VARIABLE)
    if not path:
        return None
    spec = importlib.util.spec_from_file_location("notebook_solutions", path)
    if spec is None or not os.path.exists(path):
        raise FileNotFoundError(f"{SOLUTIONS_VARIABLE} names {path!r}, which is not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SOLUTIONS


def check(name: str, answer) -> bool | None:
    """Mark `answer` for exercise `name`: prints right (with why) or a hint; None while it is still `...`."""
    if name not in EXERCISES:
        raise ValueError(f"check: no exercise named {name!r}; they are {sorted(EXERCISES)}")
    task = EXERCISES[name]
    solutions = injected_solutions()
    if unanswered(answer):
        if solutions is None or name not in solutions:
            partial = task.mistake(answer) if isinstance(answer, dict) else None
            print(f"{name}:\n{partial}" if partial else f"{name}: replace ... with your answer, then run this cell")
            return None
        problem = task.mistake(solutions[name])
        if problem is not None:
            raise AssertionError(f"{name}: the injected solution is marked wrong: {problem}")
        print(f"{name}: checked with the injected solution: right")
        return True
    problem = task.mistake(answer)
    if problem is None:
        print(f"{name}: right: {task.praise}")
        return True
    print(f"{name}: not yet. {problem}")
    return False
