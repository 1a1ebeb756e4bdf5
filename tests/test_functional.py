"""Losses, softmax and regularisers against PyTorch float64, plus their errors."""

import decimal
import math
from decimal import Decimal

import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given
from hypothesis import strategies as st
from torch_helpers import assert_close

import micrograd_nn.functional as F
from micrograd_nn import Value, gradcheck
from micrograd_nn.testing import finite_values

logit_lists = st.lists(finite_values(-20, 20), min_size=2, max_size=6)


def ours_and_torch(xs, ours_fn, torch_fn):
    values = [Value(x) for x in xs]
    out = ours_fn(values)
    t = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    tout = torch_fn(t)
    return values, out, t, tout


@given(logit_lists, st.data())
def test_cross_entropy_matches_pytorch_and_its_gradient_is_softmax_minus_onehot(xs, data):
    target = data.draw(st.integers(0, len(xs) - 1))
    values, loss, t, tloss = ours_and_torch(xs, lambda v: F.cross_entropy(v, target),
                                           lambda t: TF.cross_entropy(t[None], torch.tensor([target])))
    loss.backward()
    tloss.backward()
    assert loss.data == pytest.approx(tloss.item(), rel=1e-12, abs=1e-12)
    probs = torch.softmax(t.detach(), 0).tolist()
    expected = [p - (i == target) for i, p in enumerate(probs)]
    assert_close([v.grad for v in values], expected, rel=1e-9, abs=1e-15)
    assert_close([v.grad for v in values], t.grad, rel=1e-9, abs=1e-15)


@given(logit_lists)
def test_softmax_and_log_softmax_match_pytorch(xs):
    weights = [0.3 * i - 0.5 for i in range(len(xs))]
    for ours, theirs in [(F.softmax, torch.softmax), (F.log_softmax, torch.log_softmax)]:
        values, out, t, tout = ours_and_torch(xs, ours, lambda t, f=theirs: f(t, 0))
        sum(o * w for o, w in zip(out, weights)).backward()
        (tout * torch.tensor(weights, dtype=torch.float64)).sum().backward()
        assert_close([o.data for o in out], tout, rel=1e-9, abs=1e-14)
        assert_close([v.grad for v in values], t.grad, rel=1e-7, abs=1e-12)


def test_softmax_is_stable_for_huge_logits():
    p = F.softmax([Value(1000.0), Value(2000.0), Value(3000.0)])
    assert [v.data for v in p] == [0.0, 0.0, 1.0]
    assert F.log_softmax([1000.0, 2000.0, 3000.0])[0].data == -2000.0
    assert F.cross_entropy([Value(1000.0), Value(2000.0), Value(3000.0)], 0).data == 2000.0


def exact_bce(z: float, y: float) -> tuple[float, float]:
    """BCE on a logit and its derivative σ(z) − y, computed with 60 significant digits (a reference that,
    unlike float64 PyTorch at z ≈ −28, y = 0, is right to the last bit)."""
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        z_, y_ = Decimal(z), Decimal(y)
        u = (-abs(z_)).exp()
        log1p_u = u - u * u / 2 + u**3 / 3 if u < Decimal("1e-15") else (1 + u).ln()  # 1 + u would drop u's digits
        loss = (1 - y_) * max(z_, 0) + y_ * max(-z_, 0) + log1p_u
        def sigma(t):
            return 1 / (1 + (-t).exp())

        return float(loss), float((1 - y_) * sigma(z_) - y_ * sigma(-z_))  # σ(z) − y, with nothing cancelling


@given(finite_values(-1e4, 1e4), st.sampled_from([0.0, 1.0, 0.25]))
def test_binary_cross_entropy_on_logits_matches_an_exact_reference_and_pytorch(z, y):
    target = torch.tensor(y, dtype=torch.float64)
    values, loss, t, tloss = ours_and_torch([z], lambda v: F.binary_cross_entropy(v[0], y),
                                           lambda t: TF.binary_cross_entropy_with_logits(t[0], target))
    loss.backward()
    tloss.backward()
    exact_loss, exact_grad = exact_bce(z, y)
    assert loss.data == pytest.approx(exact_loss, rel=1e-12, abs=1e-300)
    assert values[0].grad == pytest.approx(exact_grad, rel=1e-12, abs=1e-300)
    assert values[0].grad == pytest.approx(t.grad.item(), rel=1e-9, abs=1e-15)
    if abs(z) < 20:  # beyond that, float64 PyTorch loses digits of log(1 + e^z) (e.g. 0.2% at z = −28, y = 0)
        assert loss.data == pytest.approx(tloss.item(), rel=1e-12, abs=1e-15)


