"""`movie101v2 cache-frames`: decode a split's clips once, into a frame cache that training and narrate read."""

from __future__ import annotations

import argparse

from ..data.cache_frames import CacheFramesOptions, cache_frames
from .base import Command, options_from


class CacheFrames(Command):
    name = "cache-frames"
    help = (
        "Fill a frame cache (--frame-cache DIR) with a split's clips, sampled as training or narrate will ask, so "
        "that no epoch and no model decodes them again (resumable, DataLoader workers)."
    )
    options = (CacheFramesOptions,)

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        options = options_from(args, CacheFramesOptions)
        record = cache_frames(options)
        print(record.summary("cached"))
        return 0 if record.complete else 1
