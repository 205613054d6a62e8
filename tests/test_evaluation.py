"""`movie101v2 evaluate`: predictions checks, results, per-sample lines and the HTML report."""

from __future__ import annotations

import json
import shutil

import pytest
from datasets import load_dataset

from movie101v2_hf import cli
from movie101v2_hf.evaluation import load_predictions, match_predictions
from movie101v2_hf.testing import ScriptedJudgeServer


@pytest.fixture
def predictions_file(mini_prepared, tmp_path):
    clips = load_dataset(str(mini_prepared), "en", split="test")
    path = tmp_path / "preds.jsonl"
    # a baseline that predicts the previous clip's narration (or the clip's own for the first one)
    lines = [{"clip_id": row["clip_id"], "narration": row["prev_narration"] or row["narration"]} for row in clips]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", "utf-8")
    return path, clips


@pytest.mark.skipif(shutil.which("java") is None, reason="pycocoevalcap needs Java (make test installs it)")
def test_evaluate_command_end_to_end(mini_prepared, predictions_file, sample_release, tmp_path, capsys):
    path, clips = predictions_file
    out = tmp_path / "results"
    baselines = tmp_path / "baselines.json"
    baselines.write_text(
        json.dumps([{"model": "Some LVLM", "judge": "a judge", "config": "en", "scores": {"L1": 40.0}}])
    )
    with ScriptedJudgeServer(faults=["garbage", "garbage"]) as server:
        status = cli.main(
            [
                "evaluate",
                "--predictions",
                str(path),
                "--dataset",
                str(mini_prepared),
                "--config",
                "en",
                "--split",
                "test",
                "--out",
                str(out),
                "--judge-backend",
                "openai",
                "--judge-url",
                server.url,
                "--judge-model",
                "scripted",
                "--release",
                str(sample_release),
                "--baselines",
                str(baselines),
            ]
        )
        asked = len(server.requests)
    assert status == 0
    results = json.loads((out / "results.json").read_text())
    scores = results["scores"]
    assert results["num_samples"] == len(clips) and results["complete"] is True
    assert {"BLEU-4", "METEOR", "ROUGE-L", "CIDEr", "RoleF1", "L1-Env", "L1-Char", "L1", "L2"} <= set(scores)
    assert scores["L1"] == 70.0 and scores["L2"] == 60.0 and scores["L1-invalid"] == 0  # garbage was re-asked
    assert results["judge"]["official_prompts"] is True and results["judge"]["judge_model"] == "scripted"
    assert asked == 2 * len(clips) + 2
    lines = [json.loads(line) for line in (out / "per_sample.jsonl").read_text().splitlines()]
    assert [line["clip_id"] for line in lines] == clips["clip_id"] and lines[0]["L1"] == {"env": 3, "char": 4}
    page = (out / "report.html").read_text()
    assert "Some LVLM (judge: a judge" in page and "scores.png" in page and "official" in page
    assert (out / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "L1-Env" in capsys.readouterr().out
    # the re-run is served from the judgment cache in OUT
    with ScriptedJudgeServer() as server:
        cli.main(
            [
                "evaluate",
                "--predictions",
                str(path),
                "--dataset",
                str(mini_prepared),
                "--out",
                str(out),
                "--judge-backend",
                "openai",
                "--judge-url",
                server.url,
                "--judge-model",
                "scripted",
                "--release",
                str(sample_release),
                "--metrics",
                "l1",
                "l2",
            ]
        )
        assert server.requests == []


def test_predictions_errors(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"clip_id": "a", "narration": "x"}\n{"clip_id": "b"}\n')
    with pytest.raises(ValueError, match=r"p.jsonl:2: expected a JSON object"):
        load_predictions(path)
    path.write_text('{"clip_id": "a", "narration": "x"}\n{"clip_id": "a", "narration": "y"}\n')
    with pytest.raises(ValueError, match="1 duplicate clip id"):
        load_predictions(path)
    with pytest.raises(ValueError, match=r"2 clip\(s\) of the split have no prediction, e.g. b, c; 1 prediction"):
        match_predictions({"a": "x", "z": "y"}, ["a", "b", "c"], source="p.jsonl")


def test_evaluate_command_reports_bad_predictions(mini_prepared, predictions_file, tmp_path, capsys):
    path, _ = predictions_file
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[1:]) + "\n")
    status = cli.main(
        [
            "evaluate",
            "--predictions",
            str(path),
            "--dataset",
            str(mini_prepared),
            "--out",
            str(tmp_path / "r"),
            "--metrics",
            "rouge",
        ]
    )
    assert status == 2
    assert "1 clip(s) of the split have no prediction" in capsys.readouterr().err
    assert not (tmp_path / "r" / "results.json").exists()


