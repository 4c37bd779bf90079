"""The task image's build context: what ``.dockerignore`` sends is what ``task/Dockerfile``
needs, and its install script puts exactly the locked runtime dependencies in the image.

No Docker: the context is staged with Docker's ``.dockerignore`` rules (``tests/dockerignore``),
the build stage's ``COPY`` lines are replayed into a scratch folder, and the build stage's
``RUN`` of ``task/install.sh`` is run there into a scratch virtualenv.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import pytest
from packaging.markers import Marker

from tests.dockerignore import DockerIgnore, read_dockerignore

if TYPE_CHECKING:
    from collections.abc import Iterable

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = "task/Dockerfile"
INSTALL_SCRIPT = "task/install.sh"
ENTRYPOINT = ["python", "-m", "s3fargate.examples.fingerprint"]
#: What ``python3 -m venv`` seeds a virtualenv with (ensurepip): not the image's packages.
VENV_SEED = frozenset({"pip", "setuptools"})


# --- the Dockerfile, as far as these tests read it --------------------------------------------


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: its keyword (upper case) and its arguments."""

    keyword: str
    args: str


@dataclass(frozen=True)
class Stage:
    """One ``FROM`` and the instructions up to the next."""

    name: str | None
    instructions: tuple[Instruction, ...]

    def all(self, keyword: str) -> list[Instruction]:
        """This stage's instructions with ``keyword``, in order."""
        return [i for i in self.instructions if i.keyword == keyword]


