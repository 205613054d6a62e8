"""How a clip is put to a video LLM: frames, cast portraits with names, the instruction, the narration.

The same construction serves training (`NarrationCollator.__call__`: a batch with labels on the narration
only) and inference (`NarrationCollator.prompt_inputs`: the prompt alone, ready for `generate`), so a
fine-tuned model is evaluated the way it was trained. `PromptSettings` holds every choice that shapes the
prompt; a training run saves it next to its adapter (`movie101v2_prompt.json`) for inference to read back.

Two input modes, as in the paper:

- `video`: frames go to the processor as one video (Qwen2.5-VL, Qwen3-VL, LLaVA-OneVision, InternVL3,
  SmolVLM2), with their timestamps so that models which print them (Qwen3-VL, SmolVLM2) see clip time;
- `images`: frames are tiled into a few grid images, for models that take images only.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .data.sampling import FrameSampling, sample_times
from .data.video import ClipSampler

PROMPT_SETTINGS_FILE = "movie101v2_prompt.json"
IGNORE_INDEX = -100  # the label value that `transformers` losses skip

# The instruction is ours (the paper does not publish its training prompt); it asks for what the judge scores.
INSTRUCTIONS = {
    "en": (
        "Narrate this movie clip for blind and low-vision viewers in one paragraph: describe the setting, "
        "who is on screen and what they do, calling the characters by name."
    ),
    "zh": "请为视障观众用一段话讲述这段电影片段：描述场景、出场的人物和他们的动作，并用名字称呼角色。",
}
_CAST_HEADER = {"en": "Main cast:", "zh": "主要角色："}
_FRAMES_HEADER = {"en": "Clip frames:", "zh": "片段画面："}
_IDENTIFIED_HEADER = {"en": "Recognised on screen:", "zh": "画面中识别出的角色："}


@dataclass
class PromptSettings:
    """Every choice that shapes a clip's prompt; recipe fields carry the same names.

    Frame and pixel options are named as in LLaMA-Factory and ms-swift (`video_fps`, `video_maxlen`,
    `video_max_pixels`, `image_max_pixels`).

    Args:
        language: `"en"` or `"zh"`: the instruction, the names of the characters, the narration column.
        input_mode: `"video"` (frames as one video) or `"images"` (frames tiled into grid images).
        video_num_frames: frames per clip, uniform over the whole clip (the paper uses 16). Ignored when
            `video_fps` is set.
        video_fps: sample at this rate instead, at most `video_maxlen` frames; a longer clip is
            subsampled uniformly over its whole length, never cut short.
        video_maxlen: the frame cap in `video_fps` mode.
        video_max_pixels: frames are downscaled (aspect kept) to at most this many pixels before the
            processor sees them; the main lever on the number of video tokens.
        image_max_pixels: the same for cast portraits.
        frames_per_image: `images` mode: frames per tiled image (a square number: 4 = 2x2).
        max_portraits: at most this many cast portraits with their names (the paper uses up to 5); 0 for none.
        instruction: the request after the frames; defaults to `INSTRUCTIONS[language]`.
        identified_characters_column: a column of names found on screen (e.g. by `movie101v2 faces`); when
            set, the names are listed in the prompt and their portraits come first. Off by default.

    Example:
        >>> PromptSettings(video_fps=2, video_maxlen=8).sampler().frame_count(0.0, 20.0)
        8
    """

    language: str = "en"
    input_mode: str = "video"
    video_num_frames: int = 16
    video_fps: float | None = None
    video_maxlen: int = 16
    video_max_pixels: int = 256 * 256
    image_max_pixels: int = 224 * 224
    frames_per_image: int = 4
    max_portraits: int = 5
    instruction: str | None = None
    identified_characters_column: str | None = None

    def __post_init__(self) -> None:
        if self.language not in INSTRUCTIONS:
            raise ValueError(f"Invalid language {self.language!r}; expected one of {sorted(INSTRUCTIONS)}.")
        if self.input_mode not in ("video", "images"):
            raise ValueError(f"Invalid input_mode {self.input_mode!r}; expected 'video' or 'images'.")
        if math.isqrt(self.frames_per_image) ** 2 != self.frames_per_image:
            raise ValueError(f"frames_per_image must be a square number (1, 4, 9, ...), got {self.frames_per_image}.")
        for name in ("video_max_pixels", "image_max_pixels", "video_maxlen", "video_num_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if self.max_portraits < 0:
            raise ValueError(f"max_portraits must be >= 0, got {self.max_portraits}.")

    def frame_sampling(self) -> FrameSampling:
        """The `FrameSampling` these settings describe (`video_*` are LLaMA-Factory's names for its fields)."""
        if self.video_fps is not None:
            return FrameSampling(fps=self.video_fps, max_frames=self.video_maxlen)
        return FrameSampling(num_frames=self.video_num_frames)

    def sampler(self) -> ClipSampler:
        """The `ClipSampler` these settings describe."""
        return ClipSampler.of(self.frame_sampling())

    def save(self, folder: str | Path) -> Path:
        """Write the settings as `folder/movie101v2_prompt.json`."""
        path = Path(folder) / PROMPT_SETTINGS_FILE
        path.write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, folder: str | Path) -> PromptSettings:
        """Read the settings a training run saved with its adapter.

        Raises:
            FileNotFoundError: the folder has no `movie101v2_prompt.json`.
        """
        path = Path(folder) / PROMPT_SETTINGS_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} does not exist: {folder} was not written by recipes/sft_lora.py. Pass the prompt options "
                "(--video_num_frames, --max_portraits, ...) explicitly instead."
            )
        values = json.loads(path.read_text("utf-8"))
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


