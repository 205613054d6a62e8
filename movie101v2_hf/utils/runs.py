"""The one resumable-run layer of the long jobs that write one JSON line per item (`narrate`, `faces`, ...).

The contract, the same for every job:

- the output is JSONL, one line per finished item, appended, flushed and synced the moment the item is done;
- a run record beside it (`<out>.run.json`, written atomically) holds the settings, the counts, each failed item
  with its error, and `complete`, true only when every item has its line;
- a rerun resumes: it checks that the settings are those of the run that wrote the file (else it stops and says
  which differ), cuts a torn last line (a run killed mid-write), and skips the items already written, so nothing
  is lost or counted twice; `overwrite` starts again;
- failures are counted and named, never silently dropped; the caller's exit code follows `complete`.

Example:
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "preds.jsonl"
    >>> with ResumableRun(out, {"model": "m"}, ["a", "b", "c"]) as run:
    ...     run.write([{"clip_id": "a", "narration": "x"}])
    ...     run.fail("b", "ValueError: bad frame")
    >>> run.record.complete, run.record.num_written, sorted(ResumableRun(out, {"model": "m"}, ["a", "b", "c"]).done)
    (False, 1, ['a'])
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import FileFormatError
from .io import read_text, write_atomically

logger = logging.getLogger(__name__)


def sidecar_path(out: str | Path) -> Path:
    """Where an output's run record lives: `preds.jsonl` -> `preds.run.json`.

    Example:
        >>> sidecar_path("runs/a/predictions.jsonl").name
        'predictions.run.json'
    """
    out = Path(out)
    return out.with_name(f"{out.stem if out.suffix == '.jsonl' else out.name}.run.json")


def read_written(out: str | Path, *, key: str = "clip_id") -> list[str]:
    """Ids (`key`) of the items already in `out`; a torn last line (the run was killed mid-write) is cut off.

    Raises:
        FileFormatError: a line is not one of ours (the file was not written by this job).
    """
    out = Path(out)
    if not out.is_file():
        return []
    data = out.read_bytes()
    keep = data.rfind(b"\n") + 1  # everything after the last newline is a line that was never finished
    if keep < len(data):
        logger.warning("%s ends with an unfinished line (an interrupted run): dropping it", out)
        with open(out, "r+b") as handle:
            handle.truncate(keep)
    ids = []
    for number, line in enumerate(data[:keep].decode("utf-8").split("\n"), start=1):
        if line.strip():
            try:
                ids.append(json.loads(line)[key])
            except (json.JSONDecodeError, KeyError, TypeError):
                raise FileFormatError(
                    f'not a line of this job (a JSON object with "{key}"): this file was not written by it. '
                    "Choose another --out or pass --overwrite.",
                    path=out,
                    line=number,
                ) from None
    return ids


def check_resumable(out: str | Path, settings: dict[str, Any]) -> None:
    """Refuse to resume `out` when its run record has other settings (the two runs would mix in one file)."""
    out = Path(out)
    record_path = sidecar_path(out)
    if not record_path.is_file():
        if out.is_file() and out.stat().st_size:
            raise FileExistsError(f"{out} exists without its run record {record_path.name}: pass --overwrite.")
        return
    previous = json.loads(read_text(record_path, what="run record")).get("settings", {})
    changed = sorted(key for key in set(previous) | set(settings) if previous.get(key) != settings.get(key))
    if changed:
        details = "; ".join(f"{k}: {previous.get(k)!r} -> {settings.get(k)!r}" for k in changed[:4])
        raise ValueError(
            f"{out} was written with other settings ({details}). Resuming would mix two runs in one file: pass "
            "--overwrite to start again, or another --out."
        )


def start_resumable(out: str | Path, settings: dict[str, Any], *, overwrite: bool, key: str = "clip_id") -> set[str]:
    """Get `out` ready for a run; returns the ids already done. `overwrite` deletes the output and its record."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if overwrite:
        out.unlink(missing_ok=True)
        sidecar_path(out).unlink(missing_ok=True)
    check_resumable(out, settings)
    return set(read_written(out, key=key))


