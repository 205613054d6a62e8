"""What `evaluate` reads and writes per clip: the split's rows, and the lines of `per_sample.jsonl`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def split_rows(dataset: str, config: str, split: str) -> Any:
    """The split's clips with what scoring and the viewer read (the movie undecoded, when there is one)."""
    from datasets import Video, load_dataset

    rows = load_dataset(dataset, config, split=split)
    columns = ["clip_id", "movie_id", "start", "end", "narration", "characters", "cast"]
    if "video" in rows.column_names:
        columns.append("video")
    rows = rows.select_columns(columns)
    return rows.cast_column("video", Video(decode=False)) if "video" in columns else rows


def per_sample_lines(
    rows: Any, candidates: Sequence[str], scored: Any, judged: dict[str, Any]
) -> list[dict[str, Any]]:
    """`per_sample.jsonl`: per clip its texts, its parts of every score, and the judge's scores and answers."""
    lines = []
    movie_ids, references = list(rows["movie_id"]), list(rows["narration"])  # columns read once, not per clip
    for i, clip_id in enumerate(rows["clip_id"]):
        line: dict[str, Any] = {
            "clip_id": clip_id,
            "movie_id": movie_ids[i],
            "prediction": candidates[i],
            "reference": references[i],
        }
        if scored.tokens is not None:  # what BLEU and CIDEr are recomputed from by `movie101v2 compare`
            line["tokens"] = [scored.tokens[0][i], scored.tokens[1][i]]
        line["clip_scores"] = {name: values[i] for name, values in scored.per_clip.items()}
        for metric, result in judged.items():
            line[metric.upper()] = result["per_sample"][i]
            line[f"{metric.upper()}-answer"] = result["answers"][i]
        lines.append(line)
    return lines
