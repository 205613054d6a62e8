"""`movie101v2 bench`: narrate, evaluate and report in one run folder."""

from __future__ import annotations

import argparse

from ..constants import config_language
from ..evaluation import run_bench
from ..evaluation.evaluate import ScoringOptions
from ..narrate import NarrateOptions
from .base import Command, options_from
from .evaluate import print_scores


class Bench(Command):
    name = "bench"
    help = "Narrate, evaluate and report in one run folder; each step is skipped when its output is complete."
    options = (NarrateOptions, ScoringOptions)

    @classmethod
    def register(cls, subparsers: object) -> argparse.ArgumentParser:
        parser = super().register(subparsers)
        for action in parser._actions:  # the narrate option --out names the run folder here
            if action.dest == "out":
                action.help = "Run folder, e.g. runs/NAME (predictions.jsonl, results.json, report.html)."
        return parser

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        narrate = options_from(args, NarrateOptions)
        scoring = options_from(args, ScoringOptions)
        judge = scoring.build_judge(config_language(narrate.config))
        summary = run_bench(
            narrate,
            narrate.out,
            metrics=scoring.metric_names(judge),
            judge=judge,
            bertscore_model=scoring.bertscore_model,
            baselines=scoring.baselines,
            max_invalid=scoring.max_invalid,
            bootstrap=scoring.bootstrap,
            seed=scoring.bootstrap_seed,
            tts=scoring.tts,
            viewer_frames=scoring.viewer_frames,
        )
        if summary["results"] is not None:
            print_scores(summary["results"])
        return 0 if summary["complete"] or (narrate.allow_failures and summary["results"] is not None) else 1
