"""`movie101v2 export`: narrations (a model's predictions, or the references) as audio description per movie.

For each movie of the split it writes, into `--out`:

- `<movie>.vtt` (WebVTT, for `<track kind="descriptions">`), `<movie>.srt`, `<movie>.dapt.ttml` (a W3C DAPT
  audio description script);
- with `--speak`: `speech/<movie>/<clip>-<digest>.wav` (each cue by the TTS engine; the digest is of its text and voice), `<movie>.ad.wav` (the description
  track alone, each cue at its start), and per cue its spoken length and whether, and by how much, it overruns
  its clip (the pause an extended-AD player would need);
- with the movie file (`--videos DIR`, or the dataset's `video` column) and `--speak`: `<movie>.ad.mkv`, the
  movie with its original audio and a second, ducked audio-description mix;
- `<movie>.html`: a player page (the movie, its descriptions spoken by the browser, the transcript with
  per-clip scores from `--scores EVAL_DIR`).

It is a job of the run layer: `export.jsonl` gets one line per finished movie (its files and cues), the run record
`export.run.json` says whether every movie is done; a rerun resumes (speech already synthesized is kept), and only
files this job wrote are ever replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..constants import SINGLE_LANGUAGE_CONFIGS, SPLITS, config_language
from ..data.pacing import Pace, dataset_pace, speech_tokens
from ..errors import check_minimums, require
from ..evaluation.predictions import file_sha256, load_predictions
from ..utils.io import read_jsonl
from ..utils.outputs import OutputFolder, safe_name
from ..utils.runs import ResumableRun, RunRecord
from .audio import description_track, media_seconds, mix_movie
from .player import player_page
from .tracks import Cue, Spoken, dapt_text, srt_text, vtt_text
from .tts import TTS_ENGINES, TTSEngine, build_tts, wav_seconds

JOB = "export"


@dataclass(kw_only=True)
class ExportOptions:
    """Every option of `movie101v2 export`."""

    dataset: str = field(metadata={"help": "A prepared folder or Hub id."})
    out: str = field(metadata={"help": "Folder for the tracks, speech, mixes and player pages."})
    predictions: str | None = field(default=None, metadata={"help": 'JSONL lines {"clip_id": ..., "narration": ...}.'})
    references: bool = field(default=False, metadata={"help": "Export the reference narrations instead."})
    config: str = field(
        default="en", metadata={"help": "A single-language clip config.", "choices": SINGLE_LANGUAGE_CONFIGS}
    )
    split: str = field(default="test", metadata={"help": "train, validation or test.", "choices": SPLITS})
    movies: list[str] | None = field(default=None, metadata={"help": "Only these movie ids (default: every movie)."})
    speak: bool = field(default=False, metadata={"help": "Synthesize each cue, write the AD track and the mix."})
    tts: str = field(default="espeak-ng", metadata={"help": "TTS engine.", "choices": TTS_ENGINES.names()})
    voice: str | None = field(default=None, metadata={"help": "espeak-ng voice name, or the Piper voice .onnx."})
    rate: int | None = field(default=None, metadata={"help": "Speaking rate, words per minute (espeak-ng: 175)."})
    videos: str | None = field(
        default=None, metadata={"help": "Folder of <movie_id>.mp4 (default: the dataset's video column)."}
    )
    duck_db: float = field(
        default=-12.0, metadata={"help": "How far the original audio is lowered under a description (dB)."}
    )
    scores: str | None = field(
        default=None, metadata={"help": "An evaluate output folder: per-clip scores in the player."}
    )
    overwrite: bool = field(default=False, metadata={"help": "Start again (only ever over this job's own files)."})
    show_progress: bool = field(default=True, metadata={"help": "Show a progress bar."})

    job = JOB

    def __post_init__(self) -> None:
        if (self.predictions is None) == (not self.references):
            raise ValueError("Give --predictions FILE or --references (the reference narrations), one of the two.")
        if self.duck_db >= 0:
            raise ValueError(f"--duck-db lowers the original audio: give a negative number of dB, got {self.duck_db}.")
        check_minimums(self, rate=1)

    def input_paths(self) -> dict[str, str | None]:
        return {
            "--dataset": self.dataset,
            "--predictions": self.predictions,
            "--videos": self.videos,
            "--scores": self.scores,
        }

    def settings(self) -> dict[str, Any]:
        """What identifies the run: a resume with other texts, voice or mix is refused."""
        keep = ("dataset", "config", "split", "references", "speak", "tts", "voice", "rate", "duck_db", "videos")
        values = {k: v for k, v in asdict(self).items() if k in keep}
        values["predictions_sha256"] = file_sha256(self.predictions) if self.predictions else None
        return values


def export_ad(options: ExportOptions) -> RunRecord:
    """Export every movie of the split (see the module's docstring); returns the run's record.

    Example:
        >>> record = export_ad(ExportOptions(dataset=mini_dataset, references=True, out=str(tmp / "ad"), show_progress=False))
        >>> record.complete, sorted(p.name for p in (tmp / "ad").glob("mini-0004.*"))
        (True, ['mini-0004.dapt.ttml', 'mini-0004.html', 'mini-0004.srt', 'mini-0004.vtt'])
    """
    from tqdm.auto import tqdm

    require("webvtt", extra="ad", feature="`movie101v2 export` (WebVTT and SRT)")
    require("ttconv", extra="ad", feature="`movie101v2 export` (DAPT)")
    language = config_language(options.config)
    pace = dataset_pace(options.dataset, language)
    movies = _movie_clips(options, language, pace)
    engine = build_tts(options.tts, voice=options.voice, rate=options.rate) if options.speak else None
    scores = _clip_scores(options.scores)
    extra = {"tts": engine.describe() if engine else None, "pace": pace.as_dict()}
    with OutputFolder(options.out, job=JOB, inputs=options.input_paths()) as folder:
        for name in ("export.jsonl", "export.run.json"):
            folder.path(name)  # the run layer writes them; the folder's manifest records them as ours
        ids = list(movies)
        with ResumableRun(
            folder.path("export.jsonl"),
            options.settings(),
            ids,
            job=JOB,
            key="movie_id",
            overwrite=options.overwrite,
            extra=extra,
        ) as run:
            with tqdm(
                total=len(ids), initial=len(run.done), unit="movie", desc="export", disable=not options.show_progress
            ) as bar:
                for k in run.pending:
                    movie_id = ids[k]
                    try:
                        line = _export_movie(folder, movie_id, movies[movie_id], options, language, engine, scores)
                    except (RuntimeError, OSError, ValueError) as err:
                        run.fail(movie_id, f"{type(err).__name__}: {err}")
                        continue
                    run.write([line])
                    bar.update()
    return run.record


def _movie_clips(options: ExportOptions, language: str, pace: Pace) -> dict[str, list[dict[str, Any]]]:
    """The split's clips by movie, each with the text to describe it (`text`), how long it takes at the
    describers' `pace` (`paced`, seconds) and its movie file (`video`)."""
    from datasets import Video, load_dataset

    rows = load_dataset(options.dataset, options.config, split=options.split)
    if "video" in rows.column_names:
        rows = rows.cast_column("video", Video(decode=False))
    if options.movies:
        wanted = set(options.movies)
        unknown = sorted(wanted - set(rows["movie_id"]))
        if unknown:
            raise ValueError(
                f"--movies {', '.join(unknown)}: not in {options.dataset} ({options.config}, {options.split})."
            )
        rows = rows.filter(lambda movie_id: movie_id in wanted, input_columns="movie_id")
    predictions = load_predictions(options.predictions) if options.predictions else None
    if predictions is not None:
        missing = [c for c in rows["clip_id"] if c not in predictions]
        if missing:
            raise ValueError(
                f"{options.predictions}: no narration for {len(missing)} clip(s) of the movies exported, e.g. "
                f"{', '.join(missing[:3])}. Narrate them first, or choose the movies with --movies."
            )
    movies: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        video = row.get("video")
        prediction = predictions[row["clip_id"]] if predictions is not None else None
        text = prediction if prediction is not None else row["narration"]
        movies[row["movie_id"]].append(
            {
                "clip_id": row["clip_id"],
                "start": float(row["start"]),
                "end": float(row["end"]),
                "reference": row["narration"],
                "prediction": prediction,
                "text": text,
                "paced": round(speech_tokens(text, language) / pace.p95, 3),
                "video": (video or {}).get("path") if isinstance(video, dict) else video,
            }
        )
    return dict(movies)


def _clip_scores(scores: str | None) -> dict[str, dict[str, float]]:
    """Per clip its scores, from an evaluation folder's `per_sample.jsonl` (none without `--scores`)."""
    if scores is None:
        return {}
    path = Path(scores) / "per_sample.jsonl"
    if not path.is_file():
        raise FileNotFoundError(
            f"--scores {scores}: no per_sample.jsonl in it; give the --out folder of `movie101v2 evaluate`."
        )
    return {line["clip_id"]: line.get("clip_scores") or {} for _, line in read_jsonl(path, what="per-sample file")}


def _movie_file(options: ExportOptions, movie_id: str, clips: list[dict[str, Any]]) -> str | None:
    """The movie to mix and play: `--videos DIR/<movie_id>.mp4`, else the dataset's `video` (None without one)."""
    if options.videos:
        path = Path(options.videos) / f"{movie_id}.mp4"
        if not path.is_file():
            raise FileNotFoundError(f"--videos {options.videos}: no {movie_id}.mp4 in it.")
        return str(path)
    return clips[0]["video"]


def _export_movie(
    folder: OutputFolder,
    movie_id: str,
    clips: list[dict[str, Any]],
    options: ExportOptions,
    language: str,
    engine: TTSEngine | None,
    scores: dict[str, dict[str, float]],
) -> dict[str, Any]:
    """One movie's tracks, speech, mix and page; returns its line of `export.jsonl`."""
    name = safe_name(movie_id, fallback="movie")
    cues = [Cue(c["clip_id"], c["start"], c["end"], c["text"]) for c in clips]
    movie = _movie_file(options, movie_id, clips)
    files = [folder.write(f"{name}.vtt", vtt_text(cues)).name, folder.write(f"{name}.srt", srt_text(cues)).name]
    spoken: dict[str, Spoken] = {}
    mix = None
    if engine is not None:
        spoken = _speak(folder, name, cues, engine, language)
        for clip in clips:
            seconds = spoken[clip["clip_id"]].seconds
            clip["audio"] = spoken[clip["clip_id"]].audio
            clip["spoken"], clip["overrun"] = (
                round(seconds, 3),
                round(max(0.0, seconds - (clip["end"] - clip["start"])), 3),
            )
        mix, more = _track_and_mix(folder, name, cues, spoken, movie, options, language)
        files += more
    gain = 10 ** (options.duck_db / 20)
    files.append(
        folder.write(f"{name}.dapt.ttml", dapt_text(cues, language=language, spoken=spoken, duck_gain=gain)).name
    )
    files.append(_write_player(folder, name, cues, movie_id, clips, movie, language, scores, bool(spoken)).name)
    return {
        "movie_id": movie_id,
        "files": files,
        "cues": len(cues),
        "mix": mix,
        "overruns": sum(1 for c in clips if c.get("overrun", 0) > 0) if spoken else None,
        "clips": [
            {k: c[k] for k in ("clip_id", "start", "end", "paced", "audio", "spoken", "overrun") if k in c}
            for c in clips
        ],
    }


def _speak(folder: OutputFolder, name: str, cues: list[Cue], engine: TTSEngine, language: str) -> dict[str, Spoken]:
    """Each cue's speech, synthesized once: a WAV this job already wrote for the same text and voice (an interrupted
    run) is kept; its name carries a digest of both, so another text or voice is never served an old WAV."""
    voice = json.dumps(engine.describe(), sort_keys=True)
    spoken = {}
    for cue in cues:
        digest = hashlib.sha256(f"{voice}\n{cue.text}".encode()).hexdigest()[:10]
        relative = f"speech/{name}/{safe_name(cue.id, fallback='clip')}-{digest}.wav"
        path = folder.path(relative)
        if not path.is_file():
            partial = path.with_name(f".{path.name}.partial.wav")
            engine.synthesize(cue.text, partial, language=language)
            os.replace(partial, path)  # a WAV in place is a whole one
        spoken[cue.id] = Spoken(relative, wav_seconds(path))
    return spoken


def _track_and_mix(
    folder: OutputFolder,
    name: str,
    cues: list[Cue],
    spoken: dict[str, Spoken],
    movie: str | None,
    options: ExportOptions,
    language: str,
) -> tuple[dict[str, Any] | None, list[str]]:
    """`<movie>.ad.wav` and, with the movie file, `<movie>.ad.mkv`."""
    seconds = media_seconds(movie) if movie else max(c.end for c in cues)
    track = folder.path(f"{name}.ad.wav")
    partial = track.with_name(f".{track.name}.partial.wav")
    description_track([(c.start, folder.folder / spoken[c.id].audio) for c in cues], partial, seconds=seconds)
    os.replace(partial, track)
    if movie is None:
        return None, [track.name]
    windows = [(c.start, c.start + spoken[c.id].seconds) for c in cues]
    mixed = folder.path(f"{name}.ad.mkv")
    mix = mix_movie(movie, track, windows, mixed, language=language, duck_db=options.duck_db)
    return mix, [track.name, mixed.name]


def _write_player(
    folder: OutputFolder,
    name: str,
    cues: list[Cue],
    movie_id: str,
    clips: list[dict[str, Any]],
    movie: str | None,
    language: str,
    scores: dict[str, dict[str, float]],
    spoken: bool,
) -> Path:
    """`<movie>.html`, with the movie linked relative to the page (or by its URL)."""
    src = None
    if movie:
        src = movie if "://" in movie else os.path.relpath(Path(movie).resolve(), folder.folder.resolve())
    names = sorted({score for clip in clips for score in scores.get(clip["clip_id"], {})})
    for clip in clips:
        clip["scores"] = scores.get(clip["clip_id"], {})
    notes = [
        "Predictions beside the references." if clips[0]["prediction"] is not None else "The reference narrations."
    ]
    if spoken:
        notes.append(
            "Spoken and overrun seconds are the TTS engine's (see export.jsonl); the page speaks with the browser's own voice."
        )
    page = player_page(
        title=movie_id,
        movie_src=src,
        vtt_src=f"{name}.vtt",
        vtt=vtt_text(cues),
        language=language,
        clips=clips,
        score_names=names,
        notes=notes,
    )
    return folder.write(f"{name}.html", page)


def export_summary(out: str | Path) -> list[dict[str, Any]]:
    """The lines of an export's `export.jsonl` (one per finished movie)."""
    return [line for _, line in read_jsonl(Path(out) / "export.jsonl", what="export record")]
