"""`movie101v2 synth plan`: synthetic movies written by an LLM as validated structured output."""

from __future__ import annotations

import argparse

from ..synth import DrawOptions, PlanOptions, build_dataset, draw_keyframes, mix_with_movie101v2, plan_movies
from .base import Command, options_from


class Synth(Command):
    name = "synth"
    help = (
        "Synthetic movies for training, after MovieLLM: `plan` has an LLM write them as validated JSON, `draw` "
        "draws their keyframes with diffusers, `dataset` writes them as a dataset."
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
        dataset = steps.add_parser(
            "dataset", help="Write the planned and drawn movies as a dataset, with contact sheets."
        )
        dataset.add_argument("--out", required=True, help="The folder of `synth plan` and `synth draw`.")
        dataset.set_defaults(run=cls.dataset)
        mix = steps.add_parser("mix", help="Movie101v2 clips and synthetic clips in one folder the recipe trains on.")
        mix.add_argument("--synthetic", required=True, help="The dataset folder of `synth dataset` (OUT/dataset).")
        mix.add_argument("--movie101v2", required=True, help="A prepared Movie101v2 folder or Hub id (with videos).")
        mix.add_argument("--config", default="en", help="The Movie101v2 clip config (default en).")
        mix.add_argument("--out", required=True, help="The folder to write.")
        mix.set_defaults(run=cls.mix)

    @staticmethod
    def mix(args: argparse.Namespace) -> int:
        counts = mix_with_movie101v2(args.synthetic, args.movie101v2, args.out, config=args.config)
        print(f"Wrote {args.out}: {counts}. Train with --dataset_name {args.out} --dataset_config {args.config}")
        return 0

    @staticmethod
    def dataset(args: argparse.Namespace) -> int:
        built = build_dataset(args.out)
        print(f"Wrote {built['dataset']}: {built['rows']}; contact sheets in {args.out}/contact_sheets")
        if built["skipped"]:
            print(f"{len(built['skipped'])} movie(s) not drawn completely were left out: {built['skipped'][:3]}")
        return 0 if not built["skipped"] else 1

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
