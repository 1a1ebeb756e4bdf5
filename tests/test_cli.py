"""`python -m micrograd_nn graph`: expressions, option order, and `error: …` with exit status 2 for any bad input."""

import math
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from micrograd_nn import Value
from micrograd_nn.__main__ import ExpressionError, evaluate_expression, main
from micrograd_nn.frames import fmt
from micrograd_nn.ops import FUNCTIONS


@pytest.fixture(autouse=True)
def in_a_scratch_folder(tmp_path, monkeypatch):
    """Without -o the command writes graph.svg in the current folder: keep that out of the repository."""
    monkeypatch.chdir(tmp_path)


def svg_texts(svg):
    root = ET.fromstring(svg.split("?>", 1)[1] if svg.startswith("<?xml") else svg)
    return [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]


def run_graph(args, capsys):
    """main(["graph", *args]) → (exit status, stdout, stderr)."""
    code = main(["graph", *args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(args, capsys, message):
    code, out, err = run_graph(args, capsys)
    assert code == 2
    assert err.startswith("error: ") and message in err
    assert out == "" and "Traceback" not in err


def test_cli_neuron_svg(tmp_path, capsys):
    path = tmp_path / "neuron.svg"
    code = main(["graph", "tanh(x1*w1 + x2*w2 + b)", "--set", "x1=2", "x2=0", "w1=-3", "w2=1",
                 "b=6.8813735870195432", "--backward", "-o", str(path)])
    assert code == 0
    texts = [" ".join(t.split()) for t in svg_texts(path.read_text())]  # SVG collapses runs of spaces
    out_index = texts.index("out")
    assert texts[out_index + 1] == "data 0.7071"
    x1_index = texts.index("x1")
    assert texts[x1_index + 2] == "grad -1.5"
    assert "d out / d x1 = -1.5" in capsys.readouterr().out


def test_cli_runs_as_a_module(tmp_path):
    path = tmp_path / "g.dot"
    done = subprocess.run([sys.executable, "-m", "micrograd_nn", "graph", "x**2 + 3", "--set", "x=2", "--backward",
                           "-o", str(path)], capture_output=True, text=True)
    assert done.returncode == 0 and "d out / d x = 4" in done.stdout
    assert "digraph" in path.read_text()


def test_cli_as_a_module_reports_bad_input_without_a_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "micrograd_nn", "graph", "--set", "x=-1", "log(x)",
                           "-o", str(tmp_path / "g.dot")], capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: ") and "log" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "g.dot").exists()


@pytest.mark.parametrize("text,where", [
    ("__import__('os').system('x')", "^"),
    ("x.real + 1", "Attribute"),
    ("open('f')", "only calls to"),
    ("exp(x, 2)", "only calls to"),
    ("[x for x in y]", "ListComp"),
    ("x if x else 1", "IfExp"),
    ("lambda: 1", "Lambda"),
    ("x // 2", "only + - * / **"),
    ("x + 'a'", "only numbers"),
    ("y + 1", "unknown name 'y'"),
    ("tanh + 1", "is a function"),
    ("x +", "not a valid expression"),
])
def test_cli_rejects_anything_but_arithmetic(text, where, capsys):
    with pytest.raises(ExpressionError, match=re.escape(where)):
        evaluate_expression(text, {"x": 1.0})
    assert main(["graph", text, "--set", "x=1"]) == 2
    assert "error:" in capsys.readouterr().err


def test_expression_values_match_direct_value_code():
    root, leaves = evaluate_expression("2**x - 1/x + -x*3 + sigmoid(x) - relu(-x) + log(exp(x))", {"x": 1.5})
    x = Value(1.5)
    direct = 2**x - 1 / x + -x * 3 + x.sigmoid() - (-x).relu() + x.exp().log()
    assert root.data == direct.data
    root.backward()
    direct.backward()
    assert leaves["x"].grad == x.grad


# --- options and the expression in any order ---


@pytest.mark.parametrize("args", [
    ["--set", "x=2", "y=3", "x*x*y"],
    ["x*x*y", "--set", "x=2", "y=3"],
    ["--backward", "--set", "x=2", "y=3", "x*x*y", "--local-grads"],
    ["--set", "x=2", "x*x*y", "--set", "y=3"],
    ["--set=x=2", "--set=y=3", "x*x*y"],
    ["-o", "OUT", "--set", "x=2", "y=3", "--", "x*x*y"],
    ["x*x*y", "--rankdir", "TB", "--set", "x=2", "y=3", "--output=OUT"],
])
def test_options_and_the_expression_in_any_order(args, tmp_path, capsys):
    code, out, err = run_graph([a.replace("OUT", "g.dot") for a in args], capsys)
    assert code == 0, err
    assert "out = 12" in out
    written = tmp_path / ("g.dot" if any("OUT" in a for a in args) else "graph.svg")  # graph.svg by default
    assert out.endswith(f"wrote {written.name}\n") and written.stat().st_size > 0


@pytest.mark.parametrize("text,value", [("-x*2", -6.0), ("-2*x", -6.0), ("-(x - 1)", -2.0), ("-x**2", -9.0)])
def test_an_expression_may_start_with_a_minus_sign(text, value, tmp_path, capsys):
    for args in ([text, "--set", "x=3"], ["--set", "x=3", text], ["--set", "x=3", "--", text]):
        code, out, err = run_graph(["-o", str(tmp_path / "g.dot"), *args], capsys)
        assert code == 0, err
        assert f"out = {fmt(value)}" in out


def test_set_values_may_be_negative_and_the_output_name_may_start_with_a_minus(tmp_path, capsys):
    code, out, err = run_graph(["--set", "x=-3", "w=-0.5", "-x*w", "--backward", "-o", "-g.dot"], capsys)
    assert code == 0, err
    assert "out = -1.5" in out and "d out / d w = 3" in out
    assert "digraph" in (tmp_path / "-g.dot").read_text()


@pytest.mark.parametrize("name,f,df", [
    ("exp", math.exp, math.exp),
    ("log", math.log, lambda a: 1 / a),
    ("tanh", math.tanh, lambda a: 1 - math.tanh(a) ** 2),
    ("sigmoid", lambda a: 1 / (1 + math.exp(-a)), lambda a: math.exp(-a) / (1 + math.exp(-a)) ** 2),
    ("relu", lambda a: max(a, 0.0), lambda a: float(a > 0)),
    ("abs", abs, lambda a: math.copysign(1.0, a)),
])
@pytest.mark.parametrize("a", [-1.3, 0.7])
def test_every_function_value_and_gradient(name, f, df, a, tmp_path, capsys):
    if name == "log" and a < 0:
        assert_refused(["log(x)", "--set", f"x={a}", "-o", str(tmp_path / "g.dot")], capsys, "log")
        return
    code, out, err = run_graph([f"{name}(x)", "--set", f"x={a}", "--backward", "-o", str(tmp_path / "g.dot")],
                               capsys)
    assert code == 0, err
    assert f"out = {fmt(f(a))}" in out and f"d out / d x = {fmt(df(a))}" in out


def test_the_function_list_is_the_op_tables():
    assert set(FUNCTIONS) == {"exp", "log", "tanh", "sigmoid", "relu", "abs"}


# --- bad input: `error: …`, status 2, nothing written ---


@pytest.mark.parametrize("text", [
    "+".join(["x"] * 3000),  # Python's parser runs out of stack
    "-" * 5000 + "x",
    "+".join(["x"] * 501),  # parses, but 1001 names and operations
    "x*1." + "0" * 10_000,  # one number, 10,004 characters
])
def test_an_expression_too_large(text, tmp_path, capsys):
    assert_refused([text, "--set", "x=1", "-o", str(tmp_path / "g.dot")], capsys, "expression too large")
    assert not (tmp_path / "g.dot").exists()


def test_a_large_expression_within_the_limit_is_drawn(tmp_path, capsys):
    code, out, err = run_graph(["+".join(["x"] * 500), "--set", "x=1", "--backward", "-o", str(tmp_path / "g.dot")],
                               capsys)
    assert code == 0, err
    assert "out = 500" in out and "d out / d x = 500" in out


@pytest.mark.parametrize("text,values,message", [
    ("log(x)", ["x=-1"], "log"),
    ("log(x)", ["x=0"], "log"),
    ("1/x", ["x=0"], "division by zero"),
    ("x**0.5", ["x=-4"], "negative base"),
    ("exp(x)", ["x=1000"], "exp"),
    ("10**400 + x", ["x=1"], "too large"),
])
def test_domain_errors(text, values, message, tmp_path, capsys):
    assert_refused([text, "--set", *values, "-o", str(tmp_path / "g.dot")], capsys, message)


def test_bad_outputs(tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("")
    for output, message in [
        (str(tmp_path), "folder"),
        ("", "needs a file name"),
        (str(tmp_path / "g.pdf"), "unknown output type .pdf"),
        (str(tmp_path / "graph"), "unknown output type"),
        (str(a_file / "g.svg"), "is a file, not a folder"),
    ]:
        assert_refused(["x", "--set", "x=1", "-o", output], capsys, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_an_output_that_cannot_be_written(tmp_path, capsys):
    too_long = tmp_path / ("g" * 300 + ".dot")  # longer than any file system allows a name to be
    assert_refused(["x", "--set", "x=1", "-o", str(too_long)], capsys, "cannot write")


@pytest.mark.parametrize("args,message", [
    (["x", "--set", "x=abc"], "'abc' is not a number"),
    (["x", "--set", "x="], "'' is not a number"),
    (["--set", "x=1"], "one expression"),
    (["x", "y", "--set", "x=1", "y=2"], "one expression"),
    (["x", "--rankdir", "XX"], "invalid choice"),
    (["x", "-o"], "expected one argument"),
    (["x", "--verbose"], "one expression (quote it if it has spaces; values go after --set), got 'x', '--verbose'"),
])
def test_bad_arguments(args, message, capsys):
    assert_refused(args, capsys, message)


def test_help_exits_zero(capsys):
    assert main(["graph", "--help"]) == 0
    assert "abs" in capsys.readouterr().out


def test_dot_output_never_runs_graphviz(tmp_path, capsys, monkeypatch):
    def no_programs(*args, **kwargs):
        raise AssertionError(f"ran a program: {args}")

    monkeypatch.setattr(subprocess, "Popen", no_programs)
    code, out, err = run_graph(["tanh(x*w)", "--set", "x=1", "w=2", "-o", str(tmp_path / "g.dot")], capsys)
    assert code == 0, err
    assert (tmp_path / "g.dot").read_text().startswith("digraph")


@given(st.text(alphabet="xy0123456789.+-*/()e, =_abcdgilmnoprstuh'\"[]", max_size=40),
       st.lists(st.sampled_from(["--set", "x=2", "y=-0.5", "x=0", "--backward", "--local-grads", "-o", "g.dot", "--"]),
                max_size=6))
def test_any_input_exits_0_or_2_and_never_raises(text, options):
    assert main(["graph", *options, text, "-o", "fuzz.dot"]) in (0, 2)


def test_a_double_minus_is_an_expression_not_an_option(tmp_path, capsys):
    assert main(["graph", "--x", "--set", "x=3", "-o", str(tmp_path / "g.dot")]) == 0
    assert "out = 3" in capsys.readouterr().out


def test_an_svg_that_graphviz_cannot_draw_is_an_error_not_a_warning(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MICROGRAD_NN_DOT", str(tmp_path / "no-such-dot"))
    assert main(["graph", "x*2", "--set", "x=3", "-o", str(tmp_path / "g.svg")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "g.svg was not drawn" in err and "Warning" not in err
    assert not (tmp_path / "g.svg").exists()
