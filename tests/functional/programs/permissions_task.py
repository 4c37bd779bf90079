"""A task whose behaviour its key chooses, so one run exercises every permission a task and
the tracker use: an output and a result (``ok``), a failure (``fail``: exit 7), a retried
attempt (``retry``: exit 75 on the first attempt), outputs aborted (``abort``)."""

import os
import sys

from s3fargate.task import S3Object, main

RETRY_CODE = 75


def process(obj: S3Object) -> dict[str, object]:
    name = obj.key.rsplit("/", 1)[-1]
    data = b"".join(obj.chunks())
    if name.startswith("fail"):
        sys.exit(7)
    if name.startswith("retry") and os.environ.get("S3FARGATE_ATTEMPT") == "1":
        sys.exit(RETRY_CODE)
    with obj.outputs.open("copy.bin") as out:
        out.write(data)
    if name.startswith("abort"):
        raise RuntimeError("failing after writing an output: it is aborted")
    return {"bytes": len(data)}


if __name__ == "__main__":
    main(process)
