"""The engine's fast paths give what the plain ones give, node for node and bit for bit: the order of
`topological_order` (which fixes the order of backward's additions) and the nodes a Layer builds."""

import random

import pytest

import micrograd_nn as mg
from micrograd_nn import Value
from micrograd_nn.engine import topological_order
from micrograd_nn.nn import Layer


def plain_depth_first(root, visited=None):
    """The sort without its shortcut: every child pushed on the stack, every edge checked in Python."""
    order = []
    if visited is None:
        visited = set()
    elif root in visited:
        return order
    visited.add(root)
    stack = [(root, iter(root._prev))]
    while stack:
        node, children = stack[-1]
        for child in children:
            if child not in visited:
                visited.add(child)
                stack.append((child, iter(child._prev)))
                break
        else:
            stack.pop()
            order.append(node)
    return order


def random_graph(seed: int) -> Value:
    """Shared nodes, repeated children (x·x), n-ary nodes, leaves reached late: what the shortcut must not reorder."""
    rng = random.Random(seed)
    nodes = [Value(rng.uniform(-1, 1)) for _ in range(5)]
    for _ in range(60):
        a, b = rng.choice(nodes), rng.choice(nodes[-8:])
        kind = rng.randrange(6)
        if kind == 0:
            node = a * b
        elif kind == 1:
            node = (a + b).relu()
        elif kind == 2:
            node = a * a
        elif kind == 3:
            node = mg.dot(rng.sample(nodes, 3), rng.sample(nodes, 3), bias=b)
        elif kind == 4:
            node = mg.sum(rng.choices(nodes, k=4))
        else:
            node = a + Value(rng.uniform(-1, 1))  # a new leaf, met only here
        nodes.append(node)
    return mg.sum(nodes[-10:])


@pytest.mark.parametrize("seed", range(20))
def test_the_sort_gives_the_plain_depth_first_order(seed):
    root = random_graph(seed)
    expected = plain_depth_first(root)
    assert topological_order(root) == expected
    some = set(expected[: len(expected) // 3])  # a walk that skips what an earlier one returned
    seen, plain_seen = set(some), set(some)
    assert topological_order(root, seen) == plain_depth_first(root, plain_seen)
    assert seen == plain_seen


def test_the_sort_of_a_leaf_and_of_a_chain():
    leaf = Value(2.0)
    assert topological_order(leaf) == [leaf]
    node = leaf
    for _ in range(10_000):  # deeper than the recursion limit
        node = node.relu()
    assert topological_order(node) == plain_depth_first(node)


@pytest.mark.parametrize("activation", ["relu", "linear", "tanh"])
@pytest.mark.parametrize("kind", ["values", "floats"])
def test_an_mlp_step_through_layers_matches_neuron_by_neuron_bit_for_bit(activation, kind):
    """Two layers' forward and backward, built a layer at a time and a neuron at a time: the same data,
    gradients and graph."""
    mg.manual_seed(5)
    first, second = Layer(3, 6, activation=activation), Layer(6, 2, activation=activation)
    numbers = [0.25, -1.5, 2.0]

    def run(by_layer):
        x = [Value(v) for v in numbers] if kind == "values" else list(numbers)
        if by_layer:
            out = second(first(x))
        else:
            hidden = [n(x) for n in first.neurons]
            out = [n(hidden) for n in second.neurons]
        loss = mg.sum(o * o for o in out)
        for p in first.parameters() + second.parameters():
            p.grad = 0.0
        loss.backward()
        order = topological_order(loss)
        position = {id(node): i for i, node in enumerate(order)}
        graph = [(node.data.hex(), node.grad.hex(), str(node.op), [position[id(c)] for c in node._prev],
                  [g.hex() for g in node.local_grads], len(node.operands)) for node in order]
        return graph, [p.grad.hex() for p in first.parameters() + second.parameters()]

    assert run(by_layer=True) == run(by_layer=False)
