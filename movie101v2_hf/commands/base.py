"""What a subcommand is: a name, a help line, the options dataclasses its flags come from, and `run`.

Options are declared once, in the dataclasses the Python API takes (`NarrateOptions`, `EvaluateOptions`, ...):
`HfArgumentParser` turns their fields, help and defaults into flags (`--max-samples` and `--max_samples` both
work), and `--config FILE.yaml` sets any of them from a YAML file, the command line still winning.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml

from ..utils.io import read_text

T = TypeVar("T")


class Command:
    """A `movie101v2` subcommand; subclasses set `name`, `help`, `options` and `run`."""

    name: ClassVar[str]
    help: ClassVar[str]
    options: ClassVar[tuple[type, ...]] = ()  # dataclasses whose fields are the flags

    @classmethod
    def register(cls, subparsers: Any) -> argparse.ArgumentParser:
        # argparse %-formats help strings ("95%" would break --help), not descriptions
        parser = subparsers.add_parser(
            cls.name, help=cls.help.replace("%", "%%"), description=cls.help, dataclass_types=cls.options
        )
        cls.add_arguments(parser)
        parser.set_defaults(run=cls.run)
        return parser

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Flags that are not fields of `options` (positional folders and the like)."""

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        raise NotImplementedError


def options_from(args: argparse.Namespace, cls: type[T], **overrides: Any) -> T:
    """An options dataclass from the parsed flags (its fields only), with `overrides` applied."""
    values = {f.name: getattr(args, f.name) for f in fields(cls) if f.init and hasattr(args, f.name)}
    return cls(**{**values, **overrides})


class ConfigFileError(ValueError):
    """A `--config FILE.yaml` that cannot be used: missing, not a mapping, or naming an unknown option."""


def apply_config_file(argv: list[str], parsers: dict[str, argparse.ArgumentParser]) -> list[str]:
    """Take `--config FILE.yaml` (or `.yml`) out of `argv` and set its values as the command's defaults.

    `--config` followed by anything else is the dataset config (`--config en`) and is left alone.
    """
    command = next((token for token in argv if token in parsers), None)
    for k, token in enumerate(argv):
        value = (
            token.split("=", 1)[1]
            if token.startswith("--config=")
            else (argv[k + 1] if token == "--config" and k + 1 < len(argv) else None)
        )
        if value is None or not value.endswith((".yaml", ".yml")):
            continue
        if command is None:
            raise ConfigFileError(
                "--config FILE.yaml goes after a command, e.g. `movie101v2 narrate --config FILE.yaml`."
            )
        _set_defaults(parsers[command], Path(value), command)
        return argv[:k] + argv[k + (1 if "=" in token else 2) :]
    return argv


def _set_defaults(parser: argparse.ArgumentParser, path: Path, command: str) -> None:
    if not path.is_file():
        raise ConfigFileError(f"--config {path}: no such file.")
    try:
        values = yaml.safe_load(read_text(path, what="config file")) or {}
    except yaml.YAMLError as err:  # broken YAML, or a Python tag safe_load will not build
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigFileError(f"{where}: not a plain YAML mapping ({problem}). Write option: value lines.") from None
    if not isinstance(values, dict):
        raise ConfigFileError(f"{path}: expected a mapping of option names to values, got {type(values).__name__}.")
    actions = {action.dest: action for action in parser._actions if action.dest != "help"}
    values = {str(key).replace("-", "_"): value for key, value in values.items()}
    unknown = sorted(key for key in values if key not in actions)
    if unknown:
        raise ConfigFileError(
            f"{path}: unknown option(s) for `movie101v2 {command}`: {', '.join(unknown)}. "
            f"See `movie101v2 {command} --help`."
        )
    for key in values:
        actions[key].required = False  # given by the file
    parser.set_defaults(**values)
