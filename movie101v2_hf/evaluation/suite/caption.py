"""BLEU-1..4, METEOR, ROUGE-L and CIDEr: pycocoevalcap on the clips tokenized as Movie101 does, one pass for all."""

from __future__ import annotations

from typing import ClassVar

from ..metrics import caption_metrics
from .base import METRICS, Metric, MetricInputs, MetricOutput


class _Caption(Metric):
    order: ClassVar[int] = 0

    @classmethod
    def compute(cls, inputs: MetricInputs) -> MetricOutput:
        if "caption" not in inputs.shared:  # the first of the family computes all of them
            meteor = "meteor" in inputs.metrics
            inputs.shared["caption"] = caption_metrics(
                inputs.predictions, inputs.references, language=inputs.language, meteor=meteor
            )
        caption = inputs.shared["caption"]
        scores = {name: caption.scores[name] for name in cls.scores}
        per_clip = {name: values for name, values in caption.per_clip.items() if name in scores}
        return MetricOutput(scores, per_clip, (caption.candidate_tokens, caption.reference_tokens))


@METRICS.register("bleu")
class Bleu(_Caption):
    scores: ClassVar[tuple[str, ...]] = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4")
    needs: ClassVar[tuple[str, ...]] = ("java",)  # English tokenization
    card: ClassVar[tuple[str, ...]] = ("BLEU-1", "BLEU-4")
    chart: ClassVar[tuple[str, ...]] = ("BLEU-4",)


@METRICS.register("meteor")
class Meteor(_Caption):
    scores: ClassVar[tuple[str, ...]] = ("METEOR",)
    needs: ClassVar[tuple[str, ...]] = ("java",)
    card = chart = scores


@METRICS.register("rouge")
class Rouge(_Caption):
    scores: ClassVar[tuple[str, ...]] = ("ROUGE-L",)
    needs: ClassVar[tuple[str, ...]] = ("java",)
    card = chart = scores


@METRICS.register("cider")
class Cider(_Caption):
    scores: ClassVar[tuple[str, ...]] = ("CIDEr",)
    needs: ClassVar[tuple[str, ...]] = ("java",)
    card = chart = scores


CLASSIC = tuple(metric.name for metric in (Bleu, Meteor, Rouge, Cider))  # the classic captioning suite
