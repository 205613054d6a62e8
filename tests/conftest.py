"""Shared fixtures: the real sample release, frame-indexed movies, a range-capable HTTP server on loopback (the
mini-release and the offline, per-test caches come from the repository's conftest.py). Nothing here reaches the
network."""

from __future__ import annotations

import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

SAMPLE_RELEASE = Path(__file__).resolve().parents[1] / ".." / "shared" / "movie101v2-sample"
SAMPLE_MOVIES = ["6963491699926499871", "6965779678749524488", "7042313900221694500", "iqy-17247000500"]


@pytest.fixture(scope="session")
def sample_release() -> Path:
    """The four real movies of `../shared/movie101v2-sample`, read-only."""
    if not (SAMPLE_RELEASE / "Movie101v2" / "data").is_dir():
        pytest.skip(f"the real release sample is not at {SAMPLE_RELEASE.resolve()} (CI has it beside the clone)")
    return SAMPLE_RELEASE.resolve()


@pytest.fixture
def sample_copy(sample_release, tmp_path) -> Path:
    """A writable copy of the sample release, for tests that break it on purpose."""
    copy = tmp_path / "release"
    shutil.copytree(sample_release, copy)
    return copy


@pytest.fixture(scope="session")
def indexed_movie(tmp_path_factory) -> Path:
    """A 12-second 10 fps movie whose frame i carries the index i (see `synthetic.read_frame_index`)."""
    from movie101v2_hf.data.synthetic import make_movie

    return make_movie(tmp_path_factory.mktemp("movies") / "m.mp4", duration=12, fps=10, width=160, height=96)


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with HTTP Range support (the stdlib handler ignores Range), counting bytes sent."""

    bytes_sent = 0

    def log_message(self, *args):  # keep test output clean
        pass

    def send_head(self):
        path = self.translate_path(self.path)
        if not os.path.isfile(path):
            self.send_error(404)
            return None
        size = os.path.getsize(path)
        start, end = 0, size - 1
        header = self.headers.get("Range")
        if header and header.startswith("bytes="):
            first, _, last = header[6:].partition("-")
            start = int(first) if first else size - int(last)
            end = min(int(last), size - 1) if first and last else end
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        else:
            self.send_response(200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Content-Type", "video/mp4")
        stat = os.stat(path)
        self.send_header("ETag", f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"')  # as nginx makes it: size and mtime
        self.end_headers()
        handle = open(path, "rb")
        handle.seek(start)
        self._remaining = end - start + 1
        return handle

    def copyfile(self, source, outputfile):
        remaining = self._remaining
        while remaining > 0:
            chunk = source.read(min(1 << 16, remaining))
            if not chunk:
                break
            outputfile.write(chunk)
            remaining -= len(chunk)
            type(self).bytes_sent += len(chunk)


@pytest.fixture
def http_server():
    """Serve a folder over HTTP on 127.0.0.1 with range requests; yields (make_url, handler class)."""
    servers = []

    def serve(folder: Path) -> tuple[str, type[_RangeHandler]]:
        handler = type("Handler", (_RangeHandler,), {"bytes_sent": 0})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(folder)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", handler

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def sample_prepared_with_movies(sample_release, tmp_path_factory) -> Path:
    """The real sample release prepared with `--videos`, pointing at 2-minute FFmpeg-made stand-in movies.

    The release's movies are not distributed; clips of the first two minutes decode from the stand-ins
    (e.g. the first four clips of iqy-17247000500, 25-110 s).
    """
    from movie101v2_hf.data.prepare import prepare_dataset
    from movie101v2_hf.data.synthetic import make_movie

    root = tmp_path_factory.mktemp("sample-with-movies")
    for movie_id in SAMPLE_MOVIES:
        make_movie(root / "movies" / f"{movie_id}.mp4", duration=120, fps=4, width=96, height=64, keyframe_interval=5)
    prepare_dataset(sample_release, root / "prepared", videos=root / "movies", show_progress=False)
    return root / "prepared"


@pytest.fixture(scope="session")
def tiny_vlm(sample_release, tmp_path_factory) -> Path:
    """A tiny random Qwen2.5-VL with a tokenizer trained on the sample release's narrations."""
    from movie101v2_hf.data.release import Release
    from movie101v2_hf.testing import make_tiny_video_llm

    release = Release(sample_release)
    corpus = [
        narration.text for clip in release.clips("iqy-17247000500")[:8] for narration in clip.narrations.values()
    ]
    return make_tiny_video_llm(tmp_path_factory.mktemp("tiny-vlm") / "model", corpus)


@pytest.fixture(scope="session")
def clips(sample_prepared_with_movies):
    """The first four train clips of iqy-17247000500 (25-110 s: inside its 2-minute stand-in movie), English."""
    from movie101v2_hf.data.loading import load_clips

    return load_clips(str(sample_prepared_with_movies), "en", "train", movie_ids=["iqy-17247000500"], max_samples=4)


@pytest.fixture(scope="session")
def attacher(sample_prepared_with_movies):
    """English cast portraits of the sample, up to 5 per movie (the collator takes as many as its settings say)."""
    from movie101v2_hf.data.loading import load_portraits

    return load_portraits(str(sample_prepared_with_movies), "en", max_portraits=5)
