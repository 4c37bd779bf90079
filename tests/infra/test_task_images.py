"""The other two ways to bring a task, as images: any command on the task image
(``examples/command/Dockerfile``) and an existing tool's image extended with the SDK
(``examples/tool-image/Dockerfile``).

No Docker: the tool image's two stages are replayed from the staged build context — the SDK
stage's ``RUN`` with uv, the final stage's install ``RUN`` with this machine's Debian
``python3`` (the default tool image is Debian's) — and the installed ``s3fargate-task`` then
runs the image's own ``CMD`` on an object in the moto server.
"""

from __future__ import annotations

import gzip
import json
import os
import shlex
import shutil
import subprocess
import uuid
from pathlib import Path

import boto3
import pytest

from s3fargate import contracts as c
from tests.infra.test_image_context import (
    ROOT,
    read_dockerfile,
    replay_copies,
    run,
    stage_context,
    uv_executable,
)

COMMAND_DOCKERFILE = ROOT / "examples" / "command" / "Dockerfile"
TOOL_DOCKERFILE = ROOT / "examples" / "tool-image" / "Dockerfile"


def _exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"exec form expected, got {args!r}"
    return [str(v) for v in value]


def test_command_image_runs_s3fargate_task_on_the_task_image() -> None:
    (stage,) = read_dockerfile(COMMAND_DOCKERFILE.read_text(encoding="utf-8"))
    assert [_exec_form(i.args) for i in stage.all("ENTRYPOINT")] == [["s3fargate-task", "--"]]
    (cmd,) = [_exec_form(i.args) for i in stage.all("CMD")]
    assert any("{input}" in a for a in cmd)
    assert any("{output_dir}" in a for a in cmd)
    # The task image it builds on has the console script (the wheel declares it).
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 's3fargate-task = "s3fargate.task.command:main"' in pyproject


@pytest.mark.slow
def test_tool_image_installs_the_locked_sdk_and_runs_its_command(
    tmp_path: Path, moto_endpoint: str
) -> None:
    if shutil.which("python3") is None:
        pytest.fail("python3 not found on PATH: the tool image's stage makes its venv with it")
    sdk_stage, final = read_dockerfile(TOOL_DOCKERFILE.read_text(encoding="utf-8"))
    assert sdk_stage.name == "sdk"

    # The SDK stage: COPY from the staged context, then its RUN (uv export + wheel build).
    context, workdir = tmp_path / "context", tmp_path / "src"
    stage_context(context)
    replay_copies(sdk_stage, context, workdir)
    (build,) = sdk_stage.all("RUN")[1:]  # after installing uv itself
    uv_dir = str(Path(uv_executable()).parent)
    run(["sh", "-c", build.args], workdir, "the SDK stage", PATH=f"{uv_dir}:{os.environ['PATH']}")

    # The final stage: the COPY --from=sdk, then the install RUN, in scratch folders.
    (copy,) = [i for i in final.all("COPY") if i.args.startswith("--from=sdk")]
    *sources, destination = copy.args.split()[1:]
    sdk, venv, bin_dir = tmp_path / "sdk", tmp_path / "venv", tmp_path / "bin"
    sdk.mkdir()
    bin_dir.mkdir()
    assert destination == "/tmp/sdk/"
    for source in sources:
        path = workdir / Path(source).relative_to("/src")
        for item in path.iterdir() if path.is_dir() else [path]:
            shutil.copy2(item, sdk / item.name)
    (install,) = [i for i in final.all("RUN") if "/opt/s3fargate" in i.args]
    script = (
        install.args.replace("/opt/s3fargate", str(venv))
        .replace("/tmp/sdk", str(sdk))
        .replace("/usr/local/bin", str(bin_dir))
    )
    run(["sh", "-c", script], tmp_path, "the tool image's SDK install")
    assert not sdk.exists(), "the install should clean up after itself"

    # The image's CMD, through the linked s3fargate-task, on an object in S3.
    bucket, key = f"tool-{uuid.uuid4().hex[:8]}", "incoming/large table.csv"
    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket=bucket)
    body = b"id,value\n" + b"".join(f"{i},{i * i}\n".encode() for i in range(10_000))
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    entrypoint = [_exec_form(i.args) for i in final.all("ENTRYPOINT")][-1]
    cmd = [_exec_form(i.args) for i in final.all("CMD")][-1]
    argv = [str(bin_dir / entrypoint[0]), *entrypoint[1:], *cmd]
    env = {
        "PATH": "/usr/bin:/bin",  # the tool image's PATH: no trace of this checkout's venv
        "HOME": str(tmp_path),
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        c.ENV_S3_BUCKET: bucket,
        c.ENV_S3_KEY: key,
    }
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, f"{shlex.join(argv)}\n{proc.stdout}\n{proc.stderr}"
    out = s3.get_object(Bucket=bucket, Key="results/large table.csv/compressed.gz")["Body"].read()
    assert gzip.decompress(out) == body
