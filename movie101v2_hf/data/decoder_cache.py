"""Open video decoders kept per process, least recently used closed first (after lerobot's `VideoDecoderCache`).

Opening a decoder reads the container's index (over HTTP: a few range requests), so a sampler keeps the
decoders of the movies it is reading open. The cache is thread-safe: threads share it, each decoder is used by
one thread at a time, and a decoder is closed only when no thread is using it. After a fork (a DataLoader
worker), the child starts with an empty cache: native handles do not cross processes.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# Opens a decoder for a path: (decoder, file object to close with it, or None).
Opener = Callable[[str], "tuple[Any, Any]"]


@dataclass
class _Entry:
    decoder: Any
    handle: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False

    def close(self) -> None:
        with self.lock:  # waits for the thread decoding with it, if any
            self.closed = True
            if self.handle is not None:
                self.handle.close()


class VideoDecoderCache:
    """At most `max_open` decoders, by path; the least recently used one is closed when another is opened.

    Example:
        >>> cache = VideoDecoderCache(max_open=2)
        >>> with cache.use("a.mp4", lambda path: (f"decoder of {path}", None)) as decoder:
        ...     decoder
        'decoder of a.mp4'
        >>> list(cache)
        ['a.mp4']
    """

    def __init__(self, max_open: int = 4) -> None:
        if max_open < 1:
            raise ValueError(f"Invalid max_open: {max_open}. It must be >= 1.")
        self.max_open = max_open
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._pid = os.getpid()

    @contextmanager
    def use(self, path: str, opener: Opener) -> Iterator[Any]:
        """The decoder of `path` (opened with `opener` if needed), held by this thread inside the block."""
        while True:
            entry = self._get(path, opener)
            with entry.lock:
                if entry.closed:  # evicted between lookup and use: open it again
                    continue
                yield entry.decoder
                return

    def _get(self, path: str, opener: Opener) -> _Entry:
        evicted = []
        with self._lock:
            if os.getpid() != self._pid:  # a forked worker: the parent's decoders are not ours
                self._entries, self._pid = OrderedDict(), os.getpid()
            entry = self._entries.get(path)
            if entry is not None:
                self._entries.move_to_end(path)
                return entry
            # opened under the lock: two threads opening the same movie at once would read its index twice
            entry = self._entries[path] = _Entry(*opener(path))
            while len(self._entries) > self.max_open:
                evicted.append(self._entries.popitem(last=False)[1])
        for old in evicted:
            old.close()
        return entry

    def peek(self, path: str) -> Any | None:
        """The open decoder of `path`, or None (does not count as a use)."""
        with self._lock:
            entry = self._entries.get(path)
            return None if entry is None else entry.decoder

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._entries))

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def close(self) -> None:
        """Close every decoder's file."""
        with self._lock:
            entries, self._entries = list(self._entries.values()), OrderedDict()
        for entry in entries:
            entry.close()

    def __getstate__(self) -> dict[str, Any]:  # a copy in another process starts empty
        return {"max_open": self.max_open}

    def __setstate__(self, state: dict[str, Any]) -> None:
        VideoDecoderCache.__init__(self, state["max_open"])