@dataclass
class RunRecord:
    """What a run did; written with its settings to the sidecar `<out>.run.json`."""

    out: Path
    num_items: int
    num_written: int
    settings: dict[str, Any]
    failures: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    key: str = "clip_id"
    extra: dict[str, Any] = field(default_factory=dict)  # what a job adds to its record

    @property
    def complete(self) -> bool:
        """Every item has its line in `out`."""
        return self.num_written == self.num_items and not self.failures

    def summary(self, verb: str = "done", unit: str = "clip") -> str:
        """One line for the console, e.g. `2,227/2,227 clips narrated into preds.jsonl (3.10 clips/s this run)`."""
        rate = self.num_written / self.seconds if self.seconds else 0.0
        text = (
            f"{self.num_written:,}/{self.num_items:,} {unit}s {verb} into {self.out} ({rate:.2f} {unit}s/s this run)"
        )
        if self.failures:
            first = next(iter(self.failures.items()))
            text += f"; {len(self.failures)} failed (e.g. {first[0]}: {first[1]}), listed in {sidecar_path(self.out)}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "settings": self.settings,
            "complete": self.complete,
            "num_items": self.num_items,
            "num_written": self.num_written,
            "num_failed": len(self.failures),
            "failures": [{self.key: item, "error": error} for item, error in self.failures.items()],
            "seconds": round(self.seconds, 3),
            "package_version": __version__,
            **self.extra,
        }

    def save(self) -> None:
        write_atomically(sidecar_path(self.out), json.dumps(self.as_dict(), indent=2, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, out: str | Path, *, key: str = "clip_id") -> RunRecord:
        """The record of a finished (or interrupted) run of `out`."""
        data = json.loads(read_text(sidecar_path(out), what="run record"))
        known = {"settings", "complete", "num_items", "num_written", "num_failed", "failures", "seconds"}
        return cls(
            out=Path(out),
            num_items=data["num_items"],
            num_written=data["num_written"],
            settings=data["settings"],
            failures={f[key]: f["error"] for f in data.get("failures", [])},
            seconds=data.get("seconds", 0.0),
            key=key,
            extra={k: v for k, v in data.items() if k not in known and k != "package_version"},
        )


class ResumableRun:
    """A run over `ids` writing into `out`: use it as a context manager.

    `done` holds the ids already written by an earlier run, `pending` the positions in `ids` still to do.
    Inside the block, `write(items)` appends finished items (each durable when it returns) and `fail(id, error)`
    records a failed one; leaving the block (normally, by an error or by Ctrl-C) writes the run record.

    Args:
        out: the JSONL output.
        settings: what identifies the run; a resume with other settings is refused.
        ids: every item's id, in output order.
        key: the field of a line that holds its id.
        overwrite: start again instead of resuming.
        extra: fields of the job's own to add to the run record.
    """

    def __init__(
        self,
        out: str | Path,
        settings: dict[str, Any],
        ids: Sequence[str],
        *,
        key: str = "clip_id",
        overwrite: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.out = Path(out)
        self.key = key
        self.done = start_resumable(self.out, settings, overwrite=overwrite, key=key)
        self.pending = [i for i, item in enumerate(ids) if item not in self.done]
        if self.done:
            logger.info("%s: %d of %d items already done, resuming", self.out, len(self.done), len(ids))
        self.record = RunRecord(self.out, len(ids), len(self.done), settings, key=key, extra=dict(extra or {}))

    def __enter__(self) -> ResumableRun:
        self.record.save()  # an interrupted run is on record as incomplete from its first moment
        self._began = time.perf_counter()
        self._handle = open(self.out, "a", encoding="utf-8")
        return self

    def write(self, items: Sequence[dict[str, Any]]) -> None:
        """Append finished items; they are on disk when this returns."""
        if not items:
            return
        self._handle.write("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items))
        self._handle.flush()
        os.fsync(self._handle.fileno())  # a line on disk is an item a rerun will not redo
        self.record.num_written += len(items)

    def fail(self, item: str, error: str) -> None:
        """Record a failed item (a rerun tries it again)."""
        self.record.failures[item] = error
        logger.warning("%s failed: %s", item, error)

    def __exit__(self, *exc: Any) -> None:
        self._handle.close()
        self.record.seconds = time.perf_counter() - self._began
        self.record.save()
