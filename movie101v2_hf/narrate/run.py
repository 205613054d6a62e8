"""Narrating a split: `movie101v2 narrate` writes one `{"clip_id", "narration"}` line per clip.

Any registered backend (`transformers`, `vllm`, `openai`, `retrieval`) narrates; the prompt is built by the
training collator (`NarrationCollator`) with the `PromptSettings` a training run saved beside its adapter, so a
fine-tuned model is evaluated the way it was trained.

A run keeps the run layer's contract (`utils.runs`): each batch's lines are durable before the next batch starts,
a rerun skips the clips already written (after checking that the settings are the same), a clip that fails is
retried, then recorded with its error, and the record says `complete: false` until every clip is written.
Frames are decoded in DataLoader workers while the model generates.

Data parallel runs on `accelerate launch` (one process per GPU group; several nodes with its usual flags): each
rank narrates its contiguous share of the clips into a shard file, and rank 0 merges the shards in dataset order;
the ranks meet at barriers on the launcher's store, with no torch process group for engines to inherit.
`--data-parallel-size N` starts that launch for you.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..backends import BACKENDS, Backend
from ..backends.loop import run_backend
from ..backends.options import EngineOptions
from ..constants import SINGLE_LANGUAGE_CONFIGS, config_language
from ..data.loading import load_portraits, load_split
from ..errors import check_minimums
from ..faces import IDENTIFIED_COLUMN, add_identified_characters
from ..prompting import PROMPT_SETTINGS_FILE, PromptOverrides, PromptSettings
from ..utils.parallel import DataParallel, launch_data_parallel
from ..utils.runs import RunRecord, check_output
from .retrieval import RetrievalBackend

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class NarrateOptions(EngineOptions, PromptOverrides):
    """Every option of `movie101v2 narrate` (the command line is built from these fields): the engine's are
    `EngineOptions`'s; the prompt fields of `PromptOverrides` override the adapter's saved prompt settings.

    Example:
        >>> NarrateOptions(dataset="movie101v2-hf", out="preds.jsonl", backend="retrieval").model
        'retrieval'
        >>> NarrateOptions(dataset="d", out="p.jsonl", backend="retrieval", video_num_frames=8).prompt
        {'video_num_frames': 8}
    """

    dataset: str = field(metadata={"help": "A prepared folder or Hub id (prepared with --videos)."})
    out: str = field(metadata={"help": "Predictions JSONL; its run record goes to OUT.run.json. A rerun resumes."})
    model: str | None = field(
        default=None, metadata={"help": "Model id or folder (the served name for openai); not for retrieval."}
    )
    backend: str = field(
        default="transformers",
        metadata={
            "help": "transformers (any machine), vllm (GPU, fast), openai (a server), retrieval (no model).",
            "choices": BACKENDS.names(),
        },
    )
    adapter: str | None = field(
        default=None, metadata={"help": "A LoRA adapter of recipes/sft_lora.py; its prompt settings apply."}
    )
    config: str = field(
        default="en", metadata={"help": "A single-language clip config.", "choices": SINGLE_LANGUAGE_CONFIGS}
    )
    split: str = field(
        default="test", metadata={"help": "train, validation or test.", "choices": ("train", "validation", "test")}
    )
    movie_ids: list[str] | None = field(default=None, metadata={"help": "Only these movies (a quick check)."})
    max_samples: int | None = field(default=None, metadata={"help": "Only the first N clips (a quick check)."})
    batch_size: int = field(default=4, metadata={"help": "Clips per generate call."})
    num_workers: int = field(default=2, metadata={"help": "DataLoader workers decoding frames."})
    max_new_tokens: int = field(default=256, metadata={"help": "Narration length cap."})
    retries: int = field(default=1, metadata={"help": "Extra attempts for a failed clip."})
    overwrite: bool = field(default=False, metadata={"help": "Start again instead of resuming."})
    allow_failures: bool = field(
        default=False,
        metadata={
            "help": "Exit 0 even if clips failed (listed in the run record; bench scores them as empty narrations)."
        },
    )
    num_examples: int = field(default=3, metadata={"help": "Training narrations as in-context examples (openai)."})
    faces: str | None = field(
        default=None,
        metadata={
            "help": "A `movie101v2 faces` output: list the names it "
            "found on screen in each clip's prompt (off by default)."
        },
    )
    show_progress: bool = field(default=True, metadata={"help": "Show a progress bar."})

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"Unknown backend {self.backend!r}; choose one of {list(BACKENDS.names())}.")
        if self.backend == "retrieval":
            self.model = "retrieval"
        elif not self.model:
            raise ValueError(f"--backend {self.backend} needs --model (a model id or folder).")
        check_minimums(
            self,
            data_parallel_size=1,
            tensor_parallel_size=1,
            max_samples=1,
            batch_size=1,
            num_workers=0,
            max_new_tokens=1,
            retries=0,
        )

    def run_settings(self) -> dict[str, Any]:
        """What identifies the predictions (compared when resuming): not batch size, workers or paths."""
        keys = (
            "dataset",
            "model",
            "backend",
            "adapter",
            "config",
            "split",
            "movie_ids",
            "max_samples",
            "max_new_tokens",
            "num_examples",
            "data_parallel_size",
            "faces",
        )
        return {key: getattr(self, key) for key in keys}

    job = "narrate"  # the run record's owner (not a field: no flag)

    def input_paths(self) -> dict[str, str | None]:
        """The inputs `--out` may not overlap (flag -> path)."""
        return {"--dataset": self.dataset, "--model": self.model, "--adapter": self.adapter, "--faces": self.faces}


# -- a split, from options ---------------------------------------------------------------------------------------


def resolve_prompt_settings(
    language: str, adapter: str | None = None, overrides: dict[str, Any] | None = None
) -> PromptSettings:
    """The adapter's saved prompt settings (else the defaults), with `language` and any explicit overrides.

    Example:
        >>> resolve_prompt_settings("en", overrides={"video_num_frames": 8}).video_num_frames
        8
    """
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if adapter and (Path(adapter) / PROMPT_SETTINGS_FILE).is_file():
        values = asdict(PromptSettings.load(adapter))
        if values["language"] != language:
            logger.warning("the adapter was trained on %s narrations; narrating in %s", values["language"], language)
        if overrides:
            logger.warning("overriding the adapter's prompt settings: %s", overrides)
    else:
        values = asdict(PromptSettings(language=language))
    return PromptSettings(**{**values, "language": language, **overrides})


def build_backend(options: NarrateOptions) -> tuple[Backend, PromptSettings | None]:
    """The backend `options.backend` names (from the registry), with its prompt settings and portraits."""
    cls = BACKENDS.get(options.backend)
    if not cls.needs_frames:
        return cls.from_options(options), None
    language = config_language(options.config)
    settings = resolve_prompt_settings(language, options.adapter, options.prompt)
    portraits = load_portraits(options.dataset, language, max_portraits=settings.max_portraits)
    examples = None
    if cls.takes_examples and options.num_examples:
        examples = RetrievalBackend.from_dataset(options.dataset, options.config, options.split).requests
    return cls.from_options(options, settings=settings, portraits=portraits, examples=examples), settings


def narrate_split(options: NarrateOptions) -> RunRecord:
    """Narrate a split of a prepared dataset as `options` say.

    Under `accelerate launch` with several processes, each narrates its share and rank 0 merges; with
    `data_parallel_size > 1` outside such a launch, this starts one.

    Example:
        >>> options = NarrateOptions(dataset=mini_dataset, out=str(tmp / "preds.jsonl"), backend="retrieval",
        ...                          show_progress=False)
        >>> narrate_split(options).summary("narrated")  # doctest: +ELLIPSIS
        '3/3 clips narrated into .../preds.jsonl (... clips/s this run)'
    """
    if options.data_parallel_size > 1 and int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return launch_data_parallel(options, module="movie101v2_hf.narrate.run")
    ranks = DataParallel.start(options.out, tensor_parallel_size=options.tensor_parallel_size)
    check_output(ranks.output, options)  # before the data and the model load: a refused --out fails at once
    clips = load_split(
        options.dataset,
        options.config,
        options.split,
        needs_video=BACKENDS.get(options.backend).needs_frames,
        movie_ids=options.movie_ids,
        max_samples=options.max_samples,
    )
    clips = ranks.share(clips)
    if options.faces:
        clips = add_identified_characters(clips, options.faces)
        options = replace(options, identified_characters_column=IDENTIFIED_COLUMN)
    backend, settings = build_backend(options)
    column = settings.identified_characters_column if settings else None
    if column and column not in clips.column_names:
        raise ValueError(
            f"The prompt lists names found on screen (column {column!r}, as the adapter was trained), but the clips "
            "have no such column: pass --faces FACES.jsonl (a `movie101v2 faces` output)."
        )
    run_settings = {
        **options.run_settings(),
        "prompt": asdict(settings) if settings else None,
        "backend_settings": backend.describe(),
    }
    record = run_backend(
        backend,
        clips,
        ranks.output,
        settings=run_settings,
        batch_size=options.batch_size,
        num_workers=options.num_workers if backend.needs_frames else 0,
        retries=options.retries,
        overwrite=options.overwrite,
        show_progress=options.show_progress,
        progress_position=ranks.position,
        job=options.job,
        inputs=options.input_paths(),
    )
    return ranks.finish(record)


if __name__ == "__main__":  # a rank of `launch_data_parallel`: python -m movie101v2_hf.narrate.run '<options>'
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    rank_record = narrate_split(NarrateOptions(**json.loads(sys.argv[1])))  # the options, as asdict() wrote them
    if int(os.environ.get("RANK", "0")) == 0:
        print(rank_record.summary("narrated"), file=sys.stderr)
    sys.exit(0 if rank_record.complete else 1)
