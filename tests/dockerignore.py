"""Docker's ``.dockerignore`` rules, to stage a build context exactly as Docker sends it.

The rules (https://docs.docker.com/build/concepts/context/#dockerignore-files), as Docker's
own reader and matcher (``moby/patternmatcher`` and its ``ignorefile`` package) apply them:

- A line whose first character is ``#`` is a comment. Every other line is trimmed of leading
  and trailing whitespace; blank lines are skipped.
- A line starting with ``!`` is an exception: it re-includes what earlier lines excluded.
- Each pattern is cleaned as Go's ``filepath.Clean`` does (``a//b/./c/`` is ``a/b/c``), and a
  leading ``/`` is dropped: ``/foo`` and ``foo`` are the same pattern. Patterns are relative to
  the context's root, never to the folder a file is in: ``*.md`` matches ``README.md`` but not
  ``docs/a.md``.
- Matching follows Go's ``filepath.Match``: ``*`` is any run of characters except ``/``, ``?``
  one character except ``/``, ``[...]`` a class, ``\\`` escapes the next character. Docker
  adds ``**``: any number of folders, zero included (``**/*.go`` matches ``a.go`` and
  ``x/y/a.go``).
- A pattern that matches a folder matches everything below it: ``src`` excludes
  ``src/a/b.py``.
- Lines are applied in order and the last one that matches a path decides: ``*`` then
  ``!src`` keeps only ``src``; a later ``src/**/__pycache__`` drops those folders again.

What is sent is every file whose path is not excluded, with the folders above it. Like
BuildKit, the walk does not descend into an excluded folder when no exception could re-include
anything inside it (which keeps ``.venv`` and ``.git`` out of it). Malformed patterns are
refused up front; Docker refuses them up front or when it first evaluates them, depending on
the Go release it was built with.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

_BOM = "\ufeff"
#: Characters special to regular expressions but plain in ``filepath.Match``: escaped.
_REGEX_ONLY = frozenset(".+()|{}$")
#: What makes an exception a wildcard one for BuildKit's walk (fsutil's ``patternChars``).
_WILDCARDS = frozenset("*[]?^\\")


def go_clean(path: str) -> str:
    """Go's ``filepath.Clean`` on a slash-separated path (``posixpath.normpath`` keeps ``//``)."""
    cleaned = posixpath.normpath(path)
    return cleaned[1:] if cleaned.startswith("//") else cleaned


def read_dockerignore(text: str) -> list[str]:
    """The patterns of a ``.dockerignore`` file, as Docker's ``ignorefile.ReadAll`` reads them.

    Exceptions keep their leading ``!``; comments and blank lines are gone.
    """
    patterns = []
    for number, raw in enumerate(text.splitlines()):
        line = raw.removeprefix(_BOM) if number == 0 else raw
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return patterns


@dataclass(frozen=True)
class Pattern:
    """One compiled pattern: ``moby/patternmatcher``'s ``Pattern``."""

    text: str
    exclusion: bool
    kind: str  # "exact", "prefix", "suffix" or "regexp", as Docker compiles it
    regex: re.Pattern[str] | None

    @classmethod
    def compile(cls, line: str) -> Pattern:
        """Compile one pattern (``!`` for an exception) as ``patternmatcher.New`` does.

        Raises:
            ValueError: a lone ``!`` or a pattern ``filepath.Match`` rejects.
        """
        text = go_clean(line.strip())
        exclusion = text.startswith("!")
        if exclusion:
            if len(text) == 1:
                raise ValueError('illegal exclusion pattern: "!"')
            text = text[1:]
        _check_syntax(text)
        kind, regex_text = _translate(text)
        try:
            regex = re.compile(regex_text) if kind == "regexp" else None
        except re.error as exc:
            raise ValueError(f"bad pattern {text!r}: {exc}") from exc
        return cls(text=text, exclusion=exclusion, kind=kind, regex=regex)

    def matches(self, path: str) -> bool:
        """Whether this pattern matches ``path`` itself (not its parents)."""
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            # ``**/foo`` matches ``foo`` at the root too.
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        assert self.regex is not None
        return self.regex.fullmatch(path) is not None


def _check_syntax(pattern: str) -> None:
    """Reject what Go's ``filepath.Match`` calls a bad pattern (Docker refuses the file).

    A trailing ``\\``, and a class that is empty, unclosed, or starts a range with ``-``/``]``.
    """
    bad = ValueError(f"bad pattern {pattern!r}")

    def class_char(i: int) -> int:  # Go's getEsc: one (escaped) character of a class
        if i >= len(pattern) or pattern[i] in "-]":
            raise bad
        if pattern[i] == "\\":
            i += 1
            if i >= len(pattern):
                raise bad
        return i + 1

    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            if i + 1 == len(pattern):
                raise bad
            i += 2
        elif pattern[i] == "[":
            i += 1
            if i < len(pattern) and pattern[i] == "^":
                i += 1
            ranges = 0
            while not (i < len(pattern) and pattern[i] == "]" and ranges > 0):
                i = class_char(i)
                if i < len(pattern) and pattern[i] == "-":
                    i = class_char(i + 1)
                ranges += 1
            i += 1
        else:
            i += 1


