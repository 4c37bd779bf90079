"""The demo's bundled sample files (``examples/data/`` in the repository)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def sample_dir() -> Path:
    """Where the sample files are: packaged in a wheel, or the repository's examples/data."""
    packaged = Path(str(resources.files("s3fargate.local") / "sample_data"))
    if packaged.is_dir():
        return packaged
    repository = Path(__file__).resolve().parents[3] / "examples" / "data"
    if repository.is_dir():
        return repository
    raise FileNotFoundError("no sample files found: pass files to `s3fargate demo FILE ...`")


def sample_files() -> list[tuple[Path, str]]:
    """Each sample file with its key relative to the sample folder (``日本語/ノート.md``)."""
    root = sample_dir()
    return [(p, p.relative_to(root).as_posix()) for p in sorted(root.rglob("*")) if p.is_file()]
