"""What a registered metric is: its declaration (`Metric`) and what it computes from (`MetricInputs`) and gives
(`MetricOutput`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ...utils.registry import Registry


@dataclass
class MetricInputs:
    """The clips a suite scores, and what some metrics need; `shared` lets metrics of one family (BLEU, METEOR,
    ROUGE-L, CIDEr come from one pycocoevalcap pass) compute once per suite."""

    predictions: Sequence[str]
    references: Sequence[str]
    language: str = "en"
    metrics: Sequence[str] = ()  # every metric of the suite, for metrics that share a computation
    reference_characters: Sequence[Sequence[str]] | None = None
    casts: Sequence[Sequence[str]] | None = None
    durations: Sequence[float] | None = None  # each clip's end - start, seconds (L3)
    pace: Any = None  # the describers' pace (L3): a `data.pacing.Pace`, or its tokens per second
    speech_seconds: Sequence[float] | None = None  # each prediction's synthesized speech, seconds (L3 TTS)
    bertscore_model: str | None = None
    judge: Any = None
    max_invalid: float = 0.05
    shared: dict[str, Any] = field(default_factory=dict)


@dataclass
class MetricOutput:
    """Corpus scores (a judged metric's whole result dict under its own name), per-clip values on the scores'
    scale (None where a clip has none), and the tokens BLEU and CIDEr are recomputed from."""

    scores: dict[str, Any]
    per_clip: dict[str, list[float | None]] = field(default_factory=dict)
    tokens: tuple[list[str], list[str]] | None = None


class Metric:
    """A metric of the suite: subclass, declare, implement `compute`, register with `@METRICS.register(name)`.

    Attributes:
        scores: the names of the scores it writes into `results.json`.
        needs: what it cannot run without, checked before anything runs: `java`, `judge`, `bertscore_model`,
            `casts` (the dataset's `characters` and `cast`), `timing` (clip durations and the describers' pace),
            `speech` (the predictions' synthesized durations).
        card: the scores that go into a model card's model-index.
        chart: the scores the report's chart shows.
        judged: its scores are an LLM judge's (0-5 answers; compared on the clips valid in both runs).
        units: the unit of a score when it is not a 0-100 score (the report's chart gives each unit its axis).
        default: computed by `evaluate` when no metric is named (judged ones only with a judge).
        order: where its scores come in a results file (lower first; ties by registration).
    """

    name: ClassVar[str]
    scores: ClassVar[tuple[str, ...]] = ()
    needs: ClassVar[tuple[str, ...]] = ()
    card: ClassVar[tuple[str, ...]] = ()
    chart: ClassVar[tuple[str, ...]] = ()
    judged: ClassVar[bool] = False
    units: ClassVar[dict[str, str]] = {}
    default: ClassVar[bool] = True
    order: ClassVar[int] = 100

    @classmethod
    def check(cls, inputs: MetricInputs) -> None:
        """Refuse, before any metric runs, inputs that lack what this metric needs."""
        if "judge" in cls.needs and inputs.judge is None:
            raise ValueError(f"{cls.name.upper()} needs a judge (build_judge(...)).")
        if "bertscore_model" in cls.needs and not inputs.bertscore_model:
            raise ValueError("BERTScore needs bertscore_model=<local model folder>; nothing is downloaded.")
        if "casts" in cls.needs and (inputs.reference_characters is None or inputs.casts is None):
            raise ValueError("RoleF1 needs reference_characters and casts (the dataset's `characters` and `cast`).")
        if "timing" in cls.needs and (inputs.durations is None or inputs.pace is None):
            raise ValueError(f"{cls.name.upper()} needs durations (each clip's end - start) and the describers' pace.")
        if "speech" in cls.needs and inputs.speech_seconds is None:
            raise ValueError(f"{cls.name.upper()} needs speech_seconds: synthesize the predictions (--tts).")

    @classmethod
    def compute(cls, inputs: MetricInputs) -> MetricOutput:
        raise NotImplementedError


METRICS: Registry[Metric] = Registry("metric")