def read_dockerfile(text: str) -> list[Stage]:
    """The stages of a Dockerfile: continuation lines joined, comments and blank lines dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue  # Docker drops comment lines, inside a continued instruction too
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
        pending = ""
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(name, ()))
        elif stages:
            stages[-1] = Stage(stages[-1].name, (*stages[-1].instructions, instruction))
    return stages


@dataclass(frozen=True)
class Copy:
    """A ``COPY`` within the build context: sources relative to it, a destination."""

    sources: tuple[str, ...]
    destination: str


def parse_copy(instruction: Instruction) -> Copy:
    """A build-context ``COPY`` (shell form, no flags: all this Dockerfile's build stage uses)."""
    words = shlex.split(instruction.args)
    assert len(words) >= 2, f"COPY needs a source and a destination: {instruction.args!r}"
    assert not any(w.startswith("--") for w in words), (
        f"COPY flags are not replayed by this test: {instruction.args!r}"
    )
    sources = tuple(str(PurePosixPath(s)) for s in words[:-1])
    assert not any(set(s) & set("*?[") for s in sources), (
        f"COPY wildcards are not replayed by this test: {instruction.args!r}"
    )
    return Copy(sources, words[-1])


def dockerfile_stages() -> list[Stage]:
    """The repository's ``task/Dockerfile``, read into stages."""
    return read_dockerfile((ROOT / DOCKERFILE).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class BuildStage:
    """The stage that installs: its instructions and its install ``RUN`` (argument list)."""

    stage: Stage
    run: list[str]


def build_stage() -> BuildStage:
    """The stage the final stage copies its virtualenv from, and its one install ``RUN``."""
    stages = dockerfile_stages()
    final = stages[-1]
    froms = [i.args.split() for i in final.all("COPY") if i.args.startswith("--from=")]
    assert len(froms) == 1, f"the final stage should COPY --from one stage: {froms}"
    source_stage, source, destination = froms[0][0].removeprefix("--from="), *froms[0][1:]
    assert source == destination, "the virtualenv keeps its path (its scripts name it)"
    named = [s for s in stages if s.name == source_stage]
    assert len(named) == 1, f"no single stage named {source_stage!r}"
    runs = [
        shlex.split(i.args) for i in named[0].all("RUN") if INSTALL_SCRIPT in shlex.split(i.args)
    ]
    assert len(runs) == 1, f"the {source_stage!r} stage should RUN {INSTALL_SCRIPT} once: {runs}"
    assert runs[0] == ["sh", INSTALL_SCRIPT, source], (
        f"the build stage should run `sh {INSTALL_SCRIPT} {source}`, not {runs[0]}"
    )
    return BuildStage(named[0], runs[0])


def replay_copies(stage: Stage, context: Path, workdir: Path) -> None:
    """Do the stage's ``COPY`` lines from ``context`` into ``workdir`` (its ``WORKDIR``).

    Docker's rules: a folder's contents are copied into the destination; a file lands in a
    destination ending in ``/`` (or given several sources) under its own name.
    """
    for instruction in stage.all("COPY"):
        copy = parse_copy(instruction)
        destination = workdir / copy.destination
        into_folder = copy.destination.endswith("/") or len(copy.sources) > 1
        for source in copy.sources:
            path = context / source
            assert path.exists(), f"COPY {source}: not in the build context (.dockerignore?)"
            if path.is_dir():
                shutil.copytree(path, destination, dirs_exist_ok=True)
            else:
                target = destination / path.name if into_folder else destination
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)


# --- the lock ---------------------------------------------------------------------------------


def normalize(name: str) -> str:
    """A distribution name in PEP 503 form, as uv.lock writes it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_runtime(
    lock: dict[str, Any], project: str, environment: dict[str, str]
) -> dict[str, str]:
    """Name -> version of the project and its core dependencies, transitively, per uv.lock.

    No extras and no dependency groups of the project; a dependency's own extras are followed,
    and markers are evaluated for ``environment`` (the interpreter that installs).
    """
    by_name: dict[str, list[dict[str, Any]]] = {}
    for package in lock["package"]:
        by_name.setdefault(package["name"], []).append(package)

    def resolve(ref: dict[str, Any]) -> dict[str, Any]:
        candidates = [
            p for p in by_name[ref["name"]] if ref.get("version", p["version"]) == p["version"]
        ]
        assert len(candidates) == 1, f"uv.lock: no single package for {ref}"
        return candidates[0]

    pins: dict[str, str] = {}
    seen: set[tuple[str, str, str | None]] = set()
    todo: list[tuple[dict[str, Any], str | None]] = [(resolve({"name": project}), None)]
    while todo:
        package, extra = todo.pop()
        unit = (package["name"], package["version"], extra)
        if unit in seen:
            continue
        seen.add(unit)
        pins[package["name"]] = package["version"]
        refs = (
            package.get("dependencies", [])
            if extra is None
            else package.get("optional-dependencies", {})[extra]
        )
        for ref in refs:
            if "marker" in ref and not Marker(ref["marker"]).evaluate(environment):
                continue
            dependency = resolve(ref)
            todo.append((dependency, None))
            todo.extend((dependency, e) for e in ref.get("extra", []))
    return pins


# --- the tools the install needs --------------------------------------------------------------


def uv_executable() -> str:
    """The uv to run the install script with: ``$UV``, else the Makefile's ``.tools/bin/uv``."""
    candidate = os.environ.get("UV") or str(ROOT / ".tools" / "bin" / "uv")
    found = shutil.which(candidate)
    if found is None:
        pytest.fail(
            f"uv not found at {candidate!r}: run `make .venv/.test-synced` (bootstraps "
            ".tools/bin/uv) or set UV to a uv executable"
        )
    return os.path.abspath(found)  # the script runs in another folder


def subprocess_env(**extra: str) -> dict[str, str]:
    """This environment without what would point a child at this checkout's packages."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env.update(extra)
    return env


def run(args: list[str], cwd: Path, what: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``args``; on failure, fail the test with ``what`` and the command's output."""
    proc = subprocess.run(
        args, cwd=cwd, env=subprocess_env(**env), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        pytest.fail(
            f"{what} failed (exit {proc.returncode}): {shlex.join(args)}\n"
            f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
        )
    return proc


# --- the build stage, replayed ----------------------------------------------------------------


def stage_context(destination: Path) -> list[str]:
    """The repository's build context, staged as Docker sends it; its paths."""
    return DockerIgnore.read(ROOT).stage(ROOT, destination)


def build_workdir(scratch: Path) -> Path:
    """The build stage's ``WORKDIR`` after its ``COPY`` lines, from the staged context."""
    context, workdir = scratch / "context", scratch / "workdir"
    stage_context(context)
    replay_copies(build_stage().stage, context, workdir)
    return workdir


# --- .dockerignore rules ----------------------------------------------------------------------


def excluded(lines: Iterable[str], path: str) -> bool:
    """Whether a ``.dockerignore`` of ``lines`` leaves ``path`` out of the context."""
    return DockerIgnore(read_dockerignore("\n".join(lines))).excluded(path)


@pytest.mark.parametrize(
    ("lines", "path", "expected"),
    [
        # The examples of https://docs.docker.com/build/concepts/context/#dockerignore-files
        (["*/temp*"], "somedir/temporary.txt", True),
        (["*/temp*"], "somedir/temp", True),
        (["*/temp*"], "somedir/temp/inside.txt", True),  # a matched folder takes its contents
        (["*/temp*"], "temporary.txt", False),
        (["*/temp*"], "a/b/temporary.txt", False),
        (["*/*/temp*"], "somedir/subdir/temporary.txt", True),
        (["*/*/temp*"], "somedir/temporary.txt", False),
        (["temp?"], "tempa", True),
        (["temp?"], "tempb", True),
        (["temp?"], "temp", False),
        (["temp?"], "tempab", False),
        (["**/*.go"], "main.go", True),
        (["**/*.go"], "cmd/tool/main.go", True),
        (["**/*.go"], "main.gox", False),
        (["*.md", "!README.md"], "README.md", False),
        (["*.md", "!README.md"], "CHANGES.md", True),
        (["*.md", "!README.md"], "docs/guide.md", False),  # relative to the root, not the folder
        (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True),
        (["*.md", "!README*.md", "README-secret.md"], "README-public.md", False),
        (["*.md", "README-secret.md", "!README*.md"], "README-secret.md", False),
        (["/foo/bar"], "foo/bar", True),
        (["foo/bar"], "foo/bar", True),
        (["/foo/bar"], "foo/bar/baz.txt", True),
        (["/foo/bar"], "foo/barn", False),
        (["/foo/bar"], "x/foo/bar", False),
        # Comments are lines starting with "#" in column 1 only; cleaning; "**" shapes.
        (["# foo"], "# foo", False),
        ([" # foo"], "# foo", True),
        (["./foo//bar/"], "foo/bar/x", True),
        (["foo/**"], "foo/a/b", True),
        (["foo/**/bar"], "foo/bar", True),
        (["foo/**/bar"], "foo/a/b/bar", True),
        (["**/bar"], "bar", True),
        (["*", "!src/", "src/**/__pycache__"], "src/pkg/__pycache__/m.pyc", True),
        (["*", "!src/", "src/**/__pycache__"], "src/pkg/m.py", False),
        (["*", "!src/", "src/**/__pycache__"], "tests/test_m.py", True),
    ],
)
def test_dockerignore_rules(lines: list[str], path: str, expected: bool) -> None:
    assert excluded(lines, path) is expected


def test_dockerignore_reader_cleans_patterns() -> None:
    text = "\ufeff# comment\n\n  /a/b/  \n! ./c//d\n!e\n"
    assert read_dockerignore(text) == ["a/b", "!c/d", "!e"]


@pytest.mark.parametrize("line", ["!", "[a", "a\\", "[]"])
def test_dockerignore_rejects_bad_patterns(line: str) -> None:
    with pytest.raises(ValueError, match="pattern"):
        DockerIgnore([line])


def test_staging_prunes_excluded_folders_and_keeps_reincluded_files(tmp_path: Path) -> None:
    context, staged = tmp_path / "context", tmp_path / "staged"
    for rel in ("a.txt", "big/1", "big/2", "keep/sub/x", "keep/y", "task/Dockerfile", "task/z"):
        (context / rel).parent.mkdir(parents=True, exist_ok=True)
        (context / rel).write_text(rel)
    (context / ".dockerignore").write_text("*\n!keep/sub\n!task/Dockerfile\n")
    ignore = DockerIgnore.read(context)
    assert ignore.stage(context, staged) == ["keep/sub/x", "task/Dockerfile"]
    assert (staged / "task" / "Dockerfile").read_text() == "task/Dockerfile"
    assert not (staged / "big").exists()


# --- the repository's context and Dockerfile --------------------------------------------------


def test_context_holds_what_the_wheel_build_reads(tmp_path: Path) -> None:
    """pyproject.toml's readme, package folder and force-included paths are all sent."""
    staged = set(stage_context(tmp_path))
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wheel = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]
    needed = [pyproject["project"]["readme"], *wheel["packages"], *wheel.get("force-include", {})]
    for path in needed:
        assert any(p == path or p.startswith(path.rstrip("/") + "/") for p in staged), (
            f"{path} (read by the wheel build, pyproject.toml) is not in the build context: "
            "list it in .dockerignore"
        )
    assert not any("__pycache__" in p for p in staged)


def test_dockerfile_copies_exactly_the_context_and_runs_the_install_script(
    tmp_path: Path,
) -> None:
    staged = [p for p in stage_context(tmp_path) if p != DOCKERFILE]
    build = build_stage()
    sources = [s for i in build.stage.all("COPY") for s in parse_copy(i).sources]
    for source in sources:
        assert (tmp_path / source).exists(), f"COPY {source}: not in the build context"
    unused = [p for p in staged if not any(p == s or p.startswith(s + "/") for s in sources)]
    assert unused == [], f"sent by .dockerignore but never copied: {unused}"
    assert INSTALL_SCRIPT in sources
    assert "uv.lock" in sources
    final = dockerfile_stages()[-1]
    assert [json.loads(i.args) for i in final.all("ENTRYPOINT")] == [ENTRYPOINT]
    users = final.all("USER")
    assert users, "the final stage should drop root"
    assert users[-1].args.split(":")[0] not in {"0", "root"}


def test_dockerfile_uv_version_is_the_makefiles() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    dockerfile = (ROOT / DOCKERFILE).read_text(encoding="utf-8")
    pinned = re.search(r"^UV_VERSION\s*:=\s*(\S+)\s*$", makefile, re.MULTILINE)
    default = re.search(r"^ARG UV_VERSION=(\S+)\s*$", dockerfile, re.MULTILINE)
    assert pinned, "Makefile: no `UV_VERSION := ...`"
    assert default, f"{DOCKERFILE}: no `ARG UV_VERSION=...`"
    assert default.group(1) == pinned.group(1), (
        f"{DOCKERFILE} installs uv {default.group(1)}, the Makefile {pinned.group(1)}"
    )


# --- the install, replayed --------------------------------------------------------------------

#: Run in the scratch interpreter: the entrypoint's module, the sample files, the distributions
#: and the marker environment (what packaging's ``default_environment`` reads).
PROBE = """
import importlib, importlib.metadata as md, importlib.resources as res, json, os, platform, sys
module = importlib.import_module(sys.argv[1])
print(json.dumps({
    "module": module.__file__,
    "samples": sorted(p.name for p in (res.files("s3fargate.local") / "sample_data").iterdir()),
    "dists": {d.metadata["Name"]: d.version for d in md.distributions()},
    "environment": {
        "implementation_name": sys.implementation.name,
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_python_implementation": platform.python_implementation(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    },
}))
"""


@pytest.mark.slow
def test_install_script_installs_exactly_the_locked_runtime(tmp_path: Path) -> None:
    """The build stage's install ``RUN`` on the staged context, into a scratch virtualenv."""
    if shutil.which("python3") is None:
        pytest.fail(f"python3 not found on PATH: {INSTALL_SCRIPT} makes the virtualenv with it")
    workdir, venv = build_workdir(tmp_path), tmp_path / "venv"
    command = [*build_stage().run[:-1], str(venv)]  # the RUN, with the scratch venv's path
    run(command, workdir, f"{INSTALL_SCRIPT} on the staged build context", UV=uv_executable())

    # Isolated (-I): neither the working folder nor PYTHON* variables can supply the package.
    proc = run(
        [str(venv / "bin" / "python"), "-I", "-c", PROBE, ENTRYPOINT[-1]],
        workdir,
        f"importing {ENTRYPOINT[-1]} with the installed virtualenv's interpreter",
    )
    probe = json.loads(proc.stdout)
    assert Path(probe["module"]).is_relative_to(venv), probe["module"]
    assert probe["samples"] == sorted(p.name for p in (ROOT / "examples" / "data").iterdir())

    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    locked = locked_runtime(lock, project["name"], probe["environment"])
    assert {"boto3", "aws-lambda-powertools"} <= set(locked)
    assert not VENV_SEED & set(locked), "the lock pins a virtualenv seed package"
    installed = {
        normalize(name): version
        for name, version in probe["dists"].items()
        if normalize(name) not in VENV_SEED
    }
    assert installed == locked, {
        "not as locked": {
            n: (v, locked.get(n)) for n, v in installed.items() if locked.get(n) != v
        },
        "locked, not installed": sorted(set(locked) - set(installed)),
    }


@pytest.mark.slow
def test_wheel_builds_from_the_build_context(tmp_path: Path) -> None:
    """pyproject.toml force-includes examples/data: without it hatchling stops ("Forced include
    not found"), so the image's install would too."""
    workdir, dist = build_workdir(tmp_path), tmp_path / "dist"
    run(
        [uv_executable(), "build", "--wheel", "--out-dir", str(dist), str(workdir)],
        workdir,
        "building the wheel from the staged build context",
    )
    (wheel,) = dist.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "s3fargate/examples/fingerprint.py" in names
    samples = ROOT / "examples" / "data"
    for sample in samples.rglob("*"):
        if sample.is_file():
            assert f"s3fargate/local/sample_data/{sample.relative_to(samples).as_posix()}" in names
