"""Names for the nodes of a graph, as the ledger, the drawings and practice sheets write them.

A node's label where it has one (or, given a module, its name in `named_parameters()`, `<neuron>.z` /
`<neuron>.a` for a neuron's sum and activation, and a convolution's outputs by position,
`<conv>.y[o][i][j]`: `model_names`; with notation="layer" the textbook's `W[2]₀,₁`, `b[1]₀`, `z[1]₀`,
`a[1]₀`, `y[1]₀,₁,₂`); otherwise its op's key and a counter in topological order (`add1`, `mul2`, `tanh1`,
`dot3`, `leaf1` for an unlabelled leaf), skipping names a label already uses.
"""

from __future__ import annotations

import re

from .engine import Value
from .ops import subscript

__all__ = ["node_names", "model_names", "layer_name", "parameter_names", "module_of", "ACTIVATIONS"]


def _op_key(node: Value) -> str:
    """The op's key (`mul`, `tanh`, …); for a hand-built op its text reduced to letters and digits."""
    if node.rule is not None:
        return node.rule.key
    if not node._prev:
        return "leaf"
    return re.sub(r"[^A-Za-z0-9]", "", node._op)[:12] or "op"


def parameter_names(module) -> dict:
    """{parameter Value: dotted name} from a module's `named_parameters()` (or {} for anything else)."""
    named = getattr(module, "named_parameters", None)
    return {p: name for name, p in named()} if callable(named) else {}


def module_of(name: str) -> str:
    """The module part of a parameter's dotted name: `layers.0.neurons.3.w.1` → `layers.0.neurons.3`."""
    parts = name.split(".")
    while parts and parts[-1].isdigit():
        parts.pop()
    return ".".join(parts[:-1])


ACTIVATIONS = ("tanh", "relu", "sigmoid")
NOTATIONS = ("dotted", "layer")


def _layer_tail(parts: list[str]) -> tuple[str, list[str]] | None:
    """(symbol, indices) for the end of a dotted name: `neurons.3.w.1` → ('W', ['3', '1']), `b` → ('b', [])."""
    if len(parts) == 4 and parts[0] == "neurons" and parts[2] == "w" and parts[1].isdigit() and parts[3].isdigit():
        return "W", [parts[1], parts[3]]
    if len(parts) == 3 and parts[0] == "neurons" and parts[1].isdigit() and parts[2] in ("b", "z", "a"):
        return parts[2], [parts[1]]
    if len(parts) == 2 and parts[0] == "w" and parts[1].isdigit():
        return "w", [parts[1]]
    if len(parts) == 1 and parts[0] in ("b", "z", "a"):
        return parts[0], []
    if len(parts) >= 2 and parts[0] == "weight" and all(p.isdigit() for p in parts[1:]):
        return "W", parts[1:]
    if len(parts) == 2 and parts[0] == "bias" and parts[1].isdigit():
        return "b", [parts[1]]
    if len(parts) == 1 and re.fullmatch(r"y(\[\d+\])+", parts[0]):  # a convolution's output y[o][i][j]
        return "y", re.findall(r"\d+", parts[0])
    return None


def layer_name(dotted: str) -> str:
    """A module name in the textbook's layer notation, layers counted from 1 (the input is layer 0):
    `layers.1.neurons.3.w.0` → `W[2]₃,₀`, `layers.0.neurons.2.b` → `b[1]₂`, `layers.0.neurons.2.z` → `z[1]₂`,
    `.a` → `a[1]₂`; a convolution's `layers.0.weight.1.0.2.2` → `W[1]₁,₀,₂,₂`, `bias.1` → `b₁` and its output
    `layers.0.y[1][0][2]` → `y[1]₁,₀,₂`; a bare
    Layer's `neurons.3.w.0` → `W₃,₀`, a Neuron's `w.0` → `w₀`. Any other name stays as it is."""
    parts = dotted.split(".")
    prefix, layer = [], ""
    for k in range(len(parts) - 1):
        if parts[k] == "layers" and parts[k + 1].isdigit():
            prefix, layer, parts = parts[:k], f"[{int(parts[k + 1]) + 1}]", parts[k + 2:]
            break
    tail = _layer_tail(parts)
    if tail is None:
        return dotted
    symbol, indices = tail
    name = symbol + layer + ",".join(subscript(int(i)) for i in indices)
    return ".".join(prefix + [name])


