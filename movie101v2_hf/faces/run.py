"""Identifying the cast over a split (`movie101v2 faces`), scoring it, and using the result elsewhere.

- `identify_split`: a resumable JSONL on the run layer, one line per clip, with the run record beside it;
- `evaluate_identification`: precision, recall and F1 against the characters marked in the reference narrations,
  as in the paper's test (its Table 2, shown beside the run by `identification_table`);
- `add_identified_characters`: joins the result onto clip rows, for `narrate --faces` and the training recipe.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..constants import SINGLE_LANGUAGE_CONFIGS, SPLITS
from ..data.loading import load_split
from ..data.paper import paper_table2
from ..errors import FileFormatError, check_minimums
from ..utils.io import read_jsonl
from ..utils.runs import ResumableRun
from .identify import (
    DEFAULT_DET_SIZE,
    DEFAULT_DET_THRESH,
    IDENTIFIED_COLUMN,
    MODEL_LICENSE_NOTE,
    CastBank,
    FaceAnalyzer,
    FaceIdentifier,
    FaceSettings,
)

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class FacesOptions(FaceSettings):
    """Every option of `movie101v2 faces` (the command line is built from these fields), the matching settings
    of `FaceSettings` included.

    Example:
        >>> FacesOptions(dataset="movie101v2-hf", model_dir="buffalo_l", out="faces.jsonl").settings.threshold
        0.3
    """

    dataset: str = field(metadata={"help": "A prepared folder or Hub id (prepared with --videos)."})
    model_dir: str = field(
        metadata={
            "help": "A local insightface model pack, e.g. ~/.insightface/models/buffalo_l "
            "(non-commercial research use only); nothing is downloaded."
        }
    )
    out: str = field(metadata={"help": "JSONL, one line per clip; a rerun resumes."})
    config: str = field(
        default="en", metadata={"help": "Names in this config's language.", "choices": SINGLE_LANGUAGE_CONFIGS}
    )
    split: str = field(default="test", metadata={"help": "train, validation or test.", "choices": SPLITS})
    det_size: int = field(default=DEFAULT_DET_SIZE, metadata={"help": "Detector input side (default 640)."})
    det_thresh: float = field(default=DEFAULT_DET_THRESH, metadata={"help": "Detection score threshold."})
    movie_ids: list[str] | None = field(default=None, metadata={"help": "Only these movies."})
    max_samples: int | None = field(default=None, metadata={"help": "Only the first N clips."})
    frame_cache: str | None = field(
        default=None,
        metadata={"help": "A frame-cache folder: each clip decoded once, then read back (shared with narrate)."},
    )
    cache_dir: str | None = field(
        default=None,
        metadata={
            "help": "Portrait embedding cache (default: "
            "$MOVIE101V2_HF_CACHE/faces, else ~/.cache/huggingface/movie101v2_hf/faces)."
        },
    )
    num_workers: int = field(default=2, metadata={"help": "DataLoader workers decoding frames."})
    overwrite: bool = field(default=False, metadata={"help": "Start again instead of resuming."})
    evaluate: bool = field(
        default=False,
        metadata={
            "help": "Then report precision, recall and F1 against the "
            "characters marked in the reference narrations (the paper's test)."
        },
    )
    show_progress: bool = field(default=True, metadata={"help": "Show progress bars."})

    def __post_init__(self) -> None:
        super().__post_init__()
        check_minimums(self, max_samples=1, num_workers=0)

    @property
    def settings(self) -> FaceSettings:
        """The matching settings."""
        return FaceSettings(**{f.name: getattr(self, f.name) for f in fields(FaceSettings)})

    def run_settings(self, fingerprint: str) -> dict[str, Any]:
        """What identifies the output (compared when resuming)."""
        return {
            "dataset": self.dataset,
            "config": self.config,
            "split": self.split,
            "model": fingerprint,
            "det_size": self.det_size,
            "det_thresh": self.det_thresh,
            "movie_ids": self.movie_ids,
            "max_samples": self.max_samples,
            **asdict(self.settings),
        }


class _DecodeClips:
    """DataLoader collate_fn: decode one clip's frames in a worker (an error is returned, not raised)."""

    def __init__(self, identifier: FaceIdentifier) -> None:
        self.sampler = identifier.sampler

    def __call__(self, rows: list[dict[str, Any]]) -> tuple[dict[str, Any], Any]:
        row = rows[0]
        try:
            return row, self.sampler.decode(row["video"], row["start"], row["end"], clip_id=row["clip_id"])
        except Exception as err:  # noqa: BLE001 (recorded per clip)
            return row, err


