"""Character identification by face: insightface's real model-zoo code on tiny ONNX models built here.

The "face world" is the mini-release with synthetic faces: each cast member's portrait is a face of coloured
quadrants, and each movie (FFmpeg-encoded) shows, during every clip, the faces of the characters its reference
narration marks. One cast member of each movie has a portrait without a face.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("insightface")
pytest.importorskip("torchcodec")

from datasets import concatenate_datasets, load_dataset  # noqa: E402

from movie101v2_hf.cli import main  # noqa: E402
from movie101v2_hf.faces import (  # noqa: E402
    CastBank,
    FaceAnalyzer,
    FaceSettings,
    MovieCast,
    add_identified_characters,
    match_face,
    score_identification,
)
from movie101v2_hf.testing import make_tiny_face_models, synthetic_face, synthetic_portrait  # noqa: E402

FACELESS = 2  # the cast member (billing index) whose portrait has no face, in every movie


@pytest.fixture(scope="module")
def face_models(tmp_path_factory) -> Path:
    return make_tiny_face_models(tmp_path_factory.mktemp("face-models"))


@pytest.fixture(scope="module")
def face_world(mini_release, tmp_path_factory) -> tuple[Path, dict[str, list[str]]]:
    """(prepared dataset, {clip_id: characters on screen}) of the mini-release with synthetic faces."""
    from movie101v2_hf.data.prepare import prepare_dataset
    from movie101v2_hf.data.release import Release
    from movie101v2_hf.data.synthetic import make_face_movie

    root = tmp_path_factory.mktemp("face-world")
    release_dir = root / "release"
    shutil.copytree(mini_release, release_dir, ignore=shutil.ignore_patterns("videos"))
    release = Release(release_dir)
    on_screen: dict[str, list[str]] = {}
    movie_ids = sorted(m for split in ("train", "validation", "test") for m in release.movies_in_split(split))
    for number, movie_id in enumerate(movie_ids):
        movie = release.movie(movie_id)
        faces = {}
        for k, member in enumerate(movie.cast):
            identity = None if k == FACELESS else (number + k) % 6  # distinct within a movie
            synthetic_portrait(identity).save(member.portrait, quality=95)
            faces[member.role_en] = synthetic_face(identity if identity is not None else (number + k) % 6)
        appearances = []
        for clip in release.clips(movie_id):
            names = clip.characters["en"][:3]
            appearances.append((clip.start, clip.end, [faces[name] for name in names]))
            on_screen[clip.clip_id] = names
        make_face_movie(root / "movies" / f"{movie_id}.mp4", appearances, duration=30)
    prepare_dataset(release_dir, root / "prepared", videos=root / "movies", show_progress=False)
    return root / "prepared", on_screen


def _movies(prepared: Path):
    return concatenate_datasets(list(load_dataset(str(prepared), "movies").values()))


def test_tiny_models_load_through_insightface(face_models):
    analyzer = FaceAnalyzer(face_models, det_size=128)
    assert type(analyzer.app.models["detection"]).__name__ == "SCRFD"
    assert type(analyzer.app.models["recognition"]).__name__ == "ArcFaceONNX"
    faces = analyzer.faces(synthetic_portrait(3))
    assert len(faces) == 1 and faces[0].box == [32.0, 48.0, 64.0, 80.0] and faces[0].det_score > 0.9
    assert analyzer.faces(synthetic_portrait(None)) == []
    assert analyzer.providers == ["CPUExecutionProvider"]  # no onnxruntime-gpu here


def test_a_missing_model_dir_says_what_to_do(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="--model-dir.*non-commercial"):
        FaceAnalyzer(tmp_path / "buffalo_l")
    arguments = ["faces", "--dataset", str(tmp_path), "--model-dir", str(tmp_path / "nope"), "--out", "f.jsonl"]
    assert main(arguments) == 2
    assert "No insightface model pack" in capsys.readouterr().err


def test_a_pack_without_a_detector_is_named_not_asserted(face_models, tmp_path):
    # insightface 2.1's FaceAnalysis asserts that a detector exists; the user gets our message instead
    pack = tmp_path / "recognizer-only"
    pack.mkdir()
    shutil.copy(face_models / "rec_tiny.onnx", pack)
    with pytest.raises(ValueError, match=r"recognizer-only has no detection model.*unzipped model pack"):
        FaceAnalyzer(pack, det_size=128)


def test_the_cast_bank_is_cached_and_reused(face_models, face_world, tmp_path, caplog):
    prepared, _ = face_world
    analyzer = FaceAnalyzer(face_models, det_size=128)
    movies = _movies(prepared)
    portraits = sum(len(cast) for cast in movies["cast"])
    with caplog.at_level(logging.WARNING, logger="movie101v2_hf.faces"):
        first = CastBank.build(analyzer, movies, cache_dir=tmp_path, show_progress=False)
    distinct = len({member["portrait"].tobytes() for cast in movies["cast"] for member in cast})
    assert (first.computed, first.cached) == (distinct, portraits - distinct)  # same picture, same entry
    second = CastBank.build(analyzer, movies, cache_dir=tmp_path, show_progress=False)
    assert (second.computed, second.cached) == (0, portraits)
    for movie_id, cast in first.casts.items():
        assert cast.names == second.casts[movie_id].names and np.allclose(
            cast.embeddings, second.casts[movie_id].embeddings
        )
        # the faceless portrait is left out, with a warning naming the movie, the character and the actor id
        row = movies[movies["movie_id"].index(movie_id)]
        member = row["cast"][FACELESS]
        assert cast.missing == [member["role_en"]] and member["role_en"] not in cast.names
        assert any(
            movie_id in r.message and member["role_en"] in r.message and member["actor_id"] in r.message
            for r in caplog.records
        )
    # another model is another cache entry
    other = make_tiny_face_models(tmp_path / "other-model")
    assert (
        CastBank.build(
            FaceAnalyzer(other, det_size=128, det_thresh=0.6), movies, cache_dir=tmp_path, show_progress=False
        ).computed
        == distinct
    )


def test_the_matcher_picks_the_closest_portrait_within_threshold_and_cast_limit():
    cast = MovieCast(["Lead", "Second", "Third"], np.eye(3, dtype="float32"))
    face = np.array([0.2, 0.3, 0.93], dtype="float32")
    assert match_face(face, cast, FaceSettings(threshold=0.3)) == ("Third", 0.93)
    assert match_face(face, cast, FaceSettings(threshold=0.95)) is None
    assert match_face(face, cast, FaceSettings(threshold=0.25, max_cast=2)) == ("Second", 0.3)
    assert match_face(face, cast, FaceSettings(threshold=0.35, max_cast=2)) is None
    with pytest.raises(ValueError, match="cosine"):
        FaceSettings(threshold=1.5)


def test_identification_counts_exactly():
    scores = score_identification(
        {"c1": ["A", "B"], "c2": [], "c3": ["C", "C"], "extra": ["Z"]}, {"c1": ["A"], "c2": ["B"], "c3": ["C", "D"]}
    )
    assert (scores.num_clips, scores.ground_truth, scores.predicted, scores.correct) == (3, 4, 3, 2)
    assert scores.precision == pytest.approx(200 / 3) and scores.recall == 50.0
    assert scores.f1 == pytest.approx(2 * (200 / 3) * 50 / (200 / 3 + 50))


def test_faces_command_identifies_resumes_and_evaluates(face_models, face_world, tmp_path, capsys):
    prepared, on_screen = face_world
    out = tmp_path / "faces.jsonl"
    arguments = [
        "faces",
        "--dataset",
        str(prepared),
        "--split",
        "train",
        "--model-dir",
        str(face_models),
        "--out",
        str(out),
        "--det-size",
        "128",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--frame-cache",
        str(tmp_path / "frames"),
        "--evaluate",
    ]
    assert main(arguments) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(list((tmp_path / "frames").glob("*/*.frames.npz"))) == len(lines)  # each clip's frames, once
    train = load_dataset(str(prepared), "en", split="train")
    assert [line["clip_id"] for line in lines] == train["clip_id"]
    faceless = {row["cast"][FACELESS] for row in train}
    for line in lines:
        expected = [name for name in on_screen[line["clip_id"]] if name not in faceless]
        assert sorted(line["characters"]) == sorted(expected), line["clip_id"]
        assert all(score > 0.9 for score in line["scores"].values())
        assert line["frames"] and all(
            d["box"][2] - d["box"][0] == pytest.approx(80, abs=1) for d in line["detections"]
        )
    scores = json.loads((tmp_path / "faces.eval.json").read_text())
    ground_truth = sum(len(set(names)) for names in train["characters"])
    missed = sum(name in faceless for names in train["characters"] for name in set(names))
    assert (scores["ground_truth"], scores["predicted"], scores["correct"]) == (
        ground_truth,
        ground_truth - missed,
        ground_truth - missed,
    )
    assert scores["precision"] == 100.0 and scores["complete"]
    printed = capsys.readouterr().out
    run_line = next(line for line in printed.splitlines() if line.startswith("this run ("))
    assert run_line.split()[-5:] == [
        str(ground_truth),
        *[str(ground_truth - missed)] * 2,
        "100.0",
        f"{scores['recall']:.1f}",
    ]
    assert "paper, Table 2: ArcFace" in printed and "47.8" in printed  # the paper's figures beside the run
    assert [row["model"] for row in scores["paper"]] == ["GPT-4V", "ArcFace"]

    # a rerun resumes: nothing left to do, every portrait from the cache
    truncated = out.read_text().splitlines()[:2]
    out.write_text("\n".join(truncated) + "\n")
    assert main(arguments) == 0
    record = json.loads((tmp_path / "faces.run.json").read_text())
    assert record["complete"] and record["num_written"] == len(train) and record["portraits"]["embedded"] == 0
    assert [json.loads(line)["clip_id"] for line in out.read_text().splitlines()] == train["clip_id"]
    # other settings are refused on resume
    assert main([*arguments, "--threshold", "0.9"]) == 2
    assert "other settings" in capsys.readouterr().err


def test_identified_names_go_into_the_narrator_prompt(face_models, face_world, tmp_path):
    from movie101v2_hf.narrate import NarrateOptions, narrate_split
    from movie101v2_hf.testing import ScriptedJudgeServer

    prepared, _ = face_world
    faces = tmp_path / "faces.jsonl"
    test = load_dataset(str(prepared), "en", split="test")
    faces.write_text(
        "".join(json.dumps({"clip_id": c, "characters": ["Somebody Else"]}) + "\n" for c in test["clip_id"])
    )
    with ScriptedJudgeServer(answer=lambda text: "A narration.") as server:
        options = NarrateOptions(
            dataset=str(prepared),
            out=str(tmp_path / "preds.jsonl"),
            backend="openai",
            model="m",
            base_url=server.url,
            num_examples=0,
            num_workers=0,
            faces=str(faces),
            show_progress=False,
            video_num_frames=2,
            max_portraits=1,
        )
        assert narrate_split(options).complete
    text = " ".join(p["text"] for p in server.requests[0]["messages"][1]["content"] if p["type"] == "text")
    assert "Recognised on screen: Somebody Else" in text


def test_add_identified_characters_warns_about_unseen_clips(face_world, tmp_path, caplog):
    prepared, _ = face_world
    clips = load_dataset(str(prepared), "en", split="validation")
    faces = tmp_path / "faces.jsonl"
    faces.write_text(json.dumps({"clip_id": clips[0]["clip_id"], "characters": ["A"]}) + "\n")
    with caplog.at_level(logging.WARNING, logger="movie101v2_hf.faces"):
        added = add_identified_characters(clips, faces)
    assert added["identified_characters"] == [["A"]] + [[]] * (len(clips) - 1)
    assert f"{len(clips) - 1} of {len(clips)} clips are not in" in caplog.text
    faces.write_text("not json\n")
    with pytest.raises(ValueError, match=r"faces.jsonl:1: not a JSON line"):
        add_identified_characters(clips, faces)


def test_min_frames_asks_for_repeated_sightings(face_models, face_world, tmp_path):
    from movie101v2_hf.data.loading import load_split
    from movie101v2_hf.faces import FaceIdentifier

    prepared, _ = face_world
    analyzer = FaceAnalyzer(face_models, det_size=128)
    bank = CastBank.build(analyzer, _movies(prepared), cache_dir=tmp_path, show_progress=False)
    clip = load_split(str(prepared), "en", "train", needs_video=True, movie_ids=None, max_samples=1)[0]
    once = FaceIdentifier(analyzer, bank, FaceSettings(min_frames=1)).identify(clip)
    frames = len(once["frames"])
    assert once["characters"] and frames >= 2
    assert (
        FaceIdentifier(analyzer, bank, FaceSettings(min_frames=frames)).identify(clip)["characters"]
        == once["characters"]
    )
    never = FaceIdentifier(analyzer, bank, FaceSettings(min_frames=frames + 1)).identify(clip)
    assert never["characters"] == [] and len(never["detections"]) == len(once["detections"])  # seen, not enough
