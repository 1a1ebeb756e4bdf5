"""Command line: `python -m micrograd_nn demo` and `python -m micrograd_nn graph EXPRESSION`.

    python -m micrograd_nn graph "tanh(x1*w1 + x2*w2 + b)" --set x1=2 x2=0 w1=-3 w2=1 \\
        b=6.8813735870195432 --backward -o neuron.svg

Expressions are parsed with `ast` and turned into Value ops: names, numbers,
+ - * / **, unary minus and calls to exp, log, tanh, sigmoid, relu, abs. Nothing is
ever evaluated as Python. Options and the expression may come in any order, and an
expression may start with a minus sign ("-x*2"). Bad input of any kind prints
`error: …` to stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
import time
import warnings
from pathlib import Path

from .engine import Value
from .frames import fmt
from .ops import FUNCTIONS

BINARY_OPS = {ast.Add: "__add__", ast.Sub: "__sub__", ast.Mult: "__mul__", ast.Div: "__truediv__",
              ast.Pow: "__pow__"}
# Far beyond what a drawing can show; small enough that Python's parser, which recurses, never runs out of stack.
MAX_CHARACTERS = 10_000
MAX_NODES = 1_000
OUTPUT_SUFFIXES = (".svg", ".png", ".dot")


class ExpressionError(ValueError):
    """An expression the graph command does not accept, with a caret under the offending token."""


def _reject(text: str, node: ast.AST, why: str):
    col = getattr(node, "col_offset", 0)
    raise ExpressionError(f"{why}\n  {text}\n  {' ' * col}^")


def _too_large(what: str) -> ExpressionError:
    return ExpressionError(f"expression too large: {what}; the limit is {MAX_NODES} names, numbers and operations")


def _parse(text: str) -> ast.Expression:
    if len(text) > MAX_CHARACTERS:
        raise ExpressionError(f"expression too large: {len(text)} characters; the limit is {MAX_CHARACTERS}")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as err:
        col = max((err.offset or 1) - 1, 0)
        raise ExpressionError(f"not a valid expression: {err.msg}\n  {text}\n  {' ' * col}^") from None
    except (RecursionError, MemoryError):
        raise _too_large("too many operations, or nested too deeply, for Python's parser") from None
    size = sum(isinstance(node, ast.expr) for node in ast.walk(tree))
    if size > MAX_NODES:
        raise _too_large(f"{size} names, numbers and operations")
    return tree


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
    """Build the Value graph of `text`; returns (root, {name: leaf Value used in it}).

    Raises ExpressionError for anything but the arithmetic above or an expression too large to draw, and the
    engine's errors (ValueError, ZeroDivisionError, OverflowError) outside an operation's domain.
    """
    text = text.strip()
    tree = _parse(text)
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


def _output_path(text: str) -> Path:
    """The -o file, refused before any work if it names no file, a folder, or a format render cannot write."""
    if not text.strip():
        raise ExpressionError("-o needs a file name ending in .svg, .png or .dot")
    path = Path(text)
    if path.is_dir():
        raise ExpressionError(f"-o {text}: that is a folder; give a file name ending in .svg, .png or .dot")
    existing = next(folder for folder in path.absolute().parents if folder.exists())
    if not existing.is_dir():
        raise ExpressionError(f"-o {text}: {existing} is a file, not a folder")
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ExpressionError(f"-o {text}: unknown output type {path.suffix or '(no suffix)'}; "
                              "use .svg, .png or .dot")
    return path


def graph_command(args: argparse.Namespace) -> int:
    from .graph import render

    try:
        if len(args.expression) != 1:
            given = ", ".join(repr(e) for e in args.expression) or "none"
            raise ExpressionError(f"graph takes one expression (quote it if it has spaces; values go after --set), "
                                  f"got {given}")
        path = _output_path(args.output)
        values = _parse_assignments(args.set or [])
        root, leaves = evaluate_expression(args.expression[0], values)
        if args.backward:
            root.backward()
        root.label = root.label or "out"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            written = render(root, path, show_local_grads=args.local_grads, rankdir=args.rankdir)
        if Path(written) != path:  # Graphviz could not draw it: render kept the DOT source instead
            reason = " ".join(str(w.message) for w in caught) or "Graphviz could not be run"
            return _fail(f"{path} was not drawn: {reason}")
    except (ExpressionError, ValueError, ArithmeticError) as err:
        return _fail(str(err))
    except (RecursionError, MemoryError):
        return _fail(str(_too_large("too deep to build and draw")))
    except OSError as err:
        return _fail(f"cannot write {args.output}: {err.strerror or err}")
    print(f"out = {fmt(root.data)}")
    for leaf in (leaves[name] for name in values if name in leaves):
        name = leaf.label
        print(f"d out / d {name} = {fmt(leaf.grad)}" if args.backward else f"{name} = {fmt(leaf.data)}")
    print(f"wrote {written}")
    return 0


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def demo_command(args: argparse.Namespace) -> int:
    from .demo import run_demo

    started = time.perf_counter()
    try:
        run_demo(Path(args.out))
    except OSError as err:
        return _fail(f"cannot write the demo's figures to {args.out}: {err.strerror or err}")
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error reads `error: …` first, like every other error of these commands."""

    def error(self, message: str):
        self.exit(2, f"error: {message}\n{self.format_usage()}")


