"""Text-LLM backends behind one protocol, registered by name: `openai` (any OpenAI-compatible server),
`transformers` (a local model) and `vllm` (offline). The L1/L2 judge, ShotBench's matcher and the synthetic-movie
planner all ask through them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Protocol, cast

from ..errors import JudgeUnavailableError, require
from ..utils.openai_client import ChatClient, ChatRequestError
from ..utils.registry import Registry
from .formats import AnswerFormat

logger = logging.getLogger(__name__)

# Called by a backend for each answer as soon as it has it: (index of the prompt, answer or None when the
# request failed for good, the model the server says answered or None).
OnAnswer = Callable[[int, "str | None", "str | None"], None]


class TextLLM(Protocol):
    """What a text-LLM backend does: answer a batch of prompts greedily, reporting each answer through `on_answer`
    the moment it arrives (None for a request that finally failed), so that the caller can store it at once.

    `answer_format` constrains the answers where the engine offers structured output (OpenAI-compatible
    `response_format` for a JSON schema, `structured_outputs` for a regex on vLLM/SGLang servers, vLLM's
    `StructuredOutputsParams`); the caller parses every answer anyway. `settings()` names what changes an answer
    besides the model and the prompt (it is part of the response cache's key).
    """

    @property
    def name(self) -> str: ...

    @property
    def model(self) -> str: ...

    @property
    def endpoint(self) -> str | None: ...

    def generate(
        self,
        prompts: Sequence[str],
        *,
        answer_format: AnswerFormat | None = None,
        on_answer: OnAnswer | None = None,
    ) -> list[str | None]: ...

    def settings(self) -> dict[str, Any]: ...


LLM_BACKENDS: Registry[TextLLM] = Registry("text LLM backend")


@dataclass
class _Greedy:
    """Fields every text backend has: the model and the answer length cap; answers are greedy (temperature 0)."""

    model: str
    max_tokens: int = 16
    name: ClassVar[str]

    def settings(self) -> dict[str, Any]:
        return {"temperature": 0, "max_tokens": self.max_tokens}


@LLM_BACKENDS.register("openai")
@dataclass
class OpenAILLM(_Greedy):
    """Any OpenAI-compatible chat endpoint: vLLM's server, SGLang, TGI, `transformers serve`, hosted APIs.

    Requests run concurrently (at most `concurrency` at a time); 429, 5xx, timeouts and connection errors
    are retried `retries` times with exponential backoff (honouring `Retry-After`), and a prompt that still
    fails gets None: the run goes on. When `max_consecutive_failures` requests in a row fail that way, the server
    is taken to be down or hanging and `generate` stops early with `JudgeUnavailableError` naming the URL, so a
    run fails in bounded time (about `(retries + 1) * timeout` plus the backoff) instead of waiting on every
    prompt. The API key is read from the environment variable `api_key_env` and never printed. A regex format is
    sent only with `structured_output` (vLLM and SGLang servers take it; hosted APIs refuse it).

    Example:
        >>> llm = OpenAILLM(model="meta-llama/Llama-3.1-70B-Instruct", base_url="http://localhost:8000/v1")
        >>> llm
        OpenAILLM(model='meta-llama/Llama-3.1-70B-Instruct', base_url='http://localhost:8000/v1', concurrency=16)
    """

    base_url: str = "http://localhost:8000/v1"
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 16
    retries: int = 4
    timeout: float = 120.0
    structured_output: bool = False
    max_consecutive_failures: int = 3

    @property
    def endpoint(self) -> str:
        return self.base_url

    def __repr__(self) -> str:  # never show the key
        return f"OpenAILLM(model={self.model!r}, base_url={self.base_url!r}, concurrency={self.concurrency})"

    def body(self, prompt: str, answer_format: AnswerFormat | None) -> dict[str, Any]:
        """The chat request for one prompt."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": 0,
            "max_tokens": self.max_tokens,
        }
        if answer_format is not None and answer_format.regex and self.structured_output:
            body["structured_outputs"] = {"regex": answer_format.regex}
        if answer_format is not None and answer_format.json_schema is not None:
            body["response_format"] = answer_format.response_format()
        return body

    def generate(
        self,
        prompts: Sequence[str],
        *,
        answer_format: AnswerFormat | None = None,
        on_answer: OnAnswer | None = None,
    ) -> list[str | None]:
        client = ChatClient(self.base_url, self.api_key_env, self.retries, self.timeout)
        breaker = _Breaker(self.max_consecutive_failures)

        def one(index: int) -> str | None:
            if breaker.open.is_set():  # the server is down: do not queue more waiting on it
                return None
            try:
                reply = client.chat(self.body(prompts[index], answer_format))
            except ChatRequestError as err:  # the prompt gets None and the run goes on, unless the server is gone
                logger.warning("LLM request failed: %s", err)
                if not breaker.failed(err) and on_answer is not None:
                    on_answer(index, None, None)
                return None
            breaker.succeeded()
            if on_answer is not None:
                on_answer(index, reply.text, reply.model)
            return reply.text

        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            answers = list(pool.map(one, range(len(prompts))))
        if breaker.open.is_set():
            raise JudgeUnavailableError(
                f"the judge at {self.base_url} failed {breaker.consecutive} requests in a row, each after "
                f"{self.retries + 1} attempts with a {self.timeout:g} s timeout (last: {breaker.last}). Check that "
                "the server is up and serves this model (its URL and model options); raise the timeout for a slow "
                "one. Answers received so far are cached: a re-run asks only for the rest."
            )
        return answers