_OVERRIDE_HELP = {
    "input_mode": "video (frames as one video) or images (frames tiled into images).",
    "video_num_frames": "Frames per clip, uniform over the clip (default 16).",
    "video_fps": "Sample at this rate instead, at most --video-maxlen frames.",
    "video_maxlen": "Frame cap with --video-fps (default 16).",
    "video_max_pixels": "Pixel budget per frame (default 65536).",
    "image_max_pixels": "Pixel budget per portrait (default 50176).",
    "frames_per_image": "images mode: frames per tiled image (a square number).",
    "max_portraits": "Cast portraits with names in the prompt (default 5; 0 for none).",
    "instruction": "The request after the frames (default: the package's instruction).",
    "identified_characters_column": "A column of names recognised on screen to list in the prompt (--faces sets "
    "it); off by default.",
}


@dataclass(kw_only=True)
class PromptOverrides:
    """`PromptSettings` fields a job may set; None keeps the adapter's saved value (else the default).

    Jobs that build prompts (narrate, bench) take these as options of their own, so one declaration gives the
    command line its flags: `--video-num-frames 8`, `--max-portraits 0`, ...

    Example:
        >>> PromptOverrides(video_num_frames=8).prompt
        {'video_num_frames': 8}
    """

    input_mode: str | None = field(default=None, metadata={"help": _OVERRIDE_HELP["input_mode"]})
    video_num_frames: int | None = field(default=None, metadata={"help": _OVERRIDE_HELP["video_num_frames"]})
    video_fps: float | None = field(default=None, metadata={"help": _OVERRIDE_HELP["video_fps"]})
    video_maxlen: int | None = field(default=None, metadata={"help": _OVERRIDE_HELP["video_maxlen"]})
    video_max_pixels: int | None = field(default=None, metadata={"help": _OVERRIDE_HELP["video_max_pixels"]})
    image_max_pixels: int | None = field(default=None, metadata={"help": _OVERRIDE_HELP["image_max_pixels"]})
    frames_per_image: int | None = field(default=None, metadata={"help": _OVERRIDE_HELP["frames_per_image"]})
    max_portraits: int | None = field(default=None, metadata={"help": _OVERRIDE_HELP["max_portraits"]})
    instruction: str | None = field(default=None, metadata={"help": _OVERRIDE_HELP["instruction"]})
    identified_characters_column: str | None = field(
        default=None, metadata={"help": _OVERRIDE_HELP["identified_characters_column"]}
    )

    @property
    def prompt(self) -> dict[str, Any]:
        """The overrides that are set."""
        return {f.name: getattr(self, f.name) for f in fields(PromptOverrides) if getattr(self, f.name) is not None}


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