def identify_split(options: FacesOptions) -> dict[str, Any]:
    """Identify the cast in every clip of a split into `options.out` (JSONL), resuming what is already there.

    The run record (settings, counts, failed clips, portraits without a face) goes to `<out>.run.json` and is
    returned.

    Example:
        >>> from movie101v2_hf.testing import make_tiny_face_models
        >>> models = str(make_tiny_face_models(tmp / "faces"))  # an insightface pack (buffalo_l) for real use
        >>> options = FacesOptions(dataset=mini_dataset, model_dir=models, out=str(tmp / "faces.jsonl"), det_size=128,
        ...                        cache_dir=str(tmp / "bank"), show_progress=False)
        >>> record = identify_split(options)
        >>> record["complete"], record["num_items"]
        (True, 3)
    """
    import torch
    from datasets import concatenate_datasets, load_dataset
    from tqdm.auto import tqdm

    logger.info(MODEL_LICENSE_NOTE)
    analyzer = FaceAnalyzer(options.model_dir, det_size=options.det_size, det_thresh=options.det_thresh)
    clips = load_split(
        options.dataset,
        options.config,
        options.split,
        needs_video=True,
        movie_ids=options.movie_ids,
        max_samples=options.max_samples,
    )
    movies = concatenate_datasets(list(load_dataset(options.dataset, "movies").values()))
    bank = CastBank.build(
        analyzer,
        movies,
        language=options.config[:2],
        cache_dir=options.cache_dir,
        movie_ids=sorted(set(clips["movie_id"])),
        show_progress=options.show_progress,
    )
    identifier = FaceIdentifier(analyzer, bank, options.settings, frame_cache=options.frame_cache)
    extra = {
        "portraits_without_face": {m: c.missing for m, c in bank.casts.items() if c.missing},
        "portraits": {"embedded": bank.computed, "from_cache": bank.cached},
        "license_note": MODEL_LICENSE_NOTE,
    }
    settings = options.run_settings(analyzer.fingerprint)
    inputs = {"--dataset": options.dataset, "--model-dir": options.model_dir}
    with ResumableRun(
        options.out, settings, clips["clip_id"], job="faces", overwrite=options.overwrite, extra=extra, inputs=inputs
    ) as run:
        loader = torch.utils.data.DataLoader(
            clips.select(run.pending),
            batch_size=1,
            num_workers=options.num_workers,
            collate_fn=_DecodeClips(identifier),
        )
        with tqdm(
            total=len(clips), initial=len(run.done), unit="clip", desc="faces", disable=not options.show_progress
        ) as bar:
            for row, decoded in loader:
                if isinstance(decoded, Exception):
                    run.fail(row["clip_id"], f"{type(decoded).__name__}: {decoded}")
                else:
                    run.write([identifier.identify(row, *decoded)])
                bar.update()
    return run.record.as_dict()


def read_identified(path: str | Path) -> dict[str, list[str]]:
    """`{clip_id: identified names}` from a `movie101v2 faces` output; a bad line is an error naming it."""
    identified: dict[str, list[str]] = {}
    for number, row in read_jsonl(path, what="faces file"):
        try:
            identified[row["clip_id"]] = list(row["characters"])
        except (KeyError, TypeError):
            raise FileFormatError(
                'expected a JSON object with "clip_id" and "characters" (a `movie101v2 faces` output).',
                path=path,
                line=number,
            ) from None
    return identified


@dataclass
class IdentificationScores:
    """Counts and rates of an identification run against the characters marked in the reference narrations."""

    num_clips: int
    ground_truth: int
    predicted: int
    correct: int

    @property
    def precision(self) -> float:
        return 100.0 * self.correct / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return 100.0 * self.correct / self.ground_truth if self.ground_truth else 0.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "precision": self.precision, "recall": self.recall, "f1": self.f1}


