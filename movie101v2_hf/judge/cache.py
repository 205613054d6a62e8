"""The judgment cache: every judgment on disk the moment it arrives, shared by every run of the user."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..utils.io import cache_home


def default_cache_path() -> Path:
    """The user's judgment cache: `<cache_home()>/judgments.sqlite` (`$MOVIE101V2_HF_CACHE` moves it).

    One cache for every run: re-evaluating the same predictions into a new folder, or a second model that
    writes the same narration, costs no judge call.
    """
    return cache_home() / "judgments.sqlite"


# column -> SQL type; columns after the first seven were added later and are added to older caches on open
_CACHE_COLUMNS = {
    "key": "TEXT PRIMARY KEY",
    "judge_model": "TEXT",
    "prompt_version": "TEXT",
    "metric": "TEXT",
    "answer": "TEXT",
    "scores": "TEXT",
    "created": "REAL",
    "backend": "TEXT",
    "endpoint": "TEXT",
    "answered_by": "TEXT",
    "package_version": "TEXT",
}


@dataclass(frozen=True)
class CachedJudgment:
    """A stored judgment: the judge's answer, its parsed scores (None when invalid) and who answered."""

    answer: str
    scores: dict[str, int] | None
    backend: str | None = None
    endpoint: str | None = None
    answered_by: str | None = None


class JudgmentCache:
    """Judgments on disk (SQLite, WAL), keyed by judge model, prompt version, metric, reference and candidate.

    Each judgment is committed the moment it arrives, so a killed run loses nothing and a re-run asks the
    judge only what is missing. Failed requests are not stored (the next run asks again); unparseable answers
    are, with `scores` null, and are asked again by the next run unless it keeps them. Every row records which
    judge answered: the backend, its endpoint and the model the server named in its reply. Several processes
    may share one cache.

    Example:
        >>> cache = JudgmentCache(":memory:")
        >>> pair = {"judge_model": "m", "prompt_version": "v1", "metric": "l2", "reference": "ref", "candidate": "cand"}
        >>> cache.put(**pair, answer="4", scores={"plot": 4}, backend="openai", answered_by="m-0905")
        >>> cache.get(**pair)
        CachedJudgment(answer='4', scores={'plot': 4}, backend='openai', endpoint=None, answered_by='m-0905')
    """

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        self._lock = threading.Lock()
        # a writer of another process holds the lock for a few ms per judgment: wait for it, do not fail
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=60)
        self._set_up()

    def _set_up(self, wait: float = 60.0) -> None:
        """WAL mode and the table (columns added to a cache of an older version). Switching a new file to WAL while
        another process creates it fails with "database is locked" without waiting on SQLite's busy handler, so
        the set-up is retried until it goes through (at most `wait` seconds)."""
        deadline = time.monotonic() + wait
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                columns = ", ".join(f"{name} {kind}" for name, kind in _CACHE_COLUMNS.items())
                self._db.execute(f"CREATE TABLE IF NOT EXISTS judgments ({columns})")
                present = {row[1] for row in self._db.execute("PRAGMA table_info(judgments)")}
                for name, kind in _CACHE_COLUMNS.items():
                    if name not in present:  # a cache written by an older version of the package
                        self._db.execute(f"ALTER TABLE judgments ADD COLUMN {name} {kind}")
                self._db.commit()
                return
            except sqlite3.OperationalError as err:
                self._db.rollback()
                if "locked" not in str(err) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # SQLite offers nothing to wait on: the other process's set-up takes milliseconds

    @staticmethod
    def key(judge_model: str, prompt_version: str, metric: str, reference: str, candidate: str) -> str:
        parts = json.dumps([judge_model, prompt_version, metric, reference, candidate], ensure_ascii=False)
        return hashlib.sha256(parts.encode()).hexdigest()

    def get(
        self, *, judge_model: str, prompt_version: str, metric: str, reference: str, candidate: str
    ) -> CachedJudgment | None:
        """The stored judgment, or None (keyword arguments only: a swapped reference and candidate must not pass)."""
        with self._lock:
            row = self._db.execute(
                "SELECT answer, scores, backend, endpoint, answered_by FROM judgments WHERE key = ?",
                (self.key(judge_model, prompt_version, metric, reference, candidate),),
            ).fetchone()
        if row is None:
            return None
        answer, scores, backend, endpoint, answered_by = row
        return CachedJudgment(answer, json.loads(scores) if scores else None, backend, endpoint, answered_by)

    def put(
        self,
        *,
        judge_model: str,
        prompt_version: str,
        metric: str,
        reference: str,
        candidate: str,
        answer: str,
        scores: dict[str, int] | None,
        backend: str | None = None,
        endpoint: str | None = None,
        answered_by: str | None = None,
    ) -> None:
        """Store one judgment and commit it (a later answer to the same pair replaces it)."""
        row = {
            "key": self.key(judge_model, prompt_version, metric, reference, candidate),
            "judge_model": judge_model,
            "prompt_version": prompt_version,
            "metric": metric,
            "answer": answer,
            "scores": json.dumps(scores) if scores else None,
            "created": time.time(),
            "backend": backend,
            "endpoint": endpoint,
            "answered_by": answered_by,
            "package_version": __version__,
        }
        names = ", ".join(row)
        with self._lock:
            self._db.execute(
                f"INSERT OR REPLACE INTO judgments ({names}) VALUES ({', '.join('?' * len(row))})", tuple(row.values())
            )
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM judgments").fetchone()[0]

    def close(self) -> None:
        self._db.close()
