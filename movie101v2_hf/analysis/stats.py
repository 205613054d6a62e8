"""`movie101v2 stats`: the paper's dataset statistics (Table 1, Figs 2 and 3, the genres) of a prepared folder.

The rules, chosen so that the full release reproduces the paper's Table 1 (measured on all 46,006 paragraphs):

- **L_v**: the mean of end - start over a split's clips, in seconds (12.8).
- **L_t**: Chinese, the character count of the line as released, markers and all (`narration_raw`: 60.0; without
  the markers it would be 56.2); English, the count of `\\w+` tokens (39.1; whitespace words give 38.6).
- **N_char**: the number of marked mentions (`[Name]`) per paragraph (Chinese 1.87; distinct names would give
  1.30). English lines that lost their markers (about 11%) count none, so English N_char is lower.
- **Casts**: the `role` entries of each movie's metadata (the full release averages 6.5 per movie; the paper says
  7.3 characters per movie, by a rule it does not give).

Example:
    >>> text_length("老何走进[程勇]的店。", "zh"), text_length("Old He's shop, [Cheng Yong] waits.", "en")
    (11, 7)
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..constants import SPLITS
from ..utils.outputs import OutputFolder

_WORD = re.compile(r"\w+")
_MENTION = re.compile(r"\[[^\[\]]+\]")
CONFIGS = ("en", "zh")  # the paragraph configs, Table 1's two Movie101v2 rows


def text_length(raw: str, language: str) -> int:
    """L_t of one narration as released (`narration_raw`): English `\\w+` tokens, Chinese characters."""
    return len(_WORD.findall(raw)) if language == "en" else len(raw)


def mentions(raw: str) -> int:
    """The marked character mentions (`[Name]`) of a narration as released."""
    return len(_MENTION.findall(raw))


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def clip_statistics(rows: Any, language: str) -> dict[str, Any]:
    """`movies`, `clips`, `L_v`, `L_t`, `N_char` and their distributions (value -> clips) of a set of clip rows."""
    durations = [float(e) - float(s) for s, e in zip(rows["start"], rows["end"])]
    lengths = [text_length(raw, language) for raw in rows["narration_raw"]]
    marked = [mentions(raw) for raw in rows["narration_raw"]]
    return {
        "movies": len(set(rows["movie_id"])),
        "clips": len(durations),
        "L_v": _mean(durations),
        "L_t": _mean(lengths),
        "N_char": _mean(marked),
        "distributions": {
            "duration_seconds": _histogram([round(d) for d in durations]),
            "text_length": _histogram(lengths),
            "mentions": _histogram(marked),
        },
    }


def _histogram(values: Sequence[int]) -> dict[str, int]:
    """value -> count, in value order (JSON keys are strings)."""
    return {str(value): count for value, count in sorted(Counter(values).items())}


def movie_statistics(movies: Any) -> dict[str, Any]:
    """Per movie its cast size (`role` entries), and the genres over movies."""
    sizes = [len(cast) for cast in movies["cast"]]
    genres = Counter(genre for listed in movies["genre"] for genre in listed)
    return {
        "movies": len(sizes),
        "cast_mean": _mean(sizes),
        "cast_size": _histogram(sizes),
        "genres": dict(genres.most_common()),
    }


@dataclass(kw_only=True)
class StatsOptions:
    """Every option of `movie101v2 stats`."""

    dataset: str = field(metadata={"help": "A prepared folder or Hub id."})
    out: str = field(metadata={"help": "Folder for stats.json, table1.md and the figures."})
    show_progress: bool = field(default=True, metadata={"help": "Show progress."})

    job = "stats"


def dataset_statistics(dataset: str) -> dict[str, Any]:
    """`stats[config][split]` and `stats[config]["all"]` for the paragraph configs the dataset has, and
    `stats["movies"]` (casts and genres).

    Example:
        >>> stats = dataset_statistics(mini_dataset)
        >>> stats["en"]["all"]["clips"], stats["movies"]["all"]["movies"]
        (12, 4)
    """
    from datasets import concatenate_datasets, get_dataset_config_names, load_dataset

    names = get_dataset_config_names(dataset)
    stats: dict[str, Any] = {}
    for config in [c for c in CONFIGS if c in names]:
        columns = ["movie_id", "start", "end", "narration_raw"]
        splits = {s: load_dataset(dataset, config, split=s).select_columns(columns) for s in _splits(dataset, config)}
        stats[config] = {split: clip_statistics(rows, config) for split, rows in splits.items()}
        stats[config]["all"] = clip_statistics(concatenate_datasets(list(splits.values())), config)
    if "movies" in names:
        splits = {
            s: load_dataset(dataset, "movies", split=s).select_columns(["genre", "cast"])
            for s in _splits(dataset, "movies")
        }
        stats["movies"] = {split: movie_statistics(rows) for split, rows in splits.items()}
        stats["movies"]["all"] = movie_statistics(concatenate_datasets(list(splits.values())))
    if not stats:
        raise ValueError(f"{dataset} has neither the `en`/`zh` paragraph configs nor `movies`: prepare it with them.")
    return stats


def _splits(dataset: str, config: str) -> list[str]:
    from datasets import get_dataset_split_names

    return [split for split in SPLITS if split in get_dataset_split_names(dataset, config)]


def table1(stats: dict[str, Any]) -> str:
    """Table 1 as Markdown: the paper's rows, then this dataset's (each split and all)."""
    from ..data.paper import paper_table1

    def cell(value: Any) -> str:
        return "-" if value is None else (f"{value:,}" if isinstance(value, int) else str(value))

    lines = ["| dataset | # movie | # clip | L_v | L_t | N_char |", "|---|---|---|---|---|---|"]
    for row in paper_table1():
        values = [row["movies"], row["clips"], row["L_v"], row["L_t"], row["N_char"]]
        lines.append(f"| {row['dataset']} (paper) | " + " | ".join(cell(v) for v in values) + " |")
    for config in (c for c in CONFIGS if c in stats):
        for split, values in stats[config].items():
            shown = [values["movies"], values["clips"], *(round(values[k], 1) for k in ("L_v", "L_t", "N_char"))]
            lines.append(f"| this dataset, {config} / {split} | " + " | ".join(cell(v) for v in shown) + " |")
    if "movies" in stats:
        movies = stats["movies"]["all"]
        genres = ", ".join(f"{name} {count}" for name, count in list(movies["genres"].items())[:10])
        lines += ["", f"Casts: {movies['cast_mean']} role entries per movie over {movies['movies']} movies (the paper: "
                  f"7.3 characters per movie). Genres (movies): {genres or 'none listed'}."]  # fmt: skip
    return "\n".join(lines) + "\n"


def _bars(axes: Any, histogram: dict[str, int], *, title: str, xlabel: str, limit: int | None = None) -> None:
    values = {int(k): v for k, v in histogram.items()}
    if limit is not None:  # the long tail in one last bar, as the paper's figures do
        tail = sum(v for k, v in values.items() if k >= limit)
        values = {k: v for k, v in values.items() if k < limit} | ({limit: tail} if tail else {})
    axes.bar(list(values), list(values.values()), width=0.9 if limit is None or limit < 40 else 1.0)
    axes.set_title(title, fontsize=9)
    axes.set_xlabel(xlabel + (f" ({limit}+ in the last bar)" if limit is not None else ""), fontsize=8)
    axes.set_ylabel("count", fontsize=8)


def write_figures(stats: dict[str, Any], folder: OutputFolder) -> list[str]:
    """Fig 2 (characters per cast and per paragraph) and Fig 3 (text length and clip duration), as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    config = "zh" if "zh" in stats else next((c for c in CONFIGS if c in stats), None)
    if "movies" in stats or config:
        figure, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        if "movies" in stats:
            _bars(
                axes[0], stats["movies"]["all"]["cast_size"], title="characters per movie cast", xlabel="role entries"
            )
        if config:
            mentions_ = stats[config]["all"]["distributions"]["mentions"]
            _bars(axes[1], mentions_, title=f"characters per paragraph ({config})", xlabel="marked mentions", limit=8)
        figure.tight_layout()
        figure.savefig(folder.path("fig2_characters.png"), dpi=120)
        plt.close(figure)
        written.append("fig2_characters.png")
    if config:
        all_ = stats[config]["all"]["distributions"]
        figure, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        unit = "characters" if config == "zh" else "words"
        _bars(
            axes[0],
            all_["text_length"],
            title=f"narration length ({config})",
            xlabel=unit,
            limit=200 if config == "zh" else 120,
        )
        _bars(axes[1], all_["duration_seconds"], title=f"clip duration ({config})", xlabel="seconds", limit=60)
        figure.tight_layout()
        figure.savefig(folder.path("fig3_lengths.png"), dpi=120)
        plt.close(figure)
        written.append("fig3_lengths.png")
    return written


def run_stats(options: StatsOptions) -> dict[str, Any]:
    """Write `stats.json`, `table1.md` and the figures into `options.out` (a folder this job owns); returns the
    statistics."""
    stats = dataset_statistics(options.dataset)
    with OutputFolder(options.out, job="stats", inputs={"--dataset": options.dataset}) as folder:
        files = write_figures(stats, folder)
        folder.write("table1.md", table1(stats))
        result = {"dataset": options.dataset, "rules": RULES, "stats": stats, "figures": files}
        folder.write("stats.json", json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return result


RULES = {
    "L_v": "mean of end - start over the clips, seconds",
    "L_t": "zh: characters of narration_raw (markers included); en: \\w+ tokens",
    "N_char": "marked mentions [Name] per paragraph (narration_raw)",
    "cast_size": "role entries of the movie's metadata (the paper's 7.3 per movie uses a rule it does not give)",
}
