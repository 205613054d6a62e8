"""Reading and writing the package's files with errors that say where and what to do.

- `read_text`: UTF-8 (a leading BOM is accepted, as Windows editors write it); bytes that are not UTF-8 are
  an error naming the file, the line and the encoding expected, not a `UnicodeDecodeError` traceback.
- `read_jsonl`: one JSON object per line, errors as `file:line: ...`.
- `write_atomically`: a reader sees the old file or the new one, never half of one.
- `cache_home`: where the package keeps what it caches for the user (judgments, face embeddings).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import FileFormatError

CACHE_ENV = "MOVIE101V2_HF_CACHE"


def cache_home() -> Path:
    """The package's cache folder: `$MOVIE101V2_HF_CACHE`, else `$HF_HOME/movie101v2_hf`, else
    `~/.cache/huggingface/movie101v2_hf` (beside the datasets and models the HF libraries cache).

    Example:
        >>> import os; os.environ["MOVIE101V2_HF_CACHE"] = "/tmp/m101"; str(cache_home())
        '/tmp/m101'
        >>> del os.environ["MOVIE101V2_HF_CACHE"]
    """
    if explicit := os.environ.get(CACHE_ENV):
        return Path(explicit).expanduser()
    hf_home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "huggingface"
    )
    return Path(hf_home).expanduser() / "movie101v2_hf"


def read_text(path: str | Path, *, what: str = "file") -> str:
    """The text of a UTF-8 file (a leading BOM is dropped).

    Raises:
        FileFormatError: the file is not UTF-8; the message names the file, the line and the byte.

    Example:
        >>> import tempfile, pathlib; p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
        >>> _ = p.write_bytes(b"\\xef\\xbb\\xbfline 1\\nline \\xb2\\n")
        >>> read_text(p, what="narration file")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        movie101v2_hf.errors.FileFormatError: ...a.txt:2: the narration file is not UTF-8 (byte 0xb2 ...
    """
    if Path(path).is_dir():
        raise FileFormatError(f"the {what} is a folder, not a file: give the path of the file itself", path=path)
    data = Path(path).read_bytes()
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as err:
        offset = err.start + bom
        line = data.count(b"\n", 0, offset) + 1
        raise FileFormatError(
            f"the {what} is not UTF-8 (byte 0x{data[offset]:02x} at offset {offset} cannot be decoded). "
            "Save it as UTF-8 (e.g. `iconv -f GB18030 -t UTF-8 IN > OUT` for a file in a Chinese legacy encoding).",
            path=path,
            line=line,
        ) from None


def read_json(path: str | Path, *, what: str, fix: str = "", error: type[FileFormatError] = FileFormatError) -> Any:
    """The parsed content of a UTF-8 JSON file; broken JSON is `error` naming the file, the line and `fix`.

    Example:
        >>> import tempfile, pathlib; p = pathlib.Path(tempfile.mkdtemp()) / "r.json"
        >>> _ = p.write_text('{"a": 1,\\n}')
        >>> read_json(p, what="results file", fix="re-run the job")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        movie101v2_hf.errors.FileFormatError: ...r.json:2: not valid JSON (Expecting property name enclosed in double quotes); re-run the job
    """
    try:
        return json.loads(read_text(path, what=what))
    except json.JSONDecodeError as err:
        raise error(f"not valid JSON ({err.msg}){'; ' + fix if fix else ''}", path=path, line=err.lineno) from None


def read_jsonl(path: str | Path, *, what: str = "JSONL file") -> Iterator[tuple[int, Any]]:
    """`(line number, parsed object)` for each non-blank line of a UTF-8 JSON-lines file.

    Raises:
        FileFormatError: a line is not JSON, or the file is not UTF-8 (named with file and line).

    Example:
        >>> import tempfile, pathlib; p = pathlib.Path(tempfile.mkdtemp()) / "p.jsonl"
        >>> _ = p.write_text('{"a": 1}\\n\\n{"a": 2}\\n')
        >>> list(read_jsonl(p))
        [(1, {'a': 1}), (3, {'a': 2})]
    """
    # split on "\n" only: str.splitlines() would also cut at U+2028 and friends, which JSON strings may hold raw
    for number, line in enumerate(read_text(path, what=what).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as err:
            raise FileFormatError(f"not a JSON line ({err.msg}): {line[:80]!r}", path=path, line=number) from None


def script_json(value: Any) -> str:
    """`value` as JSON to put inside an HTML `<script>` element: no `</` that would end the element early.

    Example:
        >>> script_json({"text": "a </script> b"})
        '{"text": "a <\\\\/script> b"}'
    """
    return json.dumps(value, ensure_ascii=False).replace("</", "<\\/")


def write_atomically(path: str | Path, content: str | bytes) -> None:
    """Write `content` to `path` through a temporary file in the same folder, flushed to disk, then renamed over
    `path`: a reader (or a run killed halfway) sees the old file or the new one, never part of one.

    Example:
        >>> import tempfile, pathlib; p = pathlib.Path(tempfile.mkdtemp()) / "r.json"
        >>> write_atomically(p, "{}"); p.read_text()
        '{}'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content.encode("utf-8") if isinstance(content, str) else content)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a results file is not a secret
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_parquet(dataset: Any, path: str | Path) -> None:
    """`dataset.to_parquet(path)` through a temporary file renamed into place (a kill leaves no half file).

    Example:
        >>> import tempfile, pathlib; from datasets import Dataset
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "train.parquet"
        >>> write_parquet(Dataset.from_dict({"a": [1, 2]}), p); list(Dataset.from_parquet(str(p))["a"])
        [1, 2]
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        dataset.to_parquet(str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
