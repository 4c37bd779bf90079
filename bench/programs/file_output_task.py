"""An SDK task that uploads the local file OUTPUT_FILE as its output (``add_file``). Prints
the seconds from the call to the end of its process (the commit included) to stderr as
``transfer_s=…``."""

import atexit
import os
import sys
import time

from s3fargate.task import S3Object, main

START: list[float] = []
atexit.register(lambda: print(f"transfer_s={time.perf_counter() - START[0]}", file=sys.stderr))


def add(obj: S3Object) -> dict[str, object]:
    START.append(time.perf_counter())
    obj.outputs.add_file("out.bin", os.environ["OUTPUT_FILE"])
    return {}


if __name__ == "__main__":
    main(add)
