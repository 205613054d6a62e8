"""RoleF1 as in Movie101: the characters a narration names against those the reference marks (x100)."""

from __future__ import annotations

from typing import ClassVar

from ..metrics import role_f1
from .base import METRICS, Metric, MetricInputs, MetricOutput


@METRICS.register("rolef1")
class RoleF1(Metric):
    scores: ClassVar[tuple[str, ...]] = ("RoleP", "RoleR", "RoleF1")
    needs: ClassVar[tuple[str, ...]] = ("casts",)
    card = chart = ("RoleF1",)
    order: ClassVar[int] = 20

    @classmethod
    def compute(cls, inputs: MetricInputs) -> MetricOutput:
        assert inputs.reference_characters is not None and inputs.casts is not None  # `needs` checked them
        roles = role_f1(inputs.predictions, inputs.reference_characters, inputs.casts)
        scores = {k: v for k, v in roles.items() if k != "per_sample"}
        per_clip = {
            name: [sample[key] * 100 for sample in roles["per_sample"]]
            for name, key in (("RoleP", "precision"), ("RoleR", "recall"), ("RoleF1", "f1"))
        }
        return MetricOutput(scores, per_clip)
