"""The README's Python examples run, and print exactly the output shown under them."""

import contextlib
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


def test_readme_set_up_is_what_ci_runs():
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    assert "make test" in ci and "make test" in README and "make demo" in README
