"""The dataset: the release as released (`release`), its `datasets` builder and the prepared folder (`builder`,
`prepare`), loading a prepared dataset for a job (`loading`), lazy clip frames (`video`, `decoder_cache`), the
synthetic mini-release (`synthetic`) and the paper's published tables (`paper`; JSON files beside this one).

Names load on first use, so that importing one module does not import `datasets` and `torch` with it.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Release": "release",
    "Movie101v2Builder": "builder",
    "prepare_dataset": "prepare",
    "PortraitAttacher": "loading",
    "load_clips": "loading",
    "load_portraits": "loading",
    "load_split": "loading",
    "ClipSampler": "video",
    "FrameSampling": "sampling",
    "collate_clips": "video",
    "VideoDecoderCache": "decoder_cache",
    "make_mini_release": "synthetic",
    "make_movie": "synthetic",
    "paper_table2": "paper",
    "paper_table4": "paper",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
