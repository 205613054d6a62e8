"""ShotBench: the official layout as a dataset, the scorer's rule chain, the LLM matcher (never random)."""

from __future__ import annotations

import json
import random
import re
import tarfile

import pytest

from movie101v2_hf import cli
from movie101v2_hf.errors import FileFormatError
from movie101v2_hf.llm import OpenAILLM, ResponseCache
from movie101v2_hf.shotbench import (
    LLMMatcher,
    evaluate_shotbench,
    fetch_shotbench,
    load_shotbench,
    make_mini_shotbench,
    read_test_tsv,
    rule_choice,
    score_predictions,
)
from movie101v2_hf.testing import ScriptedJudgeServer

OPTIONS = [
    {"letter": "A", "text": "Close Up"},
    {"letter": "B", "text": "Wide Shot"},
    {"letter": "C", "text": "Daylight, Sunny"},
]


@pytest.fixture(scope="module")
def mini_shotbench(tmp_path_factory):
    return make_mini_shotbench(tmp_path_factory.mktemp("shotbench") / "ShotBench", per_category=4)


# -- the rule chain --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        ("B", ("B", "letter")),
        ("I think the answer is (B).", ("B", "letter")),  # a letter in prose
        ("<think>maybe A, maybe B</think>\n<ANSWER> C </ANSWER>", ("C", "letter")),  # only the answer tag counts
        ("A or B", (None, "unresolved")),  # two letters, and no option text
        ("It is a wide shot, taken far away.", ("B", "option_text")),  # option text inside a sentence
        ("Lighting: daylight, sunny", ("C", "option_text")),  # a composite label is one option
        ("Z", ("Z", "letter")),  # no answer
        ("D. Medium shot", (None, "unresolved")),  # D is not an option of this row (it was empty)
        ("A close up, not a wide shot", ("A", "letter")),  # the article "A" is a letter token, as officially
        ("", (None, "unresolved")),
    ],
)
def test_rule_chain(prediction, expected):
    assert rule_choice(prediction, OPTIONS) == expected


def _reference_rules(prediction: str, options: list[dict[str, str]]) -> str | None:
    """The rules as the facts file states them, written independently of the package's code."""
    match = re.search(r"<answer>(.*?)</answer>", prediction, flags=re.I | re.S)
    answer = match.group(1).strip() if match else prediction
    for ch in ".()[],:;!*#{}":
        answer = answer.replace(ch, " ")
    tokens = answer.split()
    letters = {o["letter"] for o in options}
    present = {t for t in tokens if t in letters}
    if len(present) == 1:
        return present.pop()
    if not present and "Z" in tokens:
        return "Z"
    lowered = (match.group(1).strip() if match else prediction).lower()
    texts = [o["letter"] for o in options if o["text"].lower() in lowered]
    return texts[0] if len(texts) == 1 else None


def test_rule_chain_equals_the_stated_rules_on_generated_predictions():
    rng = random.Random(0)
    templates = [
        "{l}",
        "({l})",
        "The answer is {l}.",
        "{l}. {t}",
        "{t}",
        "I'd say {t}, clearly.",
        "<answer>{l}</answer>",
        "<think>{t2}?</think><answer>{t}</answer>",
        "{l} or {l2}",
        "None of them: Z",
        "**{l}**",
        "{t} and {t2}",
    ]
    for _ in range(400):
        options = [
            {"letter": letter, "text": text}
            for letter, text in zip(
                "ABCD",
                rng.sample(
                    [
                        "Close Up",
                        "Wide Shot",
                        "Medium Shot",
                        "Low angle",
                        "High angle",
                        "Daylight, Sunny",
                        "Backlight",
                        "Pan left",
                    ],
                    4,
                ),
            )
        ]
        if rng.random() < 0.3:
            options.pop(rng.randrange(4))  # an empty option dropped
        a, b = rng.sample(options, 2)
        prediction = rng.choice(templates).format(l=a["letter"], l2=b["letter"], t=a["text"], t2=b["text"])
        if rng.random() < 0.2:
            prediction = prediction.lower()
        assert rule_choice(prediction, options)[0] == _reference_rules(prediction, options), prediction


