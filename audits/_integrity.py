"""Seals on guard's own JSON outputs (findings files, report.json).

A seal is the sha256 of the document's canonical JSON (sorted keys, no spaces, UTF-8)
without its `sha256` and `signature` fields: it shows a file was not edited or torn
after guard wrote it. Anyone can recompute it, so `guard check` also recomputes the
numbers themselves from the run. With a key, report.json also carries an HMAC-SHA256
`signature` under a sub-key of the guard key that only key holders can make.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from guard.core.keys import derive

SEAL_FIELDS = ("sha256", "signature")
SIGNATURE_ALG = "HMAC-SHA256"
_PURPOSE = "release-report"


def canonical_json(data: Mapping[str, Any]) -> bytes:
    """The document without its seal fields, as canonical JSON bytes."""
    body = {k: v for k, v in data.items() if k not in SEAL_FIELDS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def content_sha256(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(data)).hexdigest()


def sealed(data: Mapping[str, Any], *, key: bytes | None = None) -> dict[str, Any]:
    """A copy of `data` with its sha256 (and, with a key, its signature)."""
    out = {k: v for k, v in data.items() if k not in SEAL_FIELDS}
    if key is not None:
        out["signature"] = {"alg": SIGNATURE_ALG, "key_id": key_id(key), "value": _mac(key, out)}
    out["sha256"] = content_sha256(out)
    return out


def seal_matches(data: Mapping[str, Any]) -> tuple[bool, str | None, str]:
    """(matches, recorded sha256, recomputed sha256)."""
    recorded = data.get("sha256")
    actual = content_sha256(data)
    return isinstance(recorded, str) and hmac.compare_digest(recorded, actual), recorded, actual


def key_id(key: bytes) -> str:
    """A public name for the key (not the key): tells which key signed."""
    return hashlib.sha256(derive(key, _PURPOSE + "/id")).hexdigest()[:16]


def _mac(key: bytes, data: Mapping[str, Any]) -> str:
    return hmac.new(derive(key, _PURPOSE), canonical_json(data), hashlib.sha256).hexdigest()


def signature_problem(data: Mapping[str, Any], key: bytes) -> str | None:
    """None when `data` carries a valid signature under `key`, else what is wrong."""
    sig = data.get("signature")
    if not isinstance(sig, Mapping):
        return "report.json is not signed, but a key was given (guard report signs when it has the key)"
    if sig.get("alg") != SIGNATURE_ALG or not isinstance(sig.get("value"), str):
        return f"report.json's signature is not {SIGNATURE_ALG}"
    if sig.get("key_id") != key_id(key):
        return f"report.json was signed with another key (key id {sig.get('key_id')!r}, this key's is {key_id(key)!r})"
    if not hmac.compare_digest(sig["value"], _mac(key, data)):
        return "report.json's signature does not match its content: it was changed after it was signed"
    return None


__all__ = ["SEAL_FIELDS", "canonical_json", "content_sha256", "key_id", "seal_matches", "sealed", "signature_problem"]
