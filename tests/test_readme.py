"""The README's Python examples run, and print exactly the output shown under them."""

import contextlib
import doctest
import io
import re
from pathlib import Path

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_readme_examples_print_what_the_readme_shows():
    blocks = re.findall(r"```(python|text)\n(.*?)```", README, flags=re.S)
    namespace: dict = {}
    pairs = 0
    for (kind, code), (next_kind, expected) in zip(blocks, blocks[1:]):
        if kind != "python":
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(code, namespace)
        assert next_kind == "text", "every python example is followed by its output"
        # fit prints progress lines only when a run takes more than a few seconds: on a busy machine, not here
        printed = re.sub(r"(?m)^epoch +\d+/\d+ .*\n", "", out.getvalue())
        assert printed == expected
        pairs += 1
    assert pairs == 3


def test_readme_sessions_run_as_shown():
    """Every ```pycon block (compiled replay, forward mode) is a doctest: the prompts' outputs as printed."""
    examples = re.findall(r"```pycon\n(.*?)```", README, flags=re.S)
    assert len(examples) >= 2
    for k, example in enumerate(examples):
        test = doctest.DocTestParser().get_doctest(example, {}, f"README session {k}", "README.md", 0)
        assert doctest.DocTestRunner().run(test).failed == 0, example


def test_readme_set_up_is_what_ci_runs():
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    assert "make test" in ci and "make test" in README and "make demo" in README
