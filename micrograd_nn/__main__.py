"""Command line: `python -m micrograd_nn demo` and `python -m micrograd_nn graph EXPRESSION`.

    python -m micrograd_nn graph "tanh(x1*w1 + x2*w2 + b)" --set x1=2 x2=0 w1=-3 w2=1 \\
        b=6.8813735870195432 --backward -o neuron.svg

Expressions are parsed with `ast` and turned into Value ops: names, numbers,
+ - * / **, unary minus and calls to exp, log, tanh, sigmoid, relu. Nothing is
ever evaluated as Python.
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
from pathlib import Path

from .engine import Value

FUNCTIONS = ("exp", "log", "tanh", "sigmoid", "relu")
BINARY_OPS = {ast.Add: "__add__", ast.Sub: "__sub__", ast.Mult: "__mul__", ast.Div: "__truediv__",
              ast.Pow: "__pow__"}


class ExpressionError(ValueError):
    """An expression the graph command does not accept, with a caret under the offending token."""


def _reject(text: str, node: ast.AST, why: str):
    col = getattr(node, "col_offset", 0)
    raise ExpressionError(f"{why}\n  {text}\n  {' ' * col}^")


def _check(tree: ast.Expression, text: str) -> None:
    """Reject anything but names, numbers, arithmetic and the allowed calls, outermost offence first."""
    function_names = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Expression, ast.operator, ast.unaryop, ast.expr_context)):
            continue
        if isinstance(node, ast.Constant):
            if type(node.value) not in (int, float):
                _reject(text, node, f"only numbers are allowed, not {type(node.value).__name__} {node.value!r}")
        elif isinstance(node, ast.Name):
            if id(node) in function_names:
                continue
            if node.id in FUNCTIONS:
                _reject(text, node, f"{node.id} is a function: call it, as in {node.id}(x)")
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in BINARY_OPS:
                _reject(text, node, "only + - * / ** are allowed between terms")
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd)):
                _reject(text, node, "only unary - and + are allowed")
        elif isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS and len(node.args) == 1
                    and not node.keywords):
                _reject(text, node, f"only calls to {', '.join(FUNCTIONS)} with one argument are allowed")
        else:
            _reject(text, node, f"{type(node).__name__} is not allowed: use names, numbers, + - * / ** and "
                                f"{', '.join(FUNCTIONS)}")


def evaluate_expression(text: str, values: dict[str, float]) -> tuple[Value, dict[str, Value]]:
    """Build the Value graph of `text`; returns (root, {name: leaf Value used in it})."""
    text = text.strip()
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as err:
        col = max((err.offset or 1) - 1, 0)
        raise ExpressionError(f"not a valid expression: {err.msg}\n  {text}\n  {' ' * col}^") from None
    _check(tree, text)
    leaves: dict[str, Value] = {}
    result: dict[int, Value | float] = {}
    # In a tree, reversed breadth-first order visits every node after its children: no recursion needed.
    for node in reversed(list(ast.walk(tree))):
        if isinstance(node, ast.Constant):
            result[id(node)] = float(node.value)
        elif isinstance(node, ast.Name) and node.id not in FUNCTIONS:
            if node.id not in values:
                _reject(text, node, f"unknown name {node.id!r}: give it a value with --set {node.id}=...")
            if node.id not in leaves:
                leaves[node.id] = Value(values[node.id], label=node.id)
            result[id(node)] = leaves[node.id]
        elif isinstance(node, ast.BinOp):
            left, right = result[id(node.left)], result[id(node.right)]
            method = BINARY_OPS[type(node.op)]
            if isinstance(left, Value):
                result[id(node)] = getattr(left, method)(right)
            elif isinstance(right, Value):
                result[id(node)] = getattr(right, "__r" + method[2:])(left)
            else:
                result[id(node)] = getattr(Value(left), method)(right)
        elif isinstance(node, ast.UnaryOp):
            operand = result[id(node.operand)]
            result[id(node)] = -operand if isinstance(node.op, ast.USub) else operand
        elif isinstance(node, ast.Call):
            arg = result[id(node.args[0])]
            result[id(node)] = getattr(arg if isinstance(arg, Value) else Value(arg), node.func.id)()
    root = result[id(tree.body)]
    return (root if isinstance(root, Value) else Value(root)), leaves


def _parse_assignments(pairs: list[str]) -> dict[str, float]:
    values = {}
    for pair in pairs:
        name, sep, number = pair.partition("=")
        if not sep or not name.isidentifier():
            raise ExpressionError(f"--set takes NAME=NUMBER, got {pair!r}")
        try:
            values[name] = float(number)
        except ValueError:
            raise ExpressionError(f"--set {name}: {number!r} is not a number") from None
    return values


def graph_command(args: argparse.Namespace) -> int:
    from .graph import render

    try:
        values = _parse_assignments(args.set or [])
        root, leaves = evaluate_expression(args.expression, values)
    except (ExpressionError, ValueError, ZeroDivisionError, OverflowError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.backward:
        root.backward()
    root.label = root.label or "out"
    print(f"out = {root.data:.4f}")
    for leaf in (leaves[name] for name in values if name in leaves):
        name = leaf.label
        print(f"d out / d {name} = {leaf.grad:.4f}" if args.backward else f"{name} = {leaf.data:.4f}")
    written = render(root, args.output, show_local_grads=args.local_grads, rankdir=args.rankdir)
    print(f"wrote {written}")
    return 0


def demo_command(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(Path(args.out))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m micrograd_nn", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="train softmax regression and an MLP; write figures to out/")
    demo.add_argument("--out", default="out", help="output folder (default: out)")
    demo.set_defaults(run=demo_command)
    graph = commands.add_parser("graph", help="draw the computation graph of an expression")
    graph.add_argument("expression")
    graph.add_argument("--set", nargs="*", metavar="NAME=NUMBER", help="values of the names in the expression")
    graph.add_argument("--backward", action="store_true", help="run backward() and show gradients")
    graph.add_argument("--local-grads", action="store_true", help="label edges with local derivatives")
    graph.add_argument("--rankdir", default="LR", choices=["LR", "TB", "RL", "BT"])
    graph.add_argument("-o", "--output", default="graph.svg", help="output file: .svg, .png or .dot")
    graph.set_defaults(run=graph_command)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    code = args.run(args)
    if args.command == "demo":
        print(f"done in {time.perf_counter() - started:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
