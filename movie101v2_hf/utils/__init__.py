"""Small shared parts with no dependency on the rest of the package: file I/O and the cache home (`io`), the one
resumable-run layer (`runs`) with its locks and output ownership (`outputs`) and its data-parallel form
(`parallel`), the OpenAI-compatible client (`openai_client`), registries by name (`registry`)."""

from .io import cache_home, read_jsonl, read_text, write_atomically
from .outputs import OutputFolder, OwnershipError, safe_name
from .registry import Registry
from .runs import ResumableRun, RunRecord, sidecar_path

__all__ = [
    "OutputFolder",
    "OwnershipError",
    "Registry",
    "ResumableRun",
    "RunRecord",
    "cache_home",
    "read_jsonl",
    "read_text",
    "safe_name",
    "sidecar_path",
    "write_atomically",
]
