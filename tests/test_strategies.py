"""The hypothesis strategies: they reach every op of the table, and at magnitudes from 1e-300 to 1e300
our first derivatives equal PyTorch float64's, inf and NaN included."""

import math
import sys

import pytest
import torch
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

import micrograd_nn as mg
from micrograd_nn import Value, ops
from micrograd_nn.testing import ARITY, op_keys, programs, wide_values

# `find` stops at the first program that has the op: no shrinking, the same search on every run
SEARCH = settings(max_examples=2000, phases=[Phase.generate], derandomize=True, database=None)
SMALLEST_NORMAL = sys.float_info.min  # below it a float has fewer significant bits; differences there are rounding


def same_float(ours: float, theirs: float) -> bool:
    """Equal to 1e-9 relative where both are finite; otherwise the same inf or NaN."""
    if math.isfinite(ours) and math.isfinite(theirs):
        return math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=SMALLEST_NORMAL)
    return ours == theirs or (math.isnan(ours) and math.isnan(theirs))


def test_the_strategies_know_how_to_call_every_op_of_the_table():
    import micrograd_nn.functional  # noqa: F401 - registers the fused losses

    assert op_keys() == sorted(ops.OPS) and set(ARITY) == set(ops.OPS)


@pytest.mark.parametrize("wide", [False, True], ids=["well-conditioned", "wide"])
@pytest.mark.parametrize("key", op_keys())
def test_programs_cover_every_op_key(key, wide):
    program = find(programs(wide=wide), lambda p: key in p.op_keys(), settings=SEARCH)
    assert key in program.op_keys()


@given(wide_values())
def test_wide_values_span_tiny_to_huge(x):
    assert math.isfinite(x) and (abs(x) <= 3.0 or 1e-301 < abs(x) < 1e301)


def test_wide_values_reach_both_ends():
    assert abs(find(wide_values(), lambda x: abs(x) > 1e250)) > 1e250
    assert 0.0 < abs(find(wide_values(), lambda x: 0.0 < abs(x) < 1e-250)) < 1e-250


@given(programs(wide=True, max_steps=10))
def test_wide_programs_first_derivatives_match_pytorch(program):
    leaves = [Value(x) for x in program.inputs]
    ours = [g.data for g in mg.grad(program(leaves), leaves)]
    tleaves = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in program.inputs]
    tout = program(tleaves)
    assert same_float(program(leaves).data, tout.item())
    theirs = torch.autograd.grad(tout, tleaves, allow_unused=True) if tout.requires_grad else [None] * len(leaves)
    for a, b in zip(ours, theirs):
        assert same_float(a, 0.0 if b is None else b.item()), (ours, theirs)


@given(programs(wide=True))
def test_wide_programs_are_trees(program):
    used = [x for _, operands in program.steps for x in operands if type(x) is int]
    assert len(used) == len(set(used))


@given(programs())
def test_well_conditioned_programs_stay_small_and_finite(program):
    leaves = [Value(x) for x in program.inputs]
    out = program(leaves)
    assert all(abs(n.data) <= 3e3 for n in mg.engine.topological_order(out))  # up to 3 outputs of size 1e3


def test_programs_run_on_values_and_torch_alike():
    program = find(programs(), lambda p: {"cross_entropy", "max", "dot"} <= p.op_keys(),
                   settings=SEARCH)
    out = program([Value(x) for x in program.inputs])
    tout = program([torch.tensor(x, dtype=torch.float64) for x in program.inputs])
    assert out.data == pytest.approx(tout.item(), rel=1e-12, abs=1e-12)


@given(st.data())
def test_used_steps_only_keeps_the_value_of_the_outputs(data):
    program = data.draw(programs())
    pruned = program.used_steps_only()
    assert program([Value(x) for x in program.inputs]).data == pruned([Value(x) for x in program.inputs]).data


# --- what the wide programs showed ---


def test_operands_not_selected_get_exactly_zero_as_in_pytorch():
    """relu's dead side and max's losers receive 0 even when the derivative above them is infinite (PyTorch
    routes these with `where` and indexing); a multiplication by 0 gives 0·∞ = NaN in both."""
    def f(v, relu, maximum):
        big = v[2] * v[2]  # 1e300² overflows: ∂out/∂(relu and max nodes) = inf
        return (relu(v[0]) + maximum([v[0], v[1]])) * big + v[0] * 0.0 * big

    xs = [-1.0, 2.0, 1e300]
    leaves = [Value(x) for x in xs]
    ours = [g.data for g in mg.grad(f(leaves, Value.relu, mg.maximum), leaves)]
    t = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    theirs = torch.autograd.grad(f(t, torch.relu, lambda vs: torch.stack(vs).max(dim=0).values), t)
    assert all(same_float(a, b.item()) for a, b in zip(ours, theirs))
    assert math.isnan(ours[0]) and ours[1] == math.inf  # x0: 0·∞ through the product; x1 wins the max

    x = Value(-1.0)
    big = Value(1e300) * 1e300
    assert mg.grad(x.relu() * big, [x])[0].data == 0.0


def test_a_power_whose_exponent_is_a_number_is_not_a_base_at_exponent_zero():
    a = Value(-2.78e241)  # d(a⁻¹)/da = −a⁻² underflows to −0: a number times ∞ upstream is NaN, as in PyTorch
    out = -0.66 / a**-1.0
    t = torch.tensor(-2.78e241, dtype=torch.float64, requires_grad=True)
    (expected,) = torch.autograd.grad(-0.66 / t**-1.0, t)
    assert math.isnan(mg.grad(out, [a])[0].data) and math.isnan(expected.item())


def test_tanh_derivative_near_saturation_agrees_with_pytorch():
    x = Value(10.0)
    (g,) = mg.grad(x.tanh(), [x])
    t = math.tanh(10.0)
    xt = torch.tensor(10.0, dtype=torch.float64, requires_grad=True)
    (expected,) = torch.autograd.grad(torch.tanh(xt), xt)
    assert (1 - t) * (1 + t) == pytest.approx(expected.item(), rel=1e-15, abs=0)  # 1 − t² with t² not rounded
    assert g.data == pytest.approx(expected.item(), rel=1e-12, abs=0)


def test_cross_entropy_keeps_a_loss_much_smaller_than_its_logits():
    import micrograd_nn.functional as F

    assert F.cross_entropy([10.0, -30.0], 0).data == pytest.approx(math.log1p(math.exp(-40.0)), rel=1e-12)
    assert F.cross_entropy([1e300, 1e300], 0).data == pytest.approx(math.log(2.0), rel=1e-12)
