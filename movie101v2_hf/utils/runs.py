"""The one resumable-run layer of the long jobs that write one JSON line per item (`narrate`, `faces`, ...).

The contract, the same for every job:

- the output is JSONL, one line per finished item, appended, flushed and synced the moment the item is done;
- a run record beside it (`<out>.run.json`, written atomically) holds the settings, the counts, each failed item
  with its error, and `complete`, true only when every item has its line;
- one writer at a time, and only the job's own output is ever replaced (`outputs.py`: locks, ownership);
- a rerun resumes: it checks that the settings are those of the run that wrote the file (else it stops and says
  which differ), cuts a torn last line (a run killed mid-write), and skips the items already written, so nothing
  is lost or counted twice; `overwrite` starts again;
- failures are counted and named, never silently dropped; the caller's exit code follows `complete`.

Example:
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "preds.jsonl"
    >>> with ResumableRun(out, {"model": "m"}, ["a", "b", "c"], job="narrate") as run:
    ...     run.write([{"clip_id": "a", "narration": "x"}])
    ...     run.fail("b", "ValueError: bad frame")
    >>> run.record.complete, run.record.num_written
    (False, 1)
    >>> with ResumableRun(out, {"model": "m"}, ["a", "b", "c"], job="narrate") as again:
    ...     sorted(again.done), again.pending
    (['a'], [1, 2])
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
from .io import read_json, write_atomically
from .outputs import OwnershipError, WriterLock, refuse_overlap

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
        return
    previous = _load_record(record_path).get("settings", {})
    changed = sorted(key for key in set(previous) | set(settings) if previous.get(key) != settings.get(key))
    if changed:
        details = "; ".join(f"{k}: {previous.get(k)!r} -> {settings.get(k)!r}" for k in changed[:4])
        raise ValueError(
            f"{out} was written with other settings ({details}). Resuming would mix two runs in one file: pass "
            "--overwrite to start again, or another --out."
        )


def _load_record(path: Path) -> dict[str, Any]:
    data = read_json(path, what="run record", fix="move it away or choose another --out")
    if not isinstance(data, dict) or not isinstance(data.get("settings", {}), dict):
        raise FileFormatError("not a run record of this package; move it away or choose another --out", path=path)
    return data


def claim_output(out: str | Path, job: str, *, overwrite: bool) -> None:
    """Refuse `out` unless it is new, empty, or written by `job` (its run record says so); with `overwrite`, delete
    it and its record, which only ever happens to this job's own output.

    Example:
        >>> import tempfile, pathlib; theirs = pathlib.Path(tempfile.mkdtemp()) / "test.tsv"
        >>> _ = theirs.write_text("index")
        >>> claim_output(theirs, "shotbench run", overwrite=True)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        movie101v2_hf.utils.outputs.OwnershipError: ...test.tsv exists and `shotbench run` did not write it ...
    """
    out = Path(out)
    record_path = sidecar_path(out)
    if out.is_dir():
        raise OwnershipError(f"--out {out} is a folder: give the path of a file (e.g. {out}/predictions.jsonl).")
    if record_path.is_file():
        record = _load_record(record_path)
        owner, output = record.get("job"), record.get("output")
        if (owner is not None and owner != job) or (output is not None and output != out.name):
            raise OwnershipError(
                f"{record_path} is the record of `{owner or 'another job'}` writing {output or '?'}, not of `{job}` "
                f"writing {out.name}: nothing is replaced. Choose another --out."
            )
    elif out.is_file() and out.stat().st_size:
        raise OwnershipError(
            f"{out} exists and `{job}` did not write it (it has no run record {record_path.name}): nothing is "
            "replaced, with --overwrite or without. Choose another --out."
        )
    if overwrite:
        out.unlink(missing_ok=True)
        record_path.unlink(missing_ok=True)


def check_output(out: str | Path, options: Any) -> None:
    """Refuse, without touching anything, an output the job may not write (an input, or not the job's): a job
    calls it before loading its data and model, so that a refused `--out` fails at once."""
    refuse_overlap(out, options.input_paths())
    claim_output(out, options.job, overwrite=False)


def lock_path(out: str | Path) -> Path:
    """The writer lock of an output: `preds.jsonl` -> `preds.run.lock` (beside its run record)."""
    return sidecar_path(out).with_suffix(".lock")


@dataclass
class RunRecord:
    """What a run did; written with its settings to the sidecar `<out>.run.json`."""

    out: Path
    num_items: int
    num_written: int
    settings: dict[str, Any]
    failures: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    job: str | None = None
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
            "job": self.job,
            "output": self.out.name,
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
        """The record of a finished (or interrupted) run of `out`.

        Raises:
            FileFormatError: the record is missing a field or has one of the wrong type (the message names it).
        """
        path = sidecar_path(out)
        data = _load_record(path)
        known = {"job", "output", "settings", "complete", "num_items", "num_written", "num_failed", "failures"}
        try:
            failures = {f[key]: str(f["error"]) for f in data.get("failures", [])}
            record = cls(
                out=Path(out),
                num_items=data["num_items"],
                num_written=data["num_written"],
                settings=data["settings"],
                failures=failures,
                seconds=float(data.get("seconds", 0.0)),
                job=data.get("job"),
                key=key,
                extra={k: v for k, v in data.items() if k not in known | {"seconds", "package_version"}},
            )
        except KeyError as err:
            raise FileFormatError(
                f"the run record has no field {err}; it is damaged: rerun the job with --overwrite", path=path
            ) from None
        except (TypeError, ValueError):
            raise FileFormatError(
                "a field of the run record has the wrong type; rerun the job with --overwrite", path=path
            ) from None
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in (record.num_items, record.num_written)):
            raise FileFormatError(
                "num_items and num_written must be whole numbers; rerun the job with --overwrite", path=path
            )
        return record


class ResumableRun:
    """A run of `job` over `ids` writing into `out`: use it as a context manager.

    Entering takes the output's writer lock (a second run on `out` fails at once), refuses an `out` this job did
    not write, and reads what an earlier run left: `done` holds the ids already written, `pending` the positions
    in `ids` still to do. Inside the block, `write(items)` appends finished items (each durable when it returns)
    and `fail(id, error)` records a failed one; leaving the block (normally, by an error or by Ctrl-C) writes the
    run record and releases the lock.

    Args:
        out: the JSONL output.
        settings: what identifies the run; a resume with other settings is refused.
        ids: every item's id, in output order.
        job: the command writing (`narrate`, `faces`, ...): its name goes into the run record, and another
            job's output is never replaced.
        key: the field of a line that holds its id.
        overwrite: start again instead of resuming (only ever over this job's own output).
        extra: fields of the job's own to add to the run record.
        inputs: the job's inputs (flag -> path): an `out` among or inside them is refused.
    """

    def __init__(
        self,
        out: str | Path,
        settings: dict[str, Any],
        ids: Sequence[str],
        *,
        job: str,
        key: str = "clip_id",
        overwrite: bool = False,
        extra: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
    ) -> None:
        self.out = Path(out)
        self.key = key
        self.job = job
        self.ids = list(ids)
        self.settings = settings
        self.overwrite = overwrite
        self.inputs = dict(inputs or {})
        self.extra = dict(extra or {})
        self._lock = WriterLock(lock_path(self.out), what=self.out)

    def __enter__(self) -> ResumableRun:
        refuse_overlap(self.out, self.inputs)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._lock.__enter__()
        try:
            claim_output(self.out, self.job, overwrite=self.overwrite)
            check_resumable(self.out, self.settings)
            self.done = set(read_written(self.out, key=self.key))
            self.pending = [i for i, item in enumerate(self.ids) if item not in self.done]
            if self.done:
                logger.info("%s: %d of %d items already done, resuming", self.out, len(self.done), len(self.ids))
            self.record = RunRecord(
                self.out, len(self.ids), len(self.done), self.settings, job=self.job, key=self.key, extra=self.extra
            )
            self.record.save()  # an interrupted run is on record as incomplete from its first moment
            self._handle = open(self.out, "a", encoding="utf-8")
        except BaseException:
            self._lock.__exit__()
            raise
        self._began = time.perf_counter()
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
        try:
            self._handle.close()
            self.record.seconds = time.perf_counter() - self._began
            self.record.save()
        finally:
            self._lock.__exit__()
