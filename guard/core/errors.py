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
    """The output cannot be written: unwritable, disk full, or it is (a link to) the input
    or another output of the same command."""

    exit_code = 7


class RunError(GuardError):
    """A run directory or one of its files is missing, damaged, or belongs to another run
    (its content hash differs). The same code for every command."""

    exit_code = 10


class UntrustedModelError(GuardError):
    """A model file would run code or holds types guard does not allow; nothing was loaded."""

    exit_code = 12


class Interrupted(GuardError):
    """SIGINT or SIGTERM: the command stopped cleanly; exit code 128 + the signal number."""

    def __init__(self, signum: int, message: str) -> None:
        self.exit_code = 128 + signum
        super().__init__(message)


# Every exit code any guard command returns, in one place (README "Exit codes" and
# tests/cli/test_exit_codes.py check against it). Error classes elsewhere
# (federated.privacy.PrivacyError, federated.server.FederateError,
# audits.findings.AuditError/PrivacyClaimViolated, audits.check.ReleaseCheckFailed)
# use these numbers.
EXIT_CODES: dict[int, str] = {
    0: "done",
    1: "other guard error (bad option value)",
    2: "command-line usage error",
    3: "bad input file (where: file:line, field)",
    4: "bad policy or config file",
    5: "key missing, too short or readable by others",
    6: "dependency or offline model missing",
    7: "output cannot be written (unwritable, disk full, or it is the input or another output)",
    8: "privacy budget cannot be met or is spent",
    9: "federated run cannot go on",
    10: "run directory or run file missing, damaged, or of another run",
    11: "release checks failed",
    12: "model file refused (it could run code, or holds types guard does not allow)",
    13: "privacy bug: measured leakage above the claimed epsilon",
    130: "interrupted by SIGINT (Ctrl-C); temporary files removed, earlier outputs kept",
    143: "terminated by SIGTERM; temporary files removed, earlier outputs kept",
}


__all__ = [
    "EXIT_CODES",
    "DependencyError",
    "GuardError",
    "InputError",
    "Interrupted",
    "KeyMissingError",
    "OutputError",
    "PolicyError",
    "RunError",
    "UntrustedModelError",
]
