"""`guard demo` end to end on the bundled corpus (smaller: fewer rounds, one
reference model), then what `guard report` and `guard check` make of it, and
that no PII value, canary secret or training text reaches the report.

The pipeline runs once per test session (`demo_out`), in its own process as a
user runs it; test_report_browser.py reuses it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from guard.core.errors import ExitCode
from guard.release import SECTIONS, ReleaseCheckFailed

ROOT = Path(__file__).resolve().parents[2]
NOTES = ROOT / "examples" / "clinical_notes.jsonl"
RELEASE_POLICY = ROOT / "examples" / "release-policy.toml"
DEMO_KEY = "guard-demo-key-not-secret-0000000000"
# small but real: 1 round of 2 local epochs, 2 LiRA reference models (the fewest LiRA takes),
# 50 bootstrap replicates, 4 records explained (1 cross-checked with SHAP). Integrated gradients
# on MiniLM was the demo's costliest stage, paid twice (DP run and baseline): 4 records still give
# every class that is predicted a top-token list, which is what the comparison's overlaps need.
# RDP accounting: the server calibrates each site's noise before round 1, and the PRV search took
# about 10 s per site; the tests check the ledger's epsilon, not which accountant made it
# (PRV is covered by tests/federated/test_accounting.py and the federate tests).
SMALL = (
    "--set", "train.rounds=1",
    "--set", "train.local_epochs=2",
    "--set", "dp.accountant=rdp",
    "--references", "2",
    "--bootstrap", "50",
    "--explain-examples", "4",
    "--shap-examples", "1",
)  # fmt: skip

pytestmark = pytest.mark.slow

_CACHE: dict[str, object] = {}


def _guard(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "GUARD_KEY": DEMO_KEY, "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": ""}
    return subprocess.run(
        [sys.executable, "-m", "guard", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="session")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder of one small `guard demo` run (shared by every test that imports this)."""
    if "out" not in _CACHE:
        out = tmp_path_factory.mktemp("demo") / "out"
        _CACHE["out"] = out  # first, so a demo that fails or times out is run once, not once per test
        try:
            _CACHE["proc"] = _guard("demo", "--out", str(out), "--no-progress", *SMALL)
        except subprocess.TimeoutExpired as e:
            _CACHE["proc"] = subprocess.CompletedProcess(e.cmd, -1, _text(e.stdout), _text(e.stderr))
            _CACHE["timeout"] = e.timeout
    proc = _CACHE.get("proc")
    assert isinstance(proc, subprocess.CompletedProcess), "guard demo did not finish (see the first test's error)"
    assert "timeout" not in _CACHE, f"guard demo ran past {_CACHE.get('timeout')} s: " + proc.stderr[-3000:]
    assert proc.returncode == ExitCode.OK, proc.stdout[-3000:] + proc.stderr[-5000:]
    return _CACHE["out"]  # type: ignore[return-value]


