"""The table of operations: each op's forward value and local derivatives, written once, side by side.

Every node the engine builds is tagged with one `Op` from this table, and its operands
(child Values and the plain numbers folded into it). One entry serves every reader:

- the engine computes a node's value with `forward` and its local derivatives with `local`;
- `grad(..., create_graph=True)` calls the same `local` on Values, so the derivative is itself
  a graph that can be differentiated again (the rules use only + - * / ** and the functions
  below, which run on floats and on Values alike);
- the step-through ledger and the drawings print `rule_text`, the derivative as written by hand;
- a compiled tape replays `forward` and `local` on new leaf values;
- the property tests draw operands from `domain`.

    >>> TANH.forward(0.5), TANH.local((0.5,), TANH.forward(0.5))
    (0.46211715726000974, (0.7864477329659274,))

An `Op` *is* its name (a `str` subclass), so `node.op == "tanh"` and drawings show it as is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

__all__ = ["Op", "OPS", "FUNCTIONS", "lookup", "stable_sigmoid", "power_text", "subscript"]


class Op(str):
    """An operation: its name as drawn (this object is that string) and its rules.

    forward(*operands) -> float, on floats; outside the domain it raises an error naming the op and the value.
    local(operands, out) -> one ∂out/∂operandᵢ per operand (0.0 where an operand is always a constant).
    rule: the local derivative of each operand position as text; "{0}", "{1}" stand for the operands'
        names, "{out}" for the node's, "{i}" for this operand's and "{partner}" for the factor it is
        multiplied by in a dot. N-ary ops repeat their last rule for every further operand. An entry may
        also be a function (i, texts, out) -> str, for a rule that reads its operands (the power rule).
    numbers: the same rules with the numbers put in, where substituting values for names is not enough
        ("σ(1 − σ)" is written "{out}·(1 − {out})"); an entry may be a function (i, values, out, local, show)
        -> str. By default the rule itself, with the operands' values in place of their names.
    note(i, values) -> str: what operand i's numbers need besides the operands (cross-entropy's "i = 0, t = 2").
    domain(*operands) -> bool: where the op is defined and smooth (for property tests and gradcheck).
    written(operand texts) -> the op as written by hand ('x1·w1'); None: as a call, 'tanh(n)'.
    """

    key: str
    forward: Callable
    local: Callable
    rule: tuple[str, ...]
    domain: Callable | None

    def __new__(cls, name: str, key: str, forward: Callable, local: Callable, rule: Sequence,
                domain: Callable | None = None, written: Callable[[list[str]], str] | None = None,
                numbers: Sequence | None = None, note: Callable | None = None):
        op = super().__new__(cls, name)
        op.key, op.forward, op.local, op.rule, op.domain = key, forward, local, tuple(rule), domain
        op.written, op.numbers, op.note = written, tuple(numbers) if numbers else None, note
        OPS[key] = op
        return op

    def write(self, parts: Sequence[str]) -> str:
        """The op written out over its operands' texts (names or numbers): 'x1·w1', 'tanh(n)', 'a + b + c'."""
        return self.written(list(parts)) if self.written else f"{self}({', '.join(parts)})"

    def rule_text(self, i: int, names: Sequence[str], out: str) -> str:
        """∂out/∂(operand i) as a learner writes it, e.g. '1 − o²' for o = tanh(n) or 'w1' for x1 in x1·w1."""
        return _fill(self.rule[min(i, len(self.rule) - 1)], i, list(names), out)

    def rule_numbers(self, i: int, values: Sequence[float], out: float, local: float,
                     show: Callable[[float], str], texts: Sequence[str] | None = None) -> str:
        """The rule of operand i with the numbers put in: '1 − 0.7071²' for o = tanh(n) at o = 0.7071.
        `show` writes a number as the ledger does (a negative one in brackets: '(−3)'); `texts`, if given, are
        the operands already written that way (a caller writing every edge of a node writes them once)."""
        rules = self.numbers or self.rule
        rule = rules[min(i, len(rules) - 1)]
        if callable(rule) and self.numbers:
            return rule(i, values, out, local, show)
        return _fill(rule, i, list(texts) if texts is not None else [show(v) for v in values], show(out), show(local))

    def __reduce__(self):  # pickled by key: the rules are functions, found again in the table
        return lookup, (self.key,)

    def __repr__(self) -> str:
        return f"Op({str(self)!r})"


