"""Frames and images as the processors take them: clip metadata with timestamps, pixel budgets, tiles, PIL."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..data.sampling import sample_times

# Frame times go to processors as indices of a millisecond clock (`VideoMetadata.timestamps` is index / fps).
_CLOCK = 1000


def clip_metadata(frames: Any, start: float, end: float, times: Sequence[float] | Any | None = None) -> Any:
    """`VideoMetadata` telling a processor the clip time of each frame: `times` (seconds of the movie, as the
    sampler decoded them) less `start`, to the millisecond; without `times`, frames spread evenly over the clip.

    Qwen3-VL and SmolVLM print these times in the prompt; Qwen2.5-VL takes the sampled rate from them.

    Example:
        >>> import torch
        >>> meta = clip_metadata(torch.zeros(4, 3, 2, 2), 10.0, 14.0, [10.5, 11.5, 12.5, 13.5])
        >>> meta.timestamps, meta.sampled_fps
        ([0.5, 1.5, 2.5, 3.5], 1.0)
    """
    from transformers.video_utils import VideoMetadata

    count = int(frames.shape[0])
    duration = max(float(end) - float(start), 1e-3)
    if times is None:
        times = sample_times(float(start), float(start) + duration, count)
    indices = [max(0, round((float(t) - float(start)) * _CLOCK)) for t in times]
    return VideoMetadata(
        total_num_frames=max(round(duration * _CLOCK), indices[-1] + 1),
        fps=float(_CLOCK),
        frames_indices=indices,
        duration=duration,
        height=int(frames.shape[-2]),
        width=int(frames.shape[-1]),
    )


def keyframes_to_frames(images: Sequence[Any]) -> Any:
    """Keyframe images (PIL) as a uint8 T x C x H x W tensor, every image resized to the first one's size.

    Example:
        >>> from PIL import Image
        >>> keyframes_to_frames([Image.new("RGB", (8, 6)), Image.new("RGB", (16, 12))]).shape
        torch.Size([2, 3, 6, 8])
    """
    import numpy as np
    import torch

    size = images[0].size
    arrays = [np.array(image.convert("RGB").resize(size)) for image in images]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def fit_pixels(frames: Any, max_pixels: int) -> Any:
    """Downscale uint8 frames (T x C x H x W or C x H x W) to at most `max_pixels` per frame, aspect kept.

    Example:
        >>> import torch
        >>> fit_pixels(torch.zeros(2, 3, 480, 640, dtype=torch.uint8), 120 * 160).shape
        torch.Size([2, 3, 120, 160])
    """
    import torch

    height, width = frames.shape[-2:]
    if height * width <= max_pixels:
        return frames
    scale = math.sqrt(max_pixels / (height * width))
    size = (max(1, math.floor(height * scale)), max(1, math.floor(width * scale)))
    batch = frames if frames.ndim == 4 else frames[None]
    resized = torch.nn.functional.interpolate(batch.float(), size=size, mode="bilinear", antialias=True)
    resized = resized.round().clamp(0, 255).to(torch.uint8)
    return resized if frames.ndim == 4 else resized[0]


def tile_frames(frames: Any, frames_per_image: int) -> list[Any]:
    """Tile T frames (T x C x H x W) into grid images of `frames_per_image` frames, in reading order.

    The last image is padded with black cells when T is not a multiple of `frames_per_image`.

    Example:
        >>> import torch
        >>> [tuple(t.shape) for t in tile_frames(torch.zeros(6, 3, 10, 20, dtype=torch.uint8), 4)]
        [(3, 20, 40), (3, 20, 40)]
    """
    import torch

    side = math.isqrt(frames_per_image)
    count = frames.shape[0]
    images = []
    for first in range(0, count, frames_per_image):
        cells = list(frames[first : first + frames_per_image])
        cells += [torch.zeros_like(frames[0])] * (frames_per_image - len(cells))
        rows = [torch.cat(cells[r * side : (r + 1) * side], dim=-1) for r in range(side)]
        images.append(torch.cat(rows, dim=-2))
    return images


def to_pil(image: Any) -> Any:
    """A PIL image from a PIL image or a uint8 C x H x W tensor (a frame or a tile)."""
    from PIL import Image

    if isinstance(image, Image.Image):
        return image.convert("RGB")
    return Image.fromarray(image.permute(1, 2, 0).numpy())  # a C x H x W uint8 tensor


def _images_then_frames(image_pixels: Any, images: Any, frames: Any) -> Any:
    """Per sample, its real images (`image_pixels[i, j]` not all zero: the padding SmolVLM's model drops too) and
    then its video frames, zero-padded to one batch tensor (B x N x ... for pixels and their attention masks)."""
    import torch

    samples = []
    for i in range(images.shape[0]):
        real = image_pixels[i].flatten(1).any(dim=1)
        samples.append(torch.cat([images[i][real], frames[i]]))
    count = max(sample.shape[0] for sample in samples)
    height = max(sample.shape[-2] for sample in samples)
    width = max(sample.shape[-1] for sample in samples)
    out = torch.zeros((len(samples), count, *samples[0].shape[1:-2], height, width), dtype=images.dtype)
    for i, sample in enumerate(samples):
        out[i, : sample.shape[0], ..., : sample.shape[-2], : sample.shape[-1]] = sample
    return out


def _pil_to_tensor(image: Any) -> Any:
    import numpy as np
    import torch

    if torch.is_tensor(image):
        return image
    array = np.asarray(image.convert("RGB"))
    return torch.from_numpy(array.copy()).permute(2, 0, 1)
