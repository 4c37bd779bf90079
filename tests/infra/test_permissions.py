"""IAM decides every call: each component of the local pipeline calls with its own identity, and
every call is authorised against the role policies the construct synthesizes for it.

``pytest -m permissions`` runs these. Together they prove, both ways, that the construct's
grants are exactly what the components use: the local pipeline enforces the synthesized
policies (the snapshot test), a pipeline run exercising every component's calls succeeds
under them (every call granted), and for each grant — each action of each statement, on each
of its resources — one recorded call is refused once that grant is removed (every grant
needed). Removing any single grant from the construct therefore fails one of these tests.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from s3fargate.iam import Decision, Request, evaluate
from s3fargate.iam.authority import SECURE
from s3fargate.iam.snapshot import symbolic_policies as checked_in_policies
from s3fargate.lambda_runtime.settings import Function
from s3fargate.ledger import JobStatus, Launched, ObjectRef, TaskLost, Waiting
from s3fargate.ledger.store import now_ms
from s3fargate.local.config import LocalConfig
from s3fargate.local.pipeline import LocalPipeline
from s3fargate.props import PipelineProps
from s3fargate.tracker.factory import build_tracker
from tests.devserver import wait_for
from tests.infra.policy_snapshot import symbolic_policies

if TYPE_CHECKING:
    from collections.abc import Iterator

    from s3fargate.iam import Policy
    from tests.infra.conftest import Synth

pytestmark = [pytest.mark.permissions, pytest.mark.slow]

TASK = (
    sys.executable,
    str(Path(__file__).parents[1] / "functional" / "programs" / "permissions_task.py"),
)
#: Grants the components' own code never exercises, and why each is still granted.
NOT_OURS = {
    # Lambda's SQS event source polls with the function's role (CDK's SqsEventSource grants
    # them); the local dispatcher, in its place, receives and deletes only.
    ("runner", "sqs:ChangeMessageVisibility"): "Lambda's event-source poller",
    ("runner", "sqs:GetQueueUrl"): "Lambda's event-source poller",
    ("runner", "sqs:GetQueueAttributes"): "Lambda's event-source poller",
    ("tracker", "sqs:ChangeMessageVisibility"): "Lambda's event-source poller",
    ("tracker", "sqs:GetQueueUrl"): "Lambda's event-source poller",
    ("tracker", "sqs:GetQueueAttributes"): "Lambda's event-source poller",
    # Read when the bucket is not versioned (versioned=False, a bucket of your own): every
    # object's read then names no version. The pipeline's bucket is versioned.
    ("task", "s3:GetObject"): "reads of an unversioned bucket",
    # A task whose outputs' commit fails half-way deletes the ones it had completed.
    ("task", "s3:DeleteObject"): "the rollback of a commit that failed half-way",
}


# --- the local pipeline enforces exactly what the construct grants ------------------------------
def test_the_local_pipeline_enforces_the_policies_the_construct_synthesizes(synth: Synth) -> None:
    synthesized = symbolic_policies(synth.stacks["default"], synth.construct("default"))
    assert synthesized == checked_in_policies(), (
        "src/s3fargate/iam/pipeline_policies.json is not what the construct grants: run "
        "`make policies` and commit the file"
    )


# --- a run that exercises every component's calls --------------------------------------------
@dataclass
class Run:
    pipeline: LocalPipeline
    record: Path


def _job(pipeline: LocalPipeline, key: str) -> Any:
    return next((j for j in pipeline.store.jobs() if j.key == key), None)


def _final(pipeline: LocalPipeline, keys: list[str]) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        jobs = {key: _job(pipeline, key) for key in keys}
        final = all(j is not None and j.status.final for j in jobs.values())
        return jobs if final else None

    found: dict[str, Any] = wait_for(done, 120, f"every job of {keys} to end")
    return found


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """One run of the pipeline, under a cap of one, whose tasks succeed with outputs, fail,
    are retried and abort their outputs, with a key the runner dead-letters; then a
    reconciler pass over stale, lost and parked jobs. Every authorisation is recorded."""
    folder = tmp_path_factory.mktemp("permissions")
    record = folder / "iam.jsonl"
    config = LocalConfig(
        run_dir=folder / "run",
        task_cmd=TASK,
        visibility_timeout=1,
        props=PipelineProps(
            max_running_tasks=1,
            max_receive_count=1,
            retry_exit_codes=(75,),
            max_attempts=2,
            retry_delay_s=0,
        ),
        iam_record=record,
    )
    with LocalPipeline(config) as pipeline:
        yield _exercise(pipeline, record)


def _exercise(pipeline: LocalPipeline, record: Path) -> Run:
    assert pipeline.authority is not None, "the local pipeline checks IAM by default"
    s3, bucket = pipeline.s3, pipeline.config.bucket
    # First, a key whose result key S3 would refuse: the runner fails it on its only receive,
    # and dead-letters it (and says so on the topic).
    too_long = "incoming/" + "k" * 1012
    s3.put_object(Bucket=bucket, Key=too_long, Body=b"x")
    wait_for(
        lambda: (_job(pipeline, too_long) or _Nothing).status is JobStatus.DEAD_LETTERED,
        120,
        "the refused key to be dead-lettered",
    )
    keys = ["incoming/ok-1.txt", "incoming/ok-2.txt", "incoming/fail.txt", "incoming/retry.txt"]
    keys.append("incoming/abort.txt")
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    jobs = _final(pipeline, keys)
    assert {k: j.status for k, j in jobs.items()} == {
        "incoming/ok-1.txt": JobStatus.SUCCEEDED,
        "incoming/ok-2.txt": JobStatus.SUCCEEDED,
        "incoming/fail.txt": JobStatus.FAILED,
        "incoming/retry.txt": JobStatus.SUCCEEDED,
        "incoming/abort.txt": JobStatus.FAILED,
    }
    _reconcile(pipeline, jobs["incoming/ok-1.txt"], jobs["incoming/fail.txt"])
    return Run(pipeline, record)


class _Nothing:
    status = None


def _reconcile(pipeline: LocalPipeline, succeeded: Any, failed: Any) -> None:
    """Reconciler passes, with its own identity, an hour on: jobs whose stop it must read
    from ECS (one of a failed task: it reads the task's log for the reason), one ECS lost at
    its last attempt, a parked job for the free slot; then an overdue retry."""
    # Jobs of objects already there: an upload would bring a job of its own.
    store, s3, bucket = pipeline.store, pipeline.s3, pipeline.config.bucket

    def ref(key: str) -> ObjectRef:
        head = s3.head_object(Bucket=bucket, Key=key)
        return ObjectRef(bucket=bucket, key=key, etag=head["ETag"], version_id=head["VersionId"])

    later = now_ms() + 3_600_000
    reconciler = build_tracker(
        pipeline.settings.environment(Function.RECONCILER),
        pipeline.clients("reconciler"),
        clock=lambda: later,
    ).reconciler
    # The succeeded job's task, as if its STOPPED event never came: the reconciler reads it.
    store.apply("stale-1", Launched(ref(succeeded.key), 1, succeeded.attempt_task_arn))
    store.apply("stale-2", Launched(ref(failed.key), 1, failed.attempt_task_arn))
    # A task ECS does not know, at the job's last attempt: lost, and the job fails.
    gone = f"{succeeded.attempt_task_arn}-gone"
    store.apply("lost-1", Launched(ref("incoming/ok-2.txt"), 1, f"{gone}-1"))
    store.apply("lost-1", Launched(ref("incoming/ok-2.txt"), 2, gone))
    store.apply("parked-1", Waiting(ref("incoming/ok-1.txt"), 1, "cap", parked=True), new=True)
    report = reconciler.run()
    assert (report.stopped, report.lost) == (2, 1), report
    # The parked job is launched into the free slot by this pass, or by the pipeline's own
    # reconciler, whose pass may come first: the same role either way.
    _settled(pipeline, "parked-1")
    # A retry whose request never reached the queue: the reconciler queues it again.
    store.apply("overdue-1", Launched(ref("incoming/ok-2.txt"), 1, f"{gone}-2"))
    store.apply("overdue-1", TaskLost(task_arn=f"{gone}-2", reason="lost in a test"))
    report = reconciler.run()
    assert report.requeued <= 1, report  # (or by the pipeline's own reconciler)
    _settled(pipeline, "overdue-1")


def _settled(pipeline: LocalPipeline, job_id: str) -> None:
    def done() -> bool:
        row = pipeline.store.get(job_id)
        return row is not None and row.status is JobStatus.SUCCEEDED

    wait_for(done, 120, f"job {job_id} to succeed")


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_every_call_of_every_component_is_granted(recorded: Run) -> None:
    refused = [r for r in _records(recorded.record) if r["decision"] != "ALLOWED"]
    # The one refusal expected: S3 asks whether the tracker may list the bucket before it
    # answers a missing result document 403 rather than 404 (it may not).
    assert {(r["identity"], r["action"]) for r in refused} <= {
        ("tracker", "s3:ListBucket"),
        ("reconciler", "s3:ListBucket"),
    }, refused
    components = {r["identity"] for r in _records(recorded.record)}
    assert components == {"runner", "tracker", "reconciler", "task"}


def _grants(policies: list[Policy]) -> Iterator[tuple[str, str, list[Policy]]]:
    """Each grant (an action on a resource of a statement), with the policies without it."""
    for p, policy in enumerate(policies):
        statements = policy["Statement"]
        for s, statement in enumerate(statements):
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            resources = (
                statement["Resource"]
                if isinstance(statement["Resource"], list)
                else [statement["Resource"]]
            )
            for action in actions:
                for resource in resources:
                    narrowed = [
                        {**statement, "Action": [a for a in actions if a != action]},
                        *(
                            [
                                {
                                    **statement,
                                    "Action": [action],
                                    "Resource": [r for r in resources if r != resource],
                                }
                            ]
                            if len(resources) > 1
                            else []
                        ),
                    ]
                    kept = [x for x in narrowed if x["Action"] and x.get("Resource")]
                    changed = [*statements[:s], *kept, *statements[s + 1 :]]
                    variant = [*policies[:p], {**policy, "Statement": changed}, *policies[p + 1 :]]
                    yield action, resource, variant


def test_every_grant_of_every_component_is_needed(recorded: Run) -> None:
    authority = recorded.pipeline.authority
    assert authority is not None
    records = [r for r in _records(recorded.record) if r["decision"] == "ALLOWED"]
    unneeded = []
    for identity in authority.identities.values():
        calls = [r for r in records if r["identity"] == identity.name]
        for action, resource, variant in _grants(list(identity.policies)):
            if (identity.name, action) in NOT_OURS:
                continue
            needed = any(
                evaluate(
                    Request(
                        identity.role_arn, r["action"], r["resource"], {**SECURE, **r["context"]}
                    ),
                    resource_policy=None,
                    identity_policies=variant,
                    account=authority.world.account,
                )
                is not Decision.ALLOWED
                for r in calls
            )
            if not needed:
                unneeded.append((identity.name, action, resource))
    assert unneeded == [], f"granted but never used (remove it, or exercise it here): {unneeded}"
