"""Synthetic movies: the planner's structured output, re-asks, failures, cache and resume."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from movie101v2_hf import cli
from movie101v2_hf.synth import PlanOptions, parse_plan, plan_movies
from movie101v2_hf.synth.plan import QA_KINDS
from movie101v2_hf.testing import ScriptedJudgeServer
from movie101v2_hf.testing.servers import scripted_plan

THEMES = ["a lighthouse keeper and a stray dog", "two sisters run a noodle shop", "a chess game on a night train"]


def _plan(theme: str, scenes: int = 3) -> dict:
    return scripted_plan(scenes, theme)


def _planner(fail_first=(), always_invalid=()):
    def answer(prompt: str) -> str:
        theme = next(t for t in THEMES if t in prompt)
        if theme in always_invalid:
            return '{"title": "no scenes"}'
        if theme in fail_first and "was not valid" not in prompt:
            return "Sure! Here is a movie: " + json.dumps(_plan(theme))[:50]
        return "```json\n" + json.dumps(_plan(theme)) + "\n```"

    return answer


@pytest.fixture
def themes(tmp_path):
    path = tmp_path / "themes.txt"
    path.write_text("# one theme per line\n" + "\n".join(THEMES) + "\n", encoding="utf-8")
    return path


def test_parse_plan_checks_the_shape_and_the_rules():
    plan = _plan("x")
    assert parse_plan(json.dumps(plan), scenes=3).title == "X"
    with pytest.raises(ValueError, match="2 scenes, but exactly 3"):
        parse_plan(json.dumps({**plan, "scenes": plan["scenes"][:2]}), scenes=3)
    stranger = {**plan, "scenes": [{**plan["scenes"][0], "characters": ["Zed"]}]}
    with pytest.raises(ValueError, match=r"scene 1 names \['Zed'\], who are not in the characters list"):
        parse_plan(json.dumps(stranger))
    with pytest.raises(ValueError, match=r"no question of kind \['temporal'\]"):
        parse_plan(json.dumps({**plan, "qa": [q for q in plan["qa"] if q["kind"] != "temporal"]}))
    with pytest.raises(ValueError, match="overview"):
        parse_plan(json.dumps({k: v for k, v in plan.items() if k != "overview"}))


def test_plans_are_validated_re_asked_and_failures_recorded(themes, tmp_path):
    options = PlanOptions(themes=str(themes), out=str(tmp_path / "synth"), model="planner", scenes=3)
    with ScriptedJudgeServer(answer=_planner(fail_first=[THEMES[1]], always_invalid=[THEMES[2]])) as server:
        options.base_url = server.url
        record = plan_movies(options)
        bodies = list(server.requests)
    assert (record.num_written, record.complete) == (2, False)
    assert "invalid plan after a second ask" in record.failures["synth-00002"]
    assert len(bodies) == 3 + 2  # three first answers, two re-asks with the error
    schema = bodies[0]["response_format"]["json_schema"]["schema"]
    assert bodies[0]["response_format"]["type"] == "json_schema" and "scenes" in schema["properties"]
    lines = [json.loads(line) for line in (tmp_path / "synth" / "plans.jsonl").read_text().splitlines()]
    assert [line["movie_id"] for line in lines] == ["synth-00000", "synth-00001"]
    assert lines[1]["plan"]["scenes"][0]["narration"].startswith("Lin and Bo")
    # a rerun with --overwrite is served from the cache: no call for the valid answers
    with ScriptedJudgeServer(answer=_planner(always_invalid=[THEMES[2]])) as server:
        options.base_url, options.overwrite = server.url, True
        again = plan_movies(options)
        # themes 0 and 1 from the cache (theme 1's valid second answer is stored under its first request); theme 2,
        # never valid and so never cached, twice
        assert again.num_written == 2 and len(server.requests) == 2


def test_the_command_exits_1_until_every_movie_is_planned_and_resumes_after_a_kill(themes, tmp_path):
    out = tmp_path / "synth"
    with ScriptedJudgeServer(answer=_planner(), latency=0.5) as server:
        arguments = [
            "synth",
            "plan",
            "--themes",
            str(themes),
            "--out",
            str(out),
            "--model",
            "planner",
            "--scenes",
            "3",
            "--base_url",
            server.url,
            "--concurrency",
            "1",
            "--cache",
            str(tmp_path / "cache.sqlite"),
        ]
        process = subprocess.Popen([sys.executable, "-m", "movie101v2_hf.cli", *arguments])
        deadline = time.monotonic() + 60
        while not ((out / "plans.jsonl").is_file() and (out / "plans.jsonl").read_bytes().count(b"\n") >= 1):
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        before = len(server.requests)
        assert cli.main(arguments) == 0
        asked = len(server.requests) - before
    lines = [json.loads(line)["movie_id"] for line in (out / "plans.jsonl").read_text().splitlines()]
    assert sorted(lines) == ["synth-00000", "synth-00001", "synth-00002"] and len(set(lines)) == 3
    assert asked <= 3 - 1  # the movie already written is not asked again (one in flight may be answered twice)


# -- draw: keyframes and portraits with a tiny diffusers pipeline -------------------------------------------------


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory):
    pytest.importorskip("diffusers", reason="drawing needs the `synth` extra")
    from movie101v2_hf.testing import make_tiny_text_to_image

    return make_tiny_text_to_image(tmp_path_factory.mktemp("tiny-sd") / "pipeline")


@pytest.fixture
def planned(tmp_path):
    out = tmp_path / "synth"
    out.mkdir()
    lines = [
        {"movie_id": f"synth-{k:05d}", "theme": theme, "plan": _plan(theme, scenes=2)}
        for k, theme in enumerate(THEMES[:2])
    ]
    (out / "plans.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return out


def _draw_options(out, pipeline, **overrides):
    from movie101v2_hf.synth import DrawOptions

    values = {
        "out": str(out),
        "pipeline": str(pipeline),
        "steps": 2,
        "height": 32,
        "width": 32,
        "show_progress": False,
    }
    return DrawOptions(**{**values, **overrides})


def test_draw_keyframes_and_portraits_in_one_style_seeded(planned, tiny_pipeline, tmp_path):
    import torch
    from PIL import Image

    from movie101v2_hf.synth import draw_keyframes

    embedding = tmp_path / "style.pt"
    torch.save({"<movie-style>": torch.randn(32)}, embedding)
    record = draw_keyframes(_draw_options(planned, tiny_pipeline, style_embedding=str(embedding)))
    lines = [json.loads(line) for line in (planned / "keyframes.jsonl").read_text().splitlines()]
    assert record.complete and len(lines) == 2 * (2 + 2)  # two movies: two scenes and two portraits each
    assert {line["kind"] for line in lines} == {"keyframe", "portrait"}
    assert all(line["prompt"].startswith("<movie-style>, warm film grain") for line in lines)  # one style
    scene = next(line for line in lines if line["kind"] == "keyframe")
    assert (
        "Lin: a woman of forty" in scene["prompt"] and "Bo: a boy of ten" in scene["prompt"]
    )  # the cast as described
    first = (planned / lines[0]["path"]).read_bytes()
    assert Image.open(planned / lines[0]["path"]).size == (32, 32)
    draw_keyframes(_draw_options(planned, tiny_pipeline, style_embedding=str(embedding), overwrite=True))
    assert (planned / lines[0]["path"]).read_bytes() == first  # seeded: the same image again


def test_draw_resumes_after_a_kill(planned, tiny_pipeline):
    from dataclasses import asdict

    from movie101v2_hf.synth import draw_keyframes

    options = _draw_options(planned, tiny_pipeline)
    script = (
        "import json, sys, time; from movie101v2_hf.synth import draw, DrawOptions; "
        "from movie101v2_hf.utils.outputs import OutputFolder; real = OutputFolder.write\n"
        "def slow(*a):\n    path = real(*a); time.sleep(0.3); return path\n"
        "OutputFolder.write = slow; draw.draw_keyframes(DrawOptions(**json.loads(sys.argv[1])))"
    )
    process = subprocess.Popen([sys.executable, "-c", script, json.dumps(asdict(options))])
    record_file = planned / "keyframes.jsonl"
    deadline = time.monotonic() + 120
    while not (record_file.is_file() and record_file.read_bytes().count(b"\n") >= 2):
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    kept = record_file.read_bytes().count(b"\n")
    assert 2 <= kept < 8
    assert draw_keyframes(options).complete
    ids = [json.loads(line)["image_id"] for line in record_file.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 8


# -- the dataset, and the SFT recipe on it --------------------------------------------------------------------


def _run_sft_recipe(config: dict, tmp_path) -> None:
    """recipes/sft_lora.py, unchanged, in a process of its own, offline."""
    import os
    from pathlib import Path

    import yaml

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "sft_lora.py"
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_DATASETS_CACHE": str(tmp_path / "c")}
    command = [sys.executable, str(recipe), "--config", str(tmp_path / "recipe.yaml")]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]


def test_dataset_loads_and_the_sft_recipe_trains_on_it(planned, tiny_pipeline, tiny_vlm, tmp_path, capsys):

    from datasets import load_dataset

    from movie101v2_hf.synth import draw_keyframes

    assert draw_keyframes(_draw_options(planned, tiny_pipeline)).complete
    assert cli.main(["synth", "dataset", "--out", str(planned)]) == 0
    assert "'narration': 4, 'movies': 2, 'qa': 8" in capsys.readouterr().out
    narration = load_dataset(str(planned / "dataset"), "narration", split="train")
    movies = load_dataset(str(planned / "dataset"), "movies", split="train")
    qa = load_dataset(str(planned / "dataset"), "qa", split="train")
    assert (
        narration[0]["keyframes"][0].size == (32, 32) and narration[1]["prev_narration"] == narration[0]["narration"]
    )
    assert narration[0]["cast"] == ["Lin", "Bo"] and movies[0]["cast"][0]["portrait"].size == (32, 32)
    assert sorted(set(qa["kind"])) == sorted(QA_KINDS) and len(qa[0]["keyframes"]) == 2
    assert (planned / "contact_sheets" / "synth-00000.png").read_bytes()[:4] == b"\x89PNG"
    card = (planned / "dataset" / "README.md").read_text()
    assert "Keyframes and portraits" in card and "CreativeML Open RAIL++-M" in card

    # one step of recipes/sft_lora.py on the synthetic clips, unchanged
    config = {
        "model_name_or_path": str(tiny_vlm),
        "use_peft": True,
        "lora_r": 4,
        "lora_alpha": 8,
        "dataset_name": str(planned / "dataset"),
        "dataset_config": "narration",
        "dataset_train_split": "train",
        "video_num_frames": 1,
        "max_portraits": 2,
        "per_device_train_batch_size": 2,
        "max_steps": 1,
        "output_dir": str(tmp_path / "sft"),
        "use_cpu": True,
        "report_to": "none",
        "save_strategy": "no",
        "logging_steps": 1,
        "max_length": 512,
        "dataloader_num_workers": 0,
    }
    _run_sft_recipe(config, tmp_path)
    state = json.loads((tmp_path / "sft" / "trainer_state.json").read_text())
    assert state["global_step"] == 1 and all(e["loss"] == e["loss"] for e in state["log_history"] if "loss" in e)
    assert (tmp_path / "sft" / "adapter_config.json").is_file()


def test_a_mix_with_movie101v2_trains_in_one_run(planned, tiny_pipeline, tiny_vlm, mini_prepared, tmp_path):

    from movie101v2_hf.data.loading import load_clips, load_portraits
    from movie101v2_hf.synth import build_dataset, draw_keyframes

    assert draw_keyframes(_draw_options(planned, tiny_pipeline)).complete
    build_dataset(planned)
    mix = tmp_path / "mix"
    assert (
        cli.main(
            [
                "synth",
                "mix",
                "--synthetic",
                str(planned / "dataset"),
                "--movie101v2",
                str(mini_prepared),
                "--out",
                str(mix),
            ]
        )
        == 0
    )
    train = load_clips(str(mix), "en", "train")
    kinds = {(row["video"] is None, bool(row["keyframes"])) for row in train}
    assert kinds == {(False, False), (True, True)}  # Movie101v2 clips with a video, synthetic ones with keyframes
    assert load_portraits(str(mix), "en", max_portraits=2).portraits("synth-00000", [])[0]["name"] == "Lin"
    movie = next(m for m in set(train["movie_id"]) if not m.startswith("synth"))
    config = {
        "model_name_or_path": str(tiny_vlm),
        "use_peft": True,
        "lora_r": 4,
        "lora_alpha": 8,
        "dataset_name": str(mix),
        "dataset_config": "en",
        "movie_ids": [movie, "synth-00000"],
        "video_num_frames": 2,
        "max_portraits": 1,
        "per_device_train_batch_size": 16,
        "max_steps": 1,
        "output_dir": str(tmp_path / "sft"),
        "use_cpu": True,
        "report_to": "none",
        "save_strategy": "no",
        "logging_steps": 1,
        "max_length": 1024,
        "dataloader_num_workers": 0,
        "record_clip_ids": True,
    }
    _run_sft_recipe(config, tmp_path)
    seen = (tmp_path / "sft" / "seen_clips" / "rank-0.txt").read_text().split()
    assert any(c.startswith("synth-") for c in seen) and any(not c.startswith("synth-") for c in seen)


def test_the_vllm_planner_asks_for_json_of_the_plan_schema(monkeypatch):
    # vLLM needs a GPU: its module is replaced by a recorder; what we hand it is real
    import types

    from movie101v2_hf.llm import VLLMLLM, AnswerFormat
    from movie101v2_hf.synth import MoviePlan

    calls = {}

    class LLM:
        def __init__(self, **kwargs):
            calls["init"] = kwargs

        def chat(self, conversations, params, use_tqdm):
            calls["params"] = params
            return [types.SimpleNamespace(outputs=[types.SimpleNamespace(text=json.dumps(_plan("x")))])]

    class Params:
        def __init__(self, **kwargs):
            self.__dict__.update(kwargs)

    vllm = types.ModuleType("vllm")
    vllm.LLM, vllm.SamplingParams = LLM, Params
    sampling = types.ModuleType("vllm.sampling_params")
    sampling.StructuredOutputsParams = Params
    vllm.__spec__ = sampling.__spec__ = types.SimpleNamespace(name="vllm")
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling)
    schema = MoviePlan.model_json_schema()
    answers = VLLMLLM(model="planner", max_tokens=4096).generate(
        ["theme"], answer_format=AnswerFormat.of_schema("movie_plan", schema)
    )
    assert parse_plan(answers[0], scenes=3).title == "X"
    assert calls["params"].structured_outputs.json == schema and calls["params"].max_tokens == 4096
