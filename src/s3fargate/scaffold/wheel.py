"""A wheel of the installed ``s3fargate``, for a new project to install before the package is
published: built from the installed files (an editable checkout or a wheel install alike)."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from importlib import metadata
from pathlib import Path

from s3fargate.local.samples import sample_files

DISTRIBUTION = "s3fargate"
_SKIP = ("__pycache__",)


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def package_files() -> dict[str, bytes]:
    """The package's files by their path in a wheel, sample data included."""
    root = Path(__file__).resolve().parents[1]
    files: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not any(part in _SKIP for part in path.parts):
            if path.suffix in (".pyc", ".pyo"):
                continue
            files[f"s3fargate/{path.relative_to(root).as_posix()}"] = path.read_bytes()
    for path, relative in sample_files():
        files.setdefault(f"s3fargate/local/sample_data/{relative}", path.read_bytes())
    return files


def build_wheel(folder: Path) -> Path:
    """Write ``s3fargate-<version>-py3-none-any.whl`` into ``folder``; return its path."""
    dist = metadata.distribution(DISTRIBUTION)
    version = dist.version
    info = f"{DISTRIBUTION}-{version}.dist-info"
    files = package_files()
    files[f"{info}/METADATA"] = (dist.read_text("METADATA") or "").encode()
    files[f"{info}/entry_points.txt"] = (dist.read_text("entry_points.txt") or "").encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: s3fargate new\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [_record_line(name, data) for name, data in files.items()]
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{DISTRIBUTION}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as wheel:
        for name, data in files.items():
            wheel.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return target


def pinned_requirements(extras: tuple[str, ...] = ()) -> list[str]:
    """``name==version`` of every installed distribution the package needs (its core, plus
    ``extras``), transitively: the versions this installation runs, for an image to lock."""
    pins: dict[str, str] = {}
    todo = [(DISTRIBUTION, extras)]
    while todo:
        name, wanted = todo.pop()
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # a marker excluded it on this platform
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in pins and not wanted:
            continue
        if key != DISTRIBUTION:
            pins[key] = dist.version
        for requirement in dist.requires or []:
            spec, _, marker = requirement.partition(";")
            extra = _extra_of(marker)
            if extra is not None and extra not in wanted:
                continue
            if extra is None and "extra" in marker:
                continue
            dep = spec.split("[")[0]
            for cut in "<>=!~ (":
                dep = dep.split(cut)[0]
            subextras = tuple(
                e.strip() for e in spec.partition("[")[2].partition("]")[0].split(",") if e.strip()
            )
            if dep.strip().lower() not in pins or subextras:
                todo.append((dep.strip(), subextras))
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def _extra_of(marker: str) -> str | None:
    marker = marker.strip()
    if not marker.startswith("extra"):
        return None
    return marker.split("==", 1)[1].strip().strip("'\"") if "==" in marker else None
