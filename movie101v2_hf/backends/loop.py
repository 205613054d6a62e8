"""`run_backend`: the one loop every model task runs on (narrate, ShotBench): rows in, one JSONL line per row out,
on the run layer's contract.

Rows are prepared in DataLoader workers (frames decoded while the model generates), each on its own so that one bad
row fails alone; each batch's lines are durable before the next batch starts; a failed row is retried one at a time,
then recorded with its error; a rerun resumes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BackendSetupError
from ..utils.runs import ResumableRun, RunRecord
from .base import Backend, RequestBuilder


def describe_error(err: BaseException) -> str:
    """`Type: message`: how a failure crosses processes and lands in a run record (whatever its type).

    Example:
        >>> describe_error(ValueError("no frames"))
        'ValueError: no frames'
    """
    return f"{type(err).__name__}: {err}"


@dataclass(frozen=True)
class _Described:
    """A failure already described (what comes back from DataLoader workers, whatever the error was)."""

    message: str


class _BatchMaker:
    """The DataLoader's collate_fn: prepare each row on its own (one bad row fails alone), then the batch."""

    def __init__(self, builder: RequestBuilder, key: str = "clip_id") -> None:
        self.builder = builder
        self.key = key

    def __call__(self, rows: list[dict[str, Any]]) -> tuple[list[Any], Any, dict[Any, str]]:
        ids, requests, failures = [], [], {}
        for row in rows:
            try:
                requests.append(self.builder.prepare(row))
                ids.append(row[self.key])
            except Exception as err:  # noqa: BLE001 (reported per row)
                failures[row[self.key]] = describe_error(err)
        payload = None
        if requests:
            try:
                payload = self.builder.batch(requests)
            except Exception as err:  # noqa: BLE001 (the main process retries these rows one by one)
                failures.update({item: describe_error(err) for item in ids})
                ids = []
        return ids, payload, failures


@dataclass
class _Batches:
    """What one run's batches share: the backend, the rows left to do, and how a row's line is written."""

    backend: Backend
    builder: RequestBuilder
    todo: Any
    run: ResumableRun
    key: str
    output_field: str
    retries: int

    def __post_init__(self) -> None:
        self.position = {item: i for i, item in enumerate(self.todo[self.key])}

    def generate(self, ids: list[Any], payload: Any, failures: dict[Any, str]) -> dict[Any, Any]:
        """Each row's text, or its failure (a `_Described` or an exception)."""
        results: dict[Any, Any] = {item: _Described(message) for item, message in failures.items()}
        if ids:
            try:
                texts = self.backend.generate(payload)
            except BackendSetupError:
                raise  # no row can succeed: stop, with what is written kept
            except Exception as err:  # noqa: BLE001 (retried one row at a time in `write`)
                texts = [err] * len(ids)
            results.update(zip(ids, texts))
        return results

    def write(self, results: dict[Any, Any]) -> None:
        """Retry the failed rows one at a time, then write the batch's lines and record what still failed."""
        lines = []
        for item in sorted(results, key=self.position.__getitem__):
            result = results[item]
            for _ in range(self.retries):
                if isinstance(result, str):
                    break
                result = self._one(self.todo[self.position[item]])
            if isinstance(result, str):
                lines.append({self.key: item, self.output_field: result})
            else:
                self.run.fail(item, result.message if isinstance(result, _Described) else describe_error(result))
        self.run.write(lines)

    def _one(self, row: dict[str, Any]) -> str | BaseException:
        try:
            return self.backend.generate(self.builder.batch([self.builder.prepare(row)]))[0]
        except Exception as err:  # noqa: BLE001
            return err


def run_backend(
    backend: Backend,
    rows: Any,
    out: str | Path,
    *,
    settings: dict[str, Any],
    job: str,
    key: str = "clip_id",
    output_field: str = "narration",
    batch_size: int = 4,
    num_workers: int = 2,
    retries: int = 1,
    overwrite: bool = False,
    show_progress: bool = True,
    progress_position: int = 0,
    unit: str = "clip",
    inputs: dict[str, Any] | None = None,
) -> RunRecord:
    """Run `backend` over `rows` (a map-style `datasets.Dataset`, in order) into `out`, resuming what is there.

    Each line is `{key: row[key], output_field: text}`: narrate writes `{"clip_id", "narration"}`, ShotBench
    `{"index", "prediction"}`.

    Args:
        settings: what identifies the run (model, prompt, data); a resume with other settings is refused.
        job: the command (the run record's owner); inputs: its input paths, refused as `out`.
        batch_size: rows per `generate` call; num_workers: DataLoader workers preparing rows (0: this process).
        retries: extra attempts for a row that failed, one row at a time, before it is recorded as failed.

    Example:
        >>> from movie101v2_hf.narrate import RetrievalBackend
        >>> backend = RetrievalBackend.from_dataset(mini_dataset, "en", "train")
        >>> clips = load_split(mini_dataset, "en", "test", needs_video=False, movie_ids=None, max_samples=3)
        >>> record = run_backend(backend, clips, tmp / "preds.jsonl", settings={"model": "retrieval"}, job="narrate",
        ...                      num_workers=0, show_progress=False)
        >>> record.complete, record.num_written
        (True, 3)
    """
    import torch
    from tqdm.auto import tqdm

    builder = backend.builder()
    with ResumableRun(out, settings, rows[key], job=job, key=key, overwrite=overwrite, inputs=inputs) as run:
        batches = _Batches(backend, builder, rows.select(run.pending), run, key, output_field, retries)
        loader = torch.utils.data.DataLoader(
            batches.todo,
            batch_size=batch_size,
            num_workers=num_workers,
            collate_fn=_BatchMaker(builder, key),
            prefetch_factor=4 if num_workers else None,
        )
        with tqdm(
            total=len(rows),
            initial=len(run.done),
            unit=unit,
            desc=f"{job} {Path(out).name}",
            disable=not show_progress,
            position=progress_position,
            dynamic_ncols=True,
        ) as bar:
            for ids, payload, failures in loader:
                results = batches.generate(ids, payload, failures)
                batches.write(results)
                bar.update(len(results))
    return run.record
