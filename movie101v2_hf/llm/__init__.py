"""The text-LLM layer: backends that answer prompts, a cache of every answer, and one loop that asks.

- `formats`: `AnswerFormat`, a regex or a JSON schema the answer must follow (free text: None);
- `backends`: `openai`, `transformers`, `vllm`, registered by name, each reporting an answer as it arrives;
- `cache`: `ResponseCache`, answers on disk keyed by a hash of the request (model, prompt, format, settings);
- `rounds`: `Rounds`, look up, ask the rest, store each answer at once, ask an invalid one again (`RoundPolicy`).

The L1/L2 judge (`judge/`), ShotBench's matcher and the synthetic planner are built on it.
"""

from .backends import LLM_BACKENDS, VLLMLLM, OnAnswer, OpenAILLM, TextLLM, TransformersLLM, make_llm
from .cache import CachedResponse, Request, ResponseCache, default_cache_path
from .formats import AnswerFormat
from .rounds import REQUEST_FAILED, Asked, Outcome, RoundPolicy, Rounds

__all__ = [
    "LLM_BACKENDS",
    "REQUEST_FAILED",
    "AnswerFormat",
    "Asked",
    "CachedResponse",
    "OnAnswer",
    "OpenAILLM",
    "Outcome",
    "Request",
    "ResponseCache",
    "RoundPolicy",
    "Rounds",
    "TextLLM",
    "TransformersLLM",
    "VLLMLLM",
    "default_cache_path",
    "make_llm",
]
