"""The retrieval baseline: narrate a clip with the training narration that fits it best, names swapped in.

Nearest-neighbour captioning (reuse the caption of the most similar training item) is a standard
baseline in the captioning literature. Without a visual encoder, "similar" here means what is known
about a clip before anyone watches it:

- movie context: the genres of its movie (Jaccard overlap), where the clip lies in the movie (start over
  the movie's length, so openings match openings), and its duration (long clips get long narrations);
- characters: a training narration is usable only if every character it names can be mapped onto the
  clip's movie, by billing order (the lead onto the lead); narrations about leads score higher, since leads
  are on screen most. When the names on screen are known (`identified`, e.g. from `movie101v2 faces`),
  the number of characters must match and those names are used instead.

The chosen narration's character names are replaced by the mapped names of the clip's movie. The clip's own
annotated `characters` and its reference narration are never read: they are what is being predicted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..backends.base import BACKENDS
from ..data.loading import movie_genres

# Weights of the four similarity terms (each in [0, 1]); equal, as no term is known to matter more.
WEIGHTS = {"genre": 1.0, "position": 1.0, "duration": 1.0, "characters": 1.0}
_NO_CHARACTER_SCORE = 0.25  # a narration naming nobody fits any clip, but cannot get a name right
_UNMAPPED = 10**6  # billing rank of a name that is not in its movie's cast


def movie_lengths(rows: Any) -> dict[str, float]:
    """The end of each movie's last clip: the movie length as far as its clips tell."""
    lengths: dict[str, float] = {}
    for movie_id, end in zip(rows["movie_id"], rows["end"]):
        lengths[movie_id] = max(lengths.get(movie_id, 0.0), float(end))
    return lengths


@dataclass
class RetrievalIndex:
    """Training narrations with what the retrieval baseline matches them on.

    Build it with `RetrievalIndex.from_rows(train_rows, genres)`; `narrate(query)` returns the adapted
    narration, `examples(query, k)` the k best training narrations as they are (in-context examples).

    Example:
        >>> from datasets import Dataset
        >>> rows = Dataset.from_list([{"clip_id": "m1_long_00000", "movie_id": "m1", "start": 12.0, "end": 20.0,
        ...     "cast": ["Wang Wu"], "narration": "Wang Wu walks into the classroom.", "characters": ["Wang Wu"]}])
        >>> index = RetrievalIndex.from_rows(rows, genres={"m1": ["Drama"]})
        >>> index.narrate({"movie_id": "t1", "start": 10.0, "end": 20.0, "cast": ["Li Lei", "Han Meimei"]},
        ...               genres=["Drama"], movie_length=5400.0)
        'Li Lei walks into the classroom.'
    """

    clip_ids: list[str]
    narrations: list[str]
    characters: list[list[str]]
    ranks: list[list[int]]
    movie_ids: list[str]
    position: Any  # numpy arrays, one entry per training clip
    duration: Any
    max_rank: Any
    lead_score: Any
    num_characters: Any
    genres: dict[str, list[str]]

    @classmethod
    def from_rows(cls, rows: Any, genres: dict[str, list[str]] | None = None) -> RetrievalIndex:
        """Index clip rows (a single-language config: `narration`, `characters`, `cast`, `start`, `end`)."""
        import numpy as np

        if len(rows) == 0:
            raise ValueError("The retrieval baseline needs training narrations, and the rows given are empty.")
        columns = rows.select_columns(["clip_id", "movie_id", "start", "end", "narration", "characters", "cast"])
        data = columns.to_dict() if hasattr(columns, "to_dict") else columns
        lengths = movie_lengths(data)
        ranks = [
            [cast.index(name) if name in cast else _UNMAPPED for name in names]
            for names, cast in zip(data["characters"], data["cast"])
        ]
        starts, ends = np.asarray(data["start"], float), np.asarray(data["end"], float)
        return cls(
            clip_ids=list(data["clip_id"]),
            narrations=list(data["narration"]),
            characters=[list(c) for c in data["characters"]],
            ranks=ranks,
            movie_ids=list(data["movie_id"]),
            position=starts / np.asarray([max(lengths[m], 1e-6) for m in data["movie_id"]]),
            duration=ends - starts,
            max_rank=np.asarray([max(r) if r else -1 for r in ranks]),
            lead_score=np.asarray([np.mean([1.0 / (1 + k) for k in r]) if r else _NO_CHARACTER_SCORE for r in ranks]),
            num_characters=np.asarray([len(r) for r in ranks]),
            genres=dict(genres or {}),
        )

    def __len__(self) -> int:
        return len(self.narrations)

    def scores(
        self,
        query: dict[str, Any],
        *,
        genres: Sequence[str] = (),
        movie_length: float | None = None,
        identified: Sequence[str] | None = None,
    ) -> Any:
        """The similarity of every training clip to `query` (higher is better), a numpy array."""
        import numpy as np

        start, end = float(query["start"]), float(query["end"])
        length = movie_length or end
        position = 1.0 - np.abs(self.position - start / max(length, 1e-6))
        duration = np.exp(-np.abs(np.log1p(self.duration) - math.log1p(max(end - start, 0.0))))
        if identified:
            wanted = len(identified)
            characters = 1.0 - np.abs(self.num_characters - wanted) / np.maximum(
                np.maximum(self.num_characters, wanted), 1
            )
            usable = self.max_rank < _UNMAPPED
        else:
            usable = self.max_rank < len(query.get("cast") or [])
            characters = self.lead_score
        wanted_genres = set(genres)
        by_movie = {
            movie: (
                len(wanted_genres & set(tags)) / len(wanted_genres | set(tags)) if wanted_genres | set(tags) else 0.0
            )
            for movie, tags in self.genres.items()
        }
        genre = np.asarray([by_movie.get(movie, 0.0) for movie in self.movie_ids])
        total = (
            WEIGHTS["genre"] * genre
            + WEIGHTS["position"] * position
            + WEIGHTS["duration"] * duration
            + WEIGHTS["characters"] * characters
        )
        # A narration whose names cannot all be mapped ranks below every one that can (kept, ordered, as a fallback).
        return np.where(usable, total, total - 100.0)

    def ranked(self, query: dict[str, Any], **context: Any) -> list[int]:
        """Indices of the training clips, best first (ties broken by clip id, so runs are repeatable)."""
        import numpy as np

        scores = self.scores(query, **context)
        order = np.lexsort((np.asarray(self.clip_ids), -scores))
        return [int(i) for i in order]

    def narrate(self, query: dict[str, Any], **context: Any) -> str:
        """The best training narration for `query`, with its characters renamed to the query movie's.

        `context`: `genres` (of the query's movie), `movie_length` (seconds), `identified` (names on screen).
        """
        best = self.ranked(query, **context)[0]
        identified = context.get("identified")
        cast = list(query.get("cast") or [])
        renames = {}
        for i, (name, rank) in enumerate(zip(self.characters[best], self.ranks[best])):
            if identified and i < len(identified):
                renames[name] = identified[i]
            elif rank < len(cast):
                renames[name] = cast[rank]
        return rename(self.narrations[best], renames)

    def examples(self, query: dict[str, Any], k: int, **context: Any) -> list[str]:
        """The `k` best training narrations, at most one per movie, unchanged (for in-context examples)."""
        chosen, movies = [], set()
        for i in self.ranked(query, **context):
            if self.movie_ids[i] not in movies:
                chosen.append(self.narrations[i])
                movies.add(self.movie_ids[i])
            if len(chosen) == k:
                break
        return chosen


