"""Run the benchmarks: ``python -m bench [NAME ...]`` (default: all)."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "runner": "bench.runner_bench",
    "task": "bench.task_bench",
    "ranged": "bench.ranged_bench",
    "local": "bench.local_bench",
    "files": "bench.files_bench",
    "sim": "bench.sim_bench",
    "sizing": "bench.sizing_bench",
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
        return 2
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        importlib.import_module(BENCHMARKS[name]).main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
