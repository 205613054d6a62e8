"""The `movie101v2` command line: the parser is built from the subcommands in `commands/`.

movie101v2 prepare --release DIR --out DIR [--videos DIR | --video-base URL]
movie101v2 push-dataset DIR --repo-id ORG/NAME   (private; the data's terms forbid public sharing)
movie101v2 push-model DIR --repo-id ORG/NAME [--merge] [--results results.json]
movie101v2 narrate --model ID --dataset DIR --config en --split test --out preds.jsonl [--backend ...]
movie101v2 evaluate --predictions preds.jsonl --dataset DIR --out DIR [--judge-backend ...]
movie101v2 bench --model ID --dataset DIR --out runs/NAME [--judge-backend ...]
movie101v2 faces --dataset DIR --model-dir buffalo_l --out faces.jsonl [--evaluate]
movie101v2 mini-release OUT
movie101v2 demo [--release DIR --videos DIR]
movie101v2 env

narrate, evaluate, bench and faces also take `--config FILE.yaml` with any of their options.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from transformers import HfArgumentParser

from . import __version__
from .commands import COMMANDS
from .commands.base import apply_config_file
from .errors import Movie101v2Error

COMMAND_NAMES = tuple(command.name for command in COMMANDS)


def make_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The `movie101v2` parser, and each subcommand's parser by name."""
    parser = argparse.ArgumentParser(
        prog="movie101v2",
        description="Movie101v2 movie narration (audio description) benchmark on the Hugging Face stack.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="Log debug messages.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=HfArgumentParser)
    return parser, {command.name: command.register(subparsers) for command in COMMANDS}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `movie101v2` console script; returns the exit status."""
    parser, subparsers = make_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv = apply_config_file(argv, subparsers)
    except ValueError as err:
        parser.error(str(err))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.run(args)
    except (Movie101v2Error, FileNotFoundError, FileExistsError, ValueError) as err:
        # Our errors name the file, line or id and the fix: a traceback would only bury that.
        print(f"movie101v2 {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
