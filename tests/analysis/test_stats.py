"""`movie101v2 stats` against a computation by hand from the release's own files, and Table 1 as published."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

from movie101v2_hf import cli
from movie101v2_hf.data.paper import paper_table1

PAPER = Path(__file__).resolve().parents[2] / ".." / "shared" / "papers" / "movie101v2-paper.md"
SPLIT_OF = {
    "6963491699926499871": "train",
    "iqy-17247000500": "train",
    "7042313900221694500": "validation",
    "6965779678749524488": "test",
}


def _seconds(stamp: str) -> int:
    h, m, s = (int(x) for x in stamp.split(":"))
    return 3600 * h + 60 * m + s


def _by_hand(release: Path, language: str, split: str) -> dict:
    """The statistics straight from the narration files (H:M:S|H:M:S|text), without the package's reader."""
    durations, lengths, marks = [], [], []
    for movie, where in SPLIT_OF.items():
        if split not in ("all", where):
            continue
        path = release / "Movie101v2" / "data" / "narration" / f"long-46k-{language}" / f"{movie}.txt"
        for line in path.read_text("utf-8").splitlines():
            if not line.strip():
                continue
            start, end, text = line.split("|", 2)
            durations.append(_seconds(end) - _seconds(start))
            lengths.append(len(re.findall(r"\w+", text)) if language == "en" else len(text))
            marks.append(text.count("["))
    return {
        "clips": len(durations),
        "L_v": sum(durations) / len(durations),
        "L_t": sum(lengths) / len(lengths),
        "N_char": sum(marks) / len(marks),
    }


@pytest.fixture(scope="module")
def stats_run(sample_release, tmp_path_factory):
    from movie101v2_hf.data.prepare import prepare_dataset

    root = tmp_path_factory.mktemp("stats")
    prepare_dataset(sample_release, root / "ds", configs=["en", "zh", "movies"], show_progress=False)
    assert cli.main(["stats", "--dataset", str(root / "ds"), "--out", str(root / "out")]) == 0
    return sample_release, root / "out"


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("split", ["train", "validation", "test", "all"])
def test_clip_statistics_equal_a_computation_by_hand(stats_run, language, split):
    release, out = stats_run
    ours = json.loads((out / "stats.json").read_text())["stats"][language][split]
    hand = _by_hand(release, language, split)
    assert ours["clips"] == hand["clips"]
    for key in ("L_v", "L_t", "N_char"):
        assert ours[key] == pytest.approx(hand[key], abs=1e-4), key
    assert sum(ours["distributions"]["text_length"].values()) == hand["clips"]


def test_casts_genres_table_and_figures(stats_run):
    release, out = stats_run
    movies = json.loads((out / "stats.json").read_text())["stats"]["movies"]["all"]
    metas = [json.loads((release / "Movie101v2/data/metadata/meta" / f"{m}.json").read_text()) for m in SPLIT_OF]
    assert movies["cast_mean"] == pytest.approx(sum(len(m["role"]) for m in metas) / len(metas), abs=1e-4)
    genres = [g for m in metas for g in (m["genre"] or [])]
    assert movies["genres"] == {g: genres.count(g) for g in movies["genres"]} and sum(
        movies["genres"].values()
    ) == len(genres)
    table = (out / "table1.md").read_text()
    assert "| Movie101v2-zh (paper) | 203 | 46K | 12.8 | 60.0 | 1.9 |" in table and "this dataset, zh / all" in table
    for name in ("fig2_characters.png", "fig3_lengths.png"):
        assert Image.open(out / name).width > 600


def test_packaged_table1_equals_the_papers():
    if not PAPER.is_file():
        pytest.skip(f"the paper is not at {PAPER.resolve()}")
    text = PAPER.read_text("utf-8")
    block = text[text.index("Dataset\t# movie") :].splitlines()[1:8]
    for line, row in zip(block, paper_table1()):
        cells = line.split("\t")
        number = lambda cell: None if cell == "-" else float(cell)  # noqa: E731
        assert cells[0] == row["dataset"] and cells[2] == row["clips"]
        assert int(cells[1].replace(",", "")) == row["movies"]
        assert [number(c) for c in cells[3:6]] == [row["L_v"], row["L_t"], row["N_char"]]


def test_stats_refuses_a_folder_it_did_not_write(stats_run, tmp_path, capsys):
    _, out = stats_run
    (tmp_path / "mine.txt").write_text("x")
    dataset = out.parent / "ds"
    assert cli.main(["stats", "--dataset", str(dataset), "--out", str(tmp_path)]) != 0
    assert "did not write" in capsys.readouterr().err and (tmp_path / "mine.txt").read_text() == "x"
