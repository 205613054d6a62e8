"""`movie101v2 narrate`: every clip of a split narrated into a predictions JSONL."""

from __future__ import annotations

import argparse

from ..narrate import NarrateOptions, narrate_split
from .base import Command, options_from


class Narrate(Command):
    name = "narrate"
    help = "Narrate every clip of a split with a model (or the retrieval baseline) into a predictions JSONL."
    options = (NarrateOptions,)

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        options = options_from(args, NarrateOptions)
        record = narrate_split(options)
        print(record.summary("narrated"))
        return 0 if record.complete or options.allow_failures else 1
