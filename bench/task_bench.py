"""Task benchmark: stream a 1 GiB object (generated at run time) from the local server.

Figures: the fingerprint task's throughput vs a raw boto3 get_object read loop against the
same server in the same run (target >= 0.9x), and peak RSS of the task process (target
<= 100 MB) beside a naive read-everything program.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
from boto3.s3.transfer import TransferConfig

from bench.moto_process import moto_server

SIZE = 1024**3
PROGRAMS = Path(__file__).parent / "programs"
BUCKET = "bench"
KEY = "incoming/one-gib.bin"


class Generated(io.RawIOBase):
    """``SIZE`` bytes of a repeated random 8 MiB block, produced on the fly (nothing on disk)."""

    def __init__(self, size: int) -> None:
        self._left = size
        self._block = os.urandom(8 * 1024 * 1024)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, target: memoryview) -> int:  # type: ignore[override]
        n = min(len(target), self._left, len(self._block) - self._pos)
        target[:n] = self._block[self._pos : self._pos + n]
        self._pos = (self._pos + n) % len(self._block)
        self._left -= n
        return n


def peak_rss_mb(pid: int) -> float | None:
    # VmHWM is the high-water RSS of the program since its exec (ru_maxrss would also count
    # the memory of this benchmark process, inherited at fork).
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_measured(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run ``cmd``; return (seconds, peak RSS in MB) of that child alone."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, peak_rss_mb(proc.pid) or 0.0)
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} exited {proc.returncode}")
    return seconds, peak


def _processing_ceiling() -> float:
    """MiB/s of the fingerprint's own work on data already in memory."""
    from s3fargate.examples.fingerprint import fingerprint_chunks

    block = os.urandom(2**20)
    start = time.perf_counter()
    fingerprint_chunks(block for _ in range(512))
    return 512 / (time.perf_counter() - start)


def main() -> None:
    """Upload 1 GiB to a moto server process and time the three readers."""
    with moto_server() as endpoint:
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket=BUCKET)
        print(f"uploading a generated {SIZE // 2**20} MiB object to {endpoint} …", flush=True)
        started = time.perf_counter()
        s3.upload_fileobj(
            io.BufferedReader(Generated(SIZE), buffer_size=8 * 2**20),
            BUCKET,
            KEY,
            Config=TransferConfig(multipart_chunksize=64 * 2**20, max_concurrency=4),
        )
        print(f"uploaded in {time.perf_counter() - started:.1f} s", flush=True)
        # One stream, as the raw loop reads: this measures the SDK's streaming overhead. The
        # moto server copies the whole object for every ranged GET, so parallel parts are
        # measured behind a per-connection cap instead (bench/ranged_bench.py).
        env = {
            "AWS_ENDPOINT_URL": endpoint,
            "S3_BUCKET": BUCKET,
            "S3_KEY": KEY,
            "S3_READ_CONCURRENCY": "1",
        }
        py = sys.executable
        raw_s, raw_rss = run_measured([py, str(PROGRAMS / "raw_read.py")], env)
        task_s, task_rss = run_measured([py, "-m", "s3fargate.examples.fingerprint"], env)
        seq_s, seq_rss = run_measured([py, str(PROGRAMS / "sequential_fingerprint.py")], env)
        sdk_s, sdk_rss = run_measured([py, str(PROGRAMS / "passthrough_task.py")], env)
        naive_s, naive_rss = run_measured([py, str(PROGRAMS / "naive_read_all.py")], env)

    mib = SIZE / 2**20
    rows = [
        ("raw boto3 read loop (no processing)", raw_s, raw_rss),
        ("fingerprint task (sha256 + lines)", task_s, task_rss),
        ("same work, one loop, no read-ahead", seq_s, seq_rss),
        ("SDK task that only iterates chunks", sdk_s, sdk_rss),
        ("naive read-all, then hash", naive_s, naive_rss),
    ]
    for label, seconds, rss in rows:
        print(f"{label:<38} {mib / seconds:6.0f} MiB/s   peak RSS {rss:6.0f} MB")
    ratio = raw_s / task_s
    verdict = "met" if ratio >= 0.9 else "missed"
    print(f"task throughput ratio task/raw: {ratio:.2f}x (target >= 0.9x: {verdict})")
    sdk_ratio = raw_s / sdk_s
    sdk_verdict = "met" if sdk_ratio >= 0.9 else "missed"
    print(f"SDK streaming ratio (no processing) sdk/raw: {sdk_ratio:.2f}x (>= 0.9x: {sdk_verdict})")
    print(f"read-ahead gain over one loop: {seq_s / task_s:.2f}x")
    print(
        f"note: sha256 + line count alone run at {_processing_ceiling():.0f} MiB/s in memory here;"
        f" {os.cpu_count()} cores serve moto, read and hash at once, so the task is CPU-bound"
    )
    rss_verdict = "met" if task_rss <= 100 else "missed"
    print(f"task peak RSS: {task_rss:.0f} MB (target <= 100 MB: {rss_verdict})")


if __name__ == "__main__":
    main()
