"""One error tree for the whole project.

Every error says what went wrong, where (file, line/record, field) and how to
fix it. Messages never contain a raw PII value. Only the CLI turns these into
exit codes.
"""

from __future__ import annotations

import signal
from enum import IntEnum


class ExitCode(IntEnum):
    """Every exit code a guard command returns, grouped by area (the tens digit), in the
    manner of Flower's `flwr.common.exit.ExitCode`. README "Exit codes" prints this
    table and tests/cli/test_exit_codes.py checks both ways."""

    # general
    OK = 0
    ERROR = 1  # another guard error, e.g. a bad option value
    USAGE = 2  # command-line usage error (click)
    # 10-19: inputs, configuration and setup
    INPUT = 10
    POLICY = 11
    CONFIG = 12
    KEY = 13
    DEPENDENCY = 14
    OUTPUT = 15
    # 20-29: training
    BUDGET = 20
    FEDERATION = 21
    # 30-39: runs and models
    RUN = 30
    UNTRUSTED_MODEL = 31
    # 40-49: release
    CHECKS_FAILED = 40
    PRIVACY_CLAIM_VIOLATED = 41
    # 128 + signal number: interrupted
    SIGINT = 128 + signal.SIGINT
    SIGTERM = 128 + signal.SIGTERM


class GuardError(Exception):
    """Base of every error guard raises on purpose."""

    exit_code: int = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} ({hint})")


class InputError(GuardError):
    """A corpus file cannot be read: bad syntax, encoding, missing field, size."""

    exit_code = ExitCode.INPUT

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

    exit_code = ExitCode.POLICY


class KeyMissingError(GuardError):
    """An operator needs a secret key and none was given."""

    exit_code = ExitCode.KEY


class DependencyError(GuardError):
    """An optional dependency or offline model is missing."""

    exit_code = ExitCode.DEPENDENCY


class OutputError(GuardError):
    """The output cannot be written: unwritable, disk full, or it is (a link to) the input
    or another output of the same command."""

    exit_code = ExitCode.OUTPUT


class RunError(GuardError):
    """A run directory or one of its files is missing, damaged, or belongs to another run
    (its content hash differs). The same code for every command."""

    exit_code = ExitCode.RUN


class UntrustedModelError(GuardError):
    """A model file would run code or holds types guard does not allow; nothing was loaded."""

    exit_code = ExitCode.UNTRUSTED_MODEL


class Interrupted(GuardError):
    """SIGINT or SIGTERM: the command stopped cleanly; exit code 128 + the signal number."""

    def __init__(self, signum: int, message: str) -> None:
        self.exit_code = ExitCode(128 + signum)  # SIGINT or SIGTERM, the only signals handled
        super().__init__(message)


# What each code means, in words (README "Exit codes"). Error classes elsewhere
# (federated.privacy.PrivacyError, federated.config.ConfigError,
# federated.server.FederateError, audits.findings.PrivacyClaimViolated, the release
# gate's ReleaseCheckFailed) take their code from ExitCode.
EXIT_CODES: dict[ExitCode, str] = {
    ExitCode.OK: "done",
    ExitCode.ERROR: "other guard error (bad option value)",
    ExitCode.USAGE: "command-line usage error",
    ExitCode.INPUT: "bad input file (where: file:line, field)",
    ExitCode.POLICY: "bad de-identification policy file (or a policy regex that runs too long)",
    ExitCode.CONFIG: "bad training config or release policy",
    ExitCode.KEY: "key missing, too short or readable by others",
    ExitCode.DEPENDENCY: "dependency or offline model missing",
    ExitCode.OUTPUT: "output cannot be written (unwritable, disk full, or it is the input or another output)",
    ExitCode.BUDGET: "privacy budget cannot be met or is spent",
    ExitCode.FEDERATION: "federated run cannot go on",
    ExitCode.RUN: "run directory or run file missing, damaged, or of another run",
    ExitCode.UNTRUSTED_MODEL: "model file refused (it could run code, or holds types guard does not allow)",
    ExitCode.CHECKS_FAILED: "release checks failed",
    ExitCode.PRIVACY_CLAIM_VIOLATED: "privacy bug: measured leakage above the claimed epsilon",
    ExitCode.SIGINT: "interrupted by SIGINT (Ctrl-C); temporary files removed, earlier outputs kept",
    ExitCode.SIGTERM: "terminated by SIGTERM; temporary files removed, earlier outputs kept",
}


__all__ = [
    "EXIT_CODES",
    "ExitCode",
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
