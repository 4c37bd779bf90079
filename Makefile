# s3fargate — the README's two commands are `make demo` and `make test`.
# Each target creates .venv when missing and installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION = 20

.PHONY: demo test lint typecheck unit functional infra bench synth clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install when the dependency list changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[local,cdk,dev]'
	@touch $@

demo: $(STAMP)
	$(BIN)/s3fargate demo

test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint task/Dockerfile

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

functional: $(STAMP)
	$(BIN)/python -m pytest tests/functional

infra: $(STAMP)
	$(BIN)/python -m pytest tests/infra

bench: $(STAMP)
	$(BIN)/python -m bench

synth: $(STAMP)
	CDK_OUTDIR=cdk.out $(BIN)/python app.py
	@echo "Template written to cdk.out/"

clean:
	rm -rf $(VENV) cdk.out .s3fargate .mypy_cache .ruff_cache .pytest_cache .hypothesis
