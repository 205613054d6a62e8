"""What a job may write, and who may write it at a time: the ownership half of the run layer (`runs.py`).

Every job that writes goes through here:

- **one writer**: `WriterLock` holds an exclusive `flock` on a lock file beside the output for the whole run; a
  second run on the same output fails at once, naming the process that holds it. The kernel drops the lock when
  its holder dies, so a killed run never blocks the next one;
- **ownership**: an output is replaced or appended to only if this job wrote it (its run record or the folder's
  manifest says so) or it is empty. `--overwrite` never widens that to files the job did not write;
- **inputs are never outputs**: an output equal to, inside, or holding an input is refused (`refuse_overlap`);
- **names from data stay inside**: `safe_name` makes a file name of a character name, clip id or theme, and
  `inside` checks that the resolved path stays under the output folder.

Example:
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> with OutputFolder(root / "results", job="evaluate") as folder:
    ...     _ = folder.write("results.json", "{}")
    ...     folder.path(safe_name("../../etc/passwd", fallback="x") + ".png").name
    'etc_passwd.png'
    >>> OutputFolder(root / "results", job="compare").__enter__()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    movie101v2_hf.utils.outputs.OwnershipError: ... was written by `movie101v2 evaluate`, not by `compare`: ...
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sys
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import Movie101v2Error
from .io import write_atomically

MANIFEST = ".movie101v2-outputs.json"  # in an output folder: the job that owns it and the files it wrote
FOLDER_LOCK = ".movie101v2.lock"


class OwnershipError(Movie101v2Error, FileExistsError):
    """An output path holds something this job did not write (or is an input): nothing there is touched."""


class OutputBusyError(Movie101v2Error, RuntimeError):
    """Another run is writing the same output right now."""


class UnsafeNameError(Movie101v2Error, ValueError):
    """A file name taken from the data would land outside its output folder."""


class WriterLock:
    """An exclusive, non-blocking `flock` on `lock_file` for as long as the `with` block runs.

    The file holds the holder's PID and command line, so that the run refused can say who is writing; it is removed
    when the lock is let go (and when its holder is killed, the next run takes it over).

    Example:
        >>> import tempfile, pathlib
        >>> lock = pathlib.Path(tempfile.mkdtemp()) / "preds.run.lock"
        >>> with WriterLock(lock, what="preds.jsonl"):
        ...     WriterLock(lock, what="preds.jsonl").__enter__()  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        movie101v2_hf.utils.outputs.OutputBusyError: preds.jsonl is being written by another run (PID ...
    """

    def __init__(self, lock_file: str | Path, *, what: str | Path) -> None:
        self.lock_file = Path(lock_file)
        self.what = what
        self._fd: int | None = None

    def __enter__(self) -> WriterLock:
        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "unknown"
                os.close(fd)
                raise OutputBusyError(
                    f"{self.what} is being written by another run (PID {holder}). Wait for it to finish, stop it, "
                    "or choose another output."
                ) from None
            if self._still_the_file(fd):
                break
            os.close(fd)  # the holder before us removed the file as it let go: lock the one there now
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}: {' '.join(sys.argv)[:2000]}\n".encode(), 0)
        self._fd = fd
        return self

    def _still_the_file(self, fd: int) -> bool:
        try:
            return os.stat(self.lock_file).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def __exit__(self, *exc: Any) -> None:
        if self._fd is not None:
            # Removed while still held, then released: whoever opened the old file finds it gone and retries
            # (`_still_the_file`), so no output keeps a lock file once its run is over.
            self.lock_file.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None


def _resolved(path: str | Path) -> Path:
    return Path(path).expanduser().resolve()


def refuse_overlap(out: str | Path, inputs: Mapping[str, str | Path | None]) -> None:
    """Refuse an output that is an input, lies inside one, or holds one (`inputs`: flag name -> path).

    Hub ids and URLs (no such local path) are skipped.

    Example:
        >>> import tempfile, pathlib; data = pathlib.Path(tempfile.mkdtemp())
        >>> refuse_overlap(data / "preds.jsonl", {"--dataset": data})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        movie101v2_hf.utils.outputs.OwnershipError: --out .../preds.jsonl lies inside --dataset ...
    """
    target = _resolved(out)
    for flag, value in inputs.items():
        if value is None or "://" in str(value) or not Path(value).expanduser().exists():
            continue
        source = _resolved(value)
        if target == source:
            relation = "is"
        elif source in target.parents:
            relation = "lies inside"
        elif target in source.parents:
            relation = "holds"
        else:
            continue
        raise OwnershipError(
            f"--out {out} {relation} {flag} {value}: a job never writes over its inputs. Choose an output "
            "outside them."
        )


_UNSAFE = re.compile(r"[^\w.-]+")


def safe_name(text: str, *, fallback: str, max_length: int = 80) -> str:
    """A file name made from `text` (a character name, id or theme): letters, digits, `_`, `-`, `.` only, no
    leading dot, at most `max_length` characters; `fallback` when nothing is left.

    Example:
        >>> safe_name("AC/DC", fallback="c0"), safe_name("../../x", fallback="c1"), safe_name("林 雪", fallback="c2")
        ('AC_DC', 'x', '林_雪')
        >>> safe_name("..", fallback="character-3")
        'character-3'
    """
    name = _UNSAFE.sub("_", unicodedata.normalize("NFKC", text)).strip("._")
    return name[:max_length] or fallback


def inside(root: str | Path, relative: str | Path) -> Path:
    """`root / relative`, refused unless it resolves to a path under `root` (no `..`, no absolute part, no link
    out of it).

    Example:
        >>> inside("out", "keyframes/m/scene-00.png").as_posix()
        'out/keyframes/m/scene-00.png'
        >>> inside("out", "../elsewhere.png")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        movie101v2_hf.utils.outputs.UnsafeNameError: the name '../elsewhere.png' (from the data) would be written ...
    """
    path = Path(root) / relative
    base = _resolved(root)
    if Path(relative).is_absolute() or base not in _resolved(path).parents:
        raise UnsafeNameError(
            f"the name {str(relative)!r} (from the data) would be written outside {root}: a file name from data "
            "must stay in its output folder. Fix the name in the data."
        )
    return path


class OutputFolder:
    """A folder one job owns for the length of a `with` block: new, empty, or written by this job before.

    Entering takes the folder's writer lock and refuses a folder that holds anything this job did not write
    (no manifest, or another job's); `path(name)` and `write(name, content)` keep every file inside the folder,
    refuse to replace a file the job did not write, and record each name in the manifest (`MANIFEST`).

    Args:
        folder: the output folder.
        job: the command that owns it (`evaluate`, `synth`, ...); another command's folder is refused.
        inputs: the job's inputs (flag -> path), refused as outputs (`refuse_overlap`).
    """

    def __init__(self, folder: str | Path, *, job: str, inputs: Mapping[str, str | Path | None] | None = None):
        self.folder = Path(folder)
        self.job = job
        self.inputs = dict(inputs or {})
        self.files: set[str] = set()
        self._lock = WriterLock(self.folder / FOLDER_LOCK, what=self.folder)

    def __enter__(self) -> OutputFolder:
        refuse_overlap(self.folder, self.inputs)
        if self.folder.exists() and not self.folder.is_dir():
            raise OwnershipError(f"--out {self.folder} is a file, not a folder: give a folder to write into.")
        if self.folder.is_dir():
            self._claim()  # a folder that is not ours gets refused before anything (a lock file) is put in it
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock.__enter__()
        try:
            self.files = self._claim()  # again, under the lock
            self._save()
        except BaseException:
            self._lock.__exit__()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self._lock.__exit__()

    def _claim(self) -> set[str]:
        manifest = self.folder / MANIFEST
        if manifest.is_file():
            try:
                owner = json.loads(manifest.read_text("utf-8"))
                job, files = owner["job"], set(owner["files"])
            except (ValueError, KeyError, TypeError):
                raise OwnershipError(f"{manifest} is not a manifest of this package: choose another --out.") from None
            if job != self.job:
                raise OwnershipError(
                    f"--out {self.folder} was written by `movie101v2 {job}`, not by `{self.job}`: choose another "
                    "--out (a job writes only into an empty folder or one it wrote)."
                )
            return files
        foreign = [p.name for p in self.folder.iterdir() if p.name != FOLDER_LOCK]
        if foreign:
            raise OwnershipError(
                f"--out {self.folder} is a non-empty folder that `movie101v2 {self.job}` did not write (it holds "
                f"{', '.join(sorted(foreign)[:3])}{', ...' if len(foreign) > 3 else ''}; no {MANIFEST}): nothing in "
                "it is replaced. Choose a new or empty folder."
            )
        return set()

    def _save(self) -> None:
        write_atomically(self.folder / MANIFEST, json.dumps({"job": self.job, "files": sorted(self.files)}) + "\n")

    def owns(self, relative: str | Path) -> bool:
        """Whether this job wrote `relative` (a path under the folder) in this run or an earlier one."""
        return Path(relative).as_posix() in self.files

    def path(self, relative: str | Path) -> Path:
        """The path to write `relative` to, recorded as this job's; refused outside the folder or over a file
        the job did not write."""
        path = inside(self.folder, relative)
        name = Path(relative).as_posix()
        if name not in self.files:
            if path.exists() and (path.is_file() or any(path.iterdir())):
                raise OwnershipError(f"{path} exists and `{self.job}` did not write it: nothing is replaced.")
            self.files.add(name)
            self._save()
        return path

    def write(self, relative: str | Path, content: str | bytes) -> Path:
        """Write one file atomically (see `path`)."""
        path = self.path(relative)
        write_atomically(path, content)
        return path

    def written(self, prefix: str = "") -> Iterable[str]:
        """The recorded files under `prefix`."""
        return sorted(name for name in self.files if name.startswith(prefix))


@contextmanager
def output_folder(
    out: str | Path | OutputFolder, *, job: str, inputs: Mapping[str, str | Path | None] | None = None
) -> Iterator[OutputFolder]:
    """`out` itself when it is an `OutputFolder` already held (a step of a bigger job, e.g. `bench` evaluating
    into its run folder), else `OutputFolder(out, job=job, inputs=inputs)` for the block.

    Example:
        >>> import tempfile
        >>> with output_folder(tempfile.mkdtemp(), job="evaluate") as folder, output_folder(folder, job="x") as same:
        ...     same is folder
        True
    """
    if isinstance(out, OutputFolder):
        yield out
        return
    with OutputFolder(out, job=job, inputs=inputs) as folder:
        yield folder
