"""What every test and every docstring example shares: no network, caches of the run's own (never the user's),
the generated mini-release, and the doctest namespace: names the package's examples use without importing them
(a scripted judge server, the text-LLM layer, the mini-release prepared, a folder to write in), so that each
example is short and still runs. A name is built only for the examples that use it."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# The Spaces' entry points load their module from the Hub when imported: not examples to collect.
collect_ignore_glob = ["metrics/*/app.py"]

# Tests never reach the network: set before `huggingface_hub` reads its constants.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
# Module- and session-scoped fixtures load datasets before the per-test cache below applies: give them a cache
# of this run, never the user's (which can hold an entry for a folder of the same name, see README "Notes").
_RUN_CACHE = tempfile.mkdtemp(prefix="movie101v2-tests-datasets-")
os.environ["HF_DATASETS_CACHE"] = _RUN_CACHE
atexit.register(shutil.rmtree, _RUN_CACHE, ignore_errors=True)


@pytest.fixture(autouse=True)
def _fresh_caches(tmp_path_factory, monkeypatch):
    # Each test gets its own `datasets` cache and package cache (judgments, face embeddings), so that no test
    # reads what another one stored, and none writes to the user's.
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path_factory.mktemp("hf-datasets-cache"))
    monkeypatch.setenv("MOVIE101V2_HF_CACHE", str(tmp_path_factory.mktemp("movie101v2-hf-cache")))


@pytest.fixture(scope="session")
def mini_release(tmp_path_factory) -> Path:
    """A generated mini-release with 30-second movies in `<root>/videos`."""
    from movie101v2_hf.data.synthetic import make_mini_release

    return make_mini_release(tmp_path_factory.mktemp("mini") / "release", duration=30)


@pytest.fixture(scope="session")
def mini_prepared(mini_release, tmp_path_factory) -> Path:
    """The mini-release prepared with `--videos`."""
    from movie101v2_hf.data.prepare import prepare_dataset

    out = tmp_path_factory.mktemp("prepared") / "movie101v2"
    prepare_dataset(mini_release, out, videos=mini_release / "videos", show_progress=False)
    return out


SAMPLE_RELEASE = Path(__file__).resolve().parent / ".." / "shared" / "movie101v2-sample"


@pytest.fixture(scope="session")
def doc_tiny_model(tmp_path_factory) -> Path:
    """A tiny random Qwen2.5-VL with its real processor classes (the examples' model)."""
    from movie101v2_hf.testing import make_tiny_video_llm

    return make_tiny_video_llm(tmp_path_factory.mktemp("tiny-model") / "qwen2.5-vl")


@pytest.fixture(scope="session")
def doc_mini_shotbench(tmp_path_factory) -> Path:
    """A mini-ShotBench in the official layout (test.tsv, image/, video/)."""
    from movie101v2_hf.shotbench import make_mini_shotbench

    return make_mini_shotbench(tmp_path_factory.mktemp("shotbench") / "ShotBench", per_category=1)


@pytest.fixture(scope="session")
def doc_planned_movies(tmp_path_factory) -> Path:
    """A `synth plan` folder of one movie (two scenes), planned by the scripted server."""
    from movie101v2_hf.synth import PlanOptions, plan_movies
    from movie101v2_hf.testing import ScriptedJudgeServer

    root = tmp_path_factory.mktemp("synth")
    (root / "themes.txt").write_text("a lighthouse keeper and a stray dog\n", encoding="utf-8")
    with ScriptedJudgeServer() as server:
        options = PlanOptions(themes=str(root / "themes.txt"), out=str(root / "synth"), model="planner", scenes=2)
        options.base_url, options.cache = server.url, str(root / "cache.sqlite")
        plan_movies(options)
    return root / "synth"


@pytest.fixture(scope="session")
def doc_tiny_pipeline(tmp_path_factory) -> Path:
    """A tiny random text-to-image pipeline (diffusers)."""
    from movie101v2_hf.testing import make_tiny_text_to_image

    return make_tiny_text_to_image(tmp_path_factory.mktemp("tiny-sd") / "pipeline")


@pytest.fixture(scope="session")
def doc_drawn_movies(doc_planned_movies, doc_tiny_pipeline) -> Path:
    """`planned_movies` with its keyframes and portraits drawn by `tiny_pipeline`."""
    from movie101v2_hf.synth import DrawOptions, draw_keyframes

    options = DrawOptions(out=str(doc_planned_movies), pipeline=str(doc_tiny_pipeline), steps=2, height=32, width=32)
    options.show_progress = False
    draw_keyframes(options)
    return doc_planned_movies


def _sample_release(_: pytest.FixtureRequest) -> str:
    if not (SAMPLE_RELEASE / "Movie101v2" / "data").is_dir():
        pytest.skip(f"the real release sample is not at {SAMPLE_RELEASE.resolve()}")
    return str(SAMPLE_RELEASE.resolve())


def _clips(split: str) -> Callable[[pytest.FixtureRequest], Any]:
    def load(request: pytest.FixtureRequest) -> Any:
        from movie101v2_hf.data.loading import load_clips

        return load_clips(str(request.getfixturevalue("mini_prepared")), "en", split)

    return load


def _processor(request: pytest.FixtureRequest) -> Any:
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(request.getfixturevalue("doc_tiny_model"))


def _model(request: pytest.FixtureRequest) -> Any:
    from transformers import AutoModelForImageTextToText

    return AutoModelForImageTextToText.from_pretrained(request.getfixturevalue("doc_tiny_model"))


def _themes(request: pytest.FixtureRequest) -> str:
    path = request.getfixturevalue("tmp_path") / "themes.txt"
    path.write_text("a lighthouse keeper and a stray dog\n", encoding="utf-8")
    return str(path)


def _import(module: str, name: str) -> Callable[[pytest.FixtureRequest], Any]:
    def load(_: pytest.FixtureRequest) -> Any:
        import importlib

        return getattr(importlib.import_module(module), name)

    return load


# name in an example -> how to make it (a fixture, or an import); the examples' own fixtures are `doc_*`, apart
# from the tests' fixtures of the same purpose (which may differ in size)
_NAMESPACE: dict[str, Callable[[pytest.FixtureRequest], Any]] = {
    "tmp": lambda request: request.getfixturevalue("tmp_path"),
    "themes_file": _themes,
    "mini_release": lambda request: request.getfixturevalue("mini_release"),
    "mini_dataset": lambda request: str(request.getfixturevalue("mini_prepared")),
    "mini_shotbench": lambda request: str(request.getfixturevalue("doc_mini_shotbench")),
    "sample_release": _sample_release,
    "train": _clips("train"),
    "test": _clips("test"),
    "tiny_model": lambda request: str(request.getfixturevalue("doc_tiny_model")),
    "tiny_pipeline": lambda request: str(request.getfixturevalue("doc_tiny_pipeline")),
    "drawn_movies": lambda request: str(request.getfixturevalue("doc_drawn_movies")),
    "processor": _processor,
    "model": _model,
    "ScriptedJudgeServer": _import("movie101v2_hf.testing", "ScriptedJudgeServer"),
    "OpenAILLM": _import("movie101v2_hf.llm", "OpenAILLM"),
    "ResponseCache": _import("movie101v2_hf.llm", "ResponseCache"),
    "make_llm": _import("movie101v2_hf.llm", "make_llm"),
    "load_split": _import("movie101v2_hf.data.loading", "load_split"),
    "LocalHub": _import("movie101v2_hf.testing", "LocalHub"),
    "PromptSettings": _import("movie101v2_hf.prompting", "PromptSettings"),
}


def _names_used(sources: Any) -> set[str]:
    """The identifiers an example's code uses (not the words of its strings)."""
    import io
    import tokenize

    names: set[str] = set()
    for source in sources:
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
        except (tokenize.TokenError, SyntaxError):  # a continued statement: its lines come together
            continue
        names.update(token.string for token in tokens if token.type == tokenize.NAME)
    return names


@pytest.fixture(autouse=True)
def _doctest_names(request: pytest.FixtureRequest) -> None:
    from _pytest.doctest import DoctestItem

    if not isinstance(request.node, DoctestItem):
        return
    names = _names_used(example.source for example in request.node.dtest.examples)
    namespace = request.getfixturevalue("doctest_namespace")
    namespace.update({name: make(request) for name, make in _NAMESPACE.items() if name in names})
