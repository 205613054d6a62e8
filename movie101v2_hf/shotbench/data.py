"""ShotBench (arXiv 2506.21356) in its official layout, read as a script-free `datasets.Dataset`.

The official instructions leave a folder holding `test.tsv`, `image/` and `video/` (the Hub repo
`Vchitect/ShotBench` with `images.tar` and `videos.tar` untarred beside the TSV; `fetch_shotbench` does that).
The TSV's quirks are parsed as they are: `path` is a Python list literal with single quotes, `type` a JSON list,
`options` a JSON object whose empty or NaN options are dropped, and some correct options are composite labels
("Daylight, Sunny"), still one option.
"""

from __future__ import annotations

import ast
import csv
import json
import math
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from ..errors import FileFormatError
from ..utils.io import read_text

# category string -> (abbreviation, the question asked), in the paper's order
CATEGORIES: dict[str, tuple[str, str]] = {
    "shot size": ("SS", "What's the shot size of this shot?"),
    "shot framing": ("SF", "What's the shot framing of this shot?"),
    "camera angle": ("CA", "What's the camera angle of this shot?"),
    "lens size": ("LS", "What's the lens size of this shot?"),
    "lighting type": ("LT", "What's the lighting type of this shot?"),
    "lighting": ("LC", "What's the lighting of this shot?"),
    "composition": ("SC", "What's the composition of this shot?"),
    "camera movement": ("CM", "What's the camera movement in this movie shot?"),
}
LETTERS = ("A", "B", "C", "D")
HUB_REPO = "Vchitect/ShotBench"


def _options(value: str, where: tuple[Path, int]) -> list[dict[str, str]]:
    try:
        options = json.loads(value)
    except json.JSONDecodeError as err:
        raise FileFormatError(
            f"options are not a JSON object ({err.msg}): {value[:80]!r}", path=where[0], line=where[1]
        ) from None
    if not isinstance(options, dict):
        raise FileFormatError(f"options are not a JSON object: {value[:80]!r}", path=where[0], line=where[1])
    kept = []
    for letter in LETTERS:
        text = options.get(letter)
        if text is None or (isinstance(text, float) and math.isnan(text)) or not str(text).strip():
            continue  # an empty option is not an option
        kept.append({"letter": letter, "text": str(text).strip()})
    return kept


def read_tsv(path: str | Path, *, what: str) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """The header and the `(line, row)` pairs of a UTF-8 TSV file; a row the csv module cannot read (a broken quote
    that runs into a field over its size limit) is an error naming the file and line.

    Example:
        >>> import tempfile, pathlib; p = pathlib.Path(tempfile.mkdtemp()) / "t.tsv"
        >>> _ = p.write_text("index\\tanswer\\n7\\tB\\n")
        >>> read_tsv(p, what="TSV")
        (['index', 'answer'], [(2, {'index': '7', 'answer': 'B'})])
    """
    reader = csv.DictReader(read_text(path, what=what).splitlines(), delimiter="\t")
    try:
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as err:
        raise FileFormatError(
            f"not a readable TSV row ({err}); check its quoting", path=path, line=reader.line_num
        ) from None
    return list(reader.fieldnames or ()), rows


def read_test_tsv(path: str | Path, *, check_media: bool = True) -> list[dict[str, Any]]:
    """The rows of ShotBench's `test.tsv`, parsed, with media paths resolved against its folder.

    Raises:
        FileFormatError: a malformed row (named with file and line), or, with `check_media`, a missing media file
            (named with the row's index and the file).
    """
    path = Path(path)
    header, raw_rows = read_tsv(path, what="ShotBench TSV")
    required = {"index", "path", "question", "options", "answer", "category"}
    if not required <= set(header):
        raise FileFormatError(f"expected the columns {sorted(required)}, got {header or None}", path=path, line=1)
    seen: dict[int, int] = {}  # index -> the line that has it
    rows = [_row(raw, path, line, seen, check_media) for line, raw in raw_rows]
    if not rows:
        raise FileFormatError("the TSV has a header and no rows: give the full test.tsv", path=path, line=1)
    return rows


