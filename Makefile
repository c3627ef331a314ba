# chatd: `make run` starts it on the built-in defaults, `make test` runs the suite.
# Both build their own virtualenv in .venv from nothing but Python 3.11+.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
ARGS   ?=

.PHONY: run test lint check venv clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed

run: venv
	$(BIN)/chatd $(ARGS)

test: venv
	$(BIN)/ruff check chatd tests
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check chatd tests
	$(BIN)/ruff format --check chatd tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