OPS: dict[str, Op] = {}


def _fill(rule, i: int, texts: list[str], out: str, local: str = "") -> str:
    """A rule (a template or a function of the texts) written over operand texts: names, or numbers."""
    if callable(rule):
        return rule(i, texts, out)
    partner = texts[i ^ 1] if (i ^ 1) < len(texts) else "1"  # a dot operand's factor; the bias has none
    return rule.format(*texts, out=out, i=texts[i], partner=partner, local=local)


SUPERSCRIPTS = str.maketrans("0123456789-−", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁻")
SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def subscript(index: int) -> str:
    """An index as subscript digits: 12 → '₁₂'."""
    return str(index).translate(SUBSCRIPTS)


def power_text(base: str, exponent: float | str) -> str:
    """base^exponent as written by hand: a whole exponent as a superscript ('a²', 'a⁻¹'), any other one after
    '^' ('a^0.5', 'a^(k − 1)'); exponent 1 is left out."""
    if isinstance(exponent, str):
        return f"{base}^({exponent})" if " " in exponent else f"{base}^{exponent}"
    if exponent == 1.0:
        return base
    if exponent.is_integer() and abs(exponent) < 1e4:
        return base + str(int(exponent)).translate(SUPERSCRIPTS)
    return f"{base}^({_plain(exponent)})" if exponent < 0 else f"{base}^{_plain(exponent)}"


def _plain(x: float) -> str:
    return f"{x:.4g}".replace("-", "−")


def _number_in(text: str) -> float | None:
    """The number a text shows ('2', '(−0.5)'), or None for a name."""
    try:
        return float(text.strip("()").replace("−", "-"))
    except ValueError:
        return None


def _write_power(texts: list[str]) -> str:
    """a^k written out over operand texts: 'a²' for a number k, 'a^k' for a name."""
    k = _number_in(texts[1])
    return power_text(texts[0], k if k is not None else texts[1])


def _power_rule(i: int, texts: list[str], out: str) -> str:
    """d(a^k)/da = k·a^(k−1), with k − 1 worked out when k is a number: '2·a', '3·a²', '(−1)·a⁻²'."""
    base, k_text = texts[0], texts[1]
    k = _number_in(k_text)
    if k is None:  # k is a Value's name: nothing to work out
        return f"{k_text}·{base}^({k_text} − 1)"
    if k == 0.0:
        return "0"
    if k == 1.0:
        return "1"
    return f"{k_text}·{power_text(base, k - 1.0)}"


def lookup(key: str) -> Op:
    """The op registered under `key` (the fused losses register when `functional` is imported)."""
    if key not in OPS:
        from . import functional  # noqa: F401 - registers the fused losses
    return OPS[key]


# --- functions that run on floats and on Values: the same rule written once serves both ---


def _data(x) -> float:
    return x if isinstance(x, float) else x.data


def exp(x):
    """e^x on a float (math) or a Value (its method): what lets one rule serve both."""
    return math.exp(x) if isinstance(x, float) else x.exp()


def log(x):
    """ln x on a float (math) or a Value (its method): what lets one rule serve both."""
    return math.log(x) if isinstance(x, float) else x.log()


def sigmoid(x):
    """σ(x) on a float (math) or a Value (its method): what lets one rule serve both."""
    return stable_sigmoid(x) if isinstance(x, float) else x.sigmoid()


def stable_sigmoid(a: float) -> float:
    """σ(a) = 1/(1 + e^(−a)), evaluated so that e^x never overflows (|a| up to 1e308)."""
    if a >= 0.0:
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)


