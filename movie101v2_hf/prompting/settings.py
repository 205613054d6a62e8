"""`PromptSettings`: every choice that shapes a narration prompt, saved beside a training run's adapter
(`movie101v2_prompt.json`) for inference to read back; `PromptOverrides`, the flags that override them."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..data.sampling import FrameSampling
from ..data.video import ClipSampler

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
        return FrameSampling.from_video_options(self.video_num_frames, self.video_fps, self.video_maxlen)

    def sampler(self, **options: Any) -> ClipSampler:
        """The `ClipSampler` these settings describe (`options`: the sampler's own, e.g. `cache_dir`)."""
        return ClipSampler.of(self.frame_sampling(), **options)

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
