"""``s3fargate new DIR``: a new pipeline of one's own — a task (a Python function or any
command), its Dockerfile, a CDK app, a README with two commands, and a test that runs the task
through the local pipeline.

Until the package is published, the project carries a wheel of this installation in
``vendor/`` and the versions it runs with in ``requirements*.txt``.
"""

from __future__ import annotations

import enum
import json
import re
import sys
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

from s3fargate.exit_codes import UsageError
from s3fargate.scaffold.wheel import build_wheel, pinned_requirements

#: A project name becomes an image name and a CloudFormation stack name.
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


class TaskKind(enum.StrEnum):
    """How the task is written."""

    PYTHON = "python"
    COMMAND = "command"


@dataclass(frozen=True)
class _Kind:
    task_file: str
    task_cmd: str
    entrypoint: list[str]
    output: str
    what: str
    help: str


KINDS = {
    TaskKind.PYTHON: _Kind(
        task_file="task.py",
        task_cmd="python task.py",
        entrypoint=["python", "/app/task.py"],
        output="upper.txt",
        what="The task is a Python function (`task.py`) written with the task SDK.",
        help=(
            "`task.py` holds `process(obj)`: it reads the uploaded object (`obj.chunks()`, "
            "`obj.as_file()`, or `obj.download()` for a file on disk), writes output files with "
            "`obj.outputs`, and returns what the result document should say."
        ),
    ),
    TaskKind.COMMAND: _Kind(
        task_file="task.sh",
        task_cmd="s3fargate-task -- sh task.sh",
        entrypoint=["s3fargate-task", "--", "sh", "/app/task.sh"],
        output="sorted.txt",
        what="The task is a command (`task.sh`) run by `s3fargate-task`: no Python code.",
        help=(
            "`task.sh` runs once per upload with `$S3FARGATE_INPUT`, the downloaded object, and "
            "`$S3FARGATE_OUTPUT_DIR`, whose files become the outputs. Put any program there (or "
            "replace `sh task.sh` in the Makefile's `TASK_CMD` and the Dockerfile's "
            "`ENTRYPOINT`); `{input}` and `{output_dir}` in its arguments are replaced too."
        ),
    ),
}


def _stack_name(project: str) -> str:
    return "".join(part.capitalize() for part in project.split("-")) or "Pipeline"


def check_target(folder: Path) -> None:
    """A new project goes into a folder that does not exist or is empty."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UsageError(f"{folder} exists and is not an empty folder: choose a new one")


def create_project(folder: Path, *, kind: TaskKind, name: str | None = None) -> list[Path]:
    """Write a new pipeline project into ``folder``; return the files written.

    Raises:
        UsageError: the folder is not empty, or the name cannot be an image or stack name.
    """
    project = name or folder.resolve().name.lower()
    if not NAME_PATTERN.match(project):
        raise UsageError(
            f"project name {project!r}: use lower-case letters, digits and hyphens, starting "
            "with a letter (give one with --name)"
        )
    check_target(folder)
    chosen = KINDS[kind]
    values = {
        "project": project,
        "stack": _stack_name(project),
        "task_cmd": chosen.task_cmd,
        "task_file": chosen.task_file,
        "entrypoint": json.dumps(chosen.entrypoint),
        "output": chosen.output,
        "what": chosen.what,
        "task_help": chosen.help,
    }
    other = {k.task_file for k in KINDS.values()} - {chosen.task_file}
    templates = resources.files("s3fargate.scaffold") / "templates"
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for source, relative in _walk(Path(str(templates))):
        name_in_project = _project_name(relative)
        if name_in_project in other:
            continue
        target = folder / name_in_project
        target.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        target.write_text(text, encoding="utf-8")
        if target.suffix == ".sh":
            target.chmod(0o755)
        written.append(target)
    written += _vendor(folder)
    return written


def _walk(root: Path) -> list[tuple[Path, str]]:
    return [
        (p, p.relative_to(root).as_posix())
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    ]


def _project_name(relative: str) -> str:
    """A template's name in the project: ``.tmpl`` dropped (templates are not linted as code
    of this package), dot-files named without their dot (a wheel keeps them either way)."""
    relative = relative.removesuffix(".tmpl")
    if relative in ("gitignore", "dockerignore"):
        return "." + relative
    return relative


def _vendor(folder: Path) -> list[Path]:
    """The wheel, and the versions this installation runs: the image's and the tests'."""
    wheel = build_wheel(folder / "vendor")
    runtime = folder / "requirements.txt"
    runtime.write_text(_requirements("the task image's", pinned_requirements()), encoding="utf-8")
    dev = folder / "requirements-dev.txt"
    tests = pinned_requirements(("local",))
    tests.append(_pin("pytest"))
    dev.write_text(_requirements("`make demo` and `make test`'s", tests), encoding="utf-8")
    cdk = folder / "requirements-cdk.txt"
    cdk.write_text(_requirements("`make synth`'s", pinned_requirements(("cdk",))), encoding="utf-8")
    return [wheel, runtime, dev, cdk]


def _pin(name: str) -> str:
    try:
        return f"{name}=={metadata.version(name)}"
    except metadata.PackageNotFoundError:
        return f"{name}>=8"


def _requirements(whose: str, pins: list[str]) -> str:
    header = (
        f"# {whose} dependencies, at the versions of the s3fargate installation that made this\n"
        f"# project (Python {sys.version_info.major}.{sys.version_info.minor}). The s3fargate "
        "wheel itself is in vendor/.\n"
    )
    return header + "".join(f"{pin}\n" for pin in pins)


__all__ = ["TaskKind", "check_target", "create_project"]
