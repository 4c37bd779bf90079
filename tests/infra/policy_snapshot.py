"""The components' role policies of a synthesized stack, each resource a named placeholder
(:mod:`s3fargate.iam.snapshot`): what ``make policies`` writes for the local pipeline, and what
a test holds the written file to.

``python -m tests.infra.policy_snapshot`` synthesizes the default stack and writes
``src/s3fargate/iam/pipeline_policies.json``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

from s3fargate.iam.snapshot import POLICIES_FILE
from tests.infra.iam_eval import ResolvedTemplate

if TYPE_CHECKING:
    from collections.abc import Mapping

    from aws_cdk import Stack

    from s3fargate.infra import S3TriggeredFargateTask


class _Symbolic(ResolvedTemplate):
    """The template resolved with a placeholder as the name of each resource it names."""

    def __init__(self, template: Mapping[str, Any], names: Mapping[str, str]) -> None:
        super().__init__(template, account="{account}", region="{region}")
        self._symbols = names

    def _names(self, logical_id: str) -> dict[str, str]:
        return {**super()._names(logical_id), "name": self._symbols.get(logical_id, logical_id)}


def symbolic_policies(stack: Stack, pipeline: S3TriggeredFargateTask) -> dict[str, Any]:
    """Each component's identity policies in ``stack``'s template, with placeholders."""
    from aws_cdk.assertions import Template

    def logical_id(construct: Any) -> str:
        return str(stack.resolve(construct.node.default_child.logical_id))

    tracking = pipeline.tracking
    topic_key = tracking.node.find_child("TopicKey")
    names = {
        logical_id(pipeline.bucket): "{bucket}",
        logical_id(pipeline.queue): "{queue}",
        logical_id(tracking.events_queue): "{events_queue}",
        logical_id(pipeline.table): "{table}",
        logical_id(pipeline.topic): "{topic}",
        logical_id(topic_key): "{topic_key}",
        logical_id(pipeline.cluster): "{cluster}",
        logical_id(pipeline.log_group): "{task_log_group}",
        logical_id(pipeline.task_definition.task_role): "{task_role}",
    }
    if pipeline.task_definition.execution_role is not None:
        names[logical_id(pipeline.task_definition.execution_role)] = "{execution_role}"
    resolved = _Symbolic(Template.from_stack(stack).to_json(), names)
    roles = {
        "runner": resolved.role_of_function(logical_id(pipeline.runner)),
        "tracker": resolved.role_of_function(logical_id(tracking.tracker)),
        "reconciler": resolved.role_of_function(logical_id(tracking.reconciler)),
        "task": logical_id(pipeline.task_definition.task_role),
    }
    policies = {name: resolved.identity_policies(role) for name, role in roles.items()}
    # The task definition's family is written into the ARNs as text, not a reference.
    text = json.dumps(policies).replace(pipeline.task_definition.family, "{family}")
    found: dict[str, Any] = json.loads(text)
    return found


def main() -> int:
    """Synthesize the default stack and write its components' policies."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from aws_cdk import App

    from s3fargate.infra import S3FargateStack

    stack = S3FargateStack(App(), "S3Fargate")
    policies = symbolic_policies(stack, stack.pipeline)
    POLICIES_FILE.write_text(json.dumps(policies, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {POLICIES_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
