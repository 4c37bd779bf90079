"""Placeholders in ``s3fargate-task``'s command line, filled so that no object key or bucket
name can change what runs.

An argument is handed to the program as it is (no shell parses it), so a placeholder in a plain
argument becomes its value. A shell script (``sh -c SCRIPT``, ``bash -ec SCRIPT``, …) is
different: there a value pasted in would be parsed as shell syntax, and a key such as
``incoming/x;id>pwned;.csv`` would run ``id``. In a script each placeholder therefore becomes a
*reference* to the environment variable that holds its value, quoted for where it stands
(``"${S3_KEY}"`` outside quotes, ``${S3_KEY}`` inside double quotes, ``'"${S3_KEY}"'`` inside
single quotes): the shell expands it to the exact value and never parses the value itself,
whether the user wrote ``{key}`` or ``"{key}"``. Inline programs of other interpreters
(``python -c``, ``perl -e``, ``awk``, ``jq`` …) cannot be filled safely that way, so a key or
bucket placeholder there is refused: read the environment instead.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from s3fargate import contracts as c
from s3fargate.task.exceptions import TaskConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: Each placeholder and the environment variable that holds its value for the command.
PLACEHOLDER_VARIABLES: dict[str, str] = {
    "{input}": c.ENV_TASK_INPUT,
    "{output_dir}": c.ENV_TASK_OUTPUT_DIR,
    "{bucket}": c.ENV_S3_BUCKET,
    "{key}": c.ENV_S3_KEY,
}
PLACEHOLDERS = tuple(PLACEHOLDER_VARIABLES)
#: Placeholders whose values come from the upload (an attacker may choose them).
UNTRUSTED = frozenset({"{bucket}", "{key}"})
_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS))

#: Shells whose ``-c`` takes a script.
SHELLS = frozenset({"sh", "bash", "dash", "ash", "ksh", "mksh", "zsh", "busybox"})
#: Long shell options that take an argument of their own (short ones: -o, -O).
_SHELL_OPTIONS_WITH_VALUE = frozenset({"--rcfile", "--init-file"})
#: Interpreters whose inline program is in the argument after one of these flags.
_INLINE_FLAGS: dict[str, frozenset[str]] = {
    "python": frozenset({"-c"}),
    "pypy": frozenset({"-c"}),
    "perl": frozenset({"-e", "-E"}),
    "ruby": frozenset({"-e"}),
    "node": frozenset({"-e", "-p", "--eval", "--print"}),
    "nodejs": frozenset({"-e", "-p", "--eval", "--print"}),
    "php": frozenset({"-r"}),
    "osascript": frozenset({"-e"}),
}
#: Programs whose first argument that is not an option is a program of their own language.
_PROGRAM_FIRST = frozenset({"awk", "gawk", "mawk", "nawk", "jq", "sed", "gsed"})


class UnsafePlaceholderError(TaskConfigError):
    """A key or bucket placeholder inside an inline program that cannot be filled safely."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems)
        self.args = ("unsafe command line: " + "; ".join(problems),)


def program_name(arg: str) -> str:
    """The program an argument names, as a shell would find it: ``/usr/bin/python3.11`` ->
    ``python`` (folder and version dropped)."""
    return re.sub(r"[\d.]+$", "", os.path.basename(arg))


