"""Building the script-free dataset folder (`movie101v2 prepare`).

The folder holds one sub-folder of Parquet shards per config and a README whose YAML `configs:`
block tells `datasets.load_dataset` where each config and split lives::

    out/
      README.md                  dataset card: configs block, statistics, terms of use, citation
      movie101v2_prepare.json    what was built from what (package version, release, videos, counts)
      en/train-00000-of-00001.parquet
      en/validation-00000-of-00001.parquet
      ...
      movies/train-00000-of-00002.parquet

The folder is built next to its destination (`.<name>.partial-*`) and swapped into place at the end, so an
interrupted run never leaves a folder that looks complete, and a kill at any moment leaves the previous
dataset loadable. `--overwrite` replaces only a folder that `prepare` wrote (it holds the manifest), never
the release, a folder holding it, or any other non-empty folder.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from datasets.info import DatasetInfo, DatasetInfosDict
from datasets.splits import SplitDict, SplitInfo

from .. import __version__
from ..constants import CONFIG_LAYOUT, DEFAULT_CONFIG, PREPARED_MANIFEST, SPLITS
from ..utils.outputs import WriterLock
from .builder import CITATION, DATA_TERMS, LICENSE_LINK, LICENSE_NAME, Movie101v2Builder, clip_rows
from .pacing import Pace, measure_pace

logger = logging.getLogger(__name__)

MANIFEST = PREPARED_MANIFEST
# Rows per Parquet shard: text rows are small; `movies` rows carry a few dozen portraits each.
ROWS_PER_SHARD = {"movies": 32}
DEFAULT_ROWS_PER_SHARD = 50_000


@dataclass
class PreparedDataset:
    """What `prepare_dataset` wrote: the folder, and row counts by config and split."""

    path: Path
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    video_source: str | None = None

    def summary(self) -> str:
        """One line per config with its rows per split, as the CLI prints it."""
        return "\n".join(
            f"{name:<10} " + "  ".join(f"{split}={count:,}" for split, count in splits.items())
            for name, splits in self.counts.items()
        )

    def __repr__(self) -> str:
        configs = ", ".join(f"{name}: {sum(splits.values())}" for name, splits in self.counts.items())
        return f"PreparedDataset(path={str(self.path)!r}, rows={{{configs}}}, video_source={self.video_source!r})"


def _one_writer(prepare: Any) -> Any:
    """Run `prepare` under an exclusive lock beside `out` (`.NAME.lock`): a second prepare of the same folder stops
    at once, naming the first (its staging and the swap are not for two)."""

    @functools.wraps(prepare)
    def locked(release: str | Path, out: str | Path, **options: Any) -> Any:
        target = Path(out).expanduser()
        # refused before a lock file is put anywhere near the release or a folder of yours (checked again inside)
        _check_out(target, Path(release).expanduser(), overwrite=options.get("overwrite", False))
        target.parent.mkdir(parents=True, exist_ok=True)
        with WriterLock(target.parent / f".{target.name}.lock", what=target):
            return prepare(release, out, **options)

    return locked


@_one_writer
def prepare_dataset(
    release: str | Path,
    out: str | Path,
    *,
    videos: str | Path | None = None,
    video_base: str | None = None,
    configs: Sequence[str] | None = None,
    split_file: str | Path | None = None,
    overwrite: bool = False,
    show_progress: bool = True,
) -> PreparedDataset:
    """Turn a copy of the Movie101v2 release into a script-free dataset folder.

    Args:
        release: the root of a copy of the Movie101 repository (holding `Movie101v2/`), or its
            `Movie101v2/data` folder.
        out: the folder to write.
        videos: folder holding `<movie_id>.mp4`; clip rows then carry a `video` column pointing there.
        video_base: URL or `hf://` prefix holding `<movie_id>.mp4` instead (clips stream by range requests).
        configs: configs to build (default: all of `en`, `zh`, `bilingual`, `en-short`, `zh-short`, `movies`).
        split_file: a `public_split.json` to use instead of the release's own or the packaged copy.
        overwrite: replace `out` if it exists.
        show_progress: show a progress bar per config.

    Returns:
        a `PreparedDataset` with the row counts.

    Raises:
        FileExistsError: `out` is a file, a non-empty folder that `prepare` did not write, the release or a folder
            holding it; or a prepared dataset and `overwrite` is False.
        FileNotFoundError: a movie file is missing from `videos`.
        ReleaseFormatError: a release file is malformed, or a portrait is not a readable image (the message names
            the file and line, or the movie, actor and file).

    Example:
        >>> prepared = prepare_dataset(mini_release, tmp / "prepared", configs=["en"], show_progress=False)
        >>> prepared.counts
        {'en': {'train': 6, 'validation': 3, 'test': 3}}
    """
    configs = list(configs or CONFIG_LAYOUT)
    unknown = [name for name in configs if name not in CONFIG_LAYOUT]
    if unknown:
        raise ValueError(f"Unknown config(s) {unknown}; choose from {list(CONFIG_LAYOUT)}.")
    if videos is not None and video_base is not None:
        raise ValueError("Give --videos or --video-base, not both.")
    out = Path(out).expanduser()
    _recover_interrupted_swap(out)
    _check_out(out, Path(release).expanduser(), overwrite=overwrite)
    config_kwargs = {
        "data_dir": str(release),
        "video_dir": str(videos) if videos is not None else None,
        "video_base": video_base,
        "split_file": str(split_file) if split_file is not None else None,
    }
    checker = _check_release(Movie101v2Builder(config_name="en", **config_kwargs), videos)
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(out)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}{_PARTIAL}", dir=out.parent))
    (staging / _OWNER).write_text(str(os.getpid()))  # so that a concurrent run does not take it for a leftover
    try:
        result = PreparedDataset(path=out, video_source=str(videos) if videos is not None else video_base)
        infos: dict[str, DatasetInfo] = {}
        for name in configs:
            builder = Movie101v2Builder(config_name=name, **config_kwargs)
            infos[name], result.counts[name] = _write_config(builder, staging / name, show_progress=show_progress)
        manifest = _manifest(release, checker.release, result)
        manifest["pace"] = {language: pace.as_dict() for language, pace in describers_pace(checker).items()}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (staging / "README.md").write_text(dataset_card(manifest, infos), encoding="utf-8")
        (staging / _OWNER).unlink()
        os.chmod(staging, 0o755)  # mkdtemp makes it private
        _swap_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return result


def describers_pace(builder: Movie101v2Builder) -> dict[str, Any]:
    """The describers' pace per language (`data.pacing`), over the train split's paragraph clips."""
    paces = {}
    for language in ("en", "zh"):
        rows = [
            row
            for movie in builder.split_movie_ids()["train"]
            for row in clip_rows(builder.release, movie, "long", (language,))
        ]
        source = "the train split of this folder"
        paces[language] = measure_pace(
            [r["narration"] for r in rows], [r["end"] - r["start"] for r in rows], language=language, source=source
        )
    return paces


def _check_release(checker: Movie101v2Builder, videos: str | Path | None) -> Movie101v2Builder:
    """Everything that can stop a run, checked before writing: the movie files and every portrait."""
    if videos is not None:
        _check_videos(checker, Path(videos))
    for movie_id in (m for ids in checker.split_movie_ids().values() for m in ids):
        checker.release.verify_portraits(movie_id)  # a corrupt portrait stops here, not in a later narrate run
    return checker


def _write_config(builder: Movie101v2Builder, folder: Path, *, show_progress: bool) -> tuple[DatasetInfo, dict]:
    """One config's Parquet shards, split by split; returns its `DatasetInfo` and row counts per split."""
    from tqdm.auto import tqdm

    name = builder.config.name
    features, movie_ids = builder.info.features, builder.split_movie_ids()
    counts: dict[str, int] = {}
    splits, download_size = SplitDict(), 0
    total = sum(map(len, movie_ids.values()))
    with tqdm(total=total, desc=f"prepare {name}", unit="movie", disable=not show_progress) as progress:
        for split in SPLITS:
            rows = []
            for movie_id in movie_ids[split]:
                rows += [row for _, row in builder.generate_movie(movie_id)]
                progress.update()
            if rows:
                rows_per_shard = ROWS_PER_SHARD.get(name, DEFAULT_ROWS_PER_SHARD)
                num_bytes, parquet_bytes = _write_shards(folder, split, rows, features, rows_per_shard)
                splits.add(SplitInfo(name=split, num_bytes=num_bytes, num_examples=len(rows)))
                download_size += parquet_bytes
            counts[split] = len(rows)
    dataset_size = sum(split.num_bytes for split in splits.values())
    info = DatasetInfo(features=features, splits=splits, download_size=download_size, dataset_size=dataset_size)
    info.config_name = name
    return info, counts