def _text(output: str | bytes | None) -> str:
    return output.decode("utf-8", "replace") if isinstance(output, bytes) else output or ""


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_demo_writes_every_stage_and_a_checked_report(demo_out):
    proc = _CACHE["proc"]
    for stage in (
        "scrub",
        "dedup",
        "scan",
        "federate",
        "privacy",
        "fairness",
        "explain",
        "baseline",
        "report",
        "check",
    ):
        assert re.search(rf"^\s*{stage}\s+\d+\.\d s", proc.stdout, re.M), stage
    assert f"report: {demo_out / 'report' / 'report.html'}" in proc.stdout
    for name in ("report.html", "report.json", "MODEL_CARD.md"):
        assert (demo_out / "report" / name).stat().st_size > 0
    for name in ("privacy", "fairness", "explain"):
        assert _read(demo_out / "audits" / f"{name}.json")["audit"] == name
    report = _read(demo_out / "report" / "report.json")
    assert report["kind"] == "guard.release_report" and report["schema_version"] == 1
    # the numbers come from the run: ledger epsilon, audited values, measured residual PII
    ledger = _read(demo_out / "run" / "ledger.json")
    assert report["evidence"]["claimed_epsilon"]["value"] == pytest.approx(ledger["max_epsilon"])
    assert 0 < ledger["max_epsilon"] <= 8.0
    residual = _read(demo_out / "data" / "residual_pii.json")
    assert residual["raw_values"] > 1000 and report["evidence"]["residual_pii_rate"]["value"] == residual["rate"]
    assert report["data"]["scrub"]["records_read"] == 504 and report["data"]["dedup"]["records_kept"] < 504
    # beside the residual rate: plain Presidio's second opinion and the detector's measured recall
    second = report["data"]["residual"]["second_opinion"]
    assert second["detector"] == "presidio" and second["records_read"] == report["data"]["dedup"]["records_kept"]
    assert residual["second_opinion"]["entities"] == second["entities"]
    recall = report["data"]["detector_recall"]
    assert {"blind", "reddit", "gap", "templated"} <= set(recall["sets"]) and recall["split"] == "test"
    assert 0 < recall["sets"]["blind"]["by_entity"]["PERSON"]["recall"] <= 1
    privacy = _read(demo_out / "audits" / "privacy.json")
    bound = [f for f in privacy["findings"] if f["check"] == "empirical_epsilon"][0]["value"]
    assert report["evidence"]["empirical_epsilon_lower_bound"]["value"] == pytest.approx(bound)
    checks = report["checks"]
    assert len(checks["results"]) == 8 and {r["name"] for r in checks["results"]} >= {
        "max_claimed_epsilon",
        "min_group_size",
    }
    verdict = "PASS" if checks["passed"] else "FAIL"
    assert f"release checks: {verdict}" in proc.stdout
    assert set(report["figures"]) >= {
        "data_entities",
        "training_curves",
        "privacy_epsilon",
        "privacy_roc",
        "fairness_groups",
    }


def test_report_html_is_self_contained_with_every_section(demo_out):
    page = (demo_out / "report" / "report.html").read_text(encoding="utf-8")
    for section in (*SECTIONS, "comparison"):
        assert f'<section id="{section}"' in page, section
    assert page.count("data:image/png;base64,") >= 5
    assert "Second opinion: plain Presidio" in page and "Detector recall, measured" in page
    # nothing is fetched: no http(s) URL in any src/href, and a CSP that forbids it
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "default-src 'none'" in page


def test_guard_check_passes_a_policy_the_run_meets_and_fails_one_it_breaks(demo_out, tmp_path):
    report = demo_out / "report" / "report.json"
    epsilon = _read(report)["evidence"]["claimed_epsilon"]["value"]
    meets = tmp_path / "meets.toml"
    meets.write_text("[privacy]\nmax_claimed_epsilon = 8.0\nempirical_within_claimed = true\n", encoding="utf-8")
    ok = _guard("check", str(report), "--policy", str(meets))
    assert ok.returncode == ExitCode.OK, ok.stdout + ok.stderr
    breaks = tmp_path / "breaks.toml"
    breaks.write_text(f"[privacy]\nmax_claimed_epsilon = {epsilon / 2:.3f}\n", encoding="utf-8")
    fail = _guard("check", str(report), "--policy", str(breaks))
    assert fail.returncode == ReleaseCheckFailed.exit_code
    assert "max_claimed_epsilon" in fail.stderr and f"{epsilon:.4g} >" in fail.stderr