def model_names(order: list[Value], module, notation: str = "dotted") -> dict:
    """Names from a module: its parameters' dotted names, and for a neuron applied once in the graph, its
    z = Σ wᵢxᵢ + b as `<neuron>.z` and its activation as `<neuron>.a` (`layers.1.neurons.3.a`).

    notation="layer" writes them as a textbook does, layers counted from 1: `W[2]₃,₁` for
    `layers.1.neurons.3.w.1`, `b[2]₃`, `z[2]₃`, `a[2]₃` (see `layer_name`)."""
    if notation not in NOTATIONS:
        raise ValueError(f"notation must be 'dotted' or 'layer', got {notation!r}")
    given = parameter_names(module)
    found: dict = {}  # neuron (or convolution) -> the dot nodes made from its parameters
    for node in order:
        if node.rule is not None and node.rule.key == "dot":
            modules = {module_of(given[c]) for c in node._prev if c in given}
            if len(modules) == 1:
                found.setdefault(modules.pop(), []).append(node)
    users: dict = {}
    for node in order:
        for child in node._prev:
            users.setdefault(child, []).append(node)
    for neuron, zs in found.items():
        if any(_kernel_index(given, c) is not None for c in zs[0]._prev):  # a convolution's outputs y[o][i][j]
            given.update((y, name) for y, name in _convolution_names(neuron, zs, given, module).items()
                         if y not in given)
            continue
        if len(zs) != 1 or not neuron:  # applied to several samples: no single name fits
            continue
        z = zs[0]
        given.setdefault(z, f"{neuron}.z")
        after = users.get(z, [])
        if len(after) == 1 and after[0].rule is not None and after[0].rule.key in ACTIVATIONS:
            given.setdefault(after[0], f"{neuron}.a")
    if notation == "layer":
        short = {node: layer_name(name) for node, name in given.items()}
        if len(set(short.values())) == len(short):  # two names never fold into one
            given = short
    return given


def _kernel_index(given: dict, weight: Value) -> tuple[int, ...] | None:
    """(o, c, u) or (o, c, u, v) for a convolution's weight named `….weight.o.c.u[.v]`, else None."""
    parts = given.get(weight, "").split(".")
    for k in range(len(parts) - 1, -1, -1):
        if parts[k] == "weight" and len(parts) - k - 1 in (3, 4) and all(p.isdigit() for p in parts[k + 1:]):
            return tuple(int(p) for p in parts[k + 1:])
    return None


def _submodule(module, path: str):
    """The module at a dotted path (`layers.0`) inside `module`, or None."""
    for part in path.split(".") if path else []:
        module = module[int(part)] if part.isdigit() and isinstance(module, (list, tuple)) and \
            int(part) < len(module) else getattr(module, part, None)
    return module


