"""`movie101v2 analyze facts` (the paper's Figs 6 and 7): which of a narration's visual facts a vision-language
model can see in the clip's frames, at several frame rates and per category.

The paper's protocol (Section 4.2.1), on a seeded sample of clips (`--clips 500`):

1. a text LLM extracts the atomic visual facts of each reference narration, each with one of five categories
   (objects, scenes, people, actions, emotions): JSON-schema output through the text-LLM layer (`llm/`), each
   answer cached and written to `facts.jsonl` as it arrives;
2. a vision-language model is asked, frame by frame, which of the clip's facts it sees in that frame (a yes/no
   per fact, a JSON object `{"seen": [...]}`; the `openai` backend sends the schema as `response_format`), through
   the registered vision backends on the run layer (`frames.jsonl`, one durable line per frame);
3. a fact is recalled when any frame shows it (`analysis/recall.py`).

Frames are asked once, at the highest rate (2 fps: a frame at the middle of every half second of the clip); the
frames of 1, 0.5 and 0.25 fps are every 2nd, 4th and 8th of them, so the lower rates are computed from the same
answers, and `recall.json` says how many calls that saved.

Example:
    >>> frame_times(10.0, 12.0), [k for k in range(8) if at_rate(k, 0.5)]
    ([10.25, 10.75, 11.25, 11.75], [0, 4])
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from ..backends.options import EngineOptions
from ..constants import SINGLE_LANGUAGE_CONFIGS, SPLITS, config_language
from ..data.video import ClipSampler
from ..errors import check_minimums
from ..llm.formats import AnswerFormat
from ..llm.options import prefixed_llm_options
from ..prompting import NarrationCollator, PromptSettings
from ..prompting.collator import ClipInputs
from ..prompting.media import fit_pixels, to_pil

CATEGORIES = ("objects", "scenes", "people", "actions", "emotions")
TOP_RATE = 2.0
RATES = (2.0, 1.0, 0.5, 0.25)  # frames per second; each a subset of the one before
PROMPT_VERSION = "facts-v1"

FACTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "facts": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"fact": {"type": "string"}, "category": {"type": "string", "enum": list(CATEGORIES)}},
                "required": ["fact", "category"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["facts"],
    "additionalProperties": False,
}


def seen_schema(count: int) -> dict[str, Any]:
    """The JSON schema of a frame's answer: one boolean per fact, in order."""
    return {
        "type": "object",
        "properties": {"seen": {"type": "array", "items": {"type": "boolean"}, "minItems": count, "maxItems": count}},
        "required": ["seen"],
        "additionalProperties": False,
    }


def frame_times(start: float, end: float, fps: float = TOP_RATE) -> list[float]:
    """The clip's frames at `fps`: the middle of each 1/fps of the clip (at least one frame)."""
    count = max(1, math.floor((end - start) * fps + 1e-9))
    return [round(start + (k + 0.5) / fps, 4) for k in range(count)]


def at_rate(k: int, rate: float) -> bool:
    """Whether the 2-fps frame `k` is one of the frames at `rate` (every 2nd at 1 fps, every 4th at 0.5, ...)."""
    return k % round(TOP_RATE / rate) == 0


_FACTS_PROMPT = """List the atomic visual facts in this movie narration: each a short statement of one thing that can be \
seen on screen (an object, a scene, a person, an action, an emotion or expression), not the plot or what is \
said. Give each its category: objects, scenes, people, actions or emotions.

Narration: {narration}

Answer with a JSON object only: {{"facts": [{{"fact": "...", "category": "..."}}, ...]}}"""

_FRAME_PROMPT = """This is one frame of a movie clip ({seconds:.2f} s into the movie). For each visual fact below, \
say whether this frame shows it.

{facts}

Answer with a JSON object only: {{"seen": [true or false for each fact, in order]}} ({count} values)."""


def facts_prompt(narration: str) -> str:
    """The extraction prompt for one reference narration."""
    return _FACTS_PROMPT.format(narration=narration)


def frame_prompt(facts: list[dict[str, str]], seconds: float) -> str:
    """The question for one frame about the clip's facts."""
    listed = "\n".join(f"{k + 1}. {fact['fact']}" for k, fact in enumerate(facts))
    return _FRAME_PROMPT.format(seconds=seconds, facts=listed, count=len(facts))


def _json_object(answer: str) -> Any:
    match = re.search(r"\{.*\}", answer, re.S)
    if not match:
        raise ValueError("no JSON object in the answer")
    return json.loads(match.group(0))


def parse_facts(answer: str) -> list[dict[str, str]]:
    """The facts of an extraction answer; `ValueError` (the answer is re-asked) when it does not fit the schema.

    Example:
        >>> parse_facts('{"facts": [{"fact": "a red car", "category": "objects"}]}')
        [{'fact': 'a red car', 'category': 'objects'}]
    """
    facts = _json_object(answer).get("facts")
    if not isinstance(facts, list):
        raise ValueError('no "facts" list')
    parsed = []
    for item in facts:
        if not isinstance(item, dict) or not isinstance(item.get("fact"), str) or not item["fact"].strip():
            raise ValueError(f"a fact without text: {item!r}")
        if item.get("category") not in CATEGORIES:
            raise ValueError(f"category {item.get('category')!r} is not one of {', '.join(CATEGORIES)}")
        parsed.append({"fact": item["fact"].strip(), "category": item["category"]})
    return parsed


