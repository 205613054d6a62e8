"""`movie101v2 demo` (what `make demo` runs): prepare, load, sample clip frames, contact sheet, then the
benchmark loop (`bench`: narrate with the retrieval baseline, evaluate, HTML report and clip viewer), ShotBench on
a generated mini-ShotBench (the majority-letter baseline scored by the official rules), and last the AD of one
movie exported, spoken and mixed (`export`), with the path of its player page.

Without `--release` it generates the mini-release (`movie101v2_hf.data.synthetic`) and runs on that, so
it works on a fresh machine; with `--release DIR --videos DIR` it runs the same on the real release.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from .ad.export import ExportOptions, export_ad, export_summary
from .data.prepare import MANIFEST, prepare_dataset
from .data.synthetic import make_mini_release
from .data.video import ClipSampler
from .evaluation import default_metrics, run_bench
from .narrate import NarrateOptions
from .shotbench import evaluate_shotbench, make_mini_shotbench, read_test_tsv
from .shotbench.evaluate import majority_baseline
from .utils.io import write_atomically


def run_demo(
    out: str | Path,
    *,
    release: str | Path | None = None,
    videos: str | Path | None = None,
    split: str = "test",
    num_clips: int = 4,
    num_frames: int = 8,
    num_workers: int = 2,
    judge: Any = None,
) -> dict[str, Any]:
    """Run the demo and return its summary (also printed).

    `judge` (a `judge.Judge`) adds L1 and L2 to the benchmark's classic metrics.

    Example:
        >>> import contextlib, io
        >>> with contextlib.redirect_stdout(io.StringIO()):  # the summary it prints
        ...     summary = run_demo(tmp / "demo", num_clips=2, num_frames=2, num_workers=0)
        >>> Path(summary["contact_sheet"]).name
        'contact_sheet.png'
    """
    from datasets import load_dataset

    out = Path(out)
    if release is None:
        release = out / "mini-release"
        videos = release / "videos"
        if not (release / "Movie101v2").is_dir() or not videos.is_dir():
            print(f"Generating the mini-release (4 synthetic movies) in {release} ...")
            make_mini_release(release)
    dataset_dir = out / "dataset"
    prepared = prepare_dataset(release, dataset_dir, videos=videos, overwrite=True)
    print(f"\nPrepared {dataset_dir} ({MANIFEST} says what from):")
    print(prepared.summary())

    clips = load_dataset(str(dataset_dir), "en", split=split)
    stream = load_dataset(str(dataset_dir), "en", split=split, streaming=True)
    first_streamed = next(iter(stream))
    if first_streamed["clip_id"] != clips[0]["clip_id"]:
        raise RuntimeError(f"streaming gave {first_streamed['clip_id']} first, map-style {clips[0]['clip_id']}")
    movies = len(set(clips["movie_id"]))
    print(
        f"\nLoaded `en` {split}: {len(clips):,} clips from {movies} movie{'s' if movies > 1 else ''} (streaming agrees)."
    )
    example = clips[0]
    print(
        f"  {example['clip_id']}  [{example['start']:.0f}s-{example['end']:.0f}s]  characters={example['characters']}"
    )
    print(f"  {example['narration'][:160]}")

    summary: dict[str, Any] = {"dataset": str(dataset_dir), "counts": prepared.counts}
    if videos is None:
        print("\nNo --videos given: skipping frame sampling (the release has no movies).")
    else:
        summary.update(_sample_frames(clips, out, num_clips=num_clips, num_frames=num_frames, num_workers=num_workers))
    summary["bench"] = _bench(dataset_dir, out / "runs" / "retrieval", split=split, judge=judge)
    summary["shotbench"] = _shotbench(out)
    summary["ad"] = _audio_description(dataset_dir, out, split=split, speak=videos is not None)
    return summary


def _audio_description(dataset_dir: Path, out: Path, *, split: str, speak: bool) -> dict[str, Any]:
    """The retrieval baseline's narrations of one movie as audio description: tracks, speech, the ducked mix and
    the player page (`movie101v2 export`)."""
    from datasets import load_dataset

    run = out / "runs" / "retrieval"
    movie = load_dataset(str(dataset_dir), "en", split=split)[0]["movie_id"]
    options = ExportOptions(
        dataset=str(dataset_dir),
        predictions=str(run / "predictions.jsonl"),
        scores=str(run),
        split=split,
        movies=[movie],
        speak=speak,
        out=str(out / "ad"),
        overwrite=True,
        show_progress=False,
    )
    record = export_ad(options)
    line = export_summary(options.out)[0]
    print(f"\nAudio description of {movie} (the retrieval baseline's narrations; movie101v2 export):")
    print("  " + record.summary("exported", unit="movie"))
    print(f"  Files: {', '.join(line['files'])}")
    if line["overruns"] is not None:
        print(f"  {line['overruns']} of {line['cues']} cues overrun their clip when spoken by espeak-ng")
    page = Path(options.out) / f"{movie}.html"
    print(f"  Player page (open it in a browser): {page}")
    return {"player": str(page), "files": line["files"], "complete": record.complete}


def _shotbench(out: Path) -> dict[str, Any]:
    """ShotBench on a generated mini-ShotBench: the majority-letter baseline, scored by the official rules."""
    data = out / "mini-shotbench"
    if not (data / "test.tsv").is_file():
        make_mini_shotbench(data)
    rows = read_test_tsv(data / "test.tsv")
    predictions = out / "runs" / "shotbench-majority.jsonl"
    lines = [json.dumps({"index": i, "prediction": letter}) for i, letter in majority_baseline(rows).items()]
    write_atomically(predictions, "\n".join(lines) + "\n")
    scored = out / "runs" / "shotbench-majority"
    results = evaluate_shotbench(predictions, data, out=scored)
    print(f"\nShotBench (mini, {results['num_rows']} questions), the majority-letter baseline, official rules:")
    print("  " + "  ".join(f"{name} {value:.1f}" for name, value in results["scores"].items()))
    print(f"  Report: {scored / 'report.html'}")
    return {"scores": results["scores"], "report": str(scored / "report.html")}


def _bench(dataset_dir: Path, run_dir: Path, *, split: str, judge: Any) -> dict[str, Any]:
    """The benchmark loop on the retrieval baseline: predictions, scores and the HTML report."""
    print(f"\nBenchmark loop (movie101v2 bench) with the retrieval baseline on `en` {split}:")
    options = NarrateOptions(dataset=str(dataset_dir), out="", backend="retrieval", split=split, overwrite=True)
    metrics = default_metrics(judge=judge is not None)
    result = run_bench(options, run_dir, metrics=metrics, judge=judge, log=lambda line: print("  " + line))
    scores = result["results"]["scores"]
    print("  " + ", ".join(f"{name} {value:.2f}" for name, value in scores.items() if isinstance(value, float)))
    if not judge:
        print("  (L1/L2 need a judge: movie101v2 demo --judge-backend openai --judge-url http://HOST:PORT/v1)")
    print(f"  Report: {run_dir / 'report.html'}")
    return {"report": str(run_dir / "report.html"), "scores": scores}


def _sample_frames(clips: Any, out: Path, *, num_clips: int, num_frames: int, num_workers: int) -> dict[str, Any]:
    """Sample frames of the first clips in a DataLoader with workers and write the contact sheet."""
    import torch

    sampler = ClipSampler(num_frames=num_frames, size=(180, 320))
    subset = sampler.apply(clips.select(range(min(num_clips, len(clips)))))
    loader = torch.utils.data.DataLoader(
        subset, batch_size=1, num_workers=num_workers, collate_fn=lambda rows: rows[0]
    )
    began = time.perf_counter()
    sampled = list(loader)
    elapsed = time.perf_counter() - began
    print(
        f"\nSampled {num_frames} frames from each of {len(sampled)} clips with {num_workers} DataLoader workers "
        f"in {elapsed:.2f}s (frames: {tuple(sampled[0]['frames'].shape)} uint8)."
    )
    sheet = out / "contact_sheet.png"
    contact_sheet(sampled, sheet)
    print(f"Contact sheet: {sheet}")
    return {"contact_sheet": str(sheet), "sampled_clips": len(sampled), "seconds": elapsed}


def contact_sheet(rows: list[dict[str, Any]], path: str | Path, *, thumb_width: int = 160) -> Path:
    """Write a PNG grid: one row per clip, its sampled frames left to right, labelled with times.

    Example:
        >>> sampler = ClipSampler(num_frames=2, size=(90, 160))
        >>> contact_sheet([sampler(test[0])], tmp / "sheet.png").name
        'sheet.png'
    """
    from PIL import Image, ImageDraw

    label_height, pad = 14, 4
    _, _, height, width = rows[0]["frames"].shape
    thumb_height = round(height * thumb_width / width)
    columns = max(len(row["frames"]) for row in rows)
    row_height = label_height + thumb_height + label_height + pad
    sheet = Image.new("RGB", (pad + columns * (thumb_width + pad), pad + len(rows) * row_height), "white")
    draw = ImageDraw.Draw(sheet)
    for r, row in enumerate(rows):
        top = pad + r * row_height
        draw.text((pad, top), f"{row['clip_id']}  {row['narration'][:90]}", fill="black")
        for c, (frame, seconds) in enumerate(zip(row["frames"], row["frame_timestamps"])):
            image = Image.fromarray(frame.permute(1, 2, 0).numpy()).resize((thumb_width, thumb_height))
            left = pad + c * (thumb_width + pad)
            sheet.paste(image, (left, top + label_height))
            draw.text((left, top + label_height + thumb_height), f"{float(seconds):.2f}s", fill="black")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path
