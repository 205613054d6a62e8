"""Synthetic movies and a mini-release in the exact layout of Movie101v2.

The real release cannot ship inside this project, and its movies are only given out on application.
So the demo, the tests and the benchmarks run on material made here:

- `make_movie` encodes a test-pattern movie with FFmpeg whose bottom band carries the frame index
  as grey levels, so that a decoded frame says which frame it is (`read_frame_index`);
- `make_mini_release` writes a few such movies plus narration files, meta files, portraits and the
  split file, laid out like a copy of the Movie101 repository.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..constants import NARRATION_SETS
from ..utils.outputs import OutputFolder
from .release import SPLIT_FILE_IN_REPO

# The frame index is written in base 16 over `INDEX_DIGITS` blocks of the bottom band, one grey level
# per digit. Levels stay inside video range (16-235) so that YUV->RGB conversion does not clip them.
INDEX_DIGITS = 4
INDEX_BAND_HEIGHT = 16
_LEVEL_BASE, _LEVEL_STEP = 24, 13


SOUNDTRACK_TONE = 1000.0  # Hz, the classic test tone: the mini-release's soundtrack, a steady tone whose level the AD mix's ducking changes


def require_ffmpeg() -> str:
    """Path of the `ffmpeg` executable, or a `FileNotFoundError` that says how to install it."""
    path = shutil.which("ffmpeg")
    if path is None:
        raise FileNotFoundError(
            "ffmpeg is not on PATH. Install it (Debian/Ubuntu: `apt-get install -y ffmpeg`, macOS: "
            "`brew install ffmpeg`); `make demo` and `make test` do this for you."
        )
    return path


def make_movie(
    path: str | Path,
    *,
    duration: float,
    fps: int = 24,
    width: int = 320,
    height: int = 240,
    keyframe_interval: float = 2.0,
    pattern: str = "testsrc",
    tone: float | None = None,
) -> Path:
    """Encode an H.264 test movie whose frames carry their own index (and, with `tone`, a soundtrack).

    Args:
        path: the `.mp4` to write (parent folders are created; written atomically).
        duration: length in seconds.
        fps: frame rate; frame `i` is shown from `i / fps` seconds on.
        width, height: frame size (even numbers).
        keyframe_interval: seconds between keyframes (the benchmark uses 10 s, as long movies have).
        pattern: an FFmpeg test source (`testsrc`, `testsrc2`, `smptebars`, ...) for the picture above the band.
        tone: the frequency (Hz) of a sine soundtrack (AAC, 48 kHz, FFmpeg's sine at 1/8 of full scale, about the level of a dialogue
            mix), so that what is mixed under audio description can be measured; None: no audio.

    Returns:
        The path written.

    Example:
        >>> make_movie(tmp / "m.mp4", duration=2, fps=10).stat().st_size > 0
        True
    """
    if width % 2 or height % 2:
        raise ValueError(f"width and height must be even for yuv420p, got {width}x{height}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial.mp4")
    digit = f"mod(trunc(N/pow(16,{INDEX_DIGITS - 1}-trunc(X*{INDEX_DIGITS}/W))),16)"
    band = (
        f"color=c=gray:size={width}x{INDEX_BAND_HEIGHT}:rate={fps}:duration={duration},"
        f"format=yuv420p,geq=lum='{_LEVEL_BASE}+{_LEVEL_STEP}*{digit}':cb=128:cr=128"
    )
    command = [
        require_ffmpeg(),
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"{pattern}=size={width}x{height}:rate={fps}:duration={duration}",
        "-f",
        "lavfi",
        "-i",
        band,
        *_soundtrack(tone, duration),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        "20",
        "-g",
        str(max(1, round(keyframe_interval * fps))),
        "-keyint_min",
        str(max(1, round(keyframe_interval * fps))),
        "-sc_threshold",
        "0",
        "-movflags",
        "+faststart",
        str(tmp),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"ffmpeg failed to write {path}:\n{result.stderr.strip()}")
    tmp.replace(path)
    return path


def _soundtrack(tone: float | None, duration: float) -> list[str]:
    """FFmpeg's arguments from the overlay on: the picture, and a sine soundtrack of `tone` Hz (none without)."""
    picture = "[0:v][1:v]overlay=0:H-h:shortest=1,format=yuv420p[v]"
    if not tone:
        return ["-filter_complex", picture, "-map", "[v]", "-an"]
    sine = ["-f", "lavfi", "-i", f"sine=frequency={tone}:sample_rate=48000:duration={duration}"]
    graph = f"{picture};[2:a]aformat=channel_layouts=stereo[a]"
    return [*sine, "-filter_complex", graph, "-map", "[v]", "-map", "[a]", "-c:a", "aac", "-b:a", "128k"]


