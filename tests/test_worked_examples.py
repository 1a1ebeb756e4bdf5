"""The course notes' worked examples, computed with the library. Every expected number is
recomputed independently (with math/numpy) rather than copied, because the notes contain
arithmetic slips; the printed, rounded value is checked alongside."""

import math

import numpy as np
import pytest

import micrograd_nn.functional as F
from micrograd_nn import Value, dot
from micrograd_nn.data import animal_scores, colored_points, colored_points_weights, xu_network
from micrograd_nn.nn import Conv1d, Conv2d, MaxPool2d
from micrograd_nn.optim import SGD


def sigmoid(t):
    return 1 / (1 + math.exp(-t))


# --- Xu §4: the 3-3-1 network with x = [2, 1, 2], y = 1 ---


def xu_forward():
    ex = xu_network()
    W = [[Value(w) for w in row] for row in ex["W"]]
    b = [Value(v) for v in ex["b"]]
    U = [Value(u) for u in ex["U"]]
    x = [Value(v) for v in ex["x"]]
    z = [dot(W[i], x, bias=b[i]) for i in range(3)]
    a = [zi.sigmoid() for zi in z]
    y_hat = dot(U, a)
    loss = (y_hat - ex["y"]) ** 2
    return ex, W, b, U, x, z, a, y_hat, loss


def test_xu_forward_pass():
    ex, W, b, U, x, z, a, y_hat, loss = xu_forward()
    assert [zi.data for zi in z] == [5.0, 2.0, 5.0]
    assert [round(ai.data, 3) for ai in a] == [0.993, 0.881, 0.993]  # Xu prints 0.880 for σ(2) = 0.8808
    # U = [-1, 1, 1]: ŷ = −σ(5) + σ(2) + σ(5) = σ(2); Xu's eq. 94 writes the last sign as −1.
    assert y_hat.data == pytest.approx(sigmoid(2), rel=1e-15)
    assert round(y_hat.data, 3) == 0.881
    assert loss.data == pytest.approx((sigmoid(2) - 1) ** 2, rel=1e-14)
    assert round(loss.data, 4) == 0.0142  # Xu rounds ŷ to 0.880 first and gets 0.0144


def test_xu_delta_recursion_equals_autograd():
    ex, W, b, U, x, z, a, y_hat, loss = xu_forward()
    loss.backward()
    xs, zs, Us = np.array(ex["x"]), np.array([zi.data for zi in z]), np.array(ex["U"])
    s = 1 / (1 + np.exp(-zs))
    delta = Us * s * (1 - s)  # δ = U ⊙ σ'(Wx + b)
    dloss_dyhat = 2 * (y_hat.data - ex["y"])  # ℓ = (ŷ − y)²
    np.testing.assert_allclose([[w.grad for w in row] for row in W], dloss_dyhat * np.outer(delta, xs), rtol=1e-12)
    np.testing.assert_allclose([v.grad for v in b], dloss_dyhat * delta, rtol=1e-12)
    np.testing.assert_allclose([u.grad for u in U], dloss_dyhat * s, rtol=1e-12)
    np.testing.assert_allclose([v.grad for v in x], dloss_dyhat * np.array(ex["W"]).T @ delta, rtol=1e-12)


# --- Xu §5: convolution and pooling ---


def fixed_conv(conv_cls, kernel, **kwargs):
    conv = conv_cls(1, 1, len(kernel), bias=False, **kwargs)
    flat_w = conv.weight[0][0]
    if conv_cls is Conv1d:
        for w, k in zip(flat_w, kernel):
            w.data = float(k)
    else:
        for row, krow in zip(flat_w, kernel):
            for w, k in zip(row, krow):
                w.data = float(k)
    return conv


def test_xu_1d_convolution():
    f, g = [1, 0, -1, 2, 1, 2], [1, 0, 1]
    y = fixed_conv(Conv1d, g)([[float(v) for v in f]])[0]
    expected = [sum(f[t + k] * g[k] for k in range(3)) for t in range(4)]
    assert [v.data for v in y] == expected == [0, 2, 0, 4]  # Xu's eq. 127 prints 5 for the last entry


def test_xu_2d_convolution():
    f = [[1, 0, -1, 2], [2, -1, 2, 1], [-1, 2, 0, 1], [1, -1, 1, 1]]
    g = [[1, 0], [0, 1]]
    y = fixed_conv(Conv2d, g)([[[float(v) for v in row] for row in f]])[0]
    assert [[v.data for v in row] for row in y] == [[0, 2, 0], [4, -1, 3], [-2, 3, 1]]