def _convolution_names(path: str, ys: list[Value], given: dict, module) -> dict:
    """{output: `<path>.y[o][i][j]`} (`y[o][t]` in 1-D) for a convolution applied once in the graph.

    The graph does not record where an output sits, but neighbours read overlapping inputs: the output right of
    y[o][i][j] reads with kernel column v − stride what y[o][i][j] reads with column v (rows alike). Matching
    those overlaps (by the input Values themselves, else by their numbers) lays the outputs out; where the
    match is not unique (stride ≥ kernel, repeated inputs, several samples) no position is named."""
    conv = _submodule(module, path)
    stride, kernel = getattr(conv, "stride", None), getattr(conv, "kernel_size", None)
    if not isinstance(stride, int) or not isinstance(kernel, int) or stride >= kernel:
        return {}
    channels: dict = {}
    reads: dict = {}  # output -> {(c, u[, v]): the input it multiplies with that weight}
    for y in ys:
        operands = y.operands
        pairs = {}
        for w, x in zip(operands[0:-1:2], operands[1:-1:2]):
            index = _kernel_index(given, w) if isinstance(w, Value) else None
            if index is None:
                return {}
            pairs[index[1:]] = x
            channels.setdefault(index[0], set()).add(y)
        reads[y] = pairs
    names = {}
    for o, outputs in channels.items():
        for token in (id, lambda x: x.data if isinstance(x, Value) else x):
            grid = _lay_out(list(outputs), reads, token, stride, kernel)
            if grid is not None:
                break
        else:
            return {}
        prefix = f"{path}.y" if path else "y"
        for position, y in grid.items():
            names[y] = prefix + f"[{o}]" + "".join(f"[{i}]" for i in position)
    return names


def _reads_along(reads: dict, token, axis: int, keep, shift: int = 0) -> tuple:
    """An output's reads whose kernel offset k on `axis` passes `keep(k)`, offsets moved back by `shift`, as a
    sorted tuple of ((c, offsets…), input token): what a neighbour must read to overlap it."""
    return tuple(sorted((key[:1 + axis] + (key[1 + axis] - shift,) + key[2 + axis:], token(x))
                        for key, x in reads.items() if keep(key[1 + axis])))


def _lay_out(outputs: list, reads: dict, token, stride: int, kernel: int) -> dict | None:
    """{position: output} from overlapping reads (see `_convolution_names`), or None unless exactly one layout."""
    dims = len(next(iter(reads[outputs[0]]))) - 1
    after = []  # per axis (rows, then columns): {output: the next output along it}
    for axis in range(dims):
        by_head: dict = {}
        for y in outputs:
            head = _reads_along(reads[y], token, axis, lambda k: k < kernel - stride)
            by_head.setdefault(head, []).append(y)
        nexts = {}
        for y in outputs:
            tail = _reads_along(reads[y], token, axis, lambda k: k >= stride, stride)
            if not tail:  # past the padded edge: nothing follows
                continue
            found = by_head.get(tail, [])
            if len(found) > 1 or found == [y]:
                return None
            if found:
                nexts[y] = found[0]
        if len(set(nexts.values())) != len(nexts):
            return None
        after.append(nexts)
    followers = set().union(*(set(n.values()) for n in after))
    starts = [y for y in outputs if y not in followers]
    if len(starts) != 1:
        return None
    grid, row_start, i = {}, starts[0], 0
    while row_start is not None:
        y, j = row_start, 0
        while y is not None:
            grid[(i, j) if dims == 2 else (j,)] = y
            y, j = after[-1].get(y), j + 1
        row_start, i = (after[0].get(row_start) if dims == 2 else None), i + 1
    if len(grid) != len(outputs) or len(set(grid.values())) != len(outputs):
        return None
    if dims == 2:  # a rectangle whose rows follow each other column by column
        columns = 1 + max(j for _, j in grid)
        if len(grid) % columns or any(after[0].get(y) is not grid.get((i + 1, j)) for (i, j), y in grid.items()):
            return None
    return grid


def node_names(order: list[Value], given: dict | None = None) -> dict:
    """A name per node: `given[node]`, else its label, else op key + counter in `order` (`mul1`, `tanh2`)."""
    given = given or {}
    names, taken, counters = {}, set(), {}
    for node in order:
        name = given.get(node) or node.label
        if name:
            names[node] = name
            taken.add(name)
    for node in order:
        if node in names:
            continue
        key = _op_key(node)
        count = counters.get(key, 0)
        while True:
            count += 1
            name = f"{key}{count}"
            if name not in taken:
                break
        counters[key] = count
        names[node] = name
        taken.add(name)
    return names
