"""A task program that reads the object as a text file (as_file) and counts CSV rows."""

import csv
import io

from s3fargate.task import S3Object, main


def count_rows(obj: S3Object) -> dict[str, object]:
    text = io.TextIOWrapper(obj.as_file(), encoding="utf-8", newline="")
    rows = list(csv.reader(text))
    return {"rows": len(rows), "columns": len(rows[0]) if rows else 0}


if __name__ == "__main__":
    main(count_rows)
