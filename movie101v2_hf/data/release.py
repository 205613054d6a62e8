"""Reading the Movie101v2 annotation release exactly as it is laid out on disk.

The release (a copy of the Movie101 repository) looks like this::

    Movie101v2/data/metadata/meta/<movie_id>.json
    Movie101v2/data/metadata/portrait/<movie_id>/<actor_id>.jpeg
    Movie101v2/data/narration/long-46k-{en,zh}/<movie_id>.txt
    Movie101v2/data/narration/short-71k-{en,zh}/<movie_id>.txt
    Movie101v2/evaluation/prompt/{L1,L2}_{en,zh}.txt
    Movie101v1/dataset/Movie101-raw/annotation/public_split.json

Narration lines are ``H:M:S|H:M:S|text`` with character names marked ``[Name]``; the English and
Chinese files are aligned line by line. Nothing here depends on `datasets`: the builder in
`movie101v2_hf.data.builder` turns these objects into rows.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path

from PIL import Image

from ..constants import LANGUAGES, NARRATION_SETS, SPLITS
from ..errors import MissingPortraitError, ReleaseFormatError, UnknownMovieError
from ..utils.io import read_json, read_text

logger = logging.getLogger(__name__)

# Where the Movie101 repository keeps the public split; v2 reuses v1's split.
SPLIT_FILE_IN_REPO = Path("Movie101v1/dataset/Movie101-raw/annotation/public_split.json")
PACKAGED_SPLIT_FILE = "movie101_public_split.json"

_LINE = re.compile(r"^(?P<start>[^|]*)\|(?P<end>[^|]*)\|(?P<text>.*)$")
_TIME = re.compile(r"^\s*(\d+):(\d+):(\d+(?:\.\d+)?)\s*$")
_MARKER = re.compile(r"\[([^\[\]]+)\]")


@dataclass(frozen=True)
class CastMember:
    """One entry of a movie's `role` table, with the path of the actor's portrait."""

    actor_id: str
    actor: str
    role: str
    role_en: str
    portrait: Path

    def name(self, language: str) -> str:
        """The character's name in `language` (`"en"` or `"zh"`)."""
        return self.role_en if language == "en" else self.role


@dataclass(frozen=True)
class Movie:
    """A movie's metadata from `meta/<movie_id>.json`, normalised (`year` is an int or None)."""

    movie_id: str
    title: str
    year: int | None
    genre: tuple[str, ...]
    intro: str
    director: tuple[str, ...]
    url: str
    subtitle: str
    area: tuple[str, ...]
    cast: tuple[CastMember, ...]
    split: str

    def cast_names(self, language: str) -> list[str]:
        """Character names of the cast in `language`, in the order of the meta file, empty names dropped."""
        return [name for member in self.cast if (name := member.name(language))]


@dataclass(frozen=True)
class Narration:
    """One narration line in one language."""

    start: float
    end: float
    raw: str
    path: Path
    line: int

    @property
    def text(self) -> str:
        """The narration with `[ ]` markers removed."""
        return strip_markers(self.raw)

    @property
    def marked_names(self) -> list[str]:
        """Names marked `[Name]`, in order of first mention, without repeats."""
        return marked_names(self.raw)


@dataclass(frozen=True)
class Clip:
    """A narrated clip: one aligned line of the English and Chinese narration files."""

    clip_id: str
    movie_id: str
    index: int
    start: float
    end: float
    narrations: dict[str, Narration] = field(repr=False)
    characters: dict[str, list[str]] = field(repr=False)


def parse_time(value: str) -> float:
    """Parse an `H:M:S` timestamp (seconds may have a fraction) into seconds.

    Example:
        >>> parse_time("1:02:03")
        3723.0

    Raises:
        ValueError: when `value` is not of the form `H:M:S`.
    """
    match = _TIME.match(value)
    if match is None:
        raise ValueError(f"invalid timestamp {value!r}, expected H:M:S such as 0:12:05")
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def strip_markers(text: str) -> str:
    """Remove the `[ ]` character markers, keeping the names.

    Example:
        >>> strip_markers("[Cheng Yong] opens the door.")
        'Cheng Yong opens the door.'
    """
    return _MARKER.sub(lambda m: m.group(1).strip(), text)


def marked_names(text: str) -> list[str]:
    """Names marked `[Name]` in `text`, in order of first mention, without repeats.

    Example:
        >>> marked_names("[A] waves at [B]; [A] smiles.")
        ['A', 'B']
    """
    return list(dict.fromkeys(name.strip() for name in _MARKER.findall(text) if name.strip()))


