"""The report's privacy section shows each extraction rate beside its baseline (issue 18):
member rate, held-out rate, the difference with its interval and the verdict, and canary
extraction beside its chance level; findings from before the baselines show the raw rates."""

from __future__ import annotations

from audits.extraction import ExtractionResult
from audits.findings import AuditFinding, AuditReport
from audits.privacy import _extraction_findings
from guard.release.render import environment
from guard.release.sections import privacy_section


def _render(audit: AuditReport) -> tuple[dict, str]:
    section = privacy_section(None, audit)
    html = environment().get_template("privacy.html.j2").render(c={"privacy": section, "training": None}, images={})
    return section, html


def test_the_privacy_section_shows_member_rate_baseline_difference_interval_and_verdict() -> None:
    result = ExtractionResult(
        members=24,
        member_exact=15,
        non_members=24,
        non_member_exact=0,
        prefix_tokens=8,
        suffix_tokens=12,
        pii_values=48,
        pii_generations=24,
        pii_emitting=23,
        own_pii=(24, 2, 24, 2),  # the record's own PII: 2 of 24 on both sides, as chance gives
    )
    findings = _extraction_findings(result, {"decoding": "greedy"}, 0.95)
    canary = AuditFinding("privacy", "extraction", "canary_extraction_rate", 0.0, group="repeats=16",
                          evidence={"canaries": 3, "chance": 1e-6})  # fmt: skip
    section, html = _render(AuditReport(audit="privacy", subject={}, findings=(*findings, canary)))
    rows = {r["what"].split(" (")[0]: r for r in section["audit"]["extraction"]}
    exact, pii = rows["exact suffix extraction"], rows["training PII emission"]
    assert exact["member_rate"] == 15 / 24 and exact["baseline_rate"] == 0.0 and exact["verdict"] == "above chance"
    assert exact["ci"][0] > 0 and pii["difference"] == 0.0 and pii["ci"][0] < 0 < pii["ci"][1]
    assert pii["verdict"] == "not distinguishable from chance" and pii["trials"] == "24 / 24"
    assert rows["canaries extracted"]["chance"] == 1e-6
    assert "Extraction against its baseline" in html and "not distinguishable from chance" in html
    assert "Chance level" not in html  # no membership attack in this audit: no membership table


def test_findings_from_before_the_baselines_show_their_raw_rates() -> None:
    old = AuditReport(
        audit="privacy",
        subject={},
        findings=(AuditFinding("privacy", "extraction", "exact_suffix_rate", 0.25, evidence={"records": 40}),),
    )
    section, html = _render(old)
    assert section["audit"]["extraction"] == [{"what": "exact suffix rate", "member_rate": 0.25, "trials": "40"}]
    assert "exact suffix rate" in html
