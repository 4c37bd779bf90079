"""The simulator: each AWS limit on small cases, repeatable runs, and our real code inside it."""

from __future__ import annotations

import dataclasses
import math
import random
from datetime import datetime
from typing import Any

import pytest
import simpy

from s3fargate.events.ecs import parse_task_state_change
from s3fargate.props import PipelineProps
from s3fargate.sim import Design, Durations, Scenario, ScenarioError, simulate
from s3fargate.sim import designs as designs_module
from s3fargate.sim.bridge import SimClient, client_error, run
from s3fargate.sim.ecs import QUOTA_REASON, Ecs
from s3fargate.sim.scenario import Backlog, ObjectSizes
from s3fargate.sim.sqs import Queue
from s3fargate.sim.tokens import TokenBucket
from s3fargate.sizing import TaskSize
from s3fargate.taskrunner.ledger_recorder import LedgerRecorder
from s3fargate.taskrunner.runner import TaskRunner
from s3fargate.tracker.tracker import Tracker
from s3fargate.tracker.waiting_room import WaitingRoom


def _ecs(scenario: Scenario | None = None) -> tuple[simpy.Environment, Ecs, list[dict[str, Any]]]:
    env = simpy.Environment()
    events: list[dict[str, Any]] = []
    ecs = Ecs(
        env=env,
        scenario=scenario or Scenario(vcpu_quota=4000, spot_vcpu_quota=4000),
        rng=random.Random(7),
        emit=events.append,
        fates={},
    )
    return env, ecs, events


def _request(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "cluster": "c",
        "taskDefinition": "t",
        "startedBy": "p",
        "clientToken": f"token-{n}",
        "overrides": {
            "containerOverrides": [
                {"name": "task", "environment": [{"name": "S3_KEY", "value": f"k{n}"}]}
            ]
        },
        **extra,
    }


def _calls_at(env: simpy.Environment, ecs: Ecs, times: list[float]) -> list[str]:
    """RunTask at each time; what each answered."""
    outcomes: list[str] = []

    def caller(at: float, n: int) -> Any:
        yield env.timeout(at)
        try:
            answer = ecs.run_task(**_request(n))
        except Exception as exc:  # the outcome is what is recorded
            outcomes.append(type(exc).__name__ + ":" + str(exc).split(":")[0][:40])
            return
        outcomes.append("failures" if answer["failures"] else "task")

    for n, at in enumerate(times):
        env.process(caller(at, n))
    env.run(until=max(times) + 0.001)
    return outcomes


# --- AWS's limits, one by one -------------------------------------------------------------------
def test_token_bucket_bursts_then_refills_at_its_rate() -> None:
    bucket = TokenBucket(capacity=100, rate=20)
    assert sum(bucket.take(0.0) for _ in range(150)) == 100
    assert sum(bucket.take(1.0) for _ in range(50)) == 20
    assert sum(bucket.take(100.0) for _ in range(500)) == 100


def test_runtask_api_answers_20_calls_a_second_and_throttles_the_rest() -> None:
    env, ecs, _ = _ecs()
    outcomes = _calls_at(env, ecs, [0.0] * 30 + [1.0] * 30)
    assert outcomes.count("task") == 40
    assert ecs.totals.throttled == 20
    assert all(o.startswith("ClientError") for o in outcomes if o != "task")


