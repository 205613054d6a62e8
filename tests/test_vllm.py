"""vLLM for real (its CPU build here, `make test-vllm` in .venv-vllm): narration with tiny Qwen2.5-VL and Qwen3-VL,
LoRA both ways, data parallel, the vLLM judge with structured output, a vLLM OpenAI-compatible server as the judge
of `evaluate`, and `shotbench run`. Skipped where vLLM is not installed (the main .venv)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("vllm", reason="vLLM is installed by `make setup-vllm` (.venv-vllm); `make test-vllm` runs these")

# The CPU engine's settings (read when an engine starts; inherited by the data-parallel ranks).
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")

import torch  # noqa: E402
from peft import get_peft_model  # noqa: E402
from transformers import AutoModelForImageTextToText, AutoProcessor  # noqa: E402
from trl import ModelConfig  # noqa: E402

from movie101v2_hf.cli import main  # noqa: E402
from movie101v2_hf.errors import BackendSetupError  # noqa: E402
from movie101v2_hf.narrate import NarrateOptions, narrate_split, shard_path  # noqa: E402
from movie101v2_hf.prompting import PromptSettings  # noqa: E402
from movie101v2_hf.testing import make_tiny_model  # noqa: E402
from movie101v2_hf.training import lora_config  # noqa: E402
from movie101v2_hf.utils.runs import RunRecord, sidecar_path  # noqa: E402

pytestmark = pytest.mark.vllm
VLLM_FAMILIES = ("qwen2.5-vl", "qwen3-vl", "smolvlm2", "llava-onevision", "internvl3")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("vllm-models")
    return {family: make_tiny_model(family, root / family) for family in VLLM_FAMILIES}


def _options(dataset: Path, out: Path, model: Path, **overrides) -> NarrateOptions:
    values = {
        "dataset": str(dataset),
        "out": str(out),
        "model": str(model),
        "backend": "vllm",
        "split": "train",
        "max_samples": 4,
        "batch_size": 2,
        "num_workers": 0,
        "max_new_tokens": 6,
        "video_num_frames": 4,
        "max_portraits": 2,
        "max_model_len": 4096,
        "enforce_eager": True,
        "dtype": "float32",
        "show_progress": False,
    }
    return NarrateOptions(**{**values, **overrides})


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize(
    ("family", "input_mode"),
    [
        ("qwen2.5-vl", "video"),
        ("qwen2.5-vl", "images"),
        ("qwen3-vl", "video"),
        ("llava-onevision", "video"),
        ("internvl3", "video"),
        ("internvl3", "images"),
    ],
)
def test_narrate_with_vllm(models, mini_prepared, tmp_path, family, input_mode):
    out = tmp_path / "preds.jsonl"
    record = narrate_split(_options(mini_prepared, out, models[family], input_mode=input_mode))
    assert record.complete and not record.failures, record.failures
    assert len(_lines(out)) == 4 and record.settings["backend_settings"]["model"] == str(models[family])


def test_smolvlm_video_mode_stops_with_advice(models, mini_prepared, tmp_path):
    # vLLM's Idefics3 (SmolVLM) takes images only: one clear error before any clip, not every clip failed
    with pytest.raises(BackendSetupError, match="no video: narrate it with --input-mode images"):
        narrate_split(_options(mini_prepared, tmp_path / "preds.jsonl", models["smolvlm2"]))
    record = narrate_split(_options(mini_prepared, tmp_path / "images.jsonl", models["smolvlm2"], input_mode="images"))
    assert record.complete


def _adapter(model_dir: Path, out: Path, *, train_projector: bool) -> Path:
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    config = lora_config(model, ModelConfig(lora_r=4, lora_alpha=8), train_projector=train_projector)
    peft_model = get_peft_model(model, config)
    with torch.no_grad():  # LoRA B starts at zero: make the adapter change something
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    peft_model.save_pretrained(out)
    AutoProcessor.from_pretrained(model_dir).save_pretrained(out)
    PromptSettings(video_num_frames=4, max_portraits=2).save(out)
    return out


@pytest.mark.parametrize("train_projector", [False, True], ids=["lora-request", "merged"])
def test_narrate_with_an_adapter(models, mini_prepared, tmp_path, train_projector):
    adapter = _adapter(models["qwen2.5-vl"], tmp_path / "adapter", train_projector=train_projector)
    out = tmp_path / "preds.jsonl"
    record = narrate_split(_options(mini_prepared, out, models["qwen2.5-vl"], adapter=str(adapter)))
    assert record.complete and not record.failures, record.failures
    # plain LoRA is served with a LoRARequest; a trained projector only through the merged model
    assert (adapter / "merged" / "config.json").is_file() == train_projector
    base = tmp_path / "base.jsonl"
    narrate_split(_options(mini_prepared, base, models["qwen2.5-vl"]))
    assert _lines(out) != _lines(base)  # the adapter was applied


def test_data_parallel_equals_one_process_and_resumes(models, mini_prepared, tmp_path):
    one = tmp_path / "one.jsonl"
    narrate_split(_options(mini_prepared, one, models["qwen2.5-vl"], max_samples=5))
    two = tmp_path / "two.jsonl"
    record = narrate_split(_options(mini_prepared, two, models["qwen2.5-vl"], max_samples=5, data_parallel_size=2))
    assert record.complete and two.read_text() == one.read_text()

    # A resume where rank 0 has nothing left (its shard is complete, as after a kill during rank 1's share): it
    # builds no engine and waits at the barrier while rank 1 narrates its two clips.
    merged = RunRecord.load(two)
    lines = two.read_text().splitlines(keepends=True)
    shard0 = shard_path(two, 0, 2)
    shard0.write_text("".join(lines[:3]))
    RunRecord(shard0, 3, 3, merged.settings, {}, 1.0).save()
    two.unlink()
    sidecar_path(two).unlink()
    record = narrate_split(_options(mini_prepared, two, models["qwen2.5-vl"], max_samples=5, data_parallel_size=2))
    assert record.complete and two.read_text() == one.read_text()


def test_vllm_judge_answers_in_the_format(models):
    from movie101v2_hf.judge import ANSWER_REGEX
    from movie101v2_hf.llm import AnswerFormat, make_llm

    judge = make_llm(
        "vllm",
        str(models["qwen2.5-vl"]),
        max_model_len=2048,
        llm_kwargs={"enforce_eager": True, "dtype": "float32"},
    )
    answers = judge.generate(
        ["Rate: Environment and Character, each 0-5.", "Rate the plot 0-5."],
        answer_format=AnswerFormat.of_regex("l1", ANSWER_REGEX["l1"]),
    )
    assert all(answer is not None and len(answer.split(",")) == 2 for answer in answers), answers


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_server(models):
    """A real vLLM OpenAI-compatible server on loopback serving the tiny Qwen2.5-VL as `tiny-judge`."""
    import urllib.error
    import urllib.request

    port = _free_port()
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(models["qwen2.5-vl"])]
    command += ["--served-model-name", "tiny-judge", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--enforce-eager", "--max-model-len", "4096", "--dtype", "float32"]  # the plan prompt: ~2,100
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    log: list[str] = []
    try:
        for line in server.stdout:  # its log says when it has started
            log.append(line)
            if "Application startup complete" in line:
                break
        else:
            pytest.fail("the vLLM server exited before it started:\n" + "".join(log[-30:]))
        # keep reading its log (a full pipe would stall it), and wait until it answers or exits
        threading.Thread(target=lambda: log.extend(server.stdout), daemon=True).start()
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/v1/models", timeout=30) as reply:
                    assert "tiny-judge" in reply.read().decode()
                break
            except urllib.error.URLError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the vLLM server does not answer:\n" + "".join(log[-30:]))
                time.sleep(0.5)  # a server that is binding its port: nothing to wait on but the port itself
        yield f"{url}/v1"
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_a_vllm_server_judges_evaluate(vllm_server, mini_prepared, tmp_path, capsys):
    preds = tmp_path / "preds.jsonl"
    assert main(["narrate", "--dataset", str(mini_prepared), "--backend", "retrieval", "--out", str(preds)]) == 0
    out = tmp_path / "results"
    code = main(
        [
            "evaluate",
            "--predictions",
            str(preds),
            "--dataset",
            str(mini_prepared),
            "--out",
            str(out),
            "--judge-backend",
            "openai",
            "--judge-url",
            vllm_server,
            "--judge-model",
            "tiny-judge",
            "--judge-structured-output",
            "--bootstrap",
            "0",
        ]
    )
    results = json.loads((out / "results.json").read_text())
    # structured outputs in the request: every answer parses, so L1 and L2 are scored
    assert code == 0, capsys.readouterr().err
    assert results["complete"] and "L1" in results["scores"] and "L2" in results["scores"]


def test_shotbench_run_with_vllm(models, tmp_path):
    from movie101v2_hf.shotbench import make_mini_shotbench

    data = make_mini_shotbench(tmp_path / "ShotBench", per_category=1)
    out = tmp_path / "preds.jsonl"
    code = main(
        ["shotbench", "run", "--data", str(data), "--out", str(out), "--model", str(models["qwen2.5-vl"])]
        + ["--backend", "vllm", "--max-new-tokens", "4", "--max-model-len", "8192", "--enforce-eager"]
        + ["--max-pixels", "3072", "--video-fps", "2", "--num-workers", "0"]
    )
    assert code == 0 and len(out.read_text().splitlines()) == len((data / "test.tsv").read_text().splitlines()) - 1


def test_a_vllm_server_plans_synthetic_movies(vllm_server, tmp_path, capsys):
    themes = tmp_path / "themes.txt"
    themes.write_text("a heist in a snowed-in hotel\n")
    out = tmp_path / "synth"
    arguments = ["synth", "plan", "--themes", str(themes), "--out", str(out), "--model", "tiny-judge"]
    arguments += ["--base_url", vllm_server, "--max-tokens", "48", "--cache", str(tmp_path / "cache.sqlite")]
    code = main(arguments)
    record = RunRecord.load(out / "plans.jsonl", key="movie_id")
    # The server took the plan's JSON schema (a refused request is "the LLM request failed"); a random tiny model
    # cut at 48 tokens writes JSON that is not a whole plan, so the movie is asked twice and recorded as failed.
    assert code == 1 and not record.complete, capsys.readouterr().err
    assert list(record.failures) == ["synth-00000"]
    assert record.failures["synth-00000"].startswith("invalid plan after a second ask"), record.failures
