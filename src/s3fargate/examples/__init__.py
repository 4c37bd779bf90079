"""Example task programs built on :mod:`s3fargate.task`."""
