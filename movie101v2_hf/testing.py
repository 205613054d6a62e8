"""Stand-ins for what cannot run everywhere, for tests, benchmarks and dry runs.

`make_tiny_video_llm` writes a randomly initialised Qwen2.5-VL of about 0.1M parameters, with a tokenizer
trained on the spot and a real processor, to a folder that `from_pretrained` loads like a Hub checkpoint:
the training recipe and the inference backends run on it end to end on a CPU, in seconds.

`ScriptedJudgeServer` is a real OpenAI-compatible HTTP server on loopback that answers chat completions
by rule instead of with a model: a fixed latency per request, and faults injected on demand (429, 500,
slow replies past the client's timeout, garbage answers). Point `OpenAIJudge(base_url=server.url)` at it
to exercise the whole judging path (concurrency, retries, parsing, cache) without a GPU.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def rule_based_answer(prompt: str) -> str:
    """A valid judge answer for `prompt`: `3,4` for L1 prompts (they name the Environment aspect), `3` for L2."""
    return "3,4" if ("Environment" in prompt or "环境" in prompt) else "3"


class ScriptedJudgeServer:
    """An OpenAI-compatible `/v1/chat/completions` server on 127.0.0.1 that answers by rule (judge or narrator).

    Args:
        answer: maps the user message to the reply text (default: `rule_based_answer`).
        latency: seconds each request takes before it is answered.
        faults: what the next requests get, in order, before normal service: `"429"`, `"500"`, `"400"`,
            `"slow"` (answers after `slow_seconds`), `"garbage"` (a reply no parser accepts), `"ok"`.
        slow_seconds: how long a `"slow"` reply takes.

    Example:
        >>> with ScriptedJudgeServer(faults=["429"]) as server:  # doctest: +SKIP
        ...     OpenAIJudge(model="judge", base_url=server.url).generate(["..."], metric="l2")
        ['3']
    """

    def __init__(
        self,
        *,
        answer: Callable[[str], str] = rule_based_answer,
        latency: float = 0.0,
        faults: Iterable[str] = (),
        slow_seconds: float = 5.0,
    ) -> None:
        self.answer = answer
        self.latency = latency
        self.slow_seconds = slow_seconds
        self.faults: deque[str] = deque(faults)
        self.requests: list[dict[str, Any]] = []  # every request body, in arrival order
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests it was answering at once
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL to give an OpenAI client (`.../v1`)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def _next_fault(self) -> str:
        with self._lock:
            return self.faults.popleft() if self.faults else "ok"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._answer()
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with server._lock:
                    server.requests.append(body)
                    server.headers.append(dict(self.headers))
                if not self.path.endswith("/chat/completions"):
                    return self._reply(404, {"error": {"message": f"unknown path {self.path}"}})
                fault = server._next_fault()
                if server.latency:
                    time.sleep(server.latency)  # the simulated model's time per request
                if fault == "429":
                    return self._reply(429, {"error": {"message": "rate limited"}})
                if fault == "500":
                    return self._reply(500, {"error": {"message": "internal error"}})
                if fault == "400":
                    return self._reply(400, {"error": {"message": "bad request"}})
                if fault == "slow":
                    time.sleep(server.slow_seconds)
                content = body["messages"][-1]["content"]
                if isinstance(content, list):  # OpenAI's content parts
                    content = " ".join(part.get("text", "") for part in content)
                text = "I cannot judge this." if fault == "garbage" else server.answer(content)
                self._reply(
                    200,
                    {
                        "id": f"chatcmpl-{len(server.requests)}",
                        "object": "chat.completion",
                        "model": body.get("model"),
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                        ],
                    },
                )

        return Handler

    def start(self) -> ScriptedJudgeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ScriptedJudgeServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# A Qwen2-VL style chat template (ours): the real checkpoints' templates render the same placeholders.
TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>{% else %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_TINY_SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>",
]  # fmt: skip


def make_tiny_video_llm(path: str | Path, corpus: Iterable[str] = (), *, max_pixels: int = 56 * 56) -> Path:
    """Write a tiny random Qwen2.5-VL (model, trained tokenizer, processor, chat template) to `path`.

    Args:
        path: the folder to write; `AutoModelForImageTextToText` and `AutoProcessor` load it.
        corpus: extra text for the tokenizer (e.g. the narrations it will be trained on), so that they
            tokenize into a few hundred pieces rather than bytes.
        max_pixels: the processor's pixel cap per image and per frame (56 x 56 = 4 tokens after merging).

    Returns:
        `path`.

    Example:
        >>> make_tiny_video_llm("/tmp/tiny-qwen2.5-vl")  # doctest: +SKIP
        PosixPath('/tmp/tiny-qwen2.5-vl')
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        PreTrainedTokenizerFast,
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    from .collator import INSTRUCTIONS

    texts = [*INSTRUCTIONS.values(), "Main cast: Clip frames: user assistant system", *corpus]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=_TINY_SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    pad, _, eos, vision_start, vision_end, image, video = fast.convert_tokens_to_ids(_TINY_SPECIAL_TOKENS)
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(min_pixels=28 * 28, max_pixels=max_pixels),
        video_processor=Qwen2VLVideoProcessor(min_pixels=28 * 28, max_pixels=max_pixels),
        tokenizer=fast,
        chat_template=TINY_CHAT_TEMPLATE,
    )
    config = Qwen2_5_VLConfig(
        vision_config={"depth": 1, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "out_hidden_size": 32,
                       "fullatt_block_indexes": [0], "window_size": 56},
        text_config={"vocab_size": len(fast), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 8192,
                     "bos_token_id": None, "eos_token_id": eos, "pad_token_id": pad,
                     "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}},
        image_token_id=image, video_token_id=video, vision_start_token_id=vision_start,
        vision_end_token_id=vision_end, eos_token_id=eos, pad_token_id=pad,
    )  # fmt: skip
    model = Qwen2_5_VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = pad
    path = Path(path)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path