def test_a_run_without_dp_fails_the_epsilon_gate(demo_out, tmp_path):
    """The demo's no-DP baseline (a real federation with DP off, audited and reported like the
    DP run) checked like the demo's report."""
    report = _read(demo_out / "baseline" / "report" / "report.json")
    assert report["evidence"]["dp_enabled"]["value"] is False and report["evidence"]["claimed_epsilon"]["value"] is None
    assert "comparison" not in report
    policy = tmp_path / "eps.toml"
    policy.write_text("[privacy]\nmax_claimed_epsilon = 8.0\n", encoding="utf-8")
    fail = _guard("check", str(demo_out / "baseline" / "report" / "report.json"), "--policy", str(policy), "--json")
    assert fail.returncode == ReleaseCheckFailed.exit_code
    (result,) = json.loads(fail.stdout)["results"]
    assert result["name"] == "max_claimed_epsilon" and not result["passed"]
    assert "without differential privacy" in result["reason"]
    page = (demo_out / "baseline" / "report" / "report.html").read_text(encoding="utf-8")
    assert "No differential privacy" in page and '<section id="comparison"' not in page


def test_the_demo_report_compares_the_dp_run_with_its_no_dp_baseline(demo_out):
    report = _read(demo_out / "report" / "report.json")
    base = _read(demo_out / "baseline" / "report" / "report.json")
    k = report["comparison"]
    assert k["baseline"]["kind"] == "report" and k["baseline"]["dp_enabled"] is False
    assert k["baseline"]["sha256"] == base["sha256"] and k["baseline"]["run_hash"] == base["run"]["hash"]
    assert k["warnings"] == []  # same corpus (sha256), same held-out records
    assert report["training"]["corpus_sha256"] == base["training"]["corpus_sha256"]
    rows = {(r["section"], r["metric"]): r for r in k["rows"]}
    acc = rows[("utility", "held-out accuracy")]
    assert acc["current"] == pytest.approx(report["training"]["final"]["eval_accuracy"])
    assert acc["baseline"] == pytest.approx(base["training"]["final"]["eval_accuracy"])
    lo, hi = acc["interval"]
    assert lo <= acc["difference"] <= hi and acc["significant"] == (lo > 0 or hi < 0)
    eps = rows[("privacy", "epsilon spent (accounted)")]
    assert eps["current"] == pytest.approx(_read(demo_out / "run" / "ledger.json")["max_epsilon"])
    assert eps["baseline"] is None and eps["significant"] is None
    # the privacy, fairness and explanation audits ran on both runs
    assert any(r["section"] == "membership" and r["interval"] for r in k["rows"])
    assert any(r["section"] == "fairness" for r in k["rows"])
    assert k["attributions"] and all(0 <= a["jaccard"] <= 1 for a in k["attributions"])
    assert "comparison_differences" in report["figures"]
    # the DP run no longer repeats its training without DP: the baseline is that run, kept whole
    assert report["training"]["without_dp"] is None


def _pii_values() -> set[str]:
    """Every identifier value the detector finds in the raw corpus (names, SSNs, phones, ...)."""
    from guard.core.policy import load_policy
    from guard.deid import Detector

    texts = [json.loads(line)["text"] for line in NOTES.read_text(encoding="utf-8").splitlines()]
    detector = Detector(load_policy(ROOT / "examples" / "policy.toml"))
    skip = {"DATE_TIME", "AGE", "LOCATION", "NRP"}  # short generic values: "54", "2023", "Ohio"
    values = set()
    for text, found in zip(texts, detector.detect_batch(texts)):
        for d in found:
            value = text[d.start : d.end].strip()
            if d.entity_type not in skip and len(value) >= 6:
                values.add(value)
    return values


_BEFORE = re.compile(r"[\w.]")  # a character that may not precede a leaked value
_AFTER = re.compile(r"\w")  # nor follow it


def _word_bounded_in(value: str, text: str) -> bool:
    """`re.search(r"(?<![\\w.])" + re.escape(value) + r"(?![\\w])", text)`, by `str.find` over
    every occurrence: a pattern that starts with a lookbehind has no literal prefix for `re` to
    skip ahead with, so the search stepped through the whole multi-megabyte report once per
    value (hundreds of values, three outputs)."""
    at = text.find(value)
    while at != -1:
        end = at + len(value)
        if not (at and _BEFORE.fullmatch(text[at - 1])) and not (end < len(text) and _AFTER.fullmatch(text[end])):
            return True
        at = text.find(value, at + 1)
    return False


