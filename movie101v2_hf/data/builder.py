"""The Movie101v2 dataset builder: release files in, `datasets` rows out.

One builder class serves both ways of getting the dataset:

- `movie101v2 prepare` (`movie101v2_hf.data.prepare.prepare_dataset`) runs it and writes Parquet shards
  plus a README `configs:` block, which plain `datasets` 5.x loads, from a folder or the Hub;
- `loading_script/movie101v2.py` subclasses it for script-era `datasets` (< 4), with `data_dir`
  pointing at the release.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
from datasets import Features, Image, Value

try:  # datasets >= 4
    from datasets import List
except ImportError:  # script-era datasets: a Sequence of a Value is a list
    from datasets import Sequence as List
try:
    from datasets import Video
except ImportError:  # datasets < 3.3 has no Video feature: keep the movie's path as a string
    Video = None

from ..constants import CONFIG_LAYOUT, DEFAULT_CONFIG, LANGUAGES, SPLITS
from .release import Release

_HOMEPAGE = "https://github.com/yuezih/Movie101"
# The terms of the data (see DATA_TERMS): the release's GitHub repository carries an MIT License file but says the
# annotations are "available for research purposes"; the paper and the authors' Hugging Face copy restrict use
# to non-commercial academic research and forbid sharing the dataset or its derivatives. A prepared folder is
# a derivative, so it is published privately unless the licensor allows otherwise.
LICENSE_NAME = "movie101-dataset-license-agreement"
LICENSE_LINK = "https://huggingface.co/datasets/yuezih/Movie101"
_LICENSE = (
    "Movie101 Dataset License Agreement v1.0: non-commercial academic research only; no public distribution or "
    "sharing of the dataset or its derivatives. The movies are not part of the release."
)
DATA_TERMS = """\
Movie101v2 is not openly licensed. What its authors state:

