"""Every recipe YAML in recipes/ runs as shipped: 2 steps on a tiny model of its family (the narration recipes on the
generated mini-release, the ShotBench ones on a mini-ShotBench), then the narration recipes' adapters narrate the
mini-release's test split.

Only the model, the data, the output folder, the step count and what a CPU needs (fp32, no bf16, no DataLoader
workers) are overridden; everything else (loggers, length limits, LoRA, frames, portraits) is the YAML's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("trl", reason="the recipes need the `train` extra")

from movie101v2_hf.shotbench import make_mini_shotbench  # noqa: E402
from movie101v2_hf.testing import make_tiny_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"
# The recipe folders and the family of their checkpoint.
FAMILY_OF = {
    "qwen2.5-vl-7b-instruct": "qwen2.5-vl",
    "qwen3-vl-8b-instruct": "qwen3-vl",
    "smolvlm2-2.2b-instruct": "smolvlm2",
}
NARRATION_YAMLS = sorted(RECIPES.glob("*/sft_lora_*.yaml"))
SHOTBENCH_YAMLS = sorted(RECIPES.glob("*/*_shotbench.yaml"))
CPU = ["--use_cpu", "true", "--bf16", "false", "--dtype", "float32", "--dataloader_num_workers", "0"]


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env["HF_DATASETS_CACHE"] = str(cwd / "cache")
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return result


def test_every_recipe_folder_is_a_family_of_the_matrix():
    folders = {path.parent.name for path in [*NARRATION_YAMLS, *SHOTBENCH_YAMLS]}
    assert folders == set(FAMILY_OF) and len(NARRATION_YAMLS) == 6 and len(SHOTBENCH_YAMLS) == 2


def test_no_recipe_needs_what_no_extra_installs():
    for path in [*NARRATION_YAMLS, *SHOTBENCH_YAMLS]:
        recipe = yaml.safe_load(path.read_text())
        assert recipe.get("report_to") in ("none", None, []), path  # no extra installs tensorboard or wandb
        assert recipe.get("attn_implementation", "sdpa") == "sdpa", path  # no extra installs flash-attn
        if "sft" in path.name:
            assert recipe.get("max_length"), path  # TRL's default (1024) refuses a clip's video tokens


@pytest.mark.slow
@pytest.mark.parametrize("yaml_path", NARRATION_YAMLS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_narration_recipe_runs_as_shipped(yaml_path, mini_prepared, tmp_path):
    model = make_tiny_model(FAMILY_OF[yaml_path.parent.name], tmp_path / "model")
    out = tmp_path / "adapter"
    config = yaml_path.stem.rsplit("_", 1)[-1]  # en or zh
    dataset = ["--dataset_name", str(mini_prepared), "--max_train_samples", "4"]
    _run(
        [sys.executable, str(RECIPES / "sft_lora.py"), "--config", str(yaml_path), "--model_name_or_path", str(model)]
        + dataset
        + ["--output_dir", str(out), "--max_steps", "2", "--dataloader_persistent_workers", "false", *CPU]
        + ["--frame_cache", str(tmp_path / "frames")],
        cwd=tmp_path,
    )
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    trained = len(list((tmp_path / "frames").glob("*/*.frames.npz")))
    assert trained >= 2  # the clips of the training batches, decoded once into the frame cache
    assert json.loads((out / "adapter_config.json").read_text())["modules_to_save"]  # the projector was trained

    preds = tmp_path / "preds.jsonl"
    narrate = [sys.executable, "-m", "movie101v2_hf.cli", "narrate", "--dataset", str(mini_prepared)]
    narrate += ["--config", config, "--split", "test", "--model", str(model), "--adapter", str(out)]
    narrate += ["--frame-cache", str(tmp_path / "frames")]
    _run(
        narrate + ["--out", str(preds), "--max-samples", "2", "--max-new-tokens", "4", "--num-workers", "0"], tmp_path
    )
    assert len(preds.read_text().splitlines()) == 2
    assert len(list((tmp_path / "frames").glob("*/*.frames.npz"))) == trained + 2  # the two test clips too


@pytest.mark.slow
@pytest.mark.parametrize("yaml_path", SHOTBENCH_YAMLS, ids=lambda p: p.name)
def test_shotbench_recipe_runs_as_shipped(yaml_path, tmp_path):
    model = make_tiny_model(FAMILY_OF[yaml_path.parent.name], tmp_path / "model")
    data = make_mini_shotbench(tmp_path / "ShotQA", per_category=1)
    out = tmp_path / "out"
    script = RECIPES / f"{yaml_path.stem}.py"
    _run(
        [sys.executable, str(script), "--config", str(yaml_path), "--model_name_or_path", str(model)]
        + ["--data_dir", str(data), "--output_dir", str(out), "--max_steps", "2", *CPU],
        cwd=tmp_path,
    )
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 2
    assert (out / "adapter_config.json").is_file()


@pytest.mark.slow
def test_the_gpu_check_dry_runs_on_a_cpu(tmp_path):
    # the GPU check of a lent machine, as a dry run: one family trained with its YAML and narrated, figures printed
    command = [sys.executable, str(RECIPES / "gpu_check.py"), "--device", "cpu", "--families", "qwen2.5-vl"]
    result = _run(command + ["--steps", "1", "--no-vllm", "--out", str(tmp_path / "check")], tmp_path)
    results = json.loads((tmp_path / "check" / "gpu_check.json").read_text())
    assert [(r["step"], r["status"]) for r in results] == [("train", "ran"), ("narrate-transformers", "ran")]
    assert results[1]["clips"] == 3 and "clips_per_s" in results[1] and "2 ran, 0 failed" in result.stdout
