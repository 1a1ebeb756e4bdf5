"""Functions that need a graph record it themselves, also inside no_grad(), as PyTorch's do; and what
cannot be differentiated or compiled because it was computed inside no_grad() is refused by name."""

import math
import threading

import pytest
import torch

import micrograd_nn as mg
import micrograd_nn.functional as F
from micrograd_nn import Value, enable_grad, is_grad_enabled, no_grad
from micrograd_nn.gradcheck import numerical_hessian
from micrograd_nn.nn import MLP
from micrograd_nn.optim import SGD
from micrograd_nn.tape import CompiledStep
from micrograd_nn.train import fit


def f(x, y):
    return x * x * y + y**3  # ∇f = (2xy, x² + 3y²), H = [[2y, 2x], [2x, 6y]]: [[4, 2], [2, 12]] at (1, 2)


def torch_point():
    return (torch.tensor(1.0, dtype=torch.float64, requires_grad=True),
            torch.tensor(2.0, dtype=torch.float64, requires_grad=True))


# --- derivatives of derivatives record their graph inside no_grad(), as torch.autograd.grad(create_graph=True) ---


def test_hessian_inside_no_grad_matches_torch():
    x, y = Value(1.0), Value(2.0)
    out = f(x, y)
    with no_grad():
        ours = [[h.data for h in row] for row in mg.hessian(out, [x, y])]
        theirs = torch.autograd.functional.hessian(f, torch_point())
    assert ours == [[t.item() for t in row] for row in theirs] == [[4.0, 2.0], [2.0, 12.0]]
    assert is_grad_enabled()


def test_grad_with_create_graph_inside_no_grad_records_a_graph_as_torch_does():
    x, y = Value(1.0), Value(2.0)
    tx, ty = torch_point()
    out, t_out = f(x, y), f(tx, ty)
    with no_grad(), torch.no_grad():
        ours = mg.grad(out, [x, y], create_graph=True)
        theirs = torch.autograd.grad(t_out, [tx, ty], create_graph=True)
        assert all(g._prev for g in ours) and all(t.requires_grad for t in theirs)
        # third-order: d/dy of ∂²f/∂y² = 6
        (d2y,) = mg.grad(ours[1], [y], create_graph=True)
        (d3y,) = mg.grad(d2y, [y])
    t_d2y = torch.autograd.grad(theirs[1], [ty], create_graph=True)[0]
    t_d3y = torch.autograd.grad(t_d2y, [ty])[0]
    assert [g.data for g in ours] == [t.item() for t in theirs] == [4.0, 13.0]
    assert (d2y.data, d3y.data) == (t_d2y.item(), t_d3y.item()) == (12.0, 6.0)


def test_jacobian_inside_no_grad_matches_torch():
    x, y = Value(1.0), Value(2.0)
    outs = [f(x, y), (x * y).tanh()]
    with no_grad():
        ours = [[j.data for j in row] for row in mg.jacobian(outs, [x, y], create_graph=True)]
        (second,) = mg.grad(mg.jacobian(outs, [x, y], create_graph=True)[1][0], [y])
    theirs = torch.autograd.functional.jacobian(lambda a, b: torch.stack([f(a, b), (a * b).tanh()]), torch_point())
    for i in range(2):
        assert ours[i] == pytest.approx([theirs[j][i].item() for j in range(2)], rel=1e-15)
    tx, ty = torch_point()
    (t_dx,) = torch.autograd.grad((tx * ty).tanh(), [tx], create_graph=True)
    assert second.data == pytest.approx(torch.autograd.grad(t_dx, [ty])[0].item(), rel=1e-14)


@pytest.mark.parametrize("call", [
    lambda out, xs: mg.grad(out, xs),
    lambda out, xs: mg.grad(out, xs, create_graph=True),
    lambda out, xs: mg.hessian(out, xs),
    lambda out, xs: mg.jacobian([xs[0] * 1.0, out], xs),
    lambda out, xs: mg.compile(out),
    lambda out, xs: out.backward(),
])
def test_an_output_computed_inside_no_grad_is_refused_naming_no_grad(call):
    # torch.autograd.grad raises too ("does not require grad"); a silent 0 would read as a true derivative.
    x, y = Value(1.0), Value(2.0)
    with no_grad():
        out = f(x, y)
    with pytest.raises(ValueError, match=r"no_grad\(\)") as error:
        call(out, [x, y])
    assert "'+'" in str(error.value)
    assert out.grad == x.grad == y.grad == 0.0


def test_a_constant_made_inside_no_grad_is_a_constant_to_grad_and_hessian():
    x = Value(3.0)
    with no_grad():
        c = x.exp()  # detached, as torch's .detach(): no path back to x
    out = c * x
    assert [g.data for g in mg.grad(out, [x])] == [c.data]
    assert [[h.data for h in row] for row in mg.hessian(out, [x])] == [[0.0]]
    tx = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.functional.hessian(lambda t: t.exp().detach() * t, tx).item() == 0.0


# --- gradcheck, fit and compiled training record their own graphs ---


def test_gradcheck_inside_no_grad_checks_and_still_catches_a_wrong_derivative():
    def wrong(vs):
        (x,) = vs
        return Value(x.data**2, (x,), (3.0 * x.data,), "square")  # the slope should be 2x

    with no_grad():
        assert mg.gradcheck(lambda vs: f(*vs), [1.0, 2.0], order=2)
        with pytest.raises(mg.GradcheckError, match="backprop gradient 4.5"):
            mg.gradcheck(wrong, [1.5])
        hessian = numerical_hessian(lambda vs: f(*vs), [1.0, 2.0])
    assert hessian[0] == pytest.approx([4.0, 2.0], abs=1e-6) and hessian[1] == pytest.approx([2.0, 12.0], abs=1e-6)


