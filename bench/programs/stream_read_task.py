"""An SDK task that only iterates its object's chunks (the streaming read); prints the read's
own seconds to stderr as ``transfer_s=…``."""

import sys
import time

from s3fargate.task import S3Object, main


def read(obj: S3Object) -> dict[str, object]:
    start = time.perf_counter()
    total = sum(len(chunk) for chunk in obj.chunks())
    print(f"transfer_s={time.perf_counter() - start}", file=sys.stderr)
    return {"bytes": total}


if __name__ == "__main__":
    main(read)
