"""Judge backends behind one protocol, registered by name: `openai` (any OpenAI-compatible server),
`transformers` (a local model) and `vllm` (offline, with structured output)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import JudgeUnavailableError, require
from ..utils.openai_client import ChatClient, ChatRequestError
from ..utils.registry import Registry
from .parsing import ANSWER_REGEX

logger = logging.getLogger(__name__)

JUDGE_BACKENDS: Registry[Any] = Registry("judge backend")

# Called by a backend for each answer as soon as it has it: (index of the prompt, answer or None when the
# request failed for good, the model the server says answered or None).
OnAnswer = Callable[[int, "str | None", "str | None"], None]


class JudgeBackend(Protocol):
    """What a judge backend does: answer a batch of prompts, reporting each answer through `on_answer` the moment
    it arrives (None for a request that finally failed), so that the caller can store it at once. With `schema`
    (a JSON schema), the answer is constrained to JSON of that shape where the engine offers structured output
    (OpenAI-compatible `response_format`, vLLM's `StructuredOutputsParams(json=...)`); other text jobs (the
    synthetic-movie planner) use the same backends."""

    name: str
    model: str
    endpoint: str | None

    def generate(
        self, prompts: Sequence[str], *, metric: str, on_answer: OnAnswer | None = None, schema: dict | None = None
    ) -> list[str | None]: ...


@JUDGE_BACKENDS.register("openai")
@dataclass
class OpenAIJudge:
    """Any OpenAI-compatible chat endpoint: vLLM's server, SGLang, TGI, `transformers serve`, hosted APIs.

    Requests run concurrently (at most `concurrency` at a time); 429, 5xx, timeouts and connection errors
    are retried `max_retries` times with exponential backoff (honouring `Retry-After`), and a sample that still
    fails gets None: the run goes on. When `max_consecutive_failures` requests in a row fail that way, the server
    is taken to be down or hanging and `generate` stops early with `JudgeUnavailableError` naming the URL, so a
    run fails in bounded time (about `(max_retries + 1) * timeout` plus the backoff) instead of waiting on every
    pair. The API key is read from the environment variable `api_key_env` and never printed.

    Example:
        >>> judge = OpenAIJudge(model="meta-llama/Llama-3.1-70B-Instruct", base_url="http://localhost:8000/v1")
        >>> judge.generate(["...prompt..."], metric="l2")  # doctest: +SKIP
        ['4']
    """

    model: str
    base_url: str = "http://localhost:8000/v1"
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 16
    max_retries: int = 4
    timeout: float = 120.0
    max_tokens: int = 16
    structured_output: bool = False
    max_consecutive_failures: int = 3

    @property
    def endpoint(self) -> str:
        return self.base_url

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIJudge(model={self.model!r}, base_url={self.base_url!r}, concurrency={self.concurrency})"

    def generate(
        self, prompts: Sequence[str], *, metric: str, on_answer: OnAnswer | None = None, schema: dict | None = None
    ) -> list[str | None]:
        client = ChatClient(self.base_url, self.api_key_env, self.max_retries, self.timeout)
        stop = threading.Event()
        lock = threading.Lock()
        state = {"consecutive": 0, "last": ""}

        def one(index: int) -> str | None:
            if stop.is_set():  # the server is down: do not queue more waiting on it
                return None
            body: dict[str, Any] = {
                "model": self.model,
                "messages": [{"role": "user", "content": prompts[index]}],
                "temperature": 0,
                "max_tokens": self.max_tokens,
            }
            if self.structured_output:  # vLLM / SGLang servers: the judge can only write the expected format
                body["structured_outputs"] = {"regex": ANSWER_REGEX[metric]}
            if schema is not None:  # OpenAI's and vLLM's servers: JSON of this shape only
                body["response_format"] = {"type": "json_schema", "json_schema": {"name": metric, "schema": schema}}
            try:
                reply = client.chat(body)
            except ChatRequestError as err:  # the sample gets None and the run goes on, unless the server is gone
                logger.warning("judge request failed: %s", err)
                with lock:
                    state["consecutive"] = state["consecutive"] + 1 if err.transient else 0
                    state["last"] = str(err)
                    if state["consecutive"] >= self.max_consecutive_failures:
                        stop.set()
                if on_answer is not None and not stop.is_set():
                    on_answer(index, None, None)
                return None
            with lock:
                state["consecutive"] = 0
            if on_answer is not None:
                on_answer(index, reply.text, reply.model)
            return reply.text

        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            answers = list(pool.map(one, range(len(prompts))))
        if stop.is_set():
            raise JudgeUnavailableError(
                f"the judge at {self.base_url} failed {state['consecutive']} requests in a row, each after "
                f"{self.max_retries + 1} attempts with a {self.timeout:g} s timeout (last: {state['last']}). Check that "
                "the server is up and serves this model (--judge-url, --judge-model); raise --judge-timeout for a "
                "slow one. Judgments received so far are cached: a re-run asks only for the rest."
            )
        return answers


@JUDGE_BACKENDS.register("transformers")
@dataclass
class TransformersJudge:
    """A local `transformers` causal LM as judge, batched greedy generation with the model's chat template.

    Example:
        >>> judge = TransformersJudge(model="path/to/Llama-3.1-8B-Instruct", batch_size=8)  # doctest: +SKIP
    """

    model: str
    batch_size: int = 8
    max_new_tokens: int = 16
    device: str | None = None
    dtype: str = "auto"
    endpoint: str | None = field(default=None, init=False)

    def _load(self) -> tuple[Any, Any]:
        if not hasattr(self, "_loaded"):
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(self.model, padding_side="left")
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            model = AutoModelForCausalLM.from_pretrained(self.model, dtype=self.dtype).to(device).eval()
            self._loaded = (tokenizer, model)
        return self._loaded

    def generate(
        self, prompts: Sequence[str], *, metric: str, on_answer: OnAnswer | None = None, schema: dict | None = None
    ) -> list[str | None]:
        import torch

        tokenizer, model = self._load()  # `schema` is not enforced here: the caller validates the answers
        answers: list[str | None] = []
        for begin in range(0, len(prompts), self.batch_size):
            batch = list(prompts[begin : begin + self.batch_size])
            if tokenizer.chat_template:
                batch = [
                    tokenizer.apply_chat_template(
                        [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
                    )
                    for p in batch
                ]
            inputs = tokenizer(
                batch, return_tensors="pt", padding=True, add_special_tokens=not tokenizer.chat_template
            )
            inputs = inputs.to(model.device)
            with torch.inference_mode():
                output = model.generate(
                    **inputs, max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
                )
            new_tokens = output[:, inputs["input_ids"].shape[1] :]
            for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True):
                if on_answer is not None:
                    on_answer(len(answers), text, self.model)
                answers.append(text)
        return answers


@JUDGE_BACKENDS.register("vllm")
@dataclass
class VLLMJudge:
    """Offline vLLM (`vllm.LLM`) as judge: batched, greedy, with structured output so that the judge can
    only write `E,C` (L1) or one digit (L2). Needs the `vllm` extra and a GPU.

    Example:
        >>> judge = VLLMJudge(model="meta-llama/Llama-3.1-70B-Instruct", tensor_parallel_size=4)  # doctest: +SKIP
    """

    model: str
    tensor_parallel_size: int = 1
    max_model_len: int | None = 8192
    llm_kwargs: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 256
    max_tokens: int = 8
    endpoint: str | None = field(default=None, init=False)

    def _llm(self) -> Any:
        if not hasattr(self, "_engine"):
            require("vllm", extra="vllm", feature="The vllm judge backend")
            from vllm import LLM

            self._engine = LLM(
                model=self.model,
                tensor_parallel_size=self.tensor_parallel_size,
                max_model_len=self.max_model_len,
                **self.llm_kwargs,
            )
        return self._engine

    def generate(
        self, prompts: Sequence[str], *, metric: str, on_answer: OnAnswer | None = None, schema: dict | None = None
    ) -> list[str | None]:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        params = SamplingParams(
            temperature=0,
            max_tokens=self.max_tokens,
            structured_outputs=StructuredOutputsParams(json=schema)
            if schema is not None
            else StructuredOutputsParams(regex=ANSWER_REGEX[metric]),
        )
        answers: list[str | None] = []
        # batches of `batch_size`: vLLM schedules each batch at full speed, and each batch's answers are stored
        # before the next one starts, so a killed run loses at most one batch of GPU work
        for begin in range(0, len(prompts), self.batch_size):
            conversations = [[{"role": "user", "content": p}] for p in prompts[begin : begin + self.batch_size]]
            for output in self._llm().chat(conversations, params, use_tqdm=False):
                text = output.outputs[0].text if output.outputs else None
                if on_answer is not None:
                    on_answer(len(answers), text, self.model)
                answers.append(text)
        return answers


def make_backend(backend: str, model: str, **options: Any) -> JudgeBackend:
    """A judge backend by its registered name: `openai`, `transformers` or `vllm`.

    Example:
        >>> make_backend("openai", "my-judge", base_url="http://127.0.0.1:8000/v1").name
        'openai'
    """
    return JUDGE_BACKENDS.build(backend, model=model, **options)
