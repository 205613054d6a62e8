"""Predictions files: `{"clip_id", "narration"}` JSONL read with errors that name file and line, matched to a
split's clips, and hashed for the results' provenance."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from ..errors import FileFormatError
from ..utils.io import read_jsonl


def load_predictions(path: str | Path) -> dict[str, str]:
    """Read `{"clip_id": ..., "narration": ...}` JSONL; malformed lines and duplicate ids are errors that say where.

    Example:
        >>> _ = (tmp / "preds.jsonl").write_text('{"clip_id": "m_long_00000", "narration": "A man walks in."}\\n')
        >>> load_predictions(tmp / "preds.jsonl")["m_long_00000"]
        'A man walks in.'
    """
    path = Path(path)
    predictions: dict[str, str] = {}
    duplicates: list[str] = []
    for number, row in read_jsonl(path, what="predictions file"):
        try:
            clip_id, narration = row["clip_id"], row["narration"]
        except (KeyError, TypeError) as err:
            raise FileFormatError(
                f'expected a JSON object with "clip_id" and "narration" ({err})', path=path, line=number
            ) from None
        if not isinstance(narration, str):
            raise FileFormatError(
                f'"narration" must be a string, got {type(narration).__name__}', path=path, line=number
            )
        if clip_id in predictions:
            duplicates.append(str(clip_id))
        predictions[str(clip_id)] = narration
    if duplicates:
        raise ValueError(
            f"{path}: {len(duplicates)} duplicate clip id(s), e.g. {', '.join(duplicates[:3])}. Keep one line per clip."
        )
    return predictions


def match_predictions(
    predictions: dict[str, str], clip_ids: Sequence[str], *, source: str, missing_as_empty: bool = False
) -> list[str]:
    """Predictions in the order of `clip_ids`; missing or unknown ids are an error that counts and names a few.

    With `missing_as_empty`, a clip without a prediction is scored as an empty narration (it counts against the
    model, instead of being left out of the average).
    """
    expected = set(clip_ids)
    missing = [c for c in clip_ids if c not in predictions]
    unknown = [c for c in predictions if c not in expected]
    problems = []
    if missing and not missing_as_empty:
        problems.append(f"{len(missing)} clip(s) of the split have no prediction, e.g. {', '.join(missing[:3])}")
    if unknown:
        problems.append(f"{len(unknown)} prediction(s) are for clips not in the split, e.g. {', '.join(unknown[:3])}")
    if problems:
        raise ValueError(f"{source}: " + "; ".join(problems) + ". Predict every clip of the split, and only those.")
    return [predictions.get(c, "") for c in clip_ids]


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file: what `results.json` records of the predictions it scored."""

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
