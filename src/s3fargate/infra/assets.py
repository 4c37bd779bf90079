"""Where the construct finds the runner's code and the example task's Dockerfile."""

from __future__ import annotations

import shutil
import tempfile
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
    "ledger",
    "taskrunner",
    "tracker",
)


def lambda_code_dir() -> str:
    """A folder holding only the Lambdas' part of the package, for ``Code.from_asset``.

    Staged into a fresh temporary folder (the asset hash depends on content only), so the
    same works from a source checkout and from an installed wheel.
    """
    staging = Path(tempfile.mkdtemp(prefix="s3fargate-lambda-")) / "s3fargate"
    staging.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in LAMBDA_MODULES:
        source = PACKAGE_DIR / name
        if source.is_dir():
            shutil.copytree(source, staging / name, ignore=ignore)
        else:
            shutil.copy2(source, staging / name)
    return str(staging.parent)


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
