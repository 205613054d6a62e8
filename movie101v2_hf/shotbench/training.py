"""Training on ShotBench-format data (ShotQA, or a ShotBench split): GRPO rows and rewards for TRL's GRPOTrainer.

The published ShotVL reward is not known. Ours, stated here and in the README:

- `choice_reward`: 1.0 when the completion's answer, resolved by the scorer's own rule chain (`rule_choice`: the
  answer tag, then the option letter, then the option text), is the correct option; else 0.0. The reward and
  the benchmark agree on what an answer means.
- `format_reward`: 1.0 when the completion is exactly `<think>...</think>` then `<answer>...</answer>` (spaces and
  line breaks allowed around them), else 0.0: the R1-style format the reasoning prompt asks for.

Clips (camera movement) go to the trainer as a few frames, as images: TRL's GRPOTrainer takes images.
"""

from __future__ import annotations

import re
from typing import Any

from .prompting import DEFAULT_SYSTEM, REASONING_SYSTEM, question_text
from .scoring import rule_choice

_FORMAT = re.compile(r"^\s*<think>.*?</think>\s*<answer>.*?</answer>\s*$", re.DOTALL)


def _text(completion: Any) -> str:
    """A completion as text: TRL passes conversational completions as `[{"role": "assistant", "content": ...}]`."""
    if isinstance(completion, list):
        completion = completion[-1]["content"] if completion else ""
    if isinstance(completion, list):  # content parts
        completion = " ".join(part.get("text", "") for part in completion)
    return str(completion)


def choice_reward(
    completions: list[Any], answer: list[str], options: list[list[dict[str, str]]], **_: Any
) -> list[float]:
    """1.0 for a completion whose resolved choice is the correct option, else 0.0.

    Example:
        >>> options = [[{"letter": "A", "text": "Close Up"}, {"letter": "B", "text": "Wide Shot"}]]
        >>> choice_reward(["<think>far</think><answer>B</answer>"], ["B"], options)
        [1.0]
    """
    return [float(rule_choice(_text(c), opts)[0] == truth) for c, truth, opts in zip(completions, answer, options)]


def format_reward(completions: list[Any], **_: Any) -> list[float]:
    """1.0 for `<think>...</think><answer>...</answer>`, else 0.0.

    Example:
        >>> format_reward(["<think>wide</think>\\n<answer>B</answer>", "B"])
        [1.0, 0.0]
    """
    return [float(bool(_FORMAT.match(_text(c)))) for c in completions]


def grpo_rows(rows: Any, *, reasoning: bool = True, frames_per_clip: int = 4, max_pixels: int = 360 * 640) -> Any:
    """ShotBench-format rows as GRPOTrainer takes them: `prompt` (the official chat), `images`, `answer`, `options`.

    Example:
        >>> from movie101v2_hf.shotbench import load_shotbench
        >>> grpo_rows(load_shotbench(mini_shotbench)).column_names
        ['prompt', 'images', 'answer', 'options']"""
    from datasets import Dataset, Image, List

    from ..data.sampling import FrameSampling
    from ..data.video import ClipSampler
    from ..prompting import fit_pixels, to_pil

    sampler = ClipSampler.of(FrameSampling(num_frames=frames_per_clip))
    records = []
    for row in rows:
        if row.get("video") is not None:
            frames, _ = sampler.decode(row["video"], 0.0, sampler.duration(row["video"]), clip_id=str(row["index"]))
            images = [to_pil(frame) for frame in fit_pixels(frames, max_pixels)]
        else:
            images = [row["image"].convert("RGB")]
        content = [{"type": "image"} for _ in images] + [{"type": "text", "text": question_text(row)}]
        system = REASONING_SYSTEM if reasoning else DEFAULT_SYSTEM
        records.append(
            {
                "prompt": [
                    {"role": "system", "content": [{"type": "text", "text": system}]},
                    {"role": "user", "content": content},
                ],
                "images": images,
                "answer": row["answer"],
                "options": row["options"],
            }
        )
    dataset = Dataset.from_list(records)
    return dataset.cast_column("images", List(Image()))
