"""`push-metrics` against a stand-in Hub (a real HTTP server speaking the endpoints `HfApi` and `evaluate` use),
then `evaluate.load("ORG/NAME")` downloading the pushed Space into evaluate's cache and computing the package's
scores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from movie101v2_hf.evaluation import METRIC_MODULES
from movie101v2_hf.metric_spaces import REQUIREMENT, space_files
from movie101v2_hf.testing import LocalHub, ScriptedJudgeServer

TOKEN = "hf_StandInTokenNeverPrinted123"
PREDICTIONS = ["Cheng Yong walks into the shop.", "Ma Yi smiles.", "Two men talk."]
REFERENCES = ["Cheng Yong opens the door of his shop.", "Ma Yi smiles at him.", "Cheng Yong and Ma Yi talk."]


def _environment(hub: LocalHub, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "OFFLINE" not in k}  # the stand-in Hub is reachable
    return {**env, "HF_ENDPOINT": hub.url, "HF_TOKEN": TOKEN, "HF_HOME": str(home), "HF_HUB_DISABLE_XET": "1"}


def _push(hub: LocalHub, home: Path, *arguments: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "movie101v2_hf.cli", "push-metrics", "--org", "my-org", *arguments]
    result = subprocess.run(command, env=_environment(hub, home), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert TOKEN not in result.stdout + result.stderr  # the token is sent, never printed
    return result


def test_push_writes_what_a_space_needs_and_uploads_nothing_unchanged(tmp_path):
    with LocalHub() as hub:
        first = _push(hub, tmp_path)
        assert sorted(hub.repos) == sorted(f"spaces/my-org/{name}" for name in METRIC_MODULES)
        for name in METRIC_MODULES:
            files = hub.repos[f"spaces/my-org/{name}"]
            assert files == space_files(name, "my-org")  # exactly the four files, byte for byte
            card = files["README.md"].decode()
            assert card.startswith("---\ntitle: ") and "sdk: gradio" in card and "app_file: app.py" in card
            assert f'evaluate.load("my-org/{name}")' in card and "metrics/" not in card.split("## Inputs")[0]
            assert "## Terms of the data" in card and "## Judge contract" in card
            assert files["requirements.txt"].decode() == REQUIREMENT + "\n"
            assert f'evaluate.load("my-org/{name}")' in files["app.py"].decode()
        writes = [auth for (method, _), auth in zip(hub.requests, hub.authorization) if method == "POST"]
        assert writes and all(auth == f"Bearer {TOKEN}" for auth in writes)
        assert first.stdout.count("uploaded") == 4 and len(hub.commits) == 4
        again = _push(hub, tmp_path)
        assert len(hub.commits) == 4 and again.stdout.count("unchanged, nothing uploaded") == 4
        hub.repos["spaces/my-org/l2_score"]["README.md"] = b"edited on the Hub"
        _push(hub, tmp_path, "--names", "l2_score")
        assert hub.commits[-1] == ("spaces/my-org/l2_score", ["README.md"]) and len(hub.commits) == 5


_LOAD = """
import json, sys
import evaluate
module = evaluate.load(sys.argv[1])
kwargs = json.loads(sys.argv[2])
result = module.compute(**kwargs)
print(json.dumps({k: v for k, v in result.items() if isinstance(v, (int, float, str))}))
"""


def _load_and_compute(env: dict[str, str], path: str, **kwargs) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _LOAD, path, json.dumps(kwargs)], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_evaluate_load_from_the_space_scores_as_the_package(tmp_path):
    from movie101v2_hf.evaluation import build_judge, judge_metric, narration_metrics

    with LocalHub() as hub, ScriptedJudgeServer() as judge_server:
        _push(hub, tmp_path)
        env = _environment(hub, tmp_path)
        judged = _load_and_compute(
            env, "my-org/l1_score", predictions=PREDICTIONS, references=REFERENCES, judge_url=judge_server.url
        )
        judge = build_judge(backend="openai", language="en", url=judge_server.url)
        package = judge_metric("l1", PREDICTIONS, REFERENCES, judge)
        assert {k: judged[k] for k in ("L1-Env", "L1-Char", "L1")} == {
            k: package[k] for k in ("L1-Env", "L1-Char", "L1")
        }
        classic = _load_and_compute(
            env,
            "my-org/movie_narration",
            predictions=PREDICTIONS,
            references=REFERENCES,
            metrics=["bleu", "rouge"],
            reference_characters=[["Cheng Yong"]] * 3,
            casts=[["Cheng Yong", "Ma Yi"]] * 3,
        )
    expected = narration_metrics(PREDICTIONS, REFERENCES, metrics=["bleu", "rouge"], language="en")
    assert classic == pytest.approx({k: v for k, v in expected.items() if isinstance(v, float)})
    # the module sits in evaluate's cache as a Hub module does (ORG--NAME/HASH/NAME.py), and loads from there too
    cached = sorted((tmp_path / "modules" / "evaluate_modules" / "metrics" / "my-org--l1_score").rglob("l1_score.py"))
    assert cached and cached[0].read_bytes() == space_files("l1_score", "my-org")["l1_score.py"]
    offline = {**env, "HF_HUB_OFFLINE": "1"}
    with ScriptedJudgeServer() as judge_server:
        again = _load_and_compute(
            offline, str(cached[0]), predictions=PREDICTIONS, references=REFERENCES, judge_url=judge_server.url
        )
    assert again["L1"] == judged["L1"]


def test_without_the_package_evaluate_names_the_extra(tmp_path):
    folder = tmp_path / "l1_score"
    folder.mkdir()
    for path, content in space_files("l1_score", "my-org").items():
        (folder / path).write_bytes(content)
    hide_package = (
        "import importlib.abc, sys\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'movie101v2_hf':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}')\n"
        "sys.meta_path.insert(0, Hide())\n"
        "import evaluate\n"
        f"evaluate.load({str(folder)!r})\n"
    )
    result = subprocess.run([sys.executable, "-c", hide_package], capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "pip install movie101v2-hf[metrics]" in result.stderr, result.stderr[-2000:]


def test_a_hub_that_refuses_is_explained(tmp_path):
    with LocalHub() as hub:
        hub.refuse = (403, "You don't have the rights to create a space under the namespace my-org")
        command = [sys.executable, "-m", "movie101v2_hf.cli", "push-metrics", "--org", "my-org"]
        result = subprocess.run(command, env=_environment(hub, tmp_path), capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "the Hub answered HTTP 403" in result.stderr and "needs write access to 'my-org/l1_score'" in result.stderr
    assert TOKEN not in result.stderr and not hub.repos