def _evaluate(path, dataset, out, url, *extra):
    return cli.main(
        [
            "evaluate",
            "--predictions",
            str(path),
            "--dataset",
            str(dataset),
            "--out",
            str(out),
            "--metrics",
            "l1",
            "l2",
            "--judge-backend",
            "openai",
            "--judge-url",
            url,
            "--judge-model",
            "scripted",
            *extra,
        ]
    )


def test_invalid_judgments_over_the_limit_make_the_run_incomplete(mini_prepared, predictions_file, tmp_path, capsys):
    path, clips = predictions_file
    bad = set(clips["clip_id"][:2])  # two of the clips: over 5% of this small split
    narrations = {row["clip_id"]: row["prev_narration"] or row["narration"] for row in clips}
    bad_texts = {narrations[c] for c in bad}

    def answer(prompt):
        if any(text in prompt for text in bad_texts):
            return "It is hard to say."
        return "3,4" if "Environment" in prompt else "3"

    with ScriptedJudgeServer(answer=answer) as server:
        status = _evaluate(path, mini_prepared, tmp_path / "r", server.url)
    err = capsys.readouterr().err
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    invalid = results["scores"]["L2-invalid"]
    assert status == 1 and results["complete"] is False and invalid >= 2
    share = invalid / len(clips)
    assert f"L2: {invalid} of {len(clips)} judgments invalid ({share:.1%}, over --max-invalid 5.0%)" in err
    assert results["problems"] == [
        f"L1: {invalid} of {len(clips)} judgments invalid ({share:.1%}, over --max-invalid 5.0%)",
        f"L2: {invalid} of {len(clips)} judgments invalid ({share:.1%}, over --max-invalid 5.0%)",
    ]
    assert "Incomplete" in (tmp_path / "r" / "report.html").read_text()
    # a looser limit, and the invalid answers asked again (the judge still cannot say): complete
    with ScriptedJudgeServer(answer=answer) as server:
        assert _evaluate(path, mini_prepared, tmp_path / "r2", server.url, "--max-invalid", "0.9") == 0
        assert len(server.requests) == 2 * 2 * invalid  # only the invalid pairs, each asked twice, per metric


def test_no_valid_judgment_is_no_score(mini_prepared, predictions_file, tmp_path, capsys):
    path, _ = predictions_file
    with ScriptedJudgeServer(answer=lambda prompt: "no idea") as server:
        status = _evaluate(path, mini_prepared, tmp_path / "r", server.url, "--max-invalid", "1")
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    assert status == 1 and results["complete"] is False
    assert results["scores"]["L2"] is None and results["scores"]["L1"] is None
    assert any(p.startswith("L2: no valid judgment among") for p in results["problems"])
    assert "n/a" in capsys.readouterr().out


def test_one_judgment_cache_for_every_output_folder(mini_prepared, predictions_file, tmp_path):
    path, clips = predictions_file
    with ScriptedJudgeServer() as server:
        assert _evaluate(path, mini_prepared, tmp_path / "first", server.url) == 0
        asked = len(server.requests)
        assert _evaluate(path, mini_prepared, tmp_path / "second", server.url) == 0  # a new folder: no call
        assert len(server.requests) == asked == 2 * len(clips)
    assert not (tmp_path / "first" / "responses.sqlite").exists()
    from movie101v2_hf.llm import default_cache_path

    assert default_cache_path().is_file()


def test_an_unreachable_judge_stops_evaluate_with_its_url(mini_prepared, predictions_file, tmp_path, capsys):
    import socket
    import time

    path, _ = predictions_file
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    begin = time.monotonic()
    status = _evaluate(
        path,
        mini_prepared,
        tmp_path / "r",
        url,
        "--judge-retries",
        "1",
        "--judge-timeout",
        "1",
        "--judge-concurrency",
        "2",
    )
    assert status == 2 and time.monotonic() - begin < 15
    assert f"the judge at {url} failed" in capsys.readouterr().err
    assert not (tmp_path / "r" / "results.json").exists()
