# `make demo` and `make test` each work on a fresh clone: they create .venv and install what they need.
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install -q --disable-pip-version-check

.PHONY: venv install-demo install-test test lint demo bench lab site clean

# Debian's python3 may lack ensurepip; then make the venv without pip and let the system pip fill it.
venv:
	@test -x $(PY) || python3 -m venv $(VENV) || { rm -rf $(VENV); python3 -m venv --without-pip $(VENV) && python3 -m pip --python $(PY) install -q pip; }

# The runtime (graphviz, graphviz-pure, numpy) and what the demo draws with (matplotlib, tqdm): no torch, no test stack.
$(VENV)/.demo: pyproject.toml | venv
	$(PIP) -e '.[plot]'
	@touch $@

# Everything: the test extra adds pytest, hypothesis, nbmake, torch (CPU), micrograd, scikit-learn, pillow.
$(VENV)/.test: pyproject.toml | venv
	$(PIP) -e '.[test]'
	@touch $@ $(VENV)/.demo

install-demo: $(VENV)/.demo
install-test: $(VENV)/.test

demo: install-demo
	$(PY) -m micrograd_nn demo

test: install-test
	$(PY) -m pytest -q

lint: install-test
	$(PY) -m ruff check micrograd_nn tests bench

bench: install-test
	$(PY) bench/run.py
	$(PY) bench/pages.py

# ipywidgets: fit's progress bar draws as a notebook widget.
lab: install-test
	$(PIP) jupyterlab ipywidgets
	$(VENV)/bin/jupyter lab notebooks

# The in-browser playground: static files in site/ (Pyodide's core fetched with npm, the wheels built and fetched
# with pip, all pinned and checked). Serve it with: python -m http.server -d site
site: venv
	$(PY) tools/build_site.py site

clean:
	rm -rf $(VENV) out build site *.egg-info
