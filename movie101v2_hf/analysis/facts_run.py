"""The steps of `movie101v2 analyze facts` (see `analysis/facts.py`): sample the clips, extract their facts with the
text LLM, ask the vision model about every 2-fps frame, and compute recall at every rate from those answers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..backends.loop import run_backend
from ..data.paper import paper_fact_recall
from ..llm.formats import AnswerFormat
from ..llm.options import to_llm_options
from ..llm.rounds import Outcome, RoundPolicy, Rounds
from ..prompting import PromptSettings
from ..utils.io import read_jsonl
from ..utils.outputs import OutputFolder
from ..utils.runs import ResumableRun, RunRecord
from .facts import (
    CATEGORIES,
    FACTS_SCHEMA,
    PROMPT_VERSION,
    RATES,
    FactsOptions,
    facts_prompt,
    frame_times,
    parse_facts,
)
from .recall import read_answers, recall_tables
from .text import seeded_sample


def sample_clips(options: FactsOptions) -> Any:
    """The seeded clip sample of the split (in dataset order of the sampled positions), movies undecoded."""
    from datasets import Video, load_dataset

    rows = load_dataset(options.dataset, options.config, split=options.split)
    if "video" not in rows.column_names:
        raise ValueError(f"{options.dataset} has no `video` column: prepare it with --videos DIR to ask about frames.")
    rows = rows.select_columns(["clip_id", "movie_id", "start", "end", "narration", "video"])
    return rows.cast_column("video", Video(decode=False)).select(
        sorted(seeded_sample(len(rows), options.clips, options.seed))
    )


def extract_facts(options: FactsOptions, clips: Any, folder: OutputFolder) -> RunRecord:
    """`facts.jsonl`: each sampled clip's facts, one line as each answer arrives (cached; a rerun asks only the
    rest; an invalid answer is asked once more with the error)."""
    llm_options = to_llm_options(options, "extractor")
    llm = llm_options.build()
    settings = {
        "model": llm.model,
        "backend": llm.name,
        "prompt_version": PROMPT_VERSION,
        "clips": list(clips["clip_id"]),
    }
    out = folder.path("facts.jsonl")
    folder.path("facts.run.json")
    with ResumableRun(out, settings, clips["clip_id"], job=options.job, overwrite=options.overwrite) as run:
        pending = list(run.pending)

        def settled(index: int, outcome: Outcome) -> None:
            clip = clips[pending[index]]
            if outcome.failed or not outcome.valid:
                run.fail(
                    clip["clip_id"], "the request failed" if outcome.failed else f"invalid facts: {outcome.error}"
                )
            else:
                run.write([{"clip_id": clip["clip_id"], "movie_id": clip["movie_id"], "facts": outcome.value}])

        Rounds(
            llm,
            lambda _, answer: parse_facts(answer),
            answer_format=AnswerFormat.of_schema("visual_facts", FACTS_SCHEMA),
            cache=llm_options.response_cache(),
            policy=RoundPolicy(asks=2, cache_invalid=False, follow_up=_follow_up),
            purpose="visual_facts",
            on_settled=settled,
            progress="facts" if options.show_progress else None,
            unit="clip",
        ).ask([facts_prompt(clips[k]["narration"]) for k in pending])
    return run.record


def _follow_up(prompt: str, error: str) -> str:
    return f"{prompt}\n\nYour previous answer was not valid ({error}). Answer again."


def frame_rows(clips: Any, facts: dict[str, list[dict[str, str]]]) -> Any:
    """One row per 2-fps frame of every clip with facts: `frame_id` (`<clip>@<k>`), its time, the clip's facts."""
    from datasets import Dataset

    rows = []
    for clip in clips:
        if not facts.get(clip["clip_id"]):
            continue  # no fact: nothing to ask
        for k, seconds in enumerate(frame_times(clip["start"], clip["end"])):
            rows.append(
                {
                    "frame_id": f"{clip['clip_id']}@{k}",
                    "clip_id": clip["clip_id"],
                    "time": seconds,
                    "video": clip["video"]["path"],
                    "facts": json.dumps(facts[clip["clip_id"]], ensure_ascii=False),
                }
            )
    return Dataset.from_list(rows) if rows else None


def read_facts(folder: Path) -> dict[str, list[dict[str, str]]]:
    """clip id -> its facts, from `facts.jsonl`."""
    return {line["clip_id"]: line["facts"] for _, line in read_jsonl(folder / "facts.jsonl", what="facts file")}


