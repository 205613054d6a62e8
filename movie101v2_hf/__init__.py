"""movie101v2-hf: the Movie101v2 movie-narration benchmark for the Hugging Face stack.

Heavy dependencies (`datasets`, `torch`) load on first use of the names below, so that
`movie101v2 --help` stays fast.

Example:
    >>> from movie101v2_hf import Release
    >>> Release  # doctest: +ELLIPSIS
    <class 'movie101v2_hf.data.release.Release'>
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Release": "data.release",
    "Movie": "data.release",
    "CastMember": "data.release",
    "Clip": "data.release",
    "Movie101v2Builder": "data.builder",
    "Movie101v2Config": "data.builder",
    "prepare_dataset": "data.prepare",
    "PortraitAttacher": "data.loading",
    "load_clips": "data.loading",
    "load_split": "data.loading",
    "ClipSampler": "data.video",
    "FrameSampling": "data.sampling",
    "VideoDecoderCache": "data.decoder_cache",
    "collate_clips": "data.video",
    "make_mini_release": "data.synthetic",
    "make_movie": "data.synthetic",
    "PromptSettings": "prompting",
    "NarrationCollator": "prompting",
    "BACKENDS": "backends",
    "NarrateOptions": "narrate",
    "narrate_split": "narrate",
    "Judge": "judge",
    "PromptSet": "judge",
    "evaluate_predictions": "evaluation",
    "narration_metrics": "evaluation",
    "run_bench": "evaluation",
    "push_dataset": "hub",
    "push_model": "hub",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
