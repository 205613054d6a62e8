"""movie101v2-hf: the Movie101v2 movie-narration benchmark for the Hugging Face stack.

Heavy dependencies (`datasets`, `torch`) load on first use of the names below, so that
`movie101v2 --help` stays fast.

Example:
    >>> from movie101v2_hf import Release
    >>> Release  # doctest: +ELLIPSIS
    <class 'movie101v2_hf.release.Release'>
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Release": "release",
    "Movie": "release",
    "CastMember": "release",
    "Clip": "release",
    "Movie101v2Builder": "builder",
    "Movie101v2Config": "builder",
    "prepare_dataset": "dataset",
    "PortraitAttacher": "dataset",
    "ClipSampler": "video",
    "collate_clips": "video",
    "make_mini_release": "synthetic",
    "make_movie": "synthetic",
    "push_dataset": "hub",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
