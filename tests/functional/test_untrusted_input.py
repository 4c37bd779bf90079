"""Uploads are hostile: no key runs a command through ``s3fargate-task``, no output escapes its
folder, and no process the command started outlives it or leaves a file half-written. Real
``s3fargate-task`` subprocesses against the moto server."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from s3fargate import contracts as c
from tests.taskrun import read_result, run_task

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

TASK_CLI = str(Path(sys.executable).parent / "s3fargate-task")
#: Keys an attacker may upload: each tries to run `touch pwned` in the output folder, which
#: would show up as an output.
HOSTILE_KEYS = [
    "incoming/x;cd $S3FARGATE_OUTPUT_DIR;touch pwned;echo .csv",
    "incoming/$(cd $S3FARGATE_OUTPUT_DIR && touch pwned).csv",
    "incoming/`cd $S3FARGATE_OUTPUT_DIR && touch pwned`.csv",
    "incoming/a' ; cd $S3FARGATE_OUTPUT_DIR; touch pwned; echo '.csv",
    'incoming/a" ; cd $S3FARGATE_OUTPUT_DIR; touch pwned; echo ".csv',
    "incoming/a&cd $S3FARGATE_OUTPUT_DIR&&touch pwned&.csv",
    "incoming/a|cd $S3FARGATE_OUTPUT_DIR|touch pwned|.csv",
    "incoming/line\ncd $S3FARGATE_OUTPUT_DIR\ntouch pwned\n.csv",
    "incoming/sub dir/with spaces and *.csv",
    "incoming/-rf ${HOME} \\ ~ #.csv",
    "incoming/ünï cødé 🚀 $'x'.csv",
]
BODY = b"one\ntwo\nthree\n"


@pytest.fixture
def s3(moto_endpoint: str) -> S3Client:
    return boto3.client("s3", endpoint_url=moto_endpoint)


@pytest.fixture
def bucket(s3: S3Client) -> str:
    name = f"hostile-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def _env(bucket: str, key: str) -> dict[str, str]:
    return {c.ENV_S3_BUCKET: bucket, c.ENV_S3_KEY: key}


def _outputs(s3: S3Client, bucket: str, key: str) -> dict[str, bytes]:
    base = c.result_key(
        key, input_prefix=c.DEFAULT_INPUT_PREFIX, results_prefix=c.DEFAULT_RESULTS_PREFIX
    ).removesuffix(".json")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{base}/")
    return {
        o["Key"].removeprefix(f"{base}/"): s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
        for page in pages
        for o in page.get("Contents", [])
    }


def _result(endpoint: str, bucket: str, key: str) -> dict[str, Any]:
    return read_result(
        endpoint,
        bucket,
        c.result_key(
            key, input_prefix=c.DEFAULT_INPUT_PREFIX, results_prefix=c.DEFAULT_RESULTS_PREFIX
        ),
    )


# --- no key or bucket name changes what runs ---------------------------------------------------
@pytest.mark.parametrize("shell", ["sh", "bash"])
@pytest.mark.parametrize("key", HOSTILE_KEYS, ids=range(len(HOSTILE_KEYS)))
def test_a_hostile_key_through_a_shell_script_runs_nothing_and_is_processed(
    moto_endpoint: str, s3: S3Client, bucket: str, key: str, shell: str
) -> None:
    # GIVEN an upload whose key is shell syntax
    s3.put_object(Bucket=bucket, Key=key, Body=BODY)
    # WHEN the documented script runs on it, with placeholders bare, double- and single-quoted
    script = (
        "wc -l < {input} > {output_dir}/lines.txt; "
        "printf %s {key} > {output_dir}/bare.txt; "
        'printf %s "{key}" > "{output_dir}/quoted.txt"; '
        "printf %s '{key}' > '{output_dir}'/single.txt; "
        'printf %s "$(basename "{input}")" > {output_dir}/name.txt; '
        "printf %s {bucket} > {output_dir}/bucket.txt"
    )
    run = run_task(moto_endpoint, _env(bucket, key), cmd=[TASK_CLI, "--", shell, "-c", script])
    # THEN it succeeds with exactly the outputs the script writes: nothing else ran
    assert run.returncode == 0, run.stdout + run.stderr
    outputs = _outputs(s3, bucket, key)
    assert sorted(outputs) == [
        "bare.txt",
        "bucket.txt",
        "lines.txt",
        "name.txt",
        "quoted.txt",
        "single.txt",
    ]
    # AND each placeholder held the exact value, whichever way it was quoted
    assert outputs["lines.txt"].strip() == b"3"
    for name in ("bare.txt", "quoted.txt", "single.txt"):
        assert outputs[name] == key.encode(), name
    assert outputs["bucket.txt"] == bucket.encode()
    # AND the local file's name is safe in any shell, with the key's extension
    local = outputs["name.txt"].decode()
    assert local.endswith(".csv")
    assert all(ch.isascii() and (ch.isalnum() or ch in "._+-") for ch in local), local


def test_a_key_placeholder_in_another_interpreters_program_is_refused(
    moto_endpoint: str, s3: S3Client, bucket: str
) -> None:
    key = "incoming/x');import os;os.system('touch /tmp/pwned-" + uuid.uuid4().hex + "');('.csv"
    s3.put_object(Bucket=bucket, Key=key, Body=BODY)
    cmd = [TASK_CLI, "--", "python3", "-c", "print('{key}')"]
    run = run_task(moto_endpoint, _env(bucket, key), cmd=cmd)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "read it from the environment there instead" in run.stdout
    assert _outputs(s3, bucket, key) == {}


def test_a_key_as_a_plain_argument_is_passed_as_it_is(
    moto_endpoint: str, s3: S3Client, bucket: str
) -> None:
    key = HOSTILE_KEYS[0]
    s3.put_object(Bucket=bucket, Key=key, Body=BODY)
    cmd = [TASK_CLI, "--", sys.executable, "-c", _WRITE_ARGV, "{output_dir}", "{key}", "k={key}"]
    run = run_task(moto_endpoint, _env(bucket, key), cmd=cmd)
    assert run.returncode == 0, run.stdout + run.stderr
    assert _outputs(s3, bucket, key) == {"argv": f"{key}\nk={key}".encode()}


_WRITE_ARGV = (
    "import sys, pathlib; pathlib.Path(sys.argv[1], 'argv').write_text('\\n'.join(sys.argv[2:]))"
)


# --- outputs are regular files inside the output folder ----------------------------------------
def _archive(tmp_path: Path, outside: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:

        def add(info: tarfile.TarInfo, data: bytes = b"") -> None:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)

        add(tarfile.TarInfo("ok.txt"), b"fine\n")
        add(tarfile.TarInfo("sub/also-ok.txt"), b"fine too\n")
        for name, target in (
            ("leak.txt", "/etc/passwd"),
            ("etc", "/etc"),
            ("relative.txt", "ok.txt"),
            ("sub/up.txt", "../../../../../../etc/passwd"),
        ):
            link = tarfile.TarInfo(name)
            link.type, link.linkname = tarfile.SYMTYPE, target
            add(link)
        fifo = tarfile.TarInfo("pipe")
        fifo.type = tarfile.FIFOTYPE
        add(fifo)
    return buffer.getvalue()


def test_an_archive_with_links_publishes_only_its_regular_files(
    moto_endpoint: str, s3: S3Client, bucket: str, tmp_path: Path
) -> None:
    # GIVEN an uploaded tar holding links to /etc/passwd and /etc, a relative link and a FIFO,
    # and a command that also hard-links a file from outside its output folder
    key = "incoming/evil.tar"
    outside = tmp_path / "secret.txt"
    outside.write_text("secret\n")
    s3.put_object(Bucket=bucket, Key=key, Body=_archive(tmp_path, outside))
    script = f'tar -xf {{input}} -C {{output_dir}} && ln "{outside}" {{output_dir}}/hard.txt'
    # WHEN the documented command extracts it into the output folder
    run = run_task(moto_endpoint, _env(bucket, key), cmd=[TASK_CLI, "--", "sh", "-c", script])
    # THEN the task succeeds, publishing the regular files only
    assert run.returncode == 0, run.stdout + run.stderr
    outputs = _outputs(s3, bucket, key)
    assert outputs == {"ok.txt": b"fine\n", "sub/also-ok.txt": b"fine too\n"}
    assert not any(b"root:" in body or b"secret" in body for body in outputs.values())
    # AND every file it left out is named, with why, in the result document and the log
    document = _result(moto_endpoint, bucket, key)
    skipped = {entry["name"]: entry["why"] for entry in document["skipped"]}
    assert set(skipped) == {"leak.txt", "etc", "relative.txt", "sub/up.txt", "pipe", "hard.txt"}
    assert skipped["leak.txt"] == skipped["etc"] == "a symbolic link (never followed)"
    assert skipped["pipe"] == "a FIFO"
    assert skipped["hard.txt"] == "a hard link to a file outside the output folder"
    logged = {line.get("output") for line in run.logs if line.get("message") == "output skipped"}
    assert logged == set(skipped)


def test_hard_links_inside_the_output_folder_are_outputs(
    moto_endpoint: str, s3: S3Client, bucket: str
) -> None:
    key = "incoming/links.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=BODY)
    script = "echo a > {output_dir}/a && ln {output_dir}/a {output_dir}/b"
    run = run_task(moto_endpoint, _env(bucket, key), cmd=[TASK_CLI, "--", "sh", "-c", script])
    assert run.returncode == 0, run.stdout + run.stderr
    assert _outputs(s3, bucket, key) == {"a": b"a\n", "b": b"a\n"}


def test_the_sdk_never_follows_a_link_given_as_an_output(
    moto_endpoint: str, s3: S3Client, bucket: str, tmp_path: Path
) -> None:
    key = "incoming/sdk.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=BODY)
    program = (
        "import os, sys\n"
        "from s3fargate.task import run\n"
        "def p(obj):\n"
        "    link = obj.work_dir / 'link'\n"
        "    os.symlink('/etc/passwd', link)\n"
        "    taken = obj.outputs.add_file('passwd', link)\n"
        "    (obj.work_dir / 'real').write_text('real')\n"
        "    return {'taken': taken, 'real': obj.outputs.add_file('real', obj.work_dir / 'real')}\n"
        "sys.exit(run(p))\n"
    )
    run = run_task(moto_endpoint, _env(bucket, key), cmd=[sys.executable, "-c", program])
    assert run.returncode == 0, run.stdout + run.stderr
    assert _outputs(s3, bucket, key) == {"real": b"real"}
    document = _result(moto_endpoint, bucket, key)
    assert document["taken"] is False
    assert document["real"] is True
    assert document["skipped"] == [{"name": "passwd", "why": "a symbolic link (never followed)"}]


# --- the command is really done before its outputs are taken ------------------------------------
def test_a_background_writer_finishes_before_its_file_is_taken(
    moto_endpoint: str, s3: S3Client, bucket: str
) -> None:
    key = "incoming/background.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=BODY)
    script = "(echo part1; sleep 1; echo part2) > {output_dir}/n.txt & sleep 0.1"
    run = run_task(moto_endpoint, _env(bucket, key), cmd=[TASK_CLI, "--", "sh", "-c", script])
    assert run.returncode == 0, run.stdout + run.stderr
    assert _outputs(s3, bucket, key) == {"n.txt": b"part1\npart2\n"}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")


@pytest.mark.parametrize("detach", ["", "setsid "], ids=["child", "own-session"])
def test_a_process_still_running_is_killed_and_fails_the_task_with_no_outputs(
    moto_endpoint: str, s3: S3Client, bucket: str, tmp_path: Path, detach: str
) -> None:
    # GIVEN a command that leaves a writer running (in its own session, or not) and exits 0
    key = "incoming/lingering.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=BODY)
    pid_file = tmp_path / "pid"
    script = (
        f"{detach}sh -c 'echo $$ > \"{pid_file}\"; echo part1; exec sleep 300' "
        "> {output_dir}/n.txt & "
        f'while [ ! -s "{pid_file}" ]; do sleep 0.01; done'
    )
    cmd = [TASK_CLI, "--children-timeout", "0.5", "--", "sh", "-c", script]
    # WHEN the task runs
    run = run_task(moto_endpoint, _env(bucket, key), cmd=cmd)
    # THEN it fails, naming what was still running, and publishes nothing
    assert run.returncode == 1, run.stdout + run.stderr
    assert "processes it started were still running 0.5 s later and were killed" in run.stdout
    assert "sleep 300" in run.stdout
    assert _outputs(s3, bucket, key) == {}
    # AND the writer is gone
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(pid):
        assert time.monotonic() < deadline, f"process {pid} outlived its task"
        time.sleep(0.02)


def test_sigterm_reaches_a_process_in_a_session_of_its_own(
    moto_endpoint: str, s3: S3Client, bucket: str, tmp_path: Path
) -> None:
    key = "incoming/term.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=BODY)
    got, ready = tmp_path / "got", tmp_path / "ready"
    script = (
        f'setsid sh -c \'trap "echo term > {got}; exit 0" TERM; : > {ready}; '
        "while :; do sleep 0.05; done' & wait"
    )
    env = {**os.environ, **_env(bucket, key), "AWS_ENDPOINT_URL": moto_endpoint}
    process = subprocess.Popen(
        [TASK_CLI, "--", "sh", "-c", script], env=env, stdout=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.terminate()
    out, _ = process.communicate(timeout=60)
    assert got.read_text() == "term\n", out


# --- the scanner, against real shells ------------------------------------------------------------
#: Scripts in which each use of {key} prints one line, "[<the word the shell got>]".
PRINTING_SCRIPTS = {
    "bare": 'printf "[%s]\\n" {key}',
    "double-quoted": 'printf "[%s]\\n" "{key}" "a {key} b"',
    "single-quoted": "printf \"[%s]\\n\" '{key}' 'a {key} b'",
    "in-substitution": 'printf "[%s]\\n" "$(printf %s {key})" $(printf "" {key}){key}',
    "after-a-shift": 'x=$((1<<20))\nprintf "[%s]\\n" {key}',
    "after-here-documents": (
        "cat <<END-OF >/dev/null\nit's\nEND-OF\ncat <<\\EOF >/dev/null\nDon't\nEOF\n"
        'printf "[%s]\\n" {key}'
    ),
    "case-in-substitution": (
        'x="$(case {key} in *.nothing) :;; *) printf "[%s]\\n" {key};; esac)"; printf "%s\\n" "$x"'
    ),
    "loop-and-test": 'for i in 1; do if [ -n {key} ]; then printf "[%s]\\n" {key}; fi; done',
    "comment": 'printf "[%s]\\n" {key} # a comment with {key} and it\'s quote',
}
#: What the shell must print for each script (a word per line; "K" stands for the key).
PRINTED = {
    "double-quoted": ["K", "a K b"],
    "single-quoted": ["K", "a K b"],
    "in-substitution": ["K", "K"],
}
ATTACK = 'incoming/q a[$(touch "$PWN")] * ";touch "$PWN";" `touch "$PWN"` $((1)) x.csv'


@pytest.mark.parametrize("shell", ["bash", "dash"])
@pytest.mark.parametrize("name", sorted(PRINTING_SCRIPTS))
def test_every_reference_reaches_the_shell_as_one_exact_word(
    tmp_path: Path, name: str, shell: str
) -> None:
    from s3fargate.task.placeholders import fill

    if shutil.which(shell) is None:
        pytest.fail(f"{shell} is needed for this test: install it (apt-get install {shell})")
    (tmp_path / "glob-me").touch()  # an unquoted * would show up as this name
    pwn = tmp_path / "pwned"
    script = fill([shell, "-c", PRINTING_SCRIPTS[name]], {})[2]
    done = subprocess.run(
        [shell, "-c", script],
        env={**os.environ, c.ENV_S3_KEY: ATTACK, "PWN": str(pwn)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert not pwn.exists(), "the key ran a command"
    expected = [f"[{line.replace('K', ATTACK)}]" for line in PRINTED.get(name, ["K"])]
    assert done.stdout.splitlines() == expected, script


def test_a_writer_that_keeps_changing_its_pid_is_still_waited_for(
    moto_endpoint: str, s3: S3Client, bucket: str
) -> None:
    # GIVEN a command whose writer forks a successor and exits, over and over, for 60 s
    key = "incoming/hopping.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=BODY)
    writer = str(Path(__file__).parent / "programs" / "hopping_writer.py")
    cmd = [
        TASK_CLI,
        "--children-timeout",
        "1",
        "--",
        sys.executable,
        writer,
        "{output_dir}/log",
        "60",
    ]
    # WHEN the command's own process exits at once
    run = run_task(moto_endpoint, _env(bucket, key), cmd=cmd)
    # THEN the task still waits for the writer, kills it after the timeout, and fails
    assert run.returncode == 1, run.stdout + run.stderr
    assert "were still running 1 s later and were killed" in run.stdout
    assert _outputs(s3, bucket, key) == {}


def test_the_sdk_never_follows_a_link_to_a_folder_below_the_work_folder(
    moto_endpoint: str, s3: S3Client, bucket: str
) -> None:
    key = "incoming/sdk-folder.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=BODY)
    program = (
        "import os, sys\n"
        "from s3fargate.task import run\n"
        "def p(obj):\n"
        "    os.symlink('/etc', obj.work_dir / 'etc')\n"
        "    path = obj.work_dir / 'etc' / 'hostname'\n"
        "    return {'taken': obj.outputs.add_file('hostname', path)}\n"
        "sys.exit(run(p))\n"
    )
    run = run_task(moto_endpoint, _env(bucket, key), cmd=[sys.executable, "-c", program])
    assert run.returncode == 0, run.stdout + run.stderr
    assert _outputs(s3, bucket, key) == {}
    document = _result(moto_endpoint, bucket, key)
    assert document["taken"] is False
    assert document["skipped"] == [{"name": "hostname", "why": "a symbolic link on its way"}]


def test_many_and_deep_folders_and_odd_names_are_collected_without_failing(
    moto_endpoint: str, s3: S3Client, bucket: str
) -> None:
    # GIVEN a command that leaves 300 folders, a folder 300 levels deep, and a file whose name
    # is not UTF-8, run with few file descriptors to spare
    key = "incoming/tree.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=BODY)
    script = (
        "cd {output_dir} && for i in $(seq 300); do mkdir w$i && echo $i > w$i/f; done && "
        "mkdir -p $(printf 'd/%.0s' $(seq 300)) && echo deep > $(printf 'd/%.0s' $(seq 300))f && "
        "printf x > \"$(printf 'bad\\377name')\""
    )
    cmd = ["sh", "-c", 'ulimit -n 128 && exec "$0" -- sh -c "$1"', TASK_CLI, script]
    # WHEN the task collects them
    run = run_task(moto_endpoint, _env(bucket, key), cmd=cmd)
    # THEN every regular file with a valid name is an output, and the odd one is skipped
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    outputs = _outputs(s3, bucket, key)
    assert len(outputs) == 301
    assert outputs["d/" * 300 + "f"] == b"deep\n"
    document = _result(moto_endpoint, bucket, key)
    assert document["skipped"] == [
        {"name": "bad\\xffname", "why": "its name is not valid UTF-8, as S3 keys must be"}
    ]


def test_more_files_than_the_limit_fail_the_task(
    moto_endpoint: str, s3: S3Client, bucket: str
) -> None:
    key = "incoming/bomb.tar"
    s3.put_object(Bucket=bucket, Key=key, Body=BODY)
    script = "cd {output_dir} && for i in $(seq 11); do : > f$i; done"
    cmd = [TASK_CLI, "--max-outputs", "10", "--", "sh", "-c", script]
    run = run_task(moto_endpoint, _env(bucket, key), cmd=cmd)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "the output folder holds more than 10 files" in run.stdout
    assert _outputs(s3, bucket, key) == {}
