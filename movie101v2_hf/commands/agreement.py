"""`movie101v2 agreement`: how well judges agree on the same predictions."""

from __future__ import annotations

import argparse

from ..evaluation.compare import judge_agreement, load_run, write_agreement
from .base import Command


class Agreement(Command):
    name = "agreement"
    help = (
        "Agreement between judges that scored the same predictions (evaluation folders): Pearson, Spearman, "
        "quadratic-weighted kappa, exact agreement and mean absolute difference of L1-Env, L1-Char and L2; "
        "Kendall's tau between their rankings of several systems."
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("runs", nargs="+", help="Evaluation folders (two or more), each judged by one judge.")
        parser.add_argument("--out", required=True, help="Folder for agreement.json and agreement.png.")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        if len(args.runs) < 2:
            raise ValueError("agreement needs at least two evaluation folders.")
        agreement = judge_agreement([load_run(run) for run in args.runs])
        for pair in agreement["pairs"]:
            print(f"\n{pair['judge_a']}  vs  {pair['judge_b']}  ({pair['systems']} prediction file(s))")
            print(f"{'score':<8} {'n':>6} {'pearson':>8} {'spearman':>9} {'kappa_q':>8} {'exact':>6} {'MAD':>6}")
            for name, s in pair["scores"].items():
                values = [
                    s["pearson"],
                    s["spearman"],
                    s["kappa_quadratic"],
                    s["exact_agreement"],
                    s["mean_absolute_difference"],
                ]
                shown = [f"{v:.3f}" if v is not None else "n/a" for v in values]
                print(f"{name:<8} {s['n']:>6} {shown[0]:>8} {shown[1]:>9} {shown[2]:>8} {shown[3]:>6} {shown[4]:>6}")
        for ranking in agreement["rankings"]:
            print(
                f"Kendall tau of the {ranking['systems']} systems' {ranking['score']} rankings: "
                f"{ranking['kendall_tau']} ({ranking['judge_a']} vs {ranking['judge_b']})"
            )
        path = write_agreement(agreement, args.out)
        print(f"\nWrote {path} and {path.with_name('agreement.png')}")
        return 0