def test_gradcheck_checks_a_function_that_differentiates_inside_as_torch_gradcheck_does():
    def slope_in_x(vs):  # ∂f/∂x = 2xy, whose gradient is (2y, 2x) = (4, 2) at (1, 2)
        return mg.grad(f(*vs), vs, create_graph=True)[0]

    assert mg.gradcheck(slope_in_x, [1.0, 2.0]) and mg.gradcheck(slope_in_x, [1.0, 2.0], order=2)
    with no_grad():
        assert mg.gradcheck(slope_in_x, [1.0, 2.0])
    tx, ty = torch_point()
    assert torch.autograd.gradcheck(lambda a, b: torch.autograd.grad(f(a, b), a, create_graph=True)[0], (tx, ty))
    with pytest.raises(mg.GradcheckError, match="input 0 .*backprop gradient 0.0, central difference 3.99999"):
        mg.gradcheck(lambda vs: mg.grad(f(*vs), vs)[0], [1.0, 2.0])  # without create_graph: a constant


@pytest.mark.parametrize("compiled", [False, True])
def test_fit_inside_no_grad_trains_exactly_as_outside(compiled):
    X, y = [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [-1.0, 0.3]], [0, 1, 1, 0]

    def train():
        mg.manual_seed(0)
        model = MLP(2, [4, 1])
        history = fit(model, X, y, F.binary_cross_entropy, SGD(model.parameters(), 0.1), epochs=3, batch_size=2,
                      verbose=False, compile=compiled, validation=(X, y))
        return history, model.state_dict()

    outside = train()
    mg.manual_seed(0)
    initial = MLP(2, [4, 1]).state_dict()
    with no_grad():
        inside = train()
        assert not is_grad_enabled()
    assert inside == outside
    assert inside[1] != initial and inside[0].loss[-1] < inside[0].loss[0]


def test_compiled_step_inside_no_grad_records_its_graph():
    mg.manual_seed(0)
    model = MLP(2, [3, 1])
    step = CompiledStep(model, F.mse)
    with no_grad():
        loss, _ = step([[0.5, -1.0]], [2.0])
    mg.manual_seed(0)
    reference = MLP(2, [3, 1])
    expected = F.mse(reference([0.5, -1.0]), 2.0)
    expected.backward()
    assert loss == expected.data
    assert [p.grad for p in model.parameters()] == [p.grad for p in reference.parameters()]


def test_compiled_step_names_the_model_when_the_model_cannot_take_values():
    inner = MLP(2, [1])

    def model(x):
        return inner([math.tanh(v) for v in x])  # math.tanh needs a float

    with pytest.raises(TypeError, match="model that accepts Value inputs") as error:
        CompiledStep(model, F.mse, params=inner.parameters())([[0.1, 0.2]], [1.0])
    assert "loss_fn" not in str(error.value)

    def loss_on_floats(out, target):
        return (out - float(target)) ** 2

    with pytest.raises(TypeError, match="loss_fn that accepts a Value target"):
        CompiledStep(inner, loss_on_floats)([[0.1, 0.2]], [1.0])


# --- enable_grad: the mirror of no_grad ---


def test_enable_grad_records_inside_no_grad_and_restores_the_state_it_found():
    x = Value(2.0)
    with no_grad():
        with enable_grad():
            assert is_grad_enabled()
            y = x * 3.0
            with no_grad():
                assert not is_grad_enabled()
                assert (x * 3.0)._prev == ()
            assert is_grad_enabled()
        assert not is_grad_enabled()
        assert (x * 3.0)._prev == ()
    assert y._prev == (x,)
    with enable_grad():  # outside no_grad: nothing changes
        assert is_grad_enabled()
    assert is_grad_enabled()


def test_enable_grad_decorates_with_and_without_parentheses_and_restores_after_an_exception():
    @enable_grad
    def bare(x):
        return x * 2.0

    @enable_grad()
    def called(x):
        raise RuntimeError("inside")

    x = Value(1.0)
    with no_grad():
        assert bare(x)._prev == (x,)
        with pytest.raises(RuntimeError, match="inside"):
            called(x)
        assert not is_grad_enabled()
    with pytest.raises(TypeError, match="enable_grad takes no arguments"):
        enable_grad(3)


def test_an_enable_grad_generator_records_at_every_resumption():
    @enable_grad
    def doubles(x):
        while True:
            yield x * 2.0

    x = Value(1.0)
    gen = doubles(x)
    with no_grad():
        first = next(gen)
        second = next(gen)
        assert not is_grad_enabled()
    assert first._prev == second._prev == (x,)
    gen.close()


def test_enable_grad_in_one_thread_does_not_make_another_record():
    x = Value(1.0)
    entered, release = threading.Event(), threading.Event()
    seen = {}

    def other():
        with no_grad():
            entered.set()
            release.wait(5)
            seen["other"] = (x * 2.0)._prev

    thread = threading.Thread(target=other)
    thread.start()
    entered.wait(5)
    with no_grad(), enable_grad():
        seen["main"] = (x * 2.0)._prev
        release.set()
        thread.join(5)
    assert seen == {"main": (x,), "other": ()}
