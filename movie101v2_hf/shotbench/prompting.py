"""ShotBench prompts, built as the official runner builds them, on the training collator's machinery.

One user turn: the still or the clip, then `Question: ...\\nOptions:\\nA. ...\\nPlease select the most likely answer
from the options above.`; the system prompt "You are a helpful assistant.", or the R1-style reasoning prompt
(`<think>` / `<answer>`) that ShotVL-3B was evaluated with. Clips are sampled at 12 fps over their whole length,
frames and stills brought within 360*640 pixels. For training, the target is `<answer>LETTER</answer>` after a
reasoning prompt, else `LETTER. option text`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..data.sampling import FrameSampling
from ..data.video import ClipSampler
from ..prompting import NarrationCollator, PromptSettings, clip_metadata, fit_pixels, to_pil
from ..prompting.collator import ClipInputs

DEFAULT_SYSTEM = "You are a helpful assistant."
# ours, in the R1 style the ShotBench code uses for reasoning models
REASONING_SYSTEM = (
    "You are a helpful assistant. First think about the question step by step inside <think> </think> tags, "
    "then give the letter of your final answer inside <answer> </answer> tags, e.g. "
    "<think> reasoning </think><answer> B </answer>."
)
VIDEO_FPS = 12.0
MAX_PIXELS = 360 * 640
MAX_FRAMES = 128  # a cap: ShotBench clips are a few seconds long


def question_text(row: dict[str, Any]) -> str:
    """The official user text of a question.

    Example:
        >>> question_text({"question": "What's the shot size of this shot?",
        ...                "options": [{"letter": "A", "text": "Close Up"}, {"letter": "B", "text": "Wide Shot"}]})
        "Question: What's the shot size of this shot?\\nOptions:\\nA. Close Up\\nB. Wide Shot\\nPlease select the most likely answer from the options above."
    """
    options = "\n".join(f"{option['letter']}. {option['text']}" for option in row["options"])
    return f"Question: {row['question']}\nOptions:\n{options}\nPlease select the most likely answer from the options above."


@dataclass
class ShotBenchCollator(NarrationCollator):
    """Prompts (and, for SFT, labels) of ShotBench-format rows for any backend or trainer the narration uses.

    Example:
        >>> from movie101v2_hf.shotbench import load_shotbench
        >>> collator = ShotBenchCollator(processor, reasoning=True)
        >>> [message["role"] for message in collator.clip_inputs(load_shotbench(mini_shotbench)[0])["messages"]]
        ['system', 'user']
    """

    reasoning: bool = False
    video_fps: float = VIDEO_FPS
    max_pixels: int = MAX_PIXELS
    max_frames: int = MAX_FRAMES

    def __post_init__(self) -> None:
        self.settings = PromptSettings(max_portraits=0)
        super().__post_init__()
        self.sampler = ClipSampler.of(self.frame_sampling, cache_dir=self.frame_cache)

    @property
    def frame_sampling(self) -> FrameSampling:
        """The official sampling: `video_fps` frames a second, at most `max_frames`."""
        return FrameSampling(fps=self.video_fps, max_frames=self.max_frames)

    def media_limits(self) -> dict[str, int]:
        """A question has a still or a clip."""
        return {"image": 1, "video": 1}

    def clip_inputs(self, row: dict[str, Any]) -> ClipInputs:
        """The system and user turns of one question, with its still or its clip's frames."""
        images, video, metadata = [], None, None
        if row.get("video") is not None:
            end = self.sampler.duration(row["video"])
            frames, times = self.sampler.decode(row["video"], 0.0, end, clip_id=str(row.get("index")))
            video = fit_pixels(frames, self.max_pixels)
            metadata = clip_metadata(video, 0.0, end, times)
            media = {"type": "video"}
        else:
            image = row["image"]
            if isinstance(image, dict):  # undecoded (`Image(decode=False)`): read here, so a bad still fails alone
                image = image["bytes"] if image.get("bytes") else image["path"]
            if isinstance(image, (str, bytes)):
                import io

                from PIL import Image

                image = Image.open(io.BytesIO(image) if isinstance(image, bytes) else image)
            images = [to_pil(fit_pixels(_to_tensor(image), self.max_pixels))]
            media = {"type": "image"}
        system = REASONING_SYSTEM if self.reasoning else DEFAULT_SYSTEM
        return {
            "messages": [
                {"role": "system", "content": [{"type": "text", "text": system}]},
                {"role": "user", "content": [media, {"type": "text", "text": question_text(row)}]},
            ],
            "images": images,
            "video": video,
            "video_metadata": metadata,
        }

    def target(self, row: dict[str, Any]) -> str:
        """What SFT teaches for a row: the answer as the chosen prompt style expects it."""
        letter = row["answer"]
        if self.reasoning:
            return f"<answer>{letter}</answer>"
        text = next((o["text"] for o in row["options"] if o["letter"] == letter), "")
        return f"{letter}. {text}".strip()


def _to_tensor(image: Any) -> Any:
    import numpy as np
    import torch

    return torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1).contiguous()
