"""Placeholders in ``s3fargate-task``'s command line, filled so that no object key or bucket
name can change what runs.

An argument is handed to the program as it is (no shell parses it), so a placeholder in a plain
argument becomes its value. A shell script (``sh -c SCRIPT``, ``bash -ec SCRIPT``, …) is
different: there a value pasted in would be parsed as shell syntax, and a key such as
``incoming/x;id>pwned;.csv`` would run ``id``. In a script each placeholder therefore becomes a
*reference* to the environment variable that holds its value, quoted for where it stands
(``"${S3_KEY}"`` outside quotes, ``${S3_KEY}`` inside double quotes, ``'"${S3_KEY}"'`` inside
single quotes): the shell expands it to the exact value, as one word, and never parses the
value itself, whether the user wrote ``{key}`` or ``"{key}"``.

A word is only safe as long as nothing parses it again, so the untrusted placeholders
(``{key}``, ``{bucket}``) are refused — the task exits 2 before anything runs, saying to read
the variable instead — wherever that would happen or where this scanner cannot be sure of the
quoting: in another interpreter's inline program (``python -c``, ``perl -e``, ``awk``, ``sed``,
``jq`` …, at the top or inside a script), in any argument of a program that runs its arguments
as code (``eval``, a shell inside the script, ``flock -c``, ``su -c``, ``ssh`` …), in
arithmetic, here-documents, backquotes and ``${…}``, and in a script whose quotes do not close.
The scanner fails closed: a construct it does not model can make it refuse, never paste.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
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
SHELLS = frozenset(
    {"sh", "bash", "dash", "ash", "ksh", "mksh", "zsh", "busybox", "fish", "csh", "tcsh"}
)
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
    "deno": frozenset({"eval"}),
    "php": frozenset({"-r"}),
    "lua": frozenset({"-e"}),
    "Rscript": frozenset({"-e"}),
    "julia": frozenset({"-e", "--eval"}),
    "pwsh": frozenset({"-c", "-Command"}),
    "expect": frozenset({"-c"}),
    "osascript": frozenset({"-e"}),
}
#: Programs whose first argument that is not an option is a program of their own language.
_PROGRAM_FIRST = frozenset({"awk", "gawk", "mawk", "nawk", "jq", "yq", "sed", "gsed"})
#: Programs that run their arguments (or one of them) as code: a shell command string, a
#: calculator program, a shell builtin that evaluates.
RUNNERS = frozenset(
    {
        *SHELLS,
        *("eval", "let", "source", ".", "trap", "declare", "typeset", "local", "export"),
        *("su", "runuser", "sg", "script", "flock", "ssh", "watch", "parallel"),
        *("bc", "dc", "xargs"),
    }
)
#: Words that start a command but are not its program.
_KEYWORDS = frozenset({"!", "{", "}", "then", "do", "else", "elif", "if", "while", "until", "in"})


class UnsafePlaceholderError(TaskConfigError):
    """A key or bucket placeholder where it cannot be filled safely."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems)
        self.args = ("unsafe command line: " + "; ".join(problems),)


def program_name(arg: str) -> str:
    """The program an argument names, as a shell would find it: ``/usr/bin/python3.11`` ->
    ``python`` (folder and version dropped)."""
    return re.sub(r"[\d.]+$", "", os.path.basename(arg)) or arg