def _row(raw: dict[str, Any], path: Path, line: int, seen: dict[int, int], check_media: bool) -> dict[str, Any]:
    """One parsed row of test.tsv (see `read_test_tsv`)."""
    folder = path.parent
    where = (path, line)
    short = [name for name in ("index", "path", "question", "options", "answer", "category") if raw.get(name) is None]
    if short:
        raise FileFormatError(f"the row has no {short} (fewer fields than the header)", path=path, line=line)
    try:
        index = int(str(raw["index"]).strip())
    except ValueError:
        raise FileFormatError(f"index {raw['index']!r} is not a whole number", path=path, line=line) from None
    if index in seen:
        raise FileFormatError(
            f"index {index} is already the index of line {seen[index]}: each question needs its own index (a "
            "duplicate would be scored twice)",
            path=path,
            line=line,
        )
    seen[index] = line
    try:
        media = ast.literal_eval(raw["path"])  # a Python literal with single quotes, not JSON
        kinds = json.loads(raw.get("type") or "[]")
    except (ValueError, SyntaxError, json.JSONDecodeError) as err:
        raise FileFormatError(f"cannot read path/type ({err}): {raw['path'][:80]!r}", path=path, line=line) from None
    media = [media] if isinstance(media, str) else list(media)
    category = raw["category"].strip()
    if category not in CATEGORIES:
        raise FileFormatError(
            f"unknown category {category!r}; expected one of {list(CATEGORIES)}", path=path, line=line
        )
    files = [folder / item for item in media]
    if check_media:
        for file in files:
            if not file.is_file():
                raise FileFormatError(
                    f"row {raw['index']}: its media file {file} is missing. Untar images.tar and videos.tar next "
                    "to test.tsv (or use fetch_shotbench), or evaluate predictions, which needs no media.",
                    path=path,
                    line=line,
                )
    kind = (kinds[0] if kinds else ("video" if media and media[0].endswith(".mp4") else "image")).lower()
    options = _options(raw["options"], where)
    answer = raw["answer"].strip()
    if answer not in {option["letter"] for option in options}:
        raise FileFormatError(
            f"row {index}: its answer {answer!r} is not one of its options' letters "
            f"{[option['letter'] for option in options]}, so no prediction could be right. Fix the row.",
            path=path,
            line=line,
        )
    return {
        "index": index,
        "category": category,
        "category_abbr": CATEGORIES[category][0],
        "question": raw["question"].strip(),
        "options": options,
        "answer": answer,
        "kind": kind,
        "image": str(files[0]) if kind == "image" and files else None,
        "video": str(files[0]) if kind == "video" and files else None,
    }


def load_shotbench(folder: str | Path, *, check_media: bool = True, streaming: bool = False) -> Any:
    """ShotBench as a `datasets.Dataset` (or a stream): `index`, `category`, `category_abbr`, `question`,
    `options` (`[{"letter", "text"}]`, empty ones dropped), `answer`, `kind`, `image` (an `Image`, stills) and
    `video` (a `Video` path, clips; decoded lazily, as Movie101v2's clips).

    Example:
        >>> shotbench = load_shotbench(mini_shotbench)
        >>> shotbench[0]["category_abbr"], shotbench[0]["options"][0]
        ('SS', {'letter': 'A', 'text': 'Medium Close Up'})
    """
    from datasets import Dataset, Features, Image, IterableDataset, List, Value, Video

    folder = Path(folder)
    rows = read_test_tsv(folder / "test.tsv", check_media=check_media)
    features = Features(
        {
            "index": Value("int32"),
            "category": Value("string"),
            "category_abbr": Value("string"),
            "question": Value("string"),
            "options": List({"letter": Value("string"), "text": Value("string")}),
            "answer": Value("string"),
            "kind": Value("string"),
            "image": Image(),
            "video": Video(decode=False),
        }
    )
    if streaming:
        return IterableDataset.from_generator(lambda: iter(rows), features=features)
    return Dataset.from_list(rows, features=features)


def fetch_shotbench(local_dir: str | Path, *, token: str | bool | None = None) -> Path:
    """Download the Hub snapshot of ShotBench and untar its media next to `test.tsv`, as the official instructions
    do; returns the folder. Archives already untarred are not untarred again.

    Example (needs the Hub, so it is not run by the tests):
        >>> folder = fetch_shotbench("ShotBench")  # doctest: +SKIP
    """
    from huggingface_hub import snapshot_download

    folder = Path(snapshot_download(HUB_REPO, repo_type="dataset", local_dir=str(local_dir), token=token))
    for archive, target in (("images.tar", "image"), ("videos.tar", "video")):
        if (folder / archive).is_file() and not (folder / target).is_dir():
            untar_into_place(folder / archive, folder / target)
    return folder


def untar_into_place(archive: Path, target: Path) -> None:
    """Untar `archive` (whose members lie under `target.name/`) into a temporary folder beside `target`, renamed to
    `target` only when every member is out: a killed extraction leaves no half `target` taken for complete later.

    Example:
        >>> import io, tarfile, tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> with tarfile.open(root / "images.tar", "w") as tar:
        ...     info = tarfile.TarInfo("image/1.jpg"); info.size = 3; tar.addfile(info, io.BytesIO(b"jpg"))
        >>> untar_into_place(root / "images.tar", root / "image"); sorted(p.name for p in (root / "image").iterdir())
        ['1.jpg']
    """
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(staging, filter="data")  # no paths outside the folder
        inner = staging / target.name
        (inner if inner.is_dir() else staging).rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
