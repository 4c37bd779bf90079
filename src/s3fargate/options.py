"""Command-line options declared once, on the configuration types they fill.

A field declared with :func:`option` is an option of every command built from its type: its
flag, help, unit and default come from the field, and :func:`values_from` turns what was given
on the command line back into the field's values (the type's own checks then name any bad
value). Nothing else lists the options: the parser, the help and the mapping are derived.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s3fargate.contracts import UserError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

_METADATA_KEY = "s3fargate.option"
_NESTED_KEY = "s3fargate.options"
_SCALARS: dict[Any, Callable[[str], Any]] = {int: int, float: float, str: str, Path: Path}


class OptionError(UserError, ValueError):
    """A command-line value that could not be read; the message names the option."""


@dataclass(frozen=True, slots=True)
class Option:
    """How a configuration field appears on the command line."""

    help: str
    #: The argument group it is shown in (a key of the command's group titles).
    group: str
    #: Default: ``--`` and the field's name with dashes.
    flag: str | None = None
    #: Other flags for the same option (an older name kept working).
    aliases: tuple[str, ...] = ()
    metavar: str | None = None
    #: From the command line's text to the field's value (default: the field's plain type).
    parse: Callable[[str], Any] | None = None
    #: The command line counts in units ``scale`` times the field's (1024 CPU units per vCPU).
    scale: float = 1.0
    #: The default as the help shows it, where the field's own would mislead ("": none).
    shown: str | None = None
    #: Options sharing this name exclude each other.
    exclusive: str | None = None
    choices: tuple[str, ...] | None = None
    #: Given once per value (``--task-size A --task-size B``): the field holds a tuple.
    repeat: bool = False

    @property
    def plain(self) -> bool:
        """Read as the field's own type, in the field's own unit."""
        return self.parse is None and self.scale == 1


def option(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    group: str,
    default_factory: Any = dataclasses.MISSING,
    **how: Any,
) -> Any:
    """A dataclass field that is also a command-line option (keywords of :class:`Option`)."""
    metadata = {_METADATA_KEY: Option(help=help, group=group, **how)}
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def options_from(default_factory: Callable[[], Any]) -> Any:
    """A dataclass field holding another configuration type whose options are this command's
    too (flattened into the same parser); ``default_factory`` gives the command's defaults."""
    return field(default_factory=default_factory, metadata={_NESTED_KEY: True})


@dataclass(frozen=True, slots=True)
class _Entry:
    """One option as a command shows it."""

    item: dataclasses.Field[Any]
    opt: Option
    #: The field's plain type (``int`` for ``int | None``).
    kind: Any
    #: Its default in this command.
    default: Any


def _entries(cls: type, defaults: Any = None) -> list[_Entry]:
    """The options of ``cls`` and of the types it holds (:func:`options_from`), in order."""
    hints = typing.get_type_hints(cls)
    found: list[_Entry] = []
    for item in dataclasses.fields(cls):
        default = getattr(defaults, item.name) if defaults is not None else _default(item)
        if _NESTED_KEY in item.metadata:
            found += _entries(hints[item.name], default)
        elif _METADATA_KEY in item.metadata:
            opt = item.metadata[_METADATA_KEY]
            found.append(_Entry(item, opt, _plain(hints[item.name]), default))
    return found


def options_of(cls: type) -> list[tuple[dataclasses.Field[Any], Option]]:
    """The fields of ``cls`` (and of the types it holds) that are options, in order."""
    return [(entry.item, entry.opt) for entry in _entries(cls)]


def flags_of(cls: type) -> dict[str, str]:
    """Each option's flag by its field's name (to name a value as the user gave it)."""
    return {item.name: flag_of(item, opt) for item, opt in options_of(cls)}


def flag_of(item: dataclasses.Field[Any], opt: Option) -> str:
    """The option's flag (``--max-running``)."""
    return opt.flag or "--" + item.name.replace("_", "-")


