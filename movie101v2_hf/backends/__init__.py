"""Vision-language model backends behind one protocol, registered by name in `BACKENDS`: `transformers` (any
machine), `vllm` (GPU, fast) and `openai` (a server). Importing this package registers them; the narration
baseline `retrieval` registers itself from `movie101v2_hf.narrate`."""

from . import openai, transformers, vllm  # noqa: F401  (registers the backends)
from .base import BACKENDS, Backend, CollatorRequests, RequestBuilder, load_processor, merge_adapter, merged_model
from .openai import OpenAIBackend
from .transformers import TransformersBackend
from .vllm import VLLMBackend

__all__ = [
    "BACKENDS",
    "Backend",
    "CollatorRequests",
    "OpenAIBackend",
    "RequestBuilder",
    "TransformersBackend",
    "VLLMBackend",
    "load_processor",
    "merge_adapter",
    "merged_model",
]
