"""`movie101v2 demo`: what `make demo` runs."""

from __future__ import annotations

import argparse

from ..demo import run_demo
from ..evaluation import build_judge
from ..llm import LLM_BACKENDS
from .base import Command


class Demo(Command):
    name = "demo"
    help = (
        "Prepare, load, sample clip frames, then narrate (retrieval baseline), evaluate and report "
        "(the mini-release unless --release)."
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--release", help="A copy of the real release (default: generate the mini-release).")
        parser.add_argument("--videos", help="Folder of <movie_id>.mp4 for --release.")
        parser.add_argument("--out", default="demo-output", help="Output folder (default: demo-output).")
        parser.add_argument("--split", default="test", choices=["train", "validation", "test"])
        parser.add_argument("--num-clips", type=int, default=4, help="Clips on the contact sheet (default: 4).")
        parser.add_argument("--num-frames", type=int, default=8, help="Frames per clip (default: 8).")
        parser.add_argument("--num-workers", type=int, default=2, help="DataLoader workers (default: 2).")
        judge = parser.add_argument_group(
            "LLM judge: adds L1/L2 to the benchmark loop (official prompts with --release)"
        )
        judge.add_argument("--judge-backend", choices=LLM_BACKENDS.names())
        judge.add_argument("--judge-model", help="Default: the paper's judge for English.")
        judge.add_argument("--judge-url", help="Base URL of an OpenAI-compatible server (openai backend).")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        if args.videos and not args.release:
            raise ValueError("--videos needs --release (the mini-release brings its own movies).")
        judge = None
        if args.judge_backend:
            judge = build_judge(
                language="en",
                backend=args.judge_backend,
                model=args.judge_model,
                url=args.judge_url,
                release=args.release,
            )
        run_demo(
            args.out,
            release=args.release,
            videos=args.videos,
            split=args.split,
            num_clips=args.num_clips,
            num_frames=args.num_frames,
            num_workers=args.num_workers,
            judge=judge,
        )
        return 0