def read_frame_index(frame) -> int:
    """The frame index written by `make_movie` into a decoded frame (uint8, C x H x W, RGB).

    Example:
        >>> from torchcodec.decoders import VideoDecoder
        >>> decoder = VideoDecoder(str(make_movie(tmp / "m.mp4", duration=2, fps=10)))
        >>> read_frame_index(decoder.get_frame_at(5).data)
        5
    """
    band = frame[:, -INDEX_BAND_HEIGHT + 4 : -4, :].float().mean(dim=0)  # grey: average the channels
    width = band.shape[-1]
    index = 0
    for block in range(INDEX_DIGITS):
        left, right = block * width // INDEX_DIGITS, (block + 1) * width // INDEX_DIGITS
        rgb_level = band[:, left + (right - left) // 4 : right - (right - left) // 4].mean().item()
        luma = rgb_level * 219 / 255 + 16  # RGB full range back to the video-range level we wrote
        index = index * 16 + min(15, max(0, round((luma - _LEVEL_BASE) / _LEVEL_STEP)))
    return index


# -- the mini-release -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Role:
    actor_id: str
    actor: str
    role: str
    role_en: str


_CASTS = [
    [
        _Role("1001", "王一", "林夏", "Lin Xia"),
        _Role("1002", "李二", "周明", "Zhou Ming"),
        _Role("1003", "张三", "老陈", "Old Chen"),
    ],
    [
        _Role("2001", "赵四", "苏晴", "Su Qing"),
        _Role("2002", "钱五", "高远", "Gao Yuan"),
        _Role("2003", "孙六", "阿婆", "Granny"),
    ],
    [
        _Role("3001", "周七", "方舟", "Fang Zhou"),
        _Role("3002", "吴八", "小雨", "Xiao Yu"),
        _Role("3003", "郑九", "马队长", "Captain Ma"),
    ],
    [
        _Role("4001", "冯十", "叶青", "Ye Qing"),
        _Role("4002", "陈一", "白露", "Bai Lu"),
        _Role("4003", "褚二", "老何", "Old He"),
    ],
]
_PLACES = [
    ("In a narrow alley", "狭窄的小巷"),
    ("On a rooftop at dusk", "黄昏的屋顶"),
    ("In a crowded market", "拥挤的集市"),
    ("In a quiet kitchen", "安静的厨房"),
    ("On a train platform", "火车站台"),
    ("By the river", "河岸边"),
]
_ACTIONS = [
    ("walks toward", "走向"),
    ("looks at", "看着"),
    ("hands a letter to", "把一封信递给"),
    ("waits for", "等着"),
    ("smiles at", "对着微笑"),
    ("turns away from", "转身离开"),
]
_MOVIES = [  # id, title, year as the release writes it, genre, split
    ("mini-0001", "小巷灯火 无障碍版", "2019", ["剧情"], "train"),
    ("mini-0002", "屋顶之上（无障碍解说版）", 2021, [], "train"),
    ("mini-0003", "集市风云 无障碍版", "2020", ["剧情", "喜剧"], "validation"),
    ("mini-0004", "河岸 无障碍版", 2018, ["家庭"], "test"),
]


def _segment_texts(rng: random.Random, cast: list[_Role]) -> tuple[str, str]:
    (place_en, place_zh), (action_en, action_zh) = rng.choice(_PLACES), rng.choice(_ACTIONS)
    first, second = rng.sample(cast, 2)
    en = f"{place_en}, [{first.role_en}] {action_en} [{second.role_en}]."
    zh = f"在{place_zh}，[{first.role}]{action_zh}[{second.role}]。"
    return en, zh


def _hms(seconds: int) -> str:
    return f"{seconds // 3600}:{seconds % 3600 // 60}:{seconds % 60}"


def make_mini_release(
    out: str | Path,
    *,
    videos: str | Path | None = None,
    duration: int = 60,
    fps: int = 24,
    seed: int = 0,
) -> Path:
    """Write a four-movie mini-release in the exact layout of the real one, plus its movies.

    Two train movies, one validation and one test movie (listed in the release's own
    `public_split.json`), a cast of three with portraits (and one extra portrait, as the release has),
    a 1 kHz tone for a soundtrack, short segments every few seconds (one of them zero-length) merged in pairs into paragraphs, and
    English lines that lost their `[ ]` markers like about 11% of the real ones.

    Args:
        out: folder to create; it becomes the `--release` root (it holds `Movie101v2/`).
        videos: where to write `<movie_id>.mp4`; defaults to `out/videos`.
        duration: seconds per movie.
        fps: frame rate of the movies.
        seed: seed of the text generator.

    Returns:
        `out`.

    Example:
        >>> release = make_mini_release(tmp / "mini", duration=10)
        >>> sorted(path.name for path in (release / "videos").iterdir())[:1]
        ['mini-0001.mp4']
    """
    # a folder of the user's is never written into: new, empty, or an earlier mini-release (locked while written)
    with OutputFolder(out, job="mini-release"):
        return _write_mini_release(Path(out), videos, duration=duration, fps=fps, seed=seed)


def _write_mini_release(out: Path, videos: str | Path | None, *, duration: int, fps: int, seed: int) -> Path:
    from PIL import Image, ImageDraw

    videos = Path(videos) if videos is not None else out / "videos"
    data = out / "Movie101v2" / "data"
    rng = random.Random(seed)
    split_lists: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for (movie_id, title, year, genre, split), cast in zip(_MOVIES, _CASTS):
        split_lists["val" if split == "validation" else split].append(movie_id)
        meta = {
            "id": movie_id,
            "url": f"https://example.org/{movie_id}",
            "title": title,
            "year": year,
            "genre": genre,
            "subtitle": "合成的演示电影",
            "area": ["合成"],
            "intro": f"一部为演示生成的{duration}秒测试电影，讲述{cast[0].role}和{cast[1].role}的故事。",
            "director": ["演示导演"],
            "role": {r.actor_id: {"actor": r.actor, "role": r.role, "role_en": r.role_en} for r in cast},
        }
        _write_text(data / "metadata" / "meta" / f"{movie_id}.json", json.dumps(meta, ensure_ascii=False, indent=4))
        portraits = data / "metadata" / "portrait" / movie_id
        portraits.mkdir(parents=True, exist_ok=True)
        for number, actor_id in enumerate([r.actor_id for r in cast] + [f"{cast[0].actor_id}9"]):
            image = Image.new("RGB", (96, 128), (40 + 60 * number, 90, 160 - 30 * number))
            draw = ImageDraw.Draw(image)
            draw.ellipse((18, 16, 78, 88), fill=(230, 200, 170))  # a face-like oval
            draw.rectangle((20, 96, 76, 128), fill=(60, 60, 60))
            image.save(portraits / f"{actor_id}.jpeg", quality=90)

        segments: list[tuple[int, int, str, str]] = []
        for number, start in enumerate(range(2, duration - 4, 5)):
            end = start if number == 3 else start + rng.randint(2, 4)  # one zero-length segment, as in the release
            en, zh = _segment_texts(rng, cast)
            if number == 1 or rng.random() < 0.1:
                en = en.replace("[", "").replace("]", "")  # the English line lost its markers, as ~11% do
            segments.append((start, end, en, zh))
        paragraphs = [
            (pair[0][0], pair[-1][1], " ".join(s[2] for s in pair), "".join(s[3] for s in pair))
            for pair in (segments[i : i + 2] for i in range(0, len(segments), 2))
        ]
        for kind, rows in (("short", segments), ("long", paragraphs)):
            for language, column in (("en", 2), ("zh", 3)):
                lines = [f"{_hms(row[0])}|{_hms(row[1])}|{row[column]}\n" for row in rows]
                _write_text(
                    data / "narration" / f"{NARRATION_SETS[kind]}-{language}" / f"{movie_id}.txt", "".join(lines)
                )
        make_movie(videos / f"{movie_id}.mp4", duration=duration, fps=fps, tone=SOUNDTRACK_TONE)
    _write_text(out / SPLIT_FILE_IN_REPO, json.dumps(split_lists, indent=4))
    return out


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def make_face_movie(
    path: str | Path,
    appearances: list[tuple[float, float, list[Any]]],
    *,
    duration: float,
    fps: int = 2,
    width: int = 320,
    height: int = 240,
    face_size: int = 80,
    top: int = 80,
) -> Path:
    """Encode an H.264 movie on black that shows faces (PIL images) during given time ranges.

    Each appearance `(start, end, faces)` puts its faces side by side, `face_size` pixels a side, `top` pixels
    from the top, from `start` to `end` seconds; the frames come from this function, FFmpeg encodes them (nearly
    lossless, `-crf 4`). With the defaults, faces fall on the 8-pixel grid of `testing.make_tiny_face_models`'s
    detector (a 320 x 240 frame is scaled by 0.4 into its 128-pixel input).

    Example:
        >>> from movie101v2_hf.testing import synthetic_face
        >>> make_face_movie(tmp / "f.mp4", [(1.0, 3.0, [synthetic_face(0)])], duration=4).name
        'f.mp4'
    """
    import numpy as np
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial.mp4")
    command = [
        require_ffmpeg(),
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{width}x{height}",
        "-r",
        str(fps),
        "-i",
        "-",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        "4",
        "-pix_fmt",
        "yuv420p",
        "-g",
        str(fps),
        "-movflags",
        "+faststart",
        str(tmp),
    ]
    scaled = {}
    frames = []
    for index in range(round(duration * fps)):
        seconds = index / fps
        canvas = Image.new("RGB", (width, height))
        for start, end, faces in appearances:
            if start <= seconds <= end:
                for slot, face in enumerate(faces):
                    key = id(face)
                    if key not in scaled:
                        scaled[key] = face.resize((face_size, face_size), Image.Resampling.NEAREST)
                    canvas.paste(scaled[key], (20 + slot * (face_size + 20), top))
        frames.append(np.asarray(canvas).tobytes())
    result = subprocess.run(command, input=b"".join(frames), capture_output=True)
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"ffmpeg failed to write {path}:\n{result.stderr.decode(errors='replace').strip()}")
    tmp.replace(path)
    return path
