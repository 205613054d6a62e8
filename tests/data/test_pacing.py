"""The describers' pace: measured by `prepare` on the train split, checked against numpy on the rows by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from movie101v2_hf.data.pacing import dataset_pace, measure_pace, release_pace, speech_tokens
from movie101v2_hf.data.prepare import MANIFEST, prepare_dataset


def test_tokens_are_words_in_english_and_characters_in_chinese():
    assert speech_tokens("  Old He  walks in. ", "en") == 4
    assert speech_tokens("老何 走进来。", "zh") == 6
    with pytest.raises(ValueError, match="expected 'en' or 'zh'"):
        speech_tokens("x", "fr")


def test_pace_leaves_out_clips_without_duration_and_uses_numpys_percentile():
    pace = measure_pace(["a b c d", "a b", "a", "a b c"], [2.0, 1.0, 0.0, 0.5], language="en")
    assert pace.clips == 3  # the zero-length clip is left out
    assert pace.p95 == pytest.approx(np.percentile([2.0, 2.0, 6.0], 95), abs=1e-4)
    with pytest.raises(ValueError, match="no pace can be measured"):
        measure_pace(["a"], [0.0], language="en")


def test_prepare_stores_the_train_splits_pace(sample_release, tmp_path):
    from datasets import load_dataset

    out = prepare_dataset(sample_release, tmp_path / "ds", configs=["en", "zh"], show_progress=False).path
    manifest = json.loads((out / MANIFEST).read_text())
    for language in ("en", "zh"):
        train = load_dataset(str(out), language, split="train")
        # by hand: tokens / (end - start) over clips with end > start, numpy's default percentile
        rates = [
            (len(t.split()) if language == "en" else len("".join(t.split()))) / (e - s)
            for t, s, e in zip(train["narration"], train["start"], train["end"])
            if e > s and t.strip()
        ]
        stored = manifest["pace"][language]
        assert stored["clips"] == len(rates)
        assert stored["p95"] == pytest.approx(np.percentile(rates, 95), abs=1e-4)
        assert stored["median"] == pytest.approx(np.median(rates), abs=1e-4)
        assert dataset_pace(out, language).p95 == stored["p95"]
    assert "95th percentile" in (out / "README.md").read_text()


def test_a_folder_without_a_pace_falls_back_on_the_full_release(tmp_path):
    assert dataset_pace(tmp_path, "en") == release_pace()["en"]
    assert (release_pace()["en"].median, release_pace()["zh"].median) == (3.17, 4.71)
