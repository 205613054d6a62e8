"""BERTScore precision, recall and F1 (x100) with a local model folder (nothing is downloaded)."""

from __future__ import annotations

from typing import Any, ClassVar

from ..metrics import bertscore
from .base import METRICS, Metric, MetricInputs, MetricOutput


@METRICS.register("bertscore")
class BertScore(Metric):
    scores: ClassVar[tuple[str, ...]] = ("BERTScore-P", "BERTScore-R", "BERTScore-F1")
    needs: ClassVar[tuple[str, ...]] = ("bertscore_model",)
    card: ClassVar[tuple[str, ...]] = ("BERTScore-F1",)
    default: ClassVar[bool] = False  # it needs a model folder the user names
    order: ClassVar[int] = 10

    @classmethod
    def compute(cls, inputs: MetricInputs) -> MetricOutput:
        assert inputs.bertscore_model is not None  # `needs` checked it
        scores: dict[str, Any] = bertscore(inputs.predictions, inputs.references, model_path=inputs.bertscore_model)
        per_clip = scores.pop("per_sample")
        return MetricOutput(scores, per_clip)
