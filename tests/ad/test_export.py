"""`movie101v2 export` end to end on the mini-release: tracks, espeak-ng speech, the ducked mix measured, a real
kill resumed, and the errors and refusals a user meets."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from movie101v2_hf.ad.audio import probe, read_wav
from movie101v2_hf.ad.export import ExportOptions, export_ad, export_summary
from movie101v2_hf.ad.tracks import read_dapt, read_srt, read_vtt
from movie101v2_hf.data.synthetic import SOUNDTRACK_TONE
from movie101v2_hf.utils.outputs import OwnershipError

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
RAMP = 0.25


@pytest.fixture(scope="module")
def exported(mini_prepared, tmp_path_factory):
    from datasets import load_dataset

    out = tmp_path_factory.mktemp("export") / "ad"
    record = export_ad(
        ExportOptions(dataset=str(mini_prepared), references=True, speak=True, out=str(out), show_progress=False)
    )
    assert record.complete
    return out, load_dataset(str(mini_prepared), "en", split="test")


def test_every_track_has_one_cue_per_clip(exported):
    out, test = exported
    movie = test[0]["movie_id"]
    expected = [(c, s, e, t) for c, s, e, t in zip(test["clip_id"], test["start"], test["end"], test["narration"])]
    for cues in (
        read_vtt(out / f"{movie}.vtt"),
        read_dapt(out / f"{movie}.dapt.ttml"),
        read_srt(out / f"{movie}.srt", test["clip_id"]),
    ):
        assert [(c.id, c.start, c.end, c.text) for c in cues] == expected


def test_speech_is_placed_at_each_cue_and_overruns_are_measured(exported):
    out, test = exported
    line = export_summary(out)[0]
    track, rate = read_wav(out / f"{line['movie_id']}.ad.wav")
    for clip in line["clips"]:
        speech, speech_rate = read_wav(out / clip["audio"])
        assert clip["spoken"] == pytest.approx(len(speech) / speech_rate, abs=2e-3)
        assert clip["overrun"] == pytest.approx(max(0.0, clip["spoken"] - (clip["end"] - clip["start"])), abs=2e-3)
        start = round(clip["start"] * rate)
        assert np.abs(track[start : start + rate // 2]).max() > 0.05  # speech from its start
    first = round(line["clips"][0]["start"] * rate)
    assert np.abs(track[:first]).max() < 1e-3  # and nothing before the first description
    assert line["overruns"] == sum(c["overrun"] > 0 for c in line["clips"])


def _tone_db(samples, rate, begin, end):
    segment = samples[int(begin * rate) : int(end * rate)]
    times = np.arange(len(segment)) / rate
    return 20 * np.log10(abs(np.dot(segment, np.exp(-2j * np.pi * SOUNDTRACK_TONE * times))) * 2 / len(segment))


def test_the_mix_ducks_the_original_under_each_description_and_nowhere_else(exported, tmp_path):
    out, _ = exported
    line = export_summary(out)[0]
    mkv = out / f"{line['movie_id']}.ad.mkv"
    streams = probe(mkv)["streams"]
    assert [s["codec_type"] for s in streams] == ["video", "audio", "audio"]
    assert streams[2]["disposition"]["visual_impaired"] == 1 and streams[2]["tags"]["language"] == "eng"
    tracks = {}
    for index in (0, 1):  # the original and the AD mix, decoded by FFmpeg
        wav = tmp_path / f"a{index}.wav"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(mkv), "-map", f"0:a:{index}", "-ac", "1", str(wav)], check=True
        )
        tracks[index] = read_wav(wav)
    (original, rate), (mix, _) = tracks[0], tracks[1]
    windows = [(c["start"], c["start"] + c["spoken"]) for c in line["clips"]]
    inside = [(s + RAMP + 0.05, e - 0.05) for s, e in windows if e - s > RAMP + 0.6]
    edges = [0.0] + [x for s, e in windows for x in (s, e + RAMP)] + [len(original) / rate]
    outside = [(a + 0.05, b - 0.05) for a, b in zip(edges[::2], edges[1::2]) if b - a > 0.6]
    assert inside and outside
    for begin, end in inside:
        drop = _tone_db(mix, rate, begin, end) - _tone_db(original, rate, begin, end)
        assert drop == pytest.approx(-12.0, abs=1.0), (begin, end)
    for begin, end in outside:
        assert _tone_db(mix, rate, begin, end) - _tone_db(original, rate, begin, end) == pytest.approx(0.0, abs=0.3)


def test_a_killed_export_resumes_without_redoing_or_doubling(mini_prepared, tmp_path):
    out = tmp_path / "ad"
    command = [sys.executable, "-m", "movie101v2_hf.cli", "export", "--dataset", str(mini_prepared), "--references",
               "--speak", "--split", "train", "--out", str(out)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lines = out / "export.jsonl"
    deadline = time.monotonic() + 120
    while not (lines.is_file() and lines.read_text().count("\n") >= 1) and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    first = export_summary(out)
    assert len(first) == 1, "the kill came after both movies: the test did not interrupt anything"
    record = json.loads((out / "export.run.json").read_text())
    assert record["complete"] is False
    kept = {p: p.stat().st_mtime_ns for p in (out / "speech" / first[0]["movie_id"]).iterdir()}
    assert subprocess.run(command, capture_output=True).returncode == 0
    lines = export_summary(out)
    assert sorted(line["movie_id"] for line in lines) == ["mini-0001", "mini-0002"]
    assert {p: p.stat().st_mtime_ns for p in kept} == kept  # the first movie's speech was not synthesized again
    assert json.loads((out / "export.run.json").read_text())["complete"] is True


def test_export_refuses_a_folder_it_did_not_write_and_bad_input(mini_prepared, tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    with pytest.raises(OwnershipError, match="did not write"):
        export_ad(
            ExportOptions(
                dataset=str(mini_prepared), references=True, out=str(theirs), overwrite=True, show_progress=False
            )
        )
    assert (theirs / "notes.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="one of the two"):
        ExportOptions(dataset=str(mini_prepared), out=str(tmp_path / "x"))
    predictions = tmp_path / "preds.jsonl"
    predictions.write_text(json.dumps({"clip_id": "mini-0004_long_00000", "narration": "x"}) + "\n")
    with pytest.raises(ValueError, match=r"no narration for 2 clip\(s\).*mini-0004_long_00001"):
        export_ad(
            ExportOptions(
                dataset=str(mini_prepared), predictions=str(predictions), out=str(tmp_path / "y"), show_progress=False
            )
        )
    with pytest.raises(ValueError, match="--movies nope"):
        export_ad(
            ExportOptions(
                dataset=str(mini_prepared),
                references=True,
                movies=["nope"],
                out=str(tmp_path / "z"),
                show_progress=False,
            )
        )


def test_the_cli_exits_with_a_message_when_no_engine_is_there(mini_prepared, tmp_path):
    env = {**os.environ, "PATH": os.path.dirname(sys.executable)}  # no espeak-ng on this PATH
    result = subprocess.run(
        [sys.executable, "-m", "movie101v2_hf.cli", "export", "--dataset", str(mini_prepared), "--references", "--speak", "--out", str(tmp_path / "o")],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert result.returncode != 0 and "espeak-ng is not on PATH" in result.stderr and "Traceback" not in result.stderr


def test_another_voice_after_overwrite_is_spoken_again(mini_prepared, tmp_path):
    def spoken(rate):
        options = ExportOptions(dataset=str(mini_prepared), references=True, speak=True, rate=rate, out=str(tmp_path / "ad"), overwrite=True, show_progress=False)  # fmt: skip
        assert export_ad(options).complete
        return [c["spoken"] for c in export_summary(tmp_path / "ad")[0]["clips"]]

    slow, fast = spoken(120), spoken(260)
    assert all(f < 0.7 * s for f, s in zip(fast, slow))  # the slow voice's WAVs were not reused
