"""The browser playground's Python side: an expression in the command line's syntax, its backward pass as the
step-through viewer's payload, and practice on the same graph.

site/playground.js calls these in Pyodide (no numpy, no dot binary: the page lays out the DOT with Graphviz
compiled to WebAssembly). Each function takes strings and returns JSON text, so nothing but text crosses
between JavaScript and Python. Bad input never raises: the answer is {"error": "error: …"}, the message the
command line prints.
"""

from __future__ import annotations

import io
import json
import re
import tokenize

from .__main__ import MAX_CHARACTERS, MAX_NODES, ExpressionError, _parse_assignments, _too_large, evaluate_expression
from .engine import Value
from .frames import fmt

__all__ = ["EXAMPLES", "examples", "parse_values", "run", "practice_sheet", "check"]

# The seeds' worked examples, written in the command line's syntax: (title, expression, values).
EXAMPLES = [
    ("Karpathy's neuron", "tanh(x1*w1 + x2*w2 + b)", "x1=2, x2=0, w1=-3, w2=1, b=6.8813735870195432"),
    ("Xu's 3-3-1 network",
     "0.5*(y - (U1*sigmoid(W11*x1 + W12*x2 + W13*x3 + b1) + U2*sigmoid(W21*x1 + W22*x2 + W23*x3 + b2)"
     " + U3*sigmoid(W31*x1 + W32*x2 + W33*x3 + b3)))**2",
     "x1=2, x2=1, x3=2, y=1, W11=1, W12=0, W13=1, W21=1, W22=-1, W23=0, W31=0, W32=0, W33=2, b1=1, b2=1, b3=1, "
     "U1=-1, U2=1, U3=1"),
    ("Celebi's softmax point",
     "log(exp(w11*x1 + w12*x2 + b1) + exp(w21*x1 + w22*x2 + b2) + exp(w31*x1 + w32*x2 + b3))"
     " - (w11*x1 + w12*x2 + b1)",
     "x1=-0.1, x2=1.4, w11=0.31, w12=3.95, w21=7.07, w22=-0.23, w31=-6.27, w32=-2.35, b1=1.2, b2=2.93, b3=-4.14"),
    ("a small convolution",
     "(g1*f1 + g2*f2 + g3*f3) + (g1*f2 + g2*f3 + g3*f4) + (g1*f3 + g2*f4 + g3*f5) + (g1*f4 + g2*f5 + g3*f6)",
     "f1=1, f2=0, f3=-1, f4=2, f5=1, f6=2, g1=1, g2=0, g3=1"),
]

_SEPARATORS = re.compile(r"[,;\s]+")
_SPACED_EQUALS = re.compile(r"\s*=\s*")
_current: dict = {}  # the graph the page shows: its root, its named leaves and its practice sheet


def parse_values(text: str) -> dict[str, float]:
    """`x=3, y=-2` (commas, semicolons or spaces between; spaces around `=` allowed) → {"x": 3.0, "y": -2.0}."""
    pairs = [p for p in _SEPARATORS.split(_SPACED_EQUALS.sub("=", text.strip())) if p]
    return _parse_assignments(pairs)


def _size(text: str) -> int | None:
    """The names, numbers and operations of `text` counted from its tokens, as the command line counts them
    after parsing (a call is its name and the call), or None if it does not tokenize."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    size = 0
    for token, following in zip(tokens, tokens[1:]):
        if token.type == tokenize.NUMBER:
            size += 1
        elif token.type == tokenize.NAME:
            size += 2 if following.string == "(" else 1
        elif token.type == tokenize.OP and token.string not in ("(", ")", ","):
            size += 1
    return size


def _error(message: str) -> str:
    return json.dumps({"error": f"error: {message}"})


def run(expression: str, values: str) -> str:
    """Build `expression` with `values`, run backward(), and answer {"payload": the viewer's payload, "ledger":
    every step's text, "out": the value, "grads": {name: d out / d name}} (numbers as the ledger writes them)."""
    from .graph import show_steps

    # Counted before parsing: Python's parser recurses, and in the browser a thousand nested operators (which
    # CPython parses, then refuses as too large) can exhaust WebAssembly's stack before the count is made.
    size = _size(expression) if len(expression) <= MAX_CHARACTERS else None
    if size is not None and size > MAX_NODES:
        return _error(str(_too_large(f"{size} names, numbers and operations")))
    try:
        given = parse_values(values)
        root, leaves = evaluate_expression(expression, given)
        root.label = root.label or "out"
        root.backward()
        steps = show_steps(root)
        payload = steps.payload()
    except (ExpressionError, ValueError, ArithmeticError) as err:
        return _error(str(err))
    except (RecursionError, MemoryError):
        return _error(str(_too_large("too deep to build and draw")))
    _current.clear()
    _current.update(root=root, leaves=leaves)
    return json.dumps({"payload": payload, "ledger": steps.ledger(), "out": fmt(root.data),
                       "grads": {name: fmt(leaves[name].grad) for name in given if name in leaves}})


def practice_sheet() -> str:
    """Practice on the graph `run` built last: {"questions": the names whose gradient to find, "dot": the graph
    with those gradients shown as ?}."""
    root = _current.get("root")
    if not isinstance(root, Value):
        return _error("run an expression first: practice asks for the gradients of its graph")
    from .graph import practice

    sheet = practice(root)
    _current["sheet"] = sheet
    return json.dumps({"questions": sheet.questions, "dot": sheet.graph().source})


def check(answers: str) -> str:
    """Mark the answers ({"question": "number as typed"}; blank ones are left unanswered) on the current sheet:
    {"marks": [{"question", "status": right|wrong|unanswered, "hint"}], "dot": the graph coloured}."""
    sheet = _current.get("sheet")
    if sheet is None:
        return _error("open a practice sheet first")
    typed = json.loads(answers)
    given = {}
    for question, text in typed.items():
        if str(text).strip() == "":
            continue
        try:
            given[question] = float(str(text).strip().replace("−", "-"))
        except ValueError:
            return _error(f"{question}: {text!r} is not a number")
    try:
        marks = sheet.check(given)
    except (TypeError, ValueError) as err:
        return _error(str(err))
    return json.dumps({"marks": [_mark(mark, mark.question in given) for mark in marks],
                       "dot": sheet.graph().source})


def _mark(mark, answered: bool) -> dict:
    status = getattr(mark, "status", None)
    if status is None:  # a Mark that only says right or wrong
        status = "unanswered" if not answered else "right" if mark.right else "wrong"
    return {"question": mark.question, "status": status, "hint": getattr(mark, "hint", None)}


def examples() -> str:
    """The worked examples as [{"title", "expression", "values"}]."""
    return json.dumps([{"title": t, "expression": e, "values": v} for t, e, v in EXAMPLES])
