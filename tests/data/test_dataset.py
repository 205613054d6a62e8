"""`prepare` output loaded back with plain `datasets`, the builder class, portraits, atomic writes."""

from __future__ import annotations

import json

import pytest
from datasets import load_dataset

from movie101v2_hf.data.builder import CONFIG_LAYOUT, Movie101v2Builder
from movie101v2_hf.data.loading import PortraitAttacher
from movie101v2_hf.data.prepare import MANIFEST, prepare_dataset
from movie101v2_hf.data.release import Release
from movie101v2_hf.errors import ReleaseFormatError
from tests.conftest import SAMPLE_MOVIES


@pytest.fixture(scope="module")
def sample_prepared(sample_release, tmp_path_factory):
    out = tmp_path_factory.mktemp("sample") / "prepared"
    prepare_dataset(sample_release, out, show_progress=False)
    return out


def _expected_count(release, kind, split):
    return sum(len(release.clips(m, kind)) for m in release.movies_in_split(split))


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("config", ["en", "zh", "bilingual", "en-short", "zh-short"])
def test_load_prepared_configs(sample_release, sample_prepared, config, streaming):
    release = Release(sample_release)
    kind = CONFIG_LAYOUT[config][0]
    for split in ("train", "validation", "test"):
        rows = list(load_dataset(str(sample_prepared), config, split=split, streaming=streaming))
        assert len(rows) == _expected_count(release, kind, split)
        assert len({row["clip_id"] for row in rows}) == len(rows)
        assert {row["movie_id"] for row in rows} == set(release.movies_in_split(split))


def test_clip_rows_content(sample_prepared):
    en = load_dataset(str(sample_prepared), "en", split="train")
    zh = load_dataset(str(sample_prepared), "zh", split="train")
    assert en["clip_id"] == zh["clip_id"]  # aligned languages share clip ids
    first = next(row for row in en if row["movie_id"] == "iqy-17247000500")
    second = en[en["clip_id"].index("iqy-17247000500_long_00001")]
    assert first["clip_id"] == "iqy-17247000500_long_00000" and first["prev_narration"] is None
    assert first["prev_end"] is None
    assert (second["start"], second["end"], second["prev_end"]) == (42.0, 65.0, 42.0)
    assert second["prev_narration"] == first["narration"]
    assert first["narration_raw"].count("[") == 4 and "[" not in first["narration"]
    assert first["characters"] == ["You Tianming", "You Bensheng", "Jiao Sanye"]
    assert first["cast"] == ["Jiao Sanye", "You Tianming", "Brother Er", "Lan Yu", "Shiniang"]
    assert "video" not in en.column_names  # prepared without movies
    zh_first = zh[en["clip_id"].index("iqy-17247000500_long_00000")]
    assert zh_first["cast"][0] == "焦三爷"


def test_default_config_is_en(sample_prepared):
    default = load_dataset(str(sample_prepared), split="test")
    assert default["narration"] == load_dataset(str(sample_prepared), "en", split="test")["narration"]


def test_bilingual_rows(sample_prepared):
    row = load_dataset(str(sample_prepared), "bilingual", split="validation")[0]
    assert row["narration_en"] and row["narration_zh"]
    assert len(row["characters_en"]) == len(row["characters_zh"])


def test_movies_config_and_portraits(sample_release, sample_prepared):
    movies = load_dataset(str(sample_prepared), "movies")
    assert {split: len(movies[split]) for split in movies} == {"train": 2, "validation": 1, "test": 1}
    iqiyi = next(row for row in movies["train"] if row["movie_id"] == "iqy-17247000500")
    assert iqiyi["year"] == 2023 and iqiyi["genre"] == [] and iqiyi["director"] == ["吴天明"]
    assert [member["role_en"] for member in iqiyi["cast"]][:2] == ["Jiao Sanye", "You Tianming"]
    portrait = iqiyi["cast"][0]["portrait"]
    source = sample_release / "Movie101v2/data/metadata/portrait/iqy-17247000500/214365405.jpeg"
    from PIL import Image

    assert portrait.size == Image.open(source).size

    attach = PortraitAttacher(movies["train"], language="en", max_portraits=2)
    clips = load_dataset(str(sample_prepared), "en", split="train").with_transform(attach)
    row = clips[clips["clip_id"].index("iqy-17247000500_long_00003")]
    assert row["characters"] == ["You Tianming", "Jiao Sanye"]
    assert [p["name"] for p in row["portraits"]] == ["You Tianming", "Jiao Sanye"]
    assert row["portraits"][0]["image"].size == Image.open(source.with_name("215438005.jpeg")).size
    only = PortraitAttacher(movies["train"], language="zh", only_characters=True)
    assert [p["name"] for p in only.portraits("iqy-17247000500", ["游天鸣"])] == ["游天鸣"]
    with pytest.raises(KeyError, match="not in the `movies` rows"):
        attach.portraits("6965779678749524488", [])


