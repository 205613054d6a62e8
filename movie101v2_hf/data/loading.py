"""Loading a prepared dataset for a job: the clips of a split, the cast portraits, each movie's genres.

Portraits are stored once per movie (the `movies` config), never copied into clip rows: `PortraitAttacher`
looks them up by `movie_id` when a row is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..constants import LANGUAGES, SINGLE_LANGUAGE_CONFIGS


def load_clips(
    dataset: str,
    config: str,
    split: str,
    *,
    streaming: bool = False,
    movie_ids: list[str] | None = None,
    max_samples: int | None = None,
) -> Any:
    """Clip rows for training, with the `video` column left undecoded (the collator samples frames).

    Args:
        dataset: a prepared folder or a Hub dataset id.
        config: a clip config (`en`, `zh`, `bilingual`, `en-short`, `zh-short`).
        split: `train`, `validation` or `test`.
        streaming: return an `IterableDataset` read as it goes.
        movie_ids: keep only these movies.
        max_samples: keep the first N clips (after `movie_ids`).

    Raises:
        ValueError: the dataset has no `video` column, or no clip is left.

    Example:
        >>> stream = load_clips(mini_dataset, "en", "train", streaming=True)
        >>> sorted(next(iter(stream)))[:4]
        ['cast', 'characters', 'clip_id', 'end']
    """
    from datasets import Video, load_dataset

    rows = load_dataset(dataset, config, split=split, streaming=streaming)
    columns = rows.column_names or []
    if "keyframes" in columns and "video" not in columns:  # synthetic clips (`movie101v2 synth dataset`)
        return _keep(rows, movie_ids, max_samples, streaming, f"{dataset} ({config}, {split})")
    if "video" not in columns:
        raise ValueError(
            f"{dataset} ({config}, {split}) has no 'video' column: its clips do not point at movies. Prepare it with "
            "`movie101v2 prepare --release DIR --videos MOVIES_DIR --out DIR` (or --video-base URL) and train on that."
        )
    rows = rows.cast_column("video", Video(decode=False))
    return _keep(rows, movie_ids, max_samples, streaming, f"{dataset} ({config}, {split})")


def _keep(rows: Any, movie_ids: list[str] | None, max_samples: int | None, streaming: bool, name: str) -> Any:
    if movie_ids:
        wanted = set(movie_ids)
        rows = rows.filter(lambda movie_id: movie_id in wanted, input_columns="movie_id")
    if max_samples is not None:
        rows = rows.take(max_samples) if streaming else rows.select(range(min(max_samples, len(rows))))
    if not streaming and len(rows) == 0:
        raise ValueError(f"No clip left in {name} after movie_ids={movie_ids}.")
    return rows


def load_split(
    dataset: str,
    config: str,
    split: str,
    *,
    needs_video: bool,
    movie_ids: Sequence[str] | None,
    max_samples: int | None,
) -> Any:
    """The clips of a split to run a model on, in dataset order: `video` undecoded when frames are needed (the
    request builders decode them), dropped otherwise.

    Example:
        >>> load_split(mini_dataset, "en", "test", needs_video=False, movie_ids=None, max_samples=2).num_rows
        2
    """
    from datasets import load_dataset

    if config not in SINGLE_LANGUAGE_CONFIGS:
        raise ValueError(f"Use a single-language clip config ({', '.join(SINGLE_LANGUAGE_CONFIGS)}), not {config!r}.")
    if needs_video:
        return load_clips(dataset, config, split, movie_ids=list(movie_ids or []), max_samples=max_samples)
    rows = load_dataset(dataset, config, split=split)
    if "video" in rows.column_names:
        rows = rows.remove_columns("video")
    if movie_ids:
        wanted = set(movie_ids)
        rows = rows.filter(lambda movie_id: movie_id in wanted, input_columns="movie_id")
    if max_samples is not None:
        rows = rows.select(range(min(max_samples, len(rows))))
    return rows


def load_portraits(dataset: str, language: str, *, max_portraits: int) -> Any:
    """A `PortraitAttacher` over the dataset's `movies` config (all splits), or None when `max_portraits` is 0.

    Example:
        >>> attacher = load_portraits(mini_dataset, "en", max_portraits=5)
        >>> [portrait["name"] for portrait in attacher(test[0])["portraits"]][:1]
        ['...']
    """
    if max_portraits == 0:
        return None
    from datasets import concatenate_datasets, load_dataset

    movies = load_dataset(dataset, "movies")
    return PortraitAttacher(
        concatenate_datasets(list(movies.values())), language=language, max_portraits=max_portraits
    )


def movie_genres(dataset: str) -> dict[str, list[str]]:
    """`{movie_id: genres}` from the dataset's `movies` config (empty if it has none); portraits are not decoded."""
    from datasets import load_dataset

    try:
        movies = load_dataset(dataset, "movies")
    except ValueError:  # a dataset without the `movies` config
        return {}
    return {
        movie_id: list(genre or [])
        for split in movies.values()
        for movie_id, genre in zip(split["movie_id"], split.select_columns(["genre"])["genre"])
    }


