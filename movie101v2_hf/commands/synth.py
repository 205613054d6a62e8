"""`movie101v2 synth plan`: synthetic movies written by an LLM as validated structured output."""

from __future__ import annotations

import argparse

from ..synth import DrawOptions, PlanOptions, draw_keyframes, plan_movies
from .base import Command, options_from


class Synth(Command):
    name = "synth"
    help = (
        "Synthetic movies for training, after MovieLLM: `plan` has an LLM write them as validated JSON, `draw` "
        "draws their keyframes with diffusers."
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        steps = parser.add_subparsers(dest="synth_command", metavar="STEP", required=True)
        plan = steps.add_parser(
            "plan", help="An LLM writes one movie per theme (resumable, cached).", dataclass_types=(PlanOptions,)
        )
        plan.set_defaults(run=cls.plan)
        draw = steps.add_parser(
            "draw",
            help="Draw the planned movies' keyframes and portraits with diffusers.",
            dataclass_types=(DrawOptions,),
        )
        draw.set_defaults(run=cls.draw)

    @staticmethod
    def draw(args: argparse.Namespace) -> int:
        record = draw_keyframes(options_from(args, DrawOptions))
        print(record.summary("drawn", unit="image"))
        return 0 if record.complete else 1

    @staticmethod
    def plan(args: argparse.Namespace) -> int:
        record = plan_movies(options_from(args, PlanOptions))
        print(record.summary("planned", unit="movie"))
        return 0 if record.complete else 1
