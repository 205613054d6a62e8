"""Components registered by name (as lmms-eval's `register_model`): the CLI's choices come from a registry.

Example:
    >>> SHAPES = Registry("shape")
    >>> @SHAPES.register("square")
    ... class Square:
    ...     pass
    >>> SHAPES.names(), SHAPES.get("square").__name__, Square.name
    (('square',), 'Square', 'square')
    >>> SHAPES.get("circle")
    Traceback (most recent call last):
    ...
    ValueError: Unknown shape 'circle'; choose one of: square.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Classes by name; `register(name)` decorates a class, sets its `name` and records it."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._classes: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        def decorate(cls: type[T]) -> type[T]:
            if name in self._classes and self._classes[name] is not cls:
                raise ValueError(f"Two {self.kind}s are registered as {name!r}: {self._classes[name]} and {cls}.")
            cls.name = name  # type: ignore[attr-defined]
            self._classes[name] = cls
            return cls

        return decorate

    def get(self, name: str) -> type[T]:
        """The class registered as `name`."""
        if name not in self._classes:
            raise ValueError(f"Unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}.")
        return self._classes[name]

    def build(self, name: str, /, *args: Any, **kwargs: Any) -> T:
        """An instance of the class registered as `name`."""
        return self.get(name)(*args, **kwargs)

    def names(self) -> tuple[str, ...]:
        return tuple(self._classes)

    def __contains__(self, name: object) -> bool:
        return name in self._classes