def test_xu_max_pooling():
    x = [[3.5, 9.5, 1.7, 6.2], [1.5, 2.5, 1.4, 3.2], [7.5, 6.5, 1.5, 5.2], [2.5, 10.0, 2.4, 0.1]]
    pooled = MaxPool2d(2)([[[Value(v) for v in row] for row in x]])[0]
    assert [[v.data for v in row] for row in pooled] == [[9.5, 6.2], [10.0, 5.2]]
    assert MaxPool2d(2)([[[2.5, 3.5], [1.5, 3.2]]])[0][0][0].data == 3.5


def test_xu_padding_and_parameter_count():
    conv = Conv2d(1, 1, 3, padding=1)
    out = conv([[[float(i * 5 + j) for j in range(5)] for i in range(5)]])
    assert len(out[0]) == 5 and len(out[0][0]) == 5  # 5×5 in, 3×3 kernel, padding 1 → 5×5 out
    assert 128 * 128 * 5 * 5 == 409600
    assert len(Conv2d(4, 4, 5, bias=False).parameters()) == 4 * 4 * 5 * 5


# --- Xu §2: cross entropy numbers ---


def test_xu_cross_entropy_examples():
    def H(p, q):
        return -sum(pi * math.log(qi) for pi, qi in zip(p, q) if pi)

    def truncated(v):  # Xu prints these cut, not rounded, to three decimals
        return math.floor(v * 1000) / 1000

    assert truncated(H([0.3, 0.7], [0.7, 0.3])) == 0.949
    assert truncated(H([0.3, 0.7], [0.3, 0.7])) == 0.610
    # eqs. 24-25 write the first distributions in their working; the results are for p = [1, 0]:
    assert truncated(H([1, 0], [0.3, 0.7])) == 1.203
    assert truncated(H([1, 0], [0.9, 0.1])) == 0.105
    ce = F.cross_entropy([Value(math.log(0.9)), Value(math.log(0.1))], 0)
    assert ce.data == pytest.approx(-math.log(0.9))


# --- Celebi: softmax regression on 20 points ---


def test_celebi_given_weights_forward_pass():
    X, y = colored_points()
    W, b = colored_points_weights()
    Wv = [[Value(w) for w in row] for row in W]
    bv = [Value(v) for v in b]
    z = [dot(Wv[k], X[0], bias=bv[k]) for k in range(3)]
    a = F.softmax(z)
    assert [round(v.data, 3) for v in z] == [6.699, 1.901, -6.803]
    assert [round(v.data, 3) for v in a] == [0.992, 0.008, 0.0]
    predictions = [max(range(3), key=lambda k: dot(W[k], x, bias=b[k]).data) for x in X]
    assert predictions == y  # 100% accuracy


def celebi_numpy_training(W, X, y, lr, epochs):
    """Celebi's own algorithm: per-sample softmax Jacobian, averaged gradients."""
    X, Y = np.array(X), np.eye(3)[y]
    W, b, losses = W.copy(), np.zeros((3, 1)), []
    for _ in range(epochs):
        dW, db, L = np.zeros(W.shape), np.zeros(b.shape), 0.0
        for j in range(len(X)):
            x, yj = X[j].reshape(2, 1), Y[j].reshape(3, 1)
            z = W @ x + b
            a = np.exp(z - z.max()) / np.sum(np.exp(z - z.max()))
            L += -np.sum(yj * (z - z.max() - np.log(np.sum(np.exp(z - z.max())))))
            jacobian = (a @ np.ones((1, 3))) * (np.identity(3) - np.ones((3, 1)) @ a.T)
            dz = jacobian @ (-yj / a)
            dW += dz * x.T
            db += dz
        W, b = W - lr * dW / len(X), b - lr * db / len(X)
        losses.append(L / len(X))
    return W, b, losses


def test_celebi_training_40_epochs_lr_2_reaches_100_percent_and_matches_his_algorithm():
    X, y = colored_points()
    W0 = np.random.default_rng(0).random((3, 2))
    W = [[Value(v) for v in row] for row in W0]
    b = [Value(0.0) for _ in range(3)]
    opt = SGD([p for row in W for p in row] + b, lr=2.0)
    losses = []
    for _ in range(40):
        loss = sum(F.cross_entropy([dot(W[k], x, bias=b[k]) for k in range(3)], t) for x, t in zip(X, y)) / len(X)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.data)
    W_np, b_np, losses_np = celebi_numpy_training(W0, X, y, 2.0, 40)
    np.testing.assert_allclose(losses, losses_np, rtol=1e-9)
    np.testing.assert_allclose([[w.data for w in row] for row in W], W_np, rtol=1e-9)
    np.testing.assert_allclose([v.data for v in b], b_np.ravel(), rtol=1e-9, atol=1e-12)
    predictions = [max(range(3), key=lambda k: dot(W[k], x, bias=b[k]).data) for x in X]
    assert predictions == y


