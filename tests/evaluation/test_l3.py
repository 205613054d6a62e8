"""L3-Fit and L3-Overrun: by hand, inside `evaluate` (beside the references' ceiling), and spoken by espeak-ng."""

from __future__ import annotations

import json
import shutil

import pytest

from movie101v2_hf.data.pacing import Pace, dataset_pace
from movie101v2_hf.evaluation import evaluate_predictions
from movie101v2_hf.evaluation.evaluate import score_clips

PACE = Pace("en", median=2.0, p95=4.0, clips=10, source="test")


def test_fit_and_overrun_by_hand():
    predictions = ["one two three four", "one two three four five six", "", "a b"]
    durations = [1.0, 1.0, 2.0, 0.0]
    scores = score_clips(predictions, predictions, metrics=["l3"], durations=durations, pace=PACE)
    # 4 words at 4 w/s = 1.0 s fits 1.0 s; 6 words = 1.5 s overruns by 0.5; empty fits; 2 words in 0 s: 0.5 over
    assert scores.scores == {"L3-Fit": 50.0, "L3-Overrun": 0.25}
    assert scores.per_clip["L3-Overrun"] == [0.0, 0.5, 0.0, 0.5]


def test_l3_refuses_without_timing():
    with pytest.raises(ValueError, match="needs durations"):
        score_clips(["a"], ["a"], metrics=["l3"])


def _predictions(tmp_path, rows, text):
    path = tmp_path / "preds.jsonl"
    path.write_text("".join(json.dumps({"clip_id": c, "narration": text}) + "\n" for c in rows["clip_id"]))
    return path


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (make test installs it)")
def test_evaluate_reports_l3_the_ceiling_and_the_spoken_variant(mini_prepared, tmp_path):
    from datasets import load_dataset

    from movie101v2_hf.ad.tts import TTS_ENGINES

    test = load_dataset(str(mini_prepared), "en", split="test")
    long_text = " ".join(["word"] * 40)  # 40 words never fit a clip of a few seconds at ~4.5 words/s
    results = evaluate_predictions(
        _predictions(tmp_path, test, long_text), str(mini_prepared), out=tmp_path / "run", bootstrap=50,
        tts="espeak-ng", viewer_frames=0,
    )  # fmt: skip
    pace = dataset_pace(mini_prepared, "en")
    durations = [e - s for s, e in zip(test["start"], test["end"])]
    assert results["pace"]["p95"] == pace.p95 and results["pace"]["source"] == "the train split of this folder"
    assert results["scores"]["L3-Fit"] == 0.0
    expected = sum(max(0.0, 40 / pace.p95 - d) for d in durations) / len(durations)
    assert results["scores"]["L3-Overrun"] == pytest.approx(expected, abs=1e-3)
    assert "L3-Fit" in results["ci95"] and results["tts"]["engine"] == "espeak-ng"
    # the references' own L3, computed the same way on their texts
    by_hand = score_clips(test["narration"], test["narration"], metrics=["l3"], durations=durations, pace=pace)
    assert results["reference_scores"]["L3-Fit"] == by_hand.scores["L3-Fit"]
    # spoken: the WAV espeak-ng writes for that text, against each clip
    seconds = TTS_ENGINES.build("espeak-ng").synthesize(long_text, tmp_path / "one.wav", language="en")
    spoken = sum(max(0.0, seconds - d) for d in durations) / len(durations)
    assert results["scores"]["L3-Overrun-TTS"] == pytest.approx(spoken, abs=1e-3)
    report = (tmp_path / "run" / "report.html").read_text()
    assert "reference narrations" in report and "L3-Fit" in report
