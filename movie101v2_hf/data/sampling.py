"""Which frames of a clip: `FrameSampling`, the one description of frame sampling every consumer takes (the
`ClipSampler`, the narration and ShotBench collators, training rows, vLLM's media limits), and `sample_times`.

Two modes: a fixed count spread uniformly over the clip (`num_frames`; the paper uses 16), or a rate (`fps`; the
paper uses 1-2) with a cap (`max_frames`): a longer clip is subsampled uniformly over its whole length, never cut
short. `size` resizes frames in the decoder. The recipes' and LLaMA-Factory's names (`video_num_frames`,
`video_fps`, `video_maxlen`) map onto these fields in `PromptSettings.frame_sampling()`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


def sample_times(start: float, end: float, num_frames: int) -> list[float]:
    """Times of `num_frames` frames spread uniformly over `[start, end]`: the centre of equal bins.

    Example:
        >>> sample_times(10.0, 14.0, 4)
        [10.5, 11.5, 12.5, 13.5]
    """
    step = (end - start) / num_frames
    return [start + (k + 0.5) * step for k in range(num_frames)]


@dataclass(frozen=True)
class FrameSampling:
    """How a clip's frames are chosen (see the module).

    Example:
        >>> FrameSampling(fps=2, max_frames=8).count(0.0, 3.2), FrameSampling(num_frames=4).times(10.0, 14.0)
        (6, [10.5, 11.5, 12.5, 13.5])
        >>> FrameSampling(fps=2, max_frames=8).max_count, FrameSampling(num_frames=16).describe()
        (8, {'num_frames': 16, 'fps': None, 'max_frames': None, 'size': None})
    """

    num_frames: int | None = 16
    fps: float | None = None
    max_frames: int | None = None
    size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.fps is not None:
            object.__setattr__(self, "num_frames", None)  # fps mode; num_frames has a default for the other mode
            if self.fps <= 0:
                raise ValueError(f"Invalid fps: {self.fps}. It must be > 0.")
        elif self.num_frames is None or self.num_frames < 1:
            raise ValueError(f"Invalid num_frames: {self.num_frames}. It must be >= 1 (or give fps instead).")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"Invalid max_frames: {self.max_frames}. It must be >= 1.")
        if self.size is not None:
            size = tuple(int(s) for s in self.size)
            if len(size) != 2 or min(size) < 1:
                raise ValueError(f"Invalid size: {self.size}. It must be (height, width) with both >= 1.")
            object.__setattr__(self, "size", size)

    @classmethod
    def from_video_options(cls, video_num_frames: int, video_fps: float | None, video_maxlen: int) -> FrameSampling:
        """The sampling of the recipes' (and LLaMA-Factory's) names: `video_num_frames`, or `video_fps` with at
        most `video_maxlen` frames.

        Example:
            >>> FrameSampling.from_video_options(16, 2.0, 8) == FrameSampling(fps=2.0, max_frames=8)
            True
        """
        if video_fps is not None:
            return cls(fps=video_fps, max_frames=video_maxlen)
        return cls(num_frames=video_num_frames)

    def count(self, start: float, end: float) -> int:
        """How many frames a clip of `[start, end]` gets."""
        if self.num_frames is not None:
            return self.num_frames
        assert self.fps is not None  # one of the two modes, checked on construction
        count = max(1, math.floor((end - start) * self.fps + 1e-9))
        return min(count, self.max_frames) if self.max_frames is not None else count

    def times(self, start: float, end: float) -> list[float]:
        """The times asked of the decoder for a clip of `[start, end]`."""
        return sample_times(start, end, self.count(start, end))

    @property
    def max_count(self) -> int | None:
        """The most frames any clip gets (None: no cap, at `fps` without `max_frames`)."""
        return self.num_frames if self.num_frames is not None else self.max_frames

    def describe(self) -> dict[str, Any]:
        """The sampling as plain values (run settings, cache keys)."""
        values = asdict(self)
        values["size"] = list(self.size) if self.size is not None else None
        return values
