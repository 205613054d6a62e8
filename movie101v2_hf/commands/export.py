"""`movie101v2 export`: narrations as audio description: tracks, speech, a ducked mix and a player page."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..ad.export import ExportOptions, export_ad
from .base import Command, options_from


class Export(Command):
    name = "export"
    help = (
        "Turn predictions (or --references) into audio description per movie: WebVTT, SRT and DAPT tracks, with "
        "--speak each cue spoken (espeak-ng or Piper), the AD track and the movie with a ducked AD mix (.ad.mkv), "
        "and a player page (resumable)."
    )
    options = (ExportOptions,)

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        options = options_from(args, ExportOptions)
        record = export_ad(options)
        print(record.summary("exported", unit="movie"))
        pages = sorted(Path(options.out).glob("*.html"))
        if pages:
            print(f"Player pages: {', '.join(str(p) for p in pages[:3])}{' ...' if len(pages) > 3 else ''}")
        return 0 if record.complete else 1
