"""Published figures of the Movie101v2 paper (arXiv 2404.13370), shipped with the package to put beside a run.

- Table 4: L1-Env, L1-Char, L1 and L2 of ten models in English and Chinese, with and without character input
  (cast portraits and names), judged by GPT-3.5-turbo (`gpt-3.5-turbo-1106`) with the official prompts.
  Scores from another judge do not compare with these: the report says so when a run's judge differs.
- Table 1: dataset statistics (movies, clips, mean clip duration, text length, characters per paragraph) of
  Movie101v2 and of the datasets it compares with (`movie101v2 stats` puts a prepared folder beside them).
- Table 2: character face recognition on 500 random test clips at 1 fps (GPT-4V and an ArcFace pipeline),
  ground truth being the characters marked in the reference narration, as `movie101v2 faces --evaluate` does.

The rows are in `movie101v2_hf/data/paper_table{2,4}.json`; the paper does not report GPT-4V without
character input, so those rows are absent.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

TABLE4_JUDGE = "gpt-3.5-turbo-1106"


@cache
def _load(name: str) -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(resources.files("movie101v2_hf.data").joinpath(name).read_text("utf-8")))


def paper_table4(config: str | None = None) -> list[dict[str, Any]]:
    """Rows of Table 4 (`model`, `config`, `character_input`, `judge`, `source`, `scores`), of one config if given.

    Example:
        >>> rows = paper_table4("en")
        >>> len(rows), rows[-1]["model"], rows[-1]["character_input"], rows[-1]["scores"]["L1"]
        (11, 'GPT-4V', True, 31.4)
    """
    return [dict(row) for row in _load("paper_table4.json") if config is None or row["config"] == config]


def paper_table1() -> list[dict[str, Any]]:
    """Rows of Table 1, the dataset statistics (`dataset`, `movies`, `clips` as printed, `L_v`, `L_t`, `N_char`;
    None where the paper has "-"), and the config of this package each Movie101v2 row corresponds to.

    Example:
        >>> [(row["dataset"], row["L_t"]) for row in paper_table1() if row["config"]][-2:]
        [('Movie101v2-zh', 60.0), ('Movie101v2-en', 39.1)]
    """
    return [dict(row) for row in _load("paper_table1.json")]


def paper_fact_recall() -> dict[str, Any]:
    """What the paper prints of its visual-fact recall (Section 4.2.1): GPT-4V, 500 test clips, 2,954 facts, 77.8%
    recalled at 2 fps.

    Example:
        >>> paper_fact_recall()["recall_instance"]
        77.8
    """
    return json.loads(resources.files("movie101v2_hf.data").joinpath("paper_facts.json").read_text("utf-8"))


def paper_table2() -> list[dict[str, Any]]:
    """Rows of Table 2 (`model`, `ground_truth`, `predicted`, `correct`, `precision`, `source`).

    Example:
        >>> [(row["model"], row["precision"]) for row in paper_table2()]
        [('GPT-4V', 43.6), ('ArcFace', 47.8)]
    """
    return [dict(row) for row in _load("paper_table2.json")]
