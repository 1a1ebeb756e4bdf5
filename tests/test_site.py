"""The browser playground (`make site`) in headless Chromium: Python runs in Pyodide from the site's own files, no
request leaves 127.0.0.1, the neuron's gradients come out as the seeds print them, bad input reads `error: …`, and
practice marks answers.

Set MICROGRAD_NN_SCREENSHOTS=folder to keep a 1400×900 screenshot of each state.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from browser import browser, offline_page, serve  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parent.parent
FIRST_GRAPH_SECONDS = 60


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site, built once for this module from this tree (the pinned downloads come from build/npm after the
    first build)."""
    if shutil.which("npm") is None and not any((ROOT / "build" / "npm").glob("pyodide-*.tgz")):
        pytest.skip("building the site needs npm (to fetch Pyodide's core): install Node.js and npm")
    folder = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "build_site.py"), str(folder)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return folder


@pytest.fixture(scope="module")
def playground(browser, site):  # noqa: F811
    """The playground page, open and past its first graph (Pyodide starts once for all the tests here)."""
    with serve(site) as address:
        page = offline_page(browser)
        started = time.perf_counter()
        page.goto(address)
        page.wait_for_selector(".mg-steps g.node[data-node]", timeout=FIRST_GRAPH_SECONDS * 1000)
        page.first_graph_seconds = time.perf_counter() - started
        yield page
        page.context.close()


