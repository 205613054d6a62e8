"""`movie101v2 synth plan`: synthetic movies written by an LLM as validated structured output."""

from __future__ import annotations

import argparse

from ..synth import PlanOptions, plan_movies
from .base import Command, options_from


class Synth(Command):
    name = "synth"
    help = "Synthetic movies for training, after MovieLLM: `plan` has an LLM write them as validated JSON."

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        steps = parser.add_subparsers(dest="synth_command", metavar="STEP", required=True)
        plan = steps.add_parser(
            "plan", help="An LLM writes one movie per theme (resumable, cached).", dataclass_types=(PlanOptions,)
        )
        plan.set_defaults(run=cls.plan)

    @staticmethod
    def plan(args: argparse.Namespace) -> int:
        record = plan_movies(options_from(args, PlanOptions))
        print(record.summary("planned", unit="movie"))
        return 0 if record.complete else 1
