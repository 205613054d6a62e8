"""Small shared helpers with no dependency on the rest of the package: file I/O and the cache location."""

from .io import cache_home, read_jsonl, read_text, write_atomically

__all__ = ["cache_home", "read_jsonl", "read_text", "write_atomically"]
