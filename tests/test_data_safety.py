"""Data safety: what `prepare --overwrite` may replace, an atomic swap that survives kills, portraits decoded up
front, files that are not UTF-8, user mistakes without tracebacks, decode errors across DataLoader workers."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from datasets import load_dataset

from movie101v2_hf import cli
from movie101v2_hf.data.prepare import MANIFEST, prepare_dataset
from movie101v2_hf.data.release import Release
from movie101v2_hf.errors import ClipDecodeError, FileFormatError, ReleaseFormatError
from movie101v2_hf.evaluation import load_predictions


def _prepare(release, out, *extra):
    return cli.main(["prepare", "--release", str(release), "--out", str(out), "--configs", "en", "movies", *extra])


# -- what --overwrite may replace -------------------------------------------------------------------------------


def test_overwrite_never_replaces_the_release_or_a_folder_holding_it(sample_copy, capsys):
    before = sorted(p.relative_to(sample_copy) for p in sample_copy.rglob("*"))
    for target in (sample_copy, sample_copy.parent, sample_copy / "Movie101v2" / "data"):
        assert _prepare(sample_copy, target, "--overwrite") == 2
        err = capsys.readouterr().err
        assert "prepare never writes over the release" in err or "did not write" in err, err
    assert sorted(p.relative_to(sample_copy) for p in sample_copy.rglob("*")) == before


def test_overwrite_refuses_a_folder_that_prepare_did_not_write(sample_release, tmp_path, capsys):
    mine = tmp_path / "my-notes"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    assert _prepare(sample_release, mine, "--overwrite") == 2
    assert f"did not write (it has no {MANIFEST})" in capsys.readouterr().err
    assert (mine / "thesis.tex").read_text() == "years of work"


def test_out_that_is_a_file(sample_release, tmp_path, capsys):
    (tmp_path / "out.txt").write_text("x")
    assert _prepare(sample_release, tmp_path / "out.txt") == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_overwrite_replaces_a_prepared_dataset_and_cleans_leftovers(sample_release, tmp_path):
    out = tmp_path / "movie101v2"
    assert _prepare(sample_release, out) == 0
    leftover = tmp_path / ".movie101v2.partial-dead1234"  # a killed run's half-built folder
    (leftover / "en").mkdir(parents=True)
    (leftover / ".movie101v2-prepare.pid").write_text("999999999")
    assert _prepare(sample_release, out, "--overwrite") == 0
    assert not leftover.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["movie101v2"]
    assert load_dataset(str(out), "en", split="test").num_rows > 0


_KILLED_PREPARE = """
import sys, time
from movie101v2_hf.data import prepare as dataset

moment = sys.argv[3]
hooks = {"writing": "_write_shards", "swap": "_swap_into_place", "exchanged": "shutil.rmtree"}
def stop(*args, **kwargs):
    print("reached", flush=True)
    time.sleep(120)  # killed here

if moment == "exchanged":  # after the atomic exchange, before the old dataset is deleted
    dataset.shutil = type("Shutil", (), {"rmtree": staticmethod(stop)})
elif moment == "aside":  # the fallback without an atomic exchange: killed between its two renames
    dataset._exchange = lambda a, b: False
    real_rename = dataset.Path.rename
    def rename(self, target):
        result = real_rename(self, target)
        if ".old-" in str(target):
            stop()
        return result
    dataset.Path.rename = rename
else:
    setattr(dataset, hooks[moment], stop)