- The [Movie101 GitHub repository](https://github.com/yuezih/Movie101) carries an MIT License file, and its
  Movie101v2 README says the annotations and metadata are "available for research purposes"; the movies are
  given only on application to the authors.
- The [paper](https://arxiv.org/abs/2404.13370) says the dataset is released under highly restrictive
  permissions, limiting its use strictly to academic research.
- The authors' own Hugging Face copy ([`yuezih/Movie101`](https://huggingface.co/datasets/yuezih/Movie101),
  gated) is under the **Movie101 Dataset License Agreement v1.0**: non-commercial academic research only; no
  public display, distribution, sublicensing or sharing of the dataset or its derivatives; no derivative
  datasets for external distribution.

A folder prepared by `movie101v2-hf` is a derivative of the dataset: use it for non-commercial academic
research, keep it private (`movie101v2 push-dataset` creates private repos), and share it only as the licensor
allows. The movies are not included."""
_DESCRIPTION = (
    "Movie101v2: a bilingual movie narration (audio description) benchmark of 203 Chinese movies with "
    "46K narration paragraphs in English and Chinese, cast lists with portraits, and an official split."
)
CITATION = """\
@article{yue2024movie101v2,
  title   = {Movie101v2: Improved Movie Narration Benchmark},
  author  = {Yue, Zihao and Zhang, Yepeng and Wang, Ziheng and Jin, Qin},
  journal = {arXiv preprint arXiv:2404.13370},
  year    = {2024}
}"""

_VERSION = datasets.Version("2.0.0")  # the release's version; bump the minor number when the rows change
_SPLIT_NAMES = {"train": datasets.Split.TRAIN, "validation": datasets.Split.VALIDATION, "test": datasets.Split.TEST}


def clip_features(languages: tuple[str, ...], *, with_video: bool) -> Features:
    """Features of a clip config; bilingual rows suffix their text columns with `_en` / `_zh`.

    Example:
        >>> sorted(clip_features(("en",), with_video=False))[:3]
        ['cast', 'characters', 'clip_id']
    """
    features: dict[str, Any] = {
        "clip_id": Value("string"),
        "movie_id": Value("string"),
        "index": Value("int32"),
        "start": Value("float64"),
        "end": Value("float64"),
    }
    suffixes = [""] if len(languages) == 1 else [f"_{language}" for language in languages]
    for suffix in suffixes:
        features[f"narration{suffix}"] = Value("string")
        features[f"narration_raw{suffix}"] = Value("string")
        features[f"characters{suffix}"] = List(Value("string"))
        features[f"cast{suffix}"] = List(Value("string"))
    for suffix in suffixes:
        features[f"prev_narration{suffix}"] = Value("string")
    features["prev_end"] = Value("float64")
    if with_video:
        features["video"] = Video() if Video is not None else Value("string")
    return Features(features)


MOVIE_FEATURES = Features(
    {
        "movie_id": Value("string"),
        "title": Value("string"),
        "year": Value("int32"),
        "genre": List(Value("string")),
        "intro": Value("string"),
        "director": List(Value("string")),
        "area": List(Value("string")),
        "url": Value("string"),
        # a Python list of a dict is a list of structs in every `datasets` version
        "cast": [
            {
                "actor_id": Value("string"),
                "actor": Value("string"),
                "role": Value("string"),
                "role_en": Value("string"),
                "portrait": Image(),
            }
        ],
    }
)


@dataclass
class Movie101v2Config(datasets.BuilderConfig):
    """A Movie101v2 config.

    Args:
        kind (`str`): `"long"` (46K paragraphs), `"short"` (71K segments) or `"movies"`.
        languages (`tuple[str, ...]`): text languages of each row.
        video_dir (`str`, *optional*): folder of `<movie_id>.mp4`; clip rows then get a `video` column.
        video_base (`str`, *optional*): URL or `hf://` prefix of the movies instead of a folder.
        split_file (`str`, *optional*): a `public_split.json` to use instead of the release's.
    """

    kind: str = "long"
    languages: tuple[str, ...] = ("en",)
    video_dir: str | None = None
    video_base: str | None = None
    split_file: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.name in CONFIG_LAYOUT:
            self.kind, self.languages = CONFIG_LAYOUT[self.name]
        if self.kind not in ("long", "short", "movies"):
            raise ValueError(f"Invalid kind {self.kind!r}; expected 'long', 'short' or 'movies'.")
        if any(language not in LANGUAGES for language in self.languages):
            raise ValueError(f"Invalid languages {self.languages!r}; expected a subset of {LANGUAGES}.")
        if self.video_dir is not None and self.video_base is not None:
            raise ValueError("Give video_dir or video_base, not both.")

    @property
    def with_video(self) -> bool:
        return self.kind != "movies" and (self.video_dir is not None or self.video_base is not None)


class Movie101v2Builder(datasets.GeneratorBasedBuilder):
    """Builds Movie101v2 rows from a copy of the release (`data_dir`).

    Example:
        >>> builder = Movie101v2Builder(config_name="en", data_dir=sample_release)
        >>> next(builder.generate_split("test"))[0]
        '6965779678749524488_long_00000'
    """

    VERSION = _VERSION
    BUILDER_CONFIG_CLASS = Movie101v2Config
    BUILDER_CONFIGS = [Movie101v2Config(name=name, version=_VERSION) for name in CONFIG_LAYOUT]
    DEFAULT_CONFIG_NAME = DEFAULT_CONFIG

    def _info(self) -> datasets.DatasetInfo:
        config = self.config
        features = (
            MOVIE_FEATURES
            if config.kind == "movies"
            else clip_features(config.languages, with_video=config.with_video)
        )
        return datasets.DatasetInfo(
            description=_DESCRIPTION, features=features, homepage=_HOMEPAGE, license=_LICENSE, citation=CITATION
        )

    @property
    def release(self) -> Release:
        if not self.config.data_dir:
            raise ValueError(
                "Movie101v2 needs the release on disk: pass data_dir=<copy of the Movie101 repository> "
                "(the folder holding Movie101v2/)."
            )
        if not hasattr(self, "_release"):
            self._release = Release(self.config.data_dir, split_file=self.config.split_file)
        return self._release

    def split_movie_ids(self) -> dict[str, list[str]]:
        """Movie ids of each split (narrated movies for clip configs, all movies for `movies`)."""
        release = self.release
        listed = release.movie_ids if self.config.kind == "movies" else release.narrated_movie_ids(self.config.kind)
        return {split: [m for m in listed if release.split_of(m) == split] for split in SPLITS}

    def _split_generators(self, dl_manager: Any) -> list[datasets.SplitGenerator]:
        return [
            # a list of movie ids is sharded by `datasets` when it generates with several processes
            datasets.SplitGenerator(name=_SPLIT_NAMES[split], gen_kwargs={"movie_ids": movie_ids})
            for split, movie_ids in self.split_movie_ids().items()
            if movie_ids
        ]

    def generate_split(self, split: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """`(key, row)` pairs of one split, in release order."""
        return self._generate_examples(self.split_movie_ids()[split])

    def generate_movie(self, movie_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """`(key, row)` pairs of one movie: its clips, or its `movies` row."""
        return self._generate_examples([movie_id])

    def _generate_examples(self, movie_ids: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
        if self.config.kind == "movies":
            for movie_id in movie_ids:
                yield movie_id, movie_row(self.release, movie_id)
            return
        for movie_id in movie_ids:
            video = self.video_path(movie_id)
            for row in clip_rows(self.release, movie_id, self.config.kind, self.config.languages):
                if self.config.with_video:
                    row["video"] = video
                yield row["clip_id"], row

    def video_path(self, movie_id: str) -> str | None:
        """Where the clip rows of `movie_id` point for frames: a local path, a URL or an `hf://` path."""
        if self.config.video_dir is not None:
            return str(Path(self.config.video_dir).expanduser().resolve() / f"{movie_id}.mp4")
        if self.config.video_base is not None:
            return f"{self.config.video_base.rstrip('/')}/{movie_id}.mp4"
        return None


def clip_rows(release: Release, movie_id: str, kind: str, languages: tuple[str, ...]) -> list[dict[str, Any]]:
    """Rows of one movie's clips for a clip config (`video` is added by the builder).

    Example:
        >>> from movie101v2_hf.data.release import Release
        >>> rows = clip_rows(Release(sample_release), "iqy-17247000500", "long", ("en",))
        >>> rows[1]["prev_end"]
        42.0
    """
    movie = release.movie(movie_id)
    suffix = {language: "" if len(languages) == 1 else f"_{language}" for language in languages}
    cast = {language: movie.cast_names(language) for language in languages}
    rows, previous = [], None
    for clip in release.clips(movie_id, kind):
        row: dict[str, Any] = {
            "clip_id": clip.clip_id,
            "movie_id": movie_id,
            "index": clip.index,
            "start": clip.start,
            "end": clip.end,
        }
        for language in languages:
            narration, s = clip.narrations[language], suffix[language]
            row[f"narration{s}"] = narration.text
            row[f"narration_raw{s}"] = narration.raw
            row[f"characters{s}"] = clip.characters[language]
            row[f"cast{s}"] = cast[language]
        for language in languages:
            row[f"prev_narration{suffix[language]}"] = (
                previous.narrations[language].text if previous is not None else None
            )
        row["prev_end"] = previous.end if previous is not None else None
        rows.append(row)
        previous = clip
    return rows


def movie_row(release: Release, movie_id: str) -> dict[str, Any]:
    """The `movies` config row of one movie; portraits are embedded as JPEG bytes."""
    movie = release.movie(movie_id)
    return {
        "movie_id": movie.movie_id,
        "title": movie.title,
        "year": movie.year,
        "genre": list(movie.genre),
        "intro": movie.intro,
        "director": list(movie.director),
        "area": list(movie.area),
        "url": movie.url,
        "cast": [
            {
                "actor_id": member.actor_id,
                "actor": member.actor,
                "role": member.role,
                "role_en": member.role_en,
                "portrait": {"bytes": member.portrait.read_bytes(), "path": member.portrait.name},
            }
            for member in movie.cast
        ],
    }