def test_fargate_launches_burst_100_then_20_a_second_per_capacity() -> None:
    env, ecs, _ = _ecs()
    ecs._api = TokenBucket(10_000, 10_000)  # isolate the launch bucket from RunTask's own rate
    assert _calls_at(env, ecs, [0.0] * 150).count("task") == 100
    _, ecs2, _ = _ecs()
    ecs2._api = TokenBucket(10_000, 10_000)
    # Spot has its own bucket: 100 On-Demand and 100 Spot launch at once.
    on_demand = [ecs2.run_task(**_request(n)) for n in range(100)]
    spot = [
        ecs2.run_task(
            **_request(1000 + n, capacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT"}])
        )
        for n in range(100)
    ]
    assert all(a["tasks"] for a in on_demand + spot)
    with pytest.raises(Exception, match="Rate exceeded"):
        ecs2.run_task(**_request(5000))


def test_beyond_the_vcpu_quota_runtask_answers_failures_until_a_task_stops() -> None:
    env, ecs, _ = _ecs(Scenario(vcpu_quota=1, cpu=0.25, task_seconds=Durations(60, 60)))
    answers = [ecs.run_task(**_request(n)) for n in range(6)]
    assert [bool(a["tasks"]) for a in answers] == [True] * 4 + [False] * 2
    assert answers[4]["failures"] == [{"reason": QUOTA_REASON}]
    env.run(until=200)  # start (<= 60 s) + 60 s: all four have stopped
    assert ecs.run_task(**_request(99))["tasks"]


def test_the_same_client_token_returns_the_same_task() -> None:
    _, ecs, _ = _ecs()
    first = ecs.run_task(**_request(1))
    again = ecs.run_task(**_request(1))
    assert first["tasks"][0]["taskArn"] == again["tasks"][0]["taskArn"]
    assert ecs.totals.launched == 1


def test_a_task_starts_in_30_to_60_s_runs_its_time_and_reports_each_change() -> None:
    env, ecs, events = _ecs(Scenario(vcpu_quota=4000, task_seconds=Durations(100, 100)))
    for n in range(20):
        ecs.run_task(**_request(n))
    env.run(until=1000)
    by_task: dict[str, list[Any]] = {}
    for event in events:
        change = parse_task_state_change(event)
        by_task.setdefault(change.task_arn, []).append(change)
    assert len(by_task) == 20
    for changes in by_task.values():
        assert [c.last_status for c in changes] == ["PENDING", "RUNNING", "STOPPED"]
        assert [c.version for c in changes] == [1, 2, 3]
        stopped = changes[-1]
        assert stopped.exit_code == 0
        assert stopped.stop_code == "EssentialContainerExited"
    starts = [
        (_t(e["detail"]["startedAt"]) - _t(e["detail"]["createdAt"]))
        for e in events
        if e["detail"]["lastStatus"] == "STOPPED"
    ]
    runs = [
        (_t(e["detail"]["stoppedAt"]) - _t(e["detail"]["startedAt"]))
        for e in events
        if e["detail"]["lastStatus"] == "STOPPED"
    ]
    assert all(30 <= s <= 60 for s in starts)
    assert max(starts) - min(starts) > 5  # drawn, not fixed
    assert all(math.isclose(r, 100, abs_tol=0.01) for r in runs)


def _t(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_spot_interruptions_and_start_failures_stop_tasks_as_ecs_reports_them() -> None:
    env, ecs, events = _ecs(
        Scenario(vcpu_quota=4000, spot=True, spot_vcpu_quota=4000, spot_interruption_rate=0.99)
    )
    for n in range(10):
        ecs.run_task(**_request(n, capacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT"}]))
    env.run(until=500)
    stops = [parse_task_state_change(e) for e in events if e["detail"]["lastStatus"] == "STOPPED"]
    assert sum(s.stop_code == "SpotInterruption" for s in stops) >= 8
    env, ecs, events = _ecs(Scenario(vcpu_quota=4000, start_failure_rate=0.99))
    for n in range(10):
        ecs.run_task(**_request(n))
    env.run(until=500)
    stops = [parse_task_state_change(e) for e in events if e["detail"]["lastStatus"] == "STOPPED"]
    failed = [s for s in stops if s.stop_code == "TaskFailedToStart"]
    assert len(failed) >= 8
    assert all(s.exit_code is None for s in failed)


def test_describe_tasks_forgets_a_stopped_task_after_an_hour() -> None:
    env, ecs, _ = _ecs()
    arn = ecs.run_task(**_request(1))["tasks"][0]["taskArn"]
    env.run(until=300)
    assert ecs.describe_tasks(tasks=[arn])["tasks"][0]["lastStatus"] == "STOPPED"
    env.run(until=300 + 3700)
    assert ecs.describe_tasks(tasks=[arn]) == {
        "tasks": [],
        "failures": [{"arn": arn, "reason": "MISSING"}],
    }


def test_list_tasks_pages_this_pipelines_active_tasks() -> None:
    _, ecs, _ = _ecs()
    ecs._api = TokenBucket(10_000, 10_000)
    ecs._launches["FARGATE"] = TokenBucket(10_000, 10_000)
    for n in range(150):
        ecs.run_task(**_request(n))
    first = ecs.list_tasks(startedBy="p", desiredStatus="RUNNING")
    assert len(first["taskArns"]) == 100
    second = ecs.list_tasks(startedBy="p", desiredStatus="RUNNING", nextToken=first["nextToken"])
    assert len(second["taskArns"]) == 50
    assert "nextToken" not in second
    assert ecs.list_tasks(startedBy="someone-else")["taskArns"] == []


def test_sqs_visibility_receive_counts_and_redrive() -> None:
    env = simpy.Environment()
    dlq = Queue(env, "dlq", 30)
    queue = Queue(env, "q", 30, dead_letter=dlq, max_receive_count=2)
    queue.send("late", delay_s=10)
    queue.send("now")
    assert [m.body for m in queue.receive(10)] == ["now"]
    assert queue.receive(10) == []  # in flight, and "late" is still delayed
    env.run(until=11)
    assert [m.body for m in queue.receive(10)] == ["late"]
    env.run(until=31)
    again = queue.receive(10)
    assert [(m.body, m.receive_count) for m in again] == [("now", 2)]
    env.run(until=70)
    assert [m.body for m in queue.receive(10)] == ["late"]  # "now" moved on its third receive
    env.run(until=110)
    assert [m.body for m in queue.receive(10)] == []  # and "late" on its own third
    assert sorted((m.body, m.receive_count) for m in dlq.receive(10)) == [
        ("late", 3),
        ("now", 3),
    ]
    queue.send("done")
    (message,) = queue.receive(1)
    assert message.receipt is not None
    queue.delete(message.receipt)
    env.run(until=200)
    assert queue.receive(10) == []


def test_botocore_standard_retries_are_emulated_with_backoff() -> None:
    env = simpy.Environment()
    answers = iter([client_error("ThrottlingException", "slow", "RunTask")] * 2 + [{"ok": True}])
    seen: list[float] = []

    def perform(call: Any) -> Any:
        seen.append(env.now)
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    client = SimClient("ecs", rng=random.Random(1))
    process = env.process(
        run(env, perform, lambda _: 0.1, lambda: client.run_task(taskDefinition="td"))
    )
    env.run()
    assert process.value.result == {"ok": True}
    assert len(seen) == 3
    assert seen[1] - seen[0] > 0.1  # waited between attempts


# --- whole runs --------------------------------------------------------------------------------
SMALL = Scenario(
    uploads=120,
    vcpu_quota=2,
    duplicate_rate=0.02,
    seed=3,
    props=PipelineProps(max_running_tasks=8),
)


def _props(scenario: Scenario, **changes: Any) -> Scenario:
    """``scenario`` with some of its pipeline props changed."""
    return dataclasses.replace(scenario, props=dataclasses.replace(scenario.props, **changes))


def _key_figures(scenario: Scenario) -> dict[str, Any]:
    document = simulate(scenario).as_dict()
    document.pop("wall_s")
    return document


def test_a_seed_gives_the_same_run_and_another_seed_another() -> None:
    first = _key_figures(SMALL)
    assert first == _key_figures(SMALL)
    assert first != _key_figures(dataclasses.replace(SMALL, seed=4))


def test_under_the_cap_every_upload_succeeds_once_close_to_the_bound() -> None:
    result = simulate(SMALL)
    assert result.settled
    assert (result.succeeded, result.lost, result.dead_lettered, result.duplicate_tasks) == (
        120,
        0,
        0,
        0,
    )
    assert result.peak_running == 8
    assert result.bound_s == 15 * 105  # ceil(120 / 8) rounds of 45 s start + 60 s
    assert result.makespan_s >= result.bound_s * 0.9
    assert result.ratio < 1.2


def test_platform_failures_are_retried_until_every_upload_succeeds() -> None:
    scenario = dataclasses.replace(
        _props(SMALL, max_attempts=10),
        spot=True,
        spot_vcpu_quota=2,
        spot_interruption_rate=0.2,
        start_failure_rate=0.1,
    )
    result = simulate(scenario)
    assert result.succeeded == 120
    assert result.tasks > 120  # some needed another attempt
    assert (result.lost, result.dead_lettered, result.duplicate_tasks) == (0, 0, 0)


def test_the_original_design_loses_what_the_quota_refuses() -> None:
    scenario = dataclasses.replace(SMALL, design=Design.ORIGINAL, duplicate_rate=0.0)
    result = simulate(scenario)
    assert result.succeeded == 8  # 2 vCPU / 0.25: the first eight, then failures ignored
    assert result.lost == 112


def test_the_old_backlog_walks_healthy_uploads_into_the_dead_letter_queue() -> None:
    result = simulate(
        dataclasses.replace(_props(SMALL, max_receive_count=2), backlog=Backlog.QUEUE)
    )
    assert result.dead_lettered > 0
    assert result.succeeded + result.dead_lettered == 120


def test_it_is_our_runner_and_tracker_that_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN spies on the real handlers and the factories the Lambda handlers use
    calls = {"runner": 0, "tracker": 0, "build_runner": 0, "build_tracker": 0}
    real_runner, real_tracker = TaskRunner.handle, Tracker.handle

    def runner_handle(self: TaskRunner, *args: Any) -> Any:
        calls["runner"] += 1
        return real_runner(self, *args)

    def tracker_handle(self: Tracker, *args: Any) -> Any:
        calls["tracker"] += 1
        return real_tracker(self, *args)

    def counting(name: str, real: Any) -> Any:
        def build(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return real(*args, **kwargs)

        return build

    monkeypatch.setattr(TaskRunner, "handle", runner_handle)
    monkeypatch.setattr(Tracker, "handle", tracker_handle)
    monkeypatch.setattr(
        designs_module, "build_runner", counting("build_runner", designs_module.build_runner)
    )
    monkeypatch.setattr(
        designs_module, "build_tracker", counting("build_tracker", designs_module.build_tracker)
    )
    # WHEN a small burst runs
    simulate(dataclasses.replace(SMALL, uploads=30))
    # THEN the real handlers processed it, built as the Lambda handlers build them
    assert calls["runner"] > 0
    assert calls["tracker"] > 0
    assert calls["build_runner"] == SMALL.max_concurrency  # one per execution environment
    assert calls["build_tracker"] >= 2


def test_a_bug_in_our_code_shows_in_the_simulation(monkeypatch: pytest.MonkeyPatch) -> None:
    # A tracker that forgets to hand freed slots on: only the reconciler's top-ups launch.
    healthy = simulate(dataclasses.replace(SMALL, uploads=60))
    monkeypatch.setattr(Tracker, "_release_slot", lambda self, job_id: None)
    monkeypatch.setattr(WaitingRoom, "next_parked", lambda self: None)
    broken = simulate(dataclasses.replace(SMALL, uploads=60))
    assert broken.makespan_s > healthy.makespan_s * 1.5


def test_the_bound_is_the_larger_of_the_launch_floor_and_the_quota_rounds() -> None:
    capped = Scenario(uploads=10_000, vcpu_quota=6, props=PipelineProps(max_running_tasks=24))
    assert capped.bound_s() == 417 * 105
    assert Scenario(uploads=10_000, vcpu_quota=4000).bound_s() == 9900 / 20 + 105


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"uploads": 0}, "--uploads"),
        ({"cpu": 0.3}, "--cpu"),
        ({"vcpu_quota": 0.1}, "--vcpu-quota"),
        ({"max_concurrency": 1}, "--max-concurrency"),
        ({"spot_interruption_rate": 0.5}, "needs --spot"),
        ({"start_failure_rate": 1.0}, "--start-failure-rate"),
    ],
)
def test_impossible_scenarios_are_refused_with_the_option_named(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ScenarioError, match=message):
        dataclasses.replace(Scenario(), **changes).check()


@pytest.mark.parametrize("text", ["", "abc", "0", "-5", "90-30", "inf"])
def test_bad_task_seconds_are_refused(text: str) -> None:
    with pytest.raises(ScenarioError, match="--task-seconds"):
        Durations.parse(text)


def test_uploads_spread_over_time_cannot_finish_before_the_last_arrives() -> None:
    spread = Scenario(uploads=10, vcpu_quota=4000, upload_seconds=1000)
    assert spread.bound_s() == 900 + 105


def test_without_a_cap_the_quota_s_refusals_wait_in_the_waiting_room() -> None:
    result = simulate(_props(SMALL, max_running_tasks=None))
    assert result.quota_refusals > 0  # Fargate said no, many times
    assert (result.succeeded, result.dead_lettered, result.lost, result.duplicate_tasks) == (
        120,
        0,
        0,
        0,
    )
    assert result.peak_running == 8  # the quota: 2 vCPU / 0.25


@pytest.mark.parametrize(
    ("cap", "quota"),
    [
        pytest.param(6, 100.0, id="cap-below-a-large-quota"),
        pytest.param(3, 4000.0, id="small-cap-huge-quota"),
    ],
)
def test_the_cap_is_a_ceiling_with_eight_runners_and_the_releases_racing(
    cap: int, quota: float
) -> None:
    # GIVEN a burst, eight runner environments and two trackers launching at once, and a quota
    # far above the cap (so only the cap can hold the line)
    scenario = dataclasses.replace(
        _props(SMALL, max_running_tasks=cap), uploads=90, vcpu_quota=quota, max_concurrency=8
    )
    # WHEN it runs
    result = simulate(scenario)
    # THEN never more than the cap ran at once, every upload succeeded once, no promise broke
    assert result.peak_running == cap
    assert (result.succeeded, result.duplicate_tasks, result.lost) == (90, 0, 0)
    assert result.violations == []
    assert result.makespan_s >= scenario.floor_s()


def test_a_cap_counted_per_runner_is_caught_as_a_broken_promise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN runners that count ListTasks each on its own (no admission through the ledger)
    monkeypatch.setattr(LedgerRecorder, "admit", lambda self, obj: False)
    monkeypatch.setattr(
        WaitingRoom, "admits", property(lambda self: False)
    )  # the waiting room releases by ListTasks too
    scenario = dataclasses.replace(_props(SMALL, max_running_tasks=3), uploads=90, vcpu_quota=4000)
    # WHEN the burst runs
    result = simulate(scenario)
    # THEN the simulator reports the cap passed (and the makespan below the physical floor)
    assert result.peak_running > 3
    assert any("over the cap of 3" in v for v in result.violations)


# --- sizes, escalation, Spot's fallback, cost ------------------------------------------------
SIZES = (
    TaskSize(up_to_bytes=10**9, cpu=256, memory_limit_mib=1024),
    TaskSize(up_to_bytes=8 * 10**9, cpu=1024, memory_limit_mib=4096),
    TaskSize(up_to_bytes=25 * 10**9, cpu=2048, memory_limit_mib=12288),
    TaskSize(up_to_bytes=None, cpu=4096, memory_limit_mib=24576),
)
SIZED = Scenario(
    uploads=200,
    object_sizes=ObjectSizes(10**6, 50 * 10**9),
    memory_per_gb=400,
    seconds_per_gb=10,
    vcpu_quota=10_000,
    props=PipelineProps(task_sizes=SIZES),
)


def _single(scenario: Scenario) -> Scenario:
    largest = scenario.props.task_sizes[-1]
    return dataclasses.replace(
        _props(scenario, task_sizes=()),
        cpu=largest.cpu / 1024,
        memory_gb=largest.memory_limit_mib / 1024,
    )


def test_sized_tasks_cost_under_half_of_one_size_and_none_dies_of_memory() -> None:
    sized, single = simulate(SIZED), simulate(_single(SIZED))
    assert sized.succeeded == single.succeeded == SIZED.uploads
    assert sized.out_of_memory == single.out_of_memory == 0
    assert sized.cost.fargate < 0.5 * single.cost.fargate
    assert sized.makespan_s <= 1.1 * single.makespan_s
    # The same objects in both runs, and in every run of the seed.
    assert SIZED.object_size_list() == _single(SIZED).object_size_list()
    assert min(SIZED.object_size_list()) >= 10**6
    assert max(SIZED.object_size_list()) <= 50 * 10**9


def test_a_task_killed_for_memory_succeeds_one_size_up_unless_no_size_holds_it() -> None:
    tight = dataclasses.replace(_props(SIZED, max_attempts=4), memory_per_gb=600)
    result = simulate(tight)
    needs = [600 * size / 1e9 for size in tight.object_size_list()]
    # Every object whose need fits the largest size succeeds, after kills lower down.
    assert result.succeeded == sum(need <= SIZES[-1].memory_limit_mib for need in needs)
    assert result.out_of_memory > result.objects - result.succeeded
    assert result.failed == result.objects - result.succeeded


def test_spot_with_its_fallback_finishes_every_object_for_under_half_the_on_demand_cost() -> None:
    spot = Scenario(
        uploads=300,
        task_seconds=Durations(300, 900),
        spot=True,
        spot_interruption_rate=0.05,
        vcpu_quota=1000,
        spot_vcpu_quota=1000,
        props=PipelineProps(max_attempts=3),
    )
    on_spot, on_demand = (
        simulate(spot),
        simulate(dataclasses.replace(spot, spot=False, spot_interruption_rate=0)),
    )
    assert on_spot.interrupted > 0
    assert on_spot.succeeded == spot.uploads
    assert on_spot.cost.fargate < 0.5 * on_demand.cost.fargate


def test_object_sizes_and_task_sizes_are_read_in_the_construct_s_units() -> None:
    assert ObjectSizes.parse("1MB-50GB") == ObjectSizes(10**6, 50 * 10**9)
    for bad in ("50GB-1MB", "1MB", "x-1GB", "0-1GB"):
        with pytest.raises(ScenarioError, match="--object-sizes"):
            ObjectSizes.parse(bad)
    with pytest.raises(ScenarioError, match="--task-size"):
        _props(SIZED, task_sizes=SIZES[:1] + SIZES[:1]).check()


def test_with_sizes_the_bound_counts_each_task_at_its_own_size_and_time() -> None:
    # GIVEN the sized burst under a quota that binds, and the same burst at one size
    tight = dataclasses.replace(SIZED, vcpu_quota=64)
    sized, single = simulate(tight), simulate(_single(tight))
    # THEN each is measured against its own tasks: no ratio is below the physical floor's, the
    # sized bound is below the single size's (small tasks fit more at once), and both finished
    for result in (sized, single):
        assert result.makespan_s >= result.scenario.floor_s()
        assert result.ratio >= 0.9, result.ratio
        assert result.violations == []
    assert sized.bound_s < single.bound_s


def test_a_makespan_below_the_floor_is_a_broken_promise_with_sizes_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a floor that claims more than any run can do
    monkeypatch.setattr(Scenario, "floor_s", lambda self: 10**9)
    result = simulate(dataclasses.replace(SIZED, uploads=20))
    # THEN the run reports it, sizes or not
    assert any("below the physical floor" in v for v in result.violations)


def test_objects_over_s3_s_5_tib_are_refused() -> None:
    with pytest.raises(ScenarioError, match="at most 5 TiB"):
        ObjectSizes.parse("1MB-6TiB")
    assert ObjectSizes.parse("1MB-5TiB").high == 5 * 1024**4


def test_what_would_not_do_what_it_seems_is_said() -> None:
    quiet = Scenario(object_sizes=ObjectSizes(10**6, 10**9))
    assert any("--object-sizes changes nothing" in w for w in quiet.warnings())
    assert dataclasses.replace(quiet, memory_per_gb=100).warnings() == []
    stuck = Scenario(spot=True, props=PipelineProps(spot_fallback_after=3, max_attempts=3))
    assert any("attempts run out before it falls back" in w for w in stuck.warnings())
    assert Scenario(spot=True, props=PipelineProps(spot_fallback_after=1)).warnings() == []


def test_the_report_names_the_one_size_column() -> None:
    from s3fargate.sim.report import results_table

    sized, single = (
        simulate(dataclasses.replace(SIZED, uploads=20)),
        simulate(_single(dataclasses.replace(SIZED, uploads=20))),
    )
    headers = [column.header for column in results_table([sized, single]).columns]
    assert headers[1:] == ["s3fargate (task sizes)", "s3fargate (one size)"]