def score_identification(
    predicted: dict[str, Sequence[str]], ground_truth: dict[str, Sequence[str]]
) -> IdentificationScores:
    """Micro precision / recall / F1 over clips: a name counts once per clip.

    Example:
        >>> score_identification({"c1": ["A", "B"]}, {"c1": ["A", "C"]}).as_dict()["precision"]
        50.0
    """
    correct = sum(len(set(predicted.get(c, ())) & set(names)) for c, names in ground_truth.items())
    return IdentificationScores(
        num_clips=len(ground_truth),
        ground_truth=sum(len(set(names)) for names in ground_truth.values()),
        predicted=sum(len(set(predicted.get(c, ()))) for c in ground_truth),
        correct=correct,
    )


def evaluate_identification(
    path: str | Path, dataset: str, *, config: str = "en", split: str = "test"
) -> dict[str, Any]:
    """Score a `movie101v2 faces` output against the reference narrations' marked characters (the paper's test).

    Only the clips in the file are scored; `complete` says whether that is the whole split.
    """
    from datasets import load_dataset

    predicted = read_identified(path)
    rows = load_dataset(dataset, config, split=split).select_columns(["clip_id", "characters"])
    ground_truth = {c: names for c, names in zip(rows["clip_id"], rows["characters"]) if c in predicted}
    unknown = [c for c in predicted if c not in ground_truth]
    if unknown:
        raise ValueError(f"{path}: {len(unknown)} clip(s) not in {dataset} ({config}, {split}), e.g. {unknown[0]}.")
    scores = score_identification(predicted, ground_truth).as_dict()
    return {**scores, "complete": len(ground_truth) == len(rows), "split_clips": len(rows), "paper": paper_table2()}


def identification_table(scores: dict[str, Any]) -> str:
    """This run's counts and precision beside the paper's Table 2 (GPT-4V, ArcFace), as the CLI prints them.

    Example:
        >>> print(identification_table({"ground_truth": 10, "predicted": 8, "correct": 4, "precision": 50.0,
        ...                              "recall": 40.0, "f1": 44.4, "num_clips": 5, "split_clips": 5}))
        ... # doctest: +NORMALIZE_WHITESPACE
        run                                ground truth  predicted  correct  precision  recall
        this run (5 of 5 clips)                      10          8        4       50.0    40.0
        paper, Table 2: GPT-4V                     1066       1094      477       43.6
        paper, Table 2: ArcFace                    1066        713      341       47.8
        The paper's rows are on 500 random test clips at 1 fps; compare precision, not counts.
    """
    lines = [f"{'run':<34} {'ground truth':>12} {'predicted':>10} {'correct':>8} {'precision':>10} {'recall':>7}"]
    label = f"this run ({scores['num_clips']} of {scores['split_clips']} clips)"
    lines.append(
        f"{label:<34} {scores['ground_truth']:>12} {scores['predicted']:>10} {scores['correct']:>8} "
        f"{scores['precision']:>10.1f} {scores['recall']:>7.1f}"
    )
    for row in paper_table2():
        lines.append(
            f"{'paper, Table 2: ' + row['model']:<34} {row['ground_truth']:>12} {row['predicted']:>10} "
            f"{row['correct']:>8} {row['precision']:>10.1f}"
        )
    lines.append("The paper's rows are on 500 random test clips at 1 fps; compare precision, not counts.")
    return "\n".join(lines)


def add_identified_characters(rows: Any, path: str | Path, column: str = IDENTIFIED_COLUMN) -> Any:
    """Add `column` (the names `movie101v2 faces` found) to clip rows; clips it has not seen get an empty list.

    Example:
        >>> import json
        >>> lines = [{"clip_id": clip_id, "characters": ["Old He"]} for clip_id in test["clip_id"]]
        >>> _ = (tmp / "faces.jsonl").write_text("".join(json.dumps(line) + "\\n" for line in lines))
        >>> clips = add_identified_characters(test, tmp / "faces.jsonl")
        >>> clips[0]["identified_characters"]
        ['Old He']
    """
    identified = read_identified(path)
    if hasattr(rows, "__len__") and hasattr(rows, "column_names"):
        unseen = sum(c not in identified for c in rows["clip_id"])
        if unseen:
            logger.warning("%d of %d clips are not in %s: they get no identified names", unseen, len(rows), path)
    return rows.map(lambda clip_id: {column: identified.get(clip_id, [])}, input_columns="clip_id")
