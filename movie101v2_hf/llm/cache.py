"""The response cache: every answer of a text LLM on disk the moment it arrives, keyed by a hash of the request."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..utils.io import cache_home
from .formats import AnswerFormat


def default_cache_path() -> Path:
    """The user's response cache: `<cache_home()>/responses.sqlite` (`$MOVIE101V2_HF_CACHE` moves it).

    One cache for every run: re-evaluating the same predictions into a new folder, or a second model that
    writes the same narration, costs no judge call.
    """
    return cache_home() / "responses.sqlite"


@dataclass(frozen=True)
class Request:
    """What an answer depends on: the model, the prompt, the answer format and the backend's settings (greedy,
    its length cap). `purpose` (`l1`, `choice`, `movie_plan`) is recorded beside the answer, not hashed: the
    prompt already says what is asked."""

    model: str
    prompt: str
    answer_format: AnswerFormat | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    purpose: str = ""

    def key(self) -> str:
        """The request's hash.

        Example:
            >>> Request("m", "Score it.").key() == Request("m", "Score it.", purpose="l2").key()
            True
            >>> Request("m", "Score it.").key() == Request("m", "Score it!").key()
            False
        """
        messages = [{"role": "user", "content": self.prompt}]
        answer_format = self.answer_format.describe() if self.answer_format else None
        parts = {"model": self.model, "messages": messages, "format": answer_format, "settings": self.settings}
        return hashlib.sha256(json.dumps(parts, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class CachedResponse:
    """A stored answer: the text, its parsed value (None when it was invalid) and who answered."""

    answer: str
    value: Any
    valid: bool
    backend: str | None = None
    endpoint: str | None = None
    answered_by: str | None = None


# column -> SQL type; a cache written by an older version gets the columns it lacks on open
_COLUMNS = {
    "key": "TEXT PRIMARY KEY",
    "model": "TEXT",
    "purpose": "TEXT",
    "answer": "TEXT",
    "value": "TEXT",
    "valid": "INTEGER",
    "created": "REAL",
    "backend": "TEXT",
    "endpoint": "TEXT",
    "answered_by": "TEXT",
    "package_version": "TEXT",
}


class ResponseCache:
    """Answers on disk (SQLite, WAL), keyed by `Request.key()`; keyword arguments only.

    Each answer is committed the moment it arrives, so a killed run loses nothing and a re-run asks only what is
    missing. Failed requests are not stored (the next run asks again); invalid answers are, with `valid` false,
    and the round loop decides whether a re-run asks them again. Every row records which backend, endpoint and
    served model answered. Several processes may share one cache.

    Example:
        >>> cache = ResponseCache(":memory:")
        >>> request = Request("judge", "Score it: ...", purpose="l2")
        >>> cache.put(request=request, answer="4", value={"plot": 4}, valid=True, backend="openai", answered_by="m-0905")
        >>> cache.get(request=request)
        CachedResponse(answer='4', value={'plot': 4}, valid=True, backend='openai', endpoint=None, answered_by='m-0905')
    """

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        self._lock = threading.Lock()
        # a writer of another process holds the lock for a few ms per answer: wait for it, do not fail
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=60)
        self._set_up()

    def _set_up(self, wait: float = 60.0) -> None:
        """WAL mode and the table. Switching a new file to WAL while another process creates it fails with
        "database is locked" without waiting on SQLite's busy handler, so the set-up is retried until it goes
        through (at most `wait` seconds)."""
        deadline = time.monotonic() + wait
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                columns = ", ".join(f"{name} {kind}" for name, kind in _COLUMNS.items())
                self._db.execute(f"CREATE TABLE IF NOT EXISTS responses ({columns})")
                present = {row[1] for row in self._db.execute("PRAGMA table_info(responses)")}
                for name, kind in _COLUMNS.items():
                    if name not in present:
                        self._db.execute(f"ALTER TABLE responses ADD COLUMN {name} {kind}")
                self._db.commit()
                return
            except sqlite3.OperationalError as err:
                self._db.rollback()
                if "locked" not in str(err) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # SQLite offers nothing to wait on: the other process's set-up takes milliseconds

    def get(self, *, request: Request) -> CachedResponse | None:
        """The stored answer to `request`, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT answer, value, valid, backend, endpoint, answered_by FROM responses WHERE key = ?",
                (request.key(),),
            ).fetchone()
        if row is None:
            return None
        answer, value, valid, backend, endpoint, answered_by = row
        return CachedResponse(
            answer, json.loads(value) if value else None, bool(valid), backend, endpoint, answered_by
        )

    def put(
        self,
        *,
        request: Request,
        answer: str,
        value: Any,
        valid: bool,
        backend: str | None = None,
        endpoint: str | None = None,
        answered_by: str | None = None,
    ) -> None:
        """Store one answer and commit it (a later answer to the same request replaces it)."""
        row = {
            "key": request.key(),
            "model": request.model,
            "purpose": request.purpose,
            "answer": answer,
            "value": json.dumps(value, ensure_ascii=False) if valid else None,
            "valid": int(valid),
            "created": time.time(),
            "backend": backend,
            "endpoint": endpoint,
            "answered_by": answered_by,
            "package_version": __version__,
        }
        with self._lock:
            self._db.execute(
                f"INSERT OR REPLACE INTO responses ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                tuple(row.values()),
            )
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        self._db.close()
