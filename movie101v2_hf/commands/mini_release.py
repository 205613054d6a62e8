"""`movie101v2 mini-release`: the synthetic mini-release the demo and the tests use."""

from __future__ import annotations

import argparse

from ..data.synthetic import make_mini_release
from .base import Command


class MiniRelease(Command):
    name = "mini-release"
    help = "Generate the synthetic mini-release (FFmpeg-made movies, narration, meta, portraits)."

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("out", help="Folder to write; use it as --release. Movies go to OUT/videos.")
        parser.add_argument("--duration", type=int, default=60, help="Seconds per movie (default: 60).")
        parser.add_argument("--seed", type=int, default=0, help="Seed of the narration text (default: 0).")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        out = make_mini_release(args.out, duration=args.duration, seed=args.seed)
        print(f"Wrote {out}. Next: movie101v2 prepare --release {out} --videos {out / 'videos'} --out DIR")
        return 0
