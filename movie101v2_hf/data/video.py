"""Lazy clip decoding: sample a clip's frames from the full-length movie on access.

Clip rows point at whole movies (`video` column) and carry `start`/`end` in seconds. `ClipSampler`
decodes only the frames it needs, in one batched call, from a decoder it keeps open per movie and per
process (`VideoDecoderCache`; DataLoader workers each have their own). It opens decoders in torchcodec's approximate
seek mode, which reads the container's index instead of scanning the whole file: that is what makes
clips from a two-hour movie, or from one streamed over HTTP range requests, cheap.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ClipDecodeError, require
from .decoder_cache import VideoDecoderCache
from .frame_cache import FrameCache, movie_identity
from .sampling import FrameSampling, sample_times  # noqa: F401  (sample_times: re-exported, it lived here)

logger = logging.getLogger(__name__)


def _is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


@dataclass
class ClipSampler:
    """Sample frames of clips lazily from full-length movies.

    Give either `num_frames` (uniform over the clip; the paper uses 16) or `fps` (the paper uses 1-2), or a whole
    `FrameSampling` with `ClipSampler.of(sampling)`; `sampler.sampling` is the `FrameSampling` in use.
    Usable as a transform on a batch or on a single example, so it plugs into
    `Dataset.with_transform`, `IterableDataset.map` and a torch `DataLoader` with workers; `apply`
    does the set-up for you.

    Args:
        num_frames (`int`, *optional*, defaults to 16): frames per clip, uniform over `[start, end]`.
        fps (`float`, *optional*): sample at this rate instead (at least one frame per clip).
        max_frames (`int`, *optional*): cap for `fps` mode; longer clips are subsampled uniformly over
            their whole length, never cut short.
        size (`tuple[int, int]`, *optional*): resize frames to `(height, width)` in the decoder.
        end_tolerance (`float`, defaults to 1.0): seconds a clip may end past the movie's end (annotations
            are rounded to whole seconds); frames past the end are taken from the last moment.
        max_open_decoders (`int`, defaults to 4): decoders kept open per process, least recently used dropped.
        remote_block_size (`int`, defaults to 1 MiB): bytes per HTTP range request for movies at a URL or `hf://`.
        cache_dir (`str`, *optional*): a `FrameCache` folder: a clip's frames are stored the first time they are
            decoded and read back after (keyed by the movie's identity, the clip and the sampling; see
            `data.frame_cache`). `cache_encoding` (`lossless` or `jpeg`), `cache_quality` (JPEG) and
            `cache_max_bytes` (least recently used entries evicted beyond it) configure it.
        device (`str`, defaults to `"cpu"`): `"cuda"` decodes with torchcodec's CUDA decoder (NVDEC); frames come
            back on that device (the frame cache stores and returns them on the CPU).

    Returns (from `__call__`):
        the example or batch with `frames` (uint8 tensor, T x C x H x W) and `frame_timestamps` (float64
        tensor, seconds, each inside `[start, end]`) added.

    Example:
        >>> from datasets import load_dataset
        >>> ds = load_dataset(mini_dataset, "en", split="test")
        >>> ds = ClipSampler(num_frames=16).apply(ds)
        >>> ds[0]["frames"].shape
        torch.Size([16, 3, 240, 320])
    """

    num_frames: int | None = 16
    fps: float | None = None
    max_frames: int | None = None
    size: tuple[int, int] | None = None
    end_tolerance: float = 1.0
    max_open_decoders: int = 4
    remote_block_size: int = 1 << 20
    video_column: str = "video"
    cache_dir: str | None = None
    cache_encoding: str = "lossless"
    cache_quality: int = 95
    cache_max_bytes: int | None = None
    device: str = "cpu"
    decoders: VideoDecoderCache = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.sampling = FrameSampling(self.num_frames, self.fps, self.max_frames, self.size)  # checks them
        self.num_frames, self.size = self.sampling.num_frames, self.sampling.size
        require("torchcodec", extra="video", feature="Clip decoding")
        self.decoders = VideoDecoderCache(self.max_open_decoders)
        self.cache = None
        if self.cache_dir is not None:
            self.cache = FrameCache(self.cache_dir, self.cache_encoding, self.cache_quality, self.cache_max_bytes)
        self._remote_identities: dict[str, dict[str, Any]] = {}  # a URL's metadata, asked once per process

    # -- which frames -----------------------------------------------------------------------------------------

    def frame_count(self, start: float, end: float) -> int:
        """How many frames a clip of `[start, end]` gets.

        Example:
            >>> ClipSampler(fps=2, max_frames=8).frame_count(0.0, 3.2)
            6
        """
        return self.sampling.count(start, end)

    @classmethod
    def of(cls, sampling: FrameSampling, **options: Any) -> ClipSampler:
        """The sampler of a `FrameSampling` (`options`: the decoder's, e.g. `max_open_decoders`).

        Example:
            >>> ClipSampler.of(FrameSampling(fps=1, max_frames=4)).frame_count(0.0, 10.0)
            4
        """
        return cls(sampling.num_frames, sampling.fps, sampling.max_frames, sampling.size, **options)

    # -- decoding ---------------------------------------------------------------------------------------------

    def decode(self, video: Any, start: float, end: float, *, clip_id: str | None = None) -> tuple[Any, Any]:
        """Frames and their timestamps for one clip.

        Args:
            video: the clip's `video` value: a path or URL, a `{"path": ..., "bytes": ...}` dict (a `Video`
                column with `decode=False`) or a torchcodec `VideoDecoder`.
            start, end: the clip's bounds in seconds.
            clip_id: named in errors.

        Returns:
            `(frames, timestamps)`: a uint8 tensor T x C x H x W and a float64 tensor of T seconds.

        Raises:
            ClipDecodeError: the movie file is missing or corrupt, or the clip lies past its end.
        """
        from torchcodec.decoders import VideoDecoder

        if isinstance(video, VideoDecoder):
            return self._sample(video, "<VideoDecoder>", start, end, clip_id)
        path = self._path(video, clip_id)
        key = self.cache_key(path, start, end)
        if key is not None and (cached := self.cache.get(key)) is not None:  # type: ignore[union-attr]
            return cached
        with self.decoders.use(path, lambda path: self._open(path, clip_id)) as decoder:
            frames, times = self._sample(decoder, path, start, end, clip_id)
        if key is not None:
            self.cache.put(key, frames.cpu(), times)  # type: ignore[union-attr]
        return frames, times

    def cache_key(self, path: str, start: float, end: float) -> str | None:
        """The clip's frame-cache entry, or None without a cache (or for a movie that cannot be found: decoding
        then says why)."""
        if self.cache is None:
            return None
        try:
            if _is_remote(path):
                if path not in self._remote_identities:
                    self._remote_identities[path] = movie_identity(path)
                identity = self._remote_identities[path]
            else:
                identity = movie_identity(path)
        except (FileNotFoundError, OSError):
            return None
        return self.cache.key(identity, start, end, self.sampling, seek_mode="approximate", device=self.device)

    def duration(self, video: Any) -> float:
        """The length in seconds of a movie (a path or `{"path": ...}`), from its open decoder.

        Example:
            >>> from movie101v2_hf.data.synthetic import make_movie
            >>> ClipSampler(fps=12).duration(str(make_movie(tmp / "shot.mp4", duration=4, fps=10)))
            4.0
        """
        path = self._path(video, None)
        with self.decoders.use(path, lambda path: self._open(path, None)) as decoder:
            return float(decoder.metadata.end_stream_seconds or decoder.metadata.duration_seconds)

    def _sample(self, decoder: Any, name: str, start: float, end: float, clip_id: str | None) -> tuple[Any, Any]:
        import torch

        duration = decoder.metadata.end_stream_seconds or decoder.metadata.duration_seconds
        if end < start:
            raise ClipDecodeError(f"end {end} is before start {start}", clip_id=clip_id, video=name)
        if start >= duration or end > duration + self.end_tolerance:
            raise ClipDecodeError(
                f"the clip [{start:.2f}s, {end:.2f}s] lies past the movie's end ({duration:.2f}s). Check that the "
                "file is the full-length movie of this movie id, not a trailer or a cut.",
                clip_id=clip_id,
                video=name,
            )
        times = self.sampling.times(start, end)
        # A frame is "played at" t for t < end of stream; the last instant is just before it.
        last = duration - 1e-3
        try:
            batch = decoder.get_frames_played_at(seconds=[min(t, last) for t in times])
        except RuntimeError as err:
            raise ClipDecodeError(
                f"decoding failed; the file may be corrupt or incomplete: {err}", clip_id=clip_id, video=name
            ) from err
        return batch.data, torch.tensor(times, dtype=torch.float64)

    @staticmethod
    def _path(video: Any, clip_id: str | None) -> str:
        if isinstance(video, dict):
            if video.get("path") is None:
                raise ClipDecodeError(
                    "the row's video has no path; clips must point at movie files", clip_id=clip_id, video="?"
                )
            video = video["path"]
        if video is None:
            raise ClipDecodeError(
                "this row has no movie. Prepare the dataset with --videos DIR or --video-base URL.",
                clip_id=clip_id,
                video="None",
            )
        return str(video)

    def _open(self, path: str, clip_id: str | None) -> tuple[Any, Any]:
        """A new decoder for `path`, and the remote file object it reads from (None for local files)."""
        from torchcodec.decoders import VideoDecoder

        transforms = None
        if self.size is not None:
            from torchcodec.transforms import Resize

            transforms = [Resize(size=self.size)]
        handle = None
        source: Any = path.removeprefix("file://")
        if _is_remote(path):
            import fsspec

            try:
                # Range requests: only the container index and the clip's packets are fetched.
                handle = fsspec.open(path, "rb", block_size=self.remote_block_size).open()
            except (FileNotFoundError, OSError) as err:
                raise ClipDecodeError(f"cannot open the remote movie: {err}", clip_id=clip_id, video=path) from err
            source = handle
        elif not os.path.isfile(source):
            raise ClipDecodeError(
                "the movie file does not exist. Point --videos at the folder holding <movie_id>.mp4 "
                "(or re-run `movie101v2 prepare` with the right --videos / --video-base).",
                clip_id=clip_id,
                video=path,
            )
        try:
            return VideoDecoder(source, seek_mode="approximate", transforms=transforms, device=self.device), handle
        except (RuntimeError, ValueError) as err:
            if handle is not None:
                handle.close()
            raise ClipDecodeError(
                f"the file cannot be decoded as a video (corrupt or incomplete?): {err}", clip_id=clip_id, video=path
            ) from err

    # -- as a transform ---------------------------------------------------------------------------------------

    def __call__(self, example_or_batch: dict[str, Any]) -> dict[str, Any]:
        """Add `frames` and `frame_timestamps` to an example, or to each row of a batch (a dict of lists)."""
        if self.video_column not in example_or_batch:
            raise KeyError(
                f"The rows have no {self.video_column!r} column. Prepare the dataset with --videos DIR or "
                "--video-base URL so that clips point at their movies."
            )
        out = dict(example_or_batch)
        values = example_or_batch[self.video_column]
        starts, ends = example_or_batch["start"], example_or_batch["end"]
        if isinstance(starts, Sequence):  # a batch
            ids = example_or_batch.get("clip_id", [None] * len(starts))
            decoded = [self.decode(v, s, e, clip_id=i) for v, s, e, i in zip(values, starts, ends, ids)]
            out["frames"] = [frames for frames, _ in decoded]
            out["frame_timestamps"] = [times for _, times in decoded]
        else:
            out["frames"], out["frame_timestamps"] = self.decode(
                values, starts, ends, clip_id=example_or_batch.get("clip_id")
            )
        return out

    def apply(self, dataset: Any) -> Any:
        """Return `dataset` with frames sampled on access.

        Casts the video column to `Video(decode=False)` first, so that `datasets` does not open (and scan)
        each movie itself, then uses `with_transform` on a `Dataset` or `map` on an `IterableDataset`.

        Example:
            >>> ClipSampler(fps=1, max_frames=32).apply(test)[0]["frames"].shape[1:]
            torch.Size([3, 240, 320])
        """
        from datasets import IterableDataset, Video

        if self.video_column not in (dataset.column_names or []):
            raise KeyError(
                f"The dataset has no {self.video_column!r} column. Prepare it with --videos DIR or --video-base URL."
            )
        dataset = dataset.cast_column(self.video_column, Video(decode=False))
        if isinstance(dataset, IterableDataset):
            return dataset.map(self)
        return dataset.with_transform(self)

    def close(self) -> None:
        """Close the open decoders and remote files."""
        self.decoders.close()


def collate_clips(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A DataLoader `collate_fn` for sampled clips.

    Frames are stacked into B x T x C x H x W when every clip has the same shape (`num_frames` mode)
    and kept as a list otherwise (`fps` mode); every other column becomes a list, `None`s included
    (a movie's first clip has no `prev_narration`, which torch's default collate rejects).

    Example:
        >>> from torch.utils.data import DataLoader
        >>> sampler = ClipSampler(num_frames=4, size=(90, 160))
        >>> loader = DataLoader(sampler.apply(test), batch_size=2, num_workers=0, collate_fn=collate_clips)
        >>> next(iter(loader))["frames"].shape
        torch.Size([2, 4, 3, 90, 160])
    """
    import torch

    batch: dict[str, Any] = {key: [row[key] for row in rows] for key in rows[0]}
    for key in ("frames", "frame_timestamps"):
        values = batch.get(key)
        if values and all(v.shape == values[0].shape for v in values):
            batch[key] = torch.stack(values)
    return batch
