"""What L3 needs from an evaluation's clips: each clip's duration, the describers' pace, and (with `--tts`) how
long each narration takes when spoken; the references' own L3, the ceiling a model is read against.

Example:
    >>> timing = ClipTiming.of([0.0, 10.0], [4.0, 12.0], pace=dataset_pace(mini_dataset, "en"))
    >>> timing.durations
    [4.0, 2.0]
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.pacing import Pace, dataset_pace


def with_spoken_metric(metrics: Sequence[str], *, spoken: bool) -> list[str]:
    """`metrics` with L3's spoken variant (`l3_tts`) added when narrations are spoken (`--tts`), as `evaluate`
    records them in `results.json`.

    Example:
        >>> with_spoken_metric(["rouge", "l3"], spoken=True)
        ['rouge', 'l3', 'l3_tts']
    """
    return list(metrics) + (["l3_tts"] if spoken and "l3_tts" not in metrics else [])


def spoken_seconds(texts: Sequence[str], *, engine: Any, language: str, show_progress: bool = True) -> list[float]:
    """How long each text lasts spoken by the TTS `engine` (`ad.tts`), synthesized into a temporary folder in
    parallel (the engines run as processes)."""
    from tqdm.auto import tqdm

    with tempfile.TemporaryDirectory(prefix="movie101v2-tts-") as folder:

        def one(k: int) -> float:
            return engine.synthesize(texts[k], Path(folder) / f"{k}.wav", language=language)

        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            progress = tqdm(total=len(texts), desc="tts", unit="clip", disable=not show_progress)
            seconds = []
            for value in pool.map(one, range(len(texts))):
                seconds.append(value)
                progress.update()
            progress.close()
    return seconds


@dataclass
class ClipTiming:
    """The clips' durations and pace, and the TTS engine when L3's spoken variant is asked for."""

    durations: list[float]
    pace: Pace
    engine: Any = None

    @classmethod
    def of(cls, starts: Sequence[float], ends: Sequence[float], *, pace: Pace, engine: Any = None) -> ClipTiming:
        return cls([float(e) - float(s) for s, e in zip(starts, ends)], pace, engine)

    @classmethod
    def from_rows(cls, rows: Any, dataset: str, language: str, *, tts: str | None = None) -> ClipTiming:
        """The timing of a split's rows (`start`, `end`), at `dataset`'s pace; `tts` names the engine."""
        from ..ad.tts import build_tts

        engine = build_tts(tts) if tts else None
        return cls.of(rows["start"], rows["end"], pace=dataset_pace(dataset, language), engine=engine)

    def inputs(self, texts: Sequence[str], language: str) -> dict[str, Any]:
        """`score_clips`'s timing arguments for `texts`."""
        speech = spoken_seconds(texts, engine=self.engine, language=language) if self.engine is not None else None
        return {"durations": self.durations, "pace": self.pace, "speech_seconds": speech}

    def metrics(self, metrics: Sequence[str]) -> list[str]:
        """`metrics` with L3's spoken variant added when an engine is set."""
        return with_spoken_metric(metrics, spoken=self.engine is not None)

    def provenance(self) -> dict[str, Any]:
        """What `results.json` says of the timing: the pace and its source, the TTS engine."""
        return {"pace": self.pace.as_dict(), "tts": self.engine.describe() if self.engine is not None else None}
