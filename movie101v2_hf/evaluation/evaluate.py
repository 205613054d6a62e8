"""Evaluating narrations: predictions file in, `results.json`, per-sample JSONL and an HTML report out.

`movie101v2 evaluate` runs `evaluate_predictions`; the `evaluate` modules in `metrics/` call
`judge_metric` and `narration_metrics`, so the three ways of scoring agree.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import __version__
from ..constants import SINGLE_LANGUAGE_CONFIGS, SPLITS, config_language
from ..errors import check_minimums
from ..judge import DEFAULT_JUDGE_MODELS, DEFAULT_MAX_INVALID, Judge, PromptSet
from ..llm.options import LLMOptions, prefixed_llm_options, to_llm_options
from ..utils.outputs import OutputFolder, output_folder
from .per_sample import per_sample_lines, split_rows
from .predictions import file_sha256, load_predictions, match_predictions
from .report import write_report
from .stats import SampleParts, bootstrap_intervals, few_movies_warning
from .suite import METRICS, MetricInputs, default_metrics, metric_names, specs
from .suite.caption import CLASSIC
from .timing import ClipTiming
from .viewer import write_clip_viewer

METRIC_MODULES = ("l1_score", "l2_score", "movie_narration", "shotbench_accuracy")
ALL_METRICS = metric_names()


def metric_module_path(name: str) -> str:
    """Path of a bundled `evaluate` module, for `evaluate.load` from an installed package.

    Example:
        >>> import evaluate
        >>> evaluate.load(metric_module_path("movie_narration")).name
        'movie_narration'
    """
    from importlib import resources

    if name not in METRIC_MODULES:
        raise ValueError(f"Unknown metric module {name!r}; choose from {list(METRIC_MODULES)}.")
    return str(resources.files("movie101v2_hf.evaluate_modules").joinpath(name))


def build_judge(
    *,
    language: str,
    backend: str = "openai",
    model: str | None = None,
    url: str | None = None,
    release: str | Path | None = None,
    cache: str | Path | bool | None = None,
    concurrency: int | None = None,
    timeout: float | None = None,
    retries: int | None = None,
    rejudge_invalid: bool = True,
    structured_output: bool = False,
    show_progress: bool = True,
) -> Judge:
    """A `Judge` from plain options: the paper's judge model for `language` unless `model` is given, the
    official prompts when `release` (a copy of the release) is given, the package's own otherwise.

    Args:
        cache: the response cache (SQLite file). None: the user's cache (`llm.default_cache_path()`, shared by
            every run); False: no cache.
        url, concurrency, timeout, retries, structured_output: the `openai` backend's options (`LLMOptions`);
            None keeps the backend's default, and one set for another backend is refused.
        rejudge_invalid: ask again the pairs whose cached answer was invalid.

    Example:
        >>> build_judge(language="en", url="http://localhost:8000/v1", cache=False).backend.model
        'meta-llama/Llama-3.1-70B-Instruct'
    """
    llm = LLMOptions(
        backend=backend,
        model=model,
        base_url=url,
        concurrency=concurrency,
        timeout=timeout,
        retries=retries,
        structured_output=structured_output,
        cache=str(cache) if isinstance(cache, (str, Path)) else None,
    )
    return judge_from(
        llm,
        language=language,
        release=release,
        use_cache=cache is not False,
        rejudge_invalid=rejudge_invalid,
        show_progress=show_progress,
    )


def judge_from(
    llm: LLMOptions,
    *,
    language: str,
    release: str | Path | None = None,
    use_cache: bool = True,
    rejudge_invalid: bool = True,
    show_progress: bool = True,
) -> Judge:
    """The `Judge` of a text LLM's options: the paper's judge model for `language` unless `llm.model` is given, its
    answers in `llm.response_cache()` (unless `use_cache` is False), the official prompts with `release`."""
    llm = replace(llm, model=llm.model or DEFAULT_JUDGE_MODELS[language])
    prompts = PromptSet.from_release(release, language) if release else PromptSet.packaged(language)
    responses = llm.response_cache() if use_cache else None
    return Judge(llm.build(), prompts, cache=responses, rejudge_invalid=rejudge_invalid, show_progress=show_progress)


JudgeOptions = prefixed_llm_options("judge", backend=None, name="JudgeOptions")


@dataclass(kw_only=True)
class ScoringOptions(JudgeOptions):  # type: ignore[misc, valid-type]
    """How `evaluate` and `bench` score: the metrics and the LLM judge (the command line is built from these;
    the `judge_*` fields are `LLMOptions`'s, declared once in `llm.options`)."""

    metrics: list[str] | None = field(
        default=None,
        metadata={
            "help": "Default: bleu meteor rouge cider rolef1 l3, "
            "plus l1 l2 when a judge is configured; also bertscore (with "
            "--bertscore-model), l3_tts (with --tts)."
        },
    )
    max_invalid: float = field(
        default=DEFAULT_MAX_INVALID,
        metadata={
            "help": "Fraction of invalid judgments a "
            "metric may have and still be complete (default 0.05); above it the run is "
            "incomplete and exits 1."
        },
    )
    rejudge_invalid: bool = field(
        default=True,
        metadata={
            "help": "Ask the judge again for pairs whose cached "
            "answer was invalid (default: yes; --no-rejudge-invalid keeps them)."
        },
    )
    release: str | None = field(default=None, metadata={"help": "A copy of the release: its official judge prompts."})
    tts: str | None = field(
        default=None,
        metadata={"help": "A TTS engine (espeak-ng, piper) to time each narration spoken: adds L3-Fit-TTS."},
    )
    viewer_frames: int = field(
        default=4, metadata={"help": "Frames per clip in the clip viewer's strips (clips.html; 0: none)."}
    )
    bertscore_model: str | None = field(default=None, metadata={"help": "Local model folder for BERTScore."})
    bootstrap: int = field(default=1000, metadata={"help": "Resamples of movies for the 95%% intervals (0: none)."})
    bootstrap_seed: int = field(default=0, metadata={"help": "Seed of the resampling (intervals are reproducible)."})
    baselines: str | None = field(
        default=None,
        metadata={
            "help": "JSON file of reference results to put beside "
            "this run (default: the paper's Table 4 rows of the config)."
        },
    )

    def __post_init__(self) -> None:
        check_minimums(self, bootstrap=0, viewer_frames=0)
        if not 0 <= self.max_invalid <= 1:
            raise ValueError(f"--max-invalid is a fraction between 0 and 1, got {self.max_invalid}.")

    def build_judge(self, language: str) -> Judge | None:
        """The judge these options describe, or None without `judge_backend`."""
        if not self.judge_backend:
            return None
        llm = to_llm_options(self, "judge")  # every judge_* option, --judge-max-tokens included
        return judge_from(llm, language=language, release=self.release, rejudge_invalid=self.rejudge_invalid)

    def metric_names(self, judge: Judge | None) -> list[str]:
        """The metrics to compute: as given, else the classic ones and RoleF1, plus L1 and L2 with a judge."""
        return list(self.metrics or default_metrics(judge=judge is not None))


@dataclass(kw_only=True)
class EvaluateOptions(ScoringOptions):
    """Every option of `movie101v2 evaluate`."""

    predictions: str = field(metadata={"help": 'JSONL lines {"clip_id": ..., "narration": ...}.'})
    dataset: str = field(metadata={"help": "A prepared folder or Hub id."})
    config: str = field(
        default="en", metadata={"help": "A single-language clip config.", "choices": SINGLE_LANGUAGE_CONFIGS}
    )
    split: str = field(default="test", metadata={"help": "train, validation or test.", "choices": SPLITS})
    out: str = field(metadata={"help": "Folder for results.json, per_sample.jsonl and report.html."})


@dataclass
class ClipScores:
    """Scores of a set of clips and what the intervals are recomputed from.

    `scores`: the flat suite (`l1` / `l2` hold the judge's dicts); `per_clip`: score name -> one value per clip on
    the score's scale (None for an invalid judgment); `tokens`: the tokenized candidates and references that
    BLEU and CIDEr are recomputed from (None without classic metrics).
    """

    scores: dict[str, Any]
    per_clip: dict[str, list[float | None]]
    tokens: tuple[list[str], list[str]] | None = None

    def parts(self, movie_ids: Sequence[str]) -> SampleParts:
        """The per-clip parts of every score, for `stats.bootstrap_intervals` and `stats.paired_comparison`."""
        return sample_parts(movie_ids, self.per_clip, self.tokens, self.scores)


def sample_parts(
    movie_ids: Sequence[str],
    per_clip: Mapping[str, Sequence[float | None]],
    tokens: tuple[Sequence[str], Sequence[str]] | None,
    scores: dict[str, Any],
) -> SampleParts:
    """`SampleParts` of a run: BLEU and CIDEr from the tokens (when the run has them), the rest as per-clip means;
    METEOR shifted to its corpus score."""
    offsets = {}
    if "METEOR" in per_clip and isinstance(scores.get("METEOR"), (int, float)):
        meteor = [value for value in per_clip["METEOR"] if value is not None]  # METEOR scores every clip
        offsets["METEOR"] = float(scores["METEOR"]) - sum(meteor) / max(1, len(meteor))
    bleu_and_cider = tokens if tokens is not None and "BLEU-4" in scores else (None, None)
    parts = SampleParts.from_texts(movie_ids, *bleu_and_cider, means=dict(per_clip), offsets=offsets)
    if "CIDEr" not in scores:
        parts.cider = None
    return parts


def score_clips(
    predictions: Sequence[str],
    references: Sequence[str],
    *,
    language: str = "en",
    metrics: Sequence[str] = CLASSIC,
    reference_characters: Sequence[Sequence[str]] | None = None,
    casts: Sequence[Sequence[str]] | None = None,
    bertscore_model: str | None = None,
    judge: Judge | None = None,
    max_invalid: float = DEFAULT_MAX_INVALID,
    durations: Sequence[float] | None = None,
    pace: Any = None,
    speech_seconds: Sequence[float] | None = None,
) -> ClipScores:
    """The whole suite, with per-clip parts; each metric named in `metrics` must have what it needs (L3: each
    clip's `durations` and the describers' `pace`; its TTS variant also the predictions' `speech_seconds`).

    Example:
        >>> score_clips(["他走了"], ["他走了"], language="zh", metrics=["rouge"]).scores["ROUGE-L"]
        100.0
    """
    inputs = MetricInputs(
        predictions,
        references,
        language=language,
        metrics=list(metrics),
        reference_characters=reference_characters,
        casts=casts,
        bertscore_model=bertscore_model,
        judge=judge,
        max_invalid=max_invalid,
        durations=durations,
        pace=pace,
        speech_seconds=speech_seconds,
    )
    chosen = specs(metrics)
    for spec in chosen:  # every metric's needs, before the first one runs
        spec.check(inputs)
    out: dict[str, Any] = {}
    per_clip: dict[str, list[float | None]] = {}
    tokens = None
    for spec in chosen:
        result = spec.compute(inputs)
        out.update(result.scores)
        per_clip.update(result.per_clip)
        tokens = tokens or result.tokens
    return ClipScores(out, per_clip, tokens)


def narration_metrics(predictions: Sequence[str], references: Sequence[str], **options: Any) -> dict[str, Any]:
    """The whole suite in one dict (`score_clips(...).scores`); each metric in `metrics` must have what it needs.

    Example:
        >>> narration_metrics(["他走了"], ["他走了"], language="zh", metrics=["rouge"])["ROUGE-L"]
        100.0
    """
    return score_clips(predictions, references, **options).scores


def evaluate_predictions(
    predictions_path: str | Path,
    dataset: str,
    *,
    out: str | Path | OutputFolder,
    config: str = "en",
    split: str = "test",
    metrics: Sequence[str] = tuple(default_metrics(judge=False)),
    judge: Judge | None = None,
    bertscore_model: str | None = None,
    baselines: str | Path | None = None,
    missing_as_empty: bool = False,
    max_invalid: float = DEFAULT_MAX_INVALID,
    bootstrap: int = 1000,
    seed: int = 0,
    tts: str | None = None,
    viewer_frames: int = 4,
) -> dict[str, Any]:
    """Score a predictions file against a prepared dataset and write results, per-sample lines and a report.

    L3 (`l3`, in the default suite) speaks each narration at the dataset's describers' pace; `tts` (an engine of
    `ad.tts`, e.g. "espeak-ng") adds its spoken variant (`l3_tts`). The references' own L3 goes beside the run's
    (`reference_scores`). `viewer_frames` frames per clip go into the clip viewer's strips (`clips.html`; 0: none).

    Every score gets a 95% interval by bootstrap over movies (`bootstrap` resamples, seeded; 0 switches it off),
    stored as `ci95` beside `scores` (see `stats`).

    `missing_as_empty` scores clips without a prediction as empty narrations (for runs with failed clips);
    `results.json` then counts them in `num_missing`.

    The results are `complete` only when every judged metric is: no failed judge request, invalid judgments
    at most `max_invalid` (a fraction) of the pairs, at least one valid judgment. Otherwise they are still
    written, with the counts, `"complete": false` and the `problems` that say which metric and how many.

    Writes `out/results.json`, `out/per_sample.jsonl`, `out/report.html`, `out/scores.png` and `out/clips.html`
    (with `out/frames/`). `out` is
    claimed for `evaluate` and locked while the run lasts (`utils.outputs`): a folder holding anything else, or
    another run writing it, is refused.

    Example:
        >>> import json
        >>> preds = tmp / "preds.jsonl"
        >>> lines = [json.dumps({"clip_id": clip_id, "narration": "A man walks in."}) for clip_id in test["clip_id"]]
        >>> _ = preds.write_text("\\n".join(lines) + "\\n")
        >>> results = evaluate_predictions(preds, mini_dataset, out=tmp / "results", metrics=["rouge"], bootstrap=0)
        >>> results["complete"], sorted(results["scores"])
        (True, ['ROUGE-L'])
    """
    inputs = {"--predictions": predictions_path, "--dataset": dataset, "--baselines": baselines}
    with output_folder(out, job="evaluate", inputs=inputs) as folder:  # held from the start: one writer
        return _evaluate(
            predictions_path,
            dataset,
            folder,
            config=config,
            split=split,
            metrics=metrics,
            judge=judge,
            bertscore_model=bertscore_model,
            baselines=baselines,
            missing_as_empty=missing_as_empty,
            max_invalid=max_invalid,
            bootstrap=bootstrap,
            seed=seed,
            tts=tts,
            viewer_frames=viewer_frames,
        )


def _evaluate(
    predictions_path: str | Path,
    dataset: str,
    folder: OutputFolder,
    *,
    config: str,
    split: str,
    metrics: Sequence[str],
    judge: Judge | None,
    bertscore_model: str | None,
    baselines: str | Path | None,
    missing_as_empty: bool,
    max_invalid: float,
    bootstrap: int,
    seed: int,
    tts: str | None,
    viewer_frames: int,
) -> dict[str, Any]:
    language = config_language(config)
    rows = split_rows(dataset, config, split)
    clip_timing = ClipTiming.from_rows(rows, dataset, language, tts=tts)
    metrics = clip_timing.metrics(metrics)
    clip_ids = rows["clip_id"]
    predictions = load_predictions(predictions_path)
    candidates = match_predictions(
        predictions, clip_ids, source=str(predictions_path), missing_as_empty=missing_as_empty
    )
    references = rows["narration"]
    scored = score_clips(
        candidates,
        references,
        language=language,
        metrics=metrics,
        reference_characters=rows["characters"],
        casts=rows["cast"],
        bertscore_model=bertscore_model,
        judge=judge,
        max_invalid=max_invalid,
        **clip_timing.inputs(candidates, language),
    )
    flat, judged = _flatten(scored.scores, metrics)
    problems = [problem for result in judged.values() for problem in result["problems"]]
    movie_ids = rows["movie_id"]
    intervals, timing = _intervals(scored, movie_ids, bootstrap, seed)
    results = {
        "dataset": dataset,
        "config": config,
        "split": split,
        "num_samples": len(clip_ids),
        "predictions": str(predictions_path),
        "predictions_sha256": file_sha256(predictions_path),
        "num_missing": sum(c not in predictions for c in clip_ids),
        "metrics": list(metrics),
        "scores": flat,
        "ci95": intervals,
        "bootstrap": {
            "resamples": bootstrap,
            "seed": seed,
            "unit": "movie",
            "movies": len(set(movie_ids)),
            "seconds": timing,
            "warning": few_movies_warning(movie_ids) if bootstrap > 0 else None,
        },
        "complete": not problems,
        "problems": problems,
        "max_invalid": max_invalid,
        "judge": _provenance(judged),
        "reference_scores": _reference_scores(references, metrics, clip_timing, language),
        **clip_timing.provenance(),
        "package_version": __version__,
    }
    lines = per_sample_lines(rows, candidates, scored, judged)
    folder.write("per_sample.jsonl", "\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n")
    write_report(results, folder, baselines=baselines)
    write_clip_viewer(folder, rows, lines, num_frames=viewer_frames, title=f"{dataset} {config}/{split}")
    # results.json last: its presence says the run finished (a run with failed judgments says complete=false)
    folder.write("results.json", json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return results


def _flatten(scores: dict[str, Any], metrics: Sequence[str]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The flat scores of `results.json` (a judged metric's scores and its invalid / failed counts), and the judged
    metrics' whole results by name."""
    flat = dict(scores)
    judged = {spec.name: flat.pop(spec.name) for spec in specs(metrics) if spec.judged and spec.name in flat}
    for metric, result in judged.items():
        flat.update({k: result[k] for k in METRICS.get(metric).scores})
        flat[f"{metric.upper()}-invalid"] = result["num_invalid"]
        flat[f"{metric.upper()}-failed"] = result["num_failed"]
    return flat, judged


_PROVENANCE = ("judge_model", "judge_backend", "judge_endpoint", "answered_by", "prompt_version", "official_prompts")


def _provenance(judged: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """Who judged (one judge scores every judged metric of a run), or None without a judged metric."""
    last = list(judged.values())[-1] if judged else None
    return {k: last[k] for k in _PROVENANCE} if last else None


def _intervals(scored: ClipScores, movie_ids: Sequence[str], bootstrap: int, seed: int) -> tuple[dict, float | None]:
    """The 95% intervals by bootstrap over movies, and the seconds they took (none with `bootstrap` 0)."""
    if bootstrap <= 0:
        return {}, None
    began = time.perf_counter()
    intervals = bootstrap_intervals(scored.parts(movie_ids), resamples=bootstrap, seed=seed)
    return intervals, round(time.perf_counter() - began, 3)


def _reference_scores(
    references: Sequence[str], metrics: Sequence[str], timing: ClipTiming, language: str
) -> dict[str, Any]:
    """The references' own timed scores (L3 and its spoken variant): how well human describers fit, the ceiling."""
    timed = [spec.name for spec in specs(metrics) if "timing" in spec.needs]
    if not timed:
        return {}
    inputs = timing.inputs(references, language)
    return score_clips(references, references, language=language, metrics=timed, **inputs).scores
