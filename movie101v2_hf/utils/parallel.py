"""Data parallel on one machine or several: each rank writes its contiguous share of the items into a shard file,
and rank 0 merges the shards in item order into the output, with one run record (`utils.runs`).

The ranks are started by `accelerate launch` (`launch_data_parallel` starts one for you) and meet at barriers on the
launcher's key-value store (`RankGroup`), with no torch process group for engines such as vLLM to inherit. A rank
pins its GPUs before anything touches CUDA (`pin_rank_gpus`). The launcher holds the output's writer lock for the
whole launch; each rank holds its shard's.

Used by `narrate` and `shotbench run`; any job whose options have `out`, `data_parallel_size`,
`tensor_parallel_size`, `overwrite`, `job`, `input_paths()` and `run_settings()`, and whose module runs one rank
when started as `python -m MODULE '<options as JSON>'`, can use it.

Example:
    >>> shard_path("preds.jsonl", 0, 2).name
    'preds.shard-0-of-2.jsonl'
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .io import write_atomically
from .outputs import WriterLock, refuse_overlap
from .runs import RunRecord, check_resumable, claim_output, lock_path, sidecar_path

logger = logging.getLogger(__name__)


def shard_path(out: str | Path, index: int, count: int) -> Path:
    """The predictions file of one data-parallel rank: `preds.jsonl` -> `preds.shard-0-of-2.jsonl`.

    Example:
        >>> shard_path("preds.jsonl", 1, 2).name
        'preds.shard-1-of-2.jsonl'
    """
    out = Path(out)
    return out.with_name(f"{out.stem}.shard-{index}-of-{count}{out.suffix or '.jsonl'}")


def _gpus() -> list[str]:
    """The GPUs this machine offers (CUDA_VISIBLE_DEVICES, else nvidia-smi), without initialising CUDA."""
    if (devices := os.environ.get("CUDA_VISIBLE_DEVICES")) is not None:
        return [d for d in devices.split(",") if d]
    try:
        listed = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in listed.splitlines() if line.strip()]


def pin_rank_gpus(tensor_parallel_size: int) -> None:
    """Give this rank of an `accelerate launch` its own GPUs, before anything touches CUDA: the model of local rank
    r uses GPUs [r * tp, (r + 1) * tp) of the node, tp being `tensor_parallel_size`."""
    local_rank, per_rank = int(os.environ.get("LOCAL_RANK", "0")), tensor_parallel_size
    gpus = _gpus()
    if gpus:
        mine = gpus[local_rank * per_rank : (local_rank + 1) * per_rank]
        if len(mine) < per_rank:
            raise ValueError(
                f"rank {local_rank} needs GPUs {local_rank * per_rank}..{(local_rank + 1) * per_rank - 1} "
                f"(tensor_parallel_size={per_rank}), but this node has {len(gpus)}: launch fewer processes."
            )
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(mine)


@dataclass
class RankGroup:
    """The ranks of a launch, coordinated through the launcher's key-value store and no torch process group.

    A process group would be inherited by the engines the ranks start: vLLM reuses an initialised torch group (its
    tensor-parallel workers of one copy then take the rank of the copy) and forks its workers with it. The store
    (`torch.distributed.rendezvous("env://")`, the one torchrun's agent serves) only carries the ranks' barriers.
    """

    rank: int
    world: int
    store: Any
    _barriers: int = 0

    @classmethod
    def join(cls) -> RankGroup:
        """This process's place in the launch (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)."""
        from datetime import timedelta

        import torch.distributed as dist

        # A rank may narrate for hours before the others' barrier: the store waits as long as the launcher lives.
        store, rank, world = next(dist.rendezvous("env://", timeout=timedelta(days=7)))
        return cls(rank, world, dist.PrefixStore("movie101v2_hf", store))

    def wait_for_everyone(self) -> None:
        """Return once every rank has called this (the n-th call of each rank meets the n-th of the others)."""
        self._barriers += 1
        self.store.set(f"barrier-{self._barriers}/{self.rank}", "1")
        self.store.wait([f"barrier-{self._barriers}/{rank}" for rank in range(self.world)])

    def share(self, count: int) -> range:
        """This rank's contiguous share of `count` items; the first `count % world` ranks take one more."""
        per, extra = divmod(count, self.world)
        first = self.rank * per + min(self.rank, extra)
        return range(first, first + per + (self.rank < extra))


@dataclass
class DataParallel:
    """This process's part of a run: the whole run in one process, or, under `accelerate launch`, one rank's
    contiguous share written to a shard that rank 0 merges in dataset order.

    Example:
        >>> ranks = DataParallel.start("preds.jsonl", tensor_parallel_size=1)  # one process: the whole run
        >>> ranks.output, ranks.position
        ('preds.jsonl', 0)
    """

    out: str
    group: RankGroup | None = None  # the launch's ranks, None in a single process
    key: str = "clip_id"

    @classmethod
    def start(cls, out: str, *, tensor_parallel_size: int, key: str = "clip_id") -> DataParallel:
        """Call before anything touches CUDA: under a launch, this rank's GPUs are pinned here."""
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return cls(out, None, key)
        pin_rank_gpus(tensor_parallel_size)
        return cls(out, RankGroup.join(), key)

    @property
    def output(self) -> str:
        """Where this process writes: the output itself, or this rank's shard of it."""
        if self.group is None:
            return self.out
        return str(shard_path(self.out, self.group.rank, self.group.world))

    @property
    def position(self) -> int:
        """This rank's index (its progress bar's line)."""
        return self.group.rank if self.group is not None else 0

    def share(self, rows: Any) -> Any:
        """This rank's contiguous share of `rows` (all of them in a single process)."""
        return rows if self.group is None else rows.select(self.group.share(len(rows)))

    def finish(self, record: RunRecord) -> RunRecord:
        """The record of the whole run: under a launch, rank 0 merges the shards once every rank has written its
        own, and every rank returns the merged record."""
        if self.group is None:
            return record
        self.group.wait_for_everyone()  # every shard is written
        if self.group.rank == 0:
            record = merge_shards(self.out, self.group.world, key=self.key)
        self.group.wait_for_everyone()  # the merged file is in place before any rank returns
        return record if self.group.rank == 0 else RunRecord.load(self.out, key=self.key)


def launch_data_parallel(options: Any, module: str, key: str = "clip_id") -> RunRecord:
    """Run a job in `options.data_parallel_size` processes with `accelerate launch` on this machine: each runs
    `python -m MODULE '<options as JSON>'` (narrate, or the ShotBench runner)."""
    out = Path(options.out)
    refuse_overlap(out, options.input_paths())
    out.parent.mkdir(parents=True, exist_ok=True)
    with WriterLock(lock_path(out), what=out):  # the ranks lock their shards; the merged output is held here
        claim_output(out, options.job, overwrite=options.overwrite)
        if sidecar_path(out).is_file():
            record = RunRecord.load(out, key=key)
            check_resumable(out, {**record.settings, **options.run_settings()})  # the rest is the ranks' business
            if record.complete:
                logger.info("%s is complete; nothing to do", out)
                return record
        _launch_ranks(options, module)
        if not sidecar_path(out).is_file():
            raise RuntimeError(f"the data-parallel run stopped before writing {sidecar_path(out)}.")
        return RunRecord.load(out, key=key)


def _launch_ranks(options: Any, module: str) -> int:
    count = options.data_parallel_size
    gpus = _gpus()
    if gpus and len(gpus) < count * options.tensor_parallel_size:
        raise ValueError(
            f"data_parallel_size={count} x tensor_parallel_size={options.tensor_parallel_size} needs "
            f"{count * options.tensor_parallel_size} GPUs; {len(gpus)} are visible."
        )
    # --multi_gpu is accelerate's multi-process mode (torchrun); without GPUs its ranks run on the CPU
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        str(count),
        "--num_machines",
        "1",
        "--multi_gpu",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        "0",
        "-m",
        module,
        json.dumps(asdict(options)),
    ]
    environment = {**os.environ, _LAUNCHER_HOLDS: str(Path(options.out).resolve())}
    return subprocess.run(command, check=False, env=environment).returncode


