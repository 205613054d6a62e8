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
from movie101v2_hf.narrate import NarrateOptions, narrate_split  # noqa: E402
from movie101v2_hf.prompting import IGNORE_INDEX, NarrationCollator, PromptSettings  # noqa: E402
from movie101v2_hf.testing import FAMILIES, make_tiny_model  # noqa: E402
from movie101v2_hf.training import find_modules, lora_config  # noqa: E402

MOVIE = "iqy-17247000500"


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family_model(request, tmp_path_factory) -> tuple[str, Path]:
    return request.param, make_tiny_model(request.param, tmp_path_factory.mktemp(request.param) / "model")


def _batch(model_dir, clips, attacher, **settings):
    processor = AutoProcessor.from_pretrained(model_dir)
    collator = NarrationCollator(processor, PromptSettings(video_num_frames=4, max_portraits=2, **settings), attacher)
    # the first row with its cast's portraits, the second with none
    return collator([clips[0], {**clips[1], "portraits": []}]), processor


@pytest.mark.parametrize("input_mode", ["video", "images"])
def test_collator_forward_and_backward(family_model, clips, attacher, input_mode):
    family, model_dir = family_model
    batch, processor = _batch(model_dir, clips, attacher, input_mode=input_mode)
    supervised = batch["labels"][0] != IGNORE_INDEX
    assert processor.tokenizer.decode(batch["input_ids"][0][supervised]).lstrip().startswith(clips[0]["narration"])
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    loss = model(**batch).loss
    assert torch.isfinite(loss), family
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_lora_trains_and_merges(family_model, clips, attacher, tmp_path):
    family, model_dir = family_model
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    parts = find_modules(model)
    config = lora_config(model, ModelConfig(lora_r=8, lora_alpha=16, lora_dropout=0.0))
    peft_model = get_peft_model(model, config)
    trainable = {name for name, p in peft_model.named_parameters() if p.requires_grad}
    assert any("lora_A" in name for name in trainable)
    assert parts["projector"] and any(".modules_to_save." in name for name in trainable), family
    batch, processor = _batch(model_dir, clips, attacher)
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


# -- first-use fixes of the real-models issue ---------------------------------------------------------------------


def test_smolvlm_processor_dependency_is_in_the_train_extra():
    import tomllib

    extras = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert any(requirement.startswith("num2words") for requirement in extras["train"])


def test_frame_times_told_to_the_model_are_the_decoded_ones(indexed_movie):
    from movie101v2_hf.data.video import ClipSampler
    from movie101v2_hf.prompting import clip_metadata

    frames, times = ClipSampler(num_frames=4).decode(str(indexed_movie), 2.0, 6.0)
    metadata = clip_metadata(frames, 2.0, 6.0, times)
    assert metadata.timestamps == pytest.approx([float(t) - 2.0 for t in times], abs=1e-3)
    assert metadata.timestamps[0] > 0.0  # frame 0 is not at the clip's start (the old k * step labels)
    assert metadata.sampled_fps == pytest.approx(1.0)  # 4 frames over 4 seconds (Qwen2.5-VL's time grid)


def test_qwen3_vl_prints_the_real_frame_times(family_model, indexed_movie):
    family, model_dir = family_model
    if family != "qwen3-vl":
        pytest.skip("Qwen3-VL prints frame times into the prompt")
    processor = AutoProcessor.from_pretrained(model_dir)
    collator = NarrationCollator(processor, PromptSettings(video_num_frames=4, max_portraits=0))
    row = {"clip_id": "m_long_00000", "movie_id": "m", "video": str(indexed_movie), "start": 2.0, "end": 6.0}
    inputs = collator.prompt_inputs([row])
    text = processor.tokenizer.decode(inputs["input_ids"][0])
    # frames at 2.5, 3.5, 4.5, 5.5 s of the movie; pairs averaged per temporal patch: 1.0 and 3.0 s of the clip
    assert "<1.0 seconds>" in text and "<3.0 seconds>" in text, text


def test_vllm_media_limits_follow_the_frames_that_decide(tmp_path):
    from movie101v2_hf.backends.vllm import lora_rank_slot

    processor = AutoProcessor.from_pretrained(make_tiny_model("qwen2.5-vl", tmp_path / "m"))
    images = PromptSettings(input_mode="images", video_num_frames=16, video_maxlen=4, frames_per_image=4)
    assert NarrationCollator(processor, images).media_limits() == {"image": 5 + 4, "video": 0}  # 16 frames decide
    by_fps = PromptSettings(input_mode="images", video_fps=2.0, video_maxlen=8, frames_per_image=4)
    assert NarrationCollator(processor, by_fps).media_limits() == {"image": 5 + 2, "video": 0}
    assert NarrationCollator(processor, PromptSettings()).media_limits() == {"image": 5, "video": 1}
    assert [lora_rank_slot(r) for r in (1, 4, 12, 16, 100, 300)] == [1, 8, 16, 16, 128, 320]
    with pytest.raises(ValueError, match="at most 512"):
        lora_rank_slot(1024)


def test_concurrent_merges_merge_once(family_model, tmp_path):
    import subprocess
    import sys

    family, model_dir = family_model
    if family != "qwen2.5-vl":
        pytest.skip("one family is enough for the lock")
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    adapter = tmp_path / "adapter"
    get_peft_model(model, lora_config(model, ModelConfig(lora_r=4, lora_alpha=8))).save_pretrained(adapter)
    AutoProcessor.from_pretrained(model_dir).save_pretrained(adapter)
    code = (
        "import sys, logging; logging.basicConfig(level=logging.INFO)\n"
        "from movie101v2_hf.backends.base import merged_model\n"
        "print(merged_model(sys.argv[1], sys.argv[2]))\n"
    )
    ranks = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(adapter), str(model_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    outputs = [rank.communicate(timeout=300) for rank in ranks]
    assert all(rank.returncode == 0 for rank in ranks), [err.decode()[-2000:] for _, err in outputs]
    assert {out.decode().strip() for out, _ in outputs} == {str(adapter / "merged")}
    assert sum(err.decode().count("merging the adapter") for _, err in outputs) == 1  # once; the others waited
    assert (adapter / "merged" / "config.json").is_file() and not list(adapter.glob("merged.partial-*"))
