"""L1 (visual facts: Environment and Characters) and L2 (plot): an LLM judge's 0-5 answers, reported on 0-100."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from ...judge import DEFAULT_MAX_INVALID, Judge
from .base import METRICS, Metric, MetricInputs, MetricOutput


def judge_metric(
    metric: str,
    predictions: Sequence[str],
    references: Sequence[str],
    judge: Judge,
    *,
    max_invalid: float = DEFAULT_MAX_INVALID,
) -> dict[str, Any]:
    """L1 or L2 as a flat dict: aggregates (0-100), per-sample scores, invalid and failed counts, provenance, and
    `complete` with the `problems` that make it False (failed requests, invalid judgments over `max_invalid`,
    no valid judgment at all)."""
    result = judge.score(metric, predictions, references)
    problems = result.problems(max_invalid)
    return {
        **result.scores,
        "per_sample": result.per_sample,
        "answers": result.answers,
        "num_invalid": result.num_invalid,
        "num_failed": result.num_failed,
        "complete": not problems,
        "problems": problems,
        **result.provenance(),
    }


class _Judged(Metric):
    needs: ClassVar[tuple[str, ...]] = ("judge",)
    judged: ClassVar[bool] = True
    order: ClassVar[int] = 30

    @classmethod
    def per_clip(cls, sample: dict[str, int]) -> dict[str, float]:
        """A clip's scores on the reported 0-100 scale from the judge's 0-5 answer."""
        raise NotImplementedError

    @classmethod
    def compute(cls, inputs: MetricInputs) -> MetricOutput:
        result = judge_metric(
            cls.name, inputs.predictions, inputs.references, inputs.judge, max_invalid=inputs.max_invalid
        )
        per_clip: dict[str, list[float | None]] = {name: [] for name in cls.scores}
        for sample in result["per_sample"]:
            values = None if sample is None else cls.per_clip(sample)
            for name in cls.scores:
                per_clip[name].append(None if values is None else values[name])
        return MetricOutput({cls.name: result}, per_clip)


@METRICS.register("l1")
class L1(_Judged):
    scores: ClassVar[tuple[str, ...]] = ("L1-Env", "L1-Char", "L1")
    card: ClassVar[tuple[str, ...]] = ("L1", "L1-Env", "L1-Char")  # the headline first
    chart = scores

    @classmethod
    def per_clip(cls, sample: dict[str, int]) -> dict[str, float]:
        return {
            "L1-Env": sample["env"] * 20.0,
            "L1-Char": sample["char"] * 20.0,
            "L1": (sample["env"] + sample["char"]) * 10.0,
        }


@METRICS.register("l2")
class L2(_Judged):
    scores: ClassVar[tuple[str, ...]] = ("L2",)
    card = chart = scores

    @classmethod
    def per_clip(cls, sample: dict[str, int]) -> dict[str, float]:
        return {"L2": sample["plot"] * 20.0}