def _translate(pattern: str) -> tuple[str, str]:
    """``Pattern.compile`` of ``moby/patternmatcher``: a match kind and a regular expression.

    Docker short-cuts three shapes (a literal path, ``literal/**``, ``**/literal``) and turns
    everything else into a regular expression; both are reproduced, quirks included.
    """
    kind = "exact"
    out = []
    i, n = 0, len(pattern)
    while i < n:
        start, ch = i, pattern[i]
        i += 1
        if pattern.startswith("**", start):
            i += 2 if pattern.startswith("/", start + 2) else 1  # "**/" is "**"
            if i < n:
                out.append("(.*/)?")  # any number of folders, zero included
                kind = "regexp"
            elif kind == "exact":
                kind = "prefix"  # "literal/**": everything below
            else:
                out.append(".*")
                kind = "regexp"
            if start == 0:
                kind = "suffix"  # "**/literal": a suffix test, unless wildcards follow
        elif ch in "*?[]":
            out.append({"*": "[^/]*", "?": "[^/]"}.get(ch, ch))
            kind = "regexp"
        elif ch == "\\":  # never trailing: _check_syntax rejects that
            out.append("\\" + pattern[i])
            i += 1
            kind = "regexp"
        else:
            out.append("\\" + ch if ch in _REGEX_ONLY else ch)
    return kind, "".join(out)


def _without_trailing_glob(pattern: str) -> str:
    """fsutil's ``patternWithoutTrailingGlob``: ``a/**`` and ``a/*`` are ``a`` for the walk."""
    return pattern.removesuffix("/**").removesuffix("/*")


class DockerIgnore:
    """The patterns of one ``.dockerignore``, applied in order to context-relative paths."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.patterns = [Pattern.compile(line) for line in lines if line.strip()]
        # BuildKit (fsutil) skips an excluded folder only while every exception, less a
        # trailing "/**" or "/*", is a plain path, and none of them lies inside the folder.
        self._exceptions = [_without_trailing_glob(p.text) for p in self.patterns if p.exclusion]
        self._plain_exceptions = not any(_WILDCARDS & set(e) for e in self._exceptions)

    @classmethod
    def read(cls, context: Path) -> DockerIgnore:
        """The context's ``.dockerignore`` (none: nothing is excluded)."""
        path = context / ".dockerignore"
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        return cls(read_dockerignore(text))

    def excluded(self, path: str) -> bool:
        """Whether Docker leaves ``path`` (relative to the context, ``/``-separated) out.

        ``MatchesOrParentMatches``: a pattern that matches a parent folder matches the path.
        """
        path = go_clean(path)
        if path == ".":
            return False  # the context's root is never excluded
        parents = path.split("/")[:-1]
        prefixes = ["/".join(parents[: i + 1]) for i in range(len(parents))]
        matched = False
        for pattern in self.patterns:
            # Only an exception can undo a match, and only a plain pattern can make one.
            if pattern.exclusion != matched:
                continue
            if pattern.matches(path) or any(pattern.matches(p) for p in prefixes):
                matched = not pattern.exclusion
        return matched

    def _may_reinclude_below(self, folder: str) -> bool:
        """Whether an exception could bring back something inside an excluded ``folder``."""
        if not self._plain_exceptions:
            return True
        return any((e + "/").startswith(folder + "/") for e in self._exceptions)

    def files(self, context: Path) -> Iterator[str]:
        """Every path (files and symlinks, ``/``-separated) Docker sends of ``context``."""
        for folder, dirnames, filenames in os.walk(context):
            rel_folder = os.path.relpath(folder, context).replace(os.sep, "/")
            kept = []
            for name in sorted(dirnames):
                rel = name if rel_folder == "." else f"{rel_folder}/{name}"
                if (context / rel).is_symlink():
                    filenames.append(name)  # sent as a link, never followed
                elif not self.excluded(rel) or self._may_reinclude_below(rel):
                    kept.append(name)
            dirnames[:] = kept
            for name in sorted(filenames):
                rel = name if rel_folder == "." else f"{rel_folder}/{name}"
                if not self.excluded(rel):
                    yield rel

    def stage(self, context: Path, destination: Path) -> list[str]:
        """Copy what Docker would send of ``context`` into ``destination``; the paths copied."""
        copied = sorted(self.files(context))
        for rel in copied:
            target = destination / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(context / rel, target, follow_symlinks=False)
        return copied
