"""An example task that makes a file: a gzip-compressed copy of the uploaded object.

The copy is written as the object is read, in bounded memory, to the output
``<name>.gz`` (``results/<key without incoming/>/<name>.gz``), which appears only if the task
succeeds. Run it locally with ``s3fargate dev --task-cmd "python -m s3fargate.examples.compress"``.
"""

from __future__ import annotations

import gzip
from typing import TYPE_CHECKING

from s3fargate.task import main
from s3fargate.task.download import key_name

if TYPE_CHECKING:
    from s3fargate.task import S3Object

#: gzip's level: 6 is gzip's own default, a balance of speed and size.
LEVEL = 6


def compress(obj: S3Object) -> dict[str, object]:
    """Write ``<name>.gz`` and report the sizes."""
    name = f"{key_name(obj.key)}.gz"
    with obj.outputs.open(name, content_type="application/gzip") as out:
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=LEVEL) as zipped:
            for chunk in obj.chunks():
                zipped.write(chunk)
        compressed = out.size
    return {
        "compressed": name,
        "compressed_size": compressed,
        "ratio": round(compressed / obj.size, 4) if obj.size else None,
    }


if __name__ == "__main__":
    main(compress)
