"""A task program whose processing fails: the SDK must exit 1 and log the message."""

from s3fargate.task import S3Object, main


def explode(obj: S3Object) -> dict[str, object]:
    next(obj.chunks())
    raise ValueError("cannot parse row 3: expected 4 columns")


if __name__ == "__main__":
    main(explode)
