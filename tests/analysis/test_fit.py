"""`analyze fit`: the narrator's perplexity on the training collator's labels, zero-shot and with an adapter,
against transformers' own loss on the same batches."""

from __future__ import annotations

import json
import math

import pytest

from movie101v2_hf import cli


@pytest.fixture(scope="module")
def narrator(mini_prepared, tmp_path_factory):
    """A tiny Qwen2.5-VL and a random LoRA adapter of it, saved with its prompt settings as the recipe does."""
    import torch
    from datasets import load_dataset
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from movie101v2_hf.prompting import PromptSettings
    from movie101v2_hf.testing import make_tiny_video_llm

    root = tmp_path_factory.mktemp("fit")
    corpus = load_dataset(str(mini_prepared), "en", split="train")["narration"]
    model_dir = make_tiny_video_llm(root / "model", corpus)
    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)  # not a no-op
    get_peft_model(model, config).save_pretrained(root / "adapter")
    AutoProcessor.from_pretrained(model_dir).save_pretrained(root / "adapter")
    PromptSettings(language="en", video_num_frames=2, max_portraits=1).save(root / "adapter")
    return model_dir, root / "adapter"


def _direct(model, collator, rows) -> float:
    nll, tokens = 0.0, 0
    for row in rows:
        batch = collator([row])
        count = int((batch["labels"][:, 1:] != -100).sum())
        nll += model(**batch).loss.item() * count  # transformers shifts the labels itself
        tokens += count
    return math.exp(nll / tokens)


def test_fit_zero_shot_and_fine_tuned_equal_transformers_loss(narrator, mini_prepared, tmp_path):
    from datasets import Video, load_dataset
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from movie101v2_hf.data.loading import load_portraits
    from movie101v2_hf.prompting import NarrationCollator, PromptSettings

    model_dir, adapter = narrator
    out = tmp_path / "fit"
    command = ["analyze", "fit", "--model", str(model_dir), "--adapter", str(adapter), "--dataset", str(mini_prepared),
               "--splits", "validation", "test", "--out", str(out)]  # fmt: skip
    assert cli.main(command) == 0
    results = json.loads((out / "fit.json").read_text())["splits"]

    settings = PromptSettings.load(adapter)
    collator = NarrationCollator(
        AutoProcessor.from_pretrained(adapter),
        settings,
        portraits=load_portraits(str(mini_prepared), "en", max_portraits=1),
    )
    base = AutoModelForImageTextToText.from_pretrained(model_dir).eval()
    tuned = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(model_dir), adapter).eval()
    for split in ("validation", "test"):
        rows = list(load_dataset(str(mini_prepared), "en", split=split).cast_column("video", Video(decode=False)))
        assert results[split]["zero-shot"]["clips"] == len(rows)
        assert results[split]["zero-shot"]["perplexity"] == pytest.approx(_direct(base, collator, rows), rel=1e-3)
        assert results[split]["fine-tuned"]["perplexity"] == pytest.approx(_direct(tuned, collator, rows), rel=1e-3)
        assert results[split]["zero-shot"]["perplexity"] != pytest.approx(results[split]["fine-tuned"]["perplexity"])
    assert (out / "fit.png").stat().st_size > 5000