def _step(x) -> float:
    """d relu/dx as PyTorch takes it: 0 where x ≤ 0 and 1 elsewhere (NaN included: the gradient passes)."""
    return 0.0 if _data(x) <= 0.0 else 1.0


def _sign(x) -> float:
    """d|x|/dx: the sign of x, 0 at the kink and at NaN (as torch.sgn)."""
    a = _data(x)
    return 1.0 if a > 0.0 else -1.0 if a < 0.0 else 0.0


def _power(base: float, exponent: float) -> float:
    """base ** exponent as IEEE floats (and PyTorch) give it: ±inf where it overflows or where 0 has a
    negative power, never an error (a slope may be infinite). −inf for a negative base (−0.0 included) and
    an odd integer exponent."""
    try:
        return base**exponent
    except (OverflowError, ZeroDivisionError):
        odd = float(exponent).is_integer() and exponent % 2 == 1
        return -math.inf if odd and math.copysign(1.0, base) < 0.0 else math.inf


def _slope_power(a, e):
    """a ** e inside a derivative rule, on floats or Values: ±inf where the power overflows or 0 has a negative
    power, as in PyTorch, not the error that a user's own `**` raises (the user never wrote this power)."""
    if isinstance(a, float) and isinstance(e, float):
        return _power(a, e)
    from .engine import slope_power  # the engine imports this module

    return slope_power(a, e)


def _checked_power(base: float, exponent: float) -> float:
    """The forward value of base ** exponent, with errors that name both."""
    if base < 0.0 and not float(exponent).is_integer():
        raise ValueError(f"power: a negative base {base} has no real power {exponent}")
    if base == 0.0 and exponent < 0.0:
        raise ZeroDivisionError(f"power: 0.0 cannot be raised to the negative power {exponent}")
    try:
        return base**exponent
    except OverflowError:
        raise OverflowError(f"power overflow: {base} ** {exponent} is too large for a float") from None


def _divide(a: float, b: float) -> float:
    if b == 0.0:
        raise ZeroDivisionError(f"division by zero: {a} / {b}")
    return a / b


def _exp(a: float) -> float:
    try:
        return math.exp(a)
    except OverflowError:
        raise OverflowError(f"exp overflow: exp({a}) is too large for a float") from None


def _log(a: float) -> float:
    if a <= 0.0:  # NaN passes through, as in PyTorch
        raise ValueError(f"log domain error: log({a}) is undefined; log needs a positive value")
    return math.log(a)


def _power_slope(a, k):
    """d(a^k)/da = k·a^(k−1), on floats or Values. Exactly 0 at a number exponent k = 0 (as PyTorch: no
    0·∞); an exponent that is a Value is kept whole, so ∂²(a^k)/∂a∂k = 1/a survives at k = 0."""
    if isinstance(k, float) and k == 0.0:
        return 0.0
    return k * _slope_power(a, k - 1.0)


# --- the table: forward and local derivatives side by side ---

ADD = Op("+", "add", lambda a, b: a + b, lambda x, out: (1.0, 1.0), ("1", "1"), written=" + ".join)
SUB = Op("-", "sub", lambda a, b: a - b, lambda x, out: (1.0, -1.0), ("1", "−1"), written=" − ".join)
MUL = Op("*", "mul", lambda a, b: a * b, lambda x, out: (x[1], x[0]), ("{1}", "{0}"), written="·".join)
DIV = Op("/", "div", _divide, lambda x, out: (1.0 / x[1], -out / x[1]), ("1/{1}", "−{0}/{1}²"),
         domain=lambda a, b: b != 0.0, written=" / ".join)
NEG = Op("neg", "neg", lambda a: -a, lambda x, out: (-1.0,), ("−1",), written=lambda p: "−" + p[0])
POW = Op("**", "pow", _checked_power, lambda x, out: (_power_slope(*x), 0.0), (_power_rule, "0"),
         domain=lambda a, k: a > 0.0 or a != 0.0 and float(k).is_integer(),
         written=_write_power)
