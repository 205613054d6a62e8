"""How fast describers speak: the pace L3 measures narrations against.

Each Movie101v2 narration is aligned to the interval [start, end] in which the describer spoke it, so the release
itself says how fast human describers speak. The pace of a language is measured over the `train` split's
paragraph clips with end > start: tokens / (end - start), tokens being English whitespace-separated words or
Chinese non-whitespace characters; its 95th percentile (numpy's default, linear interpolation) is the fastest
pace describers use, the one a narration must fit at (`evaluation/suite/l3.py`).

`movie101v2 prepare` measures it and stores it in the prepared folder's manifest (`pace`) and card; folders
prepared before, and Hub copies, fall back on the values measured on the full release (`pace_release.json`).

Example:
    >>> speech_tokens("He walks in.", "en"), speech_tokens("他 走进来。", "zh")
    (3, 5)
    >>> pace = measure_pace(["one two three", "one two"], [1.0, 2.0], language="en")
    >>> pace.median, pace.clips
    (2.0, 2)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..constants import PREPARED_MANIFEST

PACE_QUANTILE = 95  # the percentile of describers' paces a narration must fit at
UNITS = {"en": "words/s", "zh": "characters/s"}


def speech_tokens(text: str, language: str) -> int:
    """How many units a narration is spoken in: English words (split on whitespace), Chinese characters (all but
    whitespace)."""
    if language == "en":
        return len(text.split())
    if language == "zh":
        return sum(1 for ch in text if not ch.isspace())
    raise ValueError(f"Invalid language {language!r}; expected 'en' or 'zh'.")


@dataclass(frozen=True)
class Pace:
    """The describers' pace of one language: the median and the 95th percentile of tokens per second."""

    language: str
    median: float
    p95: float
    clips: int
    source: str

    @property
    def unit(self) -> str:
        return UNITS[self.language]

    def describe(self) -> str:
        """One line, e.g. `en: 4.67 words/s (95th percentile; median 3.17) over 26,042 clips of ...`."""
        return (
            f"{self.language}: {self.p95:.2f} {self.unit} (95th percentile; median {self.median:.2f}) over "
            f"{self.clips:,} clips of {self.source}"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_pace(
    narrations: Sequence[str], durations: Sequence[float], *, language: str, source: str = "the given clips"
) -> Pace:
    """The pace of `narrations` spoken in `durations` seconds (clips with no duration are left out).

    Raises:
        ValueError: no clip has a duration and a narration to measure.
    """
    import numpy as np

    paces = [speech_tokens(t, language) / d for t, d in zip(narrations, durations) if d > 0 and t.strip()]
    if not paces:
        raise ValueError(f"No {language} clip with end > start and a narration: no pace can be measured.")
    median, p95 = np.percentile(np.asarray(paces), [50, PACE_QUANTILE])
    return Pace(language, round(float(median), 4), round(float(p95), 4), len(paces), source)


@cache
def release_pace() -> dict[str, Pace]:
    """The paces measured on the full release (all 46,006 paragraphs with end > start), shipped with the package.

    Example:
        >>> release_pace()["en"].p95, release_pace()["zh"].p95
        (4.67, 6.25)
    """
    data = json.loads(resources.files("movie101v2_hf.data").joinpath("pace_release.json").read_text("utf-8"))
    return {language: Pace(language=language, **values) for language, values in data["pace"].items()}


def dataset_pace(dataset: str | Path, language: str) -> Pace:
    """The pace to measure `dataset`'s narrations against: its own (the manifest `prepare` wrote), else the full
    release's.

    Example:
        >>> dataset_pace(mini_dataset, "en").source
        'the train split of this folder'
    """
    manifest = Path(dataset).expanduser() / PREPARED_MANIFEST
    if manifest.is_file():
        stored = json.loads(manifest.read_text("utf-8")).get("pace", {}).get(language)
        if stored:
            return Pace(**stored)
    return release_pace()[language]