def _manifest(release: str | Path, release_info: Any, result: PreparedDataset) -> dict[str, Any]:
    """What `movie101v2_prepare.json` records: versions, sources, counts."""
    return {
        "package_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "release": str(Path(release).expanduser().resolve()),
        "split_source": release_info.split_source,
        "video_source": result.video_source,
        "counts": result.counts,
        "movies": {split: len(release_info.movies_in_split(split)) for split in SPLITS},
    }


# -- putting the folder in place safely ------------------------------------------------------------------------

_PARTIAL = ".partial-"  # .<name>.partial-XXXX: a folder being built
_OLD = ".old-"  # .<name>.old-XXXX: the previous dataset, set aside while the new one moves in
_OWNER = ".movie101v2-prepare.pid"  # inside a partial folder: the pid of the run building it


def _check_out(out: Path, release: Path, *, overwrite: bool) -> None:
    """Refuse an `out` that is not ours to write: a file, the release or a folder holding it, a non-empty folder
    without the manifest of a prepared dataset, or a prepared dataset without `overwrite`."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(
            f"--out {out} is a file, not a folder. Give the path of a folder to write the dataset to."
        )
    resolved, release_resolved = out.resolve(), release.resolve()
    if release_resolved in resolved.parents:
        raise FileExistsError(
            f"--out {out} lies inside the release {release}: prepare never writes over the release, nor into it. "
            "Choose a folder outside it, e.g. movie101v2-hf/."
        )
    if resolved == release_resolved or resolved in release_resolved.parents:
        raise FileExistsError(
            f"--out {out} is the release {release} or a folder holding it: prepare never writes over the release. "
            "Choose a folder outside it, e.g. movie101v2-hf/."
        )
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not (out / MANIFEST).is_file():
        raise FileExistsError(
            f"--out {out} is a non-empty folder that `movie101v2 prepare` did not write (it has no {MANIFEST}); "
            "--overwrite replaces only a prepared dataset, so nothing of yours is deleted. Choose another --out, "
            "or empty that folder yourself."
        )
    if not overwrite:
        raise FileExistsError(
            f"{out} holds a prepared dataset. Pass --overwrite to replace it, or choose another --out."
        )


def _siblings(out: Path, marker: str) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}{marker}*")) if out.parent.is_dir() else []


def _recover_interrupted_swap(out: Path) -> None:
    """A run killed between setting the old dataset aside and moving the new one in (only possible where the
    atomic exchange is not available) left `out` missing and the old dataset aside: put it back."""
    if out.exists():
        return
    for aside in _siblings(out, _OLD):
        if (aside / MANIFEST).is_file():
            logger.warning("restoring %s from %s, left aside by an interrupted prepare", out, aside)
            aside.rename(out)
            return


def _remove_leftovers(out: Path) -> None:
    """Delete the partial and set-aside folders of earlier killed runs (not those of a run still going)."""
    for leftover in _siblings(out, _PARTIAL) + _siblings(out, _OLD):
        owner = leftover / _OWNER
        if owner.is_file() and _process_alive(owner.read_text().strip()):
            continue
        logger.info("removing %s, left by an interrupted prepare", leftover)
        shutil.rmtree(leftover, ignore_errors=True)


def _process_alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one atomic step (Linux `renameat2(RENAME_EXCHANGE)`); False where unsupported."""
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _swap_into_place(staging: Path, out: Path) -> None:
    """Move the finished `staging` folder to `out`. An existing dataset is exchanged with it atomically (a reader
    or a kill sees the old dataset or the new one), else renamed aside first; then it is deleted."""
    if not out.exists():
        staging.rename(out)
        return
    if _exchange(staging, out):
        old = staging  # the exchange left the old dataset at the staging path
    else:
        old = out.with_name(f".{out.name}{_OLD}{staging.name.rsplit('-', 1)[-1]}")
        out.rename(old)
        staging.rename(out)
    shutil.rmtree(old)


