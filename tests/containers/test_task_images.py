"""Every Dockerfile we ship is built by a real engine and runs the pipeline's tasks through
``dev --task-image``, as Fargate would run it."""

from __future__ import annotations

import gzip
import hashlib
import os
import signal
import subprocess
from pathlib import Path

from s3fargate.local.containers import LABEL_OWNER
from s3fargate.local.samples import sample_files
from s3fargate.processes import owner_token
from s3fargate.scaffold import TaskKind, create_project
from tests.containers.conftest import ROOT, build
from tests.devserver import CLI, dev_pipeline, wait_for

SMALL_THEN_LARGE = (
    "--task-size",
    "up_to_bytes=1GiB,cpu=256,memory_limit_mib=512",
    "--task-size",
    "cpu=256,memory_limit_mib=2048",
)


def _demo(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """The demo's run, and the token its containers carry as their owner."""
    proc = subprocess.Popen(
        [CLI, "demo", "--run-dir", str(tmp_path / f"demo-{len(args)}"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    owner = owner_token(proc.pid)
    stdout, stderr = proc.communicate(timeout=600)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), owner


def _containers(docker: str, label: str) -> list[str]:
    listed = subprocess.run(
        [docker, "ps", "--all", "--quiet", "--filter", f"label={label}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return listed.stdout.split()


def test_the_demo_runs_through_the_task_image_with_the_process_run_s_results(
    tmp_path: Path, docker: str, task_image: str
) -> None:
    # WHEN the demo runs each task as a container of the image task/Dockerfile builds
    proc, owner = _demo(tmp_path, "--task-image", task_image)
    # THEN every job succeeds, with the digests the process run prints (the files' own)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "every job succeeded" in proc.stdout
    assert f"as a container of {task_image}" in " ".join(proc.stdout.split())
    for path, name in sample_files():
        assert f'"key": "incoming/{name}"' in proc.stdout
        assert hashlib.sha256(path.read_bytes()).hexdigest() in proc.stdout
    # AND no container of it is left
    assert _containers(docker, f"{LABEL_OWNER}={owner}") == []


def test_a_task_over_its_memory_is_killed_by_the_cgroup_and_succeeds_one_size_up(
    tmp_path: Path, docker: str, task_image: str
) -> None:
    # GIVEN an image whose command holds 900 MiB, and sizes of 512 MiB, then 2048 MiB
    context = tmp_path / "hungry"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {task_image}\n"
        'ENTRYPOINT ["s3fargate-task", "--", "python", "-c", '
        "\"x = b'\\\\x01' * (900 << 20); print('held', len(x) >> 20, 'MiB')\"]\n"
    )
    image = build(docker, context, "s3fargate-test/hungry:1")
    with dev_pipeline(tmp_path, "--task-image", image, *SMALL_THEN_LARGE) as dev:
        # WHEN a small object arrives (it gets the 512 MiB size first)
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/small.txt", Body=b"x\n")
        (job,) = wait_for(
            lambda: [j for j in dev.jobs() if j["status"] in ("succeeded", "failed")],
            300,
            "the job to end",
        )
        logs = sorted((dev.run_dir / "logs").glob("*.log"), key=lambda p: p.stat().st_mtime)
        tracker_log = (dev.run_dir / "tracker.log").read_text()
    # THEN its first attempt was killed for memory (137, ECS's OutOfMemoryError), and the
    # second, one size up, succeeded
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 2
    assert job["attempt_sizes"] == ["1: 0.25 vCPU, 0.5 GiB", "2: 0.25 vCPU, 2 GiB"], job
    assert "OutOfMemoryError" in tracker_log
    assert len(logs) == 2
    assert "held 900 MiB" not in logs[0].read_text()
    assert "held 900 MiB" in logs[1].read_text()


def test_ctrl_c_of_dev_with_a_task_running_leaves_no_container(
    tmp_path: Path, docker: str, task_image: str
) -> None:
    # GIVEN an image whose task runs for minutes, and a task of it running
    context = tmp_path / "slow"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f'FROM {task_image}\nENTRYPOINT ["s3fargate-task", "--", "sleep", "600"]\n'
    )
    image = build(docker, context, "s3fargate-test/slow:1")
    with dev_pipeline(tmp_path, "--task-image", image, "--grace-period", "2") as dev:
        owned = f"{LABEL_OWNER}={owner_token(dev.proc.pid)}"
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/slow.txt", Body=b"x\n")
        running = wait_for(lambda: _containers(docker, owned), 120, "the container")
        assert len(running) == 1
        # WHEN dev gets Ctrl-C
        assert dev.stop(signal.SIGINT) == 130
    # THEN no container of the pipeline is left
    assert _containers(docker, owned) == []


def test_kill_9_of_dev_leaves_no_container_once_its_janitor_has_run(
    tmp_path: Path, docker: str, task_image: str
) -> None:
    context = tmp_path / "slow"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f'FROM {task_image}\nENTRYPOINT ["s3fargate-task", "--", "sleep", "600"]\n'
    )
    image = build(docker, context, "s3fargate-test/slow:1")
    with dev_pipeline(tmp_path, "--task-image", image) as dev:
        owned = f"{LABEL_OWNER}={owner_token(dev.proc.pid)}"
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/slow.txt", Body=b"x\n")
        wait_for(lambda: _containers(docker, owned), 120, "the container")
        # WHEN dev is killed outright
        dev.proc.kill()
        dev.proc.wait()
        # THEN its janitor removes the container
        wait_for(lambda: not _containers(docker, owned), 120, "the container's removal")


def test_the_tool_image_extends_a_tool_with_the_sdk_and_runs_as_a_task(
    tmp_path: Path, docker: str, python_base: str
) -> None:
    # GIVEN examples/tool-image built on the base (the "tool" is the base's gzip)
    image = build(
        docker,
        ROOT,
        "s3fargate-test/tool:1",
        dockerfile=ROOT / "examples" / "tool-image" / "Dockerfile",
        PYTHON_IMAGE=python_base,
        TOOL_IMAGE=python_base,
    )
    data = b"a line of text\n" * 1000
    with dev_pipeline(tmp_path, "--task-image", image) as dev:
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/text.txt", Body=data)
        result = wait_for(lambda: dev.result("incoming/text.txt"), 300, "the result")
        (output,) = result["outputs"]
        body = dev.s3.get_object(Bucket=dev.state.bucket, Key=output["key"])["Body"].read()
    # THEN its output is the object, compressed by the tool
    assert output["key"].endswith("compressed.gz"), result
    assert gzip.decompress(body) == data


def test_the_command_example_runs_its_command_on_the_task_image(
    tmp_path: Path, docker: str, task_image: str
) -> None:
    image = build(
        docker,
        ROOT / "examples" / "command",
        "s3fargate-test/sort:1",
        TASK_IMAGE=task_image,
    )
    with dev_pipeline(tmp_path, "--task-image", image) as dev:
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/l.txt", Body=b"b\nc\na\n")
        result = wait_for(lambda: dev.result("incoming/l.txt"), 300, "the result")
        (output,) = result["outputs"]
        body = dev.s3.get_object(Bucket=dev.state.bucket, Key=output["key"])["Body"].read()
    assert output["key"].endswith("sorted.txt"), result
    assert body == b"a\nb\nc\n"


def test_the_scaffold_s_image_builds_and_runs_the_demo(
    tmp_path: Path, docker: str, python_base: str
) -> None:
    # GIVEN a project `s3fargate new` writes, its image built on the base
    folder = tmp_path / "my-pipeline"
    create_project(folder, kind=TaskKind.PYTHON)
    image = build(docker, folder, "s3fargate-test/scaffold:1", PYTHON_IMAGE=python_base)
    # WHEN the demo runs its task as that image
    proc, owner = _demo(tmp_path, "--task-image", image)
    # THEN every job succeeds, and no container is left
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "every job succeeded" in proc.stdout
    assert f"as a container of {image}" in " ".join(proc.stdout.split())
    assert _containers(docker, f"{LABEL_OWNER}={owner}") == []


def test_an_image_that_cannot_start_fails_to_start_as_on_ecs(
    tmp_path: Path, docker: str, task_image: str
) -> None:
    # GIVEN an image whose entrypoint does not exist
    context = tmp_path / "broken"
    context.mkdir()
    (context / "Dockerfile").write_text(f'FROM {task_image}\nENTRYPOINT ["/no/such/program"]\n')
    image = build(docker, context, "s3fargate-test/broken:1")
    with dev_pipeline(tmp_path, "--task-image", image, "--max-attempts", "1") as dev:
        owned = f"{LABEL_OWNER}={owner_token(dev.proc.pid)}"
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/x.txt", Body=b"x\n")
        (job,) = wait_for(
            lambda: [j for j in dev.jobs() if j["status"] == "failed"], 120, "the job to fail"
        )
        # THEN the task never started: ECS's stop code and reason, not an exit code
        assert job["stop_code"] == "TaskFailedToStart", job
        assert "CannotStartContainerError" in (job["reason"] or ""), job
        assert "/no/such/program" in (job["reason"] or ""), job
        # AND its container is gone
        assert _containers(docker, owned) == []


def test_a_key_no_container_can_carry_fails_its_own_job_and_blocks_nothing(
    tmp_path: Path, docker: str, task_image: str
) -> None:
    # GIVEN a cap of one, and a key with a NUL character (no process environment holds one)
    with dev_pipeline(
        tmp_path, "--task-image", task_image, "--max-running", "1", "--max-attempts", "1"
    ) as dev:
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/bad\x00key", Body=b"x\n")
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/good.txt", Body=b"x\n")
        # THEN the bad key's job fails to start, and the good one runs in the slot it freed
        jobs = wait_for(
            lambda: (
                {j["key"]: j for j in dev.jobs() if j["status"] in ("succeeded", "failed")}
                if len([j for j in dev.jobs() if j["status"] in ("succeeded", "failed")]) == 2
                else None
            ),
            180,
            "both jobs to end",
        )
    assert jobs["incoming/good.txt"]["status"] == "succeeded"
    bad = jobs["incoming/bad\x00key"]
    assert bad["status"] == "failed"
    assert bad["stop_code"] == "TaskFailedToStart"


def test_ctrl_c_ends_dev_when_a_task_s_client_is_gone_and_it_ignores_sigterm(
    tmp_path: Path, docker: str, task_image: str
) -> None:
    # GIVEN a task that ignores SIGTERM, whose engine client (the attached `start`) died
    context = tmp_path / "stubborn"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {task_image}\n"
        'ENTRYPOINT ["sh", "-c", "trap \'\' TERM; while true; do sleep 1; done"]\n'
    )
    image = build(docker, context, "s3fargate-test/stubborn:1")
    with dev_pipeline(tmp_path, "--task-image", image, "--grace-period", "2") as dev:
        owned = f"{LABEL_OWNER}={owner_token(dev.proc.pid)}"
        dev.s3.put_object(Bucket=dev.state.bucket, Key="incoming/x.txt", Body=b"x\n")
        (container,) = wait_for(lambda: _containers(docker, owned), 120, "the container")
        client = wait_for(lambda: _attached_client(container, docker), 60, "its attached client")
        os.kill(client, signal.SIGKILL)
        # WHEN dev gets Ctrl-C
        # THEN it stops within its grace period and the engine's kill, and removes the container
        assert dev.stop(signal.SIGINT) == 130
    assert _containers(docker, owned) == []


def _attached_client(container_id: str, docker: str) -> int | None:
    """The pid of the `docker start --attach` client of a container (by its name's task id)."""
    name = (
        subprocess.run(
            [docker, "inspect", "--format", "{{.Name}}", container_id],
            capture_output=True,
            text=True,
            check=False,
        )
        .stdout.strip()
        .lstrip("/")
    )
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--attach" in argv and name.encode() in argv:
            return int(entry.name)
    return None
