"""Ranged-read benchmark: a 256 MiB object (generated at run time) behind a proxy that caps
every connection at a fixed rate, as S3 does per connection.

Figures, all in the same run: the fingerprint task with parallel ranged reads vs (a) the same
task reading one stream, and (b) s3transfer's ``download_fileobj`` (default concurrency) to disk
followed by the same hashing; peak RSS of each. Targets: >= 3x the single stream with 8
connections, >= 1.0x s3transfer end to end, peak RSS <= 150 MB. Also unthrottled, against the
server directly. ``BENCH_CONN_MIB_S`` sets the per-connection rate (default 16 MiB/s).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from boto3.s3.transfer import TransferConfig

from bench.moto_process import moto_server
from bench.task_bench import Generated, run_measured
from s3fargate import contracts as c

if TYPE_CHECKING:
    from collections.abc import Iterator

SIZE = 256 * 2**20
CONN_MIB_S = float(os.environ.get("BENCH_CONN_MIB_S", "16"))
PROGRAMS = Path(__file__).parent / "programs"
BUCKET = "bench"
KEY = "incoming/quarter-gib.bin"
FINGERPRINT = [sys.executable, "-m", "s3fargate.examples.fingerprint"]
S3TRANSFER = [sys.executable, str(PROGRAMS / "s3transfer_then_hash.py")]


@contextmanager
def throttled(endpoint: str, rate_bytes: float) -> Iterator[str]:
    """The bench proxy in front of ``endpoint``; yields the proxy's endpoint."""
    upstream_port = endpoint.rsplit(":", 1)[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.throttle_proxy", upstream_port, str(rate_bytes)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _measure(label: str, cmd: list[str], env: dict[str, str]) -> tuple[str, float, float]:
    seconds, rss = run_measured(cmd, env)
    mib_s = SIZE / 2**20 / seconds
    print(f"  {label:<46} {seconds:6.2f} s {mib_s:7.1f} MiB/s  peak RSS {rss:5.0f} MB", flush=True)
    return label, seconds, rss


def main() -> None:
    """Upload the object, then time every reader through the proxy and directly."""
    with moto_server() as endpoint:
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket=BUCKET)
        print(f"uploading a generated {SIZE // 2**20} MiB object (8 MiB parts) …", flush=True)
        s3.upload_fileobj(
            io.BufferedReader(Generated(SIZE), buffer_size=8 * 2**20),
            BUCKET,
            KEY,
            Config=TransferConfig(multipart_chunksize=8 * 2**20, max_concurrency=4),
        )
        base = {"S3_BUCKET": BUCKET, "S3_KEY": KEY}
        defaults = f"{c.DEFAULT_READ_CONCURRENCY} x {c.DEFAULT_PART_SIZE // 2**20} MiB"
        with throttled(endpoint, CONN_MIB_S * 2**20) as proxy:
            print(f"through a proxy capping each connection at {CONN_MIB_S:g} MiB/s:")
            env = {**base, "AWS_ENDPOINT_URL": proxy}
            _, one_s, _ = _measure(
                "task, one stream (S3_READ_CONCURRENCY=1)",
                FINGERPRINT,
                {**env, c.ENV_S3_READ_CONCURRENCY: "1"},
            )
            _, eight_s, eight_rss = _measure(
                "task, 8 connections x 8 MiB",
                FINGERPRINT,
                {**env, c.ENV_S3_READ_CONCURRENCY: "8", c.ENV_S3_PART_SIZE: str(8 * 2**20)},
            )
            _, default_s, default_rss = _measure(f"task, defaults ({defaults})", FINGERPRINT, env)
            _, transfer_s, transfer_rss = _measure(
                "s3transfer download_fileobj, then hash", S3TRANSFER, env
            )
        print("directly against the server (no per-connection cap):")
        env = {**base, "AWS_ENDPOINT_URL": endpoint}
        _, direct_one_s, _ = _measure(
            "task, one stream", FINGERPRINT, {**env, c.ENV_S3_READ_CONCURRENCY: "1"}
        )
        _, direct_default_s, _ = _measure(f"task, defaults ({defaults})", FINGERPRINT, env)
        _, direct_transfer_s, _ = _measure("s3transfer, then hash", S3TRANSFER, env)

    def verdict(ok: bool) -> str:
        return "met" if ok else "missed"

    ratio_8 = one_s / eight_s
    ratio_transfer = transfer_s / default_s
    peak = max(eight_rss, default_rss)
    print(f"8 connections vs one stream: {ratio_8:.2f}x (target >= 3x: {verdict(ratio_8 >= 3)})")
    print(
        f"defaults vs s3transfer + hash: {ratio_transfer:.2f}x "
        f"(target >= 1.0x: {verdict(ratio_transfer >= 1.0)})"
    )
    print(f"task peak RSS: {peak:.0f} MB (target <= 150 MB: {verdict(peak <= 150)})")
    print(f"(s3transfer + hash peak RSS: {transfer_rss:.0f} MB, plus {SIZE // 2**20} MiB of disk)")
    print(
        f"unthrottled: defaults vs one stream {direct_one_s / direct_default_s:.2f}x, "
        f"vs s3transfer + hash {direct_transfer_s / direct_default_s:.2f}x "
        f"({os.cpu_count()} cores serve the server, the reads and the hashing at once)"
    )


if __name__ == "__main__":
    main()