class _Breaker:
    """Counts transient failures in a row across the request threads; opens after `limit` of them."""

    def __init__(self, limit: int) -> None:
        self.limit, self.consecutive, self.last = limit, 0, ""
        self.open = threading.Event()
        self._lock = threading.Lock()

    def failed(self, err: ChatRequestError) -> bool:
        """Record a failure; True when the breaker is now open."""
        with self._lock:
            self.consecutive = self.consecutive + 1 if err.transient else 0
            self.last = str(err)
            if self.consecutive >= self.limit:
                self.open.set()
        return self.open.is_set()

    def succeeded(self) -> None:
        with self._lock:
            self.consecutive = 0


@LLM_BACKENDS.register("transformers")
@dataclass
class TransformersLLM(_Greedy):
    """A local `transformers` causal LM, batched greedy generation with the model's chat template. The answer
    format is not enforced: the caller parses the answers.

    Example:
        >>> TransformersLLM(model="path/to/Llama-3.1-8B-Instruct", batch_size=8).settings()
        {'temperature': 0, 'max_tokens': 16}
    """

    batch_size: int = 8
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
            model: Any = AutoModelForCausalLM.from_pretrained(self.model, dtype=self.dtype)
            model = model.to(device).eval()
            self._loaded = (tokenizer, model)
        return self._loaded

    def _chat(self, tokenizer: Any, prompts: list[str]) -> list[str]:
        if not tokenizer.chat_template:
            return prompts
        return [
            tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
            for p in prompts
        ]

    def generate(
        self,
        prompts: Sequence[str],
        *,
        answer_format: AnswerFormat | None = None,
        on_answer: OnAnswer | None = None,
    ) -> list[str | None]:
        import torch

        tokenizer, model = self._load()
        answers: list[str | None] = []
        for begin in range(0, len(prompts), self.batch_size):
            batch = self._chat(tokenizer, list(prompts[begin : begin + self.batch_size]))
            inputs = tokenizer(
                batch, return_tensors="pt", padding=True, add_special_tokens=not tokenizer.chat_template
            )
            inputs = inputs.to(model.device)
            with torch.inference_mode():
                output = model.generate(
                    **inputs, max_new_tokens=self.max_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
                )
            for text in tokenizer.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True):
                if on_answer is not None:
                    on_answer(len(answers), text, self.model)
                answers.append(text)
        return answers


@LLM_BACKENDS.register("vllm")
@dataclass
class VLLMLLM(_Greedy):
    """Offline vLLM (`vllm.LLM`): batched, greedy, the answer format enforced by structured output (the L1 judge
    can only write `E,C`). Needs the `vllm` extra.

    Example:
        >>> VLLMLLM(model="meta-llama/Llama-3.1-70B-Instruct", tensor_parallel_size=4).settings()
        {'temperature': 0, 'max_tokens': 16}
    """

    tensor_parallel_size: int = 1
    max_model_len: int | None = 8192
    llm_kwargs: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 256
    endpoint: str | None = field(default=None, init=False)

    def _llm(self) -> Any:
        if not hasattr(self, "_engine"):
            require("vllm", extra="vllm", feature="The vllm text backend")
            from vllm import LLM

            self._engine = LLM(
                model=self.model,
                tensor_parallel_size=self.tensor_parallel_size,
                max_model_len=self.max_model_len,
                **self.llm_kwargs,
            )
        return self._engine

    def generate(
        self,
        prompts: Sequence[str],
        *,
        answer_format: AnswerFormat | None = None,
        on_answer: OnAnswer | None = None,
    ) -> list[str | None]:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        structured = None
        if answer_format is not None and answer_format.json_schema is not None:
            structured = StructuredOutputsParams(json=answer_format.json_schema)
        elif answer_format is not None and answer_format.regex:
            structured = StructuredOutputsParams(regex=answer_format.regex)
        params = SamplingParams(temperature=0, max_tokens=self.max_tokens, structured_outputs=structured)
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


def make_llm(backend: str, model: str, **options: Any) -> TextLLM:
    """A text-LLM backend by its registered name: `openai`, `transformers` or `vllm`.

    An option the backend does not have is refused when it is set (not None, not False): `base_url` for `vllm`
    says the user mixed up two backends, and dropping it silently would hide that.

    Example:
        >>> make_llm("openai", "my-judge", base_url="http://127.0.0.1:8000/v1").name
        'openai'
        >>> make_llm("vllm", "my-judge", base_url="http://127.0.0.1:8000/v1")
        Traceback (most recent call last):
        ...
        ValueError: The vllm text backend has no option base_url (its options: model, max_tokens, tensor_parallel_size, max_model_len, llm_kwargs, batch_size).
    """
    cls = LLM_BACKENDS.get(backend)
    known = [item.name for item in fields(cls) if item.init]  # type: ignore[arg-type]
    options = {name: value for name, value in options.items() if value is not None and value is not False}
    unknown = [name for name in options if name not in known]
    if unknown:
        raise ValueError(
            f"The {backend} text backend has no option {', '.join(unknown)} (its options: {', '.join(known)})."
        )
    return cast(Any, cls)(model=model, **options)  # a registered dataclass (the protocol has no constructor)
