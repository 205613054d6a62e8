"""`movie101v2 stats`: a prepared dataset's statistics beside the paper's Table 1, with Figs 2 and 3."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..analysis.stats import StatsOptions, run_stats
from .base import Command, options_from


class Stats(Command):
    name = "stats"
    help = (
        "Dataset statistics as in the paper: movies, clips, L_v, L_t, N_char per config and split beside Table 1, "
        "casts and genres, and the distributions of Figs 2 and 3 (stats.json, table1.md, PNG)."
    )
    options = (StatsOptions,)

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        options = options_from(args, StatsOptions)
        run_stats(options)
        print((Path(options.out) / "table1.md").read_text("utf-8"))
        print(f"Wrote {options.out}/stats.json, table1.md, fig2_characters.png and fig3_lengths.png")
        return 0
