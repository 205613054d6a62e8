"""Narrating a split with a registered backend (`movie101v2 narrate`), and the retrieval baseline."""

from .retrieval import RetrievalBackend, RetrievalIndex, RetrievalRequests, movie_lengths, rename
from .run import (
    DataParallel,
    NarrateOptions,
    build_backend,
    launch_data_parallel,
    merge_shards,
    narrate_split,
    rank_state,
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
    "rank_state",
    "rename",
    "resolve_prompt_settings",
    "run_narration",
    "shard_path",
]