@dataclass
class NarrationCollator:
    """Turn clip rows into model inputs for a video LLM, with the loss on the narration tokens only.

    Each row is a clip of a prepared Movie101v2 config with a `video` column (`movie101v2 prepare --videos`).
    For each clip the collator samples frames from the full movie with `ClipSampler`, attaches up to
    `max_portraits` cast portraits with the characters' names (the movie's main cast in billing order; the
    names of `identified_characters_column` first when set), builds the chat with the processor's own chat
    template, and runs the processor once for the batch.

    Args:
        processor: the model's `AutoProcessor`.
        settings: the prompt settings (frames, pixels, portraits, language, input mode).
        portraits: a `PortraitAttacher` over the dataset's `movies` config, or None for no portraits. Rows that
            already carry a `portraits` column use it instead.
        max_length: the longest sequence; a longer narration is cut, a longer prompt is an error (lower the
            frame or pixel budget instead: cutting video tokens would break the processor's placeholders).
        record_clip_ids: a folder; every clip put into a training batch is appended to
            `<folder>/rank-<RANK>.txt`, to audit what each process trained on.

    Example:
        >>> collator = NarrationCollator(processor, PromptSettings(language="en"), portraits=attacher)  # doctest: +SKIP
        >>> batch = collator([train[0], train[1]])  # doctest: +SKIP
        >>> sorted(batch)  # doctest: +SKIP
        ['attention_mask', 'input_ids', 'labels', 'mm_token_type_ids', 'pixel_values', ..., 'video_grid_thw']
    """

    processor: Any
    settings: PromptSettings = field(default_factory=PromptSettings)
    portraits: Any = None
    max_length: int | None = None
    record_clip_ids: str | None = None
    sampler: ClipSampler = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.sampler = self.settings.sampler()
        if getattr(self.portraits, "language", None) not in (None, self.settings.language):
            raise ValueError(
                f"The PortraitAttacher names characters in {self.portraits.language!r} but the prompt is in "
                f"{self.settings.language!r}: build both with the same language."
            )
        tokenizer = getattr(self.processor, "tokenizer", None)
        if tokenizer is None or getattr(self.processor, "chat_template", None) is None:
            raise ValueError(
                "The processor has no tokenizer or no chat template. Load it with AutoProcessor.from_pretrained on a "
                "chat (instruct) checkpoint of a vision-language model."
            )
        self.tokenizer = tokenizer

    # -- the chat ---------------------------------------------------------------------------------------------

    def clip_inputs(self, row: dict[str, Any]) -> dict[str, Any]:
        """The visual inputs and the user message of one clip.

        Returns:
            `{"messages", "images", "video", "video_metadata"}`: the user turn as a chat message list, the
            images in the order of their placeholders (portraits, then frame tiles in `images` mode), the
            frames (T x C x H x W uint8, `video` mode) and their `VideoMetadata`.
        """
        settings, language = self.settings, self.settings.language
        clip_id = row.get("clip_id")
        times = None  # frames of their own (precomputed, keyframes) are spread evenly over the clip
        if "frames" in row and row["frames"] is not None:
            frames, times = row["frames"], row.get("frame_timestamps")
        elif row.get("video") is None and row.get("keyframes"):  # a synthetic clip: its keyframes are the frames
            frames = keyframes_to_frames(row["keyframes"])
        else:
            if "video" not in row:
                raise KeyError(
                    f"Clip {clip_id}: the row has no 'video' column. Prepare the dataset with "
                    "`movie101v2 prepare --videos DIR` so that clips point at their movies."
                )
            frames, times = self.sampler.decode(row["video"], row["start"], row["end"], clip_id=clip_id)
        frames = fit_pixels(frames, settings.video_max_pixels)

        identified = (
            list(row.get(settings.identified_characters_column) or [])
            if (settings.identified_characters_column)
            else []
        )
        portraits = self._portraits(row, identified)
        content: list[dict[str, Any]] = []
        images = []
        if portraits:
            content.append({"type": "text", "text": _CAST_HEADER[language]})
            for portrait in portraits:
                content += [{"type": "image"}, {"type": "text", "text": f" {portrait['name']}\n"}]
                images.append(to_pil(fit_pixels(_pil_to_tensor(portrait["image"]), settings.image_max_pixels)))
        if identified:
            separator = ", " if language == "en" else "、"
            content.append({"type": "text", "text": f"{_IDENTIFIED_HEADER[language]} {separator.join(identified)}\n"})
        video = metadata = None
        if settings.input_mode == "video":
            content.append({"type": "video"})
            video = frames
            metadata = clip_metadata(frames, row["start"], row["end"], times)
        else:
            content.append({"type": "text", "text": _FRAMES_HEADER[language]})
            for tile in tile_frames(frames, settings.frames_per_image):
                content.append({"type": "image"})
                images.append(to_pil(tile))
        content.append({"type": "text", "text": "\n" + (settings.instruction or INSTRUCTIONS[language])})
        return {
            "messages": [{"role": "user", "content": content}],
            "images": images,
            "video": video,
            "video_metadata": metadata,
        }

    def _portraits(self, row: dict[str, Any], identified: list[str]) -> list[dict[str, Any]]:
        if self.settings.max_portraits == 0:
            return []
        if row.get("portraits") is not None:
            return list(row["portraits"])[: self.settings.max_portraits]
        if self.portraits is None:
            return []
        # Main cast in billing order, never the clip's annotated characters: those are not known at inference.
        chosen = self.portraits.portraits(row["movie_id"], identified)
        return chosen[: self.settings.max_portraits]

    def _process(self, texts: list[str], inputs: list[dict[str, Any]], padding_side: str) -> Any:
        images = [item["images"] for item in inputs]
        videos = [[item["video"]] for item in inputs if item["video"] is not None]
        kwargs: dict[str, Any] = {}
        if any(images):
            kwargs["images"] = images
        if videos:
            # One list per sample: transformers 5.16-5.20 read a flat list of SmolVLM frame tensors as one video
            # per frame.
            kwargs["videos"] = videos
            kwargs["video_metadata"] = [item["video_metadata"] for item in inputs if item["video"] is not None]
            kwargs["do_sample_frames"] = False  # the frames are already the sampled ones
        processed = self.processor(text=texts, padding=True, padding_side=padding_side, return_tensors="pt", **kwargs)
        shared = self._shared_visual_keys() if any(images) and videos else set()
        if shared:
            # The processor merges its image and video outputs into one dict, so where both are called
            # `pixel_values` (SmolVLM) the portraits' pixels are lost: put them back in front of each sample's frames.
            portraits = self.processor(images=images, return_tensors="pt")
            for key in shared:
                processed[key] = _images_then_frames(portraits["pixel_values"], portraits[key], processed[key])
        return processed

    def _shared_visual_keys(self) -> set[str]:
        image_keys = getattr(getattr(self.processor, "image_processor", None), "model_input_names", None) or []
        video_keys = getattr(getattr(self.processor, "video_processor", None), "model_input_names", None) or []
        return set(image_keys) & set(video_keys)

    def media_limits(self) -> dict[str, int]:
        """The most images and videos one prompt holds (vLLM's `limit_mm_per_prompt`): the portraits, plus the
        video in `video` mode or the frame tiles in `images` mode (`video_maxlen` frames with `video_fps`).

        Example:
            >>> NarrationCollator(processor, PromptSettings(input_mode="images")).media_limits()  # doctest: +SKIP
            {'image': 9, 'video': 0}
        """
        settings = self.settings
        if settings.input_mode == "video":
            return {"image": settings.max_portraits, "video": 1}
        frames = settings.frame_sampling().max_count or 1
        return {"image": settings.max_portraits + -(-frames // settings.frames_per_image), "video": 0}

    # -- inference --------------------------------------------------------------------------------------------

    def prompt_inputs(self, rows: Sequence[dict[str, Any]]) -> Any:
        """Left-padded prompt inputs for `model.generate`, built as in training.

        Example:
            >>> inputs = collator.prompt_inputs([test[0]])  # doctest: +SKIP
            >>> model.generate(**inputs, max_new_tokens=128)  # doctest: +SKIP
        """
        return self.prompt_batch([self.clip_inputs(row) for row in rows])

    def prompt_text(self, clip_inputs: dict[str, Any]) -> str:
        """The chat of one clip rendered with the processor's template, ending with the generation prompt."""
        return self.processor.apply_chat_template(clip_inputs["messages"], add_generation_prompt=True, tokenize=False)

    def prompt_batch(self, inputs: Sequence[dict[str, Any]]) -> Any:
        """`prompt_inputs` from clips already turned into `clip_inputs` (e.g. in DataLoader workers)."""
        return self._process([self.prompt_text(item) for item in inputs], list(inputs), padding_side="left")

    # -- training ---------------------------------------------------------------------------------------------

    def __call__(self, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """A training batch: `input_ids`, `attention_mask`, `labels` (-100 but on the narration) and the
        processor's visual tensors."""
        import torch

        inputs = [self.clip_inputs(row) for row in rows]
        prompts, completions = [], []
        for row, item in zip(rows, inputs):
            narration = self.target(row)
            conversation = item["messages"] + [{"role": "assistant", "content": [{"type": "text", "text": narration}]}]
            prompt = self.processor.apply_chat_template(item["messages"], add_generation_prompt=True, tokenize=False)
            full = self.processor.apply_chat_template(conversation, tokenize=False)
            if not full.startswith(prompt):
                raise ValueError(
                    "The chat template renders the assistant turn differently from its generation prompt, so the "
                    "narration cannot be located for the loss mask. Use the checkpoint's own chat template (an "
                    "instruct model) or a template whose assistant turn starts with the generation prompt."
                )
            prompts.append(prompt)
            completions.append(full[len(prompt) :])
        processed = self._process(prompts, inputs, padding_side="right")
        completion_ids = self.tokenizer(completions, add_special_tokens=False)["input_ids"]

        mask = processed["attention_mask"].bool()
        token_keys = [
            key
            for key, value in processed.items()
            if key != "input_ids" and torch.is_tensor(value) and value.shape == processed["input_ids"].shape
        ]
        sequences: dict[str, list[Any]] = {key: [] for key in ["input_ids", "labels", *token_keys]}
        for i, (row, completion) in enumerate(zip(rows, completion_ids)):
            prompt_ids = processed["input_ids"][i][mask[i]]
            completion = torch.tensor(completion, dtype=prompt_ids.dtype)
            if self.max_length is not None:
                room = self.max_length - len(prompt_ids)
                if room < 1:
                    raise ValueError(
                        f"Clip {row.get('clip_id')}: the prompt alone is {len(prompt_ids)} tokens, more than "
                        f"max_length={self.max_length}. Lower video_max_pixels, video_num_frames / video_maxlen or "
                        "max_portraits, or raise max_length."
                    )
                completion = completion[:room]
            sequences["input_ids"].append(torch.cat([prompt_ids, completion]))
            sequences["labels"].append(torch.cat([torch.full_like(prompt_ids, IGNORE_INDEX), completion]))
            for key in token_keys:  # per-token side inputs (e.g. mm_token_type_ids): text on the narration
                sequences[key].append(
                    torch.cat([processed[key][i][mask[i]], torch.zeros(len(completion), dtype=processed[key].dtype)])
                )
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        padding = {"input_ids": pad_id, "labels": IGNORE_INDEX}
        batch = {
            key: torch.nn.utils.rnn.pad_sequence(values, batch_first=True, padding_value=padding.get(key, 0))
            for key, values in sequences.items()
        }
        lengths = torch.tensor([len(ids) for ids in sequences["input_ids"]])
        batch["attention_mask"] = (torch.arange(batch["input_ids"].shape[1])[None] < lengths[:, None]).long()
        for key, value in processed.items():
            if key not in batch and key != "attention_mask":
                batch[key] = value
        if self.record_clip_ids:
            self._record([row.get("clip_id") for row in rows])
        return batch

    def target(self, row: dict[str, Any]) -> str:
        """What a training row teaches: its narration (single-language configs have `narration`; bilingual ones
        `narration_en` / `narration_zh`)."""
        narration = row.get("narration", row.get(f"narration_{self.settings.language}"))
        if not narration:
            raise ValueError(f"Clip {row.get('clip_id')}: the row has no narration to train on.")
        return narration

    def _record(self, clip_ids: list[str | None]) -> None:
        folder = Path(self.record_clip_ids)
        folder.mkdir(parents=True, exist_ok=True)
        rank = os.environ.get("RANK", "0")
        # Appends of whole lines from DataLoader workers of one rank do not interleave within a line.
        with open(folder / f"rank-{rank}.txt", "a", encoding="utf-8") as handle:
            handle.write("".join(f"{clip_id}\n" for clip_id in clip_ids))


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