def substitute(arg: str, values: Mapping[str, str]) -> str:
    """Replace the placeholders in one plain argument by their values, in one pass (a value
    that holds a placeholder, such as a key ``a/{input}.txt``, is not expanded again); other
    braces (awk, jq) stay."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(0), m.group(0)), arg)


def fill(argv: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """The command line with every placeholder filled: values in plain arguments, variable
    references in shell scripts.

    Raises:
        UnsafePlaceholderError: ``{key}`` or ``{bucket}`` where no filling is safe (see the
            module's documentation); every such place is named.
    """
    scripts = _script_positions(argv)
    problems: list[str] = []
    filled: list[str] = []
    for index, arg in enumerate(argv):
        if index in scripts:
            scanner = _ScriptScanner(arg)
            filled.append(scanner.run())
            problems += [f"in the script of argument {index + 1}: {p}" for p in scanner.problems]
        else:
            filled.append(substitute(arg, values))
    plain = [
        _Word(arg, untrusted=bool(UNTRUSTED & set(_PLACEHOLDER.findall(arg))))
        if index not in scripts
        else _Word(arg)
        for index, arg in enumerate(argv)
    ]
    problems += _command_problems(plain, runners=RUNNERS - SHELLS)
    if problems:
        raise UnsafePlaceholderError(problems)
    return filled


def script_references(script: str) -> str:
    """``script`` with each placeholder replaced by a reference to its variable, quoted for
    the place it stands in.

    Raises:
        UnsafePlaceholderError: an untrusted placeholder where no reference is safe.
    """
    scanner = _ScriptScanner(script)
    filled = scanner.run()
    if scanner.problems:
        raise UnsafePlaceholderError(scanner.problems)
    return filled


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


@dataclass
class _Word:
    """A word of a command: its text without quotes, and whether an untrusted placeholder
    (or a substitution holding one) is in it."""

    text: str = ""
    untrusted: bool = False


def _splits(option: str) -> bool:
    """Whether ``option`` is env's ``-S`` (``--split-string``)."""
    return option.startswith("--split-string") or (
        option.startswith("-") and not option.startswith("--") and "S" in option
    )


def _inline_programs(words: Sequence[str]) -> dict[int, str]:
    """Indexes of the words that another interpreter runs as code, with its name."""
    found: dict[int, str] = {}
    for start, arg in enumerate(words):
        program = program_name(arg)
        flags = _INLINE_FLAGS.get(program)
        if flags is not None:
            for position in range(start + 1, len(words) - 1):
                if words[position] in flags:
                    found[position + 1] = program
                    break
        elif program in _PROGRAM_FIRST:
            for position in range(start + 1, len(words)):
                word = words[position]
                if word in ("-f", "--file", "--from-file"):  # the program is in a file
                    break
                if not word.startswith("-"):
                    found[position] = program
                    break
    return found


def _command_problems(words: Sequence[_Word], *, runners: frozenset[str]) -> list[str]:
    """Why the untrusted placeholders of one command are unsafe, if they are."""
    if not any(word.untrusted for word in words):
        return []
    problems = [
        f"a key or bucket placeholder inside the {program} program {words[index].text!r} "
        f"would run as {program} code: read it from the environment there instead "
        "($S3_KEY, $S3_BUCKET)"
        for index, program in _inline_programs([w.text for w in words]).items()
        if words[index].untrusted
    ]
    for index, word in enumerate(words):
        name = program_name(word.text)
        later = words[index + 1 :]
        if name == "env" and any(_splits(w.text) for w in later):
            name = "env -S"  # splits a string into words (and expands ${…} in it)
        elif name not in runners:
            continue
        if any(w.untrusted for w in later):
            problems.append(
                f"a key or bucket placeholder in the arguments of {name!r}, which runs them as "
                'code: pass "$S3_KEY" to a script of your own instead'
            )
            break
    return problems


# --- the scanner of shell scripts ----------------------------------------------------------
@dataclass
class _Frame:
    """Where the scanner is in a shell script."""

    #: "plain" (words: the top, ``$( )``), "dq" (``"…"``), "sq" (``'…'``), "ansi" (``$'…'``),
    #: "bq" (`` `…` ``), "param" (``${…}``) or "arith" (``$((…))``, ``((…))``, ``$[…]``).
    kind: str
    #: Parentheses (or braces, in ``${…}``) opened inside and not yet closed.
    depth: int = 0
    #: What closes it: ")" for ``$(``, "))" for ``$((``/``((``, "]" for ``$[``.
    closer: str = ""
    #: Inside double quotes (a ``${…}`` there reads a single quote as a character).
    quoted: bool = False
    #: For "plain" frames: the command being read, its current word, and ``case`` nesting.
    words: list[_Word] = field(default_factory=list)
    word: _Word | None = None
    cases: int = 0


#: What opens a frame, outside quotes and inside double quotes (longest first).
_OPENERS_PLAIN = (
    ("$((", "arith", "))"),
    ("$(", "plain", ")"),
    ("${", "param", "}"),
    ("$[", "arith", "]"),
    ("$'", "ansi", "'"),
    ("'", "sq", "'"),
    ('"', "dq", '"'),
    ("`", "bq", "`"),
)
_OPENERS_DQ = (
    ("$((", "arith", "))"),
    ("$(", "plain", ")"),
    ("${", "param", "}"),
    ("$[", "arith", "]"),
    ("`", "bq", "`"),
)
#: Where an untrusted placeholder cannot stand, and why.
_REFUSED_IN = {
    "ansi": "inside $'…', which shells read differently (use \"$S3_KEY\")",
    "bq": 'inside backquotes (use $( ) and "$S3_KEY")',
    "param": 'inside ${…} (use "$S3_KEY")',
    "arith": "inside arithmetic, which evaluates what a variable holds",
}
_OPERATORS = frozenset(";&|<>")
_HEREDOC_WORD = re.compile(r"<<(-?)[ \t]*((?:[^\s;&|<>()'\"\\]|'[^']*'|\"[^\"]*\"|\\.)+)")


class _ScriptScanner:
    """One pass over a shell script: placeholders become references quoted for their place;
    the commands holding untrusted ones are checked; what cannot be quoted surely is refused."""

    def __init__(self, script: str) -> None:
        self.script = script
        self.out: list[str] = []
        self.stack = [_Frame("plain")]
        self.problems: list[str] = []
        #: Here-documents whose operator was read on this line: (delimiter, tabs, quoted).
        self.heredocs: list[tuple[str, bool, bool]] = []

    def run(self) -> str:
        script, i = self.script, 0
        while i < len(script):
            match = _PLACEHOLDER.match(script, i)
            if match:
                self._placeholder(match.group(0))
                i = match.end()
                continue
            frame = self.stack[-1]
            if script[i] == "\n" and frame.kind == "plain" and self.heredocs:
                self._end_command(frame)
                self.out.append("\n")
                i = self._heredoc_bodies(i + 1)
                continue
            step = self._step(i)
            self.out.append(script[i : i + step])
            i += step
        if len(self.stack) > 1 and self._any_untrusted():
            self.problems.append("its quotes or brackets do not close")
        while self.stack:
            frame = self.stack.pop()
            if frame.kind == "plain":
                self._end_command(frame)
        return "".join(self.out)

    # --- placeholders ----------------------------------------------------------------------
    def _placeholder(self, placeholder: str) -> None:
        frame = self.stack[-1]
        variable = PLACEHOLDER_VARIABLES[placeholder]
        untrusted = placeholder in UNTRUSTED
        refused = next((f.kind for f in reversed(self.stack) if f.kind in _REFUSED_IN), None)
        if untrusted and refused is not None:
            self.problems.append(f"{placeholder} {_REFUSED_IN[refused]}")
        if frame.kind == "dq":
            self.out.append("${" + variable + "}")
        elif frame.kind == "sq":
            self.out.append("'\"${" + variable + "}\"'")
        else:
            self.out.append('"${' + variable + '}"')
        if untrusted:
            self._taint()
        self._word_text(placeholder)

    def _taint(self) -> None:
        """Mark the words that hold what is being read as holding an untrusted value: the
        current word of every command it is nested in (a ``$( )`` prints into its word)."""
        for frame in self.stack:
            if frame.kind == "plain":
                frame.word = frame.word or _Word()
                frame.word.untrusted = True

    def _any_untrusted(self) -> bool:
        return any(
            (f.word is not None and f.word.untrusted) or any(w.untrusted for w in f.words)
            for f in self.stack
        )

    # --- characters ----------------------------------------------------------------------------
    def _step(self, i: int) -> int:
        """Follow the quoting at ``i``; return how many characters to copy."""
        frame = self.stack[-1]
        ch = self.script[i]
        if frame.kind in ("sq", "ansi"):
            return self._single_quoted(i, frame)
        if ch == "\\":
            self._word_text(self.script[i + 1 : i + 2])
            return 2
        if frame.kind == "dq":
            if ch == '"':
                self.stack.pop()
                return 1
            opened = self._open(i, _OPENERS_DQ, quoted=True)
            if not opened:
                self._word_text(ch)
            return opened or 1
        if frame.kind == "bq" and ch == "`":
            self.stack.pop()
            return 1
        handler = {"arith": self._arith, "param": self._param}.get(frame.kind, self._plain)
        return handler(i, frame)

    def _single_quoted(self, i: int, frame: _Frame) -> int:
        ch = self.script[i]
        if ch == "'":
            self.stack.pop()
        elif ch == "\\" and frame.kind == "ansi":
            self._word_text(self.script[i + 1 : i + 2])
            return 2
        else:
            self._word_text(ch)
        return 1

    def _open(self, i: int, openers: tuple[tuple[str, str, str], ...], *, quoted: bool) -> int:
        """Open the frame that starts at ``i``, if one does; return its opener's length."""
        for opener, kind, closer in openers:
            if self.script.startswith(opener, i):
                self.stack.append(_Frame(kind, closer=closer, quoted=quoted))
                return len(opener)
        return 0

    def _arith(self, i: int, frame: _Frame) -> int:
        if self.script.startswith(frame.closer, i) and frame.depth == 0:
            self.stack.pop()
            return len(frame.closer)
        ch = self.script[i]
        if ch == "(":
            frame.depth += 1
        elif ch == ")" and frame.depth:
            frame.depth -= 1
        return self._open(i, _OPENERS_DQ, quoted=False) or 1

    def _param(self, i: int, frame: _Frame) -> int:
        ch = self.script[i]
        if ch == "}" and frame.depth == 0:
            self.stack.pop()
            return 1
        if ch == "{":
            frame.depth += 1
        elif ch == "}":
            frame.depth -= 1
        openers = _OPENERS_DQ if frame.quoted else _OPENERS_PLAIN
        return self._open(i, openers, quoted=frame.quoted) or 1

    def _plain(self, i: int, frame: _Frame) -> int:
        """A character outside quotes: words, operators, comments, here-documents."""
        script, ch = self.script, self.script[i]
        if frame.kind == "bq":  # refused for untrusted ones; followed only to find its end
            return self._open(i, _OPENERS_PLAIN, quoted=False) or 1
        at_word_start = frame.word is None
        if ch == "#" and at_word_start:
            end = script.find("\n", i)
            return (len(script) if end < 0 else end) - i  # a comment ends with its line
        if script.startswith("((", i) and at_word_start and not frame.words:
            self.stack.append(_Frame("arith", closer="))"))
            return 2
        opened = self._open(i, _OPENERS_PLAIN, quoted=False)
        if opened:
            frame.word = frame.word or _Word()
            return opened
        if ch in " \t":
            self._end_word(frame)
        elif ch in "\n();&|<>":
            return self._operator(i, frame)
        else:
            self._word_text(ch)
        return 1

    def _operator(self, i: int, frame: _Frame) -> int:
        """A character that ends a word (and mostly a command)."""
        script, ch = self.script, self.script[i]
        heredoc = _HEREDOC_WORD.match(script, i) if script[i : i + 3] != "<<<" else None
        if heredoc:
            self._end_word(frame)
            word = heredoc.group(2)
            quoted = any(q in word for q in "'\"\\")
            self.heredocs.append((re.sub(r"['\"\\]", "", word), bool(heredoc.group(1)), quoted))
            return heredoc.end() - i
        if ch in "<>":  # a redirection ends a word; its target is a word of its own
            self._end_word(frame)
            return 1
        self._end_command(frame)
        if ch == "(":
            frame.depth += 1
        elif ch == ")":
            if frame.cases and frame.depth == 0:
                pass  # a case pattern's end
            elif frame.depth:
                frame.depth -= 1
            elif frame.closer == ")":
                self.stack.pop()
        return 1

    # --- words and commands ----------------------------------------------------------------
    def _word_text(self, text: str) -> None:
        """Add ``text`` (quotes removed) to the current word of the command it belongs to."""
        for frame in reversed(self.stack):
            if frame.kind == "plain":
                frame.word = frame.word or _Word()
                frame.word.text += text
                return
            if frame.kind in ("bq", "param", "arith"):
                return  # inside a substitution: not the command's own text

    def _end_word(self, frame: _Frame) -> None:
        word, frame.word = frame.word, None
        if word is None:
            return
        if not frame.words and word.text in _KEYWORDS and not word.untrusted:
            return  # `then`, `do`, `{` … start a command, they are not its program
        if not frame.words and word.text == "case":
            frame.cases += 1
        elif word.text == "esac" and frame.cases:
            frame.cases -= 1
            return
        frame.words.append(word)

    def _end_command(self, frame: _Frame) -> None:
        self._end_word(frame)
        words, frame.words = frame.words, []
        if words and words[0].text == "case":
            return  # `case WORD in`: the word is matched, not run
        self.problems += _command_problems(words, runners=RUNNERS)

    def _heredoc_bodies(self, i: int) -> int:
        """Copy the bodies of the here-documents read on the line that ended at ``i``; each
        placeholder a bare reference (the shell expands it there, as one piece of text) but
        for untrusted ones, refused (a body is mostly a program's text). Return where the
        script goes on."""
        script = self.script
        for delimiter, strip_tabs, quoted in self.heredocs:
            while i < len(script):
                end = script.find("\n", i)
                end = len(script) if end < 0 else end + 1
                line = script[i:end]
                i = end
                body = line.rstrip("\n")
                if (body.lstrip("\t") if strip_tabs else body) == delimiter:
                    self.out.append(line)
                    break
                for placeholder in _PLACEHOLDER.findall(line):
                    if placeholder in UNTRUSTED or quoted:
                        self.problems.append(
                            f"{placeholder} inside a here-document (its text is usually a "
                            'program\'s): read "$S3_KEY" there instead'
                        )
                self.out.append(
                    _PLACEHOLDER.sub(lambda m: "${" + PLACEHOLDER_VARIABLES[m.group(0)] + "}", line)
                )
        self.heredocs = []
        return i
