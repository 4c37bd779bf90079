"""Where the construct finds the runner's code and the example task's Dockerfile."""

from __future__ import annotations

import atexit
import importlib.metadata
import shutil
import tempfile
import tomllib
from pathlib import Path

import s3fargate

PACKAGE_DIR = Path(s3fargate.__file__).resolve().parent
#: What the Lambdas (runner, tracker, reconciler) need of the package: nothing that imports
#: CDK, moto or rich.
LAMBDA_MODULES = (
    "__init__.py",
    "py.typed",
    "contracts.py",
    "events",
    "lambda_runtime",
    "ledger",
    "sizing",
    "launching",
    "taskrunner",
    "tracker",
)


#: Bundled into the asset beside our code, at the installed (locked) versions: Powertools and
#: what it needs beyond Lambda's runtime (which has boto3, botocore and jmespath). A bundle,
#: not AWS's public layer: the layer's parameter exists only where Powertools publishes it (no
#: GovCloud, no China) and resolves to whatever version is latest at deploy time.
BUNDLED_DISTRIBUTIONS = ("aws-lambda-powertools", "typing-extensions")
LOCK_FILE = PACKAGE_DIR.parents[1] / "uv.lock"


class BundleError(ValueError):
    """A distribution to bundle into the Lambdas' asset is missing or is not the locked one."""


def lambda_code_dir() -> str:
    """A folder holding the Lambdas' part of the package and the bundled Powertools, for
    ``Code.from_asset``.

    Staged into a fresh temporary folder (the asset hash depends on content only), so the
    same works from a source checkout and from an installed wheel.

    Raises:
        BundleError: Powertools is not installed, or (in a source checkout) is not the version
            ``uv.lock`` pins.
    """
    root = Path(tempfile.mkdtemp(prefix="s3fargate-lambda-"))
    # The CDK copies the asset into the cloud assembly during synthesis.
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    staging = root / "s3fargate"
    staging.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in LAMBDA_MODULES:
        source = PACKAGE_DIR / name
        if source.is_dir():
            shutil.copytree(source, staging / name, ignore=ignore)
        else:
            shutil.copy2(source, staging / name)
    locked = locked_versions(LOCK_FILE) if LOCK_FILE.is_file() else {}
    for name in BUNDLED_DISTRIBUTIONS:
        _bundle(name, root, locked.get(name))
    return str(root)


def locked_versions(lock_file: Path) -> dict[str, str]:
    """Every package's version in a ``uv.lock``."""
    data = tomllib.loads(lock_file.read_text(encoding="utf-8"))
    return {package["name"]: package["version"] for package in data.get("package", [])}


def _bundle(name: str, root: Path, locked: str | None) -> None:
    try:
        distribution = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        raise BundleError(
            f"{name} is not installed, and the Lambdas' asset bundles it: install s3fargate "
            "with its dependencies (make synth does)"
        ) from None
    if locked is not None and distribution.version != locked:
        raise BundleError(
            f"{name} {distribution.version} is installed but uv.lock pins {locked}: run "
            "`make synth` (it installs the locked versions) or `uv sync --frozen` first"
        )
    copied = 0
    for file in distribution.files or ():
        top = file.parts[0]
        if top.endswith((".dist-info", ".data")) or top == ".." or file.suffix == ".pyc":
            continue
        target = root / file
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(str(distribution.locate_file(file))), target)
        copied += 1
    if not copied:
        raise BundleError(
            f"{name} {distribution.version} lists no files (its installation has no RECORD): "
            "reinstall it with pip or uv before synthesizing"
        )


def example_task_context() -> Path:
    """The repository root, the build context of ``task/Dockerfile``.

    Raises:
        ValueError: not running from a source checkout; pass ``task_image`` instead.
    """
    root = PACKAGE_DIR.parents[1]
    if not (root / "task" / "Dockerfile").is_file():
        raise ValueError(
            "the example task's Dockerfile was not found (s3fargate is not running from a "
            "source checkout): pass task_image=ecs.ContainerImage.from_asset(...) or "
            "from_registry(...) for your own task"
        )
    return root
