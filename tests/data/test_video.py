"""The clip sampler on FFmpeg-made movies whose frames carry their index: the right frames, fast paths, errors."""

from __future__ import annotations

import math
import shutil

import pytest
import torch
from datasets import load_dataset

from movie101v2_hf.data.synthetic import read_frame_index
from movie101v2_hf.data.video import ClipSampler, collate_clips, sample_times
from movie101v2_hf.errors import ClipDecodeError

FPS = 10  # of the `indexed_movie` fixture


def _indices(frames):
    return [read_frame_index(frame) for frame in frames]


def test_uniform_frames_are_the_right_ones(indexed_movie):
    frames, times = ClipSampler(num_frames=8).decode(str(indexed_movie), 2.0, 6.0, clip_id="c")
    assert frames.dtype == torch.uint8 and frames.shape == (8, 3, 96, 160)
    assert times.tolist() == sample_times(2.0, 6.0, 8)
    assert all(2.0 <= t <= 6.0 for t in times.tolist())
    # the frame played at t is frame floor(t * fps)
    assert _indices(frames) == [math.floor(t * FPS) for t in times.tolist()]


def test_fps_mode_and_max_frames(indexed_movie):
    frames, times = ClipSampler(fps=2).decode(str(indexed_movie), 1.0, 5.0)
    assert len(frames) == 8 and _indices(frames) == [math.floor(t * FPS) for t in times.tolist()]
    capped_frames, capped = ClipSampler(fps=2, max_frames=3).decode(str(indexed_movie), 1.0, 5.0)
    # subsampled over the whole clip, not cut short
    assert len(capped) == 3 and capped[0] < 2.0 and capped[-1] > 4.0
    assert _indices(capped_frames) == [math.floor(t * FPS) for t in capped.tolist()]
    one, _ = ClipSampler(fps=1).decode(str(indexed_movie), 3.0, 3.4)
    assert len(one) == 1


def test_zero_length_clip_and_movie_end(indexed_movie):
    frames, times = ClipSampler(num_frames=3).decode(str(indexed_movie), 4.0, 4.0)
    assert times.tolist() == [4.0, 4.0, 4.0] and _indices(frames) == [40, 40, 40]
    # annotations are rounded to whole seconds: ending up to 1 s past the end takes the last frame
    frames, times = ClipSampler(num_frames=2).decode(str(indexed_movie), 11.0, 12.8)
    assert _indices(frames) == [math.floor(times[0].item() * FPS), 119]


def test_resize(indexed_movie):
    frames, _ = ClipSampler(num_frames=2, size=(48, 80)).decode(str(indexed_movie), 0.0, 1.0)
    assert frames.shape == (2, 3, 48, 80)


def test_decoders_are_reused_and_bounded(indexed_movie, tmp_path):
    sampler = ClipSampler(num_frames=2, max_open_decoders=2)
    sampler.decode(str(indexed_movie), 0.0, 1.0)
    decoder = sampler.decoders.peek(str(indexed_movie))
    sampler.decode(str(indexed_movie), 5.0, 6.0)
    assert sampler.decoders.peek(str(indexed_movie)) is decoder
    copies = [shutil.copy(indexed_movie, tmp_path / f"{i}.mp4") for i in range(2)]
    for copy in copies:
        sampler.decode(copy, 0.0, 1.0)
    assert list(sampler.decoders) == [str(c) for c in copies]  # least recently used dropped


def test_the_decoder_cache_is_thread_safe(indexed_movie, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from movie101v2_hf.data.synthetic import read_frame_index

    sampler = ClipSampler(num_frames=3, max_open_decoders=2)
    movies = [str(indexed_movie)] + [shutil.copy(indexed_movie, tmp_path / f"{i}.mp4") for i in range(3)]
    opened = []
    real_open = sampler._open
    sampler._open = lambda path, clip_id: (opened.append(path), real_open(path, clip_id))[1]
    jobs = [(movies[k % 4], float(k % 9)) for k in range(48)]

    def decode(job):
        movie, start = job
        frames, times = sampler.decode(movie, start, start + 1.5)
        return [read_frame_index(frame) for frame in frames], [round(float(t) * 10) for t in times]

    expected = [decode(job) for job in jobs]  # one thread
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(decode, jobs))
    assert results == expected  # every frame is the one asked for: no decoder was shared mid-decode
    assert expected[9][0] == [2, 7, 12]  # and those are the frames of [0 s, 1.5 s] at 10 fps
    assert len(sampler.decoders) <= 2 and len(opened) >= 4  # bounded, least recently used closed


