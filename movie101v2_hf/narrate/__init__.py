"""Narrating a split with a registered backend (`movie101v2 narrate`), and the retrieval baseline."""

from .retrieval import RetrievalBackend, RetrievalIndex, RetrievalRequests, movie_lengths, rename
from .run import (
    DataParallel,
    NarrateOptions,
    RankGroup,
    build_backend,
    launch_data_parallel,
    merge_shards,
    narrate_split,
    pin_rank_gpus,
    resolve_prompt_settings,
    run_narration,
    shard_path,
)

__all__ = [
    "DataParallel",
    "NarrateOptions",
    "RetrievalBackend",
    "RetrievalIndex",
    "RetrievalRequests",
    "build_backend",
    "launch_data_parallel",
    "merge_shards",
    "movie_lengths",
    "narrate_split",
    "RankGroup",
    "pin_rank_gpus",
    "rename",
    "resolve_prompt_settings",
    "run_narration",
    "shard_path",
]
