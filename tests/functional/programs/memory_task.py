"""A task program that needs as many MiB of memory as its object says, held for a second."""

import time

from s3fargate.task import S3Object, main


def hold(obj: S3Object) -> dict[str, object]:
    need_mib = int(b"".join(obj.chunks()).decode().strip())
    block = b"x" * (need_mib * 1024 * 1024)  # written, so it is resident
    time.sleep(1.5)
    return {"held_mib": len(block) // (1024 * 1024)}


if __name__ == "__main__":
    main(hold)
