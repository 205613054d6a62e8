"""Visual-fact recall from the facts and the frame answers of `analyze facts`: per frame rate and per category,
with 95% intervals by bootstrap over movies (a resample draws movies with replacement, each with all its clips).

- Recall (instance): recalled facts / all facts, in %; a fact is recalled when any frame at that rate shows it.
- Recall (clip): the share (%) of clips with every fact recalled.
- A frame whose answer does not fit the schema recalls nothing and is counted (`invalid_frames`).

Example:
    >>> facts = {"c1": [{"fact": "a car", "category": "objects"}, {"fact": "he runs", "category": "actions"}]}
    >>> seen = {"c1": {0: [True, False], 1: [False, True]}}
    >>> recall_at(facts, seen, 2.0)["instance"], recall_at(facts, seen, 1.0)["instance"]
    (100.0, 50.0)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .facts import CATEGORIES, RATES, at_rate, parse_seen


def recalled(facts: list[dict[str, str]], seen: Mapping[int, list[bool] | None], rate: float) -> list[bool]:
    """Per fact of one clip, whether a frame at `rate` shows it."""
    frames = [answer for k, answer in seen.items() if at_rate(k, rate) and answer is not None]
    return [any(answer[j] for answer in frames) for j in range(len(facts))]


def _counts(facts: Mapping[str, list[dict[str, str]]], seen: Mapping[str, Mapping[int, Any]], rate: float) -> dict:
    """Per clip: recalled and total facts, all recalled, and per category recalled and total."""
    per_clip = {}
    for clip_id, clip_facts in facts.items():
        if not clip_facts:
            continue
        hits = recalled(clip_facts, seen.get(clip_id, {}), rate)
        categories = {c: [0, 0] for c in CATEGORIES}
        for fact, hit in zip(clip_facts, hits):
            categories[fact["category"]][0] += hit
            categories[fact["category"]][1] += 1
        per_clip[clip_id] = {"hit": sum(hits), "total": len(hits), "all": all(hits), "categories": categories}
    return per_clip


def _scores(per_clip: Mapping[str, dict], clip_ids: list[str]) -> dict[str, float | None]:
    hit = sum(per_clip[c]["hit"] for c in clip_ids)
    total = sum(per_clip[c]["total"] for c in clip_ids)
    scores: dict[str, float | None] = {
        "instance": 100 * hit / total if total else None,
        "clip": 100 * sum(per_clip[c]["all"] for c in clip_ids) / len(clip_ids) if clip_ids else None,
    }
    for category in CATEGORIES:
        c_hit = sum(per_clip[c]["categories"][category][0] for c in clip_ids)
        c_total = sum(per_clip[c]["categories"][category][1] for c in clip_ids)
        scores[category] = 100 * c_hit / c_total if c_total else None
    return scores


def recall_at(
    facts: Mapping[str, list[dict[str, str]]],
    seen: Mapping[str, Mapping[int, Any]],
    rate: float,
    *,
    movie_of: Mapping[str, str] | None = None,
    resamples: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """Recall (instance, clip, per category) at `rate`, with `ci95` by bootstrap over movies when `resamples`."""
    per_clip = _counts(facts, seen, rate)
    clip_ids = list(per_clip)
    result: dict[str, Any] = {k: None if v is None else round(v, 4) for k, v in _scores(per_clip, clip_ids).items()}
    result["facts"] = sum(p["total"] for p in per_clip.values())
    result["category_facts"] = {c: sum(p["categories"][c][1] for p in per_clip.values()) for c in CATEGORIES}
    result["clips"] = len(clip_ids)
    if resamples and movie_of:
        by_movie: dict[str, list[str]] = {}
        for clip_id in clip_ids:
            by_movie.setdefault(movie_of[clip_id], []).append(clip_id)
        movies = sorted(by_movie)
        rng = np.random.default_rng(seed)
        draws: dict[str, list[float]] = {}
        for _ in range(resamples):
            drawn = [c for m in rng.choice(len(movies), size=len(movies), replace=True) for c in by_movie[movies[m]]]
            for name, value in _scores(per_clip, drawn).items():
                if value is not None:
                    draws.setdefault(name, []).append(value)
        result["ci95"] = {
            name: [round(float(np.percentile(v, 2.5)), 4), round(float(np.percentile(v, 97.5)), 4)]
            for name, v in draws.items()
        }
    return result


def read_answers(lines: list[dict[str, Any]], facts: Mapping[str, list[dict[str, str]]]) -> tuple[dict, int]:
    """clip id -> {frame k: yes/no per fact, or None}, from `frames.jsonl` lines; and how many were invalid."""
    seen: dict[str, dict[int, list[bool] | None]] = {}
    invalid = 0
    for line in lines:
        clip_id, _, k = line["frame_id"].rpartition("@")
        answer = parse_seen(line["answer"], len(facts[clip_id]))
        invalid += answer is None
        seen.setdefault(clip_id, {})[int(k)] = answer
    return seen, invalid


def recall_tables(
    facts: Mapping[str, list[dict[str, str]]],
    seen: Mapping[str, Mapping[int, Any]],
    movie_of: Mapping[str, str],
    *,
    resamples: int,
    seed: int = 0,
) -> dict[str, Any]:
    """Recall at every rate of `RATES`, each with its intervals, and the frames asked and those the lower rates
    would have asked again."""
    by_rate = {
        str(rate): recall_at(facts, seen, rate, movie_of=movie_of, resamples=resamples, seed=seed) for rate in RATES
    }
    asked = sum(len(frames) for frames in seen.values())
    again = sum(1 for frames in seen.values() for k in frames for rate in RATES[1:] if at_rate(k, rate))
    return {"by_rate": by_rate, "frames_asked": asked, "calls_saved": again}
