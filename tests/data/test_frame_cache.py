"""`data.frame_cache` and `movie101v2 cache-frames`: decode once, read back the same frames; a changed movie or
another sampling is a miss; JPEG within its PSNR; the size cap; several processes filling one cache at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch

from movie101v2_hf.data.frame_cache import FrameCache, movie_identity, psnr
from movie101v2_hf.data.synthetic import make_movie
from movie101v2_hf.data.video import ClipSampler

CLIPS = [(0.5, 2.5), (3.0, 4.0), (4.2, 7.9), (1.0, 1.5)]


@pytest.fixture
def movie(tmp_path):
    return str(make_movie(tmp_path / "movie.mp4", duration=8, fps=10, width=96, height=64, keyframe_interval=2))


def test_lossless_frames_come_back_identical_and_are_not_decoded_again(movie, tmp_path):
    plain = ClipSampler(num_frames=5)
    cached = ClipSampler(num_frames=5, cache_dir=str(tmp_path / "cache"))
    first = [cached.decode(movie, *clip) for clip in CLIPS]
    assert (cached.cache.hits, cached.cache.misses) == (0, len(CLIPS))
    cached.decoders.close()
    again = [cached.decode(movie, *clip) for clip in CLIPS]
    assert cached.cache.hits == len(CLIPS) and len(cached.decoders) == 0  # no decoder was opened
    for (frames, _), (frames2, times2), clip in zip(first, again, CLIPS):
        decoded, decoded_times = plain.decode(movie, *clip)
        assert torch.equal(frames2, decoded) and torch.equal(frames, decoded) and frames2.dtype == torch.uint8
        assert torch.equal(times2, decoded_times) and times2.dtype == torch.float64


def test_a_changed_movie_or_another_sampling_is_never_served_stale(movie, tmp_path):
    cache_dir = str(tmp_path / "cache")
    sampler = ClipSampler(num_frames=3, cache_dir=cache_dir)
    before, _ = sampler.decode(movie, 1.0, 3.0)
    assert not torch.equal(ClipSampler(num_frames=4, cache_dir=cache_dir).decode(movie, 1.0, 3.0)[0][:3], before)
    assert ClipSampler(fps=2, max_frames=3, cache_dir=cache_dir).cache.hits == 0
    identity = movie_identity(movie)
    make_movie(movie, duration=8, fps=10, width=64, height=48)  # replaced in place: other size and content
    os.utime(movie, ns=(time.time_ns(), identity["mtime_ns"] + 10**9))
    after, _ = ClipSampler(num_frames=3, cache_dir=cache_dir).decode(movie, 1.0, 3.0)
    assert after.shape[-2:] == (48, 64) and before.shape[-2:] == (64, 96)


def test_jpeg_entries_are_small_and_within_their_psnr(movie, tmp_path):
    lossless = FrameCache(tmp_path / "lossless")
    jpeg = FrameCache(tmp_path / "jpeg", encoding="jpeg")
    frames, times = ClipSampler(num_frames=8).decode(movie, 0.5, 7.5)
    key = jpeg.key(movie_identity(movie), 0.5, 7.5, ClipSampler(num_frames=8).sampling)
    assert jpeg.put(key, frames, times) < lossless.put(key, frames, times)
    back, back_times = jpeg.get(key)
    assert back.shape == frames.shape and back.dtype == torch.uint8 and torch.equal(back_times, times)
    assert psnr(frames, back) >= 40 and psnr(frames, lossless.get(key)[0]) == float("inf")


def test_the_size_cap_evicts_the_least_recently_used(movie, tmp_path):
    sampler = ClipSampler(num_frames=4, cache_dir=str(tmp_path / "cache"))
    sampler.decode(movie, *CLIPS[0])
    entry = sampler.cache.entries()[0].stat().st_size
    capped = ClipSampler(num_frames=4, cache_dir=str(tmp_path / "cache"), cache_max_bytes=int(entry * 2.5))
    for clip in CLIPS[1:]:
        capped.decode(movie, *clip)
    assert len(capped.cache.entries()) == 2 and capped.cache.size() <= entry * 2.5
    capped.cache.hits = 0
    capped.decode(movie, *CLIPS[-1])  # the newest is kept, the first ones were evicted
    capped.decode(movie, *CLIPS[0])
    assert capped.cache.hits == 1


def test_bad_cache_settings_are_refused(tmp_path):
    with pytest.raises(ValueError, match="encoding 'png'"):
        FrameCache(tmp_path, encoding="png")
    with pytest.raises(ValueError, match="quality is 1-100"):
        FrameCache(tmp_path, encoding="jpeg", quality=0)


def test_a_remote_movie_is_keyed_by_its_url_size_and_version(movie, tmp_path, http_server):
    url, _ = http_server(tmp_path)
    remote = f"{url}/movie.mp4"
    identity = movie_identity(remote)
    assert identity["url"] == remote and identity["size"] == os.path.getsize(movie) and identity["version"]
    sampler = ClipSampler(num_frames=3, cache_dir=str(tmp_path / "cache"))
    frames, _ = sampler.decode(remote, 1.0, 3.0)
    sampler.decoders.close()
    assert torch.equal(sampler.decode(remote, 1.0, 3.0)[0], frames) and sampler.cache.hits == 1
    make_movie(movie, duration=8, fps=10, width=64, height=48)  # the server's file changes
    fresh = ClipSampler(num_frames=3, cache_dir=str(tmp_path / "cache"))  # a new process asks the server again
    assert movie_identity(remote)["version"] != identity["version"]
    assert fresh.decode(remote, 1.0, 3.0)[0].shape[-2:] == (48, 64) and fresh.cache.hits == 0


def test_two_cache_frames_runs_fill_one_cache_at_once(mini_prepared, tmp_path):
    cache = tmp_path / "frames"
    command = [sys.executable, "-m", "movie101v2_hf.cli", "cache-frames", "--dataset", str(mini_prepared)]
    command += ["--split", "train", "--frame-cache", str(cache), "--video-num-frames", "4", "--num-workers", "2"]
    runs = [
        subprocess.Popen([*command, "--out", str(tmp_path / f"run-{k}.jsonl")], stderr=subprocess.PIPE, text=True)
        for k in range(2)
    ]
    assert [run.wait(timeout=300) for run in runs] == [0, 0], [run.stderr.read() for run in runs]
    sampler = ClipSampler(num_frames=4)
    from movie101v2_hf.data.loading import load_clips

    clips = load_clips(str(mini_prepared), "en", "train")
    entries = FrameCache(cache).entries()
    assert len(entries) == len(clips)  # one entry per clip, whoever wrote it; no temporary file left
    assert not list(cache.glob("*/.*.tmp"))
    cached = ClipSampler(num_frames=4, cache_dir=str(cache))
    for row in clips:
        video = row["video"]["path"]
        assert torch.equal(
            cached.decode(video, row["start"], row["end"])[0], sampler.decode(video, row["start"], row["end"])[0]
        )
    assert cached.cache.hits == len(clips)
    # a rerun resumes: nothing left to do; with --overwrite every clip comes from the cache
    again = subprocess.run([*command, "--out", str(tmp_path / "run-0.jsonl"), "--overwrite"], capture_output=True)
    assert again.returncode == 0
    lines = (tmp_path / "run-0.jsonl").read_text().splitlines()
    assert len(lines) == len(clips) and all('"from_cache": true' in line for line in lines)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU with NVDEC (recipes/gpu_check.py runs it)")
def test_the_cuda_decoder_matches_the_cpu_path(movie):
    cpu, gpu = ClipSampler(num_frames=4), ClipSampler(num_frames=4, device="cuda")
    for clip in CLIPS:
        (a, times_a), (b, times_b) = cpu.decode(movie, *clip), gpu.decode(movie, *clip)
        assert b.device.type == "cuda" and torch.equal(times_a, times_b) and psnr(a, b.cpu()) >= 30


def test_a_streamed_split_reads_the_cache_like_a_map_style_one(mini_prepared, tmp_path):
    from movie101v2_hf.data.loading import load_clips

    sampler = ClipSampler(num_frames=3, cache_dir=str(tmp_path / "frames"))
    stream = sampler.apply(load_clips(str(mini_prepared), "en", "test", streaming=True))
    first = [row["frames"] for row in stream]
    again = [row["frames"] for row in sampler.apply(load_clips(str(mini_prepared), "en", "test", streaming=True))]
    assert len(first) == 3 and all(torch.equal(a, b) for a, b in zip(first, again))
    assert (sampler.cache.misses, sampler.cache.hits) == (3, 3)


def test_a_hub_movie_is_keyed_by_its_blob_id(monkeypatch):
    # the Hub cannot be reached here: its answer to `HfFileSystem.info` is stood in for (the shape it returns)
    from huggingface_hub import HfFileSystem

    answers = {"blob_id": "3f2a9c", "size": 1234}

    def info(self, path, **kwargs):
        return {"name": path, "size": answers["size"], "type": "file", "blob_id": answers["blob_id"], "lfs": None}

    monkeypatch.setattr(HfFileSystem, "info", info)
    url = "hf://datasets/my-org/movie101v2/videos/m.mp4"
    first = movie_identity(url)
    assert first == {"url": url, "size": 1234, "version": "3f2a9c"}
    answers["blob_id"] = "77e1d0"  # a new commit replaced the file: another identity, so another cache key
    assert movie_identity(url)["version"] == "77e1d0"
