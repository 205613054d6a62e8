"""Scoring narrations: the classic metrics and RoleF1 (`metrics`), the metrics registered by name (`suite`), the
whole suite and `movie101v2 evaluate` (`evaluate`), the HTML report beside the paper's figures (`report`), and `movie101v2 bench` (`bench`)."""

from .bench import run_bench
from .evaluate import (
    ALL_METRICS,
    CLASSIC,
    METRIC_MODULES,
    build_judge,
    evaluate_predictions,
    file_sha256,
    load_predictions,
    match_predictions,
    metric_module_path,
    narration_metrics,
)
from .metrics import bertscore, caption_scores, role_f1, tokenize
from .report import load_baselines, write_report
from .suite import METRICS, default_metrics
from .suite.judged import judge_metric

__all__ = [
    "ALL_METRICS",
    "CLASSIC",
    "METRICS",
    "METRIC_MODULES",
    "bertscore",
    "build_judge",
    "caption_scores",
    "default_metrics",
    "evaluate_predictions",
    "file_sha256",
    "judge_metric",
    "load_baselines",
    "load_predictions",
    "match_predictions",
    "metric_module_path",
    "narration_metrics",
    "role_f1",
    "run_bench",
    "tokenize",
    "write_report",
]