dataset.prepare_dataset(sys.argv[1], sys.argv[2], configs=["en"], overwrite=True, show_progress=False)
"""


@pytest.mark.parametrize("moment", ["writing", "swap", "exchanged", "aside"])
def test_a_kill_at_any_moment_leaves_a_loadable_dataset(sample_release, tmp_path, moment):
    out = tmp_path / "movie101v2"
    prepare_dataset(sample_release, out, configs=["en"], show_progress=False)
    run = subprocess.Popen(
        [sys.executable, "-c", _KILLED_PREPARE, str(sample_release), str(out), moment],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert run.stdout.readline().strip() == "reached"
    run.kill()
    run.wait()
    run.stdout.close()
    if moment == "aside":  # the one window without an atomic exchange: the next run puts the old dataset back
        assert not out.exists()
        prepare_dataset(sample_release, out, configs=["en"], overwrite=True, show_progress=False)
    assert load_dataset(str(out), "en", split="test").num_rows == 150
    assert json.loads((out / MANIFEST).read_text())["counts"]["en"]["test"] == 150
    prepare_dataset(sample_release, out, configs=["en"], overwrite=True, show_progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["movie101v2"]  # leftovers of the killed run are gone


# -- release files ------------------------------------------------------------------------------------------------


def test_a_corrupt_portrait_stops_prepare_naming_movie_actor_and_file(sample_copy, tmp_path, capsys):
    movie_id = "6965779678749524488"
    meta = json.loads((sample_copy / f"Movie101v2/data/metadata/meta/{movie_id}.json").read_text("utf-8"))
    actor_id, entry = next(iter(meta["role"].items()))
    portrait = sample_copy / f"Movie101v2/data/metadata/portrait/{movie_id}/{actor_id}.jpeg"
    portrait.write_bytes(portrait.read_bytes()[:200])  # truncated, as an interrupted download leaves it
    assert _prepare(sample_copy, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert f"{portrait}: the portrait of actor {actor_id} ({entry['actor']}" in err
    assert f"in movie {movie_id} is not a readable image" in err
    portrait.write_text("<html>not found</html>")
    with pytest.raises(ReleaseFormatError, match="is not a readable image"):
        Release(sample_copy).verify_portraits(movie_id)


def test_files_that_are_not_utf8_are_named_with_their_line(sample_copy, tmp_path, capsys):
    narration = sample_copy / "Movie101v2/data/narration/long-46k-zh/6965779678749524488.txt"
    lines = narration.read_text("utf-8").splitlines()
    narration.write_bytes(("\n".join(lines[:2]) + "\n").encode() + lines[2].encode("gb18030") + b"\n")
    assert _prepare(sample_copy, tmp_path / "out") == 2
    assert f"{narration}:3: the narration file is not UTF-8" in capsys.readouterr().err

    meta = sample_copy / "Movie101v2/data/metadata/meta/6965779678749524488.json"
    meta.write_bytes(meta.read_text("utf-8").encode("utf-16"))
    with pytest.raises(FileFormatError, match=r"6965779678749524488.json:1: the meta file is not UTF-8"):
        Release(sample_copy).movie("6965779678749524488")

    predictions = tmp_path / "preds.jsonl"
    predictions.write_bytes(
        b'{"clip_id": "a", "narration": "x"}\n' + '{"clip_id": "b", "narration": "他"}'.encode("gbk")
    )
    with pytest.raises(FileFormatError, match=r"preds.jsonl:2: the predictions file is not UTF-8"):
        load_predictions(predictions)


def test_a_utf8_bom_is_accepted_everywhere(sample_copy, tmp_path):
    bom = b"\xef\xbb\xbf"
    meta = sample_copy / "Movie101v2/data/metadata/meta/6965779678749524488.json"
    meta.write_bytes(bom + meta.read_bytes())
    split = sample_copy / "Movie101v1/dataset/Movie101-raw/annotation/public_split.json"
    split.write_bytes(bom + split.read_bytes())
    prompt = sample_copy / "Movie101v2/evaluation/prompt/L1_en.txt"
    prompt.write_bytes(bom + prompt.read_bytes())
    release = Release(sample_copy)
    assert release.movie("6965779678749524488").split == "test"
    from movie101v2_hf.judge import PromptSet

    assert (
        PromptSet.from_release(sample_copy, "en")
        .render("l1", reference="R", candidate="C")
        .startswith((sample_copy / "Movie101v2/evaluation/prompt/L1_en.txt").read_text("utf-8-sig")[:20])
    )
    predictions = tmp_path / "preds.jsonl"
    predictions.write_bytes(bom + b'{"clip_id": "a", "narration": "x"}\n')
    assert load_predictions(predictions) == {"a": "x"}
    assert _prepare(sample_copy, tmp_path / "out") == 0


def test_a_role_entry_that_is_not_an_object(sample_copy, capsys, tmp_path):
    meta = sample_copy / "Movie101v2/data/metadata/meta/6965779678749524488.json"
    data = json.loads(meta.read_text("utf-8"))
    actor_id = next(iter(data["role"]))
    data["role"][actor_id] = "Cheng Yong"
    meta.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    assert _prepare(sample_copy, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert f"{meta}: \"role\" entry {actor_id!r} is 'Cheng Yong'; expected an object" in err
    assert "Traceback" not in err


# -- decode errors across DataLoader workers ---------------------------------------------------------------------


def test_clip_decode_error_keeps_its_type_clip_and_file_across_workers(tmp_path):
    # torch re-raises a worker's error as type(err)(text); run it in a child so the DataLoader's workers are real
    script = textwrap.dedent("""
        import torch
        from movie101v2_hf.errors import ClipDecodeError

        class Clips(torch.utils.data.Dataset):
            def __len__(self):
                return 2

            def __getitem__(self, i):
                raise ClipDecodeError("the movie file does not exist", clip_id=f"m_long_0000{i}", video="/movies/m.mp4")

        try:
            next(iter(torch.utils.data.DataLoader(Clips(), num_workers=1)))
        except ClipDecodeError as err:
            print(type(err).__name__, err.clip_id, err.video, "|", err.message)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()
    assert (
        out
        == "ClipDecodeError m_long_00000 /movies/m.mp4 | the movie file does not exist (raised in a DataLoader worker)"
    )
    assert isinstance(ClipDecodeError("plain text without the format"), RuntimeError)
