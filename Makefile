# Two commands matter: `make run` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Links in mail are built from PORTAL_BASE_URL alone: follow HOST and PORT unless it is set.
PORTAL_BASE_URL ?= http://$(HOST):$(PORT)

.PHONY: run test bench lint install install-test clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run
install-test: $(VENV)/.installed-test

run: install
	PORTAL_DEMO=1 $(BIN)/portal db upgrade
	PORTAL_DEMO=1 $(BIN)/portal demo
	@echo "Serving on http://$(HOST):$(PORT) (Ctrl+C stops); links in mail use $(PORTAL_BASE_URL)"
	PORTAL_DEMO=1 PORTAL_BASE_URL=$(PORTAL_BASE_URL) $(BIN)/portal serve --host $(HOST) --port $(PORT)

test: install-test
	@if [ -z "$$PORTAL_TEST_DATABASE_URL" ]; then \
	  echo "!!! PORTAL_TEST_DATABASE_URL is not set: the PostgreSQL half of the suite (the production" >&2; \
	  echo "!!! store, the audit append lock across processes) will be SKIPPED. Set it, e.g." >&2; \
	  echo "!!!   PORTAL_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test make test" >&2; \
	fi
	$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

bench: install-test
	$(BIN)/python bench/run.py $(BENCH_ARGS)

lint: install-test
	$(BIN)/ruff check portal tests bench alembic
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
