"""Local pipeline benchmarks (the CLI's `s3fargate dev`, as a user runs it).

(a) Upload -> task-process-start latency, p50 and p99 over 200 uploads, vs spawning the task
    command directly (the floor).
(b) Wall time for N small uploads (default 1,000) through the pipeline with --max-running 8,
    vs the same fingerprint tasks run by a plain 8-worker pool against the same kind of server.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3

from bench.moto_process import BENCH_ENV, moto_server
from s3fargate.rundir.credentials import local_session

LATENCY_UPLOADS = 200
THROUGHPUT_UPLOADS = int(os.environ.get("BENCH_UPLOADS", "1000"))
WORKERS = 8
PROGRAMS = Path(__file__).parent / "programs"
CLI = str(Path(sys.executable).parent / "s3fargate")
FINGERPRINT = [sys.executable, "-m", "s3fargate.examples.fingerprint"]


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _start_dev(run_dir: Path, *args: str, env: dict[str, str] | None = None) -> tuple[Any, dict]:
    proc = subprocess.Popen(
        [CLI, "dev", "--run-dir", str(run_dir), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    state_file = run_dir / "state.json"
    deadline = time.monotonic() + 60
    while not state_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("s3fargate dev did not start")
        time.sleep(0.05)
    return proc, json.loads(state_file.read_text())


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)


def _mark_name(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def latency(tmp: Path) -> None:
    """(a) p50/p99 upload -> task start, vs direct spawn."""
    marks = tmp / "marks"
    marks.mkdir()
    env = {"MARKS_DIR": str(marks)}
    cmd = f"{sys.executable} {PROGRAMS / 'mark_start.py'}"
    proc, state = _start_dev(tmp / "run-latency", "--task-cmd", cmd, env=env)
    s3 = local_session(embedded=True).client("s3", endpoint_url=state["endpoint"])
    sent: dict[str, float] = {}
    try:
        for i in range(LATENCY_UPLOADS):
            key = f"{state['input_prefix']}latency/{i}.txt"
            sent[key] = time.time()
            s3.put_object(Bucket=state["bucket"], Key=key, Body=b"x")
            time.sleep(0.05)  # measure latency, not queueing behind earlier uploads
        deadline = time.monotonic() + 120
        while len(list(marks.iterdir())) < LATENCY_UPLOADS and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        _stop(proc)
    pipeline = [
        float((marks / _mark_name(k)).read_text()) - t
        for k, t in sent.items()
        if (marks / _mark_name(k)).exists()
    ]
    floor_marks = tmp / "floor"
    floor_marks.mkdir()
    floor = []
    for i in range(LATENCY_UPLOADS):
        key = f"floor/{i}"
        start = time.time()
        subprocess.run(
            [sys.executable, str(PROGRAMS / "mark_start.py")],
            env={**os.environ, "MARKS_DIR": str(floor_marks), "S3_KEY": key},
            check=True,
        )
        floor.append(float((floor_marks / _mark_name(key)).read_text()) - start)
    p50, p99 = _percentile(pipeline, 50), _percentile(pipeline, 99)
    f50, f99 = _percentile(floor, 50), _percentile(floor, 99)
    print(f"latency: {len(pipeline)}/{LATENCY_UPLOADS} uploads started a task")
    print(f"upload -> task start: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
    print(f"direct spawn (floor): p50 {f50 * 1000:.0f} ms, p99 {f99 * 1000:.0f} ms")
    print(f"latency ratio pipeline/floor: p50 {p50 / f50:.1f}x, p99 {p99 / f99:.1f}x")


def throughput(tmp: Path) -> None:
    """(b) N small objects through the pipeline (--max-running 8) vs an 8-worker pool."""
    n = THROUGHPUT_UPLOADS
    bodies = {f"incoming/small/{i:05d}.csv": f"row,{i}\n".encode() * 20 for i in range(n)}
    proc, state = _start_dev(tmp / "run-throughput", "--max-running", str(WORKERS))
    s3 = local_session(embedded=True).client("s3", endpoint_url=state["endpoint"])
    bucket, results = state["bucket"], state["results_prefix"]
    try:
        start = time.perf_counter()
        for key, body in bodies.items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        uploaded = time.perf_counter() - start
        print(f"pipeline: {n} uploads sent in {uploaded:.1f} s; waiting for results …", flush=True)
        done = 0
        while done < n:
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=results)
            done = sum(len(page.get("Contents", [])) for page in pages)
            if time.perf_counter() - start > 1800:
                raise RuntimeError(f"only {done}/{n} results after 30 minutes")
            time.sleep(0.5)
        pipeline_s = time.perf_counter() - start
    finally:
        _stop(proc)

    with moto_server() as endpoint:
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket=bucket)
        for key, body in bodies.items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        env = {**os.environ, **BENCH_ENV, "AWS_ENDPOINT_URL": endpoint, "S3_BUCKET": bucket}

        def one(key: str) -> int:
            return subprocess.run(
                FINGERPRINT, env={**env, "S3_KEY": key}, stdout=subprocess.DEVNULL, check=False
            ).returncode

        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
            codes = list(pool.map(one, bodies))
        pool_s = time.perf_counter() - start
    failed = sum(code != 0 for code in codes)
    print(f"pipeline, --max-running {WORKERS}: {n} uploads -> {n} results in {pipeline_s:.1f} s")
    print(f"plain {WORKERS}-worker pool, same tasks: {pool_s:.1f} s ({failed} failed)")
    print(f"throughput ratio pipeline/pool wall time: {pipeline_s / pool_s:.2f}x")


def main() -> None:
    """Run both local benchmarks."""
    with tempfile.TemporaryDirectory() as tmp:
        latency(Path(tmp))
        throughput(Path(tmp))


if __name__ == "__main__":
    main()
