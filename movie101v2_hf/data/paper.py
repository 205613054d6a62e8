"""Published figures of the Movie101v2 paper (arXiv 2404.13370), shipped with the package to put beside a run.

- Table 4: L1-Env, L1-Char, L1 and L2 of ten models in English and Chinese, with and without character input
  (cast portraits and names), judged by GPT-3.5-turbo (`gpt-3.5-turbo-1106`) with the official prompts.
  Scores from another judge do not compare with these: the report says so when a run's judge differs.
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


def paper_table2() -> list[dict[str, Any]]:
    """Rows of Table 2 (`model`, `ground_truth`, `predicted`, `correct`, `precision`, `source`).

    Example:
        >>> [(row["model"], row["precision"]) for row in paper_table2()]
        [('GPT-4V', 43.6), ('ArcFace', 47.8)]
    """
    return [dict(row) for row in _load("paper_table2.json")]
