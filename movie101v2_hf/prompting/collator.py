"""`NarrationCollator`: one construction of a clip's prompt for training (labels on the narration only) and for
inference (the prompt alone), so that a fine-tuned model is evaluated the way it was trained."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from ..data.video import ClipSampler
from .media import (
    _images_then_frames,
    _pil_to_tensor,
    clip_metadata,
    fit_pixels,
    keyframes_to_frames,
    tile_frames,
    to_pil,
)
from .settings import IGNORE_INDEX, INSTRUCTIONS, PromptSettings

_CAST_HEADER = {"en": "Main cast:", "zh": "主要角色："}
_FRAMES_HEADER = {"en": "Clip frames:", "zh": "片段画面："}
_IDENTIFIED_HEADER = {"en": "Recognised on screen:", "zh": "画面中识别出的角色："}


class ClipInputs(TypedDict):
    """One prompt before the processor: the chat turns, the images (portraits, then frame tiles in `images` mode),
    the clip's frames (T x C x H x W uint8, `video` mode; else None) and their `VideoMetadata` with timestamps."""

    messages: list[dict[str, Any]]
    images: list[Any]
    video: Any
    video_metadata: Any


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
        frame_cache: a frame-cache folder (`data.frame_cache`): a clip's frames are decoded once, then read back
            (epochs, models and processes share it).
        record_clip_ids: a folder; every clip put into a training batch is appended to
            `<folder>/rank-<RANK>.txt`, to audit what each process trained on.

    Example:
        >>> from movie101v2_hf.data.loading import load_portraits
        >>> attacher = load_portraits(mini_dataset, "en", max_portraits=2)
        >>> collator = NarrationCollator(processor, PromptSettings(language="en", video_num_frames=4), portraits=attacher)
        >>> batch = collator([train[0], train[1]])
        >>> sorted(batch)  # doctest: +ELLIPSIS
        ['attention_mask', 'image_grid_thw', 'input_ids', 'labels', ..., 'video_grid_thw']
    """

    processor: Any
    settings: PromptSettings = field(default_factory=PromptSettings)
    portraits: Any = None
    max_length: int | None = None
    record_clip_ids: str | None = None
    frame_cache: str | None = None  # a `FrameCache` folder: decode each clip once
    sampler: ClipSampler = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.sampler = self.settings.sampler(cache_dir=self.frame_cache)
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

    def clip_inputs(self, row: dict[str, Any]) -> ClipInputs:
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
            >>> NarrationCollator(processor, PromptSettings(input_mode="images")).media_limits()
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
            >>> collator = NarrationCollator(processor, PromptSettings(video_num_frames=4, max_portraits=0))
            >>> inputs = collator.prompt_inputs([test[0]])
            >>> model.generate(**inputs, max_new_tokens=4, do_sample=False).shape[0]
            1
        """
        return self.prompt_batch([self.clip_inputs(row) for row in rows])

    def prompt_text(self, clip_inputs: ClipInputs) -> str:
        """The chat of one clip rendered with the processor's template, ending with the generation prompt."""
        return self.processor.apply_chat_template(clip_inputs["messages"], add_generation_prompt=True, tokenize=False)

    def prompt_batch(self, inputs: Sequence[ClipInputs]) -> Any:
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
