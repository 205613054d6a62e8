"""`movie101v2 push-model`: a trained adapter, or the model merged with it, with its card."""

from __future__ import annotations

import argparse

from ..hub import push_model
from .base import Command


class PushModel(Command):
    name = "push-model"
    help = "Upload a trained adapter (recipes/sft_lora.py output), or the model merged with it, with its card."

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("folder", help="The output_dir of recipes/sft_lora.py.")
        parser.add_argument("--repo-id", required=True, help="ORG/NAME of the model repo (created if missing).")
        parser.add_argument(
            "--merge", action="store_true", help="Merge the adapter into the base model and push that."
        )
        parser.add_argument("--base-model", help="Base model to merge into (default: the adapter's own).")
        parser.add_argument("--results", help="A results.json of `movie101v2 evaluate`: scores for the model-index.")
        parser.add_argument("--private", action="store_true", help="Create the repo as private.")
        parser.add_argument("--revision", help="Branch to push to.")
        parser.add_argument("--commit-message", help="Commit message.")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        url = push_model(
            args.folder,
            args.repo_id,
            merge=args.merge,
            base_model=args.base_model,
            results=args.results,
            private=args.private,
            revision=args.revision,
            commit_message=args.commit_message,
        )
        print(f"Pushed: {url}")
        return 0
