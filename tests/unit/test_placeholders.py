"""Placeholders in s3fargate-task's command line: values in plain arguments, quoted variable
references in shell scripts, refusal in other interpreters' inline programs (pure functions)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3fargate.task.download import local_name
from s3fargate.task.exceptions import TaskConfigError
from s3fargate.task.placeholders import UnsafePlaceholderError, fill, script_references

VALUES = {"{input}": "/w/in.csv", "{output_dir}": "/w/out", "{bucket}": "b", "{key}": "k;id"}


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("cat {input}", 'cat "${S3FARGATE_INPUT}"'),
        ('echo "{key}"', 'echo "${S3_KEY}"'),
        ("echo '{key}'", "echo ''\"${S3_KEY}\"''"),
        ('echo "$(basename "{key}")"', 'echo "$(basename "${S3_KEY}")"'),
        ("echo `basename {input}`", 'echo `basename "${S3FARGATE_INPUT}"`'),
        ("echo ${X:-{output_dir}}", 'echo ${X:-"${S3FARGATE_OUTPUT_DIR}"}'),
        ("(cd {output_dir}; ls)", '(cd "${S3FARGATE_OUTPUT_DIR}"; ls)'),
        ("case {key} in *) :;; esac", 'case "${S3_KEY}" in *) :;; esac'),
        (
            "cat <<EOF\n{input}\nEOF\necho {key}",
            'cat <<EOF\n${S3FARGATE_INPUT}\nEOF\necho "${S3_KEY}"',
        ),
        # The scanner follows what could throw it off: shifts, delimiters, case patterns.
        ("echo $((1<<20))\necho {key}", 'echo $((1<<20))\necho "${S3_KEY}"'),
        ("cat <<END-OF\nx\nEND-OF\necho {key}", 'cat <<END-OF\nx\nEND-OF\necho "${S3_KEY}"'),
        ("cat <<\\E\nit's\nE\necho {key}", 'cat <<\\E\nit\'s\nE\necho "${S3_KEY}"'),
        (
            'x="$(case {input} in *.gz) :;; *) echo {key};; esac)"',
            'x="$(case "${S3FARGATE_INPUT}" in *.gz) :;; *) echo "${S3_KEY}";; esac)"',
        ),
        ('echo "${N:-it\'s} {key}"', 'echo "${N:-it\'s} ${S3_KEY}"'),
        ('echo "a\\"{key}"', 'echo "a\\"${S3_KEY}"'),
        ("echo \\'{key}", 'echo \\\'"${S3_KEY}"'),
    ],
)
def test_a_placeholder_in_a_script_becomes_a_reference_quoted_for_its_place(
    script: str, expected: str
) -> None:
    assert script_references(script) == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["sh", "-c", "{key}"],
        ["/bin/bash", "-euo", "pipefail", "-c", "{key}"],
        ["bash", "--norc", "-c", "{key}"],
        ["timeout", "60", "sh", "-ec", "{key}"],
        ["busybox", "sh", "-c", "{key}"],
        ["dash", "-c", "{key}", "name", "ignored"],
    ],
)
def test_shell_scripts_are_found_after_their_options(argv: list[str]) -> None:
    filled = fill(argv, VALUES)
    assert '"${S3_KEY}"' in filled
    assert "k;id" not in filled[: filled.index('"${S3_KEY}"') + 1]


def test_arguments_after_the_script_and_plain_arguments_get_values() -> None:
    argv = ["sh", "-c", 'echo "$1"', "name", "{key}", "--out={output_dir}/x"]
    assert fill(argv, VALUES) == ["sh", "-c", 'echo "$1"', "name", "k;id", "--out=/w/out/x"]
    assert fill(["sort", "{input}"], VALUES) == ["sort", "/w/in.csv"]


@pytest.mark.parametrize(
    ("script", "why"),
    [
        ('sed "s|^|{key}: |" {input}', "inside the sed program"),
        ("python3 -c \"print('{key}')\"", "inside the python program"),
        ('python3 - <<EOF\nprint("{key}")\nEOF', "inside a here-document"),
        ("echo $(( {key} ))", "inside arithmetic"),
        ("echo $'{key}'", "inside $'…'"),
        ("(( x = {key} ))", "inside arithmetic"),
        ("echo `echo {key}`", "inside backquotes"),
        ('echo "`echo "{key}"`"', "inside backquotes"),
        ("echo ${X:-{key}}", "inside ${…}"),
        ('sh -c "echo {key}"', "in the arguments of 'sh'"),
        ('eval "echo {key}"', "in the arguments of 'eval'"),
        ("env -S 'cp {key}'", "in the arguments of 'env -S'"),
        ('x=1; echo "$(flock /tmp/l -c "echo {key}")"', "in the arguments of 'flock'"),
        ('echo "{key}', "do not close"),
    ],
)
def test_a_key_where_a_reference_is_not_safe_is_refused(script: str, why: str) -> None:
    with pytest.raises(UnsafePlaceholderError) as caught:
        script_references(script)
    assert why in str(caught.value)


@pytest.mark.parametrize(
    "argv",
    [
        ["flock", "/tmp/lock", "-c", "echo {key}"],
        ["ssh", "host", "cat", "{key}"],
        ["python3", "-c", "print('{key}')"],
        ["/usr/bin/python3.11", "-c", "print('{bucket}')"],
        ["perl", "-e", "print '{key}'"],
        ["awk", '{print "{key}"}', "{input}"],
        ["sed", "-e", "s/x/{key}/", "{input}"],
        ["jq", '.k = "{key}"', "{input}"],
        ["node", "--eval", "console.log('{key}')"],
    ],
)
def test_a_key_in_another_interpreters_program_is_refused(argv: list[str]) -> None:
    with pytest.raises(UnsafePlaceholderError) as caught:
        fill(argv, VALUES)
    assert isinstance(caught.value, TaskConfigError)  # exit 2: a configuration mistake
    assert "code" in str(caught.value)


def test_paths_are_fine_in_other_interpreters_programs() -> None:
    assert fill(["python3", "-c", "print(open('{input}').read())"], VALUES)[2] == (
        "print(open('/w/in.csv').read())"
    )
    assert fill(["awk", "-f", "prog.awk", "{key}"], VALUES) == ["awk", "-f", "prog.awk", "k;id"]


@given(st.text(), st.text(), st.text())
def test_a_script_never_depends_on_the_values(text: str, key: str, bucket: str) -> None:
    # Whatever the script holds, what the shell runs is the same for every key and bucket
    # (or it is refused, whatever they are): the values reach it only through the
    # environment, never as code.
    script = f"{text}{{key}} {{bucket}}{text}"
    argv = ["sh", "-c", script]
    try:
        expected = fill(argv, VALUES)
    except UnsafePlaceholderError:
        with pytest.raises(UnsafePlaceholderError):
            fill(argv, {**VALUES, "{key}": key, "{bucket}": bucket})
        return
    assert fill(argv, {**VALUES, "{key}": key, "{bucket}": bucket}) == expected


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("incoming/data.csv", "data.csv"),
        ("incoming/x;id>pwned;echo .csv", "x_id_pwned_echo_.csv"),
        ("incoming/$(touch p)`x`.tar.gz", "__touch_p__x_.tar.gz"),
        ("incoming/-rf", "_-rf"),
        ("incoming/.hidden", "_.hidden"),
        ("incoming/ünï cødé.txt", "_n__c_d_.txt"),
        ("incoming/line\nbreak.txt", "line_break.txt"),
        ("incoming/", "object"),
        ("incoming/..", "object"),
    ],
)
def test_the_local_file_name_is_safe_in_any_shell(key: str, name: str) -> None:
    assert local_name(key) == name


@given(st.text(min_size=1, max_size=2000))
def test_any_key_gives_a_short_shell_safe_name(key: str) -> None:
    name = local_name(key)
    assert 0 < len(name.encode()) <= 255
    assert name[0] not in "-."
    assert all(ch.isascii() and (ch.isalnum() or ch in "._+-") for ch in name)
