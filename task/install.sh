#!/bin/sh
# Installs the example task into a new virtualenv: exactly the versions uv.lock pins for the
# core dependencies (no extras, no dev group), hash-checked, then the project itself.
# task/Dockerfile runs it in its build stage; tests/infra/test_image_context.py runs the same
# script on the same build context without Docker.
#
# Usage, from the root of the build context:  sh task/install.sh VENV
# Environment: UV, the uv executable (default: the uv on PATH).
set -eu

venv=${1:?usage: sh task/install.sh VENV}
uv=${UV:-uv}
requirements=$(mktemp)
trap 'rm -f "$requirements"' EXIT

python3 -m venv "$venv"
# --frozen: the lock as committed, never re-resolved; the export carries every file's hashes.
"$uv" export --frozen --no-dev --no-emit-project --format requirements-txt >"$requirements"
# --require-hashes: a file that differs from the locked one fails the install. --only-binary:
# wheels only, so no dependency runs build code of its own.
"$venv/bin/python" -m pip install --require-hashes --only-binary :all: -r "$requirements"
# --no-deps: every dependency is already in place, at its locked version.
"$venv/bin/python" -m pip install --no-deps .
