# chatd: `make run` starts it on the built-in defaults, `make test` runs the suite.
# Both build their own virtualenv in .venv from nothing but Python 3.11+.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
ARGS   ?=

.PHONY: run test lint venv bench bench-quick clean

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

# The benchmark against ncat --chat and ngIRCd (apt-get install ncat ngircd; skipped if
# absent). Several minutes; prints one table and writes bench/results/*.json.
bench: venv
	$(BIN)/python -m chatd.benchreport $(BENCH_ARGS)

bench-quick: venv
	$(BIN)/python -m chatd.benchreport --runs 1 --scenarios fanout100,rate,slowreader $(BENCH_ARGS)

lint: venv
	$(BIN)/ruff check chatd tests
	$(BIN)/ruff format --check chatd tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
