"""One registry shape for every extension point (operators, recognizers, precision
rules, strategies, models, audits), after Opacus `accountants/registry.py`.

    >>> from guard.core.registry import Registry
    >>> colours: Registry[str] = Registry("colour")
    >>> colours.register("red", "#f00", warm=True)
    '#f00'
    >>> @colours.register("blue")
    ... def blue() -> str:
    ...     return "#00f"
    >>> colours.names()
    ['blue', 'red']
    >>> colours.meta("red")
    {'warm': True}
    >>> colours.get("green")
    Traceback (most recent call last):
    ...
    guard.core.errors.GuardError: unknown colour 'green'; known: blue, red

A name is registered once: a second `register` of the same name raises
`DuplicateNameError`. `get` of an unknown name raises the registry's `error` class
(a `GuardError` subclass with the right exit code for its area, e.g. `PolicyError`
for operators, `ConfigError` for strategies) whose message lists `sorted(names())`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, Generic, TypeVar, overload

from guard.core.errors import GuardError

T = TypeVar("T")


class DuplicateNameError(GuardError, ValueError):
    """Two extension points were registered under the same name (a programming error)."""


class Registry(Generic[T]):
    """Named items of one kind with optional per-entry metadata.

    `kind` names the items in messages ("operator", "strategy"); `error` is raised by
    `get` for an unknown name (default `GuardError`)."""

    def __init__(self, kind: str, *, error: type[GuardError] = GuardError) -> None:
        self.kind = kind
        self.error = error
        self._items: dict[str, T] = {}
        self._meta: dict[str, Mapping[str, Any]] = {}

    @overload
    def register(self, name: str, item: None = None, **meta: Any) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, item: T, **meta: Any) -> T: ...

    def register(self, name: str, item: T | None = None, **meta: Any) -> T | Callable[[T], T]:
        """Register `item` under `name`; without `item`, a decorator that does it.
        Keyword arguments are kept as the entry's metadata (see `meta`)."""
        if item is None:

            def wrap(obj: T) -> T:
                return self.register(name, obj, **meta)

            return wrap
        if name in self._items:
            raise DuplicateNameError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item
        self._meta[name] = MappingProxyType(dict(meta))
        return item

    def get(self, name: str, *, source: str | None = None) -> T:
        """The item registered as `name`; `source` (a file or section) prefixes the error."""
        try:
            return self._items[name]
        except KeyError:
            raise self.error(self.unknown_message(name, source=source)) from None

    def unknown_message(self, name: str, *, source: str | None = None) -> str:
        where = f"{source}: " if source else ""
        return f"{where}unknown {self.kind} {name!r}; known: {', '.join(self.names())}"

    def meta(self, name: str) -> dict[str, Any]:
        """The metadata given when `name` was registered (e.g. declared parameters)."""
        self.get(name)
        return dict(self._meta[name])

    def names(self) -> list[str]:
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        return [(n, self._items[n]) for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()})"


__all__ = ["DuplicateNameError", "Registry"]