_LAUNCHER_HOLDS = "MOVIE101V2_HF_OUTPUT_LOCKED"  # set by `launch_data_parallel`: it holds the output's lock


def merge_shards(out: str | Path, count: int, key: str = "clip_id") -> RunRecord:
    """Merge the ranks' shard files into `out` in dataset order, with one run record for the whole; under a bare
    `accelerate launch` (no launcher holding the output's lock), under the output's own lock and ownership check."""
    out = Path(out)
    if os.environ.get(_LAUNCHER_HOLDS) == str(out.resolve()):
        return _merge_shards(out, count, key)
    job = RunRecord.load(shard_path(out, 0, count), key=key).job or "narrate"
    with WriterLock(lock_path(out), what=out):
        claim_output(out, job, overwrite=False)
        return _merge_shards(out, count, key)


def _merge_shards(out: Path, count: int, key: str) -> RunRecord:
    records = [RunRecord.load(shard_path(out, index, count), key=key) for index in range(count)]
    lines: list[str] = []
    for index in range(count):  # ranks hold contiguous shares in rank order: concatenating keeps dataset order
        lines += [line + "\n" for line in shard_path(out, index, count).read_text("utf-8").splitlines() if line]
    write_atomically(out, "".join(lines))
    failures = {clip: error for record in records for clip, error in record.failures.items()}
    record = RunRecord(
        out,
        sum(r.num_items for r in records),
        len(lines),
        records[0].settings,
        failures,
        max(r.seconds for r in records),
        job=records[0].job,
        key=key,
        extra={"data_parallel_processes": count},
    )
    record.save()
    if record.complete:  # the shards are kept until then: a rerun resumes each of them
        for index in range(count):
            shard = shard_path(out, index, count)
            shard.unlink()
            sidecar_path(shard).unlink()
    return record
