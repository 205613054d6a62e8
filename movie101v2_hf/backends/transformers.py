"""The `transformers` backend: batched greedy `generate` on any machine, a LoRA adapter (PEFT) loaded on top."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import BACKENDS, CollatorBackend


@BACKENDS.register("transformers")
@dataclass
class TransformersBackend(CollatorBackend):
    """Batched greedy generation with `transformers`; a LoRA adapter (PEFT) is loaded on top of the model.

    Example:
        >>> settings = PromptSettings(video_num_frames=2, max_portraits=0)
        >>> backend = TransformersBackend(tiny_model, settings, max_new_tokens=2, device="cpu")  # adapter="runs/lora"
        >>> builder = backend.builder()
        >>> [type(text).__name__ for text in backend.generate(builder.batch([builder.prepare(test[0])]))]
        ['str']
    """

    device: str | None = None
    dtype: str = "auto"

    def _loaded(self) -> Any:
        if not hasattr(self, "_model"):
            import torch
            from transformers import AutoModelForImageTextToText

            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            model: Any = AutoModelForImageTextToText.from_pretrained(self.model, dtype=self.dtype)
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