def test_card_and_manifest(sample_release, sample_prepared):
    from huggingface_hub import DatasetCard

    from movie101v2_hf.data.builder import LICENSE_LINK, Movie101v2Builder

    card = (sample_prepared / "README.md").read_text("utf-8")
    data = DatasetCard(card).data  # as the Hub reads it
    assert (data.license, data.license_name, data.license_link) == (
        "other",
        "movie101-dataset-license-agreement",
        LICENSE_LINK,
    )
    assert "## License and terms of use" in card and "CC BY" not in card
    assert "Movie101 Dataset License Agreement v1.0" in card and "non-commercial academic research" in card
    assert "keep it private" in card
    assert "Movie101 Dataset License Agreement" in Movie101v2Builder(config_name="en", data_dir="x").info.license
    assert "- config_name: en\n  default: true\n" in card
    release = Release(sample_release)
    counts = [_expected_count(release, "long", split) for split in ("train", "validation", "test")]
    assert f"| `en` | {counts[0]} | {counts[1]} | {counts[2]} | {sum(counts)} |" in card
    assert "arXiv:2404.13370" in card
    manifest = json.loads((sample_prepared / MANIFEST).read_text("utf-8"))
    assert manifest["counts"]["en-short"]["test"] == 160 and manifest["movies"]["train"] == 2


def test_builder_class_yields_the_same_rows(sample_release, sample_prepared, tmp_path):
    import importlib.util
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "loading_script" / "movie101v2.py"
    spec = importlib.util.spec_from_file_location("movie101v2_script", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # `datasets` looks the builder's module up by name
    spec.loader.exec_module(module)
    assert issubclass(module.Movie101v2, Movie101v2Builder)
    for config in ("en", "zh-short", "movies"):
        builder = module.Movie101v2(config_name=config, data_dir=str(sample_release), cache_dir=str(tmp_path))
        builder.download_and_prepare()
        built = builder.as_dataset()
        prepared = load_dataset(str(sample_prepared), config)
        for split in ("train", "validation", "test"):
            assert built[split].features == prepared[split].features
            assert built[split].to_list() == prepared[split].to_list()


def test_prepare_refuses_to_overwrite(sample_release, sample_prepared):
    with pytest.raises(FileExistsError, match="--overwrite"):
        prepare_dataset(sample_release, sample_prepared, configs=["en"], show_progress=False)


def test_failed_prepare_leaves_nothing(sample_copy, tmp_path):
    # the last movie of the last split breaks: the configs written before it must not be left behind
    bad = sample_copy / "Movie101v2/data/narration/short-71k-zh/6965779678749524488.txt"
    bad.write_text(bad.read_text("utf-8").replace("|", " ", 1), "utf-8")
    out = tmp_path / "out"
    with pytest.raises(ReleaseFormatError, match=f"{bad}:1: malformed"):
        prepare_dataset(sample_copy, out, configs=["en", "zh-short"], show_progress=False)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [sample_copy]


def test_prepare_with_missing_videos(sample_release, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / f"{SAMPLE_MOVIES[0]}.mp4").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="3 of 4 movies have no file in"):
        prepare_dataset(sample_release, tmp_path / "out", videos=videos, show_progress=False)


def test_video_base_rows_point_at_urls(sample_release, tmp_path):
    out = tmp_path / "out"
    prepare_dataset(
        sample_release, out, video_base="hf://datasets/org/movies/videos/", configs=["en"], show_progress=False
    )
    from datasets import Video

    ds = load_dataset(str(out), "en", split="test").cast_column("video", Video(decode=False))
    assert ds[0]["video"]["path"] == "hf://datasets/org/movies/videos/6965779678749524488.mp4"


def test_reprepared_folder_is_not_served_from_a_stale_cache(sample_release, tmp_path):
    out = tmp_path / "out"
    prepare_dataset(sample_release, out, configs=["en"], show_progress=False)
    assert "video" not in load_dataset(str(out), "en", split="test").column_names
    prepare_dataset(sample_release, out, configs=["en"], video_base="https://x/m", overwrite=True, show_progress=False)
    assert "video" in load_dataset(str(out), "en", split="test").column_names
