"""`movie101v2 shotbench evaluate`: ShotBench predictions scored by the official rules, without random choices."""

from __future__ import annotations

import argparse

from ..llm.options import prefixed_llm_options, to_llm_options
from ..shotbench import LLMMatcher, evaluate_shotbench
from ..shotbench.run import ShotBenchRunOptions, run_shotbench
from .base import Command, options_from

# the official matcher is GPT-4o; off unless --judge-backend is given
MatcherOptions = prefixed_llm_options("judge", backend=None, model="gpt-4o-2024-08-06", name="MatcherOptions")


class ShotBench(Command):
    name = "shotbench"
    help = (
        "ShotBench (cinematography QA): `run` a model on it (official prompt and media settings), `evaluate` "
        "predictions with the official rule chain (no random fallback)."
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        steps = parser.add_subparsers(dest="shotbench_command", metavar="STEP", required=True)
        evaluate = steps.add_parser(
            "evaluate",
            help="Score predictions (ours or the official .xlsx/.tsv).",
            dataclass_types=(MatcherOptions,),  # the matcher for answers the rules cannot resolve (else: wrong)
        )
        evaluate.add_argument(
            "--predictions",
            required=True,
            help='JSONL {"index", "prediction"}, or the official runner\'s .xlsx / .tsv with a prediction column.',
        )
        evaluate.add_argument(
            "--data", required=True, help="The ShotBench folder holding test.tsv (media not needed)."
        )
        evaluate.add_argument("--out", required=True, help="Folder for results.json, per_row.jsonl and report.html.")
        evaluate.set_defaults(run=cls.evaluate)
        run = steps.add_parser(
            "run",
            help="Answer every question with a model (resumable, data parallel).",
            dataclass_types=(ShotBenchRunOptions,),
        )
        run.set_defaults(run=cls.answer)

    @staticmethod
    def answer(args: argparse.Namespace) -> int:
        options = options_from(args, ShotBenchRunOptions)
        record = run_shotbench(options)
        print(record.summary("answered", unit="question"))
        return 0 if record.complete or options.allow_failures else 1

    @staticmethod
    def evaluate(args: argparse.Namespace) -> int:
        matcher = None
        if args.judge_backend:  # a text LLM and the user's cache: no L1/L2 judge is built for it
            llm = to_llm_options(options_from(args, MatcherOptions), "judge")
            matcher = LLMMatcher(llm.build(), llm.response_cache())
        results = evaluate_shotbench(args.predictions, args.data, out=args.out, matcher=matcher)
        print(f"{'dimension':<10} {'accuracy':>9} {'n':>5}")
        for name, value in results["scores"].items():
            n = results["counts"].get(name, {}).get("n", results["num_rows"])
            print(f"{name:<10} {value:>9.2f} {n:>5}")
        print(f"resolved by: {results['resolved_by']}; unresolved (counted wrong): {results['num_unresolved']}")
        print(f"Wrote {args.out}/results.json, per_row.jsonl and report.html")
        return 0 if results["complete"] else 1
