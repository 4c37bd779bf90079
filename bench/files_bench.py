"""Files benchmark: the task's object downloaded to disk, and a task's output uploaded, through
the proxy that caps every connection at a fixed rate (as S3 does per connection).

Figures, all in the same run, for a 256 MiB object (generated at run time):
- download to disk (``obj.download()``) vs the SDK's streaming read (target >= 0.9x) and vs
  s3transfer's ``download_file`` (target >= 1.0x);
- a 256 MiB output, streamed (``obj.outputs.open``) and from a file (``add_file``), vs
  s3transfer's ``upload_file`` of the same bytes (target >= 1.0x), and the streaming task's
  peak RSS (target < 150 MB).
``BENCH_CONN_MIB_S`` sets the per-connection rate (default 16 MiB/s).
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from boto3.s3.transfer import TransferConfig

from bench.moto_process import moto_server
from bench.ranged_bench import CONN_MIB_S, throttled
from bench.task_bench import Generated, peak_rss_mb

SIZE = 256 * 2**20
PROGRAMS = Path(__file__).parent / "programs"
BUCKET = "bench"
KEY = "incoming/quarter-gib.bin"
TINY = "incoming/tiny.txt"


def _program(name: str) -> list[str]:
    return [sys.executable, str(PROGRAMS / name)]


def _measure(label: str, cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run one program; return the transfer's own seconds (the program prints them: process
    start-up is not the transfer's) and the program's peak RSS."""
    proc = subprocess.Popen(
        cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, peak_rss_mb(proc.pid) or 0.0)
        time.sleep(0.02)
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    found = re.findall(r"transfer_s=([0-9.]+)", stderr)
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"{cmd} exited {proc.returncode}: {stderr[-2000:]}")
    seconds = float(found[-1])
    mib_s = SIZE / 2**20 / seconds
    print(f"  {label:<44} {seconds:6.2f} s {mib_s:7.1f} MiB/s  peak RSS {peak:5.0f} MB", flush=True)
    return seconds, peak


def _verdict(ok: bool) -> str:
    return "met" if ok else "missed"


def main() -> None:
    """Upload the object, then time each download and upload through the proxy."""
    with moto_server() as endpoint, tempfile.TemporaryDirectory() as scratch:
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket=BUCKET)
        print(f"uploading a generated {SIZE // 2**20} MiB object …", flush=True)
        s3.upload_fileobj(
            io.BufferedReader(Generated(SIZE), buffer_size=8 * 2**20),
            BUCKET,
            KEY,
            Config=TransferConfig(multipart_chunksize=8 * 2**20, max_concurrency=4),
        )
        s3.put_object(Bucket=BUCKET, Key=TINY, Body=b"tiny\n")
        local = Path(scratch) / "output.bin"
        with local.open("wb") as file, io.BufferedReader(Generated(SIZE)) as source:
            while block := source.read(8 * 2**20):
                file.write(block)

        with throttled(endpoint, CONN_MIB_S * 2**20) as proxy:
            print(f"through a proxy capping each connection at {CONN_MIB_S:g} MiB/s:")
            env = {"S3_BUCKET": BUCKET, "S3_KEY": KEY, "AWS_ENDPOINT_URL": proxy}
            stream_s, _ = _measure(
                "stream the object (SDK, chunks())", _program("stream_read_task.py"), env
            )
            download_s, download_rss = _measure(
                "download to disk (SDK, download())", _program("download_task.py"), env
            )
            transfer_s, _ = _measure(
                "s3transfer download_file", _program("s3transfer_download.py"), env
            )
            out = {**env, "S3_KEY": TINY, "OUTPUT_BYTES": str(SIZE), "OUTPUT_FILE": str(local)}
            streamed_s, streamed_rss = _measure(
                "output, streamed (SDK, outputs.open)", _program("stream_output_task.py"), out
            )
            added_s, _ = _measure(
                "output, from a file (SDK, add_file)", _program("file_output_task.py"), out
            )
            upload_s, _ = _measure("s3transfer upload_file", _program("s3transfer_upload.py"), out)

    vs_stream, vs_transfer = stream_s / download_s, transfer_s / download_s
    print(
        f"download vs streaming read: {vs_stream:.2f}x "
        f"(target >= 0.9x: {_verdict(vs_stream >= 0.9)})"
    )
    print(
        f"download vs s3transfer download_file: {vs_transfer:.2f}x "
        f"(target >= 1.0x: {_verdict(vs_transfer >= 1.0)})"
    )
    print(f"download peak RSS: {download_rss:.0f} MB")
    streamed, added = upload_s / streamed_s, upload_s / added_s
    print(
        f"streamed output vs s3transfer upload_file: {streamed:.2f}x "
        f"(target >= 1.0x: {_verdict(streamed >= 1.0)})"
    )
    print(
        f"file output vs s3transfer upload_file: {added:.2f}x "
        f"(target >= 1.0x: {_verdict(added >= 1.0)})"
    )
    print(
        f"streamed output peak RSS: {streamed_rss:.0f} MB "
        f"(target < 150 MB: {_verdict(streamed_rss < 150)})"
    )


if __name__ == "__main__":
    main()
