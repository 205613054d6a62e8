"""The `movie101v2` command line: help texts, prepare, push-dataset (Hub mocked), errors, the demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import load_dataset

from movie101v2_hf import cli
from movie101v2_hf.commands import COMMANDS
from movie101v2_hf.constants import CLIP_CONFIGS, CONFIG_LAYOUT, CONFIG_NAMES


@pytest.mark.parametrize("command", [None, *COMMANDS], ids=lambda c: c.name if c else "top")
def test_help(command):
    args = [command.name] if command else []
    result = subprocess.run(
        [sys.executable, "-m", "movie101v2_hf.cli", *args, "--help"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("usage: movie101v2")
    if command:
        assert command.help.split(" (")[0][:40] in " ".join(result.stdout.split())


def test_backend_choices_come_from_the_registry():
    from movie101v2_hf.backends import BACKENDS
    from movie101v2_hf.llm import LLM_BACKENDS as JUDGE_BACKENDS

    _, parsers = cli.make_parser()
    choices = {a.dest: a.choices for a in parsers["narrate"]._actions if a.dest in ("backend",)}
    assert tuple(choices["backend"]) == BACKENDS.names() and set(BACKENDS.names()) >= {
        "transformers",
        "vllm",
        "openai",
        "retrieval",
    }
    judge = [a.choices for a in parsers["evaluate"]._actions if a.dest == "judge_backend"][0]
    assert tuple(judge) == JUDGE_BACKENDS.names() == ("openai", "transformers", "vllm")


def test_flags_come_from_the_options_dataclasses():
    from movie101v2_hf.narrate import NarrateOptions

    _, parsers = cli.make_parser()
    args = parsers["narrate"].parse_args(
        [
            "--dataset",
            "d",
            "--out",
            "p.jsonl",
            "--backend",
            "retrieval",
            "--max-samples",
            "3",
            "--video_num_frames",
            "8",
            "--movie-ids",
            "a",
            "b",
        ]
    )
    assert (args.max_samples, args.video_num_frames, args.movie_ids, args.batch_size) == (3, 8, ["a", "b"], 4)
    assert args.batch_size == NarrateOptions.__dataclass_fields__["batch_size"].default  # one declaration


def test_a_yaml_config_sets_options_and_the_command_line_wins(mini_prepared, tmp_path):
    config = tmp_path / "narrate.yaml"
    out = tmp_path / "preds.jsonl"
    config.write_text(
        f"dataset: {mini_prepared}\nbackend: retrieval\nsplit: validation\nmax-samples: 2\n"
        f"out: {tmp_path / 'ignored.jsonl'}\nshow_progress: false\n"
    )
    assert cli.main(["narrate", "--config", str(config), "--out", str(out), "--config", "zh"]) == 0
    lines = out.read_text("utf-8").splitlines()
    assert len(lines) == 2 and not (tmp_path / "ignored.jsonl").exists()
    record = json.loads((tmp_path / "preds.run.json").read_text())
    assert record["settings"]["config"] == "zh" and record["settings"]["split"] == "validation"


def test_a_yaml_config_with_an_unknown_option(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("dataset: d\nbatchsize: 4\n")
    with pytest.raises(SystemExit):
        cli.main(["narrate", "--config", str(config)])
    assert "unknown option(s) for `movie101v2 narrate`: batchsize" in capsys.readouterr().err


def test_config_names_match_builder():
    assert CONFIG_NAMES == tuple(CONFIG_LAYOUT) and CLIP_CONFIGS == tuple(c for c in CONFIG_LAYOUT if c != "movies")


def test_prepare_command(sample_release, tmp_path, capsys):
    out = tmp_path / "prepared"
    assert cli.main(["prepare", "--release", str(sample_release), "--out", str(out), "--configs", "en", "movies"]) == 0
    printed = capsys.readouterr().out
    assert "en         train=400  validation=142  test=150" in printed
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "en", "movie101v2_prepare.json", "movies"]
    assert load_dataset(str(out), "en", split="validation").num_rows == 142


def test_prepare_errors_exit_2(sample_release, tmp_path, capsys):
    (tmp_path / "not-a-release").mkdir()
    assert cli.main(["prepare", "--release", str(tmp_path / "not-a-release"), "--out", str(tmp_path / "o")]) == 2
    assert "is not a Movie101v2 release" in capsys.readouterr().err
    assert cli.main(["prepare", "--release", str(sample_release), "--out", str(sample_release / "o")]) == 2
    assert "lies inside the release" in capsys.readouterr().err and not (sample_release / "o").exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert cli.main(["prepare", "--release", str(sample_release), "--out", str(tmp_path / "full")]) == 2
    assert "a non-empty folder that `movie101v2 prepare` did not write" in capsys.readouterr().err


class FakeHubApi:
    """The Hub is the one thing that cannot run here: records calls, copies uploads, knows which repos are public."""

    calls: dict = {}
    public_repos: set = set()
    store = None

    def __init__(self, token=None):
        self.calls["token"] = token

    def create_repo(self, repo_id, **kwargs):
        self.calls["create_repo"] = (repo_id, kwargs)
        if not kwargs["private"]:
            self.public_repos.add(repo_id)

    def repo_info(self, repo_id, repo_type):
        self.calls["repo_info"] = (repo_id, repo_type)
        return type("Info", (), {"private": repo_id not in self.public_repos})()

    def upload_folder(self, **kwargs):
        import shutil

        self.calls["upload_folder"] = kwargs
        shutil.copytree(kwargs["folder_path"], self.store)  # what the Hub would store
        return type("Info", (), {"commit_url": f"https://huggingface.co/datasets/{kwargs['repo_id']}/commit/abc"})()


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    import huggingface_hub

    hub = type("Hub", (FakeHubApi,), {"calls": {}, "public_repos": set(), "store": tmp_path / "hub-copy"})
    monkeypatch.setattr(huggingface_hub, "HfApi", hub)
    return hub


@pytest.fixture
def prepared_en(sample_release, tmp_path):
    out = tmp_path / "prepared"
    assert cli.main(["prepare", "--release", str(sample_release), "--out", str(out), "--configs", "en"]) == 0
    return out


def test_push_dataset_uploads_the_folder_privately(prepared_en, fake_hub, tmp_path, capsys):
    assert cli.main(["push-dataset", str(prepared_en), "--repo-id", "org/movie101v2"]) == 0
    calls = fake_hub.calls
    assert calls["create_repo"] == ("org/movie101v2", {"repo_type": "dataset", "private": True, "exist_ok": True})
    assert calls["repo_info"] == ("org/movie101v2", "dataset")  # an existing public repo would be refused
    assert calls["upload_folder"]["repo_type"] == "dataset" and calls["upload_folder"]["folder_path"] == str(
        prepared_en
    )
    assert calls["token"] is None  # the logged-in token, resolved by huggingface_hub, never by us
    assert "commit/abc" in capsys.readouterr().out
    assert load_dataset(str(tmp_path / "hub-copy"), "en", split="test").num_rows == 150
    card = (tmp_path / "hub-copy" / "README.md").read_text()
    assert "license: other" in card and "license_name: movie101-dataset-license-agreement" in card
    assert "Movie101 Dataset License Agreement v1.0" in card and "CC BY" not in card


def test_push_dataset_refuses_to_publish_without_the_licensors_permission(prepared_en, fake_hub, capsys):
    assert cli.main(["push-dataset", str(prepared_en), "--repo-id", "org/movie101v2", "--public"]) == 2
    err = capsys.readouterr().err
    assert "refusing to create 'org/movie101v2' as a public dataset" in err
    assert "forbid public distribution" in err and "--i-have-the-licensors-permission" in err
    assert fake_hub.calls == {}  # nothing was sent
    # an existing public repo is refused too: pushing into it would publish the data
    fake_hub.public_repos.add("org/open")
    assert cli.main(["push-dataset", str(prepared_en), "--repo-id", "org/open"]) == 2
    assert "'org/open' exists and is public" in capsys.readouterr().err
    assert "upload_folder" not in fake_hub.calls
    # with the licensor's permission
    status = cli.main(
        [
            "push-dataset",
            str(prepared_en),
            "--repo-id",
            "org/movie101v2",
            "--public",
            "--i-have-the-licensors-permission",
        ]
    )
    assert status == 0 and fake_hub.calls["create_repo"][1]["private"] is False


def test_push_dataset_explains_a_hub_error(prepared_en, monkeypatch, capsys):
    # a local server answers as the Hub does to a token without write access to the namespace
    import http.server
    import threading

    from huggingface_hub import constants

    class Hub(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _deny(self):
            body = json.dumps({"error": 'You don\'t have the rights to create a dataset under the namespace "org"'})
            self.send_response(403)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        do_GET = do_POST = _deny

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", "hf_testtokenthatisnotreal")
    try:
        assert cli.main(["push-dataset", str(prepared_en), "--repo-id", "org/movie101v2"]) == 2
    finally:
        server.shutdown()
        server.server_close()
    err = capsys.readouterr().err
    assert "the Hub answered HTTP 403 when asked to create the dataset repo 'org/movie101v2'" in err
    assert "You don't have the rights" in err and "needs write access" in err
    assert "Traceback" not in err and "hf_testtoken" not in err


def test_push_dataset_refuses_an_incomplete_folder(tmp_path, capsys):
    assert cli.main(["push-dataset", str(tmp_path), "--repo-id", "org/x"]) == 2
    assert "not a folder written by `movie101v2 prepare`" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_end_to_end(tmp_path, capsys):
    from PIL import Image

    from movie101v2_hf.testing import ScriptedJudgeServer

    with ScriptedJudgeServer() as judge:  # a judge that answers 3,4 (L1) and 3 (L2) to everything
        arguments = [
            "demo",
            "--out",
            str(tmp_path / "demo"),
            "--num-clips",
            "3",
            "--num-frames",
            "5",
            "--judge-backend",
            "openai",
            "--judge-url",
            judge.url,
        ]
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
    assert "L3-Fit" in results["scores"] and (run / "clips.html").is_file()
    # last, the AD of one movie, spoken and mixed, and where its player page is
    ad = Path(tmp_path) / "demo" / "ad"
    assert printed.rstrip().splitlines()[-1] == f"  Player page (open it in a browser): {ad / 'mini-0004.html'}"
    assert {"mini-0004.vtt", "mini-0004.ad.wav", "mini-0004.ad.mkv", "mini-0004.dapt.ttml"} <= {
        p.name for p in ad.iterdir()
    }
