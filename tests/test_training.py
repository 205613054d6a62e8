"""The training collator, the LoRA recipe (one process and two), resume, the model card and `push-model`.

A tiny Qwen2.5-VL built in the test (random weights, a tokenizer trained on the spot) is trained by the real
`recipes/sft_lora.py` on the real sample release, whose clips point at FFmpeg-made stand-in movies.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("trl", reason="training needs the `train` extra")
pytest.importorskip("peft", reason="training needs the `train` extra")

import torch  # noqa: E402
from transformers import AutoModelForImageTextToText, AutoProcessor  # noqa: E402

from movie101v2_hf.data.loading import load_clips  # noqa: E402
from movie101v2_hf.data.synthetic import read_frame_index  # noqa: E402
from movie101v2_hf.prompting import IGNORE_INDEX, NarrationCollator, PromptSettings  # noqa: E402
from movie101v2_hf.training import find_modules, lora_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "sft_lora.py"
MOVIE = "iqy-17247000500"  # its first four clips (25-110 s) lie inside the 2-minute stand-in movie


@pytest.fixture(scope="module")
def processor(tiny_vlm):
    return AutoProcessor.from_pretrained(tiny_vlm)


def _token_id(processor, token):
    return processor.tokenizer.convert_tokens_to_ids(token)


# -- the collator ---------------------------------------------------------------------------------------------


def test_labels_cover_the_narration_only(processor, clips, attacher):
    collator = NarrationCollator(processor, PromptSettings(video_num_frames=4, max_portraits=2), portraits=attacher)
    rows = [clips[0], clips[1]]
    batch = collator(rows)
    assert batch["labels"].shape == batch["input_ids"].shape == batch["attention_mask"].shape
    for i, row in enumerate(rows):
        supervised = batch["labels"][i] != IGNORE_INDEX
        # the narration and the end-of-turn token, nothing of the prompt, the frames, the portraits or the padding
        assert processor.tokenizer.decode(batch["input_ids"][i][supervised]) == row["narration"] + "<|im_end|>\n"
        assert torch.equal(batch["labels"][i][supervised], batch["input_ids"][i][supervised])
        assert not (supervised & (batch["attention_mask"][i] == 0)).any()
        first = int(supervised.nonzero()[0])
        length = int(batch["attention_mask"][i].sum())
        assert supervised[first:length].all() and not supervised[length:].any()  # one span, ending the sequence
        assert (batch["attention_mask"][i][:length] == 1).all()  # padding on the right only


@pytest.mark.parametrize("input_mode", ["video", "images"])
def test_placeholders_match_the_processor(processor, tiny_vlm, clips, attacher, input_mode):
    settings = PromptSettings(input_mode=input_mode, video_num_frames=8, frames_per_image=4, max_portraits=3)
    batch = NarrationCollator(processor, settings, portraits=attacher)([clips[0], clips[2]])
    merge = processor.image_processor.merge_size**2
    image_tokens = (batch["input_ids"] == _token_id(processor, "<|image_pad|>")).sum()
    video_tokens = (batch["input_ids"] == _token_id(processor, "<|video_pad|>")).sum()
    cast = len(attacher.portraits(MOVIE, []))
    if input_mode == "video":
        assert batch["image_grid_thw"].shape[0] == 2 * min(3, cast)  # portraits only
        assert video_tokens == batch["video_grid_thw"].prod(-1).sum() // merge
        assert batch["video_grid_thw"][:, 0].tolist() == [4, 4]  # 8 frames / temporal patch of 2
    else:
        assert "video_grid_thw" not in batch and video_tokens == 0
        assert batch["image_grid_thw"].shape[0] == 2 * (min(3, cast) + 2)  # portraits + 8 frames in 2 tiles of 4
    assert image_tokens == batch["image_grid_thw"].prod(-1).sum() // merge
    # The real model accepts the batch: placeholders and visual features line up.
    model = AutoModelForImageTextToText.from_pretrained(tiny_vlm)
    assert torch.isfinite(model(**batch).loss)


def test_a_long_clip_is_subsampled_over_its_whole_length(processor, indexed_movie):
    row = {
        "clip_id": "m_long_00000",
        "movie_id": "m",
        "video": str(indexed_movie),
        "start": 0.5,
        "end": 11.5,
        "narration": "A man walks.",
    }
    settings = PromptSettings(video_fps=2.0, video_maxlen=4, max_portraits=0)
    collator = NarrationCollator(processor, settings)
    frames = collator.clip_inputs(row)["video"]
    indices = [read_frame_index(frame) for frame in frames]
    assert len(indices) == 4  # 22 frames at 2 fps, capped at 4 ...
    assert indices[0] < 25 and indices[-1] > 95 and indices == sorted(indices)  # ... spread from start to end (10 fps)
    batch = collator([row])
    video_tokens = (batch["input_ids"] == _token_id(processor, "<|video_pad|>")).sum()
    assert video_tokens == batch["video_grid_thw"].prod() // processor.video_processor.merge_size**2


def test_max_length_cuts_the_narration_never_the_prompt(processor, indexed_movie):
    row = {
        "clip_id": "m_long_00000",
        "movie_id": "m",
        "video": str(indexed_movie),
        "start": 0.0,
        "end": 4.0,
        "narration": "A man walks along the river and stops at the bridge.",
    }
    settings = PromptSettings(video_num_frames=4, max_portraits=0)
    full = NarrationCollator(processor, settings)([row])
    prompt_length = int((full["labels"][0] == IGNORE_INDEX).sum())
    cut = NarrationCollator(processor, settings, max_length=prompt_length + 3)([row])
    assert cut["input_ids"].shape[1] == prompt_length + 3 and int((cut["labels"][0] != IGNORE_INDEX).sum()) == 3
    assert torch.equal(cut["input_ids"][0][:prompt_length], full["input_ids"][0][:prompt_length])
    with pytest.raises(ValueError, match=r"Clip m_long_00000: the prompt alone is \d+ tokens.*Lower video_max_pixels"):
        NarrationCollator(processor, settings, max_length=prompt_length - 1)([row])


def test_names_found_on_screen_lead_the_prompt(processor, clips, attacher):
    # The hook for face identification: off by default, it lists the names and puts their portraits first.
    row = dict(clips[0], faces=["Niu Niu"])
    default = NarrationCollator(processor, PromptSettings(video_num_frames=2, max_portraits=2), portraits=attacher)
    hooked = NarrationCollator(
        processor,
        PromptSettings(video_num_frames=2, max_portraits=2, identified_characters_column="faces"),
        portraits=attacher,
    )
    cast = [portrait["name"] for portrait in attacher.portraits(MOVIE, [])]
    name = cast[-1]  # the last in billing order: not among the default portraits
    row["faces"] = [name]

    def prompt(collator):
        messages = collator.clip_inputs(row)["messages"]
        return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    assert "Recognised on screen" not in prompt(default) and f" {name}\n" not in prompt(default)
    text = prompt(hooked)
    assert f"Recognised on screen: {name}\n" in text
    assert text.index(f" {name}\n") < text.index(f" {cast[0]}\n")  # its portrait comes first


def test_prompt_settings_validate_and_round_trip(tmp_path):
    with pytest.raises(ValueError, match="frames_per_image must be a square"):
        PromptSettings(frames_per_image=3)
    with pytest.raises(ValueError, match="input_mode"):
        PromptSettings(input_mode="audio")
    settings = PromptSettings(language="zh", video_fps=1.5, video_maxlen=12, max_portraits=3)
    settings.save(tmp_path)
    assert PromptSettings.load(tmp_path) == settings
    with pytest.raises(FileNotFoundError, match="not written by recipes/sft_lora.py"):
        PromptSettings.load(tmp_path / "elsewhere")


def test_lora_targets_the_language_model_and_trains_the_projector(tiny_vlm):
    import re

    from trl import ModelConfig

    model = AutoModelForImageTextToText.from_pretrained(tiny_vlm)
    assert find_modules(model) == {
        "vision": ["model.visual"],
        "projector": ["model.visual.merger"],
        "language": ["model.language_model"],
    }
    config = lora_config(model, ModelConfig(lora_r=4, lora_alpha=8))
    targeted = [name for name, _ in model.named_modules() if re.fullmatch(config.target_modules, name)]
    assert targeted and all(name.startswith("model.language_model.") for name in targeted)
    assert any(name.endswith("self_attn.q_proj") for name in targeted) and any(
        name.endswith("mlp.down_proj") for name in targeted
    )
    assert config.modules_to_save == ["model.visual.merger"]


# -- the recipe -----------------------------------------------------------------------------------------------


def _recipe(tmp_path: Path, model: Path, dataset: Path, **overrides) -> Path:
    config = {
        "model_name_or_path": str(model),
        "use_peft": True,
        "lora_r": 8,
        "lora_alpha": 16,
        "lora_dropout": 0.0,
        "dataset_name": str(dataset),
        "dataset_config": "en",
        "movie_ids": [MOVIE],
        "max_train_samples": 4,
        "video_num_frames": 4,
        "max_portraits": 2,
        "per_device_train_batch_size": 2,
        "learning_rate": 1.0e-2,
        # a random 0.1M-parameter model needs its output layer trained to overfit in 20 steps
        "lora_modules_to_save": ["lm_head", "model.visual.merger"],
        "lr_scheduler_type": "constant",
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "max_length": 512,
        "use_cpu": True,
        "dataloader_num_workers": 0,
        "seed": 0,
        "max_steps": 20,
    }
    config.update(overrides)
    path = tmp_path / "recipe.yaml"
    import yaml

    path.write_text(yaml.safe_dump(config))
    return path


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_DATASETS_CACHE": str(cwd / "cache"),
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": "1",
    }
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return result


@pytest.fixture(scope="module")
def trained(tiny_vlm, sample_prepared_with_movies, tmp_path_factory):
    """The output folder of one real run of recipes/sft_lora.py that overfits four clips."""
    work = tmp_path_factory.mktemp("train")
    results = work / "results.json"
    results.write_text(
        json.dumps(
            {
                "dataset": "my-org/movie101v2",
                "config": "en",
                "split": "test",
                "num_samples": 2227,
                "complete": True,
                "scores": {
                    "L1": 41.5,
                    "L1-Env": 45.0,
                    "L1-Char": 38.0,
                    "L2": 30.2,
                    "BLEU-4": 1.1,
                    "CIDEr": 12.3,
                    "L1-invalid": 2,
                },
                "judge": {"judge_model": "meta-llama/Llama-3.1-70B-Instruct"},
            }
        )
    )
    recipe = _recipe(
        work, tiny_vlm, sample_prepared_with_movies, output_dir=str(work / "out"), eval_results=str(results)
    )
    _run([sys.executable, str(RECIPE), "--config", str(recipe)], cwd=work)
    return work / "out"


@pytest.mark.slow
def test_the_recipe_overfits_and_saves_everything(trained):
    state = json.loads((trained / "trainer_state.json").read_text())
    losses = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    assert len(losses) == 20 and sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3, losses
    for name in (
        "adapter_config.json",
        "adapter_model.safetensors",
        "processor_config.json",
        "tokenizer.json",
        "chat_template.jinja",
        "movie101v2_prompt.json",
        "training_settings.json",
        "README.md",
    ):
        assert (trained / name).is_file(), name
    adapter = json.loads((trained / "adapter_config.json").read_text())
    assert adapter["modules_to_save"] == ["lm_head", "model.visual.merger"] and adapter["r"] == 8
    assert PromptSettings.load(trained) == PromptSettings(video_num_frames=4, max_portraits=2)


@pytest.mark.slow
def test_the_reloaded_adapter_generates(trained, tiny_vlm, clips, attacher):
    from peft import PeftModel

    model = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(tiny_vlm), str(trained)).eval()
    processor = AutoProcessor.from_pretrained(trained)
    collator = NarrationCollator(processor, PromptSettings.load(trained), portraits=attacher)
    inputs = collator.prompt_inputs([clips[0], clips[1]])
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    texts = processor.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert len(texts) == 2 and all(text.strip() for text in texts)
    # it learnt the four narrations: the first words of one of them come back
    assert any(text.strip()[:8] in " ".join(clips[i]["narration"] for i in range(4)) for text in texts), texts


@pytest.mark.slow
def test_the_card_has_a_valid_model_index(trained):
    from huggingface_hub import ModelCard

    card = ModelCard.load(trained / "README.md")
    assert card.data.base_model.endswith("model") and card.data.library_name == "peft"
    results = {result.metric_name: result.metric_value for result in card.data.eval_results}
    assert results == {"L1": 41.5, "L1-Env": 45.0, "L1-Char": 38.0, "L2": 30.2, "BLEU-4": 1.1, "CIDEr": 12.3}
    assert {r.dataset_type for r in card.data.eval_results} == {"my-org/movie101v2"}
    assert "learning_rate" in card.text and "video_num_frames: 4" in card.text  # hyperparameters and the recipe


@pytest.mark.slow
def test_two_processes_stream_disjoint_clips_and_resume(tiny_vlm, sample_prepared_with_movies, tmp_path):
    faces = tmp_path / "faces.jsonl"  # names found on screen (as `movie101v2 faces` writes them) go into the prompt
    faces.write_text(
        "".join(json.dumps({"clip_id": f"{MOVIE}_long_{i:05d}", "characters": ["Somebody"]}) + "\n" for i in range(4))
    )
    recipe = _recipe(
        tmp_path,
        tiny_vlm,
        sample_prepared_with_movies,
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=1,
        dataset_streaming=True,
        record_clip_ids=True,
        max_steps=2,
        save_strategy="steps",
        save_steps=2,
        logging_steps=1,
        faces_file=str(faces),
    )
    # accelerate's --cpu alone starts one process without an MPI host file; --multi_gpu starts torchrun's
    # two processes, which the recipe's use_cpu puts on the CPU with the gloo backend.
    launch = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        "0",
        str(RECIPE),
        "--config",
        str(recipe),
    ]
    first = _run(launch, cwd=tmp_path)
    assert "sharded by batch" in first.stdout + first.stderr
    seen = [set((tmp_path / "out" / "seen_clips" / f"rank-{rank}.txt").read_text().split()) for rank in (0, 1)]
    assert seen[0] and seen[1] and not seen[0] & seen[1]
    assert seen[0] | seen[1] <= {f"{MOVIE}_long_{i:05d}" for i in range(4)}
    assert json.loads((tmp_path / "out" / "checkpoint-2" / "trainer_state.json").read_text())["global_step"] == 2

    _run(
        launch
        + [
            "--max_steps",
            "3",
            "--save_steps",
            "1",
            "--resume_from_checkpoint",
            str(tmp_path / "out" / "checkpoint-2"),
        ],
        cwd=tmp_path,
    )
    state = json.loads((tmp_path / "out" / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3
    assert not (tmp_path / "out" / "checkpoint-1").exists()  # it went on from step 2, not from 0
    assert [entry["step"] for entry in state["log_history"] if "loss" in entry] == [1, 2, 3]
    # the adapter remembers that its prompts listed the names found on screen, so narrate will ask for --faces
    assert PromptSettings.load(tmp_path / "out").identified_characters_column == "identified_characters"


def test_recipe_yamls_parse_with_the_script_arguments():
    from trl import ModelConfig, ScriptArguments, SFTConfig, TrlParser

    from movie101v2_hf.training import NarrationArguments

    recipes = sorted((ROOT / "recipes").glob("*/sft_lora_*.yaml"))
    assert {path.parent.name for path in recipes} >= {
        "qwen2.5-vl-7b-instruct",
        "qwen3-vl-8b-instruct",
        "smolvlm2-2.2b-instruct",
    }
    for path in recipes:
        parser = TrlParser((ScriptArguments, SFTConfig, ModelConfig, NarrationArguments))
        script, training, model, narration = parser.parse_args_and_config(
            ["--config", str(path), "--use_cpu", "true", "--bf16", "false"]
        )
        assert training.num_train_epochs == 3 and narration.video_num_frames == 16 and narration.max_portraits == 5
        assert model.use_peft and script.dataset_config == path.stem.rsplit("_", 1)[1]
        assert training.hub_token is None


def test_accelerate_configs_are_complete():
    import yaml

    folder = ROOT / "recipes" / "accelerate_configs"
    kinds = {path.stem: yaml.safe_load(path.read_text()) for path in folder.glob("*.yaml")}
    assert kinds["ddp"]["distributed_type"] == "MULTI_GPU"
    assert kinds["fsdp"]["distributed_type"] == "FSDP" and kinds["fsdp"]["fsdp_config"]["fsdp_version"] == 2
    assert kinds["deepspeed_zero2"]["deepspeed_config"]["zero_stage"] == 2
    assert kinds["deepspeed_zero3"]["deepspeed_config"]["zero_stage"] == 3
    assert all(config["num_machines"] == 1 and "machine_rank" in config for config in kinds.values())


def test_a_token_in_the_recipe_is_refused(tiny_vlm, tmp_path):
    from trl import SFTConfig

    from movie101v2_hf.training import check_no_token_in_recipe

    with pytest.raises(ValueError, match="hf auth login"):
        check_no_token_in_recipe(SFTConfig(output_dir=str(tmp_path), hub_token="hf_secret", use_cpu=True))


def test_an_incomplete_evaluation_stays_off_the_card(tmp_path):
    from movie101v2_hf.hub import narration_model_card

    results = tmp_path / "results.json"
    results.write_text(json.dumps({"config": "en", "split": "test", "scores": {"L1": 40.0}, "complete": False}))
    with pytest.raises(ValueError, match="incomplete"):
        narration_model_card(model_name="m", base_model="b", dataset="d", config="en", results=results)


def test_every_card_score_is_a_score_evaluate_writes(tmp_path):
    # the card's list once said "BERTScore" while evaluate writes BERTScore-P/R/F1: BERTScore never reached a card
    from movie101v2_hf.evaluation.suite import score_names
    from movie101v2_hf.hub import eval_results_from_file

    assert "BERTScore-F1" in score_names(where="card") and "BERTScore" not in score_names(where="card")
    scores = {"BERTScore-P": 60.0, "BERTScore-R": 62.0, "BERTScore-F1": 61.0, "BLEU-4": 1.5}
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"config": "en", "split": "test", "scores": scores, "complete": True}))
    assert [r.metric_name for r in eval_results_from_file(results)] == ["BLEU-4", "BERTScore-F1"]


def test_the_model_card_names_the_datas_terms():
    from huggingface_hub import ModelCard

    from movie101v2_hf.data.builder import LICENSE_LINK
    from movie101v2_hf.hub import narration_model_card

    card = narration_model_card(model_name="m", base_model="b", dataset="d", config="en")
    text = str(card)
    assert "## Training data and its terms" in text and "Movie101 Dataset License Agreement v1.0" in text
    assert LICENSE_LINK in text and "non-commercial academic research" in text
    assert ModelCard(text).data.license is None  # the weights' license is the base model's business, not ours


# -- push-model -----------------------------------------------------------------------------------------------


class FakeHub:
    """Records what would be uploaded: the Hub is the one thing that cannot run here."""

    def __init__(self, store: Path):
        self.store = store
        self.calls: list[tuple] = []

    def api(self, token=None):
        hub = self

        class Api:
            def create_repo(self, repo_id, **kwargs):
                hub.calls.append(("create_repo", repo_id, kwargs, token))

            def upload_folder(self, *, folder_path, repo_id, ignore_patterns, **kwargs):
                import fnmatch
                import shutil

                hub.calls.append(("upload_folder", repo_id, kwargs))
                for path in Path(folder_path).rglob("*"):
                    relative = path.relative_to(folder_path).as_posix()
                    if path.is_file() and not any(fnmatch.fnmatch(relative, p) for p in ignore_patterns):
                        (hub.store / relative).parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy(path, hub.store / relative)
                return type("Commit", (), {"commit_url": f"https://huggingface.co/{repo_id}/commit/1"})()

            def upload_file(self, *, path_or_fileobj, path_in_repo, **kwargs):
                (hub.store / path_in_repo).write_bytes(Path(path_or_fileobj).read_bytes())

        return Api()


@pytest.mark.slow
@pytest.mark.parametrize("merge", [False, True])
def test_push_model(trained, tiny_vlm, tmp_path, monkeypatch, capsys, merge):
    import huggingface_hub
    from huggingface_hub import ModelCard

    from movie101v2_hf import cli

    hub = FakeHub(tmp_path / "hub")
    monkeypatch.setattr(huggingface_hub, "HfApi", hub.api)
    args = ["push-model", str(trained), "--repo-id", "org/tiny-narrator"] + (["--merge"] if merge else [])
    assert cli.main(args) == 0
    assert "commit/1" in capsys.readouterr().out
    assert hub.calls[0] == (
        "create_repo",
        "org/tiny-narrator",
        {"repo_type": "model", "private": False, "exist_ok": True},
        None,
    )
    card = ModelCard.load(hub.store / "README.md")
    assert [r.metric_value for r in card.data.eval_results][:1] == [41.5]  # the card's model-index travels along
    assert card.data.library_name == ("transformers" if merge else "peft")
    if merge:
        assert not (hub.store / "adapter_config.json").exists() and not (hub.store / "card").exists()
        model = AutoModelForImageTextToText.from_pretrained(hub.store)
        assert sum(p.numel() for p in model.parameters()) == sum(
            p.numel() for p in AutoModelForImageTextToText.from_pretrained(tiny_vlm).parameters()
        )
    else:
        assert (hub.store / "adapter_model.safetensors").is_file() and not (hub.store / "checkpoint-20").exists()


def test_push_model_refuses_a_folder_without_adapter(tmp_path, capsys):
    from movie101v2_hf import cli

    assert cli.main(["push-model", str(tmp_path), "--repo-id", "org/x"]) == 2
    assert "has no adapter_config.json" in capsys.readouterr().err


def test_stream_steps_come_from_the_card(sample_prepared_with_movies, tmp_path):
    from trl import SFTConfig

    from movie101v2_hf.training import stream_steps

    stream = load_clips(str(sample_prepared_with_movies), "en", "train", streaming=True)
    args = SFTConfig(
        output_dir=str(tmp_path),
        num_train_epochs=3,
        per_device_train_batch_size=2,
        gradient_accumulation_steps=4,
        use_cpu=True,
    )
    train_clips = len(load_clips(str(sample_prepared_with_movies), "en", "train"))
    assert stream_steps(stream, args) == -(-3 * train_clips // 8)
    assert stream_steps(stream, args, max_samples=16) == 6
    with pytest.raises(ValueError, match="set max_steps"):
        stream_steps(stream, args, filtered=True)
