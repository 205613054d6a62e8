"""The metric registry (`evaluation/suite/`): what is registered, and that a new metric reaches every consumer
(score_clips, results.json, the bootstrap, the report's chart, the model card, compare) from its one class."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest

from movie101v2_hf.evaluation import evaluate_predictions
from movie101v2_hf.evaluation.evaluate import score_clips
from movie101v2_hf.evaluation.suite import (
    METRICS,
    Metric,
    MetricInputs,
    MetricOutput,
    default_metrics,
    judged_scores,
    metric_names,
    score_names,
)


def test_the_registered_suite():
    assert metric_names() == ("bleu", "meteor", "rouge", "cider", "bertscore", "rolef1", "l1", "l2", "l3", "l3_tts")
    assert default_metrics(judge=False) == ["bleu", "meteor", "rouge", "cider", "rolef1", "l3"]
    assert default_metrics(judge=True)[-3:] == ["l1", "l2", "l3"] and "bertscore" not in default_metrics(judge=True)
    assert judged_scores() == ("L1-Env", "L1-Char", "L1", "L2")
    assert score_names(where="card")[:4] == ("L1", "L1-Env", "L1-Char", "L2")  # judged first on a card
    assert "BERTScore-F1" in score_names(where="card") and "BERTScore-P" not in score_names(where="card")
    with pytest.raises(ValueError, match=r"Unknown metric\(s\) \['bleurt'\]; choose from \['bleu'"):
        score_clips(["a"], ["a"], metrics=["bleurt"])


def test_needs_are_checked_before_any_metric_runs():
    with pytest.raises(ValueError, match="RoleF1 needs reference_characters and casts"):
        score_clips(["a"], ["a"], metrics=["rouge", "rolef1"])
    with pytest.raises(ValueError, match="L2 needs a judge"):
        score_clips(["a"], ["a"], metrics=["l2"])


@pytest.fixture
def length_ratio():
    """A toy metric, registered as a contributor would in `suite/length_ratio.py` (removed after the test)."""

    @METRICS.register("length_ratio")
    class LengthRatio(Metric):
        scores: ClassVar[tuple[str, ...]] = ("LenRatio",)
        card = chart = scores
        default: ClassVar[bool] = False
        order: ClassVar[int] = 25

        @classmethod
        def compute(cls, inputs: MetricInputs) -> MetricOutput:
            ratios = [
                100 * len(p.split()) / max(1, len(r.split())) for p, r in zip(inputs.predictions, inputs.references)
            ]
            return MetricOutput({"LenRatio": round(sum(ratios) / len(ratios), 4)}, {"LenRatio": ratios})

    yield LengthRatio
    METRICS._classes.pop("length_ratio")


def test_a_new_metric_reaches_every_consumer(length_ratio, mini_prepared, tmp_path):
    from movie101v2_hf import cli
    from movie101v2_hf.hub import eval_results_from_file

    assert metric_names().index("length_ratio") == metric_names().index("rolef1") + 1  # order 25: after RoleF1 (20)
    preds = tmp_path / "preds.jsonl"
    assert cli.main(["narrate", "--dataset", str(mini_prepared), "--backend", "retrieval", "--out", str(preds)]) == 0
    results = evaluate_predictions(preds, str(mini_prepared), out=tmp_path / "r", metrics=["rouge", "length_ratio"])
    assert set(results["scores"]) == {"ROUGE-L", "LenRatio"} and "LenRatio" in results["ci95"]
    lines = [json.loads(x) for x in (tmp_path / "r" / "per_sample.jsonl").read_text().splitlines()]
    assert all("LenRatio" in line["clip_scores"] for line in lines)
    assert sum(line["clip_scores"]["LenRatio"] for line in lines) / len(lines) == pytest.approx(
        results["scores"]["LenRatio"], abs=1e-3
    )
    assert "LenRatio" in score_names(where="chart") and "LenRatio" in (tmp_path / "r" / "report.html").read_text()
    assert [r.metric_name for r in eval_results_from_file(tmp_path / "r" / "results.json")] == ["ROUGE-L", "LenRatio"]
    assert cli.main(["compare", str(tmp_path / "r"), str(tmp_path / "r"), "--out", str(tmp_path / "c")]) == 0
    assert "LenRatio" in json.loads((tmp_path / "c" / "comparison.json").read_text())["scores"]
