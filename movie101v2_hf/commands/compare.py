"""`movie101v2 compare`: two runs on the same clips, score by score, with the interval of the difference."""

from __future__ import annotations

import argparse

from ..errors import check_minimums
from ..evaluation.compare import compare_runs, load_run, write_comparison
from .base import Command


class Compare(Command):
    name = "compare"
    help = (
        "Compare two evaluation folders (or bench runs) on the same clips: per score A, B, B-A, the 95% interval of "
        "the difference by paired bootstrap over movies, and a p-value."
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("run_a", help="Evaluation folder of run A (the baseline).")
        parser.add_argument("run_b", help="Evaluation folder of run B.")
        parser.add_argument("--out", required=True, help="Folder for comparison.json, .md and .html.")
        parser.add_argument("--bootstrap", type=int, default=1000, help="Paired resamples of movies (default 1000).")
        parser.add_argument("--seed", type=int, default=0, help="Seed of the resampling (default 0).")
        parser.add_argument(
            "--allow-different-judges",
            action="store_true",
            help="Compare L1/L2 made by different "
            "judges or prompt versions anyway (they do not compare; the table marks them).",
        )

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        check_minimums(args, bootstrap=1)  # the interval and the p-value are the bootstrap's
        comparison = compare_runs(
            load_run(args.run_a),
            load_run(args.run_b),
            resamples=args.bootstrap,
            seed=args.seed,
            allow_different_judges=args.allow_different_judges,
        )
        path = write_comparison(comparison, args.out)
        print(path.read_text("utf-8"))
        print(f"\nWrote {args.out}/comparison.json, comparison.md and comparison.html")
        return 0
