"""A text LLM's options, declared once: `LLMOptions` for a job that talks to one LLM (`synth plan`), and the same
fields prefixed (`--judge-model`, `--judge-timeout`, ...) for a job whose LLM is one component among others
(`evaluate`, `bench`, `shotbench evaluate`): `prefixed_llm_options("judge")`.

A field left at None takes the backend's own default; a field set for a backend that has no such option is refused
(`make_llm`), so `--judge-url` with `--judge-backend vllm` is an error, not silently dropped.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from .backends import LLM_BACKENDS, TextLLM, make_llm
from .cache import ResponseCache, default_cache_path

# what each option means, once; the field names are the one name per concept across commands
_HELP = {
    "backend": "Text LLM backend: openai (a server), transformers (local), vllm (offline).",
    "model": "The LLM: the served name (openai), a model id or folder.",
    "base_url": "Base URL of an OpenAI-compatible server (openai); key from OPENAI_API_KEY.",
    "concurrency": "Requests at once (openai; default 16).",
    "timeout": "Seconds per request attempt (openai; default 120).",
    "retries": "Retries of a request on 429/5xx/timeouts/connection errors; after 3 requests in a row fail for "
    "good, the run stops (openai; default 4).",
    "max_tokens": "Answer length cap in tokens (default: the job's).",
    "structured_output": "Constrain answers to the expected format (vLLM / SGLang servers; openai).",
    "cache": "SQLite file of cached answers (default: the user's, $MOVIE101V2_HF_CACHE/responses.sqlite, shared "
    "by every run).",
}


@dataclass(kw_only=True)
class LLMOptions:
    """The options of one text LLM (see the module).

    Example:
        >>> LLMOptions(backend="openai", model="judge", base_url="http://127.0.0.1:8000/v1", timeout=5).build()
        OpenAILLM(model='judge', base_url='http://127.0.0.1:8000/v1', concurrency=16)
    """

    backend: str = field(default="openai", metadata={"help": _HELP["backend"], "choices": LLM_BACKENDS.names()})
    model: str | None = field(default=None, metadata={"help": _HELP["model"]})
    base_url: str | None = field(default=None, metadata={"help": _HELP["base_url"]})
    concurrency: int | None = field(default=None, metadata={"help": _HELP["concurrency"]})
    timeout: float | None = field(default=None, metadata={"help": _HELP["timeout"]})
    retries: int | None = field(default=None, metadata={"help": _HELP["retries"]})
    max_tokens: int | None = field(default=None, metadata={"help": _HELP["max_tokens"]})
    structured_output: bool = field(default=False, metadata={"help": _HELP["structured_output"]})
    cache: str | None = field(default=None, metadata={"help": _HELP["cache"]})

    def build(self, **defaults: Any) -> TextLLM:
        """The backend; `defaults` fill the options left at None (the job's own defaults, such as `max_tokens`),
        for the backends that have them."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(LLMOptions) if f.name != "cache"}
        backend, model = values.pop("backend"), values.pop("model")
        if not model:
            raise ValueError(f"The {backend} text backend needs a model.")
        known = {f.name for f in dataclasses.fields(LLM_BACKENDS.get(backend))}  # type: ignore[arg-type]
        for name, value in defaults.items():
            if values.get(name) is None and name in known:
                values[name] = value
        return make_llm(backend, model, **values)

    def response_cache(self) -> ResponseCache:
        """The cache the answers go to: `cache`, else the user's."""
        return ResponseCache(self.cache or default_cache_path())


def prefixed_llm_options(prefix: str, *, name: str | None = None, **defaults: Any) -> type:
    """`LLMOptions`'s fields as a dataclass with each field prefixed (`judge_model`, `judge_url`, ...), to compose
    into a job's options by inheritance; `to_llm_options(options, prefix)` takes them back out. `defaults` replace
    field defaults (`backend=None`: the component is off unless chosen).

    Example:
        >>> Judging = prefixed_llm_options("judge", backend=None)
        >>> options = Judging(judge_backend="openai", judge_model="m", judge_url="http://127.0.0.1:1/v1")
        >>> to_llm_options(options, "judge").base_url
        'http://127.0.0.1:1/v1'
    """
    specs = []
    hints = typing.get_type_hints(LLMOptions)  # this module's annotations are strings (postponed)
    for item in dataclasses.fields(LLMOptions):
        default = defaults.get(item.name, item.default)
        kind = hints[item.name]
        if item.name == "backend" and default is None:
            kind = str | None
        metadata = dict(item.metadata)
        flag = _field_name(prefix, item.name)
        if flag != f"{prefix}_{item.name}":  # `--judge-url` is the established flag; `--judge-base-url` works too
            metadata["aliases"] = [f"--{prefix}-{item.name.replace('_', '-')}"]
        specs.append((flag, kind, field(default=default, metadata=metadata)))
    return dataclasses.make_dataclass(name or f"{prefix.title()}LLMOptions", specs, kw_only=True)


def _field_name(prefix: str, name: str) -> str:
    """`judge_url` for `base_url` (the established flag), `judge_<name>` otherwise."""
    return f"{prefix}_url" if name == "base_url" else f"{prefix}_{name}"


def to_llm_options(options: Any, prefix: str) -> LLMOptions:
    """The `LLMOptions` inside a job's options composed with `prefixed_llm_options(prefix)`."""
    values = {f.name: getattr(options, _field_name(prefix, f.name)) for f in dataclasses.fields(LLMOptions)}
    return LLMOptions(**values)