# `--set NAME=NUMBER …` takes tokens as long as they look like NAME=…; an expression never does (one `=`).
_ASSIGNMENT = re.compile(r"[A-Za-z_]\w*=(?!=)")
_VALUE_OPTIONS = {"-o": "--output", "--output": "--output", "--rankdir": "--rankdir"}
_FLAGS = {"--backward", "--local-grads", "-h", "--help"}


def _arrange_graph_args(tokens: list[str]) -> list[str]:
    """Options first, then `--` and the expression, so argparse never takes "-x*2" for an option or the
    expression for one more --set value, whatever order they were typed in."""
    options, assignments, expressions = [], [], []
    setting = False
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "--":
            expressions += tokens[i + 1:]
            break
        if token == "--set":
            setting = True
        elif token.startswith("--set="):
            setting = True
            assignments.append(token.removeprefix("--set="))
        elif setting and _ASSIGNMENT.match(token):
            assignments.append(token)
        else:
            setting = False
            if token in _VALUE_OPTIONS:
                # Joined with "=", so a value starting with "-" stays a value.
                options += [f"{_VALUE_OPTIONS[token]}={tokens[i + 1]}"] if i + 1 < len(tokens) else [token]
                i += 1
            elif token in _FLAGS or token.startswith(("--output=", "--rankdir=")):
                options.append(token)
            else:  # anything else is expression text, "--x" (that is, −(−x)) included
                expressions.append(token)
        i += 1
    return [*options, *(["--set", *assignments] if assignments else []), "--", *expressions]


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m micrograd_nn", description=__doc__.split("\n\n")[0], allow_abbrev=False)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="train softmax regression and an MLP; write figures to out/",
                               allow_abbrev=False)
    demo.add_argument("--out", default="out", help="output folder (default: out)")
    demo.set_defaults(run=demo_command)
    graph = commands.add_parser("graph", help="draw the computation graph of an expression", allow_abbrev=False,
                                usage="%(prog)s EXPRESSION [--set NAME=NUMBER ...] [--backward] [--local-grads] "
                                      "[--rankdir {LR,TB,RL,BT}] [-o FILE]",
                                description=f"Functions: {', '.join(FUNCTIONS)}. Options and the expression may "
                                            "come in any order.")
    graph.add_argument("expression", nargs="*", metavar="EXPRESSION", help='e.g. "tanh(x*w + b)" or "-x*2"')
    graph.add_argument("--set", nargs="*", metavar="NAME=NUMBER", help="values of the names in the expression")
    graph.add_argument("--backward", action="store_true", help="run backward() and show gradients")
    graph.add_argument("--local-grads", action="store_true", help="label edges with local derivatives")
    graph.add_argument("--rankdir", default="LR", choices=["LR", "TB", "RL", "BT"])
    graph.add_argument("-o", "--output", default="graph.svg", metavar="FILE",
                       help="output file: .svg, .png or .dot (default: graph.svg)")
    graph.set_defaults(run=graph_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["graph"]:
        argv = ["graph", *_arrange_graph_args(argv[1:])]
    try:
        args = _parser().parse_args(argv)
    except SystemExit as done:  # usage errors and --help: a status to return, as for every other outcome
        return done.code if isinstance(done.code, int) else 0
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