def parse_seen(answer: str, count: int) -> list[bool] | None:
    """A frame's yes/no per fact, or None when the answer does not fit (counted as invalid, recalling nothing).

    Example:
        >>> parse_seen('{"seen": [true, false]}', 2), parse_seen("yes", 2)
        ([True, False], None)
    """
    try:
        seen = _json_object(answer).get("seen")
    except ValueError:
        return None
    if not isinstance(seen, list) or len(seen) != count or not all(isinstance(v, bool) for v in seen):
        return None
    return seen


SYSTEM = "You look at movie frames and answer exactly in the JSON format asked for."


@dataclass
class FrameQuestions(NarrationCollator):
    """The prompt of one frame question for any vision backend: the frame (decoded at its time) and the question
    listing the clip's facts; `response_format` is the answer's JSON schema (the `openai` backend sends it)."""

    max_pixels: int = 448 * 448

    def __post_init__(self) -> None:
        self.settings = PromptSettings(max_portraits=0)
        super().__post_init__()
        self.sampler = ClipSampler(num_frames=1, cache_dir=self.frame_cache)

    def media_limits(self) -> dict[str, int]:
        return {"image": 1, "video": 0}

    def clip_inputs(self, row: dict[str, Any]) -> ClipInputs:
        seconds = float(row["time"])
        frames, _ = self.sampler.decode(row["video"], seconds - 1e-3, seconds + 1e-3, clip_id=row["frame_id"])
        image = to_pil(fit_pixels(frames[0], self.max_pixels))
        question = frame_prompt(json.loads(row["facts"]), seconds)
        return {
            "messages": [
                {"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]},
            ],
            "images": [image],
            "video": None,
            "video_metadata": None,
        }

    def response_format(self, row: dict[str, Any]) -> dict[str, Any] | None:
        return AnswerFormat.of_schema("frame_facts", seen_schema(len(json.loads(row["facts"])))).response_format()


ExtractorOptions = prefixed_llm_options("extractor", name="ExtractorOptions")


@dataclass(kw_only=True)
class FactsOptions(ExtractorOptions, EngineOptions):  # type: ignore[misc, valid-type]
    """Every option of `movie101v2 analyze facts`: the extractor (`--extractor-*`, a text LLM) and the vision
    model (`--backend`, `--model` and the engine options)."""

    dataset: str = field(metadata={"help": "A prepared folder with movies (--videos)."})
    out: str = field(metadata={"help": "Folder for facts.jsonl, frames.jsonl, recall.json and the figures."})
    model: str = field(metadata={"help": "The vision-language model (the served name for openai)."})
    backend: str = field(default="openai", metadata={"help": "Vision backend: openai, transformers or vllm."})
    adapter: str | None = field(
        default=None, metadata={"help": "A LoRA adapter of the vision model (transformers, vllm)."}
    )
    config: str = field(
        default="en", metadata={"help": "A single-language clip config.", "choices": SINGLE_LANGUAGE_CONFIGS}
    )
    split: str = field(default="test", metadata={"help": "Split sampled (the paper: test).", "choices": SPLITS})
    clips: int = field(default=500, metadata={"help": "Clips in the seeded sample (the paper: 500)."})
    seed: int = field(default=0, metadata={"help": "Seed of the clip sample."})
    max_pixels: int = field(default=448 * 448, metadata={"help": "Pixel budget per frame."})
    max_new_tokens: int = field(default=256, metadata={"help": "Answer length cap of a frame question."})
    batch_size: int = field(default=8, metadata={"help": "Frames per generate call."})
    num_workers: int = field(default=2, metadata={"help": "DataLoader workers decoding frames."})
    retries: int = field(default=1, metadata={"help": "Extra attempts for a failed frame."})
    bootstrap: int = field(default=1000, metadata={"help": "Resamples of movies for the 95%% intervals."})
    overwrite: bool = field(default=False, metadata={"help": "Start again instead of resuming."})
    show_progress: bool = field(default=True, metadata={"help": "Show progress bars."})

    job = "analyze facts"

    def __post_init__(self) -> None:
        check_minimums(self, clips=1, batch_size=1, bootstrap=0)
        if self.data_parallel_size > 1:
            raise ValueError(
                "analyze facts runs one model copy: use --tensor-parallel-size, or a served model (openai)."
            )
        self.language = config_language(self.config)

    def input_paths(self) -> dict[str, str | None]:
        return {"--dataset": self.dataset, "--frame-cache": self.frame_cache}

    def prompter(self, processor: Any) -> FrameQuestions:
        """The frame questions' prompt builder (`CollatorBackend.from_options` picks it up)."""
        return FrameQuestions(processor, frame_cache=self.frame_cache, max_pixels=self.max_pixels)
