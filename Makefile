# One venv (.venv) holds everything; every target sets it up first if needed.
VENV ?= .venv
PY := $(VENV)/bin/python

BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)

.PHONY: setup run run-foreground stop test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# The main job: the ptm daemon supervising Point-Tron and the TRON node simulator. `ptm start`
# returns once every instance has stayed up and prints the table, then this follows the logs; Ctrl-C stops following (the apps keep running under the
# daemon); `make stop` stops everything.
run: setup
	ptm start examples/ecosystem.toml
	@echo "Point-Tron: http://127.0.0.1:3000/login (admin / admin123). Ctrl-C stops following the logs; 'make stop' stops the apps and the daemon."
	ptm logs

# The same in the foreground, without a daemon (Ctrl-C stops both apps).
run-foreground: setup
	ptm run examples/ecosystem.toml

stop: setup
	ptm kill

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy supervisor_core

# Four workers (pytest-xdist): most tests wait on real processes rather than compute, so on 2
# cores the suite takes about 4 minutes instead of 15. Every test has its own PTM_HOME, ports
# and files, so they run side by side; `$(PY) -m pytest -q` runs them one at a time.
# --dist worksteal: a worker that runs out of tests takes some from another's queue; with
# the default split the long end-to-end tests queued last on one worker, 7.3 min against 4.
test: setup lint
	bash scripts/install-tools.sh
	$(PY) -m pytest -q -n 4 --dist worksteal

bench: setup
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
