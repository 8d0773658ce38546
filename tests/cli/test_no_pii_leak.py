"""No log line, message, report or exception carries a raw PII value: feed a
PII-laden corpus through every command, then grep everything but the
de-identified data itself for the values."""

import json
import subprocess
import sys

import pytest

from guard.core.errors import ExitCode
from tests.conftest import TEST_KEY

PII = {
    "name": "Philippa Ravenscroft",
    "email": "p.ravenscroft@northfield-clinic.org",
    "phone": "(415) 555-0198",
    "ssn": "219-09-9999",
    "card": "4539 1488 0343 6467",
    "iban": "GB82 WEST 1234 5698 7654 32",
    "ip": "203.0.113.77",
}


def _corpus(path):
    rows = [
        {"id": f"r{i}", "patient_id": f"p{i % 3}", "text": template}
        for i, template in enumerate(
            [
                f"{PII['name']} (SSN {PII['ssn']}) phoned from {PII['phone']}.",
                f"Refund to card {PII['card']} and IBAN {PII['iban']} for {PII['name']}.",
                f"Login by {PII['email']} from {PII['ip']} on 2023-05-06.",
            ]
        )
    ]
    lines = [json.dumps(r) for r in rows]
    lines.append(json.dumps({"id": "bad1", "text": {"nested": PII["name"]}}))  # not a string
    lines.append('{"id": "bad2", "text": "' + PII["email"] + '"')  # malformed JSON
    lines.append(json.dumps({"id": "bad3", "note": PII["ssn"]}))  # missing field
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _guard(*args, cwd):
    env = {"GUARD_KEY": TEST_KEY, "PATH": "/usr/bin:/bin", "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "guard", "-vv", *args, "--no-progress"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc


@pytest.mark.slow
def test_no_raw_pii_in_logs_messages_or_reports(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    _corpus(corpus)
    policy = tmp_path / "policy.toml"
    policy.write_text(
        '[operators]\ndefault = "surrogate"\nDATE_TIME = { type = "date_shift", field = "patient_id" }\n',
        encoding="utf-8",
    )
    runs = [
        _guard(
            "scrub",
            str(corpus),
            str(tmp_path / "out.jsonl"),
            "--policy",
            str(policy),
            "--report",
            str(tmp_path / "scrub.json"),
            "--on-error",
            "skip",
            cwd=tmp_path,
        ),
        _guard("scrub", str(corpus), str(tmp_path / "fail.jsonl"), cwd=tmp_path),  # fails on bad1
        _guard(
            "scan", str(corpus), "--report", str(tmp_path / "scan.json"), "--json", "--on-error", "skip", cwd=tmp_path
        ),
        _guard("scan", str(tmp_path / "out.jsonl"), "--json", cwd=tmp_path),
    ]
    assert runs[0].returncode == ExitCode.OK, runs[0].stderr
    assert runs[1].returncode == ExitCode.INPUT
    texts = [r.stdout + r.stderr for r in runs]
    texts += [(tmp_path / name).read_text(encoding="utf-8") for name in ("scrub.json", "scan.json")]
    everything = "\n".join(texts)
    assert "records" in everything  # the outputs are really there
    for kind, value in PII.items():
        assert value not in everything, f"raw {kind} leaked"
        for part in value.split():
            if len(part) >= 5 and not part.isdigit():
                assert part not in everything, f"part of a raw {kind} leaked"
    scrubbed = (tmp_path / "out.jsonl").read_text(encoding="utf-8")
    for kind, value in PII.items():
        assert value not in scrubbed, f"raw {kind} survived scrubbing"
