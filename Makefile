# Two commands: `make run` (execute every solution notebook, then grade the sample submissions)
# and `make test` (the whole pytest suite, nbval included). Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BUILD := build
export PATH := $(abspath $(BIN)):$(PATH)
export TF_CPP_MIN_LOG_LEVEL ?= 2
ifeq ($(CI),true)
export COURSE_OFFLINE ?= 1
endif

.PHONY: run test solutions release check-release benchmarks clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m tools.run_all --build-dir $(BUILD)

# ruff first (nothing runs while it finds something), then two pytest processes side by side: the
# tests that grade whole classes in one, everything else (the import rules too) in the other
# (tools/run_tests.py).
test: $(STAMP)
	$(BIN)/python -m tools.run_tests

# Maintainers: re-execute the solution notebooks in place, then regenerate the student notebooks.
solutions: $(STAMP)
	$(BIN)/python -m tools.execute_solutions
	$(BIN)/python -m grader release

release: $(STAMP)
	$(BIN)/python -m grader release

check-release: $(STAMP)
	$(BIN)/python -m grader release --check

benchmarks: $(STAMP)
	for script in benchmarks/*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(BUILD)
