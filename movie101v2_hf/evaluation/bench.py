"""One command from model to report: `movie101v2 bench` = narrate + evaluate + report, in one run folder.

    runs/NAME/predictions.jsonl      narrate (+ predictions.run.json, its settings and failures)
    runs/NAME/results.json           evaluate (+ per_sample.jsonl; judgments go to the user's judgment cache)
    runs/NAME/report.html            report (+ scores.png)

Each step is skipped when its output is already complete for its input: the predictions' run record says
`complete` with the same settings; `results.json` says `complete` and was computed from these exact
predictions (their SHA-256) with the same metrics; the report exists (it is written before `results.json`). An interrupted
bench therefore resumes at the step it stopped in (and narration resumes within the step).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..judge import DEFAULT_MAX_INVALID
from ..narrate import NarrateOptions, narrate_split
from ..utils.outputs import OutputFolder
from ..utils.runs import sidecar_path
from .evaluate import evaluate_predictions, file_sha256
from .report import write_report
from .timing import with_spoken_metric

logger = logging.getLogger(__name__)


def _narration_complete(options: NarrateOptions) -> bool:
    record_path = sidecar_path(options.out)
    if not record_path.is_file() or not Path(options.out).is_file():
        return False
    record = json.loads(record_path.read_text("utf-8"))
    settings = record.get("settings", {})
    return bool(record.get("complete")) and all(settings.get(k) == v for k, v in options.run_settings().items())


def _evaluation_complete(results_path: Path, predictions: Path, metrics: Sequence[str]) -> bool:
    if not results_path.is_file():
        return False
    results = json.loads(results_path.read_text("utf-8"))
    return (
        bool(results.get("complete"))
        and results.get("predictions_sha256") == file_sha256(predictions)
        and results.get("metrics") == list(metrics)
    )


def run_bench(
    options: NarrateOptions,
    out: str | Path,
    *,
    metrics: Sequence[str],
    judge: Any = None,
    bertscore_model: str | None = None,
    baselines: str | Path | None = None,
    max_invalid: float = DEFAULT_MAX_INVALID,
    bootstrap: int = 1000,
    seed: int = 0,
    log: Any = print,
    tts: str | None = None,
    viewer_frames: int = 4,
) -> dict[str, Any]:
    """Run the three steps into `out`, skipping each one whose output is complete; return what happened.

    `tts` and `viewer_frames` are `evaluate_predictions`'s (L3's spoken variant, the clip viewer's frames).

    Returns:
        `{"steps": {"narrate": "ran" | "skipped", "evaluate": ..., "report": ...}, "narration": NarrationRun | None,
        "results": dict | None, "complete": bool}`. `complete` is False when clips failed (and
        `options.allow_failures` let the run go on, scoring them as empty narrations) or judgments failed.

    Example:
        >>> from movie101v2_hf.narrate import NarrateOptions
        >>> options = NarrateOptions(dataset=mini_dataset, out="", backend="retrieval", show_progress=False)
        >>> run_bench(options, tmp / "retrieval", metrics=["rouge"], bootstrap=0, log=lambda *a: None)["steps"]
        {'narrate': 'ran', 'evaluate': 'ran', 'report': 'ran'}
    """
    inputs = {"--dataset": options.dataset, "--model": options.model, "--adapter": options.adapter}
    with OutputFolder(out, job="bench", inputs=inputs) as folder:  # one bench run per folder at a time
        for name in ("predictions.jsonl", "predictions.run.json"):
            folder.path(name)  # the narration step's files are the bench's
        options = replace(options, out=str(Path(out) / "predictions.jsonl"))
        timing = {"tts": tts, "viewer_frames": viewer_frames}
        metrics = with_spoken_metric(metrics, spoken=bool(tts))  # as evaluate records them
        return _bench(
            options, folder, metrics, judge, bertscore_model, baselines, max_invalid, bootstrap, seed, log, timing
        )


def _bench(
    options: NarrateOptions,
    folder: OutputFolder,
    metrics: Sequence[str],
    judge: Any,
    bertscore_model: str | None,
    baselines: str | Path | None,
    max_invalid: float,
    bootstrap: int,
    seed: int,
    log: Any,
    timing: dict[str, Any],
) -> dict[str, Any]:
    out = folder.folder
    predictions = Path(options.out)
    summary: dict[str, Any] = {"steps": {}, "narration": None, "results": None, "complete": False}

    if _narration_complete(options) and not options.overwrite:
        summary["steps"]["narrate"] = "skipped"
        log(f"[1/3] narrate: {predictions} is complete, skipped")
    else:
        log(f"[1/3] narrate: {options.backend} {options.model} -> {predictions}")
        run = narrate_split(options)
        summary["steps"]["narrate"], summary["narration"] = "ran", run
        log("      " + run.summary("narrated"))
        if not run.complete and not options.allow_failures:
            log("      stopping: clips failed (rerun to retry them, or pass --allow-failures to score them as empty)")
            return summary
    narration_record = json.loads(sidecar_path(predictions).read_text("utf-8"))

    results_path = out / "results.json"
    if _evaluation_complete(results_path, predictions, metrics):
        summary["steps"]["evaluate"] = "skipped"
        results = json.loads(results_path.read_text("utf-8"))
        log(f"[2/3] evaluate: {results_path} is complete for these predictions, skipped")
    else:
        log(f"[2/3] evaluate: {', '.join(metrics)}")
        results = evaluate_predictions(
            predictions,
            options.dataset,
            out=folder,
            config=options.config,
            split=options.split,
            metrics=metrics,
            judge=judge,
            bertscore_model=bertscore_model,
            baselines=baselines,
            missing_as_empty=options.allow_failures,
            bootstrap=bootstrap,
            seed=seed,
            max_invalid=max_invalid,
            **timing,
        )
        summary["steps"]["evaluate"] = "ran"
    summary["results"] = results

    report = out / "report.html"
    if summary["steps"]["evaluate"] == "ran":  # evaluate_predictions writes the report before results.json
        summary["steps"]["report"] = "ran"
        log(f"[3/3] report: {report}")
    elif report.is_file():
        summary["steps"]["report"] = "skipped"
        log(f"[3/3] report: {report} exists, skipped")
    else:
        write_report(results, folder, baselines=baselines)
        summary["steps"]["report"] = "ran"
        log(f"[3/3] report: {report}")
    summary["complete"] = bool(results.get("complete")) and bool(narration_record.get("complete"))
    return summary
