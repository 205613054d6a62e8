"""Parsing the release: the four real sample movies, and every kind of bad input."""

from __future__ import annotations

import json
import re

import pytest

from movie101v2_hf.data.release import Release, marked_names, merge_characters, parse_time, strip_markers
from movie101v2_hf.errors import MissingPortraitError, ReleaseFormatError, UnknownMovieError
from tests.conftest import SAMPLE_MOVIES


def _lines(path):
    return [line for line in path.read_text("utf-8").splitlines() if line.strip()]


def test_sample_movies_and_split(sample_release):
    release = Release(sample_release)
    assert release.movie_ids == sorted(SAMPLE_MOVIES)
    assert [release.split_of(m) for m in SAMPLE_MOVIES] == ["train", "test", "validation", "train"]
    assert release.movies_in_split("test") == ["6965779678749524488"]
    assert release.split_source.endswith("public_split.json")


def test_packaged_split_matches_the_release_copy(sample_release, sample_copy):
    # Without the repository's split file the packaged copy is used, and must give the same answer.
    import shutil

    shutil.rmtree(sample_copy / "Movie101v1")
    data_only = Release(sample_copy / "Movie101v2" / "data")
    assert data_only.split_source == "package"
    assert {m: data_only.split_of(m) for m in SAMPLE_MOVIES} == {
        m: Release(sample_release).split_of(m) for m in SAMPLE_MOVIES
    }
    assert data_only.split_of("never-listed") == "train"


def test_meta_quirks(sample_release):
    release = Release(sample_release)
    xigua, iqiyi = release.movie("6963491699926499871"), release.movie("iqy-17247000500")
    assert xigua.year == 2018 and isinstance(xigua.year, int)  # written as a string in the file
    assert iqiyi.year == 2023 and iqiyi.genre == ()  # an int, and an empty genre
    assert iqiyi.cast_names("en") == ["Jiao Sanye", "You Tianming", "Brother Er", "Lan Yu", "Shiniang"]
    assert all(member.portrait.is_file() for member in iqiyi.cast)


@pytest.mark.parametrize("kind", ["long", "short"])
def test_every_line_becomes_a_clip(sample_release, kind):
    release = Release(sample_release)
    for movie_id in SAMPLE_MOVIES:
        clips = release.clips(movie_id, kind)
        raw_en = _lines(release.narration_path(kind, "en", movie_id))
        raw_zh = _lines(release.narration_path(kind, "zh", movie_id))
        assert len(clips) == len(raw_en) == len(raw_zh)
        assert [c.narrations["en"].raw for c in clips] == [line.split("|", 2)[2].strip() for line in raw_en]
        assert len({c.clip_id for c in clips}) == len(clips)
        assert all(c.end >= c.start for c in clips)


def test_zero_length_segment_is_a_valid_clip(sample_release):
    clips = Release(sample_release).clips("iqy-17247000500", "short")
    zero = [c for c in clips if c.end == c.start]
    assert len(zero) == 1


def test_first_clip_text_and_characters(sample_release):
    clip = Release(sample_release).clips("iqy-17247000500")[0]
    assert (clip.start, clip.end) == (25.0, 42.0)
    assert clip.narrations["en"].text.startswith("A winding path on the Loess Plateau. The young You Tianming follows")
    assert "[" not in clip.narrations["zh"].text
    assert clip.characters["en"] == ["You Tianming", "You Bensheng", "Jiao Sanye"]
    assert clip.characters["zh"] == ["游天鸣", "尤本胜", "焦三爷"]


def test_english_characters_recovered_from_chinese_markers(sample_release):
    release = Release(sample_release)
    recovered = 0
    for movie_id in SAMPLE_MOVIES:
        movie = release.movie(movie_id)
        zh_to_en = {m.role: m.role_en for m in movie.cast}
        for clip in release.clips(movie_id):
            en_marked = clip.narrations["en"].marked_names
            expected = set(en_marked) | {zh_to_en[n] for n in clip.narrations["zh"].marked_names if n in zh_to_en}
            assert set(clip.characters["en"]) == expected
            if not en_marked and clip.characters["en"]:
                recovered += 1
    assert recovered > 50  # English lines that lost every marker still name their characters


def test_marker_helpers():
    assert strip_markers("[A B] sees [C].") == "A B sees C."
    assert marked_names("[A] [B] [A] [ ]") == ["A", "B"]
    assert parse_time("0:1:5") == 65.0
    assert merge_characters("B greets A.", ["A"], ["乙"], {"乙": "B"}) == ["B", "A"]
    assert merge_characters("x", ["A"], ["丙"], {}) == ["A"]
    with pytest.raises(ValueError, match="H:M:S"):
        parse_time("12.5")


