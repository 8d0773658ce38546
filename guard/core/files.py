"""Small shared helpers: reading TOML files with located errors, package versions."""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from guard.core.errors import GuardError


def read_toml(path: str | Path, *, error: type[GuardError], what: str) -> dict[str, Any]:
    """Parse a TOML file; a missing or malformed file raises `error` naming it."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} file {path} not found")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise error(f"{path}: not valid TOML: {e}") from e


def package_versions(*dists: str) -> dict[str, str]:
    """Installed versions of the named distributions, for reports and run records."""
    out = {}
    for dist in dists:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


__all__ = ["package_versions", "read_toml"]