# -- the dataset --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("streaming", [False, True])
def test_load_the_official_layout(mini_shotbench, streaming):
    rows = list(load_shotbench(mini_shotbench, streaming=streaming))
    assert len(rows) == 32 and [r["index"] for r in rows] == list(range(1, 33))
    by_abbr = {}
    for row in rows:
        by_abbr.setdefault(row["category_abbr"], []).append(row)
    assert list(by_abbr) == ["SS", "SF", "CA", "LS", "LT", "LC", "SC", "CM"]
    assert [len(r["options"]) for r in by_abbr["SS"]] == [4, 3, 3, 4]  # the NaN and the empty option are dropped
    assert all(r["image"] is not None and r["image"].size == (96, 64) for r in rows if r["kind"] == "image")
    videos = [r for r in rows if r["kind"] == "video"]
    assert {r["category_abbr"] for r in videos} == {"CM"} and videos[0]["video"]["path"].endswith(".mp4")


def test_a_missing_media_file_names_the_row_and_the_file(mini_shotbench, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(mini_shotbench, copy)
    missing = sorted((copy / "video").iterdir())[0]
    missing.unlink()
    with pytest.raises(FileFormatError, match=rf"row \d+: its media file .*{missing.name} is missing"):
        read_test_tsv(copy / "test.tsv")
    assert len(read_test_tsv(copy / "test.tsv", check_media=False)) == 32  # scoring needs no media


def test_fetch_untars_the_hub_snapshot(tmp_path, monkeypatch):
    import huggingface_hub

    snapshot = tmp_path / "snapshot-source"
    (snapshot / "image").mkdir(parents=True)
    (snapshot / "image" / "a.jpg").write_bytes(b"jpeg")
    with tarfile.open(tmp_path / "images.tar", "w") as tar:
        tar.add(snapshot / "image", arcname="image")

    def snapshot_download(repo_id, repo_type, local_dir, token):  # the Hub's network is the one thing mocked
        assert (repo_id, repo_type) == ("Vchitect/ShotBench", "dataset")
        (tmp_path / "ShotBench").mkdir()
        (tmp_path / "ShotBench" / "images.tar").write_bytes((tmp_path / "images.tar").read_bytes())
        return local_dir

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    folder = fetch_shotbench(tmp_path / "ShotBench")
    assert (folder / "image" / "a.jpg").read_bytes() == b"jpeg"


# -- scoring, the matcher and the command -----------------------------------------------------------------------


def _predictions(rows, seed=0):
    rng = random.Random(seed)
    out = {}
    for row in rows:
        option = (
            next(o for o in row["options"] if o["letter"] == row["answer"])
            if rng.random() < 0.6
            else rng.choice(row["options"])
        )
        out[row["index"]] = rng.choice([option["letter"], f"The shot is {option['text'].lower()}.", "Hard to say."])
    return out


def test_score_counts_unresolved_rows_as_wrong_without_a_matcher(mini_shotbench):
    rows = read_test_tsv(mini_shotbench / "test.tsv")
    predictions = _predictions(rows)
    result = score_predictions(rows, predictions)
    unresolved = sum(p == "Hard to say." for p in predictions.values())
    assert result["num_unresolved"] == unresolved > 0 and result["resolved_by"]["unresolved"] == unresolved
    correct = sum(r["correct"] for r in result["per_row"])
    assert result["scores"]["Overall"] == round(100 * correct / 32, 2)
    assert score_predictions(rows, predictions) == result  # deterministic: nothing random
    with pytest.raises(ValueError, match="1 question\\(s\\) have no prediction"):
        score_predictions(rows, {k: v for k, v in predictions.items() if k != 3})


def test_the_llm_matcher_resolves_with_the_cache_and_never_guesses(mini_shotbench, tmp_path):
    rows = read_test_tsv(mini_shotbench / "test.tsv")
    predictions = _predictions(rows)
    cache = ResponseCache(tmp_path / "cache.sqlite")
    with ScriptedJudgeServer(answer=lambda prompt: "B") as server:
        matcher = LLMMatcher(OpenAILLM(model="matcher", base_url=server.url), cache)
        first = score_predictions(rows, predictions, matcher=matcher)
        asked = len(server.requests)
        again = score_predictions(
            rows, predictions, matcher=LLMMatcher(OpenAILLM(model="matcher", base_url=server.url), cache)
        )
        assert len(server.requests) == asked  # the second run is served from the cache
    assert asked == sum(p == "Hard to say." for p in predictions.values())
    assert first["num_unresolved"] == 0 and first["resolved_by"]["llm_matcher"] == asked
    assert server.requests[0]["temperature"] == 0 and "Hard to say." in server.requests[0]["messages"][0]["content"]
    assert first["scores"] == again["scores"]
    with ScriptedJudgeServer(answer=lambda prompt: "I cannot tell.") as server:
        unsure = score_predictions(
            rows, predictions, matcher=LLMMatcher(OpenAILLM(model="unsure", base_url=server.url))
        )
    assert unsure["num_unresolved"] == asked and unsure["matcher_failed"] == asked  # wrong, not a random option


def test_shotbench_evaluate_command_rescoring_official_files(mini_shotbench, tmp_path, capsys):
    import pandas as pd

    rows = read_test_tsv(mini_shotbench / "test.tsv")
    predictions = _predictions(rows, seed=1)
    ours = tmp_path / "preds.jsonl"
    ours.write_text("".join(json.dumps({"index": i, "prediction": p}) + "\n" for i, p in predictions.items()))
    official = pd.read_csv(mini_shotbench / "test.tsv", sep="\t")
    official["prediction"] = official["index"].map(predictions)
    official.to_excel(tmp_path / "official.xlsx", index=False)
    official.to_csv(tmp_path / "official.tsv", sep="\t", index=False)
    results = [
        evaluate_shotbench(path, mini_shotbench, out=tmp_path / path.stem)
        for path in (ours, tmp_path / "official.xlsx", tmp_path / "official.tsv")
    ]
    assert results[0]["scores"] == results[1]["scores"] == results[2]["scores"]
    assert (
        cli.main(
            [
                "shotbench",
                "evaluate",
                "--predictions",
                str(ours),
                "--data",
                str(mini_shotbench),
                "--out",
                str(tmp_path / "cli"),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "Overall" in printed and "unresolved (counted wrong)" in printed
    page = (tmp_path / "cli" / "report.html").read_text()
    assert "this run" in page and "ShotVL-7B" in page and "no random choice" in page
    lines = [json.loads(line) for line in (tmp_path / "cli" / "per_row.jsonl").read_text().splitlines()]
    assert len(lines) == 32 and {line["resolved_by"] for line in lines} <= {"letter", "option_text", "unresolved"}


def test_published_results_equal_the_facts_file():
    from pathlib import Path

    from movie101v2_hf.shotbench import published_results

    facts = Path(__file__).resolve().parents[1] / ".." / "shared" / "papers" / "shotbench.md"
    if not facts.is_file():
        pytest.skip("the ShotBench facts are not beside the clone")
    table = facts.read_text("utf-8").split("| model | SS |")[1].splitlines()[2:]
    expected = {}
    for line in table:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        expected[cells[0]] = [float(c) for c in cells[1:]]
    shipped = {r["model"]: list(r["scores"].values()) for r in published_results()["rows"]}
    assert shipped == expected


def test_evaluate_module_from_the_checkout():
    from pathlib import Path

    import evaluate

    module = evaluate.load(str(Path(__file__).resolve().parents[1] / "metrics" / "shotbench_accuracy"))
    result = module.compute(
        predictions=["<answer>B</answer>", "It is a close up.", "Hard to say."],
        references=["B", "A", "A"],
        options=[{"A": "Close Up", "B": "Wide Shot", "C": ""}] * 3,
        categories=["shot size", "shot size", "camera angle"],
    )
    assert (result["SS"], result["CA"], result["Overall"], result["Avg"]) == (100.0, 0.0, 66.67, 50.0)
    assert result["num_unresolved"] == 1


# -- the runner: the tiny Qwen2.5-VL on stills and clips ----------------------------------------------------------


def _run_options(data, out, model, **overrides):
    from movie101v2_hf.shotbench.run import ShotBenchRunOptions

    values = {
        "data": str(data),
        "out": str(out),
        "model": str(model),
        "max_new_tokens": 6,
        "batch_size": 4,
        "num_workers": 0,
        "show_progress": False,
        "video_fps": 4.0,
        "max_pixels": 64 * 48,
    }
    return ShotBenchRunOptions(**{**values, **overrides})


def test_runs_of_two_models_share_one_frame_cache(mini_shotbench, tiny_vlm, tmp_path):
    from movie101v2_hf.data.frame_cache import FrameCache
    from movie101v2_hf.shotbench.run import run_shotbench

    cache = str(tmp_path / "frames")
    first = run_shotbench(_run_options(mini_shotbench, tmp_path / "a.jsonl", tiny_vlm, frame_cache=cache))
    entries = {path: path.stat().st_ino for path in FrameCache(cache).entries()}
    clips = sum(1 for row in load_shotbench(mini_shotbench) if row["video"] is not None)
    assert first.complete and len(entries) == clips > 0  # the clips' frames, not the stills
    second = run_shotbench(_run_options(mini_shotbench, tmp_path / "b.jsonl", tiny_vlm, frame_cache=cache))
    assert second.complete and (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()
    assert {path: path.stat().st_ino for path in FrameCache(cache).entries()} == entries  # read, not re-decoded


def test_runner_answers_stills_and_clips_as_a_direct_generate(mini_shotbench, tiny_vlm, tmp_path):
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from movie101v2_hf.shotbench.prompting import ShotBenchCollator
    from movie101v2_hf.shotbench.run import run_shotbench

    out = tmp_path / "preds.jsonl"
    record = run_shotbench(_run_options(mini_shotbench, out, tiny_vlm))
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert record.complete and [line["index"] for line in lines] == list(range(1, 33))
    assert all(isinstance(line["prediction"], str) for line in lines)
    # the same answer as generating from the collator's prompt directly, for a still and for a clip
    processor = AutoProcessor.from_pretrained(tiny_vlm)
    model = AutoModelForImageTextToText.from_pretrained(tiny_vlm).eval()
    collator = ShotBenchCollator(processor, video_fps=4.0, max_pixels=64 * 48)
    rows = load_shotbench(mini_shotbench)
    for k in (0, 31):  # index 1 is a still, index 32 a camera-movement clip
        inputs = collator.prompt_batch([collator.clip_inputs(rows[k])])
        assert ("pixel_values_videos" in inputs) == (rows[k]["kind"] == "video")
        with torch.inference_mode():
            output = model.generate(
                **inputs, max_new_tokens=6, do_sample=False, pad_token_id=processor.tokenizer.pad_token_id
            )
        expected = processor.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)[0]
        assert lines[k]["prediction"] == expected.strip()
    text = collator.prompt_text(collator.clip_inputs(rows[0]))
    assert "Please select the most likely answer from the options above." in text and "helpful assistant" in text
    assert "Options:\nA. " in text  # real line breaks, as the official runner sends
    reasoning = ShotBenchCollator(processor, reasoning=True)
    assert "<think>" in reasoning.prompt_text(reasoning.clip_inputs(rows[0]))
    assert reasoning.target(rows[0]) == f"<answer>{rows[0]['answer']}</answer>"
    assert evaluate_shotbench(out, mini_shotbench, out=tmp_path / "scored")["num_rows"] == 32


def test_runner_resumes_after_a_kill(mini_shotbench, tiny_vlm, tmp_path):
    import signal
    import subprocess
    import sys
    import time
    from dataclasses import asdict

    from movie101v2_hf.shotbench.run import run_shotbench

    out = tmp_path / "preds.jsonl"
    options = _run_options(mini_shotbench, out, tiny_vlm, batch_size=1)
    script = (
        "import json, sys; from movie101v2_hf.shotbench.run import ShotBenchRunOptions, run_shotbench; "
        "run_shotbench(ShotBenchRunOptions(**json.loads(sys.argv[1])))"
    )
    process = subprocess.Popen([sys.executable, "-c", script, json.dumps(asdict(options))])
    deadline = time.monotonic() + 180
    while not (out.is_file() and out.read_bytes().count(b"\n") >= 3):
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    kept = out.read_bytes().count(b"\n")
    assert 3 <= kept < 32
    record = run_shotbench(options)
    indices = [json.loads(line)["index"] for line in out.read_text().splitlines()]
    assert record.complete and sorted(indices) == list(range(1, 33)) and len(indices) == len(set(indices))


# -- training: rewards, the GRPO and SFT recipes on the tiny model ---------------------------------------------


def _recipe(name):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "recipes" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rewards():
    from movie101v2_hf.shotbench.training import choice_reward, format_reward

    options = [OPTIONS] * 4
    completions = [
        [{"role": "assistant", "content": "<think>far away</think><answer>B</answer>"}],
        "<think>close</think> <answer> A </answer>",
        "It is a wide shot.",
        "<answer>B</answer>",
    ]
    assert choice_reward(completions, ["B", "B", "B", "B"], options) == [1.0, 0.0, 1.0, 1.0]
    assert format_reward(completions) == [1.0, 1.0, 0.0, 0.0]


@pytest.mark.parametrize("name", ["grpo_shotbench", "sft_shotbench"])
def test_shotbench_recipe_yamls_parse(name):
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "recipes" / "qwen2.5-vl-7b-instruct" / f"{name}.yaml"
    training, model, shot = (
        _recipe(name)
        .make_parser()
        .parse_args_and_config(["--config", str(path), "--use_cpu", "true", "--bf16", "false"])
    )
    assert model.use_peft and shot.data_dir == "ShotQA" and training.hub_token is None


@pytest.mark.slow
def test_grpo_recipe_trains_a_few_steps_and_its_adapter_reloads(mini_shotbench, tiny_vlm, tmp_path):
    import math

    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    recipe = _recipe("grpo_shotbench")
    out = tmp_path / "grpo"
    training, model, shot = recipe.make_parser().parse_args_and_config(
        [
            "--model_name_or_path",
            str(tiny_vlm),
            "--data_dir",
            str(mini_shotbench),
            "--output_dir",
            str(out),
            "--use_peft",
            "true",
            "--lora_r",
            "4",
            "--lora_alpha",
            "8",
            "--use_cpu",
            "true",
            "--bf16",
            "false",
            "--max_steps",
            "2",
            "--per_device_train_batch_size",
            "2",
            "--num_generations",
            "2",
            "--max_completion_length",
            "8",
            "--max_train_samples",
            "8",
            "--frames_per_clip",
            "2",
            "--max_pixels",
            "3072",
            "--logging_steps",
            "1",
            "--report_to",
            "none",
            "--save_strategy",
            "no",
        ]
    )
    trainer = recipe.main(training, model, shot)
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logs) == 2 and all(math.isfinite(entry["loss"]) for entry in logs)
    assert all("rewards/choice_reward/mean" in entry and "rewards/format_reward/mean" in entry for entry in logs)
    base = AutoModelForImageTextToText.from_pretrained(tiny_vlm)
    assert isinstance(PeftModel.from_pretrained(base, str(out)), PeftModel)


@pytest.mark.slow
def test_sft_recipe_trains_on_shotbench_rows(mini_shotbench, tiny_vlm, tmp_path):
    import math

    recipe = _recipe("sft_shotbench")
    training, model, shot = recipe.make_parser().parse_args_and_config(
        [
            "--model_name_or_path",
            str(tiny_vlm),
            "--data_dir",
            str(mini_shotbench),
            "--output_dir",
            str(tmp_path / "sft"),
            "--use_peft",
            "true",
            "--lora_r",
            "4",
            "--lora_alpha",
            "8",
            "--use_cpu",
            "true",
            "--bf16",
            "false",
            "--max_steps",
            "2",
            "--per_device_train_batch_size",
            "2",
            "--video_fps",
            "2",
            "--max_pixels",
            "3072",
            "--logging_steps",
            "1",
            "--report_to",
            "none",
            "--save_strategy",
            "no",
        ]
    )
    trainer = recipe.main(training, model, shot)
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert losses and all(math.isfinite(loss) for loss in losses)
    assert (tmp_path / "sft" / "adapter_config.json").is_file()


def test_runner_data_parallel_equals_one_process(mini_shotbench, tiny_vlm, tmp_path):
    from movie101v2_hf.shotbench.run import run_shotbench

    single = run_shotbench(_run_options(mini_shotbench, tmp_path / "one" / "preds.jsonl", tiny_vlm, max_samples=10))
    record = run_shotbench(
        _run_options(mini_shotbench, tmp_path / "two" / "preds.jsonl", tiny_vlm, max_samples=10, data_parallel_size=2)
    )
    assert single.complete and record.complete and record.extra["data_parallel_processes"] == 2
    assert (tmp_path / "two" / "preds.jsonl").read_text() == (tmp_path / "one" / "preds.jsonl").read_text()


def test_runner_on_an_openai_compatible_server(mini_shotbench, tmp_path):
    from movie101v2_hf.shotbench.run import ShotBenchRunOptions, run_shotbench

    out = tmp_path / "preds.jsonl"
    with ScriptedJudgeServer(answer=lambda text: "<answer>B</answer>") as server:
        options = _run_options(mini_shotbench, out, "gpt-4o", backend="openai", base_url=server.url, reasoning=True)
        record = run_shotbench(options)
        bodies = list(server.requests)
    assert record.complete and len(bodies) == 32
    still, clip = bodies[0], bodies[-1]
    assert still["messages"][0] == {
        "role": "system",
        "content": [{"type": "text", "text": still["messages"][0]["content"][0]["text"]}],
    }
    assert "<think>" in still["messages"][0]["content"][0]["text"]
    user = still["messages"][1]["content"]
    assert user[0]["type"] == "image_url" and user[0]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert user[-1]["text"].startswith("Question: What's the shot size of this shot?\nOptions:\nA. ")
    assert sum(part["type"] == "image_url" for part in clip["messages"][1]["content"]) == 8  # 2 s at 4 fps
    assert still["max_tokens"] == 6 and still["temperature"] == 0  # greedy; the test caps the length
    assert ShotBenchRunOptions.__dataclass_fields__["max_new_tokens"].default == 1024  # the official cap
    results = evaluate_shotbench(out, mini_shotbench, out=tmp_path / "scored")
    assert results["resolved_by"] == {"letter": 32}


def test_the_evaluate_command_matches_with_a_text_llm(mini_shotbench, tmp_path, capsys):
    # --judge-backend builds the matcher's backend and cache directly (no L1/L2 judge behind it)
    rows = read_test_tsv(mini_shotbench / "test.tsv", check_media=False)
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"index": r["index"], "prediction": "hard to say"}) + "\n" for r in rows))
    with ScriptedJudgeServer(answer=lambda text: "B") as server:
        code = cli.main(
            ["shotbench", "evaluate", "--predictions", str(preds), "--data", str(mini_shotbench), "--out"]
            + [str(tmp_path / "out"), "--judge-backend", "openai", "--judge-url", server.url, "--judge-model", "m"]
            + ["--judge-cache", str(tmp_path / "cache.sqlite")]
        )
        asked = len(server.requests)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert code == 0 and asked == len(rows) and results["resolved_by"] == {"llm_matcher": len(rows)}
    assert results["matcher"]["judge_model"] == "m" and len(ResponseCache(tmp_path / "cache.sqlite")) == len(rows)
