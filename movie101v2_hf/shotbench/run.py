"""`movie101v2 shotbench run`: a model answers every ShotBench question, on the backends and the run layer that
narrate uses: resumable (each answer durable at once), data parallel on `accelerate launch`, a progress bar.

The official settings by default: the official prompt, clips at 12 fps, at most 360*640 pixels per frame,
greedy decoding, up to 1,024 new tokens; `--reasoning` uses the `<think>`/`<answer>` system prompt. Output lines
are `{"index", "prediction"}`, what `movie101v2 shotbench evaluate` scores.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from datasets import Image

from ..backends import BACKENDS
from ..backends.loop import run_backend
from ..backends.options import EngineOptions
from ..errors import check_minimums
from ..prompting import PromptSettings
from ..utils.parallel import DataParallel, launch_data_parallel
from ..utils.runs import RunRecord, check_output
from .data import load_shotbench
from .prompting import MAX_PIXELS, VIDEO_FPS, ShotBenchCollator

logger = logging.getLogger(__name__)
MODEL_BACKENDS = tuple(name for name in BACKENDS.names() if BACKENDS.get(name).needs_frames)


@dataclass(kw_only=True)
class ShotBenchRunOptions(EngineOptions):
    """Every option of `movie101v2 shotbench run` (the command line is built from these fields; the engine's are
    `EngineOptions`'s)."""

    data: str = field(metadata={"help": "The ShotBench folder (test.tsv, image/, video/)."})
    out: str = field(metadata={"help": 'Predictions JSONL ({"index", "prediction"}); a rerun resumes.'})
    model: str = field(metadata={"help": "Model id or folder (the served name for openai)."})
    backend: str = field(default="transformers", metadata={"help": "Model backend.", "choices": MODEL_BACKENDS})
    adapter: str | None = field(default=None, metadata={"help": "A LoRA adapter (transformers, vllm)."})
    reasoning: bool = field(default=False, metadata={"help": "The <think>/<answer> system prompt (reasoning models)."})
    video_fps: float = field(default=VIDEO_FPS, metadata={"help": "Clip frames per second (official: 12)."})
    max_pixels: int = field(default=MAX_PIXELS, metadata={"help": "Pixel budget per frame or still (360*640)."})
    max_new_tokens: int = field(default=1024, metadata={"help": "Answer length cap (official: 1024)."})
    max_samples: int | None = field(default=None, metadata={"help": "Only the first N questions (a quick check)."})
    batch_size: int = field(default=4, metadata={"help": "Questions per generate call."})
    num_workers: int = field(default=2, metadata={"help": "DataLoader workers decoding media."})
    retries: int = field(default=1, metadata={"help": "Extra attempts for a failed question."})
    overwrite: bool = field(default=False, metadata={"help": "Start again instead of resuming."})
    allow_failures: bool = field(default=False, metadata={"help": "Exit 0 even if questions failed."})
    show_progress: bool = field(default=True, metadata={"help": "Show a progress bar."})

    def prompter(self, processor: Any) -> ShotBenchCollator:
        """The prompt builder the backend uses (`CollatorBackend.from_options` picks it up)."""
        return ShotBenchCollator(
            processor,
            reasoning=self.reasoning,
            video_fps=self.video_fps,
            max_pixels=self.max_pixels,
            frame_cache=self.frame_cache,
        )

    def run_settings(self) -> dict[str, Any]:
        """What identifies the predictions (compared when resuming)."""
        keys = (
            "data",
            "model",
            "backend",
            "adapter",
            "reasoning",
            "video_fps",
            "max_pixels",
            "max_new_tokens",
            "max_samples",
            "data_parallel_size",
        )
        return {key: getattr(self, key) for key in keys}

    def __post_init__(self) -> None:
        check_minimums(
            self, max_samples=1, batch_size=1, num_workers=0, max_new_tokens=1, retries=0, data_parallel_size=1
        )

    job = "shotbench run"  # the run record's owner (not a field: no flag)

    def input_paths(self) -> dict[str, str | None]:
        """The inputs `--out` may not overlap (flag -> path)."""
        return {"--data": self.data, "--model": self.model, "--adapter": self.adapter}


def run_shotbench(options: ShotBenchRunOptions) -> RunRecord:
    """Answer every question of `options.data` into `options.out` (see the module).

    Example:
        >>> options = ShotBenchRunOptions(data=mini_shotbench, out=str(tmp / "preds.jsonl"), model=tiny_model,
        ...                               max_samples=2, max_new_tokens=2, num_workers=0, show_progress=False)
        >>> run_shotbench(options).complete
        True
    """
    if options.data_parallel_size > 1 and int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return launch_data_parallel(options, module="movie101v2_hf.shotbench.run", key="index")
    ranks = DataParallel.start(options.out, tensor_parallel_size=options.tensor_parallel_size, key="index")
    check_output(ranks.output, options)  # before the data and the model load
    rows = load_shotbench(options.data)
    if options.max_samples is not None:
        rows = rows.select(range(min(options.max_samples, len(rows))))
    rows = ranks.share(rows)
    # stills decoded in the collator, question by question: an unreadable one fails its question, not the batch
    rows = rows.cast_column("image", Image(decode=False))
    fixed = {"num_examples": 0} if BACKENDS.get(options.backend).takes_examples else {}  # no examples here
    backend = BACKENDS.get(options.backend).from_options(
        options, settings=PromptSettings(max_portraits=0), portraits=None, **fixed
    )
    record = run_backend(
        backend,
        rows,
        ranks.output,
        settings={**options.run_settings(), "backend_settings": backend.describe()},
        batch_size=options.batch_size,
        num_workers=options.num_workers,
        retries=options.retries,
        overwrite=options.overwrite,
        show_progress=options.show_progress,
        key="index",
        output_field="prediction",
        progress_position=ranks.position,
        unit="question",
        job=options.job,
        inputs=options.input_paths(),
    )
    return ranks.finish(record)


if __name__ == "__main__":  # a rank of `launch_data_parallel`
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    rank_record = run_shotbench(ShotBenchRunOptions(**json.loads(sys.argv[1])))
    if int(os.environ.get("RANK", "0")) == 0:
        print(rank_record.summary("answered", unit="question"), file=sys.stderr)
    sys.exit(0 if rank_record.complete else 1)