def shoot(page, name: str) -> None:
    folder = os.environ.get("MICROGRAD_NN_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"site_{name}.png"))


def run(page, expression: str, values: str) -> str:
    """Type an expression and its values, press Run, wait for Python's answer; returns the status line."""
    page.fill("input[name=expr]", expression)
    page.fill("input[name=values]", values)
    page.click("[data-go=run]")
    page.wait_for_function("document.querySelector('#status').dataset.kind !== 'busy'")
    return page.inner_text("#status")


def result_numbers(page) -> dict[str, str]:
    """`out = 0.7071    ∂out/∂x1 = -1.5 …` → {"out": "0.7071", "x1": "-1.5", …}"""
    pairs = [text.split(" = ") for text in page.locator("#result span").all_inner_texts()]
    return {name.strip().removeprefix("∂out/∂"): value.strip() for name, value in pairs}


def test_the_site_is_static_files_within_budget_with_their_licences(site):
    files = [p for p in site.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    print(f"site: {len(files)} files, {size / 1e6:.1f} MB")
    assert size <= 60 * 1024 * 1024
    assert {"index.html", "playground.js", "viewer.js", "layout.js", "viz.js", "wheels.json"} <= {p.name for p in files}
    assert "MPL-2.0" in (site / "pyodide" / "LICENSE.txt").read_text()
    viz_licence = (site / "viz.LICENSE.txt").read_text()
    assert "MIT" in viz_licence and "Eclipse Public License" in viz_licence  # viz.js, and Graphviz inside it
    assert sorted(p.name for p in (site / "wheels").iterdir()) == ["graphviz-0.21-py3-none-any.whl",
                                                                    "micrograd_nn-0.1.0-py3-none-any.whl"]


def test_opens_on_karpathys_neuron_offline_with_the_seeds_gradients(playground):
    page = playground
    assert page.first_graph_seconds < FIRST_GRAPH_SECONDS
    print(f"first graph after {page.first_graph_seconds:.1f} s")
    shoot(page, "first_graph")
    assert page.input_value("input[name=expr]") == "tanh(x1*w1 + x2*w2 + b)"
    assert "b=6.8813735870195432" in page.input_value("input[name=values]")
    assert result_numbers(page) == {"out": "0.7071", "x1": "-1.5", "x2": "0.5", "w1": "1", "w2": "0", "b": "0.5"}
    assert page.get_attribute(".mg-steps", "data-step") == "0"
    assert page.locator(".mg-steps .mg-current").count() == 1
    assert page.inner_text(".mg-ledger").startswith("step 0: out = tanh(add2)")
    assert page.blocked == [] and page.errors == []


def test_runs_an_expression_and_steps_through_it(playground):
    page = playground
    status = run(page, "x*y + exp(x)", "x=1, y=-2")
    assert not status.startswith("error")
    # out = xy + eˣ = −2 + e; ∂out/∂x = y + eˣ = −2 + e; ∂out/∂y = x = 1
    assert result_numbers(page) == {"out": "0.7183", "x": "0.7183", "y": "1"}
    page.wait_for_selector(".mg-steps [data-node=x]")
    page.click(".mg-steps [data-go=next]")
    page.wait_for_function("document.querySelector('.mg-steps').dataset.step === '1'")
    assert page.locator(".mg-steps .mg-current").count() == 1
    page.click(".mg-steps [data-go=last]")
    last = int(page.get_attribute(".mg-steps", "data-step"))
    assert last == len(page.text_content("#ledger").split("\nstep ")) - 1
    shoot(page, "expression")
    assert page.evaluate("location.hash") == "#expr=x*y+%2B+exp%28x%29&values=x%3D1%2C+y%3D-2"  # a link to it
    assert page.blocked == [] and page.errors == []


def test_a_link_opens_the_page_on_its_expression(browser, site):  # noqa: F811
    with serve(site) as address:
        page = offline_page(browser)
        page.goto(address + "#expr=relu(a)*b&values=a%3D-1%2C+b%3D3")
        page.wait_for_selector(".mg-steps g.node[data-node]", timeout=FIRST_GRAPH_SECONDS * 1000)
        assert page.input_value("input[name=expr]") == "relu(a)*b"
        assert result_numbers(page) == {"out": "0", "a": "0", "b": "0"}  # relu'(−1) = 0 and relu(−1) = 0
        assert page.blocked == [] and page.errors == []
        page.context.close()


@pytest.mark.parametrize("expression, values, message", [
    ("x*", "x=1", "error: not a valid expression"),
    ("x*z", "x=1", "error: unknown name 'z'"),
    ("log(x)", "x=-1", "error: log domain error"),
    ("+".join(["x"] * 1500), "x=1", "error: expression too large"),
    ("-" * 2000 + "x", "x=1", "error: expression too large: 2001 names"),  # deeper than the parser's stack here
    ("x", "x=two", "error: --set x: 'two' is not a number"),
    ("__import__('os')", "", "error: "),
])
def test_bad_input_shows_the_command_lines_error(playground, expression, values, message):
    page = playground
    status = run(page, expression, values)
    assert status.startswith(message)
    assert page.get_attribute("#status", "data-kind") == "error"
    assert "Traceback" not in page.inner_text("body")
    assert page.is_enabled("[data-go=run]")
    if "unknown name" in message:
        shoot(page, "error")
    assert page.errors == []


def test_practice_marks_answers_right_and_wrong(playground):
    page = playground
    run(page, "tanh(x1*w1 + x2*w2 + b)", "x1=2, x2=0, w1=-3, w2=1, b=6.8813735870195432")
    page.click("[data-go=practice]")
    page.wait_for_selector("#questions input[name=x1]")
    page.wait_for_selector("#practice-drawing svg")
    page.fill("#questions input[name=x1]", "-1.5")  # the seed's ∂o/∂x1
    page.fill("#questions input[name=w1]", "1")
    page.fill("#questions input[name=b]", "0.25")  # half of the right 0.5
    page.click("[data-go=check]")
    page.wait_for_selector(".mark[data-question=b][data-status]")
    status = {q: page.get_attribute(f".mark[data-question={q}]", "data-status") for q in ("x1", "w1", "b", "x2")}
    assert status == {"x1": "right", "w1": "right", "b": "wrong", "x2": "unanswered"}
    assert page.inner_text("#score").startswith("2 of ")
    shoot(page, "practice")
    assert page.blocked == [] and page.errors == []


def test_a_graph_graphviz_cannot_lay_out_in_time_is_given_up_and_the_next_one_drawn(playground):
    """A long sum with x in every term takes Graphviz about a second here: with a time limit of a tenth of that,
    layout.js stops its worker with a LayoutTimeout, and the graph asked for while it ran is drawn after, on a
    fresh worker."""
    from micrograd_nn.__main__ import evaluate_expression
    from micrograd_nn.graph import draw_graph

    terms = [f"x*w{i}" for i in range(150)]
    root, _ = evaluate_expression(" + ".join(terms), {"x": 1.0, **{f"w{i}": i / 10 for i in range(150)}})
    outcome = playground.evaluate("""async (dot) => {
        const { layout, LayoutTimeout } = await import("./layout.js");
        const started = performance.now();
        const slow = layout(dot, { timeoutMs: 100 }).then(() => "laid out", (err) => err);
        const waiting = layout("digraph { a -> b }").then((svg) => svg, (err) => String(err));  // queued behind it
        const first = await slow;
        const seconds = (performance.now() - started) / 1000;
        const next = await waiting;
        return [first instanceof LayoutTimeout, String(first.message), seconds, next.includes("<svg")];
    }""", draw_graph(root).source)
    timed_out, message, seconds, next_drawn = outcome
    assert timed_out and "within 100 ms" in message, outcome
    assert seconds < 5, outcome
    assert next_drawn
    assert playground.errors == []


@pytest.mark.parametrize("title, out", [
    ("Xu's 3-3-1 network", "0.007105"),  # ½(y − ŷ)², ŷ = σ(2) (notebook 03)
    ("Celebi's softmax point", "0.008214"),  # −log p_red at (−0.1, 1.4), p_red = 0.992 (notebook 02)
    ("a small convolution", "6"),  # [1, 0, −1, 2, 1, 2] ⊗ [1, 0, 1] = [0, 2, 0, 4] (notebook 05), summed
    ("Karpathy's neuron", "0.7071"),
])
def test_example_buttons_load_the_seeds_examples(playground, title, out):
    page = playground
    page.click(f"[data-example=\"{title}\"]")
    page.wait_for_function("document.querySelector('#status').dataset.kind !== 'busy'")
    page.wait_for_selector(".mg-steps g.node[data-node]")
    assert result_numbers(page)["out"] == out
    if title == "a small convolution":
        assert {k: result_numbers(page)[k] for k in ("g1", "g2", "g3")} == {"g1": "2", "g2": "2", "g3": "4"}
    if title == "Xu's 3-3-1 network":
        shoot(page, "xu")
    assert page.blocked == [] and page.errors == []
