"""Exceptions raised by movie101v2_hf.

Every error names the file, line or id it is about and says what to do, so that a user reading a
traceback from a 203-movie run knows where to look without a debugger.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

_UNSET: object = object()  # marks a keyword argument not given


class Movie101v2Error(Exception):
    """Base class of every error this package raises on purpose."""


class FileFormatError(Movie101v2Error, ValueError):
    """A file the user gave (release file, predictions, meta) cannot be read as documented: not UTF-8, not
    JSON, a malformed line. The message names the file and, where it applies, the 1-based line number.
    """

    def __init__(self, message: str, *, path: str | Path, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else f"{self.path}"
        self.message = message
        super().__init__(f"{where}: {message}")

    def __reduce__(self):  # keyword-only arguments: the default pickling (cls(*args)) cannot rebuild it
        return _rebuild, (type(self), (self.message,), {"path": self.path, "line": self.line})


class ReleaseFormatError(FileFormatError):
    """A file of the release does not follow the documented layout or line format."""


class UnknownMovieError(Movie101v2Error, KeyError):
    """A movie id was asked for or referenced that the release has no metadata for."""

    def __str__(self) -> str:  # KeyError would repr() the message, quotes and all
        return str(self.args[0])


class MissingPortraitError(ReleaseFormatError):
    """A cast member listed in `meta/<id>.json` has no `portrait/<id>/<actor_id>.jpeg`."""


class MissingDependencyError(Movie101v2Error, ImportError):
    """An optional dependency is needed for this feature; the message names the pip extra."""


class ClipDecodeError(Movie101v2Error, RuntimeError):
    """A clip's frames could not be decoded: missing or corrupt movie file, or a clip past its end.

    The message names the clip id and the movie file. It keeps its type, clip id and file when it crosses from a
    DataLoader worker: torch re-raises a worker's error as `type(err)(text of the worker's traceback)`, so a
    lone message argument is read back for them.
    """

    def __init__(self, message: str, *, clip_id: str | None = _UNSET, video: str = _UNSET) -> None:  # type: ignore[assignment]
        if clip_id is _UNSET and video is _UNSET:
            clip_id, video, message = _parse_clip_decode_text(message)
        self.clip_id = clip_id
        self.video = video
        self.message = message
        super().__init__(f"clip {clip_id!r} (movie file {video}): {message}")

    def __reduce__(self):  # so that it crosses process boundaries (DataLoader workers) intact
        return _rebuild, (type(self), (self.message,), {"clip_id": self.clip_id, "video": self.video})


def _parse_clip_decode_text(text: str) -> tuple[str | None, str, str]:
    """(clip id, movie file, message) from the last `ClipDecodeError: clip 'ID' (movie file F): M` in `text`."""

    found = re.findall(r"ClipDecodeError: clip ('(?:[^'\\]|\\.)*'|None) \(movie file (.*?)\): (.*)", text)
    if not found:
        return None, "?", text
    clip, video, message = found[-1]
    return ast.literal_eval(clip), video, message + " (raised in a DataLoader worker)"


class BackendSetupError(Movie101v2Error, ValueError):
    """A model backend cannot run the job as asked (e.g. a modality its engine does not take): stops the run."""


class JudgeUnavailableError(Movie101v2Error, ConnectionError):
    """The judge server cannot be reached or keeps failing: the run stopped early instead of waiting on every
    remaining pair. The message names the URL and the last error; judgments received so far are kept."""


class PublishRefusedError(Movie101v2Error, PermissionError):
    """A Hub upload was refused before anything was sent: the data's terms do not allow it as asked."""


class HubRequestError(Movie101v2Error, RuntimeError):
    """The Hugging Face Hub answered an upload with an error; the message says what it answered and what to check."""


def _rebuild(cls: type, args: tuple, kwargs: dict) -> Exception:
    return cls(*args, **kwargs)


def require(module: str, *, extra: str, feature: str) -> None:
    """Raise `MissingDependencyError` if `module` cannot be imported.

    Example:
        >>> require("json", extra="video", feature="clip decoding")
    """
    from importlib.util import find_spec

    if find_spec(module) is None:
        raise MissingDependencyError(
            f"{feature} needs the `{module}` package. Install it with: pip install 'movie101v2-hf[{extra}]'"
        )


def check_minimums(options: object, **minimums: int | float) -> None:
    """Refuse option values under their minimum (None means "not given" and passes), naming the flag.

    Example:
        >>> from types import SimpleNamespace
        >>> check_minimums(SimpleNamespace(max_samples=-1), max_samples=1)
        Traceback (most recent call last):
        ...
        ValueError: --max-samples must be at least 1, got -1.
    """
    for name, minimum in minimums.items():
        value = getattr(options, name)
        if value is not None and value < minimum:
            raise ValueError(f"--{name.replace('_', '-')} must be at least {minimum}, got {value}.")
