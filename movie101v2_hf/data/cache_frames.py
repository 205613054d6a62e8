"""`movie101v2 cache-frames`: fill a frame cache ahead of training or a benchmark, in DataLoader workers.

Each clip of a split is decoded with the sampling training (or narrate) will ask for, so that their first epoch
already reads from the cache. The run keeps the run layer's contract: one line per clip in its record JSONL
(`{"clip_id", "frames", "from_cache"}`, by default `<frame-cache>/runs/<config>-<split>.jsonl`), resumable, a clip
that fails recorded with its error, the exit code saying whether every clip is in the cache.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..constants import SINGLE_LANGUAGE_CONFIGS, SPLITS
from ..errors import check_minimums
from ..utils.runs import ResumableRun, RunRecord
from .frame_cache import ENCODINGS
from .loading import load_split
from .sampling import FrameSampling
from .video import ClipSampler


@dataclass(kw_only=True)
class CacheFramesOptions:
    """Every option of `movie101v2 cache-frames`; the sampling options are the recipes' (`video_num_frames`, or
    `video_fps` with `video_maxlen`), so the cache holds exactly what training decodes.

    Example:
        >>> CacheFramesOptions(dataset="d", frame_cache="frames", video_fps=2.0).sampling()
        FrameSampling(num_frames=None, fps=2.0, max_frames=16, size=None)
    """

    dataset: str = field(metadata={"help": "A prepared folder or Hub id (prepared with --videos)."})
    frame_cache: str = field(metadata={"help": "The frame-cache folder to fill (created)."})
    config: str = field(default="en", metadata={"help": "A clip config.", "choices": SINGLE_LANGUAGE_CONFIGS})
    split: str = field(default="train", metadata={"help": "train, validation or test.", "choices": SPLITS})
    video_num_frames: int = field(default=16, metadata={"help": "Frames per clip, uniform (default 16)."})
    video_fps: float | None = field(default=None, metadata={"help": "Sample at this rate instead."})
    video_maxlen: int = field(default=16, metadata={"help": "Frame cap with --video-fps (default 16)."})
    encoding: str = field(default="lossless", metadata={"help": "lossless or jpeg.", "choices": ENCODINGS})
    quality: int = field(default=95, metadata={"help": "JPEG quality (jpeg encoding)."})
    max_bytes: int | None = field(default=None, metadata={"help": "Cache size cap; oldest entries evicted."})
    out: str | None = field(
        default=None, metadata={"help": "The run's JSONL (default: <frame-cache>/runs/<config>-<split>.jsonl)."}
    )
    movie_ids: list[str] | None = field(default=None, metadata={"help": "Only these movies."})
    max_samples: int | None = field(default=None, metadata={"help": "Only the first N clips."})
    num_workers: int = field(default=2, metadata={"help": "DataLoader workers decoding in parallel."})
    overwrite: bool = field(default=False, metadata={"help": "Start the run record again (the cache is kept)."})
    show_progress: bool = field(default=True, metadata={"help": "Show a progress bar."})

    def __post_init__(self) -> None:
        check_minimums(self, video_num_frames=1, video_maxlen=1, max_samples=1, num_workers=0, quality=1)

    def sampling(self) -> FrameSampling:
        return FrameSampling.from_video_options(self.video_num_frames, self.video_fps, self.video_maxlen)

    def sampler(self) -> ClipSampler:
        return ClipSampler.of(
            self.sampling(),
            cache_dir=self.frame_cache,
            cache_encoding=self.encoding,
            cache_quality=self.quality,
            cache_max_bytes=self.max_bytes,
        )

    def record_path(self) -> Path:
        if self.out is not None:
            return Path(self.out)
        sampling = hashlib.sha256(json.dumps(self.sampling().describe(), sort_keys=True).encode()).hexdigest()[:8]
        return Path(self.frame_cache) / "runs" / f"{self.config}-{self.split}-{sampling}.jsonl"


class _Fill:
    """DataLoader collate_fn: put one clip in the cache (an error is returned, not raised)."""

    def __init__(self, sampler: ClipSampler) -> None:
        self.sampler = sampler

    def __call__(self, rows: list[dict[str, Any]]) -> tuple[str, Any]:
        row = rows[0]
        try:
            cache = self.sampler.cache
            hits = cache.hits if cache is not None else 0  # this worker's own count: a hit is what decode found
            frames, _ = self.sampler.decode(row["video"], row["start"], row["end"], clip_id=row["clip_id"])
            cached = cache is not None and cache.hits > hits
            return row["clip_id"], {"clip_id": row["clip_id"], "frames": int(frames.shape[0]), "from_cache": cached}
        except Exception as err:  # noqa: BLE001 (recorded per clip)
            return row["clip_id"], err


def cache_frames(options: CacheFramesOptions) -> RunRecord:
    """Decode every clip of a split into `options.frame_cache` (see the module).

    Example:
        >>> options = CacheFramesOptions(dataset=mini_dataset, frame_cache=str(tmp / "frames"), split="test",
        ...                              video_num_frames=4, num_workers=0, show_progress=False)
        >>> cache_frames(options).complete, len(list((tmp / "frames").glob("*/*.frames.npz")))
        (True, 3)
    """
    import torch
    from tqdm.auto import tqdm

    clips = load_split(
        options.dataset,
        options.config,
        options.split,
        needs_video=True,
        movie_ids=options.movie_ids,
        max_samples=options.max_samples,
    )
    sampler = options.sampler()
    settings = {
        "dataset": options.dataset,
        "config": options.config,
        "split": options.split,
        "sampling": options.sampling().describe(),
        "encoding": options.encoding,
        "quality": options.quality,
    }
    inputs = {"--dataset": options.dataset}
    with ResumableRun(
        options.record_path(),
        settings,
        clips["clip_id"],
        job="cache-frames",
        overwrite=options.overwrite,
        inputs=inputs,
    ) as run:
        loader = torch.utils.data.DataLoader(
            clips.select(run.pending), batch_size=1, num_workers=options.num_workers, collate_fn=_Fill(sampler)
        )
        with tqdm(
            total=len(clips),
            initial=len(run.done),
            unit="clip",
            desc="cache-frames",
            disable=not options.show_progress,
        ) as bar:
            for clip_id, result in loader:
                if isinstance(result, Exception):
                    run.fail(clip_id, f"{type(result).__name__}: {result}")
                else:
                    run.write([result])
                bar.update()
    return run.record
