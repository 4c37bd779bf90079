"""Task sizes: which CPU, memory and disk an object of a given size gets.

A pipeline's sizes are ordered by ``up_to_bytes`` (the largest object each size is for); the
last has no bound. The runner picks the first size whose bound holds the object, and one size
further up for each time the job's task was killed for memory or disk.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from s3fargate.contracts import UserError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

#: Fargate's allowed memory (MiB) per CPU unit value, exactly as AWS documents the task sizes
#: (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html):
#: 256 takes 512 MiB, 1 GB or 2 GB only; 512: 1-4 GB, 1024: 2-8 GB, 2048: 4-16 GB and 4096:
#: 8-30 GB in 1 GB steps; 8192: 16-60 GB in 4 GB steps; 16384: 32-120 GB in 8 GB steps.
FARGATE_MEMORY_BY_CPU: Final[dict[int, tuple[int, ...]]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}
#: Fargate's ephemeral storage: 20 GiB without a setting, 21-200 GiB with one.
DEFAULT_EPHEMERAL_GIB: Final = 20
EPHEMERAL_STORAGE_GIB: Final = range(21, 200 + 1)
CPU_UNITS_PER_VCPU: Final = 1024

#: ``S3_READ_CONCURRENCY`` per CPU value: Fargate gives a larger task a larger share of the
#: host's network, so it keeps more ranged GETs in flight (the task SDK's default is 10).
READ_CONCURRENCY_BY_CPU: Final = {256: 4, 512: 6, 1024: 8, 2048: 12, 4096: 16, 8192: 24, 16384: 32}


class TaskSizeError(UserError, ValueError):
    """A size Fargate cannot run, or sizes that are not ordered as the runner needs them."""


def task_size_problem(cpu: int, memory_mib: int) -> str | None:
    """Why Fargate refuses this CPU/memory pair (None: it runs it)."""
    allowed = FARGATE_MEMORY_BY_CPU.get(cpu)
    if allowed is None:
        return f"cpu={cpu} is not a Fargate CPU value; use one of {sorted(FARGATE_MEMORY_BY_CPU)}"
    if memory_mib not in allowed:
        return (
            f"memory_limit_mib={memory_mib} is not valid with cpu={cpu}: Fargate allows "
            f"{memory_choices(cpu)} MiB for that CPU"
        )
    return None


def smallest_memory(cpu: int) -> int | None:
    """The least memory (MiB) Fargate runs ``cpu`` units with (None: not a Fargate CPU)."""
    allowed = FARGATE_MEMORY_BY_CPU.get(cpu)
    return allowed[0] if allowed else None


def memory_choices(cpu: int) -> str:
    """The memory Fargate allows with ``cpu``, as a person reads it (``512, 1024 or 2048``,
    ``1024-4096 in steps of 1024``)."""
    allowed = FARGATE_MEMORY_BY_CPU[cpu]
    if len(allowed) <= 3:
        return ", ".join(map(str, allowed[:-1])) + f" or {allowed[-1]}"
    return f"{allowed[0]}-{allowed[-1]} in steps of {allowed[1] - allowed[0]}"


def ephemeral_storage_problem(gib: int | None) -> str | None:
    """Why Fargate refuses this ephemeral storage (None keeps the 20 GiB default)."""
    if gib is not None and gib not in EPHEMERAL_STORAGE_GIB:
        return (
            f"ephemeral_storage_gib={gib} is out of range: Fargate takes 21-200 GiB "
            "(leave it unset for the default 20 GiB)"
        )
    return None


def read_concurrency_for(cpu: int) -> int:
    """How many ranged GETs a task of ``cpu`` units keeps in flight."""
    fitting = [units for units in READ_CONCURRENCY_BY_CPU if units <= cpu]
    if not fitting:
        return min(READ_CONCURRENCY_BY_CPU.values())
    return READ_CONCURRENCY_BY_CPU[max(fitting)]


@dataclass(frozen=True, slots=True)
class TaskSize:
    """The CPU, memory and disk of the tasks for objects of at most ``up_to_bytes`` bytes.

    ``cpu`` is in CPU units (1024 = 1 vCPU), ``memory_limit_mib`` in MiB, as the construct's
    ``cpu`` and ``memory_limit_mib``; ``ephemeral_storage_gib`` None keeps the task
    definition's storage. ``up_to_bytes`` None: every larger object (the last size).
    """

    up_to_bytes: int | None
    cpu: int
    memory_limit_mib: int
    ephemeral_storage_gib: int | None = None

    def problems(self) -> list[str]:
        """What Fargate would refuse about this size."""
        found = [
            problem
            for problem in (
                task_size_problem(self.cpu, self.memory_limit_mib),
                ephemeral_storage_problem(self.ephemeral_storage_gib),
            )
            if problem
        ]
        if self.up_to_bytes is not None and (
            isinstance(self.up_to_bytes, bool)
            or not isinstance(self.up_to_bytes, int)
            or self.up_to_bytes < 0
        ):
            found.append(f"up_to_bytes={self.up_to_bytes!r} must be a whole number of bytes >= 0")
        return found

    @property
    def label(self) -> str:
        """For a person: ``1 vCPU, 4 GiB`` (and the disk, when set)."""
        vcpu = self.cpu / CPU_UNITS_PER_VCPU
        text = f"{vcpu:g} vCPU, {self.memory_limit_mib / 1024:g} GiB"
        if self.ephemeral_storage_gib is not None:
            text += f", {self.ephemeral_storage_gib} GiB disk"
        return text

    def encode(self) -> str:
        """``up_to:cpu:memory[:disk]`` (``*`` for no bound), as the functions read it."""
        parts = ["*" if self.up_to_bytes is None else str(self.up_to_bytes)]
        parts += [str(self.cpu), str(self.memory_limit_mib)]
        if self.ephemeral_storage_gib is not None:
            parts.append(str(self.ephemeral_storage_gib))
        return ":".join(parts)

    @classmethod
    def parse(cls, text: str) -> TaskSize:
        """A size as a person writes it, in the construct's names:
        ``up_to_bytes=1GiB,cpu=1024,memory_limit_mib=4096[,ephemeral_storage_gib=50]``
        (``up_to_bytes`` left out or ``none`` for the last size; byte counts may end in
        KB/MB/GB/TB or KiB/MiB/GiB/TiB).

        Raises:
            TaskSizeError: a name it does not know, a value that is not a number, or a size
                Fargate refuses.
        """
        values: dict[str, int | None] = {}
        for part in text.split(","):
            name, sep, raw = part.strip().partition("=")
            if not sep or name not in _FIELDS:
                raise TaskSizeError(
                    f"{part.strip()!r}: a task size is "
                    "up_to_bytes=N,cpu=UNITS,memory_limit_mib=MIB[,ephemeral_storage_gib=GIB]"
                )
            if name == "up_to_bytes":
                values[name] = parse_bytes(raw)
            elif _whole(raw.strip()):
                values[name] = int(raw.strip())
            else:
                raise TaskSizeError(f"{name}={raw!r} is not a whole number")
        missing = [name for name in ("cpu", "memory_limit_mib") if name not in values]
        if missing:
            raise TaskSizeError(f"{text!r}: a task size needs {' and '.join(missing)}")
        size = cls(
            up_to_bytes=values.get("up_to_bytes"),
            cpu=values["cpu"] or 0,
            memory_limit_mib=values["memory_limit_mib"] or 0,
            ephemeral_storage_gib=values.get("ephemeral_storage_gib"),
        )
        problems = size.problems()
        if problems:
            raise TaskSizeError("; ".join(problems))
        return size

    @classmethod
    def decode(cls, text: str) -> TaskSize:
        """The size :meth:`encode` wrote.

        Raises:
            TaskSizeError: not ``up_to:cpu:memory[:disk]`` in whole numbers.
        """
        parts = text.strip().split(":")
        if len(parts) not in (3, 4) or not all(_whole(p) for p in parts[1:]):
            raise TaskSizeError(
                f"a task size is up_to_bytes:cpu:memory_limit_mib[:ephemeral_storage_gib] "
                f"(up_to_bytes '*' for the last), got {text!r}"
            )
        bound = parts[0]
        if bound != "*" and not _whole(bound):
            raise TaskSizeError(f"up_to_bytes must be a whole number or '*', got {bound!r}")
        return cls(
            up_to_bytes=None if bound == "*" else int(bound),
            cpu=int(parts[1]),
            memory_limit_mib=int(parts[2]),
            ephemeral_storage_gib=int(parts[3]) if len(parts) == 4 else None,
        )


@dataclass(frozen=True, slots=True)
class TaskSizes:
    """A pipeline's sizes, smallest first; empty: every task runs at the task definition's."""

    sizes: tuple[TaskSize, ...] = ()

    def __iter__(self) -> Iterator[TaskSize]:
        return iter(self.sizes)

    def __len__(self) -> int:
        return len(self.sizes)

    def __bool__(self) -> bool:
        return bool(self.sizes)

    def problems(self) -> list[str]:
        """Everything wrong with these sizes, each naming its position."""
        found: list[str] = []
        for index, size in enumerate(self.sizes):
            found += [f"task_sizes[{index}]: {problem}" for problem in size.problems()]
        if not self.sizes:
            return found
        bounds = [size.up_to_bytes for size in self.sizes]
        if bounds[-1] is not None:
            found.append(
                "task_sizes: the last size must have up_to_bytes=None, so every object has one"
            )
        if any(bound is None for bound in bounds[:-1]):
            found.append("task_sizes: only the last size may have up_to_bytes=None")
        known = [bound for bound in bounds[:-1] if isinstance(bound, int)]
        if any(later <= earlier for earlier, later in itertools.pairwise(known)):
            found.append("task_sizes: up_to_bytes must grow from one size to the next")
        # A task killed for memory runs one size up: each size has at least the one before's.
        for index, (smaller, larger) in enumerate(itertools.pairwise(self.sizes), start=1):
            if _number(larger.memory_limit_mib) < _number(smaller.memory_limit_mib) or _number(
                larger.cpu
            ) < _number(smaller.cpu):
                found.append(
                    f"task_sizes[{index}] ({larger.label}) is smaller than task_sizes[{index - 1}] "
                    f"({smaller.label}): list the sizes smallest first, each with at least the "
                    "CPU and memory of the one before"
                )
        return found

    def check(self) -> TaskSizes:
        """These sizes, when valid.

        Raises:
            TaskSizeError: naming every problem.
        """
        problems = self.problems()
        if problems:
            raise TaskSizeError("; ".join(problems))
        return self

    def index_for(self, object_size: int | None) -> int:
        """The position of the size for an object of ``object_size`` bytes: the first whose
        bound holds it. An object of unknown size gets the last (largest) size: nothing says
        a smaller one would hold it."""
        if object_size is None:
            return len(self.sizes) - 1
        for index, size in enumerate(self.sizes):
            if size.up_to_bytes is None or object_size <= size.up_to_bytes:
                return index
        return len(self.sizes) - 1

    def for_attempt(self, object_size: int | None, size_up: int) -> TaskSize:
        """The size of an attempt ``size_up`` sizes above the object's own (at most the last)."""
        return self.sizes[min(self.index_for(object_size) + size_up, len(self.sizes) - 1)]

    def can_grow(self, object_size: int | None, size_up: int) -> bool:
        """True while an attempt at ``size_up`` is below the largest size."""
        return bool(self.sizes) and self.index_for(object_size) + size_up < len(self.sizes) - 1

    def encode(self) -> str:
        """The sizes as one variable: :meth:`TaskSize.encode` of each, comma-separated."""
        return ",".join(size.encode() for size in self.sizes)

    @classmethod
    def decode(cls, text: str) -> TaskSizes:
        """The sizes :meth:`encode` wrote.

        Raises:
            TaskSizeError: a part is not a size.
        """
        return cls(tuple(TaskSize.decode(part) for part in text.split(",") if part.strip()))

    @classmethod
    def of(cls, sizes: Iterable[TaskSize] | None) -> TaskSizes:
        """Sizes from any iterable (None: none)."""
        return cls(tuple(sizes or ()))


