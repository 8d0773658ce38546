"""One error tree for the whole project.

Every error says what went wrong, where (file, line/record, field) and how to
fix it. Messages never contain a raw PII value. Only the CLI turns these into
exit codes.
"""

from __future__ import annotations


class GuardError(Exception):
    """Base of every error guard raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} ({hint})")


class InputError(GuardError):
    """A corpus file cannot be read: bad syntax, encoding, missing field, size."""

    exit_code = 3

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.reason = message  # without the location prefix
        where = []
        if path is not None:
            where.append(str(path) if line is None else f"{path}:{line}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message, hint=hint)


class PolicyError(GuardError):
    """A policy file is invalid: unknown entity or operator, bad threshold."""

    exit_code = 4


class KeyMissingError(GuardError):
    """An operator needs a secret key and none was given."""

    exit_code = 5


class DependencyError(GuardError):
    """An optional dependency or offline model is missing."""

    exit_code = 6


class OutputError(GuardError):
    """The output cannot be written (exists, unwritable, same as input)."""

    exit_code = 7


__all__ = [
    "DependencyError",
    "GuardError",
    "InputError",
    "KeyMissingError",
    "OutputError",
    "PolicyError",
]
