"""Registries: the project's extension points, each a table of named entries.

An entry's framework-free facts (its spec) are registered in `srcore`; each backend registers its own
implementation under the same key, and `tests/test_structure.py` compares the key sets. Adding a model, a
loss, a metric or a data source is one registered entry, never an edit of a hand-kept list:

    ARCHS = Registry("architecture", option="--model")
    @ARCHS.register("srresnet")
    def ...            # or ARCHS.register("srresnet", spec)

An unknown name is a one-line UserError naming the choices, wherever it comes from (a command line, a
config file, a checkpoint's metadata).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from srcore.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind (`what`: "architecture", "metric", ...), in registration order."""

    def __init__(self, what: str, option: str = "") -> None:
        self.what = what
        self.option = option  # the command-line option that names an entry, for error messages
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T | None = None, *, replace: bool = False) -> Any:
        """Register `entry` under `name`; without `entry`, a decorator that registers what it decorates."""
        if entry is None:
            def decorator(obj: T) -> T:
                self.register(name, obj, replace=replace)
                return obj
            return decorator
        if not name or not isinstance(name, str):
            raise ValueError(f"a {self.what} needs a non-empty name, got {name!r}")
        if name in self._entries and not replace:
            raise ValueError(f"{self.what} {name!r} is registered already")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Remove an entry (tests that register a toy entry clean up with this)."""
        self._entries.pop(name, None)

    def get(self, name: Any, where: str = "") -> T:
        """The entry named `name`; a one-line UserError naming the known ones if there is none."""
        if isinstance(name, str) and name in self._entries:
            return self._entries[name]
        source = f"{where}: " if where else (f"{self.option} " if self.option else "")
        raise UserError(f"{source}unknown {self.what} {name!r}; expected one of {', '.join(self._entries)}")

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def values(self) -> list[T]:
        return list(self._entries.values())

