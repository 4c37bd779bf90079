# s3fargate — the README's two commands are `make demo` and `make test`.
# Each target installs exactly the locked versions (uv.lock) of what it needs, and nothing more:
# `demo` the core and the local pipeline, `test` every extra and the dev group.
PYTHON     ?= python3
UV_VERSION := 0.13.9
TOOLS      := .tools
# uv is bootstrapped with pip into .tools/ unless UV names one already installed.
UV         ?= $(TOOLS)/bin/uv
VENV       := .venv
BIN        := $(VENV)/bin
UV_SYNC    := $(UV) sync --frozen --quiet --python $(PYTHON)
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION = 20
# The interpreter is the machine's python3: uv never downloads one.
export UV_PYTHON_DOWNLOADS = never

.PHONY: demo test test-containers lint typecheck unit functional infra bench synth policies lock clean

$(TOOLS)/bin/uv:
	@echo "installing uv $(UV_VERSION) into $(TOOLS)/ (once)"
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# --inexact: the demo's sync keeps what `make test` installed, and vice versa adds to it.
$(VENV)/.demo-synced: pyproject.toml uv.lock | $(UV)
	@echo "installing the locked versions of the package and the local pipeline into $(VENV)/"
	$(UV_SYNC) --inexact --no-dev --extra local
	@touch $@

$(VENV)/.test-synced: pyproject.toml uv.lock | $(UV)
	@echo "installing the locked versions of every extra and the test tools into $(VENV)/"
	$(UV_SYNC) --all-extras
	@touch $@ $(VENV)/.demo-synced

demo: $(VENV)/.demo-synced
	$(BIN)/s3fargate demo

test: lint typecheck
	$(BIN)/python -m pytest -n 4 --durations=15

# Builds every Dockerfile we ship and runs the demo through it (needs a Docker engine; CI
# provides one, see .ci/run).
test-containers: $(VENV)/.test-synced
	$(BIN)/python -m pytest -m containers tests/containers

lint: $(VENV)/.test-synced
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint task/Dockerfile examples/command/Dockerfile examples/tool-image/Dockerfile

typecheck: $(VENV)/.test-synced
	$(BIN)/mypy

unit: $(VENV)/.test-synced
	$(BIN)/python -m pytest tests/unit

functional: $(VENV)/.test-synced
	$(BIN)/python -m pytest tests/functional

infra: $(VENV)/.test-synced
	$(BIN)/python -m pytest tests/infra

bench: $(VENV)/.test-synced
	$(BIN)/python -m bench

# The construct's role policies, as the local pipeline enforces them (a test holds the file to
# the construct: run this after changing a grant, and commit the file).
policies: $(VENV)/.test-synced
	$(BIN)/python -m tests.infra.policy_snapshot

synth: $(VENV)/.test-synced
	CDK_OUTDIR=cdk.out $(BIN)/python app.py
	@echo "Template written to cdk.out/"

# Update the lock after changing dependencies in pyproject.toml (`make lock`), or move every
# package to its newest allowed version (`make lock UPGRADE=1`); commit uv.lock with the change.
lock: | $(UV)
	$(UV) lock $(if $(UPGRADE),--upgrade)

clean:
	rm -rf $(VENV) $(TOOLS) cdk.out .s3fargate .mypy_cache .ruff_cache .pytest_cache .hypothesis
