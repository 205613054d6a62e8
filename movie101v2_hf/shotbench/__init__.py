"""ShotBench (cinematography QA) on the same parts as Movie101v2: the official layout as a `datasets.Dataset`
(`data`), a synthetic mini-ShotBench (`synthetic`), the official rule chain with an LLM matcher and no random
choice (`scoring`), and `movie101v2 shotbench evaluate` (`evaluate`)."""

from .data import CATEGORIES, fetch_shotbench, load_shotbench, read_test_tsv
from .evaluate import evaluate_shotbench, load_shotbench_predictions, published_results
from .scoring import LLMMatcher, rule_choice, score_predictions
from .synthetic import make_mini_shotbench

__all__ = [
    "CATEGORIES",
    "LLMMatcher",
    "evaluate_shotbench",
    "fetch_shotbench",
    "load_shotbench",
    "load_shotbench_predictions",
    "make_mini_shotbench",
    "published_results",
    "read_test_tsv",
    "rule_choice",
    "score_predictions",
]