def test_celebi_stable_softmax():
    assert [v.data for v in F.softmax([1.0, 2.0, 3.0])] == pytest.approx([0.090, 0.245, 0.665], abs=5e-4)
    assert [v.data for v in F.softmax([1000.0, 2000.0, 3000.0])] == [0.0, 0.0, 1.0]


# --- Acharya: lion / tiger / leopard ---


def test_acharya_perceptron_hinge_squared_hinge_and_softmax():
    scores, labels, _ = animal_scores()
    perceptron = [F.multiclass_hinge([Value(s) for s in row], t, margin=0.0).data for row, t in zip(scores, labels)]
    assert perceptron == pytest.approx([0.8, 0.0, 24.6], abs=1e-12)
    assert sum(perceptron) / 3 == pytest.approx(25.4 / 3)
    assert round(sum(perceptron) / 3, 2) == 8.47  # the slides round to 8.5
    hinge = [F.multiclass_hinge(row, t).data for row, t in zip(scores, labels)]
    assert hinge == pytest.approx([1.8, 0.0, 26.6], abs=1e-12)
    squared = [F.squared_hinge(row, t).data for row, t in zip(scores, labels)]
    assert squared == pytest.approx([1.8**2, 0.0, 11.6**2 + 15.0**2], abs=1e-12)
    p = [v.data for v in F.softmax(scores[0])]
    assert [round(v, 2) for v in p] == [0.31, 0.69, 0.0]


def test_acharya_softmax_classifier_gradient_is_P_minus_Y_times_X():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(4, 5)), np.array([0, 2, 1, 2, 0])
    W0 = rng.normal(size=(3, 4))
    W = [[Value(w) for w in row] for row in W0]
    loss = sum(F.cross_entropy([dot(W[k], X[:, i].tolist()) for k in range(3)], int(y[i])) for i in range(5)) / 5
    loss.backward()
    Z = W0 @ X
    P = np.exp(Z - Z.max(0)) / np.exp(Z - Z.max(0)).sum(0)
    Y = np.eye(3)[y].T
    np.testing.assert_allclose([[w.grad for w in row] for row in W], (P - Y) @ X.T / 5, rtol=1e-10)


def test_acharya_chain_rule_examples():
    w = Value(2.0)
    (w**2 + 3).backward()
    assert w.grad == 4.0
    w1, w2 = Value(0.0), Value(0.0)
    ((w1 - 2) ** 2 + (w2 + 3) ** 2).backward()
    assert (w1.grad, w2.grad) == (-4.0, 6.0)
    w = Value(0.5)
    (1 / (1 + (-w).exp())).backward()
    assert w.grad == pytest.approx(sigmoid(0.5) * (1 - sigmoid(0.5)))


def test_xu_gradient_descent_on_x_squared():
    for start, expected in [(-2.0, [-1.6, -1.28]), (2.0, [1.6, 1.28])]:
        x = Value(start)
        path = []
        for _ in range(2):
            x.grad = 0.0
            (x**2).backward()
            x.data -= 0.1 * x.grad
            path.append(x.data)
        assert path == pytest.approx(expected, rel=1e-15)


# --- slips in the notes, with the corrected values (the notebooks point them out where they occur) ---


def test_acharya_lion_probability_is_031_not_039():
    scores, _, _ = animal_scores()
    p_lion = F.softmax(scores[0])[0].data
    assert p_lion == pytest.approx(1 / (1 + math.exp(0.8) + math.exp(-10.2)), rel=1e-14)
    assert round(p_lion, 2) == 0.31  # the slides' table; the following line says 0.39


def test_acharya_2d_update_has_factor_2():
    w1, w2 = Value(0.5), Value(-1.0)
    ((w1 - 2) ** 2 + (w2 + 3) ** 2).backward()
    assert w1.grad == 2 * (0.5 - 2) and w2.grad == 2 * (-1.0 + 3)  # the slides write 3(w2 + 3)


def test_xu_half_squared_loss_derivative_is_y_hat_minus_y():
    y_hat, y = Value(0.8808), 1.0
    (0.5 * (y - y_hat) ** 2).backward()
    assert y_hat.grad == pytest.approx(0.8808 - 1.0, rel=1e-14)  # Xu's eqs. 85/104 write y − ŷ