def add_options(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    groups: Mapping[str, str],
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Add every option of ``cls`` to ``parser``, in the groups titled by ``groups``; return
    the groups by key (for a command's own options).

    ``defaults`` overrides a field's default for this command (the demo's run directory).
    Options not given are left out of the parsed namespace, so the type's defaults apply.
    """
    defaults = defaults or {}
    sections = {key: parser.add_argument_group(title) for key, title in groups.items()}
    exclusive: dict[str, Any] = {}
    for entry in _entries(cls):
        item, opt, kind = entry.item, entry.opt, entry.kind
        section: Any = sections[opt.group]
        if opt.exclusive:
            if opt.exclusive not in exclusive:
                exclusive[opt.exclusive] = section.add_mutually_exclusive_group()
            section = exclusive[opt.exclusive]
        # Not given: absent from the namespace (the type's default applies), unless this
        # command has its own default.
        default = defaults.get(item.name, argparse.SUPPRESS)
        text = opt.help + _shown(opt, entry.default if default is argparse.SUPPRESS else default)
        flags = (flag_of(item, opt), *opt.aliases)
        if kind is bool and opt.parse is None:
            section.add_argument(
                *flags, dest=item.name, action="store_true", default=default, help=text
            )
            continue
        if opt.repeat:
            section.add_argument(
                *flags,
                dest=item.name,
                action="append",
                metavar=opt.metavar,
                default=default,
                help=text,
            )
            continue
        if opt.plain and kind not in _SCALARS:
            raise TypeError(f"{cls.__name__}.{item.name}: a {kind} option needs parse=")
        # Plain numbers are read by argparse (its usual message); the rest in values_from.
        reads = _SCALARS.get(kind) if opt.plain else str
        section.add_argument(
            *flags,
            dest=item.name,
            type=reads,
            metavar=opt.metavar,
            choices=opt.choices,
            default=default,
            help=text,
        )
    return sections


def values_from(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """The fields of ``cls`` given on the command line (or defaulted by the command), read.

    Raises:
        OptionError: a value its option cannot read, naming the option.
    """
    values: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for item in dataclasses.fields(cls):
        if _NESTED_KEY in item.metadata:
            held = values_from(hints[item.name], args)
            if held:  # the command's defaults for that type, with what was given
                values[item.name] = dataclasses.replace(_default(item), **held)
            continue
        opt = item.metadata.get(_METADATA_KEY)
        if opt is None or not hasattr(args, item.name):
            continue
        raw = getattr(args, item.name)
        if opt.repeat and isinstance(raw, list):
            values[item.name] = tuple(_read(item, opt, part) for part in raw)
            continue
        if not isinstance(raw, str) or opt.plain:
            values[item.name] = raw
            continue
        values[item.name] = _read(item, opt, raw)
    return values


def _read(item: dataclasses.Field[Any], opt: Option, raw: str) -> Any:
    try:
        return opt.parse(raw) if opt.parse else float(raw) / opt.scale
    except OptionError:
        raise
    except ValueError as exc:
        flag = flag_of(item, opt)
        message = str(exc)
        raise OptionError(message if flag in message else f"{flag} {raw!r}: {message}") from exc


def _default(item: dataclasses.Field[Any]) -> Any:
    if item.default is not dataclasses.MISSING:
        return item.default
    if item.default_factory is not dataclasses.MISSING:
        return item.default_factory()
    return None


def _shown(opt: Option, default: Any) -> str:
    if opt.shown is not None:  # "" shows none
        return f" (default: {opt.shown})" if opt.shown else ""
    if default is None or default is False or (hasattr(default, "__len__") and not len(default)):
        return ""
    if opt.scale != 1:
        default = f"{default * opt.scale:g}"
    return f" (default: {default})".replace("%", "%%")


def _plain(hint: Any) -> Any:
    """``int | None`` is ``int``: an option not given keeps the field's default."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        kinds = [kind for kind in typing.get_args(hint) if kind is not type(None)]
        return kinds[0] if len(kinds) == 1 else hint
    return hint