def _narration(release_root, kind="long", language="en", movie_id="iqy-17247000500"):
    folder = "long-46k" if kind == "long" else "short-71k"
    return release_root / "Movie101v2" / "data" / "narration" / f"{folder}-{language}" / f"{movie_id}.txt"


def _replace_line(path, number, text):
    lines = path.read_text("utf-8").splitlines(keepends=True)
    lines[number - 1] = text + "\n"
    path.write_text("".join(lines), "utf-8")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("0:0:25|0:0:42", "malformed narration line"),
        ("0:0:25 0:0:42 text", "malformed narration line"),
        ("0:0:x|0:0:42|text", "invalid timestamp"),
        ("0:0:42|0:0:25|text", "end 0:0:25 is before start 0:0:42"),
    ],
)
def test_bad_narration_line_names_file_and_line(sample_copy, line, message):
    path = _narration(sample_copy)
    _replace_line(path, 7, line)
    with pytest.raises(ReleaseFormatError, match=re.escape(message)) as info:
        Release(sample_copy).clips("iqy-17247000500")
    assert str(info.value).startswith(f"{path}:7: ")
    assert info.value.line == 7


def test_misaligned_languages(sample_copy):
    path = _narration(sample_copy, language="zh")
    _replace_line(path, 3, "0:1:11|0:1:17|父亲把随身带的包裹放到地上。")
    with pytest.raises(ReleaseFormatError, match="timestamps differ") as info:
        Release(sample_copy).clips("iqy-17247000500")
    assert f"{path}:3" in str(info.value)


def test_unknown_movie_id(sample_copy):
    stray = _narration(sample_copy, movie_id="123-not-in-meta")
    stray.write_text("0:0:1|0:0:2|text\n", "utf-8")
    with pytest.raises(UnknownMovieError, match="unknown movie id '123-not-in-meta'") as info:
        Release(sample_copy).narrated_movie_ids("long")
    assert str(stray) in str(info.value)
    with pytest.raises(UnknownMovieError, match="Unknown movie id 'nope'"):
        Release(sample_copy).movie("nope")


def test_missing_portrait(sample_copy):
    portrait = sample_copy / "Movie101v2/data/metadata/portrait/iqy-17247000500/215438005.jpeg"
    portrait.unlink()
    with pytest.raises(MissingPortraitError, match="actor 215438005") as info:
        Release(sample_copy).movie("iqy-17247000500")
    assert str(portrait) in str(info.value)
    assert "iqy-17247000500.json" in str(info.value)


def test_bad_year_and_json(sample_copy):
    meta = sample_copy / "Movie101v2/data/metadata/meta/iqy-17247000500.json"
    data = json.loads(meta.read_text("utf-8"))
    data["year"] = "twenty"
    meta.write_text(json.dumps(data), "utf-8")
    with pytest.raises(ReleaseFormatError, match="\"year\" is 'twenty'"):
        Release(sample_copy).movie("iqy-17247000500")
    meta.write_text("{\n  oops", "utf-8")
    with pytest.raises(ReleaseFormatError, match="not valid JSON") as info:
        Release(sample_copy).movie("iqy-17247000500")
    assert info.value.line == 2


def test_not_a_release(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a Movie101v2 release"):
        Release(tmp_path)


def test_mini_release_has_the_real_layout_and_quirks(mini_release):
    release = Release(mini_release)
    assert release.split_source.endswith("public_split.json")
    assert {split: release.movies_in_split(split) for split in ("train", "validation", "test")} == {
        "train": ["mini-0001", "mini-0002"],
        "validation": ["mini-0003"],
        "test": ["mini-0004"],
    }
    assert release.movie("mini-0001").year == 2019 and release.movie("mini-0002").genre == ()
    short = [clip for movie_id in release.movie_ids for clip in release.clips(movie_id, "short")]
    assert any(clip.start == clip.end for clip in short)
    lost = [c for c in short if not c.narrations["en"].marked_names and c.narrations["zh"].marked_names]
    assert lost and all(c.characters["en"] for c in lost)
    for movie_id in release.movie_ids:
        assert (mini_release / "videos" / f"{movie_id}.mp4").is_file()
        assert len(list((release.portrait_dir / movie_id).glob("*.jpeg"))) == len(release.movie(movie_id).cast) + 1
