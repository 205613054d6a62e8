"""`movie101v2 push-dataset`: a prepared folder to a private Hub dataset repo."""

from __future__ import annotations

import argparse

from ..hub import push_dataset
from .base import Command


class PushDataset(Command):
    name = "push-dataset"
    help = (
        "Upload a prepared folder to a private Hub dataset repo (token from `hf auth login` or HF_TOKEN). Movie101v2's "
        "terms forbid public distribution of the dataset and its derivatives: a public repo needs the licensor's "
        "permission."
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("folder", help="A folder written by `movie101v2 prepare`.")
        parser.add_argument(
            "--repo-id", required=True, help="ORG/NAME of the dataset repo (created private if missing)."
        )
        visibility = parser.add_mutually_exclusive_group()
        visibility.add_argument("--private", action="store_true", help="Create the repo as private (the default).")
        visibility.add_argument(
            "--public",
            action="store_true",
            help="Create the repo as public; refused without --i-have-the-licensors-permission.",
        )
        parser.add_argument(
            "--i-have-the-licensors-permission",
            dest="licensor_permission",
            action="store_true",
            help="You have the Movie101 authors' permission to publish this derivative publicly "
            "(needed for --public, or to push into an existing public repo).",
        )
        parser.add_argument("--revision", help="Branch to push to.")
        parser.add_argument("--commit-message", help="Commit message.")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        url = push_dataset(
            args.folder,
            args.repo_id,
            private=not args.public,
            licensor_permission=args.licensor_permission,
            revision=args.revision,
            commit_message=args.commit_message,
        )
        print(f'Pushed: {url}\nLoad it with: datasets.load_dataset("{args.repo_id}", "en")')
        return 0