def _check_videos(builder: Movie101v2Builder, videos: Path) -> None:
    if not videos.is_dir():
        raise FileNotFoundError(f"--videos {videos} is not a folder; it must hold <movie_id>.mp4 for each movie.")
    movie_ids = [m for ids in builder.split_movie_ids().values() for m in ids]
    missing = [m for m in movie_ids if not (videos / f"{m}.mp4").is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of {len(movie_ids)} movies have no file in {videos}, e.g. "
            f"{', '.join(m + '.mp4' for m in missing[:3])}. Name each movie <movie_id>.mp4, or prepare without --videos."
        )


def _write_shards(
    folder: Path, split: str, rows: list[dict[str, Any]], features: Any, rows_per_shard: int
) -> tuple[int, int]:
    """Write `rows` as Parquet shards; return (Arrow bytes, Parquet bytes) for the card's `dataset_info`."""
    folder.mkdir(parents=True, exist_ok=True)
    num_shards = max(1, -(-len(rows) // rows_per_shard))
    arrow_bytes = parquet_bytes = 0
    for shard in range(num_shards):
        chunk = rows[shard * rows_per_shard : (shard + 1) * rows_per_shard]
        batch = features.encode_batch({column: [row[column] for row in chunk] for column in features})
        # the schema carries the `datasets` features (Video, Image, List) in its metadata
        table = pa.Table.from_pydict(batch, schema=features.arrow_schema)
        path = folder / f"{split}-{shard:05d}-of-{num_shards:05d}.parquet"
        pq.write_table(table, path)
        arrow_bytes += table.nbytes
        parquet_bytes += path.stat().st_size
    return arrow_bytes, parquet_bytes


def dataset_card(manifest: dict[str, Any], infos: dict[str, DatasetInfo]) -> str:
    """The README of a prepared folder: YAML header (`configs:` and `dataset_info:`), then the card.

    `dataset_info` (features, row and byte counts per split) is what `datasets` hashes to key its cache
    of a local folder, so a folder re-prepared with other content is not served from a stale cache.
    """
    counts: dict[str, dict[str, int]] = manifest["counts"]
    default = DEFAULT_CONFIG if DEFAULT_CONFIG in counts else next(iter(counts))
    table = ["| config | train | validation | test | total |", "|---|---|---|---|---|"]
    for name, splits in counts.items():
        table.append(
            f"| `{name}` | " + " | ".join(f"{splits.get(s, 0):,}" for s in SPLITS) + f" | {sum(splits.values()):,} |"
        )
    movies = manifest["movies"]
    video_note = (
        f"Clip rows carry a `video` column pointing at the full-length movie (`{manifest['video_source']}`); "
        "frames are decoded on access, e.g. with `movie101v2_hf.ClipSampler(num_frames=16).apply(ds)`."
        if manifest["video_source"]
        else "This copy was prepared without movies: clip rows have no `video` column. The movies are obtained on "
        "application from the dataset authors; re-run `movie101v2 prepare --videos DIR` to point clips at them."
    )
    body = f"""
# Movie101v2

Movie narration (audio description) benchmark: 203 Chinese movies narrated in Chinese and English,
with cast lists and portraits and an official split (paper: [Movie101v2: Improved Movie Narration
Benchmark](https://arxiv.org/abs/2404.13370); release: [Movie101]({"https://github.com/yuezih/Movie101"})).
Prepared by `movie101v2-hf` {manifest["package_version"]} on {manifest["created"]}.

## Load

```python
from datasets import load_dataset

ds = load_dataset("<this folder or hub id>", "{default}", split="test")
stream = load_dataset("<this folder or hub id>", "{default}", split="train", streaming=True)
```

## Configs

- `en`, `zh`: the 46K merged narration paragraphs, the benchmark setting (`en` is the default).
- `bilingual`: both languages in one row (`narration_en`, `narration_zh`, ...).
- `en-short`, `zh-short`: the 71K unmerged narration segments.
- `movies`: one row per movie: title, year, genre, intro, director, cast with portraits as images.

Clip rows: `clip_id` (stable: `<movie_id>_<long|short>_<line index>`), `movie_id`, `index`, `start`, `end`
(seconds), `narration` (markers removed), `narration_raw` (as released, names marked `[Name]`),
`characters` (marked names in order of first mention, completed from the other language through the
cast table), `cast` (the movie's character names), `prev_narration` and `prev_end` (the previous clip
of the same movie, for context-aware narrators; null for a movie's first clip).
Portraits are stored once, in `movies`; `movie101v2_hf.PortraitAttacher` attaches them to clips.

{video_note}

## Statistics

{chr(10).join(table)}

Movies: {movies["train"]} train, {movies["validation"]} validation, {movies["test"]} test
(split: the Movie101 public split; movies it does not list are train).

{_pace_note(manifest)}

## License and terms of use

{DATA_TERMS}

## Citation

```bibtex
{CITATION}
```
"""
    return _card_header(counts, infos) + "\n" + body


def _pace_note(manifest: dict[str, Any]) -> str:
    """The card's lines on the describers' pace, the one `evaluate`'s L3 scores measure narrations against."""
    lines = [f"- {Pace(**pace).describe()}" for pace in manifest.get("pace", {}).values()]
    if not lines:
        return ""
    return (
        "Describers' pace (tokens / (end - start); English words, Chinese characters), the pace at which "
        "`evaluate`'s L3-Fit and L3-Overrun speak a narration:\n\n" + "\n".join(lines)
    )


def _card_header(counts: dict[str, dict[str, int]], infos: dict[str, DatasetInfo]) -> str:
    """The card's YAML header: license, `configs:` (each config's Parquet files) and `dataset_info:`."""
    import yaml

    header: dict[str, Any] = {
        "license": "other",
        "license_name": LICENSE_NAME,
        "license_link": LICENSE_LINK,
        "language": ["en", "zh"],
        "pretty_name": "Movie101v2",
        "task_categories": ["video-text-to-text"],
        "tags": ["audio-description", "movie-narration", "video-captioning"],
        "configs": [
            {
                "config_name": name,
                **({"default": True} if name == DEFAULT_CONFIG else {}),
                "data_files": [{"split": s, "path": f"{name}/{s}-*.parquet"} for s, count in splits.items() if count],
            }
            for name, splits in counts.items()
        ],
    }
    DatasetInfosDict(infos).to_dataset_card_data(header)
    return "\n".join(["---", yaml.safe_dump(header, sort_keys=False, allow_unicode=True).rstrip(), "---"])
