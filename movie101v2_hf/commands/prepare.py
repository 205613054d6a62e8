"""`movie101v2 prepare`: a copy of the release into a script-free dataset folder."""

from __future__ import annotations

import argparse

from ..constants import CONFIG_NAMES
from ..data.prepare import prepare_dataset
from .base import Command


class Prepare(Command):
    name = "prepare"
    help = "Turn a copy of the Movie101v2 release into a script-free Hugging Face dataset folder."

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--release",
            required=True,
            help="Root of a copy of the Movie101 repository "
            "(the folder holding Movie101v2/), or its Movie101v2/data folder.",
        )
        parser.add_argument("--out", required=True, help="Folder to write (Parquet shards and a README).")
        videos = parser.add_mutually_exclusive_group()
        videos.add_argument("--videos", help="Folder of <movie_id>.mp4; clip rows then carry a `video` column.")
        videos.add_argument("--video-base", help="URL or hf:// prefix holding <movie_id>.mp4 (clips stream from it).")
        parser.add_argument("--configs", nargs="+", choices=CONFIG_NAMES, help="Configs to build (default: all).")
        parser.add_argument("--split-file", help="A public_split.json to use instead of the release's own.")
        parser.add_argument("--overwrite", action="store_true", help="Replace --out if it holds a prepared dataset.")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        prepared = prepare_dataset(
            args.release,
            args.out,
            videos=args.videos,
            video_base=args.video_base,
            configs=args.configs,
            split_file=args.split_file,
            overwrite=args.overwrite,
        )
        print(prepared.summary())
        print(f'Wrote {prepared.path}. Load it with: datasets.load_dataset("{prepared.path}", "en")')
        return 0
