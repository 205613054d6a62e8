"""`movie101v2 analyze`: the paper's analyses of narration text (Fig 8) and of narrator fit (Fig 9)."""

from __future__ import annotations

import argparse
import json

from ..analysis.facts import CATEGORIES, FactsOptions
from ..analysis.facts_run import analyze_facts
from ..analysis.fit import FitOptions, analyze_fit
from ..analysis.text import TextOptions, analyze_text
from .base import Command, options_from


class Analyze(Command):
    name = "analyze"
    help = (
        "The paper's analyses: `facts` (visual-fact recall of a vision model by frame rate and category: Figs 6, 7), "
        "`text` (perplexity under an evaluator LM and n-gram diversity, beside other "
        "datasets: Fig 8), `fit` (a narrator's perplexity on the references, zero-shot and fine-tuned: Fig 9)."
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        steps = parser.add_subparsers(dest="analysis", metavar="ANALYSIS", required=True)
        facts = steps.add_parser(
            "facts", help="Visual-fact recall by frame rate and category (Figs 6, 7).", dataclass_types=(FactsOptions,)
        )
        facts.set_defaults(run=cls.facts)
        text = steps.add_parser(
            "text", help="Perplexity and n-gram diversity (Fig 8).", dataclass_types=(TextOptions,)
        )
        text.set_defaults(run=cls.text)
        fit = steps.add_parser(
            "fit", help="A narrator's perplexity on the references (Fig 9).", dataclass_types=(FitOptions,)
        )
        fit.set_defaults(run=cls.fit)

    @staticmethod
    def facts(args: argparse.Namespace) -> int:
        options = options_from(args, FactsOptions)
        results = analyze_facts(options)
        print(f"{'fps':>5} {'instance':>9} {'clip':>7}  " + " ".join(f"{c:>8}" for c in CATEGORIES))
        for rate, values in results["by_rate"].items():
            shown = " ".join(f"{values[c] or 0:>8.1f}" for c in CATEGORIES)
            print(f"{float(rate):>5g} {values['instance'] or 0:>9.1f} {values['clip'] or 0:>7.1f}  {shown}")
        print(
            f"{results['frames_asked']} frames asked once at 2 fps; the lower rates reused them ({results['calls_saved']} "
            f"calls saved). Invalid answers: {results['invalid_frames']}; failed: {results['failed']}."
        )
        print(f"Wrote {options.out}/facts.jsonl, frames.jsonl, recall.json and the figures")
        return 0 if results["complete"] else 1

    @staticmethod
    def text(args: argparse.Namespace) -> int:
        options = options_from(args, TextOptions)
        results = analyze_text(options)
        print(f"{'dataset':<24} {'ppl (mean)':>11} {'ppl (corpus)':>13}  distinct-1..4")
        for name, values in results["datasets"].items():
            ppl, distinct = values["perplexity"], " ".join(f"{v:.3f}" for v in values["distinct"].values())
            print(f"{name:<24} {ppl['mean'] or 0:>11.2f} {ppl['corpus'] or 0:>13.2f}  {distinct}")
        print(f"Wrote {options.out}/text.json and text.png")
        return 0

    @staticmethod
    def fit(args: argparse.Namespace) -> int:
        options = options_from(args, FitOptions)
        results = analyze_fit(options)
        print(json.dumps(results["splits"], indent=2))
        print(f"Wrote {options.out}/fit.json and fit.png")
        return 0
