"""`movie101v2 evaluate`: a predictions JSONL scored against a prepared dataset."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..constants import config_language
from ..evaluation import evaluate_predictions
from ..evaluation.evaluate import EvaluateOptions
from .base import Command, options_from


def print_scores(results: dict[str, Any]) -> None:
    """The scores as a table, each with its 95% interval (`28.20 [26.90, 29.60]`); what makes them not final, on
    stderr."""
    intervals = results.get("ci95") or {}
    print(f"\n{'metric':<14} {'score':>8}  95% interval (bootstrap over movies)")
    for name, value in results["scores"].items():
        shown = f"{value:.2f}" if isinstance(value, float) else ("n/a" if value is None else str(value))
        interval = f"  [{intervals[name][0]:.2f}, {intervals[name][1]:.2f}]" if name in intervals else ""
        print(f"{name:<14} {shown:>8}{interval}")
    if warning := (results.get("bootstrap") or {}).get("warning"):
        print(f"\nWarning: {warning}.", file=sys.stderr)
    if not results.get("complete", True):
        print("\nINCOMPLETE: these scores are not final.", file=sys.stderr)
        for problem in results.get("problems", []):
            print(f"- {problem}", file=sys.stderr)


class Evaluate(Command):
    name = "evaluate"
    help = (
        "Score a predictions JSONL against a prepared dataset: classic metrics, RoleF1, L3 pacing, L1/L2 with a "
        "judge; a report and a clip viewer."
    )
    options = (EvaluateOptions,)

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        options = options_from(args, EvaluateOptions)
        judge = options.build_judge(config_language(options.config))
        results = evaluate_predictions(
            options.predictions,
            options.dataset,
            out=options.out,
            config=options.config,
            split=options.split,
            metrics=options.metric_names(judge),
            judge=judge,
            bertscore_model=options.bertscore_model,
            baselines=options.baselines,
            max_invalid=options.max_invalid,
            bootstrap=options.bootstrap,
            seed=options.bootstrap_seed,
            tts=options.tts,
            viewer_frames=options.viewer_frames,
        )
        print_scores(results)
        print(f"\nWrote {options.out}/results.json, per_sample.jsonl, report.html and clips.html (every clip)")
        return 0 if results["complete"] else 1
