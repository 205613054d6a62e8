"""The model-family matrix: every family the README claims, as a tiny model of its real classes, through the collator
(video and images mode, rows with and without portraits), forward and backward, LoRA, merge and narrate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("peft", reason="the family matrix needs the `train` extra")

import torch  # noqa: E402
from peft import PeftModel, get_peft_model  # noqa: E402
from transformers import AutoModelForImageTextToText, AutoProcessor  # noqa: E402
from trl import ModelConfig  # noqa: E402

from movie101v2_hf.backends.base import merge_adapter  # noqa: E402
from movie101v2_hf.data.loading import load_clips, load_portraits  # noqa: E402
from movie101v2_hf.narrate import NarrateOptions, narrate_split  # noqa: E402
from movie101v2_hf.prompting import IGNORE_INDEX, NarrationCollator, PromptSettings  # noqa: E402
from movie101v2_hf.testing import FAMILIES, make_tiny_model  # noqa: E402
from movie101v2_hf.training import find_modules, lora_config  # noqa: E402

MOVIE = "iqy-17247000500"


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family_model(request, tmp_path_factory) -> tuple[str, Path]:
    return request.param, make_tiny_model(request.param, tmp_path_factory.mktemp(request.param) / "model")


@pytest.fixture(scope="module")
def rows(sample_prepared_with_movies):
    return load_clips(str(sample_prepared_with_movies), "en", "train", movie_ids=[MOVIE], max_samples=2)


@pytest.fixture(scope="module")
def attacher(sample_prepared_with_movies):
    return load_portraits(str(sample_prepared_with_movies), "en", max_portraits=2)


def _batch(model_dir, rows, attacher, **settings):
    processor = AutoProcessor.from_pretrained(model_dir)
    collator = NarrationCollator(processor, PromptSettings(video_num_frames=4, max_portraits=2, **settings), attacher)
    # the first row with its cast's portraits, the second with none
    return collator([rows[0], {**rows[1], "portraits": []}]), processor


@pytest.mark.parametrize("input_mode", ["video", "images"])
def test_collator_forward_and_backward(family_model, rows, attacher, input_mode):
    family, model_dir = family_model
    batch, processor = _batch(model_dir, rows, attacher, input_mode=input_mode)
    supervised = batch["labels"][0] != IGNORE_INDEX
    assert processor.tokenizer.decode(batch["input_ids"][0][supervised]).lstrip().startswith(rows[0]["narration"])
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    loss = model(**batch).loss
    assert torch.isfinite(loss), family
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_lora_trains_and_merges(family_model, rows, attacher, tmp_path):
    family, model_dir = family_model
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    parts = find_modules(model)
    config = lora_config(model, ModelConfig(lora_r=8, lora_alpha=16, lora_dropout=0.0))
    peft_model = get_peft_model(model, config)
    trainable = {name for name, p in peft_model.named_parameters() if p.requires_grad}
    assert any("lora_A" in name for name in trainable)
    assert parts["projector"] and any(".modules_to_save." in name for name in trainable), family
    batch, processor = _batch(model_dir, rows, attacher)
    optimizer = torch.optim.SGD([p for p in peft_model.parameters() if p.requires_grad], lr=0.5)
    peft_model(**batch).loss.backward()
    optimizer.step()
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter)
    processor.save_pretrained(adapter)
    PromptSettings(video_num_frames=4, max_portraits=2).save(adapter)

    merged = tmp_path / "merged"
    merge_adapter(adapter, str(model_dir), merged)
    reloaded = AutoModelForImageTextToText.from_pretrained(merged).eval()
    adapted = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(model_dir), adapter).eval()
    with torch.no_grad():
        assert torch.allclose(reloaded(**batch).logits, adapted(**batch).logits, atol=1e-4), family


def test_narrate_with_the_transformers_backend(family_model, sample_prepared_with_movies, tmp_path):
    family, model_dir = family_model
    out = tmp_path / "preds.jsonl"
    options = NarrateOptions(
        dataset=str(sample_prepared_with_movies),
        out=str(out),
        model=str(model_dir),
        split="train",
        movie_ids=[MOVIE],
        max_samples=3,
        batch_size=2,
        num_workers=0,
        max_new_tokens=4,
        video_num_frames=4,
        max_portraits=2,
        show_progress=False,
        device="cpu",
    )
    record = narrate_split(options)
    assert record.complete and not record.failures, (family, record.failures)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["clip_id"] for line in lines] == [f"{MOVIE}_long_{i:05d}" for i in range(3)]