def substitute(arg: str, values: Mapping[str, str]) -> str:
    """Replace the placeholders in one plain argument by their values, in one pass (a value
    that holds a placeholder, such as a key ``a/{input}.txt``, is not expanded again); other
    braces (awk, jq) stay."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(0), m.group(0)), arg)


def fill(argv: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """The command line with every placeholder filled: values in plain arguments, variable
    references in shell scripts.

    Raises:
        UnsafePlaceholderError: ``{key}`` or ``{bucket}`` inside another interpreter's inline
            program (``python -c``, ``perl -e``, ``awk``, ``jq`` …).
    """
    scripts = _script_positions(argv)
    problems = [
        f"{placeholder} inside the {program} program of argument {index + 1} would paste the "
        f"upload's {placeholder.strip('{}')} into {program} code: read it from the environment "
        f"instead (${PLACEHOLDER_VARIABLES[placeholder]})"
        for index, program in _inline_programs(argv).items()
        for placeholder in sorted(set(_PLACEHOLDER.findall(argv[index])) & UNTRUSTED)
    ]
    if problems:
        raise UnsafePlaceholderError(problems)
    return [
        script_references(arg) if index in scripts else substitute(arg, values)
        for index, arg in enumerate(argv)
    ]


def _script_positions(argv: Sequence[str]) -> set[int]:
    """Indexes of the arguments that a shell runs as a script (``sh -c SCRIPT``), with the
    shell's options before it."""
    found: set[int] = set()
    for start, arg in enumerate(argv):
        if program_name(arg) not in SHELLS:
            continue
        position = start + 1
        if program_name(arg) == "busybox":  # busybox sh -c
            if position >= len(argv) or program_name(argv[position]) not in SHELLS - {"busybox"}:
                continue
            position += 1
        has_c = False
        while position < len(argv):
            word = argv[position]
            if word in _SHELL_OPTIONS_WITH_VALUE:
                position += 2
                continue
            if word == "--":
                position += 1
                break
            if len(word) > 1 and word[0] in "-+" and not word.startswith("--"):
                has_c = has_c or (word[0] == "-" and "c" in word[1:])
                # Each o or O in a cluster (-euo pipefail) takes the next argument.
                position += 1 + word.count("o") + word.count("O")
                continue
            if word.startswith("--"):
                position += 1
                continue
            break
        if has_c:
            # The script, and (to be safe) the shell's own options before it.
            found.update(range(start + 1, min(position + 1, len(argv))))
    return found


def _inline_programs(argv: Sequence[str]) -> dict[int, str]:
    """Indexes of the arguments that another interpreter runs as code, with its name."""
    found: dict[int, str] = {}
    for start, arg in enumerate(argv):
        program = program_name(arg)
        flags = _INLINE_FLAGS.get(program)
        if flags is not None:
            for position in range(start + 1, len(argv) - 1):
                if argv[position] in flags:
                    found[position + 1] = program
                    break
        elif program in _PROGRAM_FIRST:
            for position in range(start + 1, len(argv)):
                word = argv[position]
                if word in ("-f", "--file", "--from-file"):  # the program is in a file
                    break
                if not word.startswith("-"):
                    found[position] = program
                    break
    return found


@dataclass
class _Frame:
    """Where the scanner is in a shell script."""

    kind: str  # "plain", "dq" (double quotes), "sq", "ansi" ($'…'), "bq" (`…`), "param" (${…})
    #: For "plain" frames opened by ``$(``: parentheses opened inside and not yet closed.
    depth: int = 0
    #: True for the "plain" frame of a ``$(`` substitution (closed by its ``)``).
    substitution: bool = False


_HEREDOC = re.compile(r"<<(-?)[ \t]*(['\"]?)([A-Za-z0-9_]+)\2")


def script_references(script: str) -> str:
    """``script`` with each placeholder replaced by a reference to its variable, quoted for
    the place it stands in.

    A reference is never parsed as code, whatever its value holds, so the result is safe even
    where this scanner misjudges the quoting; the quoting only keeps the value one word. In a
    here-document the reference is bare (``${S3_KEY}``), as the shell expands it there."""
    return _ScriptScanner(script).run()


#: What opens a frame, outside quotes and inside double quotes.
_OPENERS_PLAIN = {"$'": "ansi", "$(": "subst", "${": "param", "'": "sq", '"': "dq", "`": "bq"}
_OPENERS_DQ = {"$(": "subst", "${": "param", "`": "bq"}


