"""The `openai` backend: a multimodal model behind an OpenAI-compatible server (hosted, or `vllm serve`).

Frames and portraits go as JPEG data URLs (frames labelled with their clip time), after a system turn with the
task description and, optionally, narrations of the training split as in-context examples: the paper's
GPT-4V-style baseline.
"""

from __future__ import annotations

import base64
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..prompting import NarrationCollator, to_pil
from ..utils.openai_client import ChatClient
from .base import BACKENDS, CollatorBackend, RequestBuilder

# The task description (ours; the paper describes its GPT-4V prompt but does not publish it).
TASK_DESCRIPTIONS = {
    "en": (
        "You write audio description: narration that tells blind and low-vision viewers what happens on screen in "
        "a movie. You get frames of one clip in order and portraits of the main cast with their names. Write one "
        "paragraph in the style of the examples: the setting, the characters on screen by name, and what they do. "
        "Describe only what is visible; no opinions, no sound, no dialogue."
    ),
    "zh": (
        "你为电影撰写无障碍解说，即为视障观众讲述画面内容的解说词。你将按顺序看到一个片段的若干画面，以及主要角色的照片和名字。"
        "请仿照示例的风格写一段话：场景、画面中的人物（用名字称呼）以及他们的动作。只描述画面中可见的内容，不加评论，不描述声音和对白。"
    ),
}
_EXAMPLES_HEADER = {"en": "Examples of narrations from other movies:", "zh": "其他电影的解说示例："}


def data_url(image: Any) -> str:
    """A PIL image as a JPEG data URL, as the OpenAI chat API takes images."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


@dataclass
class ChatRequests:
    """OpenAI chat bodies: the collator's user turn with every image as a JPEG data URL, after a system turn
    with the task description and retrieved in-context examples (`examples`: an object with `examples(row, n)`)."""

    collator: NarrationCollator
    model: str
    max_new_tokens: int
    examples: Any = None
    num_examples: int = 0

    def prepare(self, row: dict[str, Any]) -> Any:
        inputs = self.collator.clip_inputs(row)
        images = iter(inputs["images"])
        messages = []
        for message in inputs["messages"]:
            parts: list[dict[str, Any]] = []
            for part in message["content"]:
                if part["type"] == "image":
                    parts.append({"type": "image_url", "image_url": {"url": data_url(next(images))}})
                elif part["type"] == "video":  # frames as images, in order, with their clip time
                    for frame, seconds in zip(inputs["video"], inputs["video_metadata"].timestamps):
                        parts.append({"type": "text", "text": f"[{seconds:.1f}s]"})
                        parts.append({"type": "image_url", "image_url": {"url": data_url(to_pil(frame))}})
                else:
                    parts.append({"type": "text", "text": part["text"]})
            messages.append({"role": message["role"], "content": parts})
        if messages[0]["role"] != "system":  # narration: the task description, and examples when asked for
            language = self.collator.settings.language
            system = TASK_DESCRIPTIONS[language]
            if self.examples is not None and self.num_examples:
                texts = self.examples.examples(row, self.num_examples)
                system += "\n\n" + _EXAMPLES_HEADER[language] + "\n" + "\n".join(f"- {text}" for text in texts)
            messages.insert(0, {"role": "system", "content": system})
        body = {"model": self.model, "messages": messages, "temperature": 0, "max_tokens": self.max_new_tokens}
        if hasattr(self.collator, "response_format"):  # a task with structured answers (analyze facts)
            body["response_format"] = self.collator.response_format(row)
        return body

    def batch(self, requests: list[Any]) -> Any:
        return requests


class _TemplateFreeProcessor:
    """What the collator needs from a processor when the server applies the chat template itself."""

    chat_template = "server-side"
    tokenizer = object()


@BACKENDS.register("openai")
@dataclass
class OpenAIBackend(CollatorBackend):
    """A multimodal model behind an OpenAI-compatible server; requests run `concurrency` at a time, with retries.

    With `num_examples > 0` and `examples` (the retrieval baseline's index of the training split), each request
    carries that many training narrations (best-matching, one per movie) as in-context examples.

    Example:
        >>> with ScriptedJudgeServer() as server:  # any OpenAI-compatible server; this one answers by rule
        ...     backend = OpenAIBackend("narrator", PromptSettings(video_num_frames=2, max_portraits=0), base_url=server.url)
        ...     builder = backend.builder()
        ...     backend.generate(builder.batch([builder.prepare(test[0])]))
        ['3']
    """

    base_url: str = "http://localhost:8000/v1"
    processor: Any = field(default=None, metadata={"option": False})  # set in __post_init__, not by a flag
    examples: Any = None
    num_examples: int = 3
    concurrency: int = 8
    request_retries: int = 4
    timeout: float = 120.0
    takes_examples = True

    def __post_init__(self) -> None:
        super().__post_init__()
        self.client = ChatClient(self.base_url, max_retries=self.request_retries, timeout=self.timeout)

    def load_processor(self) -> Any:
        return self.processor or _TemplateFreeProcessor()  # the server applies the chat template

    def builder(self) -> RequestBuilder:
        return ChatRequests(self.collator, self.model, self.max_new_tokens, self.examples, self.num_examples)

    def generate(self, batch: Any) -> list[str | BaseException]:
        def one(body: dict[str, Any]) -> str | BaseException:
            try:
                return self.client.complete(body).strip()
            except Exception as err:  # noqa: BLE001 (recorded per row, retried by the caller)
                return err

        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            return list(pool.map(one, batch))

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "base_url": self.base_url,
            "num_examples": self.num_examples,
            "max_new_tokens": self.max_new_tokens,
        }