def test_binary_cross_entropy_where_float64_pytorch_drifts():
    loss = F.binary_cross_entropy(Value(-28.0), 0.0)
    assert loss.data == pytest.approx(exact_bce(-28.0, 0.0)[0], rel=1e-15)


def test_binary_cross_entropy_of_infinite_scores_is_the_limit():
    assert F.binary_cross_entropy(Value(math.inf), 0.0).data == math.inf
    assert F.binary_cross_entropy(Value(-math.inf), 1.0).data == math.inf
    assert F.binary_cross_entropy(Value(math.inf), 1.0).data == 0.0
    assert F.binary_cross_entropy(Value(-math.inf), 0.0).data == 0.0


@given(st.lists(finite_values(-5, 5), min_size=1, max_size=5), st.data())
def test_mse_matches_pytorch(preds, data):
    targets = data.draw(st.lists(finite_values(-5, 5), min_size=len(preds), max_size=len(preds)))
    values, loss, t, tloss = ours_and_torch(preds, lambda v: F.mse(v, targets),
                                           lambda t: TF.mse_loss(t, torch.tensor(targets, dtype=torch.float64)))
    loss.backward()
    tloss.backward()
    assert loss.data == pytest.approx(tloss.item(), rel=1e-12, abs=1e-15)
    assert_close([v.grad for v in values], t.grad, rel=1e-9, abs=1e-15)
    assert F.mse(Value(3.0), 1.0).data == 4.0


@pytest.mark.parametrize("n_classes", [2, 3, 5])
@pytest.mark.parametrize("margin", [1.0, 0.5, 0.0])
@pytest.mark.parametrize("squared", [False, True])
def test_hinge_losses_match_multi_margin_loss_times_class_count(n_classes, margin, squared):
    gen = torch.Generator().manual_seed(n_classes)
    for _ in range(20):
        xs = (torch.rand(n_classes, generator=gen, dtype=torch.float64) * 4 - 2).tolist()
        target = int(torch.randint(n_classes, (1,), generator=gen))
        fn = F.squared_hinge if squared else F.multiclass_hinge
        values, loss, t, tloss = ours_and_torch(
            xs, lambda v: fn(v, target, margin=margin),
            lambda t: n_classes * TF.multi_margin_loss(t[None], torch.tensor([target]), p=2 if squared else 1,
                                                       margin=margin))
        loss.backward()
        tloss.backward()
        assert loss.data == pytest.approx(tloss.item(), rel=1e-12, abs=1e-14)
        assert_close([v.grad for v in values], t.grad, rel=1e-12, abs=1e-14)


@given(st.lists(finite_values(-3, 3).filter(lambda x: abs(x) > 1e-3), min_size=1, max_size=5), finite_values(0, 1))
def test_regularisers(ws, alpha):
    assert F.l1([Value(w) for w in ws]).data == pytest.approx(sum(abs(w) for w in ws))
    assert F.l2([Value(w) for w in ws]).data == pytest.approx(sum(w * w for w in ws))
    assert gradcheck(lambda v: F.elastic_net(v, alpha), ws)
    net = F.elastic_net([Value(w) for w in ws], alpha).data
    assert net == pytest.approx(alpha * sum(abs(w) for w in ws) + (1 - alpha) * sum(w * w for w in ws))


def test_target_errors_name_target_and_class_count():
    for fn in (F.cross_entropy, F.multiclass_hinge, F.squared_hinge):
        with pytest.raises(ValueError, match="target 3 .*3 classes"):
            fn([Value(1.0), Value(2.0), Value(3.0)], 3)
        with pytest.raises(ValueError, match="target -1"):
            fn([1.0, 2.0], -1)
        with pytest.raises(TypeError, match="float"):
            fn([1.0, 2.0], 1.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        F.binary_cross_entropy(Value(0.0), 2.0)
    with pytest.raises(ValueError, match="2 and 1"):
        F.mse([Value(1.0), Value(2.0)], [1.0])
    with pytest.raises(ValueError, match="alpha"):
        F.elastic_net([Value(1.0)], 1.5)
