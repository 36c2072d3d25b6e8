# One venv (.venv) holds everything; every target sets it up first if needed.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup run test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# The main job: ptm supervising Point-Tron against the TRON node simulator (Ctrl-C stops all).
run: setup
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/ptm run examples/ecosystem.toml

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy supervisor_core

test: setup lint
	bash scripts/install-chromium.sh
	$(PY) -m pytest -q

bench: setup
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
