"""`movie101v2 push-metrics`: the `evaluate` modules to Hub Spaces (`evaluate.load("ORG/l1_score")`)."""

from __future__ import annotations

import argparse

from ..evaluation.evaluate import METRIC_MODULES
from ..metric_spaces import push_metrics
from .base import Command


class PushMetrics(Command):
    name = "push-metrics"
    help = (
        "Create or update one Hub Space per evaluate module (ORG/l1_score, ...), so that evaluate.load('ORG/l1_score') "
        "works; only changed files are uploaded (token from `hf auth login` or HF_TOKEN)."
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--org", required=True, help="The user or organization that will own the Spaces.")
        parser.add_argument(
            "--names",
            nargs="+",
            choices=METRIC_MODULES,
            help=f"Only these modules (default: all of {METRIC_MODULES}).",
        )
        parser.add_argument("--private", action="store_true", help="Create the Spaces as private.")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        pushed = push_metrics(args.org, names=args.names, private=args.private)
        for repo_id, files in pushed.items():
            state = f"uploaded {', '.join(files)}" if files else "unchanged, nothing uploaded"
            print(f'{repo_id}: {state}. Load it with evaluate.load("{repo_id}")')
        return 0
