# `make install` once (it is also a prerequisite of everything else), then `make test` or `make demo`.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install test lint demo bench lab clean

install: $(STAMP)

# Debian's python3 may lack ensurepip; then make the venv without pip and let the system pip fill it.
$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV) || { rm -rf $(VENV); python3 -m venv --without-pip $(VENV) && python3 -m pip --python $(PY) install -q pip; }
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

test: install
	$(PY) -m pytest -q

lint: install
	$(PY) -m ruff check micrograd_nn tests bench

demo: install
	$(PY) -m micrograd_nn demo

bench: install
	$(PY) bench/run.py

lab: install
	$(PY) -m pip install -q --disable-pip-version-check jupyterlab
	$(VENV)/bin/jupyter lab notebooks

clean:
	rm -rf $(VENV) out build *.egg-info