def merge_characters(text: str, own: Sequence[str], other: Sequence[str], translate: dict[str, str]) -> list[str]:
    """Characters of a clip in one language, completed from the aligned line of the other language.

    English lines lost some markers that the Chinese line kept (about 11% of paragraphs), so the
    names marked in the other language are translated through the cast table and added. Names are
    ordered by their first occurrence in `text`; names that do not occur keep their order at the end.

    Example:
        >>> merge_characters("Cheng Yong meets Lv.", ["Lv"], ["程勇"], {"程勇": "Cheng Yong"})
        ['Cheng Yong', 'Lv']
    """
    names = list(own)
    for name in other:
        translated = translate.get(name)
        if translated and translated not in names:
            names.append(translated)
    not_found = len(text) + 1

    def first_mention(item: tuple[int, str]) -> tuple[int, int]:
        position = text.find(item[1])
        return (position if position >= 0 else not_found, item[0])

    return [name for _, name in sorted(enumerate(names), key=first_mention)]


class Release:
    """A copy of the Movie101v2 release on disk.

    Args:
        path: the root of a copy of the Movie101 repository (the folder holding `Movie101v2/`), or its
            `Movie101v2/data` folder.
        split_file: a `public_split.json` to use instead of the release's own (or, when the release
            has none, the copy shipped with this package).

    Example:
        >>> release = Release(sample_release)
        >>> release.movie("iqy-17247000500").split
        'train'
    """

    def __init__(self, path: str | Path, *, split_file: str | Path | None = None) -> None:
        path = Path(path).expanduser()
        if (path / "Movie101v2" / "data").is_dir():
            self.repo_root: Path | None = path
            self.data_dir = path / "Movie101v2" / "data"
        elif (path / "metadata").is_dir() and (path / "narration").is_dir():
            self.data_dir = path
            self.repo_root = path.parents[1] if path.parent.name == "Movie101v2" else None
        else:
            raise FileNotFoundError(
                f"{path} is not a Movie101v2 release: expected {path / 'Movie101v2' / 'data'} (the root of a copy "
                "of the Movie101 repository) or a folder holding metadata/ and narration/ (its Movie101v2/data)."
            )
        self._split_file = Path(split_file) if split_file is not None else None
        self._movies: dict[str, Movie] = {}

    # -- layout -----------------------------------------------------------------------------------------------

    @property
    def meta_dir(self) -> Path:
        return self.data_dir / "metadata" / "meta"

    @property
    def portrait_dir(self) -> Path:
        return self.data_dir / "metadata" / "portrait"

    def narration_path(self, kind: str, language: str, movie_id: str) -> Path:
        """Path of a narration file; `kind` is `"long"` (46K paragraphs) or `"short"` (71K segments)."""
        if kind not in NARRATION_SETS:
            raise ValueError(f"Unknown narration kind {kind!r}; expected one of {sorted(NARRATION_SETS)}.")
        if language not in LANGUAGES:
            raise ValueError(f"Unknown language {language!r}; expected one of {LANGUAGES}.")
        return self.data_dir / "narration" / f"{NARRATION_SETS[kind]}-{language}" / f"{movie_id}.txt"

    @property
    def prompt_dir(self) -> Path | None:
        """`Movie101v2/evaluation/prompt` with the official judge prompts, when the copy has it."""
        if self.repo_root is None:
            return None
        folder = self.repo_root / "Movie101v2" / "evaluation" / "prompt"
        return folder if folder.is_dir() else None

    # -- split ------------------------------------------------------------------------------------------------

    @cached_property
    def split_source(self) -> str:
        """Where the split was read from: a file path, or `"package"` for the packaged copy."""
        if self._split_file is not None:
            return str(self._split_file)
        if self.repo_root is not None and (self.repo_root / SPLIT_FILE_IN_REPO).is_file():
            return str(self.repo_root / SPLIT_FILE_IN_REPO)
        return "package"

    @cached_property
    def _split_of_listed(self) -> dict[str, str]:
        if self.split_source == "package":
            text = resources.files("movie101v2_hf.data").joinpath(PACKAGED_SPLIT_FILE).read_text("utf-8")
            source = f"movie101v2_hf/data/{PACKAGED_SPLIT_FILE}"
        else:
            source = self.split_source
            text = read_text(source, what="split file")
        try:
            lists = json.loads(text)
        except json.JSONDecodeError as err:
            raise ReleaseFormatError(f"not valid JSON ({err.msg})", path=source, line=err.lineno) from None
        split_of: dict[str, str] = {}
        for key, split in (("val", "validation"), ("test", "test")):
            if not isinstance(lists.get(key), list):
                raise ReleaseFormatError(f'expected a list of movie ids under "{key}"', path=source)
            for movie_id in lists[key]:
                split_of[str(movie_id)] = split
        return split_of

    def split_of(self, movie_id: str) -> str:
        """`"validation"` or `"test"` for the movies the public split lists there; every other movie is train."""
        return self._split_of_listed.get(movie_id, "train")

    # -- movies -----------------------------------------------------------------------------------------------

    @cached_property
    def movie_ids(self) -> list[str]:
        """Ids of all movies that have a meta file, sorted."""
        if not self.meta_dir.is_dir():
            raise FileNotFoundError(f"{self.meta_dir} does not exist: the release has no movie metadata.")
        return sorted(path.stem for path in self.meta_dir.glob("*.json"))

    def movies_in_split(self, split: str) -> list[str]:
        """Movie ids of `split` (`train`, `validation` or `test`) present in this copy, sorted."""
        if split not in SPLITS:
            raise ValueError(f"Unknown split {split!r}; expected one of {SPLITS}.")
        return [movie_id for movie_id in self.movie_ids if self.split_of(movie_id) == split]

    def check_movie_id(self, movie_id: str) -> None:
        """Raise `UnknownMovieError` unless the release has metadata for `movie_id`."""
        if not (self.meta_dir / f"{movie_id}.json").is_file():
            raise UnknownMovieError(
                f"Unknown movie id {movie_id!r}: {self.meta_dir / (movie_id + '.json')} does not exist. "
                f"The release at {self.data_dir} has {len(self.movie_ids)} movies."
            )

    def movie(self, movie_id: str) -> Movie:
        """Metadata of one movie, read once and cached."""
        if movie_id not in self._movies:
            self.check_movie_id(movie_id)
            self._movies[movie_id] = self._read_movie(movie_id)
        return self._movies[movie_id]

    def _read_movie(self, movie_id: str) -> Movie:
        path = self.meta_dir / f"{movie_id}.json"
        meta = read_json(path, what="meta file", error=ReleaseFormatError)
        if not isinstance(meta, dict) or not isinstance(meta.get("role", {}), dict):
            raise ReleaseFormatError('expected a JSON object whose "role" maps actor ids to objects', path=path)
        for actor_id, entry in meta.get("role", {}).items():
            if not isinstance(entry, dict):
                raise ReleaseFormatError(
                    f'"role" entry {actor_id!r} is {entry!r}; expected an object like '
                    '{"actor": ..., "role": ..., "role_en": ...}. Restore the file from the release.',
                    path=path,
                )
        if str(meta.get("id", movie_id)) != movie_id:
            raise ReleaseFormatError(f'"id" is {meta["id"]!r} but the file is named for {movie_id!r}', path=path)
        cast = []
        for actor_id, entry in meta.get("role", {}).items():
            portrait = self.portrait_dir / movie_id / f"{actor_id}.jpeg"
            if not portrait.is_file():
                raise MissingPortraitError(
                    f"actor {actor_id} ({entry.get('role', '?')}) is listed in the cast but has no portrait "
                    f"{portrait}. Restore the portrait folder from the release.",
                    path=path,
                )
            cast.append(
                CastMember(
                    actor_id=str(actor_id),
                    actor=str(entry.get("actor") or ""),
                    role=str(entry.get("role") or "").strip(),
                    role_en=str(entry.get("role_en") or "").strip(),
                    portrait=portrait,
                )
            )
        return Movie(
            movie_id=movie_id,
            title=str(meta.get("title") or ""),
            year=_parse_year(meta.get("year"), path),
            genre=_string_list(meta.get("genre"), "genre", path),
            intro=str(meta.get("intro") or ""),
            director=_string_list(meta.get("director"), "director", path),
            url=str(meta.get("url") or ""),
            subtitle=str(meta.get("subtitle") or ""),
            area=_string_list(meta.get("area"), "area", path),
            cast=tuple(cast),
            split=self.split_of(movie_id),
        )

    def verify_portraits(self, movie_id: str) -> None:
        """Decode every cast portrait of a movie, so that a corrupt file stops `prepare` instead of a later run.

        Raises:
            ReleaseFormatError: a portrait is not a readable image; the message names movie, actor and file.
        """
        for member in self.movie(movie_id).cast:
            try:
                with Image.open(member.portrait) as image:
                    image.load()
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
                raise ReleaseFormatError(
                    f"the portrait of actor {member.actor_id} ({member.actor or '?'}, playing "
                    f"{member.role or member.role_en or '?'}) in movie {movie_id} is not a readable image ({err}). "
                    "Restore the file from the release.",
                    path=member.portrait,
                ) from None

    # -- narration --------------------------------------------------------------------------------------------

    def narrated_movie_ids(self, kind: str) -> list[str]:
        """Ids of movies with a narration file of `kind`, checked against the metadata."""
        ids: set[str] = set()
        for language in LANGUAGES:
            folder = self.narration_path(kind, language, "x").parent
            if not folder.is_dir():
                raise FileNotFoundError(f"{folder} does not exist: the release has no {kind} {language} narration.")
            for path in folder.glob("*.txt"):
                if not (self.meta_dir / f"{path.stem}.json").is_file():
                    raise UnknownMovieError(
                        f"{path}: unknown movie id {path.stem!r}, there is no {self.meta_dir / (path.stem + '.json')}. "
                        "Remove the stray narration file or restore the movie's meta file."
                    )
                ids.add(path.stem)
        return sorted(ids)

    def read_narration(self, kind: str, language: str, movie_id: str) -> list[Narration]:
        """Parse one narration file; blank lines are skipped, everything else must be `H:M:S|H:M:S|text`."""
        path = self.narration_path(kind, language, movie_id)
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist; every narrated movie needs both an en and a zh file.")
        narrations = []
        for line_no, line in enumerate(read_text(path, what="narration file").split("\n"), start=1):
            line = line.rstrip("\r")
            if not line.strip():
                continue
            match = _LINE.match(line)
            if match is None:
                raise ReleaseFormatError(
                    f"malformed narration line {line[:80]!r}; expected H:M:S|H:M:S|text", path=path, line=line_no
                )
            try:
                start, end = parse_time(match["start"]), parse_time(match["end"])
            except ValueError as err:
                raise ReleaseFormatError(str(err), path=path, line=line_no) from None
            if end < start:
                raise ReleaseFormatError(
                    f"end {match['end']} is before start {match['start']}", path=path, line=line_no
                )
            narrations.append(Narration(start, end, match["text"].strip(), path, line_no))
        return narrations

    def clips(self, movie_id: str, kind: str = "long") -> list[Clip]:
        """The aligned English/Chinese clips of one movie, with characters completed across languages.

        Example:
            >>> clip = Release(sample_release).clips("iqy-17247000500")[0]
            >>> clip.characters["en"]
            ['You Tianming', 'You Bensheng', 'Jiao Sanye']
        """
        movie = self.movie(movie_id)
        by_language = {language: self.read_narration(kind, language, movie_id) for language in LANGUAGES}
        en, zh = by_language["en"], by_language["zh"]
        for position, (line_en, line_zh) in enumerate(zip(en, zh)):
            if (line_en.start, line_en.end) != (line_zh.start, line_zh.end):
                raise ReleaseFormatError(
                    f"timestamps differ from the aligned Chinese line {line_zh.path}:{line_zh.line} "
                    f"(narration #{position + 1})",
                    path=line_en.path,
                    line=line_en.line,
                )
        if len(en) != len(zh):
            longer = en if len(en) > len(zh) else zh
            extra = longer[min(len(en), len(zh))]
            raise ReleaseFormatError(
                f"{len(en)} English and {len(zh)} Chinese narrations for movie {movie_id}; "
                "the files must be aligned line by line",
                path=extra.path,
                line=extra.line,
            )
        zh_to_en = {m.role: m.role_en for m in movie.cast if m.role and m.role_en}
        en_to_zh = {m.role_en: m.role for m in movie.cast if m.role and m.role_en}
        clips = []
        for index, (line_en, line_zh) in enumerate(zip(en, zh)):
            characters = {
                "en": merge_characters(line_en.text, line_en.marked_names, line_zh.marked_names, zh_to_en),
                "zh": merge_characters(line_zh.text, line_zh.marked_names, line_en.marked_names, en_to_zh),
            }
            clips.append(
                Clip(
                    clip_id=clip_id(movie_id, kind, index),
                    movie_id=movie_id,
                    index=index,
                    start=line_en.start,
                    end=line_en.end,
                    narrations={"en": line_en, "zh": line_zh},
                    characters=characters,
                )
            )
        return clips

    def iter_clips(self, kind: str = "long", movie_ids: Iterable[str] | None = None) -> Iterator[Clip]:
        """Clips of several movies (all narrated movies by default), movie by movie."""
        for movie_id in self.narrated_movie_ids(kind) if movie_ids is None else movie_ids:
            yield from self.clips(movie_id, kind)


def clip_id(movie_id: str, kind: str, index: int) -> str:
    """The stable id of a clip: movie id, narration set and 0-based line index.

    Example:
        >>> clip_id("iqy-17247000500", "long", 3)
        'iqy-17247000500_long_00003'
    """
    return f"{movie_id}_{kind}_{index:05d}"


def _parse_year(value: object, path: Path) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise ReleaseFormatError(f'"year" is {value!r}; expected a year as an int or a string of digits', path=path)


def _string_list(value: object, key: str, path: Path) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(item) for item in value)
    raise ReleaseFormatError(f'"{key}" is {value!r}; expected a list of strings', path=path)
