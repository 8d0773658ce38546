"""Small shared helpers: reading TOML and JSON files with located errors, package versions."""

from __future__ import annotations

import hashlib
import json
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from guard.core.errors import GuardError, InputError


def read_toml(path: str | Path, *, error: type[GuardError], what: str) -> dict[str, Any]:
    """Parse a TOML file; a missing or malformed file raises `error` naming it."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} file {path} not found")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise error(f"{path}: not valid TOML: {e}") from e


def read_json(path: str | Path, *, what: str) -> Any:
    """Parse a JSON file; a missing or malformed file raises InputError naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise InputError(f"{what} not found", path=str(path)) from e
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{what} is not JSON ({e})", path=str(path)) from e


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks (to identify data in reports)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_versions(*dists: str) -> dict[str, str]:
    """Installed versions of the named distributions, for reports and run records."""
    out = {}
    for dist in dists:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


__all__ = ["file_sha256", "package_versions", "read_json", "read_toml"]
