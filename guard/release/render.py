"""report.html and MODEL_CARD.md from jinja2 templates (package data under
guard/release/templates/); MODEL_CARD.md is the run's model card (federated.card) with the
audit results appended. HTML templates autoescape every value: a group,
finding or token name is text, never markup. The page loads nothing: a strict
Content-Security-Policy allows only inline styles and data: images, and the
charts are embedded as base64 PNG."""

from __future__ import annotations

import base64
import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from guard.release.content import SECTIONS
from guard.release.gate import PARAMETERS, THRESHOLDS, evidence_labels, parameter_defaults

if TYPE_CHECKING:
    import jinja2

    from guard.release.report import ReleaseReport

# nothing may leave the page: only inline styles and data: images are allowed
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#1a1a1a;max-width:1000px;margin:24px auto;padding:0 18px;line-height:1.45}
h1{font-size:1.6em;margin-bottom:4px}h2{border-bottom:2px solid #ddd;padding-bottom:3px;margin-top:34px}
h3{margin-bottom:6px}table{border-collapse:collapse;margin:8px 0 14px;font-size:.88em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f3f3f3}
td.num{text-align:right;font-variant-numeric:tabular-nums}.pass{color:#11772d;font-weight:600}
.fail{color:#b00020;font-weight:600}.na{color:#777}.verdict{display:inline-block;padding:6px 14px;border-radius:4px;
font-weight:700;margin:8px 0}.verdict.pass{background:#e3f4e8}.verdict.fail{background:#fbe4e7}
.verdict.na{background:#eee}figure{margin:10px 0 18px}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}nav a{margin-right:10px}.meta{color:#555;font-size:.9em}
.statement{background:#f6f8fb;border-left:4px solid #1f77b4;padding:8px 12px}
@media print{nav{display:none}section{page-break-inside:avoid}body{max-width:none}}
"""


def fmt(x: Any, digits: int = 4) -> str:
    """A value as the report shows it: n/a, yes/no, 1,234, 0.1235, 1.23e-05."""
    if x is None:
        return "n/a"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
            return f"{x:.{max(digits - 1, 1)}e}"
        return f"{x:.{digits}g}"
    return str(x)


def ci(interval: Sequence[float] | None) -> str:
    return "n/a" if not interval else f"[{fmt(interval[0], 3)}, {fmt(interval[1], 3)}]"


@functools.cache
def environment() -> jinja2.Environment:
    """The template environment: autoescaping for *.html.j2, none for the Markdown card."""
    import jinja2
    from markupsafe import Markup

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("guard.release", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = fmt
    env.filters["ci"] = ci
    env.tests["markup"] = lambda v: isinstance(v, Markup)
    env.tests["plainnumber"] = lambda v: isinstance(v, int | float) and not isinstance(v, bool)

    def verdict(passed: bool | None) -> Markup:
        if passed is None:
            return Markup('<span class="na">-</span>')
        return Markup('<span class="pass">PASS</span>' if passed else '<span class="fail">FAIL</span>')

    env.globals["verdict"] = verdict
    env.globals["bold"] = lambda text: Markup("<b>{}</b>").format(text)
    env.globals["top_entities"] = lambda entities: ", ".join(
        f"{k} {v}" for k, v in sorted(entities.items(), key=lambda kv: -kv[1])[:6]
    )
    return env


def gate_state(c: Mapping[str, Any]) -> dict[str, Any]:
    """The headline verdict: passed (None without a policy), its word, CSS class and sentence."""
    checks = c.get("checks")
    if not checks:
        passed, text = None, "no release policy was given"
    else:
        n = len(checks["results"])
        failed = sum(not r["passed"] for r in checks["results"])
        passed = bool(checks["passed"])
        if passed:
            text = f"all {n} release checks pass"
        else:
            text = f"{failed} of {n} release checks fail" if n else "the policy sets no threshold"
    word = "NO POLICY" if passed is None else ("PASS" if passed else "FAIL")
    css = "na" if passed is None else ("pass" if passed else "fail")
    return {"passed": passed, "text": text, "word": word, "css": css}


def _context(report: ReleaseReport) -> dict[str, Any]:
    from markupsafe import Markup

    c = report.content_json()
    c.setdefault("comparison", None)
    policy = (c.get("checks") or {}).get("policy") or {}
    params = {p.key: policy[p.key] for p in PARAMETERS if policy.get(p.key) is not None}
    labels = evidence_labels(params)
    # the model card's privacy list: the audited privacy numbers (the claimed epsilon is in the statement)
    audited = {r.evidence_key({**parameter_defaults(), **params}) for r in THRESHOLDS if r.section == "privacy"}
    audited = (audited - {"claimed_epsilon"}) | {"membership_auc"}
    privacy_labels = {k: v[:1].upper() + v[1:] for k, v in labels.items() if k in audited}
    return {
        "c": c,
        "gate": gate_state(c),
        "images": {name: base64.b64encode(png).decode("ascii") for name, png in report.figures.items()},
        "sections": sections(c),
        "evidence_labels": labels,
        "privacy_labels": privacy_labels,
        "csp": Markup(CSP),  # constants of this module, not data
        "css": Markup(CSS),
    }


def sections(c: Mapping[str, Any]) -> tuple[str, ...]:
    """The page's sections in order: SECTIONS, with "comparison" after the explanations when the
    report compares its run with a baseline."""
    if not c.get("comparison"):
        return tuple(s for s in SECTIONS if s != "comparison")
    if "comparison" in SECTIONS:
        return SECTIONS
    at = SECTIONS.index("explanations") + 1
    return (*SECTIONS[:at], "comparison", *SECTIONS[at:])


def render_html(report: ReleaseReport) -> str:
    return environment().get_template("report.html.j2").render(_context(report))


def render_model_card(report: ReleaseReport) -> str:
    """MODEL_CARD.md: the run's model card (`federated.card`, the same front matter and body
    as run/model/README.md) followed by the audit results (model_card.md.j2)."""
    audit = environment().get_template("model_card.md.j2").render(_context(report))
    if report.card is None:
        return audit
    return report.card.text(appendix=audit)


__all__ = ["CSP", "ci", "environment", "fmt", "gate_state", "render_html", "render_model_card", "sections"]