def rename(text: str, renames: dict[str, str]) -> str:
    """Replace each name of `renames` in one pass (so A->B, B->C never turns A into C); longest names first.

    Example:
        >>> rename("Tom meets Tommy.", {"Tom": "Li Lei", "Tommy": "Han Meimei"})
        'Li Lei meets Han Meimei.'
    """
    names = sorted((name for name in renames if name), key=len, reverse=True)
    if not names:
        return text
    pattern = re.compile("|".join(re.escape(name) for name in names))
    return pattern.sub(lambda match: renames[match.group(0)], text)


# -- as a narration backend ------------------------------------------------------------------------------------


@dataclass
class RetrievalRequests:
    """The retrieval baseline needs no model: `prepare` returns the narration itself. Also what the `openai`
    backend asks for in-context examples (`examples(row, k)`)."""

    index: RetrievalIndex
    genres: dict[str, list[str]]
    lengths: dict[str, float]
    identified_column: str | None = None

    def context(self, row: dict[str, Any]) -> dict[str, Any]:
        identified = row.get(self.identified_column) if self.identified_column else None
        return {
            "genres": self.genres.get(row["movie_id"], []),
            "movie_length": self.lengths.get(row["movie_id"]),
            "identified": identified,
        }

    def prepare(self, row: dict[str, Any]) -> Any:
        return self.index.narrate(row, **self.context(row))

    def examples(self, row: dict[str, Any], k: int) -> list[str]:
        return self.index.examples(row, k, **self.context(row))

    def batch(self, requests: list[Any]) -> Any:
        return requests


@BACKENDS.register("retrieval")
@dataclass
class RetrievalBackend:
    """The retrieval baseline as a backend: no GPU, no model, no frames.

    Example:
        >>> backend = RetrievalBackend.from_dataset(mini_dataset, "en", "train")
        >>> backend.generate(backend.builder().batch([backend.builder().prepare(test[0])]))  # doctest: +ELLIPSIS
        ['...']
    """

    requests: RetrievalRequests
    train_clips: int = 0
    needs_frames = False
    takes_examples = False

    @classmethod
    def from_dataset(
        cls, dataset: str, config: str, split: str, *, identified_column: str | None = None
    ) -> RetrievalBackend:
        """Index the `train` split of `dataset`; the clips of `split` (all of them, whatever subset or shard is
        narrated, so that every run sees the same movie lengths) give each movie's length."""
        from datasets import load_dataset

        train = load_dataset(dataset, config, split="train")
        genres = movie_genres(dataset)
        index = RetrievalIndex.from_rows(train, genres)
        rows = train if split == "train" else load_dataset(dataset, config, split=split)
        lengths = movie_lengths(rows.select_columns(["movie_id", "end"]).to_dict())
        return cls(RetrievalRequests(index, genres, lengths, identified_column), train_clips=len(index))

    @classmethod
    def from_options(cls, options: Any, **_: Any) -> RetrievalBackend:
        column = options.prompt.get("identified_characters_column")
        return cls.from_dataset(options.dataset, options.config, options.split, identified_column=column)

    def builder(self) -> RetrievalRequests:
        return self.requests

    def generate(self, batch: Any) -> list[str | BaseException]:
        return list(batch)

    def describe(self) -> dict[str, Any]:
        return {"model": "retrieval", "train_clips": self.train_clips}