def ask_frames(options: FactsOptions, frames: Any, folder: OutputFolder, facts_digest: str) -> RunRecord:
    """`frames.jsonl`: the vision model's answer for every 2-fps frame, one durable line each (the run layer)."""
    from ..backends import BACKENDS

    backend_class = BACKENDS.get(options.backend)
    if not getattr(backend_class, "needs_frames", True):
        raise ValueError(f"--backend {options.backend} reads no frames: choose openai, transformers or vllm.")
    fixed = {"num_examples": 0} if getattr(backend_class, "takes_examples", False) else {}
    backend = backend_class.from_options(options, settings=PromptSettings(max_portraits=0), portraits=None, **fixed)
    folder.path("frames.run.json")
    settings = {
        "backend_settings": backend.describe(),
        "prompt_version": PROMPT_VERSION,
        "max_pixels": options.max_pixels,
        "facts_sha256": facts_digest,  # other facts are other questions
    }
    return run_backend(
        backend, frames, folder.path("frames.jsonl"), settings=settings, job=options.job, key="frame_id",
        output_field="answer", batch_size=options.batch_size, num_workers=options.num_workers,
        retries=options.retries, overwrite=options.overwrite, show_progress=options.show_progress, unit="frame",
        inputs=options.input_paths(),
    )  # fmt: skip


def analyze_facts(options: FactsOptions) -> dict[str, Any]:
    """Run the three steps into `options.out` and write `recall.json` and the figures; returns the results,
    `complete` only when every clip has its facts and every frame its answer."""
    clips = sample_clips(options)
    with OutputFolder(options.out, job=options.job, inputs=options.input_paths()) as folder:
        facts_record = extract_facts(options, clips, folder)
        facts = read_facts(folder.folder)
        digest = hashlib.sha256(json.dumps(facts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        frames = frame_rows(clips, facts)
        frames_record = ask_frames(options, frames, folder, digest) if frames is not None else None
        lines = [line for _, line in read_jsonl(folder.folder / "frames.jsonl", what="frames file")] if frames else []
        seen, invalid = read_answers(lines, facts)
        movie_of = dict(zip(clips["clip_id"], clips["movie_id"]))
        tables = recall_tables(facts, seen, movie_of, resamples=options.bootstrap, seed=options.seed)
        failures = {**facts_record.failures, **(frames_record.failures if frames_record else {})}
        results = {
            "dataset": options.dataset, "config": options.config, "split": options.split, "seed": options.seed,
            "clips_sampled": len(clips), "clips_with_facts": sum(1 for f in facts.values() if f),
            "extractor": facts_record.settings["model"], "vision_model": options.model, "backend": options.backend,
            **tables, "invalid_frames": invalid, "failed": len(failures),
            "complete": facts_record.complete and (frames_record is None or frames_record.complete),
            "paper": paper_fact_recall(),
        }  # fmt: skip
        write_figures(results, folder)
        folder.write("recall.json", json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return results


def _error_bars(values: list[float], intervals: list[Any]) -> list[list[float]]:
    """matplotlib's `yerr` (below, above) from 95% intervals (none: 0)."""
    return [
        [v - i[0] if i else 0 for v, i in zip(values, intervals)],
        [i[1] - v if i else 0 for v, i in zip(values, intervals)],
    ]


def write_figures(results: dict[str, Any], folder: OutputFolder) -> None:
    """Fig 6 (recall by frame rate, the paper's 77.8% at 2 fps marked) and Fig 7 (recall by category at 2 fps)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = [float(r) for r in results["by_rate"]]
    figure, axes = plt.subplots(figsize=(5.5, 3.8))
    for name, label in (("instance", "Recall (instance)"), ("clip", "Recall (clip)")):
        values = [results["by_rate"][str(r)][name] or 0 for r in rates]
        intervals = [results["by_rate"][str(r)].get("ci95", {}).get(name) for r in rates]
        axes.errorbar(rates, values, yerr=_error_bars(values, intervals), marker="o", capsize=3, label=label)
    paper = results["paper"]
    label = f"paper: {paper['model']}, instance"
    axes.scatter([paper["fps"]], [paper["recall_instance"]], marker="*", s=120, color="black", label=label)
    axes.set_xscale("log", base=2)
    axes.set_xticks(rates, [f"{r:g}" for r in rates])
    axes.set_xlabel("frames per second")
    axes.set_ylabel("recall (%)")
    axes.set_title(f"Visual fact recall, {results['vision_model']}", fontsize=9)
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(folder.path("fig6_recall_by_rate.png"), dpi=120)
    plt.close(figure)

    top = results["by_rate"][str(RATES[0])]
    present = [c for c in CATEGORIES if top[c] is not None]  # a category without facts has no recall, not 0
    values = [top[c] for c in present]
    figure, axes = plt.subplots(figsize=(5.5, 3.8))
    errors = _error_bars(values, [top.get("ci95", {}).get(c) for c in present])
    axes.bar([f"{c}\n({top['category_facts'][c]} facts)" for c in present], values, yerr=errors, capsize=3)
    axes.set_ylabel(f"recall (%) at {RATES[0]:g} fps")
    axes.set_title(
        "Visual fact recall by category\n(the paper: objects and scenes best, actions and emotions worst)", fontsize=8
    )
    figure.tight_layout()
    figure.savefig(folder.path("fig7_recall_by_category.png"), dpi=120)
    plt.close(figure)
