"""L3, the paper's last level ("appropriately timed and paced"): does a narration fit the clip it describes?

A narration is spoken at the describers' pace (`data.pacing`: the 95th percentile of the release's own tokens per
second, the fastest pace human describers use), or, with `--tts`, takes as long as its synthesized speech.

- **L3-Fit**: the share (%) of clips whose narration, so spoken, ends within the clip: tokens <= pace x (end -
  start).
- **L3-Overrun**: the mean over clips of max(0, spoken seconds - (end - start)): how long, on average, an
  extended-AD player would have to pause the movie.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from ...data.pacing import speech_tokens
from .base import METRICS, Metric, MetricInputs, MetricOutput


def fit_and_overrun(spoken: Sequence[float], durations: Sequence[float]) -> MetricOutput:
    """Per clip: fits (100 or 0) and overrun (seconds), and their means, from spoken and available seconds.

    Example:
        >>> fit_and_overrun([2.0, 5.0], [3.0, 4.0]).scores
        {'fit': 50.0, 'overrun': 0.5}
    """
    if len(spoken) != len(durations):
        raise ValueError(f"{len(spoken)} spoken durations for {len(durations)} clips; give one per clip.")
    # a float tolerance: "tokens <= pace x duration" compared as seconds must not fail on rounding alone
    fits: list[float | None] = [100.0 if s <= d + 1e-9 else 0.0 for s, d in zip(spoken, durations)]
    overruns: list[float | None] = [max(0.0, s - d) for s, d in zip(spoken, durations)]
    count = max(1, len(spoken))
    scores = {"fit": round(sum(fits) / count, 4), "overrun": round(sum(overruns) / count, 4)}  # type: ignore[arg-type]
    return MetricOutput(scores, {"fit": fits, "overrun": overruns})


def _named(output: MetricOutput, fit: str, overrun: str) -> MetricOutput:
    names = {"fit": fit, "overrun": overrun}
    return MetricOutput(
        {names[k]: v for k, v in output.scores.items()}, {names[k]: v for k, v in output.per_clip.items()}
    )


@METRICS.register("l3")
class L3(Metric):
    scores: ClassVar[tuple[str, ...]] = ("L3-Fit", "L3-Overrun")
    needs: ClassVar[tuple[str, ...]] = ("timing",)
    card = chart = scores
    units: ClassVar[dict[str, str]] = {"L3-Overrun": "seconds"}
    order: ClassVar[int] = 40

    @classmethod
    def compute(cls, inputs: MetricInputs) -> MetricOutput:
        assert inputs.durations is not None and inputs.pace is not None  # `needs` checked them
        pace = float(getattr(inputs.pace, "p95", inputs.pace))  # a `data.pacing.Pace`, or tokens per second
        spoken = [speech_tokens(text, inputs.language) / pace for text in inputs.predictions]
        return _named(fit_and_overrun(spoken, inputs.durations), *cls.scores)


@METRICS.register("l3_tts")
class L3TTS(Metric):
    scores: ClassVar[tuple[str, ...]] = ("L3-Fit-TTS", "L3-Overrun-TTS")
    needs: ClassVar[tuple[str, ...]] = ("timing", "speech")
    card = chart = scores
    units: ClassVar[dict[str, str]] = {"L3-Overrun-TTS": "seconds"}
    default: ClassVar[bool] = False  # `evaluate --tts ENGINE` adds it
    order: ClassVar[int] = 41

    @classmethod
    def compute(cls, inputs: MetricInputs) -> MetricOutput:
        assert inputs.durations is not None and inputs.speech_seconds is not None
        return _named(fit_and_overrun(inputs.speech_seconds, inputs.durations), *cls.scores)