def _shingles(text: str, n: int = 8) -> set[str]:
    words = re.findall(r"\w+", text.lower())
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def test_no_pii_canary_secret_or_training_text_in_the_report(demo_out):
    outputs = {
        name: (demo_out / "report" / name).read_text(encoding="utf-8")
        for name in ("report.html", "report.json", "MODEL_CARD.md")
    }
    canaries = _read(demo_out / "run" / "canaries.json")["canaries"]
    assert canaries, "the demo plants canaries"
    values = _pii_values()
    assert len(values) > 500  # names, emails, phones, SSNs, cards, IBANs, addresses, MRNs
    corpus = demo_out / "data" / "clinical_notes.dedup.jsonl"
    training = [json.loads(line)["text"] for line in corpus.read_text(encoding="utf-8").splitlines()]
    raw = [json.loads(line)["text"] for line in NOTES.read_text(encoding="utf-8").splitlines()]
    text_shingles = set().union(*(_shingles(t) for t in training + raw))
    for name, text in outputs.items():
        for c in canaries:
            assert c["secret"] not in text, f"canary secret in {name}"
        # word-bounded: an MRN's digits inside a float such as 0.21719901502988 are no leak
        leaked = sorted(v for v in values if _word_bounded_in(v, text))
        assert not leaked, f"{name} holds {len(leaked)} PII value(s)"
        visible = re.sub(r"<[^>]+>|data:image/png;base64,[A-Za-z0-9+/=]+", " ", text)
        assert not (_shingles(visible) & text_shingles), f"{name} holds a run of 8 words of corpus text"


def test_a_report_refuses_to_write_a_canary_secret(demo_out, tmp_path):
    """The report builder itself searches its output for the run's canary secrets."""
    from audits import AuditError
    from audits.findings import AuditFinding, AuditReport
    from guard.release import build_report

    secret = _read(demo_out / "run" / "canaries.json")["canaries"][0]["secret"]
    leaky = AuditReport(
        audit="privacy",
        subject={},
        findings=(AuditFinding("privacy", "canary_exposure", "max_exposure", 1.0, group="repeats=1", message=secret),),
    )
    report = build_report(demo_out / "run", audits=[leaky])
    with pytest.raises(AuditError, match="canary secret"):
        report.write(tmp_path / "leak")
    assert not (tmp_path / "leak" / "report.html").exists()


def test_report_lists_findings_of_an_unknown_audit_and_rejects_what_is_not_a_run(demo_out, tmp_path):
    """Known checks get sections; any other finding is still listed, and bad inputs fail with a location."""
    from audits.findings import AuditFinding, AuditReport
    from guard.release import build_report

    extra = AuditReport(
        audit="robustness",
        subject={"run": "demo"},
        findings=(
            AuditFinding("robustness", "typo_flip", "flip_rate", 0.125, threshold=0.1, passed=False, group="typos=2"),
        ),
    )
    report = build_report(demo_out / "run", audits=[demo_out / "audits" / "privacy.json", extra])
    page = report.html()
    assert "robustness audit (1 findings" in page and "typo_flip" in page and "0.125" in page
    assert "No fairness audit was supplied" in page
    assert any("No fairness audit" in x for x in report.content.limitations)
    not_run = _guard("report", str(demo_out / "data"), "--out", str(tmp_path / "r"))
    assert not_run.returncode == ExitCode.RUN and "not a guard federate run directory" in not_run.stderr
    bad_audit = tmp_path / "bad.json"
    bad_audit.write_text('{"schema_version": 99}', encoding="utf-8")
    wrong = _guard("report", str(demo_out / "run"), "--out", str(tmp_path / "r"), "--audits", str(bad_audit))
    assert wrong.returncode == ExitCode.INPUT and str(bad_audit) in wrong.stderr
    assert not (tmp_path / "r" / "report.html").exists()
