"""Narrating a split with a registered backend (`movie101v2 narrate`), and the retrieval baseline."""

from ..utils.parallel import DataParallel, RankGroup, launch_data_parallel, merge_shards, pin_rank_gpus, shard_path
from .retrieval import RetrievalBackend, RetrievalIndex, RetrievalRequests, movie_lengths, rename
from .run import NarrateOptions, build_backend, narrate_split, resolve_prompt_settings

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
    "shard_path",
]