def _exp_pow_forward(a: float, b: float) -> float:
    if a <= 0.0:  # a^b = e^(b·ln a) as b varies: ln a must exist (NaN passes through, as in PyTorch)
        raise ValueError(f"power with a Value exponent needs a positive base, got base {a}")
    return _checked_power(a, b)


# a^b with a Value exponent (or a number base): needs a > 0.
EXP_POW = Op("**", "exp_pow", _exp_pow_forward,
             lambda x, out: (_power_slope(*x), out * log(x[0])),
             (_power_rule, "{out}·ln {0}"), domain=lambda a, b: a > 0.0, written=_write_power)
EXP = Op("exp", "exp", _exp, lambda x, out: (out,), ("{out}",), domain=lambda a: a < 700.0)
LOG = Op("log", "log", _log, lambda x, out: (1.0 / x[0],), ("1/{0}",), domain=lambda a: a > 0.0)
def _tanh_slope(t):  # 1 − t²
    # Near saturation (1 − t)(1 + t) keeps the digits that rounding t² first would lose (PyTorch's fused
    # multiply-add keeps them too); near 0 the plain form keeps them, also when differentiated again.
    return (1.0 - t) * (1.0 + t) if abs(_data(t)) > 0.5 else 1.0 - t * t


TANH = Op("tanh", "tanh", math.tanh, lambda x, out: (_tanh_slope(out),), ("1 − {out}²",))
SIGMOID = Op("sigmoid", "sigmoid", stable_sigmoid, lambda x, out: (out * (1.0 - out),), ("{out}·(1 − {out})",))
RELU = Op("relu", "relu", lambda a: a if not a <= 0.0 else 0.0, lambda x, out: (_step(x[0]),), ("[{0} > 0]",),
          domain=lambda a: a != 0.0)
ABS = Op("abs", "abs", abs, lambda x, out: (_sign(x[0]),), ("sign({0})",), domain=lambda a: a != 0.0)

# n-ary: one node, many operands, as the course notes write a neuron
def _plain_sum(values) -> float:
    total = 0.0
    for v in values:
        total += v
    return total


def _dot(*operands) -> float:
    """Σᵢ wᵢxᵢ + b over operands (w₀, x₀, w₁, x₁, …, b)."""
    total = 0.0
    for i in range(0, len(operands) - 1, 2):
        total += operands[i] * operands[i + 1]
    return total + operands[-1]


def _dot_local(operands, out):  # ∂z/∂wᵢ = xᵢ, ∂z/∂xᵢ = wᵢ, ∂z/∂b = 1
    last = len(operands) - 1
    return tuple(operands[i ^ 1] for i in range(last)) + (1.0,)


def _first_max(values) -> int:
    """Index of the first maximum; a NaN wins, as in PyTorch (NaN propagates)."""
    best = 0
    for i, v in enumerate(values):
        if v != v:
            return i
        if v > values[best]:
            best = i
    return best


def _max_local(operands, out):  # 1 for the first maximum, 0 for the rest
    winner = _first_max([_data(v) for v in operands])
    return tuple(1.0 if i == winner else 0.0 for i in range(len(operands)))


SUM = Op("Σ", "sum", lambda *a: _plain_sum(a), lambda x, out: (1.0,) * len(x), ("1",), written=" + ".join)
DOT = Op("dot", "dot", _dot, _dot_local, ("{partner}",),
         written=lambda p: " + ".join([f"{p[i]}·{p[i + 1]}" for i in range(0, len(p) - 1, 2)] + [p[-1]]))
MAX = Op("max", "max", lambda *a: a[_first_max(a)], _max_local, ("[{i} is the max]",), numbers=("{local}",))

# The one-argument functions a user can call as Value methods (the CLI offers the same ones).
FUNCTIONS = ("exp", "log", "tanh", "sigmoid", "relu", "abs")
