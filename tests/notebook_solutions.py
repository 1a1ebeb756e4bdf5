"""Solutions to the notebooks' exercises, injected when the notebooks run under test (see notebooks/conftest.py
and micrograd_nn.exercises): every `check(name, ...)` is then checked with SOLUTIONS[name]."""

import math

import numpy as np


def common_point(W, b):
    W, b = np.asarray(W, dtype=float), np.asarray(b, dtype=float)
    # z1 = z2 and z2 = z3: two linear equations in (x1, x2)
    return np.linalg.solve(np.array([W[0] - W[1], W[1] - W[2]]), np.array([b[1] - b[0], b[2] - b[1]]))


def rotate(point, turns):
    angle = 2 * math.pi * turns / 3
    c, s = math.cos(angle), math.sin(angle)
    return (c * point[0] - s * point[1], s * point[0] + c * point[1])


BLADE = [(-0.5, -0.5), (3.0, -0.5)]  # a segment sticking out past where the next blade starts

SOLUTIONS = {
    "neuron_gradients": {"x1": -1.5, "w1": 1.0, "x2": 0.5, "w2": 0.0, "b": 0.5},
    "which_way_w": "decrease",
    "w_after_one_step": 1.6,
    "sigmoid_largest_slope": (0.25, 0.0),
    "where_are_p_and_q": ([1.0, 0.0], [1 / (1 + math.exp(-1.0)), 1 - 1 / (1 + math.exp(-1.0))]),
    "why_exponentiate": -4.6 / 7.4,
    "subtract_the_max": (0.0900, 0.0),
    "common_point": common_point,
    "pinwheel": ([rotate(p, k) for k in range(3) for p in BLADE], [0, 0, 1, 1, 2, 2]),
    "island": ([[1.0, 0.0], [-0.5, math.sqrt(3) / 2], [-0.5, -math.sqrt(3) / 2], [0.0, 0.0]], [0.0, 0.0, 0.0, 1.0]),
    "dl_dyhat": -0.1192,
    "lion_hinge": 1.8,
    "conv1d": [0, 2, 0, 4],
    "newton_quartic": 2 / 3,
}
