"""report.html and MODEL_CARD.md come from jinja2 templates; in HTML every value is
text: a finding, group, token or audit name holding markup is escaped, and the page
keeps its strict Content-Security-Policy."""

from __future__ import annotations

from pathlib import Path

from audits.findings import AuditFinding, AuditReport
from guard.release import build_report
from guard.release.render import CSP, environment

EVIL = '<script>alert("x")</script>'


def test_a_name_holding_markup_is_escaped_in_the_html(small_run: Path):
    extra = AuditReport(
        audit=f"robust{EVIL}",
        subject={"run": "demo"},
        findings=(AuditFinding(f"robust{EVIL}", f"check{EVIL}", "flip_rate", 0.5, group=f"group{EVIL}", message=EVIL),),
        skipped={f"skip{EVIL}": EVIL},
    )
    report = build_report(small_run, audits=[extra], notes=[f"note {EVIL}"], title=f"title {EVIL}")
    page = report.html()
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert page.count("&lt;script&gt;") >= 6  # title (twice), note, audit, check, group, message, skipped
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in page
    assert "default-src 'none'" in page and "img-src data:" in page
    # the Markdown card is not HTML-escaped (it is text); the names are there as written
    assert f"note {EVIL}" in report.model_card()


def test_html_templates_autoescape_and_the_card_does_not():
    env = environment()
    html = env.from_string("{{ x }}").render(x=EVIL)  # strings default to escaping too
    assert "<script>" not in html
    card = env.get_template("model_card.md.j2")
    assert card.environment.autoescape("model_card.md.j2") is False
    assert env.autoescape("report.html.j2") is True
