"""The metrics, registered by name (as the backends are): each is one module of this folder, found at import.

A metric declares the scores it writes, what it needs (`java`, `judge`, `bertscore_model`, `casts`, `timing`,
`speech`) and where its
scores go (model card, report chart); `score_clips`, the bootstrap, the report, the model card, `compare`, the demo
and the evaluate modules all read this registry. Adding a metric is one file here plus its test (CONTRIBUTING.md).

Example:
    >>> metric_names()[:4], METRICS.get("l2").scores
    (('bleu', 'meteor', 'rouge', 'cider'), ('L2',))
    >>> default_metrics(judge=True)
    ['bleu', 'meteor', 'rouge', 'cider', 'rolef1', 'l1', 'l2', 'l3']
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence

from .base import METRICS, Metric, MetricInputs, MetricOutput

for _module in pkgutil.iter_modules(__path__):  # every module of this folder registers its metrics
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")


def metric_names() -> tuple[str, ...]:
    """Every registered metric, in results-file order (`Metric.order`, then registration).

    Example:
        >>> metric_names()
        ('bleu', 'meteor', 'rouge', 'cider', 'bertscore', 'rolef1', 'l1', 'l2', 'l3', 'l3_tts')
    """
    return tuple(sorted(METRICS.names(), key=lambda name: METRICS.get(name).order))


def specs(names: Sequence[str] | None = None) -> list[type[Metric]]:
    """The metrics named (all by default), in results-file order; an unknown name is refused with the choices."""
    unknown = [name for name in names or () if name not in METRICS]
    if unknown:
        raise ValueError(f"Unknown metric(s) {unknown}; choose from {list(metric_names())}.")
    return [METRICS.get(name) for name in metric_names() if names is None or name in names]


def default_metrics(*, judge: bool) -> list[str]:
    """The suite `evaluate` computes when none is named: every default metric, the judged ones with a judge."""
    return [spec.name for spec in specs() if spec.default and (judge or not spec.judged)]


def score_names(*, where: str) -> tuple[str, ...]:
    """The scores shown `where`: "card" (a model card's model-index, judged first) or "chart" (the report's)."""
    if where == "card":
        return tuple(score for spec in sorted(specs(), key=lambda spec: not spec.judged) for score in spec.card)
    return tuple(score for spec in specs() for score in spec.chart)


def judged_scores() -> tuple[str, ...]:
    """The scores an LLM judge gives (compared on the clips valid in both runs)."""
    return tuple(score for spec in specs() if spec.judged for score in spec.scores)


__all__ = [
    "METRICS",
    "Metric",
    "MetricInputs",
    "MetricOutput",
    "default_metrics",
    "judged_scores",
    "metric_names",
    "score_names",
    "specs",
]
