"""The container tests need a Docker engine (``make test-containers``). In CI (``CI=true``) no
engine is a failure; elsewhere the tests skip with one line saying how to get one."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: The Dockerfiles' default base (their PYTHON_IMAGE), used where the registry can be reached.
REGISTRY_BASE = "python:3.12.8-slim-bookworm"
BUILD_TIMEOUT_S = 900


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here is a container test (``-m containers``; ``make test`` leaves them out)."""
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.containers)


def _no_engine(why: str) -> None:
    message = (
        f"container tests need a Docker engine: {why}. Debian: apt-get install docker.io "
        "debootstrap, then start dockerd (as root)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(f"SKIPPED, NOT RUN: {message}")


@pytest.fixture(scope="session")
def docker() -> str:
    """The engine's client, once the engine answers."""
    client = shutil.which("docker")
    if client is None:
        _no_engine("the docker command is not installed")
        raise AssertionError  # unreachable: _no_engine fails or skips
    done = subprocess.run([client, "version"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        _no_engine(f"`docker version` failed ({done.stderr.strip().splitlines()[-1:]})")
    return client


def build(
    docker: str, context: Path, tag: str, *, dockerfile: Path | None = None, **args: str
) -> str:
    """``docker build`` (failing the test with the build's output when it fails)."""
    command = [docker, "build", "--quiet", "--tag", tag]
    if dockerfile is not None:
        command += ["--file", str(dockerfile)]
    for name, value in args.items():
        command += ["--build-arg", f"{name}={value}"]
    done = subprocess.run(
        [*command, str(context)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"docker build {tag} failed:\n{done.stdout}\n{done.stderr}"
    return tag


@pytest.fixture(scope="session")
def python_base(docker: str) -> str:
    """The Dockerfiles' Python base: the registry's where it can be pulled, else the stand-in
    that scripts/local-base-image makes from Debian's packages (kept by the engine)."""
    for attempt in (["image", "inspect", REGISTRY_BASE], ["pull", "--quiet", REGISTRY_BASE]):
        done = subprocess.run(
            [docker, *attempt], capture_output=True, text=True, timeout=300, check=False
        )
        if done.returncode == 0:
            return REGISTRY_BASE
    made = subprocess.run(
        [str(ROOT / "scripts" / "local-base-image")],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    assert made.returncode == 0, f"scripts/local-base-image failed:\n{made.stderr[-4000:]}"
    return made.stdout.strip().splitlines()[-1]


def _tree_digest() -> str:
    """A tag that changes with what the task image is built from."""
    digest = hashlib.sha256()
    for path in sorted(
        p
        for folder in ("src", "task")
        for p in (ROOT / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    ):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    for name in ("pyproject.toml", "uv.lock"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()[:12]


@pytest.fixture(scope="session")
def task_image(docker: str, python_base: str) -> str:
    """task/Dockerfile, built from the repository root as the construct builds it."""
    return build(
        docker,
        ROOT,
        f"s3fargate-test/task:{_tree_digest()}",
        dockerfile=ROOT / "task" / "Dockerfile",
        PYTHON_IMAGE=python_base,
    )
