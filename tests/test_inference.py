"""Narrating a split (`movie101v2 narrate`), the retrieval baseline and `movie101v2 bench`.

The transformers backend runs a tiny Qwen2.5-VL on the real sample release with FFmpeg-made movies; the
openai backend talks to a real HTTP server on loopback; vLLM, which needs a GPU, is replaced by a recorder.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("torchcodec")

from datasets import Dataset  # noqa: E402

from movie101v2_hf.cli import main  # noqa: E402
from movie101v2_hf.narrate import NarrateOptions, narrate_split
from movie101v2_hf.narrate.retrieval import RetrievalIndex, rename  # noqa: E402
from movie101v2_hf.prompting import PromptSettings  # noqa: E402
from movie101v2_hf.testing import ScriptedJudgeServer  # noqa: E402
from movie101v2_hf.utils.runs import read_written, sidecar_path  # noqa: E402

MOVIE = "iqy-17247000500"  # its first four clips (25-110 s) lie inside the 2-minute stand-in movie; later ones do not


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def _options(dataset: Path, out: Path, **overrides) -> NarrateOptions:
    values = {
        "dataset": str(dataset),
        "out": str(out),
        "config": "en",
        "split": "train",
        "movie_ids": [MOVIE],
        "max_samples": 4,
        "batch_size": 2,
        "num_workers": 0,
        "max_new_tokens": 8,
        "show_progress": False,
        "video_num_frames": 4,
        "max_portraits": 2,
    }
    values.update(overrides)
    return NarrateOptions(**values)


# -- transformers -------------------------------------------------------------------------------------------------


def test_transformers_backend_narrates_as_the_collator_prompts(sample_prepared_with_movies, tiny_vlm, tmp_path):
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from movie101v2_hf.data.loading import load_clips, load_portraits
    from movie101v2_hf.prompting import NarrationCollator

    out = tmp_path / "preds.jsonl"
    code = main(
        [
            "narrate",
            "--model",
            str(tiny_vlm),
            "--dataset",
            str(sample_prepared_with_movies),
            "--split",
            "train",
            "--movie-ids",
            MOVIE,
            "--max-samples",
            "4",
            "--out",
            str(out),
            "--batch-size",
            "2",
            "--num-workers",
            "2",
            "--max-new-tokens",
            "8",
            "--video-num-frames",
            "4",
            "--max-portraits",
            "2",
        ]
    )
    assert code == 0
    clips = load_clips(str(sample_prepared_with_movies), "en", "train", movie_ids=[MOVIE], max_samples=4)
    lines = _lines(out)
    assert [line["clip_id"] for line in lines] == clips["clip_id"]
    record = json.loads(sidecar_path(out).read_text())
    assert record["complete"] and record["num_written"] == 4 and record["failures"] == []
    assert record["settings"]["prompt"]["video_num_frames"] == 4 and record["settings"]["backend"] == "transformers"

    # The same prompt as training: generating from NarrationCollator.prompt_inputs gives the same narration.
    processor = AutoProcessor.from_pretrained(tiny_vlm)
    settings = PromptSettings(video_num_frames=4, max_portraits=2)
    collator = NarrationCollator(
        processor, settings, load_portraits(str(sample_prepared_with_movies), "en", max_portraits=2)
    )
    model = AutoModelForImageTextToText.from_pretrained(tiny_vlm).eval()
    inputs = collator.prompt_inputs([clips[0]])
    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    expected = processor.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)[0].strip()
    assert lines[0]["narration"] == expected


def test_narrate_with_a_frame_cache_decodes_each_clip_once(sample_prepared_with_movies, tiny_vlm, tmp_path):
    from movie101v2_hf.data.frame_cache import FrameCache

    cache = tmp_path / "frames"
    command = ["narrate", "--model", str(tiny_vlm), "--dataset", str(sample_prepared_with_movies), "--split"]
    command += ["train", "--movie-ids", MOVIE, "--max-samples", "3", "--max-new-tokens", "4", "--num-workers", "2"]
    command += ["--video-num-frames", "4", "--max-portraits", "0", "--frame-cache", str(cache)]
    assert main([*command, "--out", str(tmp_path / "a.jsonl")]) == 0
    entries = {path: path.stat().st_ino for path in FrameCache(cache).entries()}
    assert len(entries) == 3
    for path in entries:  # an entry read back is touched (its LRU time), never rewritten (a new inode)
        os.utime(path, ns=(0, 0))
    assert main([*command, "--out", str(tmp_path / "b.jsonl")]) == 0
    assert _lines(tmp_path / "a.jsonl") == _lines(tmp_path / "b.jsonl")
    after = FrameCache(cache).entries()
    assert sorted(after) == sorted(entries)
    assert all(path.stat().st_ino == entries[path] and path.stat().st_mtime_ns > 0 for path in after)


def test_an_adapter_brings_its_prompt_settings(sample_prepared_with_movies, tiny_vlm, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText, AutoProcessor

    adapter = tmp_path / "adapter"
    model = AutoModelForImageTextToText.from_pretrained(tiny_vlm)
    get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj", "v_proj"])).save_pretrained(adapter)
    AutoProcessor.from_pretrained(tiny_vlm).save_pretrained(adapter)
    PromptSettings(video_num_frames=2, max_portraits=1).save(adapter)

    out = tmp_path / "preds.jsonl"
    unset = {"video_num_frames": None, "max_portraits": None}  # the adapter's settings apply
    run = narrate_split(
        _options(sample_prepared_with_movies, out, model=str(tiny_vlm), adapter=str(adapter), max_samples=2, **unset)
    )
    assert run.complete
    settings = json.loads(sidecar_path(out).read_text())["settings"]
    assert settings["prompt"]["video_num_frames"] == 2 and settings["prompt"]["max_portraits"] == 1
    assert settings["adapter"] == str(adapter)
    # an explicit option overrides the adapter's; a resume with other settings is refused
    with pytest.raises(ValueError, match="other settings.*--overwrite"):
        narrate_split(
            _options(
                sample_prepared_with_movies,
                out,
                model=str(tiny_vlm),
                adapter=str(adapter),
                video_num_frames=3,
                max_portraits=None,
                max_samples=2,
            )
        )
    # an adapter trained with the names found on screen needs them at inference too
    PromptSettings(video_num_frames=2, identified_characters_column="identified_characters").save(adapter)
    with pytest.raises(ValueError, match="pass --faces"):
        narrate_split(
            _options(
                sample_prepared_with_movies,
                out,
                model=str(tiny_vlm),
                adapter=str(adapter),
                max_samples=2,
                overwrite=True,
                **unset,
            )
        )


# -- openai -------------------------------------------------------------------------------------------------------


def test_openai_backend_sends_images_and_examples_and_retries(sample_prepared_with_movies, tmp_path):
    with ScriptedJudgeServer(answer=lambda text: "Someone walks in.", faults=["500", "429"]) as server:
        out = tmp_path / "preds.jsonl"
        run = narrate_split(
            _options(
                sample_prepared_with_movies,
                out,
                backend="openai",
                model="gpt-test",
                base_url=server.url,
                num_examples=2,
            )
        )
    assert run.complete and [line["narration"] for line in _lines(out)] == ["Someone walks in."] * 4
    assert len(server.requests) == 4 + 2  # two faults, each retried
    body = server.requests[-1]
    system, user = body["messages"]
    assert "audio description" in system["content"] and "Examples of narrations" in system["content"]
    examples = [line for line in system["content"].splitlines() if line.startswith("- ")]
    assert len(examples) == 2  # training narrations of other movies than the clip's
    images = [part for part in user["content"] if part["type"] == "image_url"]
    assert len(images) == 2 + 4  # two portraits, four frames
    assert all(part["image_url"]["url"].startswith("data:image/jpeg;base64,") for part in images)
    texts = " ".join(part["text"] for part in user["content"] if part["type"] == "text")
    # each frame labelled with its clip time as decoded (frame 0 is not at the clip's start)
    assert "Main cast:" in texts and "[0.0s]" not in texts and body["model"] == "gpt-test"
    assert len(re.findall(r"\[\d+\.\ds\]", texts)) == 4


def test_failed_clips_are_recorded_and_fail_the_command(sample_prepared_with_movies, tmp_path):
    # clips 4 and 5 lie past the end of the 2-minute stand-in movie: decoding fails; one request is rejected
    with ScriptedJudgeServer(answer=lambda text: "A narration.", faults=["400", "400"]) as server:
        out = tmp_path / "preds.jsonl"
        arguments = [
            "narrate",
            "--backend",
            "openai",
            "--model",
            "m",
            "--base-url",
            server.url,
            "--dataset",
            str(sample_prepared_with_movies),
            "--split",
            "train",
            "--movie-ids",
            MOVIE,
            "--max-samples",
            "6",
            "--out",
            str(out),
            "--batch-size",
            "1",
            "--num-workers",
            "2",
            "--video-num-frames",
            "2",
            "--num-examples",
            "0",
        ]
        assert main(arguments) == 1
        record = json.loads(sidecar_path(out).read_text())
        failed = {f["clip_id"]: f["error"] for f in record["failures"]}
        assert not record["complete"] and record["num_written"] == 3
        assert sorted(failed) == [f"{MOVIE}_long_00000", f"{MOVIE}_long_00004", f"{MOVIE}_long_00005"]
        assert "400" in failed[f"{MOVIE}_long_00000"]  # rejected on the first try and on the retry
        assert "past the movie's end" in failed[f"{MOVIE}_long_00004"]
        # a rerun retries only the failed clips; --allow-failures makes the exit status 0
        before = len(server.requests)
        assert main([*arguments, "--allow-failures"]) == 0
        assert len(server.requests) - before == 1  # clip 0 (now accepted); 4 and 5 fail before any request
        assert [line["clip_id"] for line in _lines(out)][-1] == f"{MOVIE}_long_00000"


def test_a_killed_run_resumes_where_it_stopped(sample_prepared_with_movies, tmp_path):
    out = tmp_path / "preds.jsonl"
    with ScriptedJudgeServer(answer=lambda text: "A narration.", latency=0.4) as server:
        options = _options(
            sample_prepared_with_movies,
            out,
            backend="openai",
            model="m",
            base_url=server.url,
            num_examples=0,
            batch_size=1,
            concurrency=1,
        )
        script = (
            "import json, sys; from movie101v2_hf.narrate import NarrateOptions, narrate_split; "
            "narrate_split(NarrateOptions(**json.loads(sys.argv[1])))"
        )
        from dataclasses import asdict

        process = subprocess.Popen([sys.executable, "-c", script, json.dumps(asdict(options))])
        deadline = time.monotonic() + 120
        while not (out.is_file() and out.read_bytes().count(b"\n") >= 1):
            assert process.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        with open(out, "a", encoding="utf-8") as handle:
            handle.write('{"clip_id": "torn')  # a line cut off by the kill
        kept = read_written(out)  # drops the torn line
        assert 1 <= len(kept) < 4 and not out.read_text().endswith("torn")
        before = len(server.requests)
        run = narrate_split(options)
        assert run.complete
        assert len(server.requests) - before == 4 - len(kept)  # only the clips not yet written
    ids = [line["clip_id"] for line in _lines(out)]
    assert len(ids) == len(set(ids)) == 4


# -- vllm (needs a GPU: the module is replaced by a recorder) -----------------------------------------------------


def test_vllm_backend_builds_multimodal_requests(sample_prepared_with_movies, tiny_vlm, tmp_path, monkeypatch):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    calls = {}

    class LLM:
        def __init__(self, **kwargs):
            calls["init"] = kwargs
            self.model_config = types.SimpleNamespace(architectures=["Qwen2_5_VLForConditionalGeneration"])

        def generate(self, requests, params, lora_request=None, use_tqdm=True):
            calls.setdefault("requests", []).extend(requests)
            calls["params"], calls["lora"] = params, lora_request
            return [types.SimpleNamespace(outputs=[types.SimpleNamespace(text=" A narration. ")]) for _ in requests]

    class Recorder:
        def __init__(self, *args, **kwargs):
            self.args, self.kwargs = args, kwargs

    vllm = types.ModuleType("vllm")
    vllm.LLM, vllm.SamplingParams = LLM, Recorder
    lora = types.ModuleType("vllm.lora")
    lora_request = types.ModuleType("vllm.lora.request")
    lora_request.LoRARequest = Recorder
    multimodal = types.ModuleType("vllm.multimodal")  # what vLLM says the model takes
    limits = types.SimpleNamespace(get_supported_mm_limits=lambda: {"image": None, "video": None})
    multimodal.MULTIMODAL_REGISTRY = types.SimpleNamespace(get_processing_info=lambda config: limits)
    for module in (vllm, lora, lora_request, multimodal):
        module.__spec__ = types.SimpleNamespace(name=module.__name__)
        monkeypatch.setitem(sys.modules, module.__name__, module)

    adapter = tmp_path / "adapter"
    model = AutoModelForImageTextToText.from_pretrained(tiny_vlm)
    get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"])).save_pretrained(adapter)
    out = tmp_path / "preds.jsonl"
    run = narrate_split(
        _options(
            sample_prepared_with_movies,
            out,
            backend="vllm",
            model=str(tiny_vlm),
            adapter=str(adapter),
            tensor_parallel_size=2,
        )
    )
    assert run.complete and _lines(out)[0]["narration"] == "A narration."
    init = calls["init"]
    # rank 4 is served in vLLM's rank-8 slot
    assert init["tensor_parallel_size"] == 2 and init["enable_lora"] and init["max_lora_rank"] == 8
    assert init["limit_mm_per_prompt"] == {"image": 2, "video": 1}
    request = calls["requests"][0]
    assert request["prompt"].count("<|video_pad|>") == 1 and request["prompt"].count("<|image_pad|>") == 2
    frames, metadata = request["multi_modal_data"]["video"][0]
    assert frames.shape[0] == 4 and frames.shape[-1] == 3  # T x H x W x C
    assert metadata["do_sample_frames"] is False and len(metadata["frames_indices"]) == 4
    assert len(request["multi_modal_data"]["image"]) == 2
    assert calls["params"].kwargs == {"temperature": 0, "max_tokens": 8}
    assert calls["lora"].args == ("narration", 1, str(adapter))


# -- retrieval ----------------------------------------------------------------------------------------------------


def _train_rows() -> Dataset:
    return Dataset.from_dict(
        {
            "clip_id": ["a_0", "a_1", "b_0", "c_0"],
            "movie_id": ["a", "a", "b", "c"],
            "start": [0.0, 900.0, 50.0, 10.0],
            "end": [10.0, 1000.0, 60.0, 20.0],
            "narration": [
                "Tom opens the door.",
                "Tom and Ann dance at the wedding.",
                "Bob sits alone.",
                "Zed runs with Yan and Xu.",
            ],
            "characters": [["Tom"], ["Tom", "Ann"], ["Bob"], ["Zed", "Yan", "Xu"]],
            "cast": [["Tom", "Ann"], ["Tom", "Ann"], ["Bob", "Cy"], ["Zed", "Yan", "Xu"]],
        }
    )


def test_retrieval_matches_context_and_renames_characters():
    index = RetrievalIndex.from_rows(_train_rows(), {"a": ["Romance"], "b": ["Crime"], "c": ["Action"]})
    query = {"movie_id": "t", "start": 950.0, "end": 1040.0, "cast": ["Li Lei", "Han Meimei"]}
    # late in a romance, a long clip: the wedding of movie a, its leads renamed to the query's by billing order
    assert (
        index.narrate(query, genres=["Romance"], movie_length=1000.0) == "Li Lei and Han Meimei dance at the wedding."
    )
    # early in a crime film, short: movie b's opening
    early = {**query, "start": 45.0, "end": 56.0}
    assert index.narrate(early, genres=["Crime"], movie_length=1000.0) == "Li Lei sits alone."
    # movie c names three characters: never used for a two-member cast, whatever else matches
    assert index.narrate({**early, "start": 10.0, "end": 20.0}, genres=["Action"], movie_length=20.0) != (
        "Li Lei runs with Han Meimei and Xu."
    )
    # names found on screen: the count must match, and those names are used
    identified = index.narrate(early, genres=["Action"], movie_length=1000.0, identified=["P", "Q", "R"])
    assert identified == "P runs with Q and R."
    assert index.examples(query, 2, genres=["Romance"], movie_length=1000.0) == [
        "Tom and Ann dance at the wedding.",
        "Bob sits alone.",
    ]


def test_rename_is_one_pass():
    assert rename("Ann met Bo.", {"Ann": "Bo", "Bo": "Cy"}) == "Bo met Cy."


def test_retrieval_backend_on_the_mini_release(mini_prepared, tmp_path):
    from datasets import load_dataset

    out = tmp_path / "preds.jsonl"
    assert main(["narrate", "--backend", "retrieval", "--dataset", str(mini_prepared), "--out", str(out)]) == 0
    test = load_dataset(str(mini_prepared), "en", split="test")
    train_narrations = load_dataset(str(mini_prepared), "en", split="train")["narration"]
    lines = _lines(out)
    assert [line["clip_id"] for line in lines] == test["clip_id"]
    for line, cast in zip(lines, test["cast"]):
        assert any(name in line["narration"] for name in cast)  # names of the clip's movie, not of a training movie
        assert line["narration"] not in train_narrations


def test_data_parallel_shards_merge_in_order(mini_prepared, tmp_path):
    out = tmp_path / "preds.jsonl"
    options = NarrateOptions(
        dataset=str(mini_prepared),
        out=str(out),
        backend="retrieval",
        split="train",
        data_parallel_size=2,
        show_progress=False,
    )
    run = narrate_split(options)
    from datasets import load_dataset

    assert run.complete and run.num_written == run.num_items
    assert [line["clip_id"] for line in _lines(out)] == load_dataset(str(mini_prepared), "en", split="train")[
        "clip_id"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preds.jsonl", "preds.run.json"]  # shards merged, removed
    assert narrate_split(options).complete  # a rerun finds it complete
    single = tmp_path / "single" / "preds.jsonl"
    narrate_split(
        NarrateOptions(
            dataset=str(mini_prepared), out=str(single), backend="retrieval", split="train", show_progress=False
        )
    )
    assert single.read_text() == out.read_text()  # the shards narrate exactly as one process does


def test_accelerate_launch_of_the_command_equals_one_process(mini_prepared, tmp_path):
    # what a user runs on a multi-GPU node (on the CPU here: accelerate's multi-process mode starts torchrun)
    out, single = tmp_path / "launched" / "preds.jsonl", tmp_path / "single" / "preds.jsonl"
    common = [
        "narrate",
        "--backend",
        "retrieval",
        "--dataset",
        str(mini_prepared),
        "--split",
        "train",
        "--no_show_progress",
    ]
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
        "-m",
        "movie101v2_hf.cli",
        *common,
        "--out",
        str(out),
    ]
    subprocess.run(launch, check=True, capture_output=True, timeout=300)
    assert main([*common, "--out", str(single)]) == 0
    assert out.read_text("utf-8") == single.read_text("utf-8")  # two ranks, merged in order, as one process
    record = json.loads(sidecar_path(out).read_text())
    assert record["complete"] and record["data_parallel_processes"] == 2
    assert sorted(p.name for p in out.parent.iterdir()) == ["preds.jsonl", "preds.run.json"]


# -- bench --------------------------------------------------------------------------------------------------------


def test_bench_skips_completed_steps(mini_prepared, tmp_path, capsys):
    run_dir = tmp_path / "runs" / "retrieval"
    arguments = [
        "bench",
        "--backend",
        "retrieval",
        "--dataset",
        str(mini_prepared),
        "--out",
        str(run_dir),
        "--metrics",
        "bleu",
        "rouge",
        "rolef1",
    ]
    assert main(arguments) == 0
    first = capsys.readouterr().out
    assert "[1/3] narrate: retrieval" in first and "[2/3] evaluate: bleu" in first
    results = json.loads((run_dir / "results.json").read_text())
    assert results["complete"] and "BLEU-4" in results["scores"] and (run_dir / "report.html").is_file()

    assert main(arguments) == 0
    second = capsys.readouterr().out
    assert second.count("skipped") == 3

    # other metrics: only evaluate runs again; a lost report: only the report is written again
    assert main([*arguments, "cider"]) == 0
    third = capsys.readouterr().out
    assert (
        "narrate: " in third and "complete, skipped" in third and "[2/3] evaluate: bleu, rouge, rolef1, cider" in third
    )
    (run_dir / "report.html").unlink()
    assert main([*arguments, "cider"]) == 0
    fourth = capsys.readouterr().out
    assert fourth.count("skipped") == 2 and (run_dir / "report.html").is_file()


def test_an_engine_option_the_job_lacks_is_refused_not_defaulted(sample_prepared_with_movies, tmp_path):
    # before, a backend field with no option of the same name (the openai backend's timeout) kept its default
    from types import SimpleNamespace

    from movie101v2_hf.backends import BACKENDS
    from movie101v2_hf.narrate import build_backend
    from movie101v2_hf.prompting import PromptSettings

    with ScriptedJudgeServer(answer=lambda text: "A man walks in.") as server:
        options = _options(
            sample_prepared_with_movies, tmp_path / "p.jsonl", backend="openai", model="m", base_url=server.url
        )
        options.timeout = 7.5
        backend, _ = build_backend(options)
        assert backend.timeout == 7.5 and backend.client.timeout == 7.5
        lacking = SimpleNamespace(**{k: v for k, v in vars(options).items() if k != "timeout"})
        with pytest.raises(TypeError, match=r"SimpleNamespace has no field for the openai backend's \['timeout'\]"):
            BACKENDS.get("openai").from_options(lacking, settings=PromptSettings(), portraits=None)
