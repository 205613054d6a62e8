"""The `transformers` backend: batched greedy `generate` on any machine, a LoRA adapter (PEFT) loaded on top."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..prompting import NarrationCollator, PromptSettings
from .base import BACKENDS, CollatorRequests, RequestBuilder, load_processor


@BACKENDS.register("transformers")
@dataclass
class TransformersBackend:
    """Batched greedy generation with `transformers`; a LoRA adapter (PEFT) is loaded on top of the model.

    Example:
        >>> backend = TransformersBackend("Qwen/Qwen2.5-VL-7B-Instruct", PromptSettings(), adapter="runs/lora")  # doctest: +SKIP
    """

    model: str
    settings: PromptSettings
    portraits: Any = None
    adapter: str | None = None
    max_new_tokens: int = 256
    device: str | None = None
    dtype: str = "auto"
    needs_frames = True
    takes_examples = False

    @classmethod
    def from_options(cls, options: Any, *, settings: PromptSettings, portraits: Any, examples: Any = None) -> Any:
        return cls(
            options.model,
            settings,
            portraits,
            adapter=options.adapter,
            max_new_tokens=options.max_new_tokens,
            device=options.device,
            dtype=options.dtype,
        )

    def __post_init__(self) -> None:
        self.processor = load_processor(self.model, self.adapter)
        self.collator = NarrationCollator(self.processor, self.settings, self.portraits)

    def builder(self) -> RequestBuilder:
        return CollatorRequests(self.collator, "tensors")

    def _loaded(self) -> Any:
        if not hasattr(self, "_model"):
            import torch
            from transformers import AutoModelForImageTextToText

            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            model = AutoModelForImageTextToText.from_pretrained(self.model, dtype=self.dtype)
            if self.adapter:
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, self.adapter)
            self._model = model.to(device).eval()
        return self._model

    def generate(self, batch: Any) -> list[str | BaseException]:
        import torch

        model = self._loaded()
        batch = batch.to(model.device)
        tokenizer = self.processor.tokenizer
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        with torch.inference_mode():
            output = model.generate(**batch, max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=pad)
        new_tokens = output[:, batch["input_ids"].shape[1] :]
        return [text.strip() for text in self.processor.batch_decode(new_tokens, skip_special_tokens=True)]

    def describe(self) -> dict[str, Any]:
        return {"model": self.model, "adapter": self.adapter, "max_new_tokens": self.max_new_tokens}
