"""CDK app: deploys the example stack. ``make synth`` writes cdk.out/ with no AWS access."""

import os

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from s3fargate.infra import S3FargateStack

app = App()
S3FargateStack(
    app,
    os.environ.get("S3FARGATE_STACK_NAME", "S3Fargate"),
    # Account and region come from the CLI's credentials at deploy; unset, the stack is
    # environment-agnostic, which is all synthesis needs.
    env=Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
    ),
    description="s3fargate: one ECS Fargate task per file uploaded to S3",
)
Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
