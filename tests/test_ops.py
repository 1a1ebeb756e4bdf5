"""The op table and the engine agree: every node the engine builds (hot operators written out included) has the
value and local derivatives its table entry gives on the node's operands, and the rule text reads as by hand."""

import math
import pickle

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import micrograd_nn as mg
import micrograd_nn.functional as F
from micrograd_nn import Value, ops
from micrograd_nn.testing import finite_values

# One builder per op key, from the public API. `x` and `y` are Values or floats (at least one a Value);
# unary ops get a Value x.
BUILDERS = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y,
    "exp_pow": lambda x, y: (abs(x) + 0.5) ** y,
    "neg": lambda x, y: -x,
    "pow": lambda x, y: x**3,
    "exp": lambda x, y: x.exp(),
    "log": lambda x, y: abs(x).log(),
    "tanh": lambda x, y: x.tanh(),
    "sigmoid": lambda x, y: x.sigmoid(),
    "relu": lambda x, y: x.relu(),
    "abs": lambda x, y: x.abs(),
    "sum": lambda x, y: mg.sum([x, y, 1.5]),
    "dot": lambda x, y: mg.dot([x, 2.0], [y, x], bias=0.25),
    "max": lambda x, y: mg.maximum([x, y, 0.0]),
    "cross_entropy": lambda x, y: F.cross_entropy([x, y, 0.3], 1),
    "bce": lambda x, y: F.binary_cross_entropy(x, 0.25),
}
BINARY = ("add", "sub", "mul", "div", "exp_pow")


def test_every_op_in_the_table_has_a_builder():
    import micrograd_nn.functional  # noqa: F401 - registers the fused losses

    assert set(ops.OPS) == set(BUILDERS)


@pytest.mark.parametrize("key", sorted(BUILDERS))
@given(a=finite_values(-3, 3), b=finite_values(-3, 3), a_is_value=st.booleans(), b_is_value=st.booleans())
def test_nodes_agree_with_their_table_entry(key, a, b, a_is_value, b_is_value):
    assume(abs(b) > 1e-3 and abs(a) > 1e-3)
    if key in BINARY and not (a_is_value or b_is_value):
        a_is_value = True
    b_is_value = b_is_value or key == "exp_pow"  # a number exponent makes POW
    x = Value(a) if a_is_value or key not in BINARY else a
    y = Value(b) if b_is_value or key not in BINARY else b
    node = BUILDERS[key](x, y)
    if node.rule.key != key:  # the op under test sits below a helper node (e.g. abs before log)
        node = next(n for n in mg.engine.topological_order(node) if n.rule is not None and n.rule.key == key)
    floats = [o.data if isinstance(o, Value) else o for o in node.operands]
    assert all(type(f) is float for f in floats)
    assert node.rule.forward(*floats) == node.data
    local = node.rule.local(tuple(floats), node.data)
    assert len(local) == len(floats)
    at_children = [g for o, g in zip(node.operands, local) if isinstance(o, Value)]
    assert [o for o in node.operands if isinstance(o, Value)] == list(node.children)
    assert at_children == list(node.local_grads)


def test_operands_keep_folded_numbers_on_their_side():
    x = Value(2.0, label="x")
    assert (3 - x).operands == (3.0, x) and (x - 3).operands == (x, 3.0)
    assert (x * 3).operands == (x, 3.0) and (2 / x).operands == (2.0, x)
    assert (x**2).operands == (x, 2.0) and (x**2).rule is ops.POW and (2**x).rule is ops.EXP_POW
    assert mg.dot([x, 1.5], [4.0, x]).operands == (x, 4.0, 1.5, x, 0.0)
    w = Value(1.0)
    assert mg.dot([w], [x], bias=w).operands == (w, x, w) and mg.dot([w], [x], bias=w)._args is None


def test_rule_text_reads_as_written_by_hand():
    x1, w1 = Value(2.0, label="x1"), Value(-3.0, label="w1")
    n = x1 * w1
    assert n.rule.rule_text(0, ["x1", "w1"], "n") == "w1"
    assert ops.TANH.rule_text(0, ["n"], "o") == "1 − o²"
    assert ops.SIGMOID.rule_text(0, ["z"], "a") == "a·(1 − a)"
    assert ops.DOT.rule_text(0, ["w1", "x1", "w2", "x2", "b"], "z") == "x1"
    assert ops.DOT.rule_text(3, ["w1", "x1", "w2", "x2", "b"], "z") == "w2"
    assert ops.DOT.rule_text(4, ["w1", "x1", "w2", "x2", "b"], "z") == "1"
    assert F.CROSS_ENTROPY.rule_text(1, ["z0", "z1", "t"], "L") == "p₁ − [1 = t]"
    assert ops.POW.rule_text(0, ["a", "2"], "b") == "2·a" and ops.POW.rule_text(0, ["a", "3"], "b") == "3·a²"
    assert ops.TANH.rule_numbers(0, [0.8814], 0.7071, 0.5, str) == "1 − 0.7071²"


def test_ops_are_strings_and_pickle_to_the_same_entry():
    assert ops.TANH == "tanh" and isinstance(ops.TANH, str)
    assert pickle.loads(pickle.dumps(ops.TANH)) is ops.TANH
    assert pickle.loads(pickle.dumps(F.CROSS_ENTROPY)) is F.CROSS_ENTROPY


def test_a_node_built_by_hand_has_no_rule():
    x = Value(0.3)
    node = Value(math.sin(x.data), (x,), (math.cos(x.data),), ops.TANH)
    assert node.rule is None and node.op == "tanh" and type(node.op) is str


def test_the_printed_check_in_the_tables_docstring_holds():
    import doctest

    result = doctest.testmod(ops)
    assert result.attempted >= 1 and result.failed == 0
