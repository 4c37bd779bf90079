"""``s3fargate new``: the project it writes works on its own, from a folder outside this
repository — its `make test` installs what it needs and runs the task through the local
pipeline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from s3fargate.scaffold import TaskKind, create_project
from tests.devserver import CLI

BIN = Path(sys.executable).parent


def _clean_env(tmp_path: Path) -> dict[str, str]:
    """No trace of this checkout's virtualenv: the project makes its own."""
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != BIN
    )
    env["HOME"] = str(tmp_path)
    # pip's download cache is this machine's: what it fetched once it need not fetch again.
    env["PIP_CACHE_DIR"] = os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip")
    return env


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["python", "command"])
def test_new_project_passes_its_own_tests(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "my-pipeline"
    made = subprocess.run(
        [CLI, "new", str(folder), "--task", kind], capture_output=True, text=True, check=False
    )
    assert made.returncode == 0, made.stderr
    assert "make demo" in made.stdout
    task_file = "task.py" if kind == "python" else "task.sh"
    for name in ("README.md", "Makefile", "Dockerfile", "app.py", task_file, "tests/test_task.py"):
        assert (folder / name).is_file(), name
    assert not (folder / ("task.sh" if kind == "python" else "task.py")).exists()
    readme = (folder / "README.md").read_text()
    assert "make demo" in readme
    assert "make test" in readme
    hadolint = subprocess.run(
        [str(BIN / "hadolint"), str(folder / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert hadolint.returncode == 0, hadolint.stdout
    compile((folder / "app.py").read_text(), "app.py", "exec")

    # WHEN its own `make test` runs there, with nothing of this checkout on PATH
    make = shutil.which("make")
    if make is None:
        pytest.fail("make is not on PATH: the new project's two commands need it")
    proc = subprocess.run(
        [make, "test"],
        cwd=folder,
        env=_clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    # THEN it installs the vendored SDK and its pinned dependencies, and its test passes
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "1 passed" in proc.stdout
    assert "installing the task SDK" in proc.stdout  # it says what it is doing

    # WHEN the task is changed to write a different output, as its README invites
    task = folder / task_file
    old, new = ("upper.txt", "shout.txt") if kind == "python" else ("sorted.txt", "ordered.txt")
    assert old in task.read_text()
    task.write_text(task.read_text().replace(old, new))
    again = subprocess.run(
        [make, "test"],
        cwd=folder,
        env=_clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    # THEN its test still passes: it checks what the task produced, not a name
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]


@pytest.mark.slow
def test_new_project_synthesizes_with_cdk_nag_and_no_dead_links(tmp_path: Path) -> None:
    folder = tmp_path / "my-pipeline"
    create_project(folder, kind=TaskKind.PYTHON)
    # Its CDK settings name the app as `make` installs it; its README links nowhere that is not
    readme = (folder / "README.md").read_text()
    assert "https://" not in readme
    assert "http://" not in readme
    cdk = json.loads((folder / "cdk.json").read_text())
    assert cdk["app"] == ".venv/bin/python app.py"
    assert "AwsSolutionsChecks" in (folder / "app.py").read_text()
    make = shutil.which("make")
    if make is None:
        pytest.fail("make is not on PATH: the new project's commands need it")
    # WHEN its template is synthesized, as `cdk synth` runs the app
    proc = subprocess.run(
        [make, "synth"],
        cwd=folder,
        env=_clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    # THEN it passes cdk-nag's checks, quietly
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert (folder / "cdk.out" / "MyPipeline.template.json").is_file()
    assert "b'" not in proc.stdout + proc.stderr  # no banner printed as byte strings
    assert "end-of-life" not in (proc.stdout + proc.stderr).lower()


def test_the_vendored_wheel_holds_the_package_its_scripts_and_samples(tmp_path: Path) -> None:
    create_project(tmp_path / "p", kind=TaskKind.PYTHON)
    (wheel,) = (tmp_path / "p" / "vendor").glob("s3fargate-*-py3-none-any.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "s3fargate/task/command.py" in names
    assert any(n.startswith("s3fargate/local/sample_data/") for n in names)
    assert not any("__pycache__" in n for n in names)
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "s3fargate-task = s3fargate.task.command:main" in text
    requirements = (tmp_path / "p" / "requirements.txt").read_text().splitlines()
    pinned = [r for r in requirements if r and not r.startswith("#")]
    assert all("==" in r for r in pinned)
    assert {r.split("==")[0] for r in pinned} >= {"boto3", "aws-lambda-powertools"}


@pytest.mark.parametrize("content", ["file", "folder"])
def test_new_refuses_a_folder_that_is_not_empty(tmp_path: Path, content: str) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    if content == "file":
        (target / "x").write_text("mine")
    else:
        (target / "sub").mkdir()
    proc = subprocess.run([CLI, "new", str(target)], capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "not an empty folder" in proc.stderr
    assert [p.name for p in target.iterdir()] == ["x" if content == "file" else "sub"]


def test_new_refuses_a_name_that_cannot_name_an_image(tmp_path: Path) -> None:
    proc = subprocess.run(
        [CLI, "new", str(tmp_path / "Bad Name!")], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert "give one with --name" in proc.stderr
    assert not (tmp_path / "Bad Name!").exists()