def test_xu_delta_recursion_uses_the_next_layers_weights():
    rng = np.random.default_rng(3)
    W1, W2, U, x = rng.normal(size=(3, 3)), rng.normal(size=(3, 3)), rng.normal(size=3), rng.normal(size=3)
    V1 = [[Value(w) for w in row] for row in W1]
    a1 = [dot(V1[i], x.tolist()).sigmoid() for i in range(3)]
    a2 = [dot(W2[i].tolist(), a1).sigmoid() for i in range(3)]
    dot(U.tolist(), a2).backward()
    z1 = W1 @ x
    s1 = 1 / (1 + np.exp(-z1))
    s2 = 1 / (1 + np.exp(-(W2 @ s1)))
    delta2 = U * s2 * (1 - s2)
    delta1 = (W2.T @ delta2) * s1 * (1 - s1)  # W^(l+1); Xu's eqs. 120/122 print W^(l)
    np.testing.assert_allclose([[w.grad for w in row] for row in V1], np.outer(delta1, x), rtol=1e-12)


def test_xu_cross_entropy_rounded_values():
    H = [-(0.3 * math.log(0.7) + 0.7 * math.log(0.3)), -(0.3 * math.log(0.3) + 0.7 * math.log(0.7)),
         -math.log(0.3), -math.log(0.9)]
    assert [round(h, 3) for h in H] == [0.950, 0.611, 1.204, 0.105]  # Xu prints 0.949, 0.610, 1.203 (cut)


def test_xu_padding_leaves_21_steps_after_four():
    out = Conv2d(1, 1, 3, padding=1)([np.zeros((5, 5)).tolist()])[0]
    assert len(out) * len(out[0]) - 4 == 21  # Xu says 12


def test_celebi_third_example_point_is_not_in_the_data():
    X, y = colored_points()
    assert [-1.4, -1.1] not in X and y[X.index([-1.4, -1.2])] == 2


# --- material the notes name: checked against autograd ---


def test_datta_row_form_batch_backprop_equals_autograd():
    rng = np.random.default_rng(4)
    X, targets = rng.normal(size=(5, 3)), np.array([0, 1, 2, 1, 0])
    W1, b1, W2, b2 = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(4, 3)), rng.normal(size=3)
    Z1 = X @ W1 + b1
    A1 = np.tanh(Z1)
    Z2 = A1 @ W2 + b2
    S = np.exp(Z2 - Z2.max(1, keepdims=True))
    S /= S.sum(1, keepdims=True)
    dZ2 = (S - np.eye(3)[targets]) / 5
    dZ1 = (dZ2 @ W2.T) * (1 - A1**2)
    expected = {"W1": X.T @ dZ1, "b1": dZ1.sum(0), "W2": A1.T @ dZ2, "b2": dZ2.sum(0), "X": dZ1 @ W1.T}

    V = {"W1": [[Value(v) for v in row] for row in W1], "W2": [[Value(v) for v in row] for row in W2],
         "b1": [Value(v) for v in b1], "b2": [Value(v) for v in b2], "X": [[Value(v) for v in row] for row in X]}
    cols1, cols2 = list(zip(*V["W1"])), list(zip(*V["W2"]))
    loss = 0
    for row, t in zip(V["X"], targets):
        a1 = [dot(list(cols1[j]), row, bias=V["b1"][j]).tanh() for j in range(4)]
        loss = loss + F.cross_entropy([dot(list(cols2[k]), a1, bias=V["b2"][k]) for k in range(3)], int(t))
    (loss / 5).backward()
    for name, matrix in expected.items():
        grads = np.array([[v.grad for v in row] if isinstance(row, list) else row.grad for row in V[name]])
        np.testing.assert_allclose(grads, matrix, rtol=1e-12, atol=1e-15, err_msg=name)


def test_acharya_logistic_regression_gradient():
    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(size=(2, 7)), np.ones((1, 7))])  # (p + 1) × n, samples in columns
    y, w0 = rng.integers(0, 2, size=7).astype(float), rng.normal(size=3)
    w = [Value(v) for v in w0]
    loss = sum(F.binary_cross_entropy(dot(w, X[:, i].tolist()), y[i]) for i in range(7)) / 7
    loss.backward()
    s = 1 / (1 + np.exp(-(X.T @ w0)))
    np.testing.assert_allclose([v.grad for v in w], X @ (s - y) / 7, rtol=1e-12)


def test_datta_max_shift_leaves_softmax_gradient_unchanged():
    def naive(zs):
        exps = [z.exp() for z in zs]
        total = sum(exps[1:], exps[0])
        return [e / total for e in exps]

    for i in range(3):
        plain, shifted, m = [Value(v) for v in (1.0, 2.0, 3.0)], [Value(v) for v in (1.0, 2.0, 3.0)], Value(3.0)
        naive(plain)[i].backward()
        naive([z - m for z in shifted])[i].backward()
        assert [z.grad for z in plain] == pytest.approx([z.grad for z in shifted], abs=1e-15)
        assert abs(m.grad) < 1e-15
