"""`analyze facts` end to end with a scripted extractor and a scripted vision model whose answers are known: recall
computed independently, the lower rates from the 2-fps answers, and a real kill resumed without asking again."""

from __future__ import annotations

import json
import math
import random
import re
import signal
import subprocess
import sys
import time

import pytest

from movie101v2_hf import cli
from movie101v2_hf.analysis.facts import CATEGORIES
from movie101v2_hf.testing import ScriptedJudgeServer


def scripted(text: str) -> str:
    """Extraction: one fact per sentence, categories in turn. Frames: fact j seen when (2t rounded + j) % 3 == 0."""
    if "List the atomic visual facts" in text:
        narration = text.split("Narration:", 1)[1].split("\n\nAnswer with", 1)[0].strip()
        sentences = [s for s in re.split(r"(?<=\.)\s+", narration) if s.strip()]
        facts = [{"fact": s, "category": CATEGORIES[k % len(CATEGORIES)]} for k, s in enumerate(sentences)]
        return json.dumps({"facts": facts})
    seconds = float(re.search(r"\(([\d.]+) s into the movie\)", text).group(1))
    count = len(re.findall(r"^\d+\. ", text, re.M))
    return json.dumps({"seen": [(round(2 * seconds) + j) % 3 == 0 for j in range(count)]})


def _command(dataset, out, url, *extra):
    return ["analyze", "facts", "--dataset", str(dataset), "--split", "train", "--clips", "4", "--seed", "3",
            "--backend", "openai", "--model", "vlm", "--base-url", url, "--extractor-backend", "openai",
            "--extractor-model", "llm", "--extractor-url", url, "--extractor-cache", str(out.parent / "cache.sqlite"),
            "--bootstrap", "50", "--num-workers", "0", "--out", str(out), *extra]  # fmt: skip


def _expected(dataset, rate):
    """Recall by hand: the same sample, the frames at `rate` (every 2/rate-th half-second middle), the rule."""
    from datasets import load_dataset

    rows = load_dataset(str(dataset), "en", split="train")
    picked = sorted(random.Random(3).sample(range(len(rows)), 4))
    hit = total = complete = 0
    per_category = {c: [0, 0] for c in CATEGORIES}
    for k in picked:
        row = rows[k]
        sentences = [s for s in re.split(r"(?<=\.)\s+", row["narration"]) if s.strip()]
        count = max(1, math.floor((row["end"] - row["start"]) * 2 + 1e-9))
        times = [round(row["start"] + (i + 0.5) / 2, 4) for i in range(count) if i % round(2 / rate) == 0]
        seen = [any((round(2 * t) + j) % 3 == 0 for t in times) for j in range(len(sentences))]
        hit, total, complete = hit + sum(seen), total + len(seen), complete + all(seen)
        for j, s in enumerate(seen):
            per_category[CATEGORIES[j % 5]][0] += s
            per_category[CATEGORIES[j % 5]][1] += 1
    return 100 * hit / total, 100 * complete / len(picked), per_category


def test_recall_equals_the_scripted_models_known_answers(mini_prepared, tmp_path):
    out = tmp_path / "facts"
    with ScriptedJudgeServer(answer=scripted) as server:
        assert cli.main(_command(mini_prepared, out, server.url)) == 0
        bodies = server.requests
    results = json.loads((out / "recall.json").read_text())
    assert results["complete"] and results["invalid_frames"] == 0
    for rate in ("2.0", "1.0", "0.5", "0.25"):
        instance, clip, per_category = _expected(mini_prepared, float(rate))
        assert results["by_rate"][rate]["instance"] == pytest.approx(instance, abs=1e-3), rate
        assert results["by_rate"][rate]["clip"] == pytest.approx(clip, abs=1e-3), rate
        for category, (h, n) in per_category.items():
            if n:
                assert results["by_rate"][rate][category] == pytest.approx(100 * h / n, abs=1e-3)
    frames = [
        b
        for b in bodies
        if any(p.get("type") == "image_url" for p in b["messages"][-1]["content"] if isinstance(p, dict))
    ]
    assert len(frames) == results["frames_asked"]  # asked once, at 2 fps only
    assert results["calls_saved"] > 0 and frames[0]["response_format"]["type"] == "json_schema"
    assert len((out / "facts.jsonl").read_text().splitlines()) == 4
    for name in ("fig6_recall_by_rate.png", "fig7_recall_by_category.png"):
        assert (out / name).stat().st_size > 5000


def test_a_killed_run_keeps_every_answer_and_asks_only_the_rest(mini_prepared, tmp_path):
    out = tmp_path / "facts"
    with ScriptedJudgeServer(answer=scripted, latency=0.15) as server:
        command = [
            sys.executable,
            "-m",
            "movie101v2_hf.cli",
            *_command(mini_prepared, out, server.url, "--batch-size", "1"),
        ]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        frames = out / "frames.jsonl"
        deadline = time.monotonic() + 180
        while not (frames.is_file() and frames.read_text().count("\n") >= 3) and process.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
        kept = [json.loads(line)["frame_id"] for line in frames.read_text().splitlines() if line.strip()]
        assert len(kept) >= 3 and not (out / "recall.json").exists()  # killed before the end
        asked_before = len(server.requests)
        assert subprocess.run(command, capture_output=True).returncode == 0
        asked_again = [b for b in server.requests[asked_before:] if isinstance(b["messages"][-1]["content"], list)]
    lines = [json.loads(line)["frame_id"] for line in frames.read_text().splitlines()]
    results = json.loads((out / "recall.json").read_text())
    assert len(lines) == len(set(lines)) == results["frames_asked"]  # nothing lost, nothing twice
    assert len(asked_again) == results["frames_asked"] - len(kept)  # the kept answers were not asked again
    assert results["complete"]


def test_the_transformers_backend_asks_the_frames_with_a_real_processor(mini_prepared, tmp_path):
    """A tiny random Qwen2.5-VL cannot answer in JSON: every frame is asked once and counted invalid, none fails."""
    from movie101v2_hf.testing import make_tiny_video_llm

    model = make_tiny_video_llm(tmp_path / "vlm")
    out = tmp_path / "facts"
    with ScriptedJudgeServer(answer=scripted) as server:
        command = _command(mini_prepared, out, server.url, "--clips", "1", "--max-new-tokens", "4")
        command[command.index("openai")] = "transformers"  # the vision backend (the extractor stays openai)
        command[command.index("vlm")] = str(model)
        cli.main(command)
    results = json.loads((out / "recall.json").read_text())
    assert results["frames_asked"] > 0 and results["invalid_frames"] == results["frames_asked"]
    assert results["failed"] == 0 and results["by_rate"]["2.0"]["instance"] == 0.0
