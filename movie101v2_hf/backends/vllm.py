"""The `vllm` backend: offline `vllm.LLM` with frames and portraits as multimodal data (the fast path; GPU)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ..errors import BackendSetupError, require
from .base import BACKENDS, CollatorBackend, adapter_config, merged_model

logger = logging.getLogger(__name__)


# The ranks vLLM's LoRA kernels are built for (`LoRAConfig.max_lora_rank`); an adapter's rank is served in the next.
LORA_RANK_SLOTS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def lora_rank_slot(rank: int) -> int:
    """The smallest rank vLLM accepts that holds an adapter of rank `rank`.

    Example:
        >>> lora_rank_slot(4), lora_rank_slot(16), lora_rank_slot(24)
        (8, 16, 32)
    """
    for slot in LORA_RANK_SLOTS:
        if rank <= slot:
            return slot
    raise ValueError(f"A LoRA rank of {rank} is more than vLLM serves (at most {LORA_RANK_SLOTS[-1]}).")


def check_video_support(llm: Any, takes_video: bool) -> None:
    """Stop before any clip when the prompts have a video that vLLM's implementation of the model cannot take."""
    from vllm.multimodal import MULTIMODAL_REGISTRY

    supported = MULTIMODAL_REGISTRY.get_processing_info(llm.model_config).get_supported_mm_limits()
    if takes_video and "video" not in supported:
        architecture = ", ".join(llm.model_config.architectures or ["this model"])
        raise BackendSetupError(
            f"vLLM's {architecture} takes {', '.join(sorted(supported)) or 'no'} inputs, no video: narrate it with "
            "--input-mode images (frames tiled into images), or use --backend transformers for video mode."
        )


@BACKENDS.register("vllm")
@dataclass
class VLLMBackend(CollatorBackend):
    """Offline vLLM: the prompt rendered with the model's chat template, frames and portraits as multimodal data.

    A LoRA adapter is served with `LoRARequest`. vLLM's LoRA covers the language model's linear layers only, so an
    adapter that also trained the projector (`modules_to_save`, the paper's setting and our recipes' default) is
    merged into the base model first, once, into `merged_dir`. Needs the `vllm` extra and a GPU.

    Example (needs vLLM and a GPU, so it is not run by the tests; tests/test_vllm.py runs vLLM's CPU build):
        >>> backend = VLLMBackend("Qwen/Qwen2.5-VL-7B-Instruct", PromptSettings(), tensor_parallel_size=2)  # doctest: +SKIP
    """

    tensor_parallel_size: int = 1
    max_model_len: int | None = 32768
    merged_dir: str | None = field(default=None, metadata={"option": False})  # Python API: default ADAPTER/merged
    dtype: str = "auto"
    enforce_eager: bool = False
    llm_kwargs: dict[str, Any] = field(default_factory=dict, metadata={"option": False})  # Python API: more LLM(...)
    request_kind = "vllm"

    def _engine(self) -> Any:
        if not hasattr(self, "_llm"):
            require("vllm", extra="vllm", feature="The vllm backend")
            from vllm import LLM

            model, lora = self.model, {}
            config = adapter_config(self.adapter)
            if self.adapter and config.get("modules_to_save"):
                logger.info("vLLM cannot load the adapter's projector weights as LoRA: using the merged model")
                model = merged_model(self.adapter, self.model, self.merged_dir)
            elif self.adapter:
                lora = {"enable_lora": True, "max_lora_rank": lora_rank_slot(int(config.get("r", 16))), "max_loras": 1}
            limits = self.collator.media_limits()
            llm = LLM(
                model=model,
                tensor_parallel_size=self.tensor_parallel_size,
                max_model_len=self.max_model_len,
                limit_mm_per_prompt=limits,
                seed=0,
                dtype=self.dtype,
                enforce_eager=self.enforce_eager,
                **lora,
                **self.llm_kwargs,
            )
            check_video_support(llm, limits["video"] > 0)
            self._llm = llm
        return self._llm

    def generate(self, batch: Any) -> list[str | BaseException]:
        from vllm import SamplingParams

        llm = self._engine()
        lora_request = None
        if self.adapter and not adapter_config(self.adapter).get("modules_to_save"):
            from vllm.lora.request import LoRARequest

            lora_request = LoRARequest("narration", 1, str(self.adapter))
        params = SamplingParams(temperature=0, max_tokens=self.max_new_tokens)
        outputs = llm.generate(batch, params, lora_request=lora_request, use_tqdm=False)
        return [
            output.outputs[0].text.strip() if output.outputs else RuntimeError("vLLM returned no completion")
            for output in outputs
        ]

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "adapter": self.adapter,
            "max_new_tokens": self.max_new_tokens,
            "tensor_parallel_size": self.tensor_parallel_size,
        }
