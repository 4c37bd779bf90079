"""An SDK task that only downloads its object to disk (``obj.download()``); prints the
download's own seconds to stderr as ``transfer_s=…``."""

import sys
import time

from s3fargate.task import S3Object, main


def download(obj: S3Object) -> dict[str, object]:
    start = time.perf_counter()
    path = obj.download()
    print(f"transfer_s={time.perf_counter() - start}", file=sys.stderr)
    return {"path": str(path)}


if __name__ == "__main__":
    main(download)
