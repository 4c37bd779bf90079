"""s3fargate: run one ECS Fargate task for every file uploaded to an S3 bucket.

The package is split by component; each imports only :mod:`s3fargate.contracts` and
:mod:`s3fargate.events` from the others, so the runner Lambda ships without CDK or moto.
"""

__version__ = "0.1.0"
