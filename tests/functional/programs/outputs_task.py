"""A task that downloads its object and writes outputs, then ends as OUTPUTS_MODE says:
``ok`` (succeeds), ``fail`` (raises after writing), ``hang`` (touches READY_FILE with parts of
every output on the wire, then waits to be killed)."""

import os
import sys
import time
from pathlib import Path

from s3fargate.task import S3Object, run

BIG = 6 * 1024 * 1024 + 123  # more than one part: a real multipart upload


def process(obj: S3Object) -> dict[str, object]:
    path = obj.download()
    data = path.read_bytes()
    with obj.outputs.open("copy/örig inal.bin") as out:
        out.write(data)
    with obj.outputs.open("big.bin") as out:
        for _ in range(BIG // 1024):
            out.write(b"x" * 1024)
        out.write(b"x" * (BIG % 1024))
    side = obj.work_dir / "side car.txt"
    side.write_text(f"{len(data)} bytes\n")
    obj.outputs.add_file("side car.txt", side)
    mode = os.environ.get("OUTPUTS_MODE", "ok")
    if mode == "fail":
        raise RuntimeError("failed after writing outputs")
    if mode == "hang":
        Path(os.environ["READY_FILE"]).touch()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(0.05)  # waiting to be killed by the test
    return {"downloaded": str(path.name)}


sys.exit(run(process))