def test_errors_name_clip_and_file(indexed_movie, tmp_path):
    sampler = ClipSampler(num_frames=2)
    missing = tmp_path / "missing.mp4"
    with pytest.raises(ClipDecodeError, match="does not exist") as info:
        sampler.decode(str(missing), 0.0, 1.0, clip_id="m_long_00001")
    assert "m_long_00001" in str(info.value) and str(missing) in str(info.value)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a movie" * 100)
    with pytest.raises(ClipDecodeError, match="cannot be decoded as a video") as info:
        sampler.decode(str(garbage), 0.0, 1.0, clip_id="c0")
    assert str(garbage) in str(info.value)
    truncated = tmp_path / "truncated.mp4"  # the index is intact (faststart), the frames are cut off
    truncated.write_bytes(indexed_movie.read_bytes()[:2000])
    with pytest.raises(ClipDecodeError, match="corrupt or incomplete") as info:
        sampler.decode(str(truncated), 0.0, 1.0, clip_id="c1")
    assert str(truncated) in str(info.value) and "'c1'" in str(info.value)
    with pytest.raises(ClipDecodeError, match=r"lies past the movie's end \(12.00s\)") as info:
        sampler.decode(str(indexed_movie), 10.0, 20.0, clip_id="late")
    assert "'late'" in str(info.value)
    with pytest.raises(ClipDecodeError, match="no movie"):
        sampler.decode(None, 0.0, 1.0, clip_id="x")


def test_invalid_options():
    with pytest.raises(ValueError, match="num_frames"):
        ClipSampler(num_frames=0)
    with pytest.raises(ValueError, match="fps"):
        ClipSampler(fps=-1)
    with pytest.raises(ValueError, match="size"):
        ClipSampler(size=(0, 10))


def test_with_transform_on_prepared_dataset(mini_prepared):
    clips = load_dataset(str(mini_prepared), "en", split="test")
    sampled = ClipSampler(num_frames=4).apply(clips)
    row = sampled[1]
    fps = 24  # of the mini-release movies
    assert row["frames"].shape[0] == 4
    assert all(row["start"] <= t <= row["end"] for t in row["frame_timestamps"].tolist())
    assert _indices(row["frames"]) == [math.floor(t * fps) for t in row["frame_timestamps"].tolist()]
    batch = sampled[:2]
    assert len(batch["frames"]) == 2 and batch["clip_id"] == clips["clip_id"][:2]


def test_streaming_map(mini_prepared):
    stream = load_dataset(str(mini_prepared), "en-short", split="validation", streaming=True)
    rows = list(ClipSampler(fps=1, max_frames=4).apply(stream))
    assert len(rows) == load_dataset(str(mini_prepared), "en-short", split="validation").num_rows
    for row in rows:
        assert 1 <= len(row["frames"]) <= 4
        assert all(row["start"] <= t <= row["end"] for t in row["frame_timestamps"].tolist())


def test_dataloader_with_two_workers(mini_prepared):
    clips = load_dataset(str(mini_prepared), "en", split="train")
    sampled = ClipSampler(num_frames=3, size=(60, 80)).apply(clips)
    loader = torch.utils.data.DataLoader(sampled, batch_size=2, num_workers=2, collate_fn=collate_clips)
    seen = []
    for batch in loader:
        assert batch["frames"].shape[1:] == (3, 3, 60, 80)
        seen += batch["clip_id"]
    assert seen == clips["clip_id"]
    ragged = collate_clips([{"frames": torch.zeros(2, 3, 4, 4)}, {"frames": torch.zeros(1, 3, 4, 4)}])
    assert isinstance(ragged["frames"], list)


def test_rows_without_video_column(sample_release, tmp_path):
    from movie101v2_hf.data.prepare import prepare_dataset

    prepare_dataset(sample_release, tmp_path / "out", configs=["en"], show_progress=False)
    clips = load_dataset(str(tmp_path / "out"), "en", split="test")
    with pytest.raises(KeyError, match="--videos DIR"):
        ClipSampler().apply(clips)


def test_http_range_requests(indexed_movie, http_server, tmp_path):
    # a movie long enough that fetching all of it would show
    from movie101v2_hf.data.synthetic import make_movie

    long_movie = make_movie(tmp_path / "long.mp4", duration=300, fps=10, width=160, height=96, keyframe_interval=10)
    base, handler = http_server(tmp_path)
    sampler = ClipSampler(num_frames=4, remote_block_size=1 << 16)
    frames, times = sampler.decode(f"{base}/long.mp4", 60.0, 62.0, clip_id="remote")
    assert _indices(frames) == [math.floor(t * FPS) for t in times.tolist()]
    assert handler.bytes_sent < long_movie.stat().st_size / 3  # the index and one GOP, not the movie
    with pytest.raises(ClipDecodeError, match="remote"):
        ClipSampler().decode(f"{base}/nope.mp4", 0.0, 1.0, clip_id="gone")


def test_our_errors_cross_process_boundaries_intact():
    # DataLoader workers and multiprocessing pickle exceptions; keyword-only constructors need their own reduce
    import pickle

    from movie101v2_hf.errors import ClipDecodeError, ReleaseFormatError

    decode = pickle.loads(pickle.dumps(ClipDecodeError("past the end", clip_id="c1", video="m.mp4")))
    assert (decode.clip_id, decode.video, str(decode)) == ("c1", "m.mp4", "clip 'c1' (movie file m.mp4): past the end")
    release = pickle.loads(pickle.dumps(ReleaseFormatError("bad time", path="a.txt", line=3)))
    assert (release.line, str(release)) == (3, "a.txt:3: bad time")