class _ScriptScanner:
    """One pass over a shell script, keeping track of the quoting it is in."""

    def __init__(self, script: str) -> None:
        self.script = script
        self.out: list[str] = []
        self.stack = [_Frame("plain")]
        #: Here-documents opened on the current line: (delimiter, tabs stripped).
        self.heredocs: list[tuple[str, bool]] = []

    def run(self) -> str:
        script, i = self.script, 0
        while i < len(script):
            match = _PLACEHOLDER.match(script, i)
            if match:
                variable = PLACEHOLDER_VARIABLES[match.group(0)]
                self.out.append(_reference(variable, self.stack[-1].kind))
                i = match.end()
            elif script[i] == "\n" and self.heredocs and self.stack[-1].kind == "plain":
                self.out.append("\n")
                i = _heredoc_bodies(script, i + 1, self.heredocs, self.out)
                self.heredocs = []
            else:
                step = self._step(i)
                self.out.append(script[i : i + step])
                i += step
        return "".join(self.out)

    def _step(self, i: int) -> int:
        """Follow the quoting at ``i``; return how many characters to copy."""
        frame = self.stack[-1]
        ch = self.script[i]
        if frame.kind in ("sq", "ansi"):
            if ch == "'":
                self.stack.pop()
            elif ch == "\\" and frame.kind == "ansi":
                return 2
            return 1
        if ch == "\\":
            return 2
        if frame.kind == "dq":
            if ch == '"':
                self.stack.pop()
                return 1
            return self._open(i, _OPENERS_DQ)
        return self._plain(i, frame)

    def _open(self, i: int, openers: dict[str, str]) -> int:
        """Open the frame that starts at ``i``, if one does; return its opener's length."""
        for opener in (self.script[i : i + 2], self.script[i]):
            kind = openers.get(opener)
            if kind is not None:
                if kind == "subst":
                    self.stack.append(_Frame("plain", substitution=True))
                else:
                    self.stack.append(_Frame(kind))
                return len(opener)
        return 1

    def _plain(self, i: int, frame: _Frame) -> int:
        """A character outside quotes (in a word, ``$( )``, `` ` ` `` or ``${ }``)."""
        script, ch = self.script, self.script[i]
        if (ch == "`" and frame.kind == "bq") or (ch == "}" and frame.kind == "param"):
            self.stack.pop()
            return 1
        if frame.kind == "plain":
            if ch == "(":
                frame.depth += 1
                return 1
            if ch == ")":
                if frame.depth:
                    frame.depth -= 1
                elif frame.substitution:
                    self.stack.pop()
                return 1
            if ch == "#" and (i == 0 or script[i - 1] in " \t\n;&|("):
                end = script.find("\n", i)
                return (len(script) if end < 0 else end) - i  # a comment ends with its line
            heredoc = _HEREDOC.match(script, i) if script[i : i + 3] != "<<<" else None
            if heredoc:
                self.heredocs.append((heredoc.group(3), bool(heredoc.group(1))))
                return heredoc.end() - i
        return self._open(i, _OPENERS_PLAIN)


def _heredoc_bodies(script: str, i: int, heredocs: list[tuple[str, bool]], out: list[str]) -> int:
    """Copy the bodies of ``heredocs`` (which start at ``i``) to ``out``, each placeholder a
    bare reference; return where the script goes on."""
    for delimiter, strip_tabs in heredocs:
        while i < len(script):
            end = script.find("\n", i)
            end = len(script) if end < 0 else end + 1
            line = script[i:end]
            i = end
            body = line.rstrip("\n")
            if (body.lstrip("\t") if strip_tabs else body) == delimiter:
                out.append(line)
                break
            out.append(
                _PLACEHOLDER.sub(lambda m: "${" + PLACEHOLDER_VARIABLES[m.group(0)] + "}", line)
            )
    return i


def _reference(variable: str, kind: str) -> str:
    """A reference to ``variable`` that expands to its exact value as one word, in a place of
    this kind."""
    if kind == "dq":
        return "${" + variable + "}"
    if kind == "sq":
        return "'\"${" + variable + "}\"'"
    if kind == "ansi":
        return "'\"${" + variable + "}\"$'"
    return '"${' + variable + '}"'
