"""An SDK task whose processing only iterates the chunks: the SDK's own streaming cost."""

from s3fargate.task import S3Object, main


def passthrough(obj: S3Object) -> dict[str, object]:
    return {"bytes": sum(len(chunk) for chunk in obj.chunks())}


if __name__ == "__main__":
    main(passthrough)
