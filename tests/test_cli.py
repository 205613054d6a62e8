"""The `movie101v2` command line: help texts, prepare, push-dataset (Hub mocked), errors, the demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import load_dataset

from movie101v2_hf import cli
from movie101v2_hf.builder import CONFIG_LAYOUT


@pytest.mark.parametrize("command", [[], *[[name] for name in cli.COMMANDS]])
def test_help(command):
    result = subprocess.run(
        [sys.executable, "-m", "movie101v2_hf.cli", *command, "--help"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("usage: movie101v2")
    if command:
        assert cli.COMMANDS[command[0]].help.split(" (")[0][:40] in " ".join(result.stdout.split())


def test_config_names_match_builder():
    assert list(cli.CONFIG_NAMES) == list(CONFIG_LAYOUT)


def test_prepare_command(sample_release, tmp_path, capsys):
    out = tmp_path / "prepared"
    assert cli.main(["prepare", "--release", str(sample_release), "--out", str(out), "--configs", "en", "movies"]) == 0
    printed = capsys.readouterr().out
    assert "en         train=400  validation=142  test=150" in printed
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "en", "movie101v2_prepare.json", "movies"]
    assert load_dataset(str(out), "en", split="validation").num_rows == 142


def test_prepare_errors_exit_2(sample_release, tmp_path, capsys):
    assert cli.main(["prepare", "--release", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "is not a Movie101v2 release" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert cli.main(["prepare", "--release", str(sample_release), "--out", str(tmp_path / "full")]) == 2
    assert "Pass --overwrite" in capsys.readouterr().err


def test_push_dataset_uploads_the_folder(sample_release, tmp_path, monkeypatch, capsys):
    import huggingface_hub

    calls = {}

    class FakeApi:  # the Hub is the one thing that cannot run here
        def __init__(self, token=None):
            calls["token"] = token

        def create_repo(self, repo_id, **kwargs):
            calls["create_repo"] = (repo_id, kwargs)

        def upload_folder(self, **kwargs):
            calls["upload_folder"] = kwargs
            # what the Hub would store: a copy of the folder, minus ignored files
            import shutil

            shutil.copytree(kwargs["folder_path"], tmp_path / "hub-copy")
            return type(
                "Info", (), {"commit_url": f"https://huggingface.co/datasets/{kwargs['repo_id']}/commit/abc"}
            )()

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    out = tmp_path / "prepared"
    cli.main(["prepare", "--release", str(sample_release), "--out", str(out), "--configs", "en"])
    assert cli.main(["push-dataset", str(out), "--repo-id", "org/movie101v2", "--private"]) == 0
    assert calls["create_repo"] == ("org/movie101v2", {"repo_type": "dataset", "private": True, "exist_ok": True})
    assert calls["upload_folder"]["repo_type"] == "dataset" and calls["upload_folder"]["folder_path"] == str(out)
    assert calls["token"] is None  # the logged-in token, resolved by huggingface_hub, never by us
    assert "commit/abc" in capsys.readouterr().out
    assert load_dataset(str(tmp_path / "hub-copy"), "en", split="test").num_rows == 150


def test_push_dataset_refuses_an_incomplete_folder(tmp_path, capsys):
    assert cli.main(["push-dataset", str(tmp_path), "--repo-id", "org/x"]) == 2
    assert "not a folder written by `movie101v2 prepare`" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_end_to_end(tmp_path, capsys):
    from PIL import Image

    from movie101v2_hf.testing import ScriptedJudgeServer

    with ScriptedJudgeServer() as judge:  # a judge that answers 3,4 (L1) and 3 (L2) to everything
        arguments = ["demo", "--out", str(tmp_path / "demo"), "--num-clips", "3", "--num-frames", "5",
                     "--judge-backend", "openai", "--judge-url", judge.url]  # fmt: skip
        assert cli.main(arguments) == 0
    printed = capsys.readouterr().out
    assert "Sampled 5 frames from each of 3 clips" in printed
    sheet = Image.open(tmp_path / "demo" / "contact_sheet.png")
    assert sheet.format == "PNG" and sheet.width > 5 * 160 and sheet.height > 3 * 90
    assert (Path(tmp_path) / "demo" / "dataset" / "README.md").is_file()
    # the benchmark loop: retrieval predictions for every test clip, classic metrics and the judge's L1/L2
    run = Path(tmp_path) / "demo" / "runs" / "retrieval"
    results = json.loads((run / "results.json").read_text())
    assert results["complete"] and results["num_samples"] == len((run / "predictions.jsonl").read_text().splitlines())
    assert results["scores"]["L1-Env"] == 60.0 and results["scores"]["L2"] == 60.0 and "CIDEr" in results["scores"]
    assert "L1-Char" in (run / "report.html").read_text()
