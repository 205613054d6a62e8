"""Exceptions raised by movie101v2_hf.

Every error names the file, line or id it is about and says what to do, so that a user reading a
traceback from a 203-movie run knows where to look without a debugger.
"""

from __future__ import annotations

from pathlib import Path


class Movie101v2Error(Exception):
    """Base class of every error this package raises on purpose."""


class ReleaseFormatError(Movie101v2Error, ValueError):
    """A file of the release does not follow the documented layout or line format.

    The message names the file and, where it applies, the 1-based line number.
    """

    def __init__(self, message: str, *, path: str | Path, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else f"{self.path}"
        self.message = message
        super().__init__(f"{where}: {message}")

    def __reduce__(self):  # keyword-only arguments: the default pickling (cls(*args)) cannot rebuild it
        return _rebuild, (type(self), (self.message,), {"path": self.path, "line": self.line})


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

    The message names the clip id and the movie file.
    """

    def __init__(self, message: str, *, clip_id: str | None, video: str) -> None:
        self.clip_id = clip_id
        self.video = video
        self.message = message
        super().__init__(f"clip {clip_id!r} (movie file {video}): {message}")

    def __reduce__(self):  # so that it crosses process boundaries (DataLoader workers) intact
        return _rebuild, (type(self), (self.message,), {"clip_id": self.clip_id, "video": self.video})


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
