# fieldcase: the two commands a new user runs are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export FIELDCASE_DATA_DIR ?= var

.PHONY: run test lint install clean-venv units

# Re-install when the dependency list changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Set up a demo deployment under var/ (once) and serve it on http://127.0.0.1:8080.
run: $(STAMP)
	@bash scripts/run-demo.sh

# The whole suite: lint, types on the pure packages, the import contracts (pyproject.toml,
# docs/architecture.md), then tests on SQLite and PostgreSQL.
test: $(STAMP)
	@bash scripts/browser-deps.sh
	@bash scripts/office-deps.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy crypto forms
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy crypto forms
	$(BIN)/lint-imports

# Rebuild the forms' admin units attachment from the official list (then commit it and publish).
UNITS_SOURCE ?= ../shared/domain/admin_units_2025.csv
units: $(STAMP)
	$(BIN)/fieldcase forms units --from $(UNITS_SOURCE)

clean-venv:
	rm -rf $(VENV)