class PortraitAttacher:
    """Attach a clip's cast portraits at access time, from the `movies` config.

    Portraits are stored once per movie, never copied into clip rows; this looks them up by
    `movie_id` when a row is read. By default it attaches the portraits of the clip's `characters`
    first, then the rest of the cast, up to `max_portraits`.

    Args:
        movies: the `movies` config (any split, or a concatenation of all splits).
        language: `"en"` or `"zh"`, which name to match the clip's characters against.
        max_portraits: at most this many portraits per clip (the paper uses up to 5).
        only_characters: attach only the characters of the clip, not the rest of the cast.

    Example:
        >>> from datasets import concatenate_datasets, load_dataset
        >>> movies = concatenate_datasets(list(load_dataset(mini_dataset, "movies").values()))
        >>> clips = test.with_transform(PortraitAttacher(movies, language="en"))
        >>> clips[0]["portraits"][0]  # doctest: +ELLIPSIS
        {'name': 'Old He', 'image': <PIL.JpegImagePlugin.JpegImageFile ...>}
    """

    def __init__(self, movies: Any, *, language: str = "en", max_portraits: int = 5, only_characters: bool = False):
        if language not in LANGUAGES:
            raise ValueError(f"Invalid language {language!r}; expected one of {LANGUAGES}.")
        self.language = language
        self.max_portraits = max_portraits
        self.only_characters = only_characters
        name_key = "role_en" if language == "en" else "role"
        self._cast: dict[str, list[tuple[str, Any]]] = {
            row["movie_id"]: [(member[name_key], member["portrait"]) for member in row["cast"]] for row in movies
        }

    def portraits(self, movie_id: str, characters: Sequence[str]) -> list[dict[str, Any]]:
        """`[{"name", "image"}]` for a clip of `movie_id` whose characters are `characters`."""
        if movie_id not in self._cast:
            raise KeyError(f"Movie {movie_id!r} is not in the `movies` rows given to PortraitAttacher.")
        cast = self._cast[movie_id]
        chosen = [i for name in characters for i, (role, _) in enumerate(cast) if role == name]
        if not self.only_characters:
            chosen += [i for i in range(len(cast)) if i not in chosen]
        return [{"name": cast[i][0], "image": cast[i][1]} for i in chosen[: self.max_portraits]]

    def __call__(self, example_or_batch: dict[str, Any]) -> dict[str, Any]:
        out = dict(example_or_batch)
        column = "characters" if "characters" in example_or_batch else f"characters_{self.language}"
        movie_ids, characters = example_or_batch["movie_id"], example_or_batch[column]
        if isinstance(movie_ids, str):
            out["portraits"] = self.portraits(movie_ids, characters)
        else:
            out["portraits"] = [self.portraits(m, c) for m, c in zip(movie_ids, characters)]
        return out