_FIELDS = ("up_to_bytes", "cpu", "memory_limit_mib", "ephemeral_storage_gib")
_BYTE_UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}


def parse_bytes(text: str) -> int | None:
    """``1GiB``, ``500MB`` or ``1048576`` in bytes; ``none`` (no bound) is None.

    Raises:
        TaskSizeError: not a whole number of bytes with a known unit.
    """
    raw = text.strip()
    if raw.lower() in ("none", "*"):
        return None
    digits = raw.rstrip("BbKkMmGgTtIi")
    unit = raw[len(digits) :].strip().upper()
    if not _whole(digits.strip()) or unit not in _BYTE_UNITS:
        raise TaskSizeError(
            f"up_to_bytes={text!r} is not a size: use bytes, or a number with KB/MB/GB/TB or "
            "KiB/MiB/GiB/TiB, or 'none' for the last size"
        )
    return int(digits) * _BYTE_UNITS[unit]


def format_bytes(size: int) -> str:
    """``1 GiB``, ``500 MiB``, ``12 B``: the largest binary unit that keeps a number >= 1."""
    for unit, factor in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= factor:
            return f"{size / factor:.3g} {unit}"
    return f"{size} B"


def _whole(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _number(value: object) -> float:
    """A size's number, or none to compare (a value still to be checked elsewhere)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
