"""The options of a model engine, declared once: every job that runs a model backend (`narrate`, `shotbench run`)
composes `EngineOptions` into its own options, and `CollatorBackend.from_options` fills each backend's fields from
them by name (refusing a field the options lack)."""

from __future__ import annotations

from dataclasses import dataclass, field

ENFORCE_EAGER_HELP = "vllm: no CUDA graphs or compilation (an engine starts in seconds; decoding is slower)."


@dataclass(kw_only=True)
class EngineOptions:
    """How a model runs: its copies and GPUs, vLLM's context, an OpenAI-compatible server's requests, the device.

    Example:
        >>> EngineOptions(tensor_parallel_size=2).max_model_len
        32768
    """

    data_parallel_size: int = field(
        default=1,
        metadata={"help": "Model copies, one `accelerate launch` process each on its own GPUs and share of the rows."},
    )
    tensor_parallel_size: int = field(default=1, metadata={"help": "GPUs per model copy (vllm)."})
    max_model_len: int | None = field(default=32768, metadata={"help": "Context length (vllm)."})
    enforce_eager: bool = field(default=False, metadata={"help": ENFORCE_EAGER_HELP})
    base_url: str = field(
        default="http://localhost:8000/v1",
        metadata={"help": "The server's /v1 URL (openai); key from OPENAI_API_KEY."},
    )
    concurrency: int = field(default=8, metadata={"help": "Concurrent requests (openai)."})
    request_retries: int = field(default=4, metadata={"help": "Retries of a request on 429/5xx/timeouts (openai)."})
    timeout: float = field(default=120.0, metadata={"help": "Seconds per request attempt (openai)."})
    device: str | None = field(
        default=None, metadata={"help": "transformers: cuda, cpu, ... (default: cuda when available)."}
    )
    dtype: str = field(default="auto", metadata={"help": "transformers, vllm: model dtype."})
    frame_cache: str | None = field(
        default=None,
        metadata={"help": "A frame-cache folder: each clip decoded once, then read back (shared by runs and models)."},
    )
