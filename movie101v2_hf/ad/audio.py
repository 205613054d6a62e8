"""The description track and the mix: cues' speech placed on a timeline, and the movie's audio ducked under it.

- `description_track`: one WAV holding every cue's speech at its start (the description track alone, as an
  AD service delivers it for mixing in the receiver); cues whose speech runs into the next overlap, as they
  would in standard (not extended) AD.
- `mix_movie`: `<movie>.ad.mkv`, the movie's picture and original audio copied, plus a second audio track:
  the original ducked by `duck_db` while each description speaks (FFmpeg volume automation: the gain falls
  over `ramp` seconds as the speech starts and rises over `ramp` once it ends) with the descriptions on top.
  Matroska marks that track as audio description for the visually impaired (FFmpeg's `visual_impaired` and
  `descriptions` dispositions, Matroska's FlagVisualImpaired).

Example:
    >>> envelope_expression([(1.0, 2.5)], duck_db=-12, ramp=0.25)
    '1-0.748811*min(1,clip(min(t-1.000,2.750-t)*4.0000,0,1))'
"""

from __future__ import annotations

import json
import subprocess
import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..data.synthetic import require_ffmpeg

SAMPLE_RATE = 48000


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """A 16-bit PCM WAV's samples (float32 in [-1, 1], mono: channels averaged) and its sample rate."""
    with wave.open(str(path), "rb") as handle:
        if handle.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16-bit PCM, got {8 * handle.getsampwidth()}-bit samples.")
        data = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2").astype(np.float32) / 32768
        rate, channels = handle.getframerate(), handle.getnchannels()
    return data.reshape(-1, channels).mean(axis=1), rate


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> None:
    """Write mono float samples as a 16-bit PCM WAV (clipped to full scale)."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(pcm.tobytes())


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Linear resampling (speech at 22.05 kHz onto the track's 48 kHz; band-limited speech needs no more)."""
    if rate == target or not len(samples):
        return samples
    times = np.arange(round(len(samples) * target / rate)) / target
    return np.interp(times, np.arange(len(samples)) / rate, samples).astype(np.float32)


def description_track(
    placed: Sequence[tuple[float, str | Path]], path: str | Path, *, seconds: float, rate: int = SAMPLE_RATE
) -> float:
    """Write the WAV of every `(start, speech WAV)` placed at its start; at least `seconds` long (the movie's
    length), longer when the last speech runs past it. Returns the track's length in seconds."""
    clips = []
    for start, wav in placed:
        samples, wav_rate = read_wav(wav)
        clips.append((round(start * rate), resample(samples, wav_rate, rate)))
    length = max([round(seconds * rate)] + [offset + len(samples) for offset, samples in clips])
    track = np.zeros(length, dtype=np.float32)
    for offset, samples in clips:
        track[offset : offset + len(samples)] += samples
    write_wav(path, track, rate)
    return length / rate


def envelope_expression(windows: Sequence[tuple[float, float]], *, duck_db: float, ramp: float) -> str:
    """FFmpeg `volume` expression of the ducking: 1 outside the speech windows `(start, end)`, 10^(duck_db/20)
    inside, ramping over `ramp` seconds from each start and after each end (overlapping windows do not duck twice)."""
    depth = 1 - 10 ** (duck_db / 20)
    slope = 1 / ramp
    terms = "+".join(f"clip(min(t-{s:.3f},{e + ramp:.3f}-t)*{slope:.4f},0,1)" for s, e in windows)
    return f"1-{depth:.6f}*min(1,{terms})" if terms else "1"


def probe(path: str | Path) -> dict:
    """ffprobe's streams and format of a media file."""
    ffprobe = str(Path(require_ffmpeg()).with_name("ffprobe"))
    result = subprocess.run(
        [ffprobe, "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"ffprobe could not read {path}: {result.stderr.strip()}")
    return json.loads(result.stdout)


def media_seconds(path: str | Path) -> float:
    """A media file's duration in seconds."""
    return float(probe(path)["format"]["duration"])


ISO639_2 = {"en": "eng", "zh": "chi"}  # Matroska's language tags


def mix_movie(
    movie: str | Path,
    track: str | Path,
    windows: Sequence[tuple[float, float]],
    out: str | Path,
    *,
    language: str,
    duck_db: float = -12.0,
    ramp: float = 0.25,
    bitrate: str = "192k",
) -> dict:
    """Write `out` (`.mkv`): the movie's streams copied, plus the audio-description mix of `track` over the
    original audio ducked in `windows` (`(start, end)` of each description's speech). A movie without audio gets
    the descriptions alone as its second track. Returns what the mix did, for the run's record."""
    streams = probe(movie)["streams"]
    has_audio = any(s.get("codec_type") == "audio" for s in streams)
    expression = envelope_expression(windows, duck_db=duck_db, ramp=ramp)
    resample_to = f"aresample={SAMPLE_RATE},aformat=channel_layouts=stereo"
    if has_audio:
        graph = (
            f"[0:a:0]{resample_to},volume=eval=frame:volume='{expression}'[ducked];[1:a]{resample_to}[ad];"
            "[ducked][ad]amix=inputs=2:duration=first:normalize=0[mix]"
        )
    else:
        graph = f"[1:a]{resample_to}[mix]"
    out = Path(out)
    tmp = out.with_name(f".{out.name}.partial.mkv")
    command = [
        require_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(movie), "-i", str(track),
        "-filter_complex", graph, "-map", "0:v:0", *(["-map", "0:a:0"] if has_audio else []), "-map", "[mix]",
        "-c:v", "copy", "-c:a", "copy", f"-c:a:{int(has_audio)}", "aac", f"-b:a:{int(has_audio)}", bitrate,
        f"-disposition:a:{int(has_audio)}", "visual_impaired+descriptions",
        f"-metadata:s:a:{int(has_audio)}", f"language={ISO639_2.get(language, language)}",
        f"-metadata:s:a:{int(has_audio)}", "title=Audio description (mixed)",
        str(tmp),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"ffmpeg could not mix {movie} with {track}: {result.stderr.strip()[-2000:]}")
    tmp.replace(out)
    return {"original_audio": has_audio, "duck_db": duck_db, "ramp": ramp, "windows": len(windows)}
